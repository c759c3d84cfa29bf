"""Tests of mcverify.auditing.sandbox: timeouts, captured output, sys.exit and mutation checks."""

from __future__ import annotations

import os
import sys
import threading
import time

import numpy as np
import pytest

from mcverify.auditing import sandbox
from mcverify.auditing.sandbox import (
    CandidateExit,
    CandidateOutput,
    CandidateTimeout,
    changed_arguments,
    current,
    guarded_call,
    in_child,
    session,
)


def test_results_and_exceptions_pass_through() -> None:
    with session(timeout=5.0) as s:
        assert guarded_call(lambda: 42) == 42
        with pytest.raises(ZeroDivisionError):
            guarded_call(lambda: 1 / 0)
    assert s.calls == 2 and s.results == 2 and s.timeouts == 0
    assert current() is None


@pytest.mark.parametrize("timeout", [None, 5.0])
def test_sys_exit_becomes_an_ordinary_exception(timeout: float | None) -> None:
    with session(timeout=timeout):
        with pytest.raises(CandidateExit, match=r"called sys.exit\(3\)"):
            guarded_call(lambda: sys.exit(3))
    with pytest.raises(CandidateExit):  # also without a session
        guarded_call(lambda: sys.exit())


def test_timeout_abandons_the_call_and_moves_on() -> None:
    release = threading.Event()
    t0 = time.monotonic()
    with session(timeout=0.2) as s:
        with pytest.raises(CandidateTimeout, match=r"no result within 0\.2 s"):
            guarded_call(lambda: release.wait(30))
        assert guarded_call(lambda: "next") == "next"  # a fresh worker
        assert s.stragglers == 1
        release.set()
    assert time.monotonic() - t0 < 5
    assert s.timeouts == 1 and s.results == 1


def test_gives_up_after_three_timeouts_before_any_result() -> None:
    release = threading.Event()
    with session(timeout=0.05) as s:
        for _ in range(3):
            with pytest.raises(CandidateTimeout, match="no result within"):
                guarded_call(lambda: release.wait(30))
        t0 = time.monotonic()
        with pytest.raises(CandidateTimeout, match="not called: the candidate already timed out 3 times"):
            guarded_call(lambda: 1)
        assert time.monotonic() - t0 < 0.05 and s.gave_up
    release.set()


def test_after_a_result_it_allows_ten_timeouts() -> None:
    release = threading.Event()
    with session(timeout=0.02) as s:
        assert guarded_call(lambda: 1) == 1
        for _ in range(10):
            with pytest.raises(CandidateTimeout, match="no result within"):
                guarded_call(lambda: release.wait(30))
        assert s.gave_up
        with pytest.raises(CandidateTimeout, match="not called"):
            guarded_call(lambda: 1)
    release.set()


@pytest.mark.parametrize("timeout", [None, 5.0])
def test_output_of_the_candidate_is_captured(timeout: float | None, capsys: pytest.CaptureFixture[str]) -> None:
    def noisy() -> int:
        print("hello from the candidate")
        print("and on stderr", file=sys.stderr)
        return 7

    with session(timeout=timeout) as s:
        print("ours")
        assert guarded_call(noisy) == 7
        assert guarded_call(lambda: 8) == 8
    captured = capsys.readouterr()
    assert captured.out == "ours\n" and captured.err == ""
    assert s.output.text == "hello from the candidate\nand on stderr\n" and s.output_calls == 1
    assert (s.output.size, s.output.lines) == (len("hello from the candidate\nand on stderr\n"), 2)
    print("after")  # the streams are restored
    assert capsys.readouterr().out == "after\n"


def test_captured_streams_have_an_encoding_where_the_wrapped_one_has_none(monkeypatch: pytest.MonkeyPatch) -> None:
    # io.StringIO (doctest's and many notebooks' stdout) has encoding None; code that looks it up
    # (codecs.lookup(sys.stdout.encoding)) must still work inside an audit.
    import codecs
    import io

    monkeypatch.setattr(sys, "stdout", io.StringIO())
    with session(timeout=None):
        assert sys.stdout.encoding == "utf-8"
        assert guarded_call(lambda: codecs.lookup(sys.stdout.encoding).name) == "utf-8"


def test_changed_arguments() -> None:
    a, b = np.array([1.0, 2.0]), np.array([[1.0]])
    assert changed_arguments([a, b, 3.0], [a.copy(), b.copy(), 3.0], np.asarray) == []
    assert changed_arguments([a, b], [a + 1, b], np.asarray) == [0]
    assert changed_arguments([a, b], [a, np.ones(3)], np.asarray) == [1]  # replaced by another shape
    assert changed_arguments([np.array([np.nan])], [np.array([np.nan])], np.asarray) == []

    def unreadable(x: object) -> np.ndarray:
        raise TypeError("not an array")

    assert changed_arguments([a], [object()], unreadable) == []


def test_abandoned_worker_thread_ends_when_its_call_returns() -> None:
    """A timed-out call's thread used to wait for work for ever once the call returned (forking then unsafe)."""
    release = threading.Event()
    with session(timeout=0.1):
        with pytest.raises(CandidateTimeout):
            guarded_call(lambda: release.wait(30))
    (thread,) = [t for t in threading.enumerate() if t.name == "mcverify-candidate"]
    release.set()
    thread.join(5.0)
    assert not thread.is_alive()


def test_where_forking_is_unsafe_the_job_runs_here_with_python_level_capture_and_descriptor_1(
    monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    """in_child without a fork (JAX imported): the import phase's and the calls' text, and descriptor 1,
    go to the capture; descriptor 2 and mcverify's own text outside the import stay this process's."""
    monkeypatch.setattr(sandbox, "fork_is_safe", lambda: False)
    outputs: list[CandidateOutput] = []
    here = os.getpid()

    def job(mark):  # type: ignore[no-untyped-def]
        print("ours, before the import")
        mark("import")
        print("import print")
        os.write(1, b"import fd 1\n")
        os.write(2, b"import fd 2\n")
        mark("audit")
        with session(timeout=5.0):
            guarded_call(lambda: print("call print", file=sys.stderr))
        return os.getpid()

    assert in_child(job, on_output=outputs.append) == here
    captured = capfd.readouterr()
    assert captured.out == "ours, before the import\n" and captured.err == "import fd 2\n"
    expected = "import print\nimport fd 1\ncall print\n"
    assert outputs == [CandidateOutput(len(expected), 3, expected)]
    print("after")  # the streams and descriptor 1 are restored
    os.write(1, b"fd 1 after\n")
    assert capfd.readouterr().out == "after\nfd 1 after\n"
