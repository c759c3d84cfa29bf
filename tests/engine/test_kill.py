"""Kill tests: interrupting `mcverify run` or `mcverify audit -o` never leaves a partial or corrupt file.

Two kinds:

* real ``python -m mcverify run`` and ``audit -o`` subprocesses sent SIGINT or SIGKILL at
  random (seeded) moments of their life, start-up and writing included;
* targeted kills at every step of the write phase (each fsync, link,
  rename and unlink of the output files, before and after the call): SIGKILL
  in a child process that really kills itself there, SIGINT in-process.

After every kill the output folder holds only complete tables (every row,
every column), provenance files whose listed tables exist with matching
SHA-256, and temporary ``.part`` files of SIGKILLed processes only, which
the next run removes (a run interrupted while starting up may not have
got that far).
"""

from __future__ import annotations

import hashlib
import json
import multiprocessing
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Collection
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

import mcverify.config.loader
import mcverify.tables.result_files
from mcverify.cli.main import main
from mcverify.tables.atomic import clean_stale, is_temporary

ROOT = Path(__file__).resolve().parents[2]

# 40 univariate cases: about half a second of work after a second of start-up, four formats
SLOW_CONFIG = """
[run]
samples = 20_000
seed = 1
[[sweep]]
name = "grid"
p = { mean = { linspace = [-1.0, 1.0, 5] }, std = { logspace = [-0.5, 0.5, 4] } }
q = { mean = 0.0, std = 1.0 }
direction = "both"
"""
SLOW_ROWS = 40
QUICK_CONFIG = SLOW_CONFIG.replace("samples = 20_000", "samples = 1000").replace(
    "std = { logspace = [-0.5, 0.5, 4] }", "std = { values = [0.5, 2.0] }"
)
QUICK_ROWS = 20
TINY_CONFIG = """
[[pair]]
name = "a"
p = { mean = 0.0, std = 2.0 }
q = { mean = 0.0, std = 1.0 }
direction = "both"
[run]
samples = 100
"""
TINY_ROWS = 2
try:
    import pyarrow  # noqa: F401

    FORMATS = "csv,json,html,parquet"
except ImportError:  # pragma: no cover
    FORMATS = "csv,json,html"


def temporary_allowed(path: Path, temporaries: bool | Collection[int]) -> bool:
    """Whether a temporary file may be there: any (True), none (False), or only those of these process ids."""
    if isinstance(temporaries, bool):
        return temporaries
    return int(path.name.rsplit(".", 3)[-3].rsplit("-", 1)[1]) in temporaries  # .<name>.<host>-<pid>.<token>.part


def check_folder(out: Path, rows: dict[str, int], *, temporaries: bool | Collection[int]) -> tuple[int, int]:
    """Assert every file in ``out`` is complete; return (complete sets, temporary files).

    ``rows`` maps a config stem to its number of cases; ``temporaries`` says
    which temporary files may be left (see :func:`temporary_allowed`).
    """
    sets = temps = 0
    for path in sorted(out.iterdir()):
        if is_temporary(path):
            assert temporary_allowed(path, temporaries), f"temporary file left behind: {path.name}"
            temps += 1
            continue
        if path.is_dir() and path.name.endswith(".checkpoint"):
            continue  # completed cases kept for --resume (tests/engine/test_checkpoint.py checks its contents)
        assert not path.name.startswith("."), f"unexpected hidden file {path.name}"
        stem = path.name.split(".", 1)[0]
        n = rows[stem.rsplit("-", 1)[0] if stem.rsplit("-", 1)[-1].isdigit() else stem]
        if path.name.endswith(".provenance.json"):
            record = json.loads(path.read_text())
            assert record["cases"] == n
            for name, digest in record["outputs"].items():
                assert hashlib.sha256((out / name).read_bytes()).hexdigest() == digest, f"{name} != provenance"
            sets += 1
        elif path.suffix == ".csv":
            table = pd.read_csv(path)
            assert len(table) == n and table["verdict"].notna().all() and table.columns[-1] == "reason"
        elif path.suffix == ".json":
            records = json.loads(path.read_text())
            assert len(records) == n and all("verdict" in r for r in records)
        elif path.suffix == ".html":
            text = path.read_text()
            assert text.rstrip().endswith("</table>") and text.count("<tr") == n + 1
        elif path.suffix == ".parquet":
            assert len(pd.read_parquet(path)) == n
        else:  # pragma: no cover
            raise AssertionError(f"unexpected file {path.name}")
    return sets, temps


def mcverify(*args: str) -> subprocess.Popen[str]:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.Popen(
        [sys.executable, "-m", "mcverify", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
    )


@pytest.mark.slow
def test_sigint_and_sigkill_at_random_moments(tmp_path: Path) -> None:
    slow = tmp_path / "slow.toml"
    slow.write_text(SLOW_CONFIG)
    quick = tmp_path / "quick.toml"
    quick.write_text(QUICK_CONFIG)
    out = tmp_path / "out"
    rows = {"slow": SLOW_ROWS, "quick": QUICK_ROWS}
    args = ["run", str(slow), "-o", str(out), "--format", FORMATS, "-q"]

    t0 = time.monotonic()
    proc = mcverify(*args)
    assert proc.wait(timeout=300) == 0, proc.stderr.read() if proc.stderr else ""
    lifetime = time.monotonic() - t0  # start-up, work and writing, measured under the current load
    assert check_folder(out, rows, temporaries=False) == (1, 0)

    rng = np.random.default_rng(20261125)
    outcomes: dict[str, list[int]] = {"SIGINT": [], "SIGKILL": []}
    killed: set[int] = set()  # their temporaries stay until a run gets past start-up
    for trial in range(8):
        sig = (signal.SIGINT, signal.SIGKILL)[trial % 2]
        # an interrupted run keeps its checkpoint, which the next run must be told to use
        extra = ["--resume", *(["--overwrite"] if trial % 3 == 2 else [])]
        proc = mcverify(*args, *extra)
        time.sleep(rng.uniform(0.0, 1.1 * lifetime))
        proc.send_signal(sig)
        _, err = proc.communicate(timeout=300)
        outcomes[sig.name].append(proc.returncode)
        if sig == signal.SIGINT:
            # finished first (0), interrupted in main (130: one line) or during start-up (killed by SIGINT)
            assert proc.returncode in (0, 130, -signal.SIGINT), err
            if proc.returncode == 130:
                assert err.endswith("mcverify: interrupted\n")  # after the --resume hint
        else:
            assert proc.returncode in (0, -signal.SIGKILL), err
            killed.add(proc.pid)
        check_folder(out, rows, temporaries=killed)
    # the next run removes what SIGKILL left, whatever its config
    assert main(["run", str(quick), "-o", str(out), "-q"]) == 0
    check_folder(out, rows, temporaries=False)
    assert any(code != 0 for codes in outcomes.values() for code in codes), outcomes


# ------------------------------------------------------ targeted kills while writing
class Steps:
    """Wraps the os calls that write files, counting steps before and after each call."""

    CALLS = ("fsync", "link", "replace", "unlink")

    def __init__(self, at: int, action: Callable[[], None]) -> None:
        self.at, self.action, self.count = at, action, 0

    def tick(self) -> None:
        self.count += 1
        if self.count == self.at:
            self.action()

    def install(self, monkeypatch: pytest.MonkeyPatch | None) -> None:
        for name in self.CALLS:
            real = getattr(os, name)

            def wrapped(*a: object, _real: Callable[..., object] = real, **kw: object) -> object:
                self.tick()
                result = _real(*a, **kw)
                self.tick()
                return result

            if monkeypatch is None:
                setattr(os, name, wrapped)
            else:
                monkeypatch.setattr(os, name, wrapped)


def _kill_at(at: int, args: list[str], conn: Any) -> None:  # pragma: no cover - runs in the child
    steps = Steps(at, lambda: os.kill(os.getpid(), signal.SIGKILL))
    steps.install(None)
    code = main(args)
    conn.send(steps.count)
    sys.exit(code)


# Children come from a fork server: a fresh interpreter started once, with
# mcverify imported, that forks one child per call.  Not os.fork() of this
# process: forking a process that runs threads (JAX and PyTorch start pools
# when other tests import them) can deadlock the child.  The server imports
# what each child would import again: pytest's __main__ (multiprocessing
# prepares a child as the main module's twin) and this module, with pandas,
# for the child's target (0.7 -> 0.4 s a child).
_SERVER = multiprocessing.get_context("forkserver")
_SERVER.set_forkserver_preload(
    ["pytest.__main__", __name__, "mcverify.cli.main", "mcverify.engine.pipeline", "mcverify.auditing.auditor"]
)


def killed_child(at: int, args: list[str]) -> tuple[int, int]:
    """Run ``mcverify args`` in a child process that SIGKILLs itself at write step ``at``.

    Returns (exit status as subprocess reports it, steps counted when it
    finished without reaching ``at``).
    """
    receive, send = _SERVER.Pipe(duplex=False)
    child = _SERVER.Process(target=_kill_at, args=(at, args, send))
    child.start()
    send.close()
    child.join(timeout=300)
    assert child.exitcode is not None, f"the child killed at step {at} hung"
    try:
        counted = receive.recv()
    except EOFError:  # killed before it could say
        counted = 0
    return child.exitcode, counted


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs SIGKILL")
def test_sigkill_at_every_write_step(tmp_path: Path) -> None:
    cfg = tmp_path / "tiny.toml"
    cfg.write_text(TINY_CONFIG)
    rows = {"tiny": TINY_ROWS}
    at, steps, kills = 1, None, 0
    while steps is None or at <= steps:
        out = tmp_path / f"out-{at}"
        # one process: the steps counted are this process's writes
        code, counted = killed_child(at, ["run", str(cfg), "-o", str(out), "--format", "csv,json", "-q", "--jobs", "1"])
        if code == 0:  # finished before step `at`: all steps are known now
            assert counted < at
            steps = counted
            check_folder(out, rows, temporaries=False)
            break
        assert code == -signal.SIGKILL
        kills += 1
        sets, _ = check_folder(out, rows, temporaries=True)
        assert sets <= 1
        clean_stale(out)  # what the next run does first
        check_folder(out, rows, temporaries=False)
        at += 1
    assert steps is not None and kills == steps >= 12  # 3 files: write, sync, link, unlink, folder sync...


def test_sigint_at_every_write_step_leaves_all_or_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg = tmp_path / "tiny.toml"
    cfg.write_text(TINY_CONFIG)
    rows = {"tiny": TINY_ROWS}
    at = 1
    while True:
        out = tmp_path / f"out-{at}"
        with monkeypatch.context() as m:
            steps = Steps(at, lambda: signal.raise_signal(signal.SIGINT))
            steps.install(m)
            code = main(["run", str(cfg), "-o", str(out), "--format", "csv,json", "-q", "--jobs", "1"])
        _sets, _ = check_folder(out, rows, temporaries=False)
        # The checkpoint (completed cases, for --resume) is not a table.
        files = sorted(p.name for p in out.iterdir() if p.name != ".tiny.checkpoint")
        assert files in ([], ["tiny.csv", "tiny.json", "tiny.provenance.json"]), (at, files)
        if code == 0:
            assert steps.count < at
            break
        assert code == 130 and capsys.readouterr().err.endswith("mcverify: interrupted\n")  # after the --resume hint
        at += 1
    assert at > 12


# ------------------------------------------------------------------------ audit -o
WRONG_FORMULA = "0.5*(std**2 + mean**2 - 1 - log10(std**2))"  # a classic mistake: the audit fails (exit 1)


def check_reports(out: Path, *, temporaries: bool | Collection[int]) -> tuple[int, int]:
    """Every report in ``out`` is complete JSON; return (reports, temporary files)."""
    reports = temps = 0
    for path in out.iterdir():
        if is_temporary(path):
            assert temporary_allowed(path, temporaries), f"temporary file left behind: {path.name}"
            temps += 1
            continue
        assert path.suffix == ".json" and path.stem.split("-")[0] == "report", path.name
        record = json.loads(path.read_text())
        assert record["verdict"] == "fail" and len(record["table"]) == record["probes"] > 50
        reports += 1
    return reports, temps


@pytest.mark.slow
def test_audit_sigint_and_sigkill_at_random_moments(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    args = ["audit", "--expr", WRONG_FORMULA, "-c", "prior-std", "--samples", "200000", "-o", str(out / "report.json")]
    t0 = time.monotonic()
    proc = mcverify(*args)
    proc.communicate(timeout=300)
    assert proc.returncode == 1
    lifetime = time.monotonic() - t0
    assert check_reports(out, temporaries=False) == (1, 0)
    rng = np.random.default_rng(20261126)
    killed: set[int] = set()
    for trial in range(6):
        sig = (signal.SIGINT, signal.SIGKILL)[trial % 2]
        proc = mcverify(*args, *(["--overwrite"] if trial % 3 == 2 else []))
        time.sleep(rng.uniform(0.0, 1.1 * lifetime))
        proc.send_signal(sig)
        _, err = proc.communicate(timeout=300)
        if sig == signal.SIGINT:
            assert proc.returncode in (1, 130, -signal.SIGINT), err
        else:
            assert proc.returncode in (1, -signal.SIGKILL), err
            killed.add(proc.pid)
        check_reports(out, temporaries=killed)
    # the next audit writing there removes what SIGKILL left
    assert (
        main(
            [
                "audit",
                "--expr",
                WRONG_FORMULA,
                "-c",
                "prior-std",
                "--samples",
                "0",
                "-o",
                str(out / "report.json"),
                "--json",
            ]
        )
        == 1
    )
    check_reports(out, temporaries=False)


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs SIGKILL")
def test_audit_sigkill_at_every_write_step(tmp_path: Path) -> None:
    at, steps = 1, None
    while steps is None:
        out = tmp_path / f"out-{at}"
        out.mkdir()
        args = [
            "audit",
            "--expr",
            WRONG_FORMULA,
            "-c",
            "prior-std",
            "--samples",
            "0",
            "--timeout",
            "0",
            "-o",
            str(out / "report.json"),
        ]
        code, counted = killed_child(at, args)
        if code == 1:  # the audit's verdict: finished before step `at`
            steps = counted
            assert check_reports(out, temporaries=False) == (1, 0)
            break
        assert code == -signal.SIGKILL
        reports, _ = check_reports(out, temporaries=True)
        assert reports <= 1
        clean_stale(out)
        check_reports(out, temporaries=False)
        at += 1
    assert steps is not None and steps >= 4  # write, sync, link, unlink, folder sync


def test_audit_sigint_at_every_write_step_leaves_the_report_or_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    at = 1
    while True:
        out = tmp_path / f"out-{at}"
        out.mkdir()
        with monkeypatch.context() as m:
            steps = Steps(at, lambda: signal.raise_signal(signal.SIGINT))
            steps.install(m)
            code = main(
                ["audit", "--expr", WRONG_FORMULA, "-c", "prior-std", "--samples", "0", "-o", str(out / "report.json")]
            )
        reports, _ = check_reports(out, temporaries=False)
        if code == 1:
            assert steps.count < at and reports == 1
            break
        # interrupted before the report was in place (none) or after (complete)
        assert code == 130 and reports in (0, 1) and capsys.readouterr().err.endswith("mcverify: interrupted\n")
        at += 1
    assert at > 4
