"""Verdicts: does every method agree with the closed form within its own error?

Monte Carlo is judged by a z-test (skewness-corrected, see
:mod:`mcverify.stats.intervals`; Student's t for randomised quasi-Monte Carlo)
whose p-values are corrected for the number of cases in the run (Holm's
step-down procedure by default, which keeps the family-wise error rate at
``alpha``; Benjamini-Hochberg as an option controls the false discovery
rate instead). Each row also gets the smallest error the test would detect
with 80% power (:mod:`mcverify.stats.power`). Quadrature is judged against its
own error estimate plus the documented accuracy of the closed form.

Two forms of the same judgement, side by side: :func:`apply_verdicts` for a
list of row dicts (an in-memory run), and :func:`verdict_columns` for whole
columns at once, given the run's :func:`adjusted_p_values` (a run of 10^6
cases cannot afford a dict per row just to judge it; it formats text only for
the rows that fail or carry a caveat).  They agree string for string, which
the tests check.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any, Literal, TypeVar

import numpy as np
from numpy.typing import NDArray
from scipy.special import erfc

from mcverify.stats.intervals import minimum_terms
from mcverify.stats.power import detectable_difference, per_case_level

__all__ = [
    "adjust_p_values",
    "adjusted_p_values",
    "apply_verdicts",
    "closed_form_tolerance",
    "rounding_allowance",
    "two_sided_p",
    "verdict_columns",
]

Control = Literal["holm", "bh", "none"]
#: One z-statistic or an array of them (:func:`two_sided_p` returns the same kind).
_Z = TypeVar("_Z", np.float64, NDArray[np.float64])

#: Documented relative accuracy of :func:`mcverify.kl_divergence` (tested
#: against an 80-digit mpmath reference): univariate and diagonal pairs,
#: and pairs with a full covariance.
CLOSED_RTOL_DIAGONAL = 1e-12
CLOSED_RTOL_FULL = 1e-9


def two_sided_p(z: _Z) -> _Z:
    """Two-sided normal p-value ``P(|Z| >= |z|)``; NaN stays NaN."""

    return erfc(np.abs(z) / math.sqrt(2.0))


def adjust_p_values(p: Sequence[float] | NDArray[np.float64], control: Control = "holm") -> NDArray[np.float64]:
    """Multiplicity-adjusted p-values (NaNs are ignored and stay NaN).

    Parameters
    ----------
    p : array_like
        Raw p-values.
    control : {"holm", "bh", "none"}
        Holm's step-down family-wise correction, Benjamini-Hochberg false
        discovery rate, or no correction.

    Notes
    -----
    Rejecting where the adjusted p-value is ``<= alpha`` is exactly Holm's
    (1979) or Benjamini and Hochberg's (1995) procedure at level ``alpha``.
    """
    p = np.asarray(p, dtype=np.float64)
    out = np.full_like(p, np.nan)
    ok = np.flatnonzero(~np.isnan(p))
    m = ok.size
    if m == 0 or control == "none":
        out[ok] = p[ok]
        return out
    order = ok[np.argsort(p[ok], kind="stable")]
    ranked = p[order]
    k = np.arange(1, m + 1)
    if control == "holm":
        adj = np.maximum.accumulate((m - k + 1) * ranked)
    elif control == "bh":
        adj = np.minimum.accumulate((m / k * ranked)[::-1])[::-1]
    else:
        raise ValueError(f"unknown error control {control!r}: use 'holm', 'bh' or 'none'")
    out[order] = np.minimum(adj, 1.0)
    return out


def closed_form_tolerance(kl: float, full: bool) -> float:
    """Absolute accuracy bound of the closed form at value ``kl``."""
    return (CLOSED_RTOL_FULL if full else CLOSED_RTOL_DIAGONAL) * abs(kl)


def rounding_allowance(closed: Any, estimate: Any, full: bool) -> Any:
    """Smallest standard error a Monte Carlo z-test divides by: rounding, not sampling.

    The closed form's documented accuracy plus 16 units in the last place of
    the larger of the two values (0 where that is not a number). It matters
    only when the sampling error vanishes (p == q, or antithetic pairs on a
    pure mean shift, whose pair averages are all equal): there a difference
    of a few roundings must not read as infinitely many standard errors.
    Elsewhere the standard error is far larger and the z-score is unchanged.
    Floats or arrays (the batched runner's columns).
    """
    c = np.asarray(closed, dtype=np.float64)
    e = np.asarray(estimate, dtype=np.float64)
    with np.errstate(invalid="ignore"):
        finite = np.isfinite(c) & np.isfinite(e)
        scale = np.where(finite, np.maximum(np.abs(c), np.abs(e)), 0.0)
        out = (CLOSED_RTOL_FULL if full else CLOSED_RTOL_DIAGONAL) * np.abs(c) + 16.0 * np.finfo(np.float64).eps * scale
        out = np.where(np.isnan(out), 0.0, out)
    return float(out) if out.ndim == 0 else out


def _calibration_caveat(row: dict[str, Any], level: float) -> str:
    """Set ``mc_min_samples``; say when the test's tails at ``level`` are not yet trustworthy."""

    if "mc_skewness" not in row:
        return ""
    skew, df = row["mc_skewness"], row.get("mc_df", math.inf)
    if math.isnan(df):  # no Monte Carlo value
        row["mc_min_samples"] = math.nan
        return ""
    needed = minimum_terms(skew, level, df=df)
    if math.isinf(df):
        least = needed * (2 if row.get("method") == "antithetic" else 1)
        row["mc_min_samples"] = float(least)
        if row.get("samples", math.inf) < least:
            return (
                f"few samples for skewness {skew:.2g}: the Monte Carlo test is calibrated "
                f"at level {level:.2g} from {least:,} samples"
            )
        return ""
    row["mc_min_samples"] = math.nan
    if df + 1 < needed:
        return (
            f"few randomisations for their skewness {skew:.2g}: the qmc test is calibrated "
            f"at level {level:.2g} from {needed:,} randomisations"
        )
    return ""


def apply_verdicts(
    rows: list[dict[str, Any]], *, alpha: float = 0.01, control: Control = "holm"
) -> list[dict[str, Any]]:
    """Add p-values, tolerances, ``verdict`` and ``reason`` to each row.

    A case fails when its closed form is negative or not finite, when its
    Monte Carlo z-test is rejected after multiplicity adjustment at level
    ``alpha``, or when a quadrature value differs from the closed form by
    more than quad's own error estimate plus the closed form's accuracy.
    An unreliable quadrature value (quad warned, or its error estimate is
    too large) is reported in ``reason`` but is not by itself a failure.

    Rows carry ``mc_z`` and, when the estimator computed it,
    ``mc_p_value`` (skewness-corrected or Student-t); without it the normal
    p-value of ``mc_z`` is used. Added columns: ``mc_p_value``,
    ``mc_p_adjusted``, ``error_control``, ``alpha``, ``mc_level`` (the
    per-case level of :func:`mcverify.stats.power.per_case_level`) and
    ``mc_detectable`` (:func:`mcverify.stats.power.detectable_difference` at that
    level, from ``mc_stderr`` and ``mc_df`` when present).
    """

    raw = np.array(
        [r["mc_p_value"] if "mc_p_value" in r else float(two_sided_p(np.float64(r["mc_z"]))) for r in rows],
        dtype=np.float64,
    )
    adjusted = adjust_p_values(raw, control)
    tested = int(np.count_nonzero(~np.isnan(raw)))
    level = per_case_level(alpha, max(tested, 1), control)
    for row, p_raw, p_adj in zip(rows, raw, adjusted, strict=True):
        row["mc_p_value"] = float(p_raw)
        row["mc_p_adjusted"] = float(p_adj)
        row["error_control"] = control
        row["alpha"] = alpha
        row["mc_level"] = level
        if "mc_stderr" in row:
            df = row.get("mc_df", math.inf)
            row["mc_detectable"] = math.nan if math.isnan(df) else detectable_difference(row["mc_stderr"], level, df=df)
        caveat = _calibration_caveat(row, level)
        full = "full" in (row["p_kind"], row["q_kind"])
        closed = row["kl_closed"]
        tol = closed_form_tolerance(closed, full)
        row["quad_tolerance"] = row["quad_error"] + tol
        problems: list[str] = []
        notes: list[str] = []
        if not math.isfinite(closed) or closed < 0:
            problems.append(f"closed form is {closed!r}, not a finite non-negative number")
        if p_adj <= alpha:
            problems.append(
                f"Monte Carlo disagrees: z = {row['mc_z']:.3g}, {control}-adjusted p = {p_adj:.3g} <= alpha {alpha:g}"
            )
        for tag, value, err, reliable in (
            ("quadrature", row["kl_quad"], row["quad_error"], row["quad_reliable"]),
            ("direct quadrature", row["kl_quad_direct"], row["quad_direct_error"], row["quad_direct_reliable"]),
        ):
            if reliable is None:
                continue
            if not abs(value - closed) <= err + tol:
                problems.append(f"{tag} differs by {abs(value - closed):.3g} > tolerance {err + tol:.3g}")
            elif not reliable:
                notes.append(f"{tag} unreliable ({row['quad_message'] if tag == 'quadrature' else 'see its error'})")
        if caveat:
            notes.append(caveat)
        row["verdict"] = "fail" if problems else "pass"
        row["reason"] = "; ".join(problems + notes)
    return rows


# ------------------------------------------------------------------ column form
def adjusted_p_values(p: NDArray[np.float64], control: Control = "holm") -> NDArray[np.float64]:
    """The run's ``mc_p_value`` column (skewness-corrected p-values), adjusted for the whole run."""
    return adjust_p_values(np.asarray(p, dtype=np.float64), control)


def verdict_columns(
    cols: Mapping[str, Any],
    p_adjusted: NDArray[np.float64],
    *,
    alpha: float = 0.01,
    control: Control = "holm",
    tested: int | None = None,
) -> dict[str, Any]:
    """The verdict columns of a block, as :func:`apply_verdicts` adds them.

    ``mc_p_adjusted``, ``error_control``, ``alpha``, ``mc_level``,
    ``mc_detectable``, ``mc_min_samples``, ``quad_tolerance``, ``verdict``
    and ``reason`` (``mc_p_value`` is a raw column already).

    Parameters
    ----------
    cols : mapping of str to array
        Raw columns of the block, one array (or list of str) per column
        (:mod:`mcverify.tables.columns` holds them so).
    p_adjusted : numpy.ndarray
        The block's entries of :func:`adjusted_p_values` over the whole run.
    alpha, control
        As for :func:`apply_verdicts`.
    tested : int, optional
        Cases of the whole run with a Monte Carlo p-value (for ``mc_level``);
        by default those of this block.
    """
    z = np.asarray(cols["mc_z"], dtype=np.float64)
    p_raw = np.asarray(cols["mc_p_value"], dtype=np.float64)
    p_adj = np.asarray(p_adjusted, dtype=np.float64)
    if tested is None:
        tested = int(np.count_nonzero(~np.isnan(p_raw)))
    level = per_case_level(alpha, max(tested, 1), control)
    df = np.asarray(cols["mc_df"], dtype=np.float64)
    skew = np.asarray(cols["mc_skewness"], dtype=np.float64)
    detectable = np.full(len(z), np.nan)
    least = np.full(len(z), np.nan)
    needed = np.zeros(len(z), dtype=np.int64)
    for d in np.unique(df[~np.isnan(df)]).tolist():
        sel = df == d
        detectable[sel] = detectable_difference(cols["mc_stderr"][sel], level, df=d)
        needed[sel] = minimum_terms(skew[sel], level, df=d)
        if math.isinf(d):
            anti = np.array([m == "antithetic" for m in np.asarray(cols["method"], dtype=object)[sel]], dtype=bool)
            least[sel] = needed[sel] * np.where(anti, 2, 1)
    with np.errstate(invalid="ignore"):
        few_samples = np.isinf(df) & (cols["samples"] < least)
        few_randomizations = np.isfinite(df) & (df + 1 < needed)
    closed = cols["kl_closed"]
    full = np.array([a == "full" or b == "full" for a, b in zip(cols["p_kind"], cols["q_kind"])], dtype=bool)
    tol = np.where(full, CLOSED_RTOL_FULL, CLOSED_RTOL_DIAGONAL) * np.abs(closed)
    quad_tol = cols["quad_error"] + tol
    with np.errstate(invalid="ignore"):
        bad_closed = ~(np.isfinite(closed) & (closed >= 0))
        bad_mc = p_adj <= alpha
        d_quad = np.abs(cols["kl_quad"] - closed)
        bad_quad = ~(d_quad <= quad_tol)
        has_direct = cols["quad_direct_reliable"] >= 0
        d_direct = np.abs(cols["kl_quad_direct"] - closed)
        direct_tol = cols["quad_direct_error"] + tol
        bad_direct = has_direct & ~(d_direct <= direct_tol)
    note_quad = ~bad_quad & ~cols["quad_reliable"]
    note_direct = has_direct & ~bad_direct & (cols["quad_direct_reliable"] == 0)
    failed = bad_closed | bad_mc | bad_quad | bad_direct
    n = len(z)
    verdict = ["fail" if f else "pass" for f in failed.tolist()]
    reason = [""] * n
    for i in np.flatnonzero(failed | note_quad | note_direct | few_samples | few_randomizations).tolist():
        problems: list[str] = []
        notes: list[str] = []
        c = float(closed[i])
        if bad_closed[i]:
            problems.append(f"closed form is {c!r}, not a finite non-negative number")
        if bad_mc[i]:
            problems.append(
                f"Monte Carlo disagrees: z = {float(z[i]):.3g}, "
                f"{control}-adjusted p = {float(p_adj[i]):.3g} <= alpha {alpha:g}"
            )
        for tag, bad, note, diff, allowed in (
            ("quadrature", bad_quad, note_quad, d_quad, quad_tol),
            ("direct quadrature", bad_direct, note_direct, d_direct, direct_tol),
        ):
            if bad[i]:
                problems.append(f"{tag} differs by {float(diff[i]):.3g} > tolerance {float(allowed[i]):.3g}")
            elif note[i]:
                why = cols["quad_message"][i] if tag == "quadrature" else "see its error"
                notes.append(f"{tag} unreliable ({why})")
        if few_samples[i]:
            notes.append(
                f"few samples for skewness {float(skew[i]):.2g}: the Monte Carlo test is calibrated "
                f"at level {level:.2g} from {int(least[i]):,} samples"
            )
        elif few_randomizations[i]:
            notes.append(
                f"few randomisations for their skewness {float(skew[i]):.2g}: the qmc test is calibrated "
                f"at level {level:.2g} from {int(needed[i]):,} randomisations"
            )
        reason[i] = "; ".join(problems + notes)
    return {
        "mc_p_adjusted": p_adj,
        "error_control": [control] * n,
        "alpha": np.full(n, alpha),
        "mc_level": np.full(n, level),
        "mc_detectable": detectable,
        "mc_min_samples": least,
        "quad_tolerance": quad_tol,
        "verdict": verdict,
        "reason": reason,
    }
