"""The results table: stable column names, their meaning and their order."""

from __future__ import annotations

from typing import Any

import pandas as pd

__all__ = ["COLUMNS", "markdown_columns", "to_frame"]

#: Every column of the results table, in order, with its meaning. Swept
#: parameters follow as ``param:<path>`` columns (``param:p.std``).
COLUMNS: dict[str, str] = {
    "config": "config file stem the case comes from",
    "index": "case position in the run, from 0 (its seed derives from it)",
    "name": "unique case label: entry name, swept values in brackets, '/reverse'",
    "group": "the [[pair]] or [[sweep]] name",
    "direction": "'forward' (as written) or 'reverse' (KL(q || p))",
    "dim": "dimension d",
    "p_kind": "p's covariance structure: univariate, diagonal or full",
    "q_kind": "q's covariance structure",
    "kl_closed": "closed-form KL(p || q) in nats (the reference)",
    "method": "sampling estimator of kl_mc: mc (plain), antithetic or qmc (randomised quasi-Monte Carlo)",
    "kl_mc": "sampling estimate of KL: mean of log p(x) - log q(x), x ~ p (over pairs or randomisations)",
    "mc_stderr": "standard error of kl_mc",
    "mc_skewness": "sample skewness of the averaged terms (log ratios, pair means or randomisation means)",
    "mc_df": "degrees of freedom of the test: inf (skewness-corrected normal) or randomisations - 1 (Student t, qmc)",
    "mc_ci_low": "lower end of the confidence interval (Hall's skewness-corrected; Student t for qmc)",
    "mc_ci_high": "upper end of the confidence interval",
    "mc_z": "(kl_mc - kl_closed) / mc_stderr (stderr floored at rounding level, see rounding_allowance)",
    "mc_p_value": "two-sided p-value of mc_z after the skewness correction (Student t for qmc)",
    "mc_p_adjusted": "mc_p_value adjusted for the number of cases by error_control; the case fails if <= alpha",
    "error_control": "multiplicity procedure of the run: holm (family-wise error rate) or bh (false discovery rate)",
    "alpha": "level of the run: family-wise error rate (holm) or false discovery rate (bh)",
    "mc_level": "per-case level the error control applies to one wrong case: alpha / cases (holm, bh)",
    "mc_detectable": "smallest error in kl_closed this test detects with 80% power at mc_level (from mc_stderr)",
    "mc_min_samples": "samples from which the skewness-corrected test is calibrated at mc_level (empty for qmc, "
    "whose reason says when more randomisations are needed)",
    "kl_quad": "numerical integral of p log(p/q) (scipy quad, reduced to 1-D pieces)",
    "quad_error": "quad's own absolute error estimate for kl_quad",
    "quad_reliable": "False when quad warned or its error estimate exceeds its tolerance",
    "quad_message": "why kl_quad is unreliable, empty otherwise",
    "kl_quad_direct": "direct 1-D/2-D integration without the reduction (d <= 2, else empty)",
    "quad_direct_error": "quad's error estimate for kl_quad_direct",
    "quad_direct_reliable": "reliability of kl_quad_direct (empty when d > 2)",
    "quad_tolerance": "allowed |kl_quad - kl_closed|: quad_error + closed-form accuracy",
    "abs_err_mc": "|kl_mc - kl_closed|",
    "rel_err_mc": "abs_err_mc / |kl_closed|",
    "kl_k1": "k1 estimator: mean of -log r, r = q(x)/p(x), x ~ p (only with [run] estimators)",
    "k1_stderr": "standard error of kl_k1",
    "kl_k2": "k2 estimator: mean of (log r)^2 / 2 (biased)",
    "k2_stderr": "standard error of kl_k2",
    "k2_bias": "kl_k2 - kl_closed: k2's bias plus its sampling error",
    "kl_k3": "k3 estimator: mean of (r - 1) - log r (unbiased, >= 0)",
    "k3_stderr": "standard error of kl_k3 (meaningless when k3_finite_variance is False)",
    "k3_finite_variance": "whether E_p[r^2] is finite: every singular value of L_q^-1 L_p exceeds 1/sqrt(2)",
    "abs_err_quad": "|kl_quad - kl_closed|",
    "rel_err_quad": "abs_err_quad / |kl_closed|",
    "samples": "log-ratio evaluations used (qmc: randomisations x 2^k points; antithetic: 2 x pairs)",
    "seed": "the case's own seed: estimate_kl(p, q, samples, method=method, seed=seed) reproduces kl_mc",
    "seconds_closed": "wall time of the closed form",
    "seconds_mc": "wall time of Monte Carlo",
    "seconds_quad": "wall time of the quadratures",
    "seconds_estimators": "wall time of k1/k2/k3 (only with [run] estimators)",
    "seconds": "wall time of the whole case",
    "verdict": "'pass' when every method agrees within its error, else 'fail'",
    "reason": "why a case failed, and caveats (unreliable quadrature) for any case",
}


def markdown_columns(columns: dict[str, str]) -> str:
    """A column-documentation dict as the Markdown table the README shows (``|`` escaped)."""
    lines = ["| column | meaning |", "| --- | --- |"]
    lines += ["| `{}` | {} |".format(name, meaning.replace("|", "\\|")) for name, meaning in columns.items()]
    return "\n".join(lines)


def to_frame(rows: list[dict[str, Any]], config: str) -> pd.DataFrame:
    """Rows from :func:`mcverify.engine.runner.run` as a DataFrame in the documented column order."""
    frame = pd.DataFrame(rows)
    frame.insert(0, "config", config)
    if "quad_direct_reliable" in frame:  # True/False, or missing when d > 2
        frame["quad_direct_reliable"] = frame["quad_direct_reliable"].astype("boolean")
    params = [c for c in frame.columns if c.startswith("param:")]
    known = [c for c in COLUMNS if c in frame.columns]
    return frame[known[:8] + params + known[8:]]
