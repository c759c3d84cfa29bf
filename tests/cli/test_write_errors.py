"""Disk full and other write errors through the command line: exit 2, one line naming the file, nothing lost.

The kernel's errors are injected at ``os.fsync`` (what a full disk fails
first on most file systems), in process; /sys, where even root may not create
files, gives a real EACCES to the commands run as subprocesses.
"""

from __future__ import annotations

import errno
import os
import subprocess
import sys
from pathlib import Path

import commands
import pandas as pd
import pytest

import mcverify.tables.atomic as atomic
from mcverify.cli.main import main

ROOT = Path(__file__).resolve().parents[2]

GOOD = """
[run]
samples = 1000
[[pair]]
name = "a"
p = { mean = 0.0, std = 2.0 }
q = { mean = 0.0, std = 1.0 }
direction = "both"
"""


def one_error_line(capsys: pytest.CaptureFixture[str]) -> str:
    captured = capsys.readouterr()
    assert captured.err.count("\n") == 1 and "Traceback" not in captured.err, captured.err
    assert captured.err.startswith("mcverify: error: ")
    return captured.err.rstrip("\n")


def disk_full(monkeypatch: pytest.MonkeyPatch, code: int = errno.ENOSPC, spare: str | None = None) -> None:
    """Every fsync fails with ``code``, but those of files whose path holds ``spare``."""
    real = os.fsync

    def fsync(fd: int) -> None:
        if spare is not None and spare in os.readlink(f"/proc/self/fd/{fd}"):
            return real(fd)
        raise OSError(code, os.strerror(code))

    monkeypatch.setattr(atomic.os, "fsync", fsync)


linux_only = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/self/fd")


@pytest.mark.parametrize("code", [errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES])
def test_run_that_cannot_start_its_checkpoint_leaves_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, code: int
) -> None:
    cfg = tmp_path / "cfg.toml"
    cfg.write_text(GOOD)
    out = tmp_path / "out"
    disk_full(monkeypatch, code)
    assert main(["run", str(cfg), "-o", str(out), "--jobs", "1"]) == 2
    line = one_error_line(capsys)
    assert (
        line
        == f"mcverify: error: {out / '.cfg.checkpoint' / 'manifest.json'}: cannot write the file: {os.strerror(code)}"
    )
    assert list(out.iterdir()) == []  # no checkpoint to block the next run
    monkeypatch.undo()
    assert main(["run", str(cfg), "-o", str(out), "--jobs", "1", "-q"]) == 0  # no --resume or --restart needed


@linux_only
def test_run_whose_tables_cannot_be_written_keeps_its_work_and_says_so(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    cfg = tmp_path / "cfg.toml"
    cfg.write_text(GOOD)
    out, clean = tmp_path / "out", tmp_path / "clean"
    assert main(["run", str(cfg), "-o", str(clean), "--jobs", "1", "-q", "--format", "csv,json"]) == 0
    (out).mkdir()
    (out / "cfg.csv").write_text("an older table\n")
    disk_full(monkeypatch, spare=".checkpoint")
    assert main(["run", str(cfg), "-o", str(out), "--jobs", "1", "--overwrite", "--format", "csv,json"]) == 2
    line = one_error_line(capsys)
    assert line.startswith(f"mcverify: error: {out / 'cfg.csv'}: cannot write the file: No space left on device; ")
    assert line.endswith(
        f"2 of 2 cases are saved in {out / '.cfg.checkpoint'}; run the same command with --resume to continue "
        "once it can be written"
    )
    assert (out / "cfg.csv").read_text() == "an older table\n"  # never touched
    assert sorted(p.name for p in out.iterdir()) == [".cfg.checkpoint", "cfg.csv"]
    monkeypatch.undo()
    args = ["run", str(cfg), "-o", str(out), "--jobs", "1", "--overwrite", "--format", "csv,json", "--resume"]
    assert main(args) == 0
    got, want = pd.read_csv(out / "cfg.csv"), pd.read_csv(clean / "cfg.csv")
    timings = [c for c in want.columns if c.startswith("seconds")]  # all else is bit-identical
    pd.testing.assert_frame_equal(got.drop(columns=timings), want.drop(columns=timings))


def test_calibrate_disk_full_names_the_table(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    cfg = tmp_path / "cfg.toml"
    cfg.write_text(GOOD.replace("samples = 1000", "samples = 200"))
    out = tmp_path / "out"
    disk_full(monkeypatch, errno.EDQUOT)
    assert main(["calibrate", str(cfg), "-o", str(out), "--replicates", "20", "--jobs", "1", "-q"]) == 2
    assert one_error_line(capsys) == (
        f"mcverify: error: {out / 'cfg.calibration.csv'}: cannot write the file: {os.strerror(errno.EDQUOT)}"
    )
    assert list(out.iterdir()) == []


def _sys_refuses_files() -> bool:
    try:
        fd = os.open("/sys/mcverify-probe", os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except OSError:
        return True
    os.close(fd)  # pragma: no cover - a /sys that takes files: remove it, skip the tests
    os.unlink("/sys/mcverify-probe")
    return False


needs_sys = pytest.mark.skipif(
    not (Path("/sys").is_dir() and _sys_refuses_files()), reason="needs a /sys that refuses files"
)


def mcverify(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return commands.mcverify(*args, cwd=cwd, timeout=120)


@needs_sys
@pytest.mark.parametrize("command", ["run", "audit", "report"])
def test_folder_that_refuses_files_is_found_before_work(tmp_path: Path, command: str) -> None:
    """/sys refuses new files even to root (EACCES): each command says so first, in one line."""
    (tmp_path / "cfg.toml").write_text(GOOD)
    (tmp_path / "cand.py").write_text("def kl(m1, s1, m2, s2):\n    return 0.0\n")
    (tmp_path / "t.csv").write_text("config,name\n")
    args = {
        "run": ["run", "cfg.toml", "-o", "/sys"],
        "audit": ["audit", "cand.py:kl", "-c", "pair-std", "-o", "/sys/audit.json"],
        "report": ["report", "t.csv", "-o", "/sys/report.md"],
    }[command]
    done = mcverify(*args, cwd=tmp_path)
    assert done.returncode == 2, done.stderr
    assert done.stdout == ""
    assert done.stderr == "mcverify: error: /sys: cannot write in the folder: Permission denied\n"
