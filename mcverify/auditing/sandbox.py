"""Calling an untrusted candidate: per-call timeout, captured output, no exits, mutation checks.

The audit calls a user's KL function many times.  A function that hangs,
prints, calls ``sys.exit`` or writes into its arguments must not hang the
audit, mix its output into the report (``--json`` stays parseable), end the
process, or corrupt the probes; it is reported instead.  Within a
:func:`session` (the audit opens one), :func:`guarded_call` provides:

Timeout
    Each call runs in a daemon worker thread; the caller waits at most
    ``timeout`` seconds (a batched call, several probes at once,
    :data:`BATCH_TIMEOUTS` times that).  A call that does not return in time raises
    :class:`CandidateTimeout` and its thread is abandoned: Python cannot
    stop a thread, so it runs on in the background until it returns or the
    process exits (a thread stuck in a loop keeps one core busy meanwhile).
    The session stops calling a candidate that timed out
    ``first_timeouts`` times before returning anything, or ``max_timeouts``
    times in all: each further call raises :class:`CandidateTimeout` at
    once, so a function that hangs everywhere costs a few timeouts, and one
    that hangs on some inputs is still judged on the others.  A separate process could kill a
    hung call, but would need the candidate to be importable or picklable
    in a fresh interpreter and would copy every argument; a thread works for
    any callable, closures and notebooks included.

Captured output
    What the candidate writes to standard output and standard error goes to
    one capture (:func:`capturing`): an unlinked temporary file, summarised
    as a :class:`CandidateOutput` (byte and line counts, the first and last
    :data:`OUTPUT_KEPT` bytes).  While a capture is open, ``sys.stdout`` and
    ``sys.stderr`` are wrapped: text written from a thread running the
    candidate goes to the capture, all other text goes through unchanged.
    In the child process of :func:`in_child` the capture is also file
    descriptors 1 and 2, from the fork to the end, so that output written
    from C code, by ``os.write``, at import and from any thread of the
    candidate is captured too, in the order it was written.

No exits
    ``SystemExit`` raised by the candidate becomes :class:`CandidateExit`,
    reported like any exception.  (``KeyboardInterrupt`` is left alone: it
    is the user pressing Ctrl-C.)

Mutation checks
    :func:`changed_arguments` tells which arguments a call wrote into; the
    caller passes copies, so the probes stay intact either way, and records
    the finding with :meth:`Session.record_mutation`.

No silent end of the process
    ``mcverify audit`` runs the import and the audit of a candidate in a
    forked child process (:func:`in_child`) and prints the report from the
    parent: a candidate that calls ``os._exit(0)``, crashes or is killed ends
    the child only, and the parent reports it as the candidate's problem
    (:class:`CandidateEnded`) instead of exiting 0 with no report; what the
    candidate wrote before it ended is read from the capture all the same.
"""

from __future__ import annotations

import contextvars
import faulthandler
import io
import os
import pickle
import queue
import resource
import select
import signal
import struct
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, NoReturn, TypeVar

import numpy as np

from mcverify.auditing.registry import BATCH_TIMEOUTS, DEFAULT_TIMEOUT

__all__ = [
    "DEFAULT_TIMEOUT",
    "KILL_GRACE",
    "MEMORY_LIMIT",
    "OUTPUT_KEPT",
    "CandidateEnded",
    "CandidateExit",
    "CandidateOutput",
    "CandidateTimeout",
    "Capture",
    "Session",
    "active_capture",
    "capturing",
    "changed_arguments",
    "current",
    "guarded_call",
    "in_child",
    "session",
]

T = TypeVar("T")

#: Timeouts before a first result after which a session stops calling the candidate.
FIRST_TIMEOUTS = 3
#: Timeouts in all after which a session stops calling the candidate.
MAX_TIMEOUTS = 10


class CandidateTimeout(Exception):
    """The candidate did not return within the per-call timeout."""


class CandidateExit(Exception):
    """The candidate raised ``SystemExit`` (called ``sys.exit``)."""


class _Worker:
    """A daemon thread that runs calls one at a time."""

    def __init__(self, session: Session) -> None:
        self.inbox: queue.SimpleQueue[tuple[Callable[[], Any], list[Any], threading.Event] | None] = queue.SimpleQueue()
        self.thread = threading.Thread(target=self._loop, name="mcverify-candidate", daemon=True)
        self.session = session
        self.thread.start()
        ident = self.thread.ident
        assert ident is not None  # set by start()
        session.capture.threads.add(ident)

    def _loop(self) -> None:
        while True:
            item = self.inbox.get()
            if item is None:
                return
            fn, box, done = item
            try:
                box.append((True, fn()))
            except BaseException as exc:
                box.append((False, exc))
            finally:
                done.set()

    def run(self, fn: Callable[[], T], timeout: float) -> tuple[bool, Any] | None:
        box: list[Any] = []
        done = threading.Event()
        self.inbox.put((fn, box, done))
        if not done.wait(timeout):
            return None
        return box[0]

    def stop(self) -> None:
        self.inbox.put(None)


# ------------------------------------------------------------ captured output
#: Bytes of the candidate's output kept from its start, and as many from its end.
OUTPUT_KEPT = 4096


@dataclass(frozen=True)
class CandidateOutput:
    """What a candidate wrote to standard output and standard error, summarised.

    Attributes
    ----------
    size : int
        Bytes written.
    lines : int
        Lines written (a last line without a line break counts).
    head : str
        The first :data:`OUTPUT_KEPT` bytes (all of them when ``size`` is at
        most twice that), decoded as UTF-8 with undecodable bytes escaped.
    tail : str
        The last :data:`OUTPUT_KEPT` bytes when more than twice that were
        written, else ``""``.
    omitted : int
        Bytes between ``head`` and ``tail``, not kept.
    """

    size: int = 0
    lines: int = 0
    head: str = ""
    tail: str = ""
    omitted: int = 0

    def __bool__(self) -> bool:
        return self.size > 0

    @property
    def text(self) -> str:
        """The kept text: ``head``, and ``tail`` after a line that says how much was left out."""
        if not self.tail:
            return self.head
        return f"{self.head}\n[... {self.omitted:,} bytes not kept ...]\n{self.tail}"

    def first_line(self) -> str:
        """The first line that is not blank (``""`` if none is kept)."""
        return next((line for line in self.head.splitlines() if line.strip()), "")

    def last_lines(self, n: int) -> list[str]:
        """The last ``n`` lines kept, blank lines dropped."""
        lines = [line for line in (self.tail or self.head).splitlines() if line.strip()]
        return lines[-n:] if n > 0 else []

    def describe(self) -> str:
        """``"3 lines, 120 bytes"``."""
        return f"{self.lines:,} line{'s' * (self.lines != 1)}, {self.size:,} byte{'s' * (self.size != 1)}"

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready dict: ``bytes``, ``lines``, ``head``, ``tail``, ``omitted_bytes``."""
        return {
            "bytes": self.size,
            "lines": self.lines,
            "head": self.head,
            "tail": self.tail,
            "omitted_bytes": self.omitted,
        }


def _decode(data: bytes) -> str:
    return data.decode("utf-8", "backslashreplace")


class Capture:
    """Where a candidate's output goes: an unlinked temporary file, and which threads count as the candidate.

    Attributes
    ----------
    threads : set of int
        Identifiers of the threads running the candidate: their text goes to the capture.
    owner : int
        The thread that opened it (mcverify's own).
    others : bool
        Whether every thread but ``owner`` counts as the candidate's (in a
        child process of :func:`in_child`, where all other threads are the
        candidate's).
    abandoned : list of threading.Thread
        Threads of timed-out calls, which may still write.
    """

    def __init__(self, *, others: bool = False) -> None:
        self._file = tempfile.TemporaryFile()  # unlinked at once where the system allows
        self.fd = self._file.fileno()
        self.threads: set[int] = set()
        self.owner = threading.get_ident()
        self.others = others
        self.abandoned: list[threading.Thread] = []
        self.closed = False

    def claims(self) -> bool:
        """Whether text written by the calling thread is the candidate's."""
        ident = threading.get_ident()
        return ident in self.threads or (self.others and ident != self.owner)

    def write(self, data: bytes) -> None:
        """Append ``data`` (a write that fails, on a full disk, is dropped)."""
        if self.closed:
            return
        try:
            while data:
                data = data[os.write(self.fd, data) :]
        except OSError:
            pass

    def size(self) -> int:
        """Bytes captured so far."""
        try:
            return os.fstat(self.fd).st_size
        except OSError:  # closed
            return 0

    def output(self) -> CandidateOutput:
        """What was captured so far, summarised."""
        size = self.size()
        if size == 0:
            return CandidateOutput()
        lines, offset, last = 0, 0, b""
        while offset < size:  # the counts read it all, one MiB at a time
            chunk = os.pread(self.fd, min(1 << 20, size - offset), offset)
            if not chunk:
                break
            lines += chunk.count(b"\n")
            last = chunk[-1:]
            offset += len(chunk)
        size = offset
        lines += last != b"\n"
        if size <= 2 * OUTPUT_KEPT:
            return CandidateOutput(size, lines, _decode(os.pread(self.fd, size, 0)))
        head = _decode(os.pread(self.fd, OUTPUT_KEPT, 0))
        tail = _decode(os.pread(self.fd, OUTPUT_KEPT, size - OUTPUT_KEPT))
        return CandidateOutput(size, lines, head, tail, size - 2 * OUTPUT_KEPT)

    @property
    def stragglers(self) -> int:
        """Abandoned calls still running."""
        return sum(t.is_alive() for t in self.abandoned)

    def close(self) -> None:
        """Close the file; text the candidate writes afterwards is dropped."""
        self.closed = True
        self._file.close()


class _Stream(io.TextIOBase):
    """``sys.stdout`` or ``sys.stderr``: the candidate's text goes to a capture, the rest to ``real``.

    ``captured`` is a stream on a descriptor that is the capture (in a child
    of :func:`in_child`, the interpreter's own stream on descriptor 1 or 2):
    the candidate's threads see its :meth:`fileno` and its other attributes
    (``buffer``), so that bytes they write through those are captured too.
    Elsewhere None: they see ``real``'s.
    """

    def __init__(self, real: Any, capture: Capture, captured: Any = None) -> None:
        self.real = real
        self.capture = capture
        self.captured = captured

    def _seen(self) -> Any:
        """The stream whose descriptor and attributes the calling thread sees."""
        return self.captured if self.captured is not None and self.capture.claims() else self.real

    def write(self, text: str) -> int:
        if self.capture.claims():
            self.capture.write(text.encode("utf-8", "backslashreplace"))
            return len(text)
        return self.real.write(text)

    def writelines(self, lines: Any) -> None:
        for line in lines:
            self.write(line)

    def flush(self) -> None:
        self._seen().flush()

    def isatty(self) -> bool:
        return bool(self.real.isatty())

    def fileno(self) -> int:
        return int(self._seen().fileno())

    @property
    def encoding(self) -> str:  # type: ignore[override]  # a plain attribute in typeshed; read-only here: the wrapped stream's
        return str(getattr(self.real, "encoding", None) or "utf-8")  # io.StringIO's is None

    def __getattr__(self, name: str) -> Any:
        return getattr(self._seen(), name)


_CAPTURE: contextvars.ContextVar[Capture | None] = contextvars.ContextVar("mcverify_capture", default=None)


def active_capture() -> Capture | None:
    """The open capture, if any."""
    return _CAPTURE.get()


@contextmanager
def capturing() -> Iterator[Capture]:
    """Open a capture of the candidate's output, or use the one already open.

    ``sys.stdout`` and ``sys.stderr`` are wrapped while it is open; when
    abandoned calls still run at the end, the wrappers stay, and what those
    calls print is dropped.
    """
    active = _CAPTURE.get()
    if active is not None:
        yield active
        return
    cap = Capture()
    token = _CAPTURE.set(cap)
    streams = {name: getattr(sys, name) for name in ("stdout", "stderr")}
    wrappers = {name: _Stream(stream, cap) for name, stream in streams.items()}
    for name, wrapper in wrappers.items():
        setattr(sys, name, wrapper)
    try:
        yield cap
    finally:
        _CAPTURE.reset(token)
        if not cap.stragglers:
            for name, wrapper in wrappers.items():
                if getattr(sys, name) is wrapper:
                    setattr(sys, name, streams[name])
        cap.close()


@dataclass(eq=False)
class Session:
    """What happened while calling one candidate (see the module docstring).

    Attributes
    ----------
    capture : Capture
        Where the candidate's output goes.
    timeout : float or None
        Per-call limit in seconds; ``None`` for none.
    first_timeouts : int
        Timeouts before any result after which the candidate is no longer called.
    max_timeouts : int
        Timeouts in all after which the candidate is no longer called.
    output : CandidateOutput
        What the capture held when the session closed (the candidate's
        output, at import too when the capture was opened before).
    output_calls : int
        How many calls wrote something (to the capture, while they ran).
    timeouts : int
        Calls that timed out.
    mutations : dict
        Argument position -> number of calls that wrote into it.
    calls : int
        Calls made (not counting those refused after repeated timeouts).
    """

    capture: Capture
    timeout: float | None = DEFAULT_TIMEOUT
    first_timeouts: int = FIRST_TIMEOUTS
    max_timeouts: int = MAX_TIMEOUTS
    output: CandidateOutput = field(default_factory=CandidateOutput)
    output_calls: int = 0
    timeouts: int = 0
    mutations: dict[int, int] = field(default_factory=dict)
    calls: int = 0
    results: int = 0
    _worker: _Worker | None = None

    @property
    def gave_up(self) -> bool:
        """Whether the candidate timed out too often and is no longer called."""
        return self.timeouts >= (self.first_timeouts if self.results == 0 else self.max_timeouts)

    def record_mutation(self, positions: Sequence[int]) -> None:
        """Note that one call wrote into the arguments at ``positions``."""
        for k in positions:
            self.mutations[k] = self.mutations.get(k, 0) + 1

    def call(self, fn: Callable[[], T], probes: int = 1) -> T:
        """Call ``fn`` under the session's rules; a call of several ``probes`` gets :data:`BATCH_TIMEOUTS` timeouts."""
        if self.gave_up:
            raise CandidateTimeout(f"not called: the candidate already timed out {self.timeouts} times")
        self.calls += 1
        written = self.capture.size()
        ok: bool
        value: Any  # the call's result (a T) or, when not ok, the exception it raised
        timeout = None if self.timeout is None else self.timeout * min(max(1, probes), BATCH_TIMEOUTS)
        _announce(timeout)
        try:
            if timeout is None:
                ident = threading.get_ident()
                claimed = ident in self.capture.threads
                self.capture.threads.add(ident)
                try:
                    ok, value = True, fn()
                except BaseException as exc:
                    ok, value = False, exc
                finally:
                    if not claimed:
                        self.capture.threads.discard(ident)
            else:
                if self._worker is None:
                    self._worker = _Worker(self)
                result = self._worker.run(fn, timeout)
                if result is None:
                    self.capture.abandoned.append(self._worker.thread)
                    self._worker.stop()  # it ends when the call returns, instead of waiting for work for ever
                    self._worker = None
                    self.timeouts += 1
                    per = "the per-call timeout" if probes <= 1 else "a batched call's timeout"
                    raise CandidateTimeout(f"no result within {timeout:g} s ({per})")
                ok, value = result
        finally:
            _announce(None)
            if self.capture.size() != written:
                self.output_calls += 1
        self.results += 1
        if ok:
            return value
        if isinstance(value, SystemExit):
            raise CandidateExit(f"called sys.exit({value.code!r})") from None
        raise value

    def close(self) -> None:
        if self._worker is not None:
            self._worker.stop()
            self._worker = None
        self.output = self.capture.output()

    @property
    def stragglers(self) -> int:
        """Abandoned calls still running."""
        return self.capture.stragglers


_CURRENT: contextvars.ContextVar[Session | None] = contextvars.ContextVar("mcverify_sandbox", default=None)


def current() -> Session | None:
    """The open session, if any."""
    return _CURRENT.get()


@contextmanager
def session(
    timeout: float | None = DEFAULT_TIMEOUT, first_timeouts: int = FIRST_TIMEOUTS, max_timeouts: int = MAX_TIMEOUTS
) -> Iterator[Session]:
    """Open a session: calls through :func:`guarded_call` are timed, captured and checked.

    The candidate's output goes to the open capture (:func:`capturing`), or
    to one the session opens and closes.

    Parameters
    ----------
    timeout : float or None
        Seconds each call may take; ``None`` (or 0) for no limit.
    first_timeouts, max_timeouts : int
        Timeouts before a first result, and in all, after which the candidate is no longer called.
    """
    if timeout is not None and not timeout > 0:
        timeout = None
    with capturing() as cap:
        sess = Session(cap, timeout=timeout, first_timeouts=first_timeouts, max_timeouts=max_timeouts)
        token = _CURRENT.set(sess)
        try:
            yield sess
        finally:
            _CURRENT.reset(token)
            sess.close()


def guarded_call(fn: Callable[[], T], probes: int = 1) -> T:
    """Call ``fn`` (which calls the candidate) under the open session's rules, or directly without one.

    ``probes``: how many probes the call evaluates; a batched call (more than one) may take
    :data:`BATCH_TIMEOUTS` per-call timeouts.

    Without a session, ``SystemExit`` still becomes :class:`CandidateExit`.
    """
    sess = _CURRENT.get()
    if sess is not None:
        return sess.call(fn, probes)
    try:
        return fn()
    except SystemExit as exc:
        raise CandidateExit(f"called sys.exit({exc.code!r})") from None


def changed_arguments(
    originals: Sequence[Any], passed: Sequence[Any], to_numpy: Callable[[Any], np.ndarray]
) -> list[int]:
    """Positions of the arguments whose values changed during a call.

    ``originals`` are the numpy arrays the arguments were made from,
    ``passed`` what the candidate received (converted back with
    ``to_numpy``); an argument that cannot be converted back is not judged.
    """
    out = []
    for k, (a, b) in enumerate(zip(originals, passed)):
        try:
            after = np.asarray(to_numpy(b), dtype=np.float64)
        except Exception:
            continue
        before = np.asarray(a, dtype=np.float64)
        if after.shape != before.shape or not np.array_equal(after, before, equal_nan=True):
            out.append(k)
    return out


# ------------------------------------------------------------ a child process
class CandidateEnded(Exception):
    """The child process running a candidate ended without handing back a result.

    Attributes
    ----------
    phase : str
        The last phase the child announced (``""`` before the first).
    how : str
        How it ended: ``"exit status 0"``, ``"signal SIGSEGV"``.
    """

    def __init__(self, phase: str, how: str) -> None:
        super().__init__(f"the process ended ({how}) during {phase or 'start-up'}")
        self.phase = phase
        self.how = how


_FRAME = struct.Struct("!cQ")
#: Seconds past the per-call timeout after which the parent kills a child whose call still runs:
#: the call holds the interpreter (``sum(range(10**11))``), so the child's own timeout cannot fire.
KILL_GRACE = 2.0
#: Address space a candidate's child may add to what it has at the fork (``RLIMIT_AS``), in bytes.
MEMORY_LIMIT = 4 << 30
#: In a child of :func:`in_child`: the pipe to the parent, where calls are announced.
_WATCH_FD: int | None = None


def _announce(timeout: float | None) -> None:
    """Tell the watching parent that a call starts (with its timeout) or, given None, that it ended."""
    if _WATCH_FD is None:
        return
    if timeout is None:
        _send(_WATCH_FD, b"t", b"")
    else:
        _send(_WATCH_FD, b"T", struct.pack("!d", timeout))


def _limit_memory(extra: int) -> None:
    """Cap this process's address space at what it has mapped now plus ``extra`` bytes (Linux)."""
    try:
        with open("/proc/self/statm") as fh:
            mapped = int(fh.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
        resource.setrlimit(resource.RLIMIT_AS, (mapped + extra, resource.RLIM_INFINITY))
    except (OSError, ValueError):  # no /proc: no limit
        pass


def _send(fd: int, tag: bytes, payload: bytes) -> None:
    data = _FRAME.pack(tag, len(payload)) + payload
    while data:
        data = data[os.write(fd, data) :]


def fork_is_safe() -> bool:
    """Whether this process may fork: a POSIX system and no other thread that could hold a lock.

    Python threads are counted; JAX's runtime threads are not Python threads
    but are not safe across a fork either, so a process that imported JAX
    does not fork.
    """
    return hasattr(os, "fork") and threading.active_count() == 1 and "jax" not in sys.modules


def in_child(
    job: Callable[[Callable[[str], None]], T],
    memory: int | None = MEMORY_LIMIT,
    on_output: Callable[[CandidateOutput], None] | None = None,
) -> T:
    """Run ``job(mark)`` in a forked child process and return its result here.

    ``job`` calls ``mark(phase)`` as it enters each phase (``"import"``,
    ``"audit"``); the result (or the exception it raised) comes back pickled
    through a pipe.  Where forking is not safe (:func:`fork_is_safe`) the
    job runs in this process instead.

    The child's output is captured (:class:`Capture`): from the fork until
    the result is sent, its file descriptors 1 and 2 point at the capture,
    and so does the text its threads write to ``sys.stdout`` and
    ``sys.stderr``, except the text of the main thread outside the import
    phase (mcverify's own), which goes to this process's standard error.
    When the child has ended (with a result, an exception, a crash or a
    kill), ``on_output`` receives what was captured, before this function
    returns or raises.  Where the job runs in this process, the capture holds
    the text written to ``sys.stdout`` and ``sys.stderr`` by the candidate's
    calls and in the import phase, and, for the job's duration, what is
    written to file descriptor 1 (so that the standard output stays the
    report's); file descriptor 2 stays this process's.

    The child runs in a process group of its own, killed as a whole when the
    result is in (processes the candidate forked never keep the output pipes
    open); its address space may grow by ``memory`` bytes (``RLIMIT_AS``;
    None for no limit: beyond it allocations raise ``MemoryError``); and
    each call of a :class:`Session` is announced to this process, which kills
    the child when a call runs :data:`KILL_GRACE` seconds past its timeout
    (code that holds the interpreter cannot be stopped from inside).

    Raises
    ------
    CandidateEnded
        When the child ends without a result: ``os._exit``, a crash, a
        signal.  A ``SystemExit`` that escapes ``job`` counts as such an end.
    KeyboardInterrupt
        On Ctrl-C (the child is killed first).
    """
    if not fork_is_safe():
        return _in_this_process(job, on_output)
    _flush_all()  # nothing buffered here is written twice, or by the child
    cap = Capture(others=True)
    try:
        read_fd, write_fd = os.pipe()
        pid = os.fork()
        if pid == 0:  # the child: never returns
            _run_child(job, cap, read_fd, write_fd, memory)
        os.close(write_fd)
        try:
            os.setpgid(pid, pid)  # also here: no race with the child's own call
        except OSError:  # it has already done so, or already ended
            pass
        try:
            return _collect(pid, read_fd)
        except BaseException:
            _kill(pid)
            try:
                os.waitpid(pid, 0)
            except ChildProcessError:
                pass
            raise
        finally:
            _kill(pid)  # what the candidate forked, still running, goes too
            os.close(read_fd)
            if on_output is not None:
                on_output(cap.output())
    finally:
        cap.close()


def _run_child(
    job: Callable[[Callable[[str], None]], Any], cap: Capture, read_fd: int, write_fd: int, memory: int | None
) -> NoReturn:
    """The child of :func:`in_child`: capture its output, run ``job``, send the result, exit."""
    status = 0
    try:
        global _WATCH_FD
        os.close(read_fd)
        os.setpgid(0, 0)  # its own group: the candidate's forks are killed with it
        signal.signal(signal.SIGINT, signal.SIG_DFL)  # the parent reports Ctrl-C
        _capture_descriptors(cap)
        _WATCH_FD = write_fd
        if memory is not None:
            _limit_memory(memory)

        def mark(phase: str) -> None:
            (cap.threads.add if phase == "import" else cap.threads.discard)(cap.owner)
            _send(write_fd, b"P", phase.encode())

        try:
            outcome: tuple[bool, Any] = (True, job(mark))
        except SystemExit as exc:
            outcome = (False, CandidateEnded("", f"sys.exit({exc.code!r})"))
        except BaseException as exc:
            outcome = (False, exc)
        cap.threads.discard(cap.owner)
        try:
            payload = pickle.dumps(outcome)
        except Exception:
            payload = pickle.dumps((False, RuntimeError(f"{type(outcome[1]).__name__}: {outcome[1]}")))
        _flush_all()  # before the result: the parent reads the capture once the child has ended
        _send(write_fd, b"R", payload)
    except BaseException:
        status = 70
    finally:
        os._exit(status)


def _capture_descriptors(cap: Capture) -> None:
    """Point file descriptors 1 and 2 at the capture; mcverify's own text goes to the standard error it had."""
    cap.owner = threading.get_ident()
    try:
        terminal: Any = open(  # lives as long as the process
            os.dup(2), "w", encoding=sys.stderr.encoding or "utf-8", errors="backslashreplace", buffering=1
        )
    except (OSError, ValueError, AttributeError):  # no standard error: mcverify's own text is dropped
        terminal = open(os.devnull, "w")
    os.dup2(cap.fd, 1)
    os.dup2(cap.fd, 2)
    if faulthandler.is_enabled():  # its dump of a crash (python -X faulthandler, pytest) goes to the capture too
        faulthandler.enable(file=2, all_threads=True)
    _CAPTURE.set(cap)
    sys.stdout = _Stream(terminal, cap, sys.__stdout__)  # the interpreter's streams on descriptors 1 and 2
    sys.stderr = _Stream(terminal, cap, sys.__stderr__)


def _flush_all() -> None:
    """Flush Python's streams and C's stdio buffers (``printf`` without ``fflush``), which ``os._exit`` would drop."""
    for stream in (sys.stdout, sys.stderr, sys.__stdout__, sys.__stderr__):
        try:
            if stream is not None:
                stream.flush()
        except (OSError, ValueError):
            pass
    ctypes: Any = sys.modules.get("ctypes")  # imported by numpy: no import here
    if ctypes is not None:
        try:
            ctypes.CDLL(None).fflush(None)
        except (OSError, AttributeError):
            pass


def _in_this_process(
    job: Callable[[Callable[[str], None]], T], on_output: Callable[[CandidateOutput], None] | None
) -> T:
    """:func:`in_child`'s job, run in this process: Python-level capture, and file descriptor 1."""
    with capturing() as cap:
        owner = threading.get_ident()

        def mark(phase: str) -> None:
            (cap.threads.add if phase == "import" else cap.threads.discard)(owner)

        try:
            with _descriptor_to(1, cap.fd):
                return job(mark)
        finally:
            cap.threads.discard(owner)
            if on_output is not None:
                on_output(cap.output())


@contextmanager
def _descriptor_to(fd: int, target: int) -> Iterator[None]:
    """Point file descriptor ``fd`` at ``target`` for the duration (not at all if ``fd`` is closed)."""
    try:
        saved = os.dup(fd)
    except OSError:
        yield
        return
    try:
        sys.stdout.flush()
    except (OSError, ValueError):
        pass
    os.dup2(target, fd)
    try:
        yield
    finally:
        try:
            sys.stdout.flush()
        except (OSError, ValueError):
            pass
        os.dup2(saved, fd)
        os.close(saved)


def _kill(pid: int) -> None:
    """SIGKILL the process group ``pid`` leads (the child and whatever it forked)."""
    try:
        os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def _collect(pid: int, fd: int) -> Any:
    """Read the child's frames until its result; notice its end even if a grandchild holds the pipe."""
    buf = b""
    phase = ""
    status: int | None = None
    deadline: float | None = None  # when the running call must be over, if one runs
    while True:
        if deadline is not None and status is None and time.monotonic() > deadline:
            _kill(pid)
            os.waitpid(pid, 0)
            raise CandidateEnded(
                phase, f"killed: a call ran {KILL_GRACE:g} s past the per-call timeout without letting go"
            )
        ready, _, _ = select.select([fd], [], [], 0.05)
        chunk = os.read(fd, 1 << 16) if ready else b""
        buf += chunk
        while len(buf) >= _FRAME.size:
            tag, size = _FRAME.unpack_from(buf)
            if len(buf) < _FRAME.size + size:
                break
            payload, buf = buf[_FRAME.size : _FRAME.size + size], buf[_FRAME.size + size :]
            if tag == b"P":
                phase = payload.decode()
                continue
            if tag == b"T":
                (limit,) = struct.unpack("!d", payload)
                deadline = time.monotonic() + limit + KILL_GRACE
                continue
            if tag == b"t":
                deadline = None
                continue
            os.waitpid(pid, 0)
            ok, value = pickle.loads(payload)
            if ok:
                return value
            raise value
        if chunk:
            continue
        if status is None:  # end of file, or nothing yet: has the child ended?
            done, wstatus = os.waitpid(pid, 0 if ready else os.WNOHANG)
            if done:
                status = wstatus
            continue
        # The child has ended and nothing more is to be read (a grandchild may hold the pipe open).
        code = os.waitstatus_to_exitcode(status)
        how = f"exit status {code}" if code >= 0 else f"signal {signal.Signals(-code).name}"
        raise CandidateEnded(phase, how)
