"""Summaries of results tables, checked against direct computations on the table."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
from scipy.optimize import brentq

from mcverify.reporting.summary import (
    BINS,
    breakdown,
    case_labels,
    convergence_slope,
    parameter_columns,
    summarize,
    sweep_axes,
    table_kind,
    zero_crossings,
)


def audit_table() -> pd.DataFrame:
    """An audit probe table of the classic log10 mistake, computed here from the formulas."""
    std = np.array([1e-3, 0.1, 0.3, 0.5, 0.7, 0.9, 1.0, 1.5, 3.0, 10.0])
    truth = 0.5 * (std**2 - 1) - np.log(std)
    cand = 0.5 * (std**2 - 1 - np.log10(std**2))
    tol = 1e-15 * (1 + np.abs(truth))
    status = np.where(np.abs(cand - truth) <= tol, "ok", "fail")
    return pd.DataFrame(
        {
            "probe": range(len(std)),
            "group": "scale sweep",
            "d": 1,
            "mean": 0.0,
            "std": std,
            "candidate": cand,
            "truth": truth,
            "error": cand - truth,
            "tolerance": tol,
            "relative_error": np.abs(cand - truth) / np.where(truth > 0, truth, np.nan),
            "status": status,
            "message": "",
        }
    )


def test_kinds():
    assert table_kind(pd.DataFrame(columns=["kl_closed", "kl_mc", "verdict"])) == "run"
    assert table_kind(audit_table()) == "audit"
    assert table_kind(pd.DataFrame({"a": [1]})) == "table"


def test_run_summary_matches_the_table(small_run):
    _, frame = small_run
    s = summarize(frame)
    assert s.kind == "run" and s.rows == len(frame) == 35
    assert s.counts == frame["verdict"].value_counts().to_dict() and s.passed == (frame["verdict"] == "pass").sum()
    m = s.methods.set_index("method")
    assert list(m.index) == ["Monte Carlo", "quadrature", "direct quadrature"]
    z = frame["mc_z"].abs()
    assert m.at["Monte Carlo", "max |z|"] == z.max()
    assert m.at["Monte Carlo", "max |z| at"] == frame.at[z.idxmax(), "name"]
    nonzero = frame["kl_closed"] != 0  # relative error of a zero KL is undefined, left out
    assert m.at["Monte Carlo", "max rel error"] == frame.loc[nonzero, "rel_err_mc"].max()
    assert m.at["quadrature", "max error / tolerance"] == (frame["abs_err_quad"] / frame["quad_tolerance"]).max()
    assert m.at["quadrature", "max abs error"] == frame["abs_err_quad"].max()
    assert m.at["direct quadrature", "cases"] == (frame["dim"] <= 2).sum()
    assert m.at["quadrature", "unreliable"] == (~frame["quad_reliable"]).sum()
    assert s.seconds == pytest.approx(frame["seconds"].sum())
    json.dumps(s.as_dict(), allow_nan=False)  # JSON-ready


def test_failures_per_method_follow_their_criteria(small_run):
    _, frame = small_run
    f = frame.copy()
    f.loc[0, "mc_p_adjusted"] = 0.005  # Monte Carlo rejected at alpha 0.01 ...
    f.loc[1, "kl_quad"] = f.loc[1, "kl_closed"] + 10 * f.loc[1, "quad_tolerance"]  # ... quadrature too far
    f.loc[[0, 1], "verdict"] = "fail"
    f.loc[[0, 1], "reason"] = ["Monte Carlo disagrees", "quadrature differs"]
    s = summarize(f)
    m = s.methods.set_index("method")
    assert (m.at["Monte Carlo", "fail"], m.at["quadrature", "fail"], m.at["direct quadrature", "fail"]) == (1, 1, 0)
    assert summarize(f, alpha=0.001).methods.set_index("method").at["Monte Carlo", "fail"] == 0
    assert s.failed == 2 and list(s.failures["case"]) == list(f["name"][:2])
    assert list(s.failures["reason"]) == ["Monte Carlo disagrees", "quadrature differs"]
    assert m.at["quadrature", "max error / tolerance"] == pytest.approx(10.0, rel=1e-4)  # rounding of kl + 10 tol


def test_breakdowns_partition_the_cases(small_run):
    _, frame = small_run
    s = summarize(frame)
    assert list(s.by_dimension["dim"]) == [1, 2, 3] and s.by_dimension["cases"].sum() == len(frame)
    assert list(s.by_group["group"]) == ["corr", "diag-3d", "std", "std (reverse)", "grid"]
    for col, table in s.by_parameter.items():
        assert table["cases"].sum() == frame[col].notna().sum()
    std = s.by_parameter["param:p.std"]  # 12 distinct values (the grid's are among them): a row each
    values = np.sort(frame["param:p.std"].dropna().unique())
    assert [float(v) for v in std["param:p.std"]] == list(values)
    for value, row in zip(values, std.itertuples(index=False), strict=True):
        inside = frame[frame["param:p.std"] == value]
        assert row.cases == len(inside) and row[3] == inside["mc_z"].abs().max()
    mean = s.by_parameter["param:p.mean"]  # 3 values: one row each
    assert list(mean["param:p.mean"]) == ["-1", "0", "1"] and list(mean["cases"]) == [3, 3, 3]


def test_log_bins_over_decades():
    x = np.logspace(-4, 4, 81)
    frame = pd.DataFrame(
        {"param:x": x, "kl_closed": 1.0, "kl_mc": 1.0 + x * 1e-6, "mc_z": np.log10(x), "verdict": "pass"}
    )
    table = breakdown(frame, "param:x")
    assert len(table) == BINS and table["cases"].sum() == 81
    assert sorted(table["cases"]) == [10] * 7 + [11]  # equal widths in log10 (linear bins: 71 in the first)
    assert table["Monte Carlo max |z|"].iloc[-1] == 4.0


def test_sweep_axes_find_lines_and_grids(small_run):
    _, frame = small_run
    found = {(s["group"], s["direction"]): (s["axes"], len(s["rows"])) for s in sweep_axes(frame)}
    assert found == {
        ("std", "forward"): (["param:p.std"], 12),
        ("std", "reverse"): (["param:p.std"], 12),
        ("grid", "forward"): (["param:p.mean", "param:p.std"], 9),
    }


def test_audit_summary_and_labels():
    table = audit_table()
    s = summarize(table)
    assert s.kind == "audit" and s.status_column == "status"
    assert (s.passed, s.failed) == (1, 9)  # only std = 1 passes
    assert parameter_columns(table) == ["mean", "std"]
    assert case_labels(table).iloc[1] == "1: mean = 0, std = 0.1"
    m = s.methods.set_index("method")
    assert m.at["candidate", "max abs error"] == table["error"].abs().max()
    assert m.at["candidate", "fail"] == 9
    assert list(s.failures.columns) == ["case", "status", "candidate", "truth", "error"]
    assert [x["group"] for x in sweep_axes(table)] == ["scale sweep"]


def test_other_tables_by_their_columns():
    frame = pd.DataFrame({"kl_closed": [1.0, 2.0], "kl_taylor": [1.1, 2.0], "status": ["ok", "bad"]})
    s = summarize(frame)
    assert s.kind == "table" and (s.passed, s.failed) == (1, 1)
    m = s.methods.set_index("method")
    assert list(m.index) == ["taylor"] and m.at["taylor", "max abs error"] == pytest.approx(0.1)
    assert summarize(pd.DataFrame({"a": [1, 2]})).headline() == "2 rows"


def test_zero_crossings_of_the_classic_candidate():
    def candidate(s: float) -> float:
        return 0.5 * (s**2 - 1 - math.log10(s**2))

    root = brentq(candidate, 0.2, 0.6)  # independent: root finding on the formula itself
    s = np.linspace(0.05, 3.0, 60)
    crossings = zero_crossings(s, [candidate(x) for x in s])
    assert len(crossings) == 2 and crossings[1] == pytest.approx(1.0, abs=1e-12)
    # Linear interpolation on a 0.05 grid: error below h^2 max|f''| / 8.
    h, f2 = 0.05, max(abs(1 + 1 / (math.log(10) * x**2)) for x in np.linspace(0.35, 0.4, 11))
    assert abs(crossings[0] - root) <= h**2 * f2 / 8 / abs((candidate(0.4) - candidate(0.35)) / h)
    assert zero_crossings([0.0, 1.0, 2.0], [1.0, 1.0, 1.0]) == []


def test_convergence_slope_exact_and_noisy():
    n = np.array([100, 1000, 10_000, 100_000])
    exact = pd.DataFrame({"samples": n, "rel_err_mc": 3.0 * n**-0.5})
    fit = convergence_slope(exact)
    assert fit["slope"] == pytest.approx(-0.5, abs=1e-12) and fit["slope_stderr"] < 1e-12
    rng = np.random.default_rng(11)
    m = 400  # cases per size: errors sigma / sqrt(n) * |Z|
    noisy = pd.DataFrame(
        {"samples": np.repeat(n, m), "rel_err_mc": np.abs(rng.standard_normal(4 * m)) / np.sqrt(np.repeat(n, m))}
    )
    fit = convergence_slope(noisy)
    # The median of m half-normal draws has sd 1 / (2 f(med) sqrt(m)), f(med) = 2 phi(0.6745) = 0.6356:
    # 0.025 in log10 per size; over these four sizes the slope's sd is 0.025 / sqrt(5).
    sd = 1 / (2 * 0.6356 * math.sqrt(m)) / 0.6745 / math.log(10) / math.sqrt(5)
    assert abs(fit["slope"] + 0.5) < 5 * sd
    with pytest.raises(ValueError, match="unknown statistic"):
        convergence_slope(exact, statistic="mode")


def test_other_tables_get_numeric_column_summaries():
    frame = pd.DataFrame({"samples": [100, 1000, 10_000], "err": [0.1, 0.03, 0.01], "label": ["a", "b", "c"]})
    s = summarize(frame)
    assert s.numeric["column"].tolist() == ["samples", "err"]
    assert s.numeric.set_index("column").loc["err", ["min", "median", "max"]].tolist() == [0.01, 0.03, 0.1]
    assert summarize(audit_table()).numeric is None
