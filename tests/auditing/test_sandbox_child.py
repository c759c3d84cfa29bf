"""The candidate's child process (mcverify.auditing.sandbox.in_child): what it cannot do to the audit.

Code that holds the interpreter past the per-call timeout is killed from the
parent; processes the candidate forks die with the child; bytes written to
file descriptor 1 (from any thread, at import too) never reach stdout; the
address space is limited, so a memory blow-up is a MemoryError of the candidate.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from mcverify.auditing.sandbox import KILL_GRACE, CandidateEnded, fork_is_safe, guarded_call, in_child, session


def test_this_module_runs_in_a_fresh_interpreter_where_this_one_cannot_fork() -> None:
    """The tests below skip in a process where forking is unsafe (a test before them imported JAX):
    then they run here, in a fresh interpreter, so that they are never silently left out."""
    if fork_is_safe() or os.environ.get("MCVERIFY_SANDBOX_CHILD_RUN") == "1":
        pytest.skip("this process can fork: the tests below run in it")
    root = Path(__file__).resolve().parents[2]
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", __file__, "-q", "-n", "0", "-p", "no:cacheprovider", "-rs"],
        cwd=root,
        capture_output=True,
        text=True,
        env=dict(os.environ, MCVERIFY_SANDBOX_CHILD_RUN="1", PYTHONPATH=str(root)),
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "5 passed" in proc.stdout, proc.stdout[-3000:]


@pytest.fixture
def _forkable() -> None:
    """in_child runs the job in this process when forking is not safe: then these tests would not test it.

    Threads abandoned by earlier tests (timed-out calls) may still run: wait a little for them.
    """
    deadline = time.monotonic() + 3.0
    while not fork_is_safe() and time.monotonic() < deadline:
        time.sleep(0.05)
    if not fork_is_safe():
        pytest.skip("another thread runs (or JAX is imported): in_child would run the job in this process")


def gone(pid: int) -> bool:
    """Whether ``pid`` no longer runs (absent, or a zombie waiting for its reaper)."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] in ("Z", "X")
    except FileNotFoundError:
        return True


@pytest.mark.usefixtures("_forkable")
def test_call_holding_the_interpreter_past_the_timeout_is_killed() -> None:
    """sum(range(10**10)) never lets the child's own timeout fire (one C loop holds the GIL for minutes)."""

    def job(mark):  # type: ignore[no-untyped-def]
        mark("audit")
        with session(timeout=0.3):
            return guarded_call(lambda: sum(range(10**10)))

    t0 = time.monotonic()
    with pytest.raises(CandidateEnded) as info:
        in_child(job)
    elapsed = time.monotonic() - t0
    assert info.value.phase == "audit"
    assert info.value.how == f"killed: a call ran {KILL_GRACE:g} s past the per-call timeout without letting go"
    assert 0.3 + KILL_GRACE <= elapsed < 0.3 + KILL_GRACE + 5.0


@pytest.mark.usefixtures("_forkable")
def test_calls_within_the_timeout_are_not_killed() -> None:
    def job(mark):  # type: ignore[no-untyped-def]
        with session(timeout=10.0):  # generous: a loaded machine must not time the calls out
            return [guarded_call(lambda k=k: time.sleep(0.05) or k) for k in range(5)]

    assert in_child(job) == [0, 1, 2, 3, 4]


@pytest.mark.skipif(not os.path.isdir("/proc/self"), reason="reads /proc")
@pytest.mark.usefixtures("_forkable")
def test_processes_the_candidate_forks_die_with_the_child() -> None:
    """A forked grandchild keeping the output pipes open would hang a CI that reads them to the end."""

    def job(mark):  # type: ignore[no-untyped-def]
        pid = os.fork()
        if pid == 0:
            time.sleep(60)
            os._exit(0)
        return pid

    grandchild = in_child(job)
    deadline = time.monotonic() + 5.0
    while not gone(grandchild) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert gone(grandchild)


@pytest.mark.usefixtures("_forkable")
def test_writes_to_descriptor_1_from_any_thread_go_to_stderr(capfd: pytest.CaptureFixture[str]) -> None:
    def job(mark):  # type: ignore[no-untyped-def]
        os.write(1, b"import-time noise\n")
        t = threading.Thread(target=lambda: os.write(1, b"thread noise\n"))
        t.start()
        t.join()
        print("print noise")
        return "result"

    assert in_child(job) == "result"
    captured = capfd.readouterr()
    assert captured.out == ""
    assert "import-time noise" in captured.err and "thread noise" in captured.err and "print noise" in captured.err


@pytest.mark.usefixtures("_forkable")
def test_memory_blow_up_is_a_memory_error_of_the_candidate() -> None:
    def job(mark):  # type: ignore[no-untyped-def]
        return np.ones(64 << 20).sum()  # 512 MiB

    with pytest.raises(MemoryError):
        in_child(job, memory=256 << 20)
    assert in_child(lambda mark: np.ones(1 << 20).sum(), memory=256 << 20) == float(1 << 20)
