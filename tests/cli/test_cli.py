"""The command line as a user calls it: subprocesses, files, exit codes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import commands
import pandas as pd
import pytest

from mcverify.cli.main import main
from mcverify.tables.schema import COLUMNS

ROOT = Path(__file__).resolve().parents[2]


def mcverify(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return commands.mcverify(*args, cwd=cwd)


def in_process(
    capsys: pytest.CaptureFixture[str],
    *args: str,
    cwd: Path | None = None,
    monkeypatch: pytest.MonkeyPatch | None = None,
) -> subprocess.CompletedProcess[str]:
    """What :func:`mcverify` returns, from ``main(args)`` in this process: where a subprocess tests nothing
    more (the same parser, handler, files and exit code), at a fraction of the time."""
    if cwd is not None:
        assert monkeypatch is not None, "give monkeypatch to change the folder"
        monkeypatch.chdir(cwd)
    capsys.readouterr()
    code = main(list(args))
    out, err = capsys.readouterr()
    return subprocess.CompletedProcess(["mcverify", *args], code, out, err)


def write(tmp_path: Path, text: str, name: str = "cfg.toml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


GOOD = """
[run]
samples = 20_000
seed = 7
[[pair]]
name = "wide"
p = { mean = 0.0, std = 2.0 }
q = { mean = 0.0, std = 1.0 }
direction = "both"
[[pair]]
name = "corr"
p = { mean = [0.0, 1.0], cov = [[1.0, 0.5], [0.5, 2.0]] }
q = { mean = [0.0, 0.0], var = [1.0, 1.0] }
[[sweep]]
name = "grid"
p = { mean = 0.0, std = { values = [0.5, 1.0, 3.0] } }
q = { mean = 0.0, std = 1.0 }
"""


def test_run_writes_table_and_provenance(tmp_path):
    cfg = write(tmp_path, GOOD)
    out = tmp_path / "out"
    proc = mcverify("run", str(cfg), "-o", str(out), "--format", "csv,json")
    assert proc.returncode == 0, proc.stderr
    assert "6 cases: 6 pass, 0 fail" in proc.stdout and proc.stderr == ""
    table = pd.read_csv(out / "cfg.csv")
    assert list(table["name"]) == ["wide", "wide/reverse", "corr", "grid[p.std=0.5]", "grid[p.std=1]", "grid[p.std=3]"]
    for column in (
        "name",
        "dim",
        "kl_closed",
        "kl_mc",
        "mc_stderr",
        "mc_ci_low",
        "mc_ci_high",
        "mc_z",
        "kl_quad",
        "quad_error",
        "abs_err_mc",
        "rel_err_mc",
        "abs_err_quad",
        "rel_err_quad",
        "samples",
        "seed",
        "seconds",
        "verdict",
        "reason",
        "param:p.std",
    ):
        assert column in table.columns
    assert set(table.columns) - set(COLUMNS) == {"param:p.std"}
    assert (table["verdict"] == "pass").all()
    assert table.loc[table["name"] == "grid[p.std=1]", "kl_closed"].item() == 0.0
    records = json.loads((out / "cfg.json").read_text())
    assert [r["name"] for r in records] == list(table["name"])
    prov = json.loads((out / "cfg.provenance.json").read_text())
    assert prov["seed"] == 7 and prov["samples"] == 20_000 and len(prov["config_hash"]) == 64
    assert {"mcverify", "numpy", "scipy", "pandas", "python"} <= set(prov["versions"])
    assert not list(out.glob("*.part")) and not list(out.glob(".*"))


def test_same_seed_same_table_and_overrides(tmp_path):
    cfg = write(tmp_path, GOOD)
    assert main(["run", str(cfg), "-o", str(tmp_path / "a"), "-q"]) == 0
    assert main(["run", str(cfg), "-o", str(tmp_path / "b"), "-q"]) == 0
    assert main(["run", str(cfg), "-o", str(tmp_path / "c"), "-q", "--seed", "8", "--samples", "1000"]) == 0
    a, b, c = (pd.read_csv(tmp_path / x / "cfg.csv") for x in "abc")
    timing = [col for col in a.columns if col.startswith("seconds")]
    pd.testing.assert_frame_equal(a.drop(columns=timing), b.drop(columns=timing))
    differs = a["kl_closed"] != 0.0  # at p == q every draw gives log ratio 0
    assert (c["samples"] == 1000).all() and (c["kl_mc"] != a["kl_mc"])[differs].all()
    assert (c["kl_closed"] == a["kl_closed"]).all()


def test_row_seed_reproduces_monte_carlo(tmp_path):
    from mcverify import Gaussian, monte_carlo_kl

    cfg = write(tmp_path, GOOD)
    assert main(["run", str(cfg), "-o", str(tmp_path), "-q"]) == 0
    row = pd.read_csv(tmp_path / "cfg.csv").iloc[0]
    again = monte_carlo_kl(Gaussian(0.0, std=2.0), Gaussian(0.0, std=1.0), int(row["samples"]), seed=int(row["seed"]))
    assert again.estimate == row["kl_mc"]


def test_wrong_formula_in_the_truth_fails_with_exit_1(tmp_path, capsys):
    # If the closed form were wrong (here: log10 for log), Monte Carlo and quadrature expose it.
    import math

    from mcverify import kl_divergence
    from mcverify.config.loader import load_config
    from mcverify.engine.case import Methods
    from mcverify.engine.pipeline import RunOptions, execute

    def broken(p, q):
        return kl_divergence(p, q) - math.log(2.0) + math.log10(2.0) if p.dim == 1 else kl_divergence(p, q)

    cfg = write(tmp_path, GOOD)
    # one process: the planted formula lives in this one
    options = RunOptions(output=tmp_path, formats=["csv"], jobs=1)
    assert execute(load_config(cfg), options, methods=Methods(closed_form=broken)) == 1
    out = capsys.readouterr().out
    assert "fail" in out and "FAIL wide" in out and "quadrature differs" in out
    table = pd.read_csv(tmp_path / "cfg.csv")
    assert set(table.loc[table["dim"] == 1, "verdict"]) == {"fail"}
    assert set(table.loc[table["dim"] == 2, "verdict"]) == {"pass"}


BAD = {
    "negative std": ("[[pair]]\nname='a'\np={mean=0.0,std=-1.0}\nq={mean=0.0,std=1.0}\n", "pair[1].p.std", "positive"),
    "not psd": (
        "[[pair]]\nname='a'\np={mean=[0.0,0.0],cov=[[1.0,2.0],[2.0,1.0]]}\nq={mean=[0.0,0.0],std=1.0}\n",
        "pair[1].p.cov",
        "smallest eigenvalue",
    ),
    "dims": (
        "[[pair]]\nname='a'\np={mean=[0.0,0.0],std=[1.0,1.0]}\nq={mean=[0.0,0.0,0.0],std=1.0}\n",
        "pair[1]",
        "dimension",
    ),
    "unknown key": (
        "[run]\nsampels=10\n[[pair]]\nname='a'\np={mean=0.0,std=1.0}\nq={mean=0.0,std=1.0}\n",
        "run.sampels",
        "did you mean 'samples'",
    ),
    "malformed": ("[[pair]\nname='a'\n", "cfg.toml", "TOML"),
}


@pytest.mark.parametrize("case", BAD, ids=list(BAD))
def test_bad_config_exit_2_one_line_nothing_written(tmp_path, case):
    text, field, words = BAD[case]
    cfg = write(tmp_path, text)
    out = tmp_path / "out"
    proc = mcverify("run", str(cfg), "-o", str(out))
    assert proc.returncode == 2
    assert proc.stdout == ""
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in proc.stderr
    assert str(cfg) in lines[0] and field in lines[0] and words.lower() in lines[0].lower()
    assert not out.exists() or not any(out.iterdir())


@pytest.mark.parametrize(
    "args, words",
    [
        (["run", "missing.toml"], "missing.toml"),
        (["run"], "the following arguments are required: config"),
        (["frobnicate"], "invalid choice"),
        (["run", "CFG", "--samples", "-5"], "positive integer"),
        (["run", "CFG", "--format", "xls"], "unknown format 'xls'"),
    ],
)
def test_usage_errors_exit_2_one_line(tmp_path, args, words):
    cfg = write(tmp_path, GOOD)
    proc = mcverify(*[str(cfg) if a == "CFG" else a for a in args], cwd=tmp_path)
    assert proc.returncode == 2
    assert len(proc.stderr.strip().splitlines()) == 1 and words in proc.stderr
    assert not (tmp_path / "results").exists()


def test_unwritable_output_folder(tmp_path):
    cfg = write(tmp_path, GOOD)
    blocker = tmp_path / "file"
    blocker.write_text("x")
    proc = mcverify("run", str(cfg), "-o", str(blocker / "sub"))
    assert proc.returncode == 2 and "cannot create the output folder" in proc.stderr
    assert blocker.read_text() == "x"


def test_console_script_and_version():
    proc = mcverify("--version")
    assert proc.returncode == 0 and proc.stdout.startswith("mcverify ")


def test_classic_config_every_method_agrees_and_zero_only_at_one(tmp_path):
    assert (
        main(["run", str(ROOT / "configs" / "classic-std.toml"), "-o", str(tmp_path), "-q", "--samples", "20000"]) == 0
    )
    table = pd.read_csv(tmp_path / "classic-std.csv")
    assert (table["verdict"] == "pass").all()
    x = table["param:p.std"]
    assert set(table["direction"]) == {"forward", "reverse"}
    assert (table.loc[x == 1.0, "kl_closed"] == 0.0).all() and (x == 1.0).sum() == 2
    assert (table.loc[x != 1.0, "kl_closed"] > 0.0).all()
    assert (table.loc[x != 1.0, "kl_quad"] > 0.0).all()


def test_closed_pipe_exits_quietly():
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    cmd = f'"{sys.executable}" -m mcverify audit --expr "0.5*(std**2 - 1 - log10(std**2))" --convention prior-std --json --samples 0 | head -c 10'
    proc = subprocess.run(["bash", "-c", cmd], capture_output=True, text=True, env=env, timeout=300)
    assert proc.stdout == '{\n  "verdi' and "Traceback" not in proc.stderr and "Error" not in proc.stderr
