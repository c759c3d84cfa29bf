"""The results table: the one row schema (names, storage kinds, order, meaning) and the column-order rule."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd


__all__ = [
    "COLUMNS",
    "IDENTITY",
    "RAW_COLUMNS",
    "SCHEMA",
    "Column",
    "estimator_columns",
    "markdown_columns",
    "table_order",
    "to_frame",
]


@dataclass(frozen=True)
class Column:
    """One column of the results table: name, storage kind, who fills it, meaning."""

    name: str
    kind: str
    origin: str
    meaning: str


#: The one row schema: every column of the results table, in table order,
#: with its storage kind and who fills it. Kinds: ``i`` int64, ``f``
#: float64, ``b`` bool, ``o`` optional bool (int8: 1, 0, -1 for missing),
#: ``s`` string. Origins: ``raw`` (every evaluated case:
#: :func:`mcverify.engine.case.evaluate_case` and the batched univariate
#: path fill the same), ``estimator`` (only with ``[run] estimators``),
#: ``verdict`` (:mod:`mcverify.stats.verdicts`), ``run`` (the config's stem).
#: Swept parameters follow as ``param:<path>`` columns (``param:p.std``) after
#: the first :data:`IDENTITY` columns.
SCHEMA: tuple[Column, ...] = (
    Column("config", "s", "run", "config file stem the case comes from"),
    Column("index", "i", "raw", "case position in the run, from 0 (its seed derives from it)"),
    Column("name", "s", "raw", "unique case label: entry name, swept values in brackets, '/reverse'"),
    Column("group", "s", "raw", "the [[pair]] or [[sweep]] name"),
    Column("direction", "s", "raw", "'forward' (as written) or 'reverse' (KL(q || p))"),
    Column("dim", "i", "raw", "dimension d"),
    Column("p_kind", "s", "raw", "p's covariance structure: univariate, diagonal or full"),
    Column("q_kind", "s", "raw", "q's covariance structure"),
    Column("kl_closed", "f", "raw", "closed-form KL(p || q) in nats (the reference)"),
    Column(
        "method",
        "s",
        "raw",
        "sampling estimator of kl_mc: mc (plain), antithetic or qmc (randomised quasi-Monte Carlo)",
    ),
    Column(
        "kl_mc",
        "f",
        "raw",
        "sampling estimate of KL: mean of log p(x) - log q(x), x ~ p (over pairs or randomisations)",
    ),
    Column("mc_stderr", "f", "raw", "standard error of kl_mc"),
    Column(
        "mc_skewness",
        "f",
        "raw",
        "sample skewness of the averaged terms (log ratios, pair means or randomisation means)",
    ),
    Column(
        "mc_df",
        "f",
        "raw",
        "degrees of freedom of the test: inf (skewness-corrected normal) or randomisations - 1 (Student t, qmc)",
    ),
    Column(
        "mc_ci_low", "f", "raw", "lower end of the confidence interval (Hall's skewness-corrected; Student t for qmc)"
    ),
    Column("mc_ci_high", "f", "raw", "upper end of the confidence interval"),
    Column(
        "mc_z", "f", "raw", "(kl_mc - kl_closed) / mc_stderr (stderr floored at rounding level, see rounding_allowance)"
    ),
    Column("mc_p_value", "f", "raw", "two-sided p-value of mc_z after the skewness correction (Student t for qmc)"),
    Column(
        "mc_p_adjusted",
        "f",
        "verdict",
        "mc_p_value adjusted for the number of cases by error_control; the case fails if <= alpha",
    ),
    Column(
        "error_control",
        "s",
        "verdict",
        "multiplicity procedure of the run: holm (family-wise error rate) or bh (false discovery rate)",
    ),
    Column("alpha", "f", "verdict", "level of the run: family-wise error rate (holm) or false discovery rate (bh)"),
    Column(
        "mc_level",
        "f",
        "verdict",
        "per-case level the error control applies to one wrong case: alpha / cases (holm, bh)",
    ),
    Column(
        "mc_detectable",
        "f",
        "verdict",
        "smallest error in kl_closed this test detects with 80% power at mc_level (from mc_stderr)",
    ),
    Column(
        "mc_min_samples",
        "f",
        "verdict",
        (
            "samples from which the skewness-corrected test is calibrated at mc_level (empty for qmc, "
            "whose reason says when more randomisations are needed)"
        ),
    ),
    Column("kl_quad", "f", "raw", "numerical integral of p log(p/q) (scipy quad, reduced to 1-D pieces)"),
    Column("quad_error", "f", "raw", "quad's own absolute error estimate for kl_quad"),
    Column("quad_reliable", "b", "raw", "False when quad warned or its error estimate exceeds its tolerance"),
    Column("quad_message", "s", "raw", "why kl_quad is unreliable, empty otherwise"),
    Column("kl_quad_direct", "f", "raw", "direct 1-D/2-D integration without the reduction (d <= 2, else empty)"),
    Column("quad_direct_error", "f", "raw", "quad's error estimate for kl_quad_direct"),
    Column("quad_direct_reliable", "o", "raw", "reliability of kl_quad_direct (empty when d > 2)"),
    Column("quad_tolerance", "f", "verdict", "allowed |kl_quad - kl_closed|: quad_error + closed-form accuracy"),
    Column("abs_err_mc", "f", "raw", "|kl_mc - kl_closed|"),
    Column("rel_err_mc", "f", "raw", "abs_err_mc / |kl_closed|"),
    Column(
        "kl_k1", "f", "estimator", "k1 estimator: mean of -log r, r = q(x)/p(x), x ~ p (only with [run] estimators)"
    ),
    Column("k1_stderr", "f", "estimator", "standard error of kl_k1"),
    Column("kl_k2", "f", "estimator", "k2 estimator: mean of (log r)^2 / 2 (biased)"),
    Column("k2_stderr", "f", "estimator", "standard error of kl_k2"),
    Column("k2_bias", "f", "estimator", "kl_k2 - kl_closed: k2's bias plus its sampling error"),
    Column("kl_k3", "f", "estimator", "k3 estimator: mean of (r - 1) - log r (unbiased, >= 0)"),
    Column("k3_stderr", "f", "estimator", "standard error of kl_k3 (meaningless when k3_finite_variance is False)"),
    Column(
        "k3_finite_variance",
        "o",
        "estimator",
        "whether E_p[r^2] is finite: every singular value of L_q^-1 L_p exceeds 1/sqrt(2)",
    ),
    Column("abs_err_quad", "f", "raw", "|kl_quad - kl_closed|"),
    Column("rel_err_quad", "f", "raw", "abs_err_quad / |kl_closed|"),
    Column(
        "samples", "i", "raw", "log-ratio evaluations used (qmc: randomisations x 2^k points; antithetic: 2 x pairs)"
    ),
    Column(
        "seed", "i", "raw", "the case's own seed: estimate_kl(p, q, samples, method=method, seed=seed) reproduces kl_mc"
    ),
    Column("seconds_closed", "f", "raw", "wall time of the closed form"),
    Column("seconds_mc", "f", "raw", "wall time of Monte Carlo"),
    Column("seconds_quad", "f", "raw", "wall time of the quadratures"),
    Column("seconds_estimators", "f", "estimator", "wall time of k1/k2/k3 (only with [run] estimators)"),
    Column("seconds", "f", "raw", "wall time of the whole case"),
    Column("verdict", "s", "verdict", "'pass' when every method agrees within its error, else 'fail'"),
    Column("reason", "s", "verdict", "why a case failed, and caveats (unreliable quadrature) for any case"),
)
#: Columns that identify a case (config to q_kind); ``param:`` columns follow them.
IDENTITY = 8
#: Every column of the results table, in order, with its meaning.
COLUMNS: dict[str, str] = {c.name: c.meaning for c in SCHEMA}
#: The columns every evaluated case fills, and their storage kinds.
RAW_COLUMNS: dict[str, str] = {c.name: c.kind for c in SCHEMA if c.origin == "raw"}


def estimator_columns(names: Iterable[str]) -> dict[str, str]:
    """Storage kinds of the columns of the requested k1/k2/k3 estimators (empty without any)."""
    wanted = set(names)
    out = {c.name: c.kind for c in SCHEMA if c.origin == "estimator" and c.name.split("_")[-1] in wanted}
    out.update({c.name: c.kind for c in SCHEMA if c.origin == "estimator" and c.name.split("_")[0] in wanted})
    if out:
        out["seconds_estimators"] = "f"
    return {c.name: out[c.name] for c in SCHEMA if c.name in out}


def table_order(names: Iterable[str]) -> list[str]:
    """``names`` in table order: the identity columns, then ``param:`` columns as given, then the rest."""
    names = list(names)
    params = [c for c in names if c.startswith("param:")]
    known = [c for c in COLUMNS if c in names]
    return known[:IDENTITY] + params + known[IDENTITY:]


def markdown_columns(columns: dict[str, str]) -> str:
    """A column-documentation dict as the Markdown table the documentation shows (``|`` escaped)."""
    lines = ["| column | meaning |", "| --- | --- |"]
    lines += ["| `{}` | {} |".format(name, meaning.replace("|", "\\|")) for name, meaning in columns.items()]
    return "\n".join(lines)


def to_frame(rows: list[dict[str, Any]], config: str) -> pd.DataFrame:
    """Rows from :func:`mcverify.engine.runner.run` as a DataFrame in the documented column order."""
    import pandas as pd  # the schema itself is needed where pandas is not (worker processes)

    frame = pd.DataFrame(rows)
    frame.insert(0, "config", config)
    if "quad_direct_reliable" in frame:  # True/False, or missing when d > 2
        frame["quad_direct_reliable"] = frame["quad_direct_reliable"].astype("boolean")
    return frame[table_order(frame.columns)]
