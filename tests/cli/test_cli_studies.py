"""The new command-line flags and the calibrate and converge commands, as a user calls them."""

from __future__ import annotations

import json
import re

import pandas as pd
import pytest

from mcverify.cli.main import main
from mcverify.studies.calibration import CELL_COLUMNS, FAMILY_COLUMNS
from mcverify.studies.convergence import FIT_COLUMNS, POINT_COLUMNS
from mcverify.tables.schema import COLUMNS
from tests.cli.test_cli import mcverify, write

SMALL = """
[run]
samples = 4096
seed = 7
[[pair]]
name = "ratio-10"
p = { mean = 0.0, std = 10.0 }
q = { mean = 0.0, std = 1.0 }
[[pair]]
name = "corr"
p = { mean = [0.0, 1.0], cov = [[1.0, 0.5], [0.5, 2.0]] }
q = { mean = [0.0, 0.0], var = [1.0, 1.0] }
"""


def test_run_flags_reach_the_table_and_the_provenance(tmp_path):
    cfg = write(tmp_path, SMALL)
    proc = mcverify(
        "run",
        str(cfg),
        "-o",
        str(tmp_path),
        "--method",
        "qmc",
        "--error-control",
        "bh",
        "--alpha",
        "0.05",
        "--estimators",
        "k3,k1,k2",
        "--randomizations",
        "16",
    )
    assert proc.returncode == 0, proc.stderr
    assert "Monte Carlo (qmc) at false discovery rate 0.05, Benjamini-Hochberg" in proc.stdout
    table = pd.read_csv(tmp_path / "cfg.csv")
    assert set(table.columns) <= set(COLUMNS)
    assert (table["method"] == "qmc").all() and (table["error_control"] == "bh").all()
    assert (table["mc_df"] == 15).all() and (table["samples"] == 4096).all()
    assert (table["mc_level"] == 0.05 / 2).all() and (table["mc_detectable"] > 0).all()
    for column in ("kl_k1", "k1_stderr", "kl_k2", "k2_stderr", "k2_bias", "kl_k3", "k3_stderr", "k3_finite_variance"):
        assert column in table.columns
    prov = json.loads((tmp_path / "cfg.provenance.json").read_text())
    assert (prov["method"], prov["error_control"], prov["alpha"], prov["randomizations"]) == ("qmc", "bh", 0.05, 16)
    assert prov["estimators"] == ["k1", "k2", "k3"]


def test_error_control_from_the_config_is_recorded(tmp_path):
    cfg = write(tmp_path, SMALL.replace("seed = 7", 'seed = 7\nerror_control = "bh"'))
    assert main(["run", str(cfg), "-o", str(tmp_path), "-q"]) == 0
    assert json.loads((tmp_path / "cfg.provenance.json").read_text())["error_control"] == "bh"
    table = pd.read_csv(tmp_path / "cfg.csv")
    assert (table["error_control"] == "bh").all() and "kl_k1" not in table.columns


@pytest.mark.parametrize(
    "args, words",
    [
        (["run", "CFG", "--method", "mcmc"], "invalid choice: 'mcmc'"),
        (["run", "CFG", "--alpha", "1.5"], "strictly between 0 and 1"),
        (["run", "CFG", "--estimators", "k1,k9"], "comma-separated list of k1, k2, k3"),
        (["run", "CFG", "--error-control", "bonferroni"], "invalid choice: 'bonferroni'"),
        (["calibrate", "CFG", "--method", "mc,nope"], "comma-separated list of mc, antithetic, qmc"),
        (["calibrate", "CFG", "--replicates", "1"], "--replicates: need at least 2"),
        (["calibrate", "CFG", "--samples", "40", "--method", "qmc"], "method 'qmc' needs at least 128 samples"),
        (["converge", "CFG", "--max-samples", "1000"], "power of two"),
        (["converge", "CFG", "--min-samples", "4", "--method", "qmc"], "needs at least 128 samples"),
    ],
)
def test_usage_errors_exit_2_one_line(tmp_path, monkeypatch, capsys, args, words):
    cfg = write(tmp_path, SMALL)
    monkeypatch.chdir(tmp_path)
    assert main([str(cfg) if a == "CFG" else a for a in args]) == 2
    out, err = capsys.readouterr()
    assert out == "" and len(err.strip().splitlines()) == 1 and words in err, err
    assert not (tmp_path / "results").exists()


def test_usage_error_as_a_subprocess(tmp_path):
    cfg = write(tmp_path, SMALL)
    proc = mcverify("calibrate", str(cfg), "--method", "mc,nope", cwd=tmp_path)
    assert proc.returncode == 2 and proc.stdout == "" and "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1 and "comma-separated list of mc, antithetic, qmc" in proc.stderr


def test_calibrate_writes_tables_and_exits_0(tmp_path):
    cfg = write(tmp_path, SMALL)
    out = tmp_path / "out"
    proc = mcverify(
        "calibrate", str(cfg), "--replicates", "40", "--method", "mc,antithetic", "-o", str(out), "--format", "csv,json"
    )
    assert proc.returncode == 0, proc.stderr
    assert "2 cases x 2 methods, 40 replicates of 4,096 samples" in proc.stdout
    assert "every check passes" in proc.stdout
    cells = pd.read_csv(out / "cfg.calibration.csv")
    family = pd.read_csv(out / "cfg.calibration-family.csv")
    assert list(cells.columns) == list(CELL_COLUMNS) and list(family.columns) == list(FAMILY_COLUMNS)
    assert list(cells["method"]) == ["mc", "antithetic"] * 2 and (cells["replicates"] == 40).all()
    assert json.loads((out / "cfg.calibration.json").read_text())[0]["name"] == "ratio-10"
    prov = json.loads((out / "cfg.calibration.provenance.json").read_text())
    assert prov["study"] == "calibrate" and prov["replicates"] == 40 and prov["methods"] == ["mc", "antithetic"]
    assert prov["error_control"] == "holm" and prov["ok"] is True and prov["checks"] == 10
    assert not list(out.glob(".*"))


def test_calibrate_exits_1_when_intervals_are_too_narrow(tmp_path, monkeypatch, capsys):
    import dataclasses

    import mcverify.studies.calibration as module
    from mcverify.sampling.estimators import estimate_kl

    def overconfident(*args, **kwargs):
        r = estimate_kl(*args, **kwargs)
        return dataclasses.replace(r, stderr=r.stderr / 3)

    monkeypatch.setattr(module, "estimate_kl", overconfident)
    cfg = write(tmp_path, SMALL)
    # one process: the patch lives in this one (spawned workers would not see it)
    assert (
        main(["calibrate", str(cfg), "--replicates", "60", "--method", "mc", "-o", str(tmp_path), "--jobs", "1"]) == 1
    )
    out = capsys.readouterr().out
    assert "FAIL ratio-10 (mc): coverage" in out and "calibration FAILED" in out


def test_converge_writes_rates(tmp_path):
    cfg = write(tmp_path, SMALL)
    proc = mcverify(
        "converge",
        str(cfg),
        "--min-samples",
        "256",
        "--max-samples",
        "4096",
        "--replicates",
        "4",
        "--method",
        "mc,qmc",
        "-o",
        str(tmp_path),
    )
    assert proc.returncode == 0, proc.stderr
    points = pd.read_csv(tmp_path / "cfg.convergence.csv")
    rates = pd.read_csv(tmp_path / "cfg.convergence-rates.csv")
    assert list(points.columns) == list(POINT_COLUMNS) and list(rates.columns) == list(FIT_COLUMNS)
    assert sorted(set(points["samples"])) == [256, 512, 1024, 2048, 4096] and len(rates) == 4
    assert re.search(r"ratio-10\s+qmc\s+-\d\.\d{3} ± \d\.\d{3}", proc.stdout)
    prov = json.loads((tmp_path / "cfg.convergence.provenance.json").read_text())
    assert prov["sample_counts"] == [256, 512, 1024, 2048, 4096] and prov["replicates"] == 4
