"""Numbers beyond float64 and beyond the methods' accuracy: refused up front, or computed without a warning.

A pair is verified when |mean| / std <= 1e150 per coordinate, the KL in each
direction it computes is at most 1e100 (Monte Carlo cubes the log ratio),
and, without --force, a full covariance has condition number at most 1e8
and a swept full covariance dimension at most 2,000.  Everything else is
exit 2 with one line naming the field, before any work.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import pandas as pd
import pytest

from mcverify.cli.main import main
from mcverify.config.loader import MAX_CONDITION, MAX_FULL_DIM, MAX_KL, load_config
from mcverify.errors import ConfigError


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
        "KL(p || q) = inf is beyond 1e+100",
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
        pair("{ mean = 0.0, std = 1.0 }", "{ mean = 1.5e50, std = 1.0 }"),
        "pair[1]",
        "KL(p || q) = 1.12e+100 is beyond 1e+100",
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
        "(in case 's[p.std=1e+100]')",
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
    assert (MAX_KL, MAX_CONDITION, MAX_FULL_DIM) == (1e100, 1e8, 2_000)


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
