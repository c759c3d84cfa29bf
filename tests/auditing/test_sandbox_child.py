"""The candidate's child process (mcverify.auditing.sandbox.in_child): what it cannot do to the audit.

Code that holds the interpreter past the per-call timeout is killed from the
parent; processes the candidate forks die with the child; bytes written to
file descriptors 1 and 2 (from any thread, at import too) are captured and
summarised, and reach neither stdout nor stderr; the address space is limited, so a memory blow-up is a MemoryError of the candidate.
"""

from __future__ import annotations

import ctypes
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from mcverify.auditing.sandbox import (
    KILL_GRACE,
    OUTPUT_KEPT,
    CandidateEnded,
    CandidateOutput,
    fork_is_safe,
    guarded_call,
    in_child,
    session,
)

#: Whether this module's tests already ran in a fresh interpreter (then the others skip at once).
_RAN_ELSEWHERE: list[bool] = []


def _fork_safe_soon() -> bool:
    """Whether this process may fork, after waiting up to 3 s for threads that earlier tests
    abandoned (timed-out calls) to end; at once when JAX is imported, which stays."""
    wait = 0.0 if "jax" in sys.modules or _RAN_ELSEWHERE else 3.0
    deadline = time.monotonic() + wait
    while not fork_is_safe() and time.monotonic() < deadline:
        time.sleep(0.05)
    return fork_is_safe()


def test_this_module_runs_in_a_fresh_interpreter_where_this_one_cannot_fork() -> None:
    """The tests below skip in a process where forking is unsafe (a test before them imported JAX,
    or left a thread): then they run here, in a fresh interpreter, so that they are never silently
    left out."""
    if os.environ.get("MCVERIFY_SANDBOX_CHILD_RUN") == "1" or _fork_safe_soon():
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
    assert "6 passed" in proc.stdout, proc.stdout[-3000:]
    _RAN_ELSEWHERE.append(True)


@pytest.fixture
def _forkable() -> None:
    """in_child runs the job in this process when forking is not safe: then these tests would not test it."""
    if not _fork_safe_soon():
        others = [t.name for t in threading.enumerate() if t is not threading.main_thread()]
        why = "JAX is imported" if "jax" in sys.modules else f"other threads run: {', '.join(others)}"
        pytest.skip(f"{why}: in_child would run the job in this process")


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
def test_writes_to_descriptors_1_and_2_from_any_thread_are_captured(capfd: pytest.CaptureFixture[str]) -> None:
    """Every way of writing reaches the capture, in order, and none the terminal; mcverify's own text does."""
    outputs: list[CandidateOutput] = []

    def job(mark):  # type: ignore[no-untyped-def]
        print("before the import: mcverify's own")  # the main thread outside the import phase
        mark("import")
        os.write(1, b"import-time fd 1\n")
        os.write(2, b"import-time fd 2\n")
        print("import-time print")
        print("import-time print to stderr", file=sys.stderr)
        libc = ctypes.CDLL(None)
        libc.printf(b"C printf, flushed\n")
        libc.fflush(None)
        t = threading.Thread(target=lambda: os.write(1, b"thread fd 1\n") and print("thread print"))
        t.start()
        t.join()
        mark("audit")
        with session(timeout=5.0):
            guarded_call(lambda: print("call print") or os.write(2, b"call fd 2\n"))
        libc.printf(b"C printf, not flushed\n")  # flushed by the child before it ends
        return "result"

    assert in_child(job, on_output=outputs.append) == "result"
    captured = capfd.readouterr()
    assert captured.out == "" and captured.err == "before the import: mcverify's own\n"
    expected = (
        "import-time fd 1\nimport-time fd 2\nimport-time print\nimport-time print to stderr\n"
        "C printf, flushed\nthread fd 1\nthread print\ncall print\ncall fd 2\nC printf, not flushed\n"
    )
    (output,) = outputs
    assert output == CandidateOutput(len(expected), expected.count("\n"), expected)


@pytest.mark.usefixtures("_forkable")
def test_output_of_a_child_that_dies_is_kept_and_summarised() -> None:
    """An end after much output: the counts are exact, the first and last OUTPUT_KEPT bytes are kept."""
    outputs: list[CandidateOutput] = []
    line = b"x" * 99 + b"\n"

    def job(mark):  # type: ignore[no-untyped-def]
        mark("import")
        for _ in range(1000):
            os.write(1, line)
        os.write(2, b"last words")
        os.kill(os.getpid(), signal.SIGKILL)  # no dump of a crash handler in the way

    with pytest.raises(CandidateEnded) as info:
        in_child(job, on_output=outputs.append)
    assert info.value.how == "signal SIGKILL" and info.value.phase == "import"
    (output,) = outputs
    assert (output.size, output.lines) == (100_000 + 10, 1001)
    assert output.omitted == output.size - 2 * OUTPUT_KEPT and len(output.head) == len(output.tail) == OUTPUT_KEPT
    assert output.tail.endswith("x\nlast words") and output.last_lines(1) == ["last words"]


@pytest.mark.usefixtures("_forkable")
def test_memory_blow_up_is_a_memory_error_of_the_candidate() -> None:
    def job(mark):  # type: ignore[no-untyped-def]
        return np.ones(64 << 20).sum()  # 512 MiB

    with pytest.raises(MemoryError):
        in_child(job, memory=256 << 20)
    assert in_child(lambda mark: np.ones(1 << 20).sum(), memory=256 << 20) == float(1 << 20)
