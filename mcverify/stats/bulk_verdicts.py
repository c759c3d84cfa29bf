"""Verdicts for whole columns at once: the fast path of :func:`mcverify.stats.verdicts.apply_verdicts`.

A run of 10^6 cases cannot afford a Python dict per row just to judge it.
:func:`adjusted_p_values` takes the run's Monte Carlo z column (8 MB for
10^6 cases) and applies the multiplicity correction once;
:func:`verdict_columns` then judges any block of rows with array
operations, given that block's slice of the adjusted p-values, and formats
text only for the rows that fail or carry a caveat.  The result is the same,
string for string, as :func:`~mcverify.stats.verdicts.apply_verdicts` on the
same rows, which the tests check.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from numpy.typing import NDArray

from mcverify.stats.intervals import minimum_terms
from mcverify.stats.power import detectable_difference, per_case_level
from mcverify.stats.verdicts import CLOSED_RTOL_DIAGONAL, CLOSED_RTOL_FULL, Control, adjust_p_values
from mcverify.tables.columns import Columns

__all__ = ["adjusted_p_values", "verdict_columns"]


def adjusted_p_values(p: NDArray[np.float64], control: Control = "holm") -> NDArray[np.float64]:
    """The run's ``mc_p_value`` column (skewness-corrected p-values), adjusted for the whole run."""
    return adjust_p_values(np.asarray(p, dtype=np.float64), control)


def verdict_columns(
    cols: Columns,
    p_adjusted: NDArray[np.float64],
    *,
    alpha: float = 0.01,
    control: Control = "holm",
    tested: int | None = None,
) -> dict[str, Any]:
    """The verdict columns of a block, as :func:`~mcverify.stats.verdicts.apply_verdicts` adds them.

    ``mc_p_adjusted``, ``error_control``, ``alpha``, ``mc_level``,
    ``mc_detectable``, ``mc_min_samples``, ``quad_tolerance``, ``verdict``
    and ``reason`` (``mc_p_value`` is a raw column already).

    Parameters
    ----------
    cols : Columns
        Raw columns of the block (:mod:`mcverify.tables.columns`).
    p_adjusted : numpy.ndarray
        The block's entries of :func:`adjusted_p_values` over the whole run.
    alpha, control
        As for :func:`~mcverify.stats.verdicts.apply_verdicts`.
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
