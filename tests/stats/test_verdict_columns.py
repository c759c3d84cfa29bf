"""mcverify.stats.verdicts.verdict_columns must judge exactly as mcverify.stats.verdicts.apply_verdicts."""

from __future__ import annotations

import copy
import math

import numpy as np
import pytest

from mcverify.stats.intervals import two_sided_p_value
from mcverify.stats.verdicts import adjusted_p_values, apply_verdicts, verdict_columns
from mcverify.tables.columns import from_rows, param_dtypes


def rows_with_every_outcome(n=300, seed=2):
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n):
        kind = ("univariate", "diagonal", "full")[i % 3]
        closed = float(rng.exponential())
        if i % 17 == 0:
            closed = -1e-3  # a negative closed form
        if i % 29 == 0:
            closed = math.nan
        z = float(rng.normal() * (8 if i % 11 == 0 else 1))
        method = ("mc", "antithetic", "qmc")[i % 3] if i % 2 else "mc"
        df = 63.0 if method == "qmc" else math.inf
        skew = float(rng.normal() * 2)
        samples = 10 if i % 4 else 10**6
        p_value = two_sided_p_value(z, skewness=skew, terms=samples, df=df)
        quad = closed + float(rng.normal()) * 10.0 ** float(rng.uniform(-16, -6))
        direct_none = kind == "full" and i % 2 == 0
        rows.append(
            {
                "index": i,
                "name": f"case {i}, with a comma",
                "group": "g",
                "direction": "forward",
                "dim": 1 + i % 3,
                "p_kind": kind,
                "q_kind": "univariate" if i % 5 else "full",
                "kl_closed": closed,
                "method": method,
                "kl_mc": closed,
                "mc_stderr": 1.0 + i % 5,
                "mc_skewness": skew,
                "mc_df": df,
                "mc_ci_low": 0.0,
                "mc_ci_high": 1.0,
                "mc_z": z,
                "mc_p_value": p_value,
                "kl_quad": quad,
                "quad_error": 1e-11,
                "quad_reliable": bool(i % 7),
                "quad_message": "" if i % 7 else "error estimate 1 exceeds rtol*|value|",
                "kl_quad_direct": math.nan if direct_none else quad * (1 + 1e-9 * (i % 13 == 0)),
                "quad_direct_error": math.nan if direct_none else 1e-12,
                "quad_direct_reliable": None if direct_none else bool(i % 4),
                "samples": samples,
                "seed": i,
                "seconds_closed": 0.0,
                "seconds_mc": 0.0,
                "seconds_quad": 0.0,
                "seconds": 0.0,
                "abs_err_mc": 0.0,
                "rel_err_mc": 0.0,
                "abs_err_quad": 0.0,
                "rel_err_quad": 0.0,
            }
        )
    return rows


@pytest.mark.parametrize("control", ["holm", "bh"])
def test_same_verdicts_as_apply_verdicts(control):
    rows = rows_with_every_outcome()
    expected = apply_verdicts(copy.deepcopy(rows), alpha=0.01, control=control)
    cols = from_rows(rows, param_dtypes([]))
    p_adj = adjusted_p_values(cols["mc_p_value"], control)
    # judged in three blocks with the run's adjusted p-values
    keys = (
        "mc_p_adjusted",
        "error_control",
        "alpha",
        "mc_level",
        "mc_detectable",
        "mc_min_samples",
        "quad_tolerance",
        "verdict",
        "reason",
    )
    got = {k: [] for k in keys}
    tested = int(np.count_nonzero(~np.isnan(cols["mc_p_value"])))
    for lo, hi in [(0, 100), (100, 101), (101, len(rows))]:
        part = {k: (v[lo:hi]) for k, v in cols.items()}
        out = verdict_columns(part, p_adj[lo:hi], alpha=0.01, control=control, tested=tested)
        for k in got:
            got[k].extend(list(out[k]))
    for k in got:
        exp = [r[k] for r in expected]
        if k in ("verdict", "reason", "error_control"):
            assert got[k] == exp
        else:
            assert np.array_equal(np.array(got[k], dtype=float), np.array(exp, dtype=float), equal_nan=True), k
    reasons = " ".join(r["reason"] for r in expected)
    for words in (
        "closed form is",
        "Monte Carlo disagrees",
        "quadrature differs",
        "unreliable",
        "few samples for skewness",
        "few randomisations",
    ):
        assert words in reasons  # every branch was exercised
