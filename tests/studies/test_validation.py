"""`mcverify validate`: several configs, their tables, a convergence study and one report."""

from __future__ import annotations

import math

import pandas as pd
import pytest
from tabletext import pipe_tables

from mcverify.cli.main import main
from mcverify.studies.convergence import convergence_sizes
from mcverify.studies.validation import validate
from mcverify.tables.readers import read_results
from tests.cli.test_cli import GOOD, mcverify, write

SWEEP = """
[run]
samples = 10_000
seed = 5
[[sweep]]
name = "s"
p = { mean = 0.0, std = { linspace = [0.5, 2.0, 7] } }
q = { mean = 0.0, std = 1.0 }
"""


def test_convergence_sizes():
    assert convergence_sizes(200_000, 3) == [200, 2_000, 20_000, 200_000]
    assert convergence_sizes(1_000, 3) == [100, 1_000]  # never below 100
    assert convergence_sizes(50, 2) == [50] and convergence_sizes(10_000, 0) == [10_000]


@pytest.mark.slow
def test_validate_writes_tables_convergence_and_report(tmp_path):
    pytest.importorskip("matplotlib")
    a, b = write(tmp_path, GOOD, "good.toml"), write(tmp_path, SWEEP, "sweep.toml")
    out = tmp_path / "results"
    proc = mcverify("validate", str(a), str(b), "-o", str(out))
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0].startswith(f"{a}: 6 cases, 6 pass, 0 fail in ")
    assert lines[0].endswith("; Monte Carlo again at 200, 2000 samples")
    assert lines[2].startswith("2 configs, 13 cases: 13 pass, 0 fail in ")
    assert sorted(p.name for p in out.iterdir()) == [
        "convergence.csv",
        "convergence.provenance.json",
        "good.csv",
        "good.provenance.json",
        "index.html",
        "index.md",
        "sweep.csv",
        "sweep.provenance.json",
    ]
    good = read_results(out / "good.csv")
    assert good.provenance["seed"] == 7 and len(good.frame) == 6
    conv = pd.read_csv(out / "convergence.csv")
    assert sorted(set(conv["samples"])) == [100, 200, 1_000, 2_000, 10_000, 20_000]
    # The largest size is the run's own Monte Carlo, not a rerun.
    own = conv[(conv["config"] == "good") & (conv["samples"] == 20_000)].set_index("index")["kl_mc"]
    pd.testing.assert_series_equal(own, good.frame.set_index("index")["kl_mc"], check_names=False)
    md = (out / "index.md").read_text()
    overview = pipe_tables(md)[0]
    assert overview[0][:4] == ["config", "cases", "pass", "fail"] and [r[0] for r in overview[1]] == ["good", "sweep"]
    slope = float(overview[1][1][overview[0].index("Monte Carlo convergence slope")])
    assert math.isfinite(slope)
    html = (out / "index.html").read_text()
    assert html.count("<img ") >= 4 and 'href="#good"' in html and 'id="sweep"' in html


def test_validate_exit_1_on_failure_and_2_on_bad_config(tmp_path, capsys):
    from mcverify import kl_divergence
    from mcverify.engine.case import Methods

    good = write(tmp_path, SWEEP, "sweep.toml")
    bad = write(tmp_path, "[[pair]]\nname='a'\np={mean=0.0,std=-1.0}\nq={mean=0.0,std=1.0}\n", "bad.toml")
    assert main(["validate", str(good), str(bad), "-o", str(tmp_path / "r"), "--no-plots"]) == 2
    assert "bad.toml: pair[1].p.std" in capsys.readouterr().err and not (tmp_path / "r").exists()

    assert main(["validate", str(good), "-o", str(tmp_path / "ok"), "--no-plots", "--convergence", "0", "-q"]) == 0
    planted = Methods(closed_form=lambda p, q: kl_divergence(p, q) + 0.01)
    results, _ = validate([good], tmp_path / "r", levels=0, plots=False, methods=planted)
    assert sum(r.failed for r in results) == 7
    md = (tmp_path / "r" / "index.md").read_text()
    assert "**1 config, 7 cases: 0 pass, 7 fail.**" in md and "\n## Failures" not in md
    assert "### Failures (7)" in md


def test_validate_records_the_configs_own_settings_in_the_provenance(tmp_path):
    """Regression: validate wrote "holm" (and no method) into the provenance of a config that asked for "bh"."""
    cfg = write(tmp_path, SWEEP.replace("[run]", '[run]\nerror_control = "bh"\nmethod = "antithetic"'), "bh.toml")
    results, _ = validate([cfg], tmp_path / "r", levels=0, plots=False)
    (result,) = results
    record = read_results(tmp_path / "r" / "bh.csv").provenance
    assert record["error_control"] == "bh" == result.provenance["error_control"]
    assert record["method"] == "antithetic" and set(result.frame["error_control"]) == {"bh"}
    assert set(result.frame["method"]) == {"antithetic"}
