"""Numbers beyond float64 and beyond the methods' accuracy: refused up front, or computed without a warning.

A pair is verified when |mean| / std <= 1e150 per coordinate, the KL in each
direction it computes is at most 1e300 (1e150 when the k2 estimator is asked
for: it squares the log ratio), and, without --force, a full covariance has
condition number at most 1e8 and a swept full covariance dimension at most
2,000.  Everything else is exit 2 with one line naming the field, before any
work.  KLs between 1e100 (the limit before 0.4.0) and 1e300 are computed by
all three methods in scaled form, without a warning.
"""

from __future__ import annotations

import math
import os
import subprocess
import sys
import warnings
from pathlib import Path

import pandas as pd
import pytest

from mcverify.cli.main import main
from mcverify.config.loader import MAX_CONDITION, MAX_FULL_DIM, MAX_KL, MAX_KL_K2, load_config
from mcverify.errors import ConfigError
from mcverify.stats.verdicts import CLOSED_RTOL_FULL

ROOT = Path(__file__).resolve().parents[2]


def config(tmp_path: Path, body: str, run: str = "samples = 2000") -> Path:
    path = tmp_path / "cfg.toml"
    path.write_text(f"[run]\n{run}\n{body}")
    return path


def pair(p: str, q: str, direction: str = "both") -> str:
    return f'[[pair]]\nname = "a"\ndirection = "{direction}"\np = {p}\nq = {q}\n'


REFUSED = [
    # (what the issue found, config body, field, words)
    (
        "means of 1e308 and -1e308",
        pair("{ mean = 1e308, std = 1.0 }", "{ mean = -1e308, std = 1.0 }"),
        "pair[1].p.mean",
        "|mean| / std = 1e+308 is beyond 1e+150",
    ),
    (
        "std = 1e308",
        pair("{ mean = 0.0, std = 1e308 }", "{ mean = 0.0, std = 1.0 }"),
        "pair[1]",
        "KL(p || q) = inf is beyond 1e+300",
    ),
    (
        "std = 1e160 (RuntimeWarnings, exit 1)",
        pair("{ mean = 0.0, std = 1e160 }", "{ mean = 0.0, std = 1.0 }"),
        "pair[1]",
        "KL(p || q) = inf",
    ),
    (
        "a 2-d mean of 1e200 (OverflowError)",
        pair("{ mean = [1e200, 0.0], cov = [[1.0, 0.0], [0.0, 1.0]] }", "{ mean = [0.0, 0.0], std = 1.0 }"),
        "pair[1].p.mean",
        "|mean| / std = 1e+200",
    ),
    (
        "denormal covariance (LinAlgError)",
        pair("{ mean = [0.0, 0.0], cov = [[1e-310, 5e-311], [5e-311, 1e-310]] }", "{ mean = [0.0, 0.0], std = 1.0 }"),
        "pair[1]",
        "KL(q || p) = inf",
    ),
    (
        "tiny std, huge mean, p = q",
        pair("{ mean = 1e308, std = 1e-300 }", "{ mean = 1e308, std = 1e-300 }"),
        "pair[1].p.mean",
        "|mean| / std = inf",
    ),
    (
        "KL just above the limit",
        pair("{ mean = 7.5e149, std = 1.0 }", "{ mean = -7.5e149, std = 1.0 }"),
        "pair[1]",
        "KL(p || q) = 1.13e+300 is beyond 1e+300, the largest KL mcverify verifies",
    ),
    (
        "scale ratio just above the limit",
        pair("{ mean = 0.0, std = 1.42e150 }", "{ mean = 0.0, std = 1.0 }"),
        "pair[1]",
        "KL(p || q) = 1.01e+300 is beyond 1e+300",
    ),
    (
        "k2 beyond its limit",
        'estimators = ["k2"]\n' + pair("{ mean = 0.0, std = 1.0 }", "{ mean = 1e100, std = 1.0 }"),
        "pair[1]",
        "KL(p || q) = 5e+199 is beyond 1e+150, where the k2 estimator (half the squared log ratio) leaves float64",
    ),
    (
        "std = 1e308 in a values grid",
        '[[sweep]]\nname = "s"\np = { mean = 0.0, std = { values = [1.0, 1e308] } }\nq = { mean = 0.0, std = 1.0 }\n',
        "sweep[1]",
        "KL(p || q) = inf",
    ),
    (
        "a logspace to 1e300",
        '[[sweep]]\nname = "s"\np = { mean = 0.0, std = { logspace = [0, 300, 4] } }\nq = { mean = 0.0, std = 1.0 }\n',
        "sweep[1]",
        "KL(p || q) = inf is beyond 1e+300, the largest KL mcverify verifies (float64 ends at 1.8e+308); "
        "bring p and q closer (in case 's[p.std=1e+200]')",
    ),
    (
        "random SPD with cond = 1e16",
        '[[sweep]]\nname = "s"\np = { mean = 0.0, cov = { random = "spd", dim = 3, cond = 1e16 } }\n'
        "q = { mean = [0.0, 0.0, 0.0], std = 1.0 }\n",
        "sweep[1].p.cov",
        "is beyond 1e+08, where Monte Carlo and quadrature cannot verify",
    ),
    (
        "random SPD of dimension 5,000",
        '[[sweep]]\nname = "s"\np = { mean = 0.0, cov = { random = "spd", dim = 5000, cond = 10.0 } }\n'
        "q = { mean = 0.0, std = 1.0 }\n",
        "sweep[1]",
        "full covariances of dimension 5,000, more than 2,000",
    ),
]


@pytest.mark.parametrize(("what", "body", "field", "words"), REFUSED, ids=[r[0] for r in REFUSED])
def test_refused_before_work(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], what: str, body: str, field: str, words: str
) -> None:
    cfg = config(tmp_path, body)
    out = tmp_path / "out"
    assert main(["run", str(cfg), "-o", str(out)]) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err.count("\n") == 1, captured.err
    assert captured.err.startswith(f"mcverify: error: {cfg}: {field}: "), captured.err
    assert words in captured.err, captured.err
    assert not out.exists()


def test_the_limits_are_the_documented_ones() -> None:
    assert (MAX_KL, MAX_KL_K2, MAX_CONDITION, MAX_FULL_DIM) == (1e300, 1e150, 1e8, 2_000)


def test_forward_only_pair_is_judged_in_its_own_direction(tmp_path: Path) -> None:
    """KL(q || p) = 5e319 would overflow, but a forward case never computes it."""
    body = pair("{ mean = 0.0, std = 1e-160 }", "{ mean = 0.0, std = 1.0 }", direction="forward")
    assert len(load_config(config(tmp_path, body)).cases) == 1
    with pytest.raises(ConfigError, match=r"KL\(q \|\| p\) = inf"):
        load_config(config(tmp_path, body.replace('"forward"', '"both"')))


def test_force_lifts_the_accuracy_limits_not_the_float64_ones(tmp_path: Path) -> None:
    cond = '[[sweep]]\nname = "s"\np = { mean = 0.0, cov = { random = "spd", dim = 3, cond = 1e16 } }\n'
    cond += "q = { mean = [0.0, 0.0, 0.0], std = 1.0 }\n"
    assert len(load_config(config(tmp_path, cond), force=True).cases) == 1
    overflow = pair("{ mean = 0.0, std = 1e308 }", "{ mean = 0.0, std = 1.0 }")
    with pytest.raises(ConfigError, match="is beyond 1e"):
        load_config(config(tmp_path, overflow), force=True)


def test_largest_verifiable_kl_runs_without_a_warning(tmp_path: Path) -> None:
    """q's mean 1e49 away: KL = delta^2 / 2 = 5e97 exactly (in both directions), verified, no RuntimeWarning."""
    out = tmp_path / "out"
    cfg = config(tmp_path, pair("{ mean = 0.0, std = 1.0 }", "{ mean = 1e49, std = 1.0 }"))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert main(["run", str(cfg), "-o", str(out), "-q", "--jobs", "1"]) == 0
    table = pd.read_csv(out / "cfg.csv")
    assert table["kl_closed"].tolist() == pytest.approx([5e97, 5e97], rel=1e-15)
    assert (table["verdict"] == "pass").all()
    assert abs(table["kl_mc"] - 5e97).max() <= 5 * table["mc_stderr"].max() + 1e-15 * 5e97


#: Pairs whose KL lies beyond the limit before 0.4.0 (1e100), up to the new one (1e300): from the
#: scale ratio, from the mean difference (at standard deviations of 1 and 1e-150), both in a
#: diagonal, and full covariances; both directions (the reverse ones are small for scale ratios).
BIG = """
scale-1e120      { mean = 0.0, std = 1.4142135623730951e60 }                 { mean = 0.0, std = 1.0 }
mean-1e200       { mean = 0.0, std = 1.0 }                                   { mean = 1.4142135623730951e100, std = 1.0 }
scale-1e300      { mean = 0.0, std = 1.4e150 }                               { mean = 0.0, std = 1.0 }
tiny-mean-1e300  { mean = 0.7, std = 1e-150 }                                { mean = -0.7, std = 1e-150 }
diag-7e299       { mean = [0.0, 1.0, 5e149], std = [7e149, 2.0, 1.0] }       { mean = [0.0, 0.0, -5e149], std = 1.0 }
full-1e200       { mean = [0.0, 1.0], cov = [[1e200, 5e199], [5e199, 1e200]] }  { mean = [0.0, 0.0], std = 1.0 }
full-5e299       { mean = [0.0, 1.0], cov = [[5e299, 2.5e299], [2.5e299, 5e299]] }  { mean = [1.0, 0.0], std = 1.0 }
"""


def _big_config(tmp_path: Path) -> Path:
    """The pairs of :data:`BIG` (name, p, q: the two tables split at ``}  {``) in both directions."""
    body = ""
    for line in BIG.strip().splitlines():
        name, rest = line.split(maxsplit=1)
        p, q = rest.split("}", 1)
        body += f'[[pair]]\nname = "{name}"\ndirection = "both"\np = {p.strip()} }}\nq = {q.strip()}\n'
    return config(tmp_path, body, run="samples = 4096\nconfidence = 0.9999")


@pytest.mark.parametrize("method", ["mc", "antithetic", "qmc"])
def test_kl_up_to_1e300_is_verified_by_every_method(tmp_path: Path, method: str) -> None:
    """KL 1e120 .. 1e300: exit 0 without a RuntimeWarning (made an error), as a real process.

    The closed form is within rounding of an 80-digit mpmath value (4 ulps for univariate and
    diagonal pairs; the documented full-covariance accuracy otherwise), each 99.99% Monte Carlo
    interval covers it (28 intervals: all cover with probability 0.997, and the seed is fixed),
    widened by the rounding allowance the verdict uses, and both quadratures agree within their
    own error estimates and the same rounding.
    """
    pytest.importorskip("mpmath")
    from reference import kl_mpmath_float  # tests/reference.py: the 80-digit oracle

    cfg = _big_config(tmp_path)
    out = tmp_path / "out"
    options = ["--method", method, "--jobs", "1", "-q"]
    done = subprocess.run(
        [sys.executable, "-W", "error::RuntimeWarning", "-m", "mcverify", "run", str(cfg), "-o", str(out), *options],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=dict(os.environ, PYTHONPATH=str(ROOT)),
        timeout=300,
    )
    assert (done.returncode, done.stdout, done.stderr) == (0, "", "")
    table = pd.read_csv(out / "cfg.csv")
    cases = load_config(cfg).cases
    assert len(table) == len(cases) == 2 * len(BIG.strip().splitlines())
    assert table["kl_closed"].max() > 9e299 and table["kl_closed"].max() <= MAX_KL
    for row, case in zip(table.itertuples(), cases):
        assert row.name == case.name
        ref = kl_mpmath_float(case.p, case.q)
        full = "full" in (case.p.kind, case.q.kind)
        rounding = (CLOSED_RTOL_FULL * ref if full else 0.0) + 4 * math.ulp(ref)
        assert abs(row.kl_closed - ref) <= rounding, (row.name, row.kl_closed, ref)
        slack = rounding + 16 * math.ulp(ref)  # as stats.verdicts.rounding_allowance
        assert row.mc_ci_low - slack <= ref <= row.mc_ci_high + slack, (row.name, row.mc_ci_low, ref, row.mc_ci_high)
        assert math.isfinite(row.mc_stderr) and math.isfinite(row.mc_skewness)
        assert row.quad_reliable and abs(row.kl_quad - ref) <= row.quad_error + slack, (row.name, row.kl_quad, ref)
        # Direct quadrature evaluates x = m_p + s_p t: at |m_p| / s_p = 7e149 every x rounds to
        # m_p, and it says so (unreliable, its error bound covering that) instead of a number.
        if case.p.dim <= 2 and not row.name.startswith("tiny-mean"):
            assert row.quad_direct_reliable, row.name
            assert abs(row.kl_quad_direct - ref) <= row.quad_direct_error + slack, (row.name, row.kl_quad_direct, ref)
        assert row.verdict == "pass", (row.name, row.reason)


def test_kl_up_to_1e300_with_the_ratio_estimators_in_process(tmp_path: Path) -> None:
    """k1 and k3 are finite up to 1e300 (warnings are errors here); k2 up to its own limit, 1e150."""
    cfg = _big_config(tmp_path)
    cfg.write_text(cfg.read_text().replace("[run]\n", '[run]\nestimators = ["k1", "k3"]\n'))
    out = tmp_path / "out"
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert main(["run", str(cfg), "-o", str(out), "-q", "--jobs", "1"]) == 0
    table = pd.read_csv(out / "cfg.csv")
    for name in ("kl_k1", "k1_stderr", "kl_k3", "k3_stderr"):
        assert table[name].map(math.isfinite).all(), name
    # k1 is the Monte Carlo term itself, from the same draws.
    assert (abs(table["kl_k1"] - table["kl_mc"]) <= 1e-12 * table["kl_mc"].abs()).all()
    k2 = config(tmp_path, 'estimators = ["k2"]\n' + pair("{ mean = 0.0, std = 1.0 }", "{ mean = 1.4e75, std = 1.0 }"))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert main(["run", str(k2), "-o", str(tmp_path / "k2"), "-q", "--jobs", "1"]) == 0
    table = pd.read_csv(tmp_path / "k2" / "cfg.csv")
    assert table["kl_k2"].map(math.isfinite).all() and (table["kl_k2"] >= 0.5 * table["kl_closed"] ** 2).all()


def test_studies_at_kl_up_to_1e300_write_finite_errors(tmp_path: Path) -> None:
    """calibrate and converge square the errors (rmse): in scaled form, finite up to 1e300, no warning."""
    cfg = _big_config(tmp_path)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        code = main(["calibrate", str(cfg), "-o", str(tmp_path / "cal"), "--replicates", "20", "--method", "mc"])
        assert code == 0
        code = main(["converge", str(cfg), "-o", str(tmp_path / "conv"), "--replicates", "4", "--max-samples", "2048"])
        assert code == 0
    cal = pd.read_csv(tmp_path / "cal" / "cfg.calibration.csv")
    conv = pd.read_csv(tmp_path / "conv" / "cfg.convergence.csv")
    for table, columns in ((cal, ["rmse", "stderr_rms"]), (conv, ["rmse", "stderr_rms"])):
        for column in columns:
            assert table[column].map(math.isfinite).all(), column
    # Scale ratio 1.4e150: the log ratio is KL (z^2 + ...), its standard deviation sqrt(2) KL, so the
    # rmse over 4 replicates of n >= 1024 samples lies well within KL * [0.001, 1].
    scale = conv[conv["name"] == "scale-1e300"]
    assert len(scale) > 0 and ((scale["rmse"] > 1e-3 * scale["kl_closed"]) & (scale["rmse"] < scale["kl_closed"])).all()
