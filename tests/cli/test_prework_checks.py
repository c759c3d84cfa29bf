"""What can be checked before the work is checked before it: output names, collisions, folders in the way, levels.

Each case is refused with one line naming the file or field, exit code 2, and nothing written
(no output folder made, no checkpoint, no table).
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import commands
import pytest

from mcverify.cli.main import main

ROOT = Path(__file__).resolve().parents[2]

GOOD = """
[run]
samples = 1000
[[pair]]
name = "a"
p = { mean = 0.0, std = 2.0 }
q = { mean = 0.0, std = 1.0 }
"""


def config(tmp_path: Path, name: str = "cfg.toml", text: str = GOOD) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def one_error_line(capsys: pytest.CaptureFixture[str]) -> str:
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.count("\n") == 1 and "Traceback" not in captured.err, captured.err
    assert captured.err.startswith("mcverify: error: ")
    return captured.err.rstrip("\n")


def test_config_name_too_long_for_the_file_system_is_refused_before_work(tmp_path: Path) -> None:
    """A 236-byte stem fits the file system, but not with mcverify's temporary names: found up front."""
    cfg = config(tmp_path, "x" * 236 + ".toml")
    out = tmp_path / "out"
    done = commands.mcverify("run", str(cfg), "-o", str(out), "--jobs", "1", timeout=60)
    assert done.returncode == 2, done.stderr
    assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr
    assert f"{out / ('x' * 236)}.csv: the file name is too long for the file system" in done.stderr
    assert not out.exists()  # nothing written, not even the folder


def test_longest_name_that_fits_runs(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """255 bytes less the 32 of the temporary name and the 4 of '-999', less '.provenance.json'."""
    stem = "y" * (255 - 32 - 4 - len(".provenance.json"))
    out = tmp_path / "out"
    assert main(["run", str(config(tmp_path, stem + ".toml")), "-o", str(out), "-q", "--jobs", "1"]) == 0
    assert sorted(p.name for p in out.iterdir()) == [f"{stem}.csv", f"{stem}.provenance.json"]
    cfg = config(tmp_path, stem + "z.toml")
    assert main(["run", str(cfg), "-o", str(out), "-q", "--jobs", "1"]) == 2
    assert "too long" in one_error_line(capsys)


def test_table_named_like_another_sets_provenance_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Config x.provenance.toml as JSON would be x.provenance.json: the provenance of config x's results."""
    out = tmp_path / "out"
    assert main(["run", str(config(tmp_path)), "-o", str(out), "-q", "--jobs", "1", "--format", "csv,json"]) == 0
    (tmp_path / "cfg.provenance.toml").write_text(GOOD)
    before = (out / "cfg.provenance.json").read_bytes()
    args = ["run", str(tmp_path / "cfg.provenance.toml"), "-o", str(out), "--format", "csv,json", "--overwrite"]
    assert main(args) == 2
    line = one_error_line(capsys)
    assert f"{out / 'cfg.provenance.json'}: this table would take the name of the provenance file" in line
    assert (out / "cfg.provenance.json").read_bytes() == before
    assert sorted(p.name for p in out.iterdir()) == ["cfg.csv", "cfg.json", "cfg.provenance.json"]


def test_two_outputs_to_one_file_are_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out"
    assert main(["run", str(config(tmp_path)), "-o", str(out), "--format", "csv,csv"]) == 2
    assert f"{out / 'cfg.csv'}: two outputs of the run would be written to this file" in one_error_line(capsys)
    assert not out.exists()


@pytest.mark.parametrize("overwrite", [False, True])
def test_folder_in_the_way_of_a_table_is_found_before_work(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], overwrite: bool
) -> None:
    out = tmp_path / "out"
    (out / "cfg.csv").mkdir(parents=True)
    (out / "cfg.csv" / "keep").write_text("mine")
    args = ["run", str(config(tmp_path)), "-o", str(out)] + ["--overwrite"] * overwrite
    assert main(args) == 2
    assert f"{out / 'cfg.csv'}: a folder is in the way of the output file" in one_error_line(capsys)
    assert sorted(p.name for p in out.iterdir()) == ["cfg.csv"]  # no checkpoint either
    assert (out / "cfg.csv" / "keep").read_text() == "mine"


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")
def test_fifo_in_the_way_of_the_provenance_is_found_before_work(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    out.mkdir()
    os.mkfifo(out / "cfg.provenance.json")
    assert main(["run", str(config(tmp_path)), "-o", str(out)]) == 2
    assert "cfg.provenance.json: a special file (FIFO, device or socket) is in the way" in one_error_line(capsys)


def test_check_name_counts_the_temporary_name(tmp_path: Path) -> None:
    """A name fits when it does with the 32 bytes of the temporary name added."""
    from mcverify.tables.atomic import check_name

    check_name(tmp_path / ("c" * 200))  # fits
    with pytest.raises(ValueError, match="too long"):
        check_name(tmp_path / ("c" * 224))


@pytest.mark.parametrize("command", ["calibrate", "converge"])
def test_study_table_in_the_way_is_found_before_work(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], command: str
) -> None:
    out = tmp_path / "out"
    extra = {"calibrate": "calibration-family", "converge": "convergence-rates"}[command]
    (out / f"cfg.{extra}.csv").mkdir(parents=True)
    assert main([command, str(config(tmp_path)), "-o", str(out)]) == 2
    assert f"cfg.{extra}.csv: a folder is in the way" in one_error_line(capsys)


@pytest.mark.parametrize(
    ("where", "args", "field"),
    [
        ("alpha = 0.8", [], "cfg.toml: run.alpha: must be below 0.8"),
        ("alpha = 0.95", [], "cfg.toml: run.alpha: must be below 0.8"),
        ("", ["--alpha", "0.85"], "<command line>: alpha: must be below 0.8"),
    ],
)
def test_alpha_at_or_above_the_power_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], where: str, args: list[str], field: str
) -> None:
    """With one case the per-case level is alpha: at alpha >= 0.8 no error is detected with power 0.8."""
    text = GOOD.replace("[run]", f"[run]\n{where}")
    out = tmp_path / "out"
    assert main(["run", str(config(tmp_path, text=text)), "-o", str(out), *args]) == 2
    assert field in one_error_line(capsys)
    assert not out.exists()


@pytest.mark.parametrize("key", ["alpha = 1e-300", "alpha = 0.7999", "confidence = 0.9999999999999999"])
def test_extreme_levels_inside_the_limits_run(tmp_path: Path, capsys: pytest.CaptureFixture[str], key: str) -> None:
    """Every level the loader accepts runs to a verdict, with no warning on the terminal."""
    out = tmp_path / "out"
    cfg = config(tmp_path, text=GOOD.replace("[run]", f"[run]\n{key}"))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a RuntimeWarning fails the test
        code = main(["run", str(cfg), "-o", str(out), "-q", "--jobs", "1"])
    assert code in (0, 1)
    assert capsys.readouterr().err == ""
    assert (out / "cfg.csv").exists()
