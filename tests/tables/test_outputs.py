"""Tests of mcverify.tables.result_files and `mcverify run`'s files: sets, provenance hashes, no silent overwrite."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pandas as pd
import pytest

from mcverify.cli.main import main
from mcverify.tables.atomic import stage
from mcverify.tables.result_files import write_results

CONFIG = """
[run]
samples = 2000
seed = 3
[[pair]]
name = "a"
p = { mean = 0.0, std = 2.0 }
q = { mean = 0.0, std = 1.0 }
[[sweep]]
name = "s"
p = { mean = 0.0, std = { values = [0.5, 1.5] } }
q = { mean = 0.0, std = 1.0 }
"""


def names(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def provenance_matches(folder: Path, stem: str) -> dict:
    record = json.loads((folder / f"{stem}.provenance.json").read_text())
    for name, digest in record["outputs"].items():
        assert hashlib.sha256((folder / name).read_bytes()).hexdigest() == digest, name
    return record


def test_write_results_set_and_numbering(tmp_path: Path) -> None:
    frame = pd.DataFrame({"x": [1.0, 2.0], "name": ["a", "b"]})
    first = write_results(frame, tmp_path, "t", ["csv", "json"], {"seed": 1})
    assert [p.name for p in first] == ["t.csv", "t.json", "t.provenance.json"]
    record = provenance_matches(tmp_path, "t")
    assert record["seed"] == 1 and list(record["outputs"]) == ["t.csv", "t.json"]
    second = write_results(frame.assign(x=[3.0, 4.0]), tmp_path, "t", ["csv"], {"seed": 2})
    assert [p.name for p in second] == ["t-2.csv", "t-2.provenance.json"]
    assert pd.read_csv(tmp_path / "t.csv")["x"].tolist() == [1.0, 2.0]  # untouched
    # any file of the set taken is enough to move on: here only the provenance
    (tmp_path / "t-3.provenance.json").write_text("{}")
    third = write_results(frame, tmp_path, "t", ["csv"], {})
    assert third[0].name == "t-4.csv"
    replaced = write_results(frame.assign(x=[5.0, 6.0]), tmp_path, "t", ["csv"], {"seed": 5}, overwrite=True)
    assert [p.name for p in replaced] == ["t.csv", "t.provenance.json"]
    assert pd.read_csv(tmp_path / "t.csv")["x"].tolist() == [5.0, 6.0]
    assert provenance_matches(tmp_path, "t")["seed"] == 5
    assert (tmp_path / "t.json").exists()  # a format not written this time is left alone (not listed)
    assert not any(n.endswith(".part") for n in names(tmp_path))


def test_write_results_several_tables_one_set(tmp_path: Path) -> None:
    main, rates = pd.DataFrame({"x": [1.0]}), pd.DataFrame({"rate": [-0.5]})
    (tmp_path / "t-rates.csv").write_text("taken\n")  # one table of the set taken: the whole set moves on
    written = write_results({"": main, "-rates": rates}, tmp_path, "t", ["csv", "json"], {"seed": 3})
    assert [p.name for p in written] == [
        "t-2.csv",
        "t-2.json",
        "t-2-rates.csv",
        "t-2-rates.json",
        "t-2.provenance.json",
    ]
    assert pd.read_csv(tmp_path / "t-2-rates.csv")["rate"].tolist() == [-0.5]
    assert list(provenance_matches(tmp_path, "t-2")["outputs"]) == [p.name for p in written[:-1]]


def test_write_results_race_for_a_name(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # another process creates t.csv between the check and the commit: the set moves on to t-2
    import mcverify.tables.result_files as outputs

    def racing_stage(path: Path, data: bytes):  # type: ignore[no-untyped-def]
        if path.name == "t.provenance.json" and not (tmp_path / "t.csv").exists():
            (tmp_path / "t.csv").write_text("theirs\n")
        return stage(path, data)

    monkeypatch.setattr(outputs, "stage", racing_stage)
    written = write_results(pd.DataFrame({"x": [1]}), tmp_path, "t", ["csv"], {})
    assert [p.name for p in written] == ["t-2.csv", "t-2.provenance.json"]
    assert (tmp_path / "t.csv").read_text() == "theirs\n"
    assert names(tmp_path) == ["t-2.csv", "t-2.provenance.json", "t.csv"]


def test_run_twice_keeps_both_and_overwrite_replaces(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cfg = tmp_path / "cfg.toml"
    cfg.write_text(CONFIG)
    out = tmp_path / "out"
    assert main(["run", str(cfg), "-o", str(out), "--format", "csv,json"]) == 0
    first = capsys.readouterr().out
    assert f"wrote {out / 'cfg.csv'}, {out / 'cfg.json'}, {out / 'cfg.provenance.json'}" in first
    before = (out / "cfg.csv").read_bytes()
    assert main(["run", str(cfg), "-o", str(out), "--seed", "4"]) == 0
    second = capsys.readouterr().out
    assert f"wrote {out / 'cfg-2.csv'}, {out / 'cfg-2.provenance.json'}" in second
    assert f"(kept the existing {out / 'cfg'}.* files; --overwrite replaces them)" in second
    assert (out / "cfg.csv").read_bytes() == before
    assert provenance_matches(out, "cfg-2")["seed"] == 4
    assert main(["run", str(cfg), "-o", str(out), "--seed", "5", "--overwrite", "-q"]) == 0
    assert capsys.readouterr().out == ""
    assert provenance_matches(out, "cfg")["seed"] == 5
    assert (out / "cfg.csv").read_bytes() != before
    assert names(out) == ["cfg-2.csv", "cfg-2.provenance.json", "cfg.csv", "cfg.json", "cfg.provenance.json"]
    table = pd.read_csv(out / "cfg.csv")
    assert len(table) == 3 and (table["seed"] > 0).all()


def test_run_cleans_temporary_files_of_killed_runs(tmp_path: Path) -> None:
    import subprocess
    import sys

    cfg = tmp_path / "cfg.toml"
    cfg.write_text(CONFIG)
    out = tmp_path / "out"
    out.mkdir()
    dead = int(
        subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True).stdout
    )
    host = stage(out / "probe", b"").temp.name.split(".")[-3].split("-")[0]
    for f in out.iterdir():
        f.unlink()
    orphan = out / f".cfg.csv.{host}-{dead}.deadbeef.part"
    orphan.write_text("name,kl\nhalf")
    assert main(["run", str(cfg), "-o", str(out), "-q"]) == 0
    assert names(out) == ["cfg.csv", "cfg.provenance.json"]


def test_report_file_is_never_overwritten_unless_asked(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cfg = tmp_path / "cfg.toml"
    cfg.write_text(CONFIG)
    assert main(["run", str(cfg), "-o", str(tmp_path), "-q"]) == 0
    out = tmp_path / "r.md"
    out.write_text("keep me\n")
    assert main(["report", str(tmp_path / "cfg.csv"), "-o", str(out), "-q"]) == 0
    assert f"{out} exists: wrote {tmp_path / 'r-2.md'} (--overwrite replaces it)" in capsys.readouterr().err
    assert out.read_text() == "keep me\n" and "cfg" in (tmp_path / "r-2.md").read_text()
    assert main(["report", str(tmp_path / "cfg.csv"), "-o", str(out), "-q", "--overwrite"]) == 0
    assert out.read_text() != "keep me\n" and not (tmp_path / "r-3.md").exists()


def test_validate_refuses_to_replace_an_earlier_validation(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("tabulate")
    cfg = tmp_path / "cfg.toml"
    cfg.write_text(CONFIG)
    out = tmp_path / "val"
    args = ["validate", str(cfg), "-o", str(out), "--no-plots", "--convergence", "0", "-q"]
    assert main(args) == 0
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    assert main(args) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"{out}: cfg.csv exists (and " in err and "--overwrite" in err
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    assert main([*args, "--overwrite"]) == 0
    assert sorted(p.name for p in out.iterdir()) == sorted(before)
