"""Calling an untrusted candidate: per-call timeout, captured output, no exits, mutation checks.

The audit calls a user's KL function many times.  A function that hangs,
prints, calls ``sys.exit`` or writes into its arguments must not hang the
audit, mix its output into the report (``--json`` stays parseable), end the
process, or corrupt the probes; it is reported instead.  Within a
:func:`session` (the audit opens one), :func:`guarded_call` provides:

Timeout
    Each call runs in a daemon worker thread; the caller waits at most
    ``timeout`` seconds.  A call that does not return in time raises
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
    While a session is open, ``sys.stdout`` and ``sys.stderr`` are wrapped:
    text written from a thread running the candidate is kept in
    :attr:`Session.output`, all other text goes through unchanged.  (Output
    written straight to file descriptor 1 from C code is not seen here; the
    CLI sends it to stderr.)

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
    (:class:`CandidateEnded`) instead of exiting 0 with no report.
"""

from __future__ import annotations

import contextvars
import io
import os
import pickle
import queue
import resource
import select
import signal
import struct
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, TypeVar

import numpy as np

from mcverify.auditing.registry import DEFAULT_TIMEOUT

__all__ = [
    "DEFAULT_TIMEOUT",
    "KILL_GRACE",
    "MEMORY_LIMIT",
    "CandidateEnded",
    "CandidateExit",
    "CandidateTimeout",
    "Session",
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
        session._candidate_threads.add(ident)

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


@dataclass(eq=False)
class Session:
    """What happened while calling one candidate (see the module docstring).

    Attributes
    ----------
    timeout : float or None
        Per-call limit in seconds; ``None`` for none.
    first_timeouts : int
        Timeouts before any result after which the candidate is no longer called.
    max_timeouts : int
        Timeouts in all after which the candidate is no longer called.
    output : list of str
        Text the candidate wrote to stdout or stderr.
    output_calls : int
        How many calls wrote something.
    timeouts : int
        Calls that timed out.
    mutations : dict
        Argument position -> number of calls that wrote into it.
    calls : int
        Calls made (not counting those refused after repeated timeouts).
    """

    timeout: float | None = DEFAULT_TIMEOUT
    first_timeouts: int = FIRST_TIMEOUTS
    max_timeouts: int = MAX_TIMEOUTS
    output: list[str] = field(default_factory=list)
    output_calls: int = 0
    timeouts: int = 0
    mutations: dict[int, int] = field(default_factory=dict)
    calls: int = 0
    results: int = 0
    _worker: _Worker | None = None
    _abandoned: list[threading.Thread] = field(default_factory=list)
    _candidate_threads: set[int] = field(default_factory=set)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _wrote: bool = False

    @property
    def gave_up(self) -> bool:
        """Whether the candidate timed out too often and is no longer called."""
        return self.timeouts >= (self.first_timeouts if self.results == 0 else self.max_timeouts)

    def record_mutation(self, positions: Sequence[int]) -> None:
        """Note that one call wrote into the arguments at ``positions``."""
        for k in positions:
            self.mutations[k] = self.mutations.get(k, 0) + 1

    def _capture(self, text: str) -> None:
        with self._lock:
            self.output.append(text)
            self._wrote = True

    def call(self, fn: Callable[[], T]) -> T:
        if self.gave_up:
            raise CandidateTimeout(f"not called: the candidate already timed out {self.timeouts} times")
        self.calls += 1
        self._wrote = False
        ok: bool
        value: Any  # the call's result (a T) or, when not ok, the exception it raised
        _announce(self.timeout)
        try:
            if self.timeout is None:
                ident = threading.get_ident()
                self._candidate_threads.add(ident)
                try:
                    ok, value = True, fn()
                except BaseException as exc:
                    ok, value = False, exc
                finally:
                    self._candidate_threads.discard(ident)
            else:
                if self._worker is None:
                    self._worker = _Worker(self)
                result = self._worker.run(fn, self.timeout)
                if result is None:
                    self._abandoned.append(self._worker.thread)
                    self._worker.stop()  # it ends when the call returns, instead of waiting for work for ever
                    self._worker = None
                    self.timeouts += 1
                    raise CandidateTimeout(f"no result within {self.timeout:g} s (the per-call timeout)")
                ok, value = result
        finally:
            _announce(None)
            if self._wrote:
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

    @property
    def stragglers(self) -> int:
        """Abandoned calls still running."""
        return sum(t.is_alive() for t in self._abandoned)


class _Capture(io.TextIOBase):
    """A text stream that keeps what candidate threads write and passes the rest on."""

    def __init__(self, real: Any, session: Session) -> None:
        self.real = real
        self.session: Session | None = session

    def write(self, text: str) -> int:
        s = self.session
        if s is not None and threading.get_ident() in s._candidate_threads:
            s._capture(text)
            return len(text)
        return self.real.write(text)

    def writelines(self, lines: Any) -> None:
        for line in lines:
            self.write(line)

    def flush(self) -> None:
        self.real.flush()

    def isatty(self) -> bool:
        return bool(self.real.isatty())

    def fileno(self) -> int:
        return int(self.real.fileno())

    @property
    def encoding(self) -> str:  # type: ignore[override]  # a plain attribute in typeshed; read-only here: the wrapped stream's
        return str(getattr(self.real, "encoding", None) or "utf-8")  # io.StringIO's is None

    def __getattr__(self, name: str) -> Any:
        return getattr(self.real, name)


_CURRENT: contextvars.ContextVar[Session | None] = contextvars.ContextVar("mcverify_sandbox", default=None)


def current() -> Session | None:
    """The open session, if any."""
    return _CURRENT.get()


@contextmanager
def session(
    timeout: float | None = DEFAULT_TIMEOUT, first_timeouts: int = FIRST_TIMEOUTS, max_timeouts: int = MAX_TIMEOUTS
) -> Iterator[Session]:
    """Open a session: calls through :func:`guarded_call` are timed, captured and checked.

    Parameters
    ----------
    timeout : float or None
        Seconds each call may take; ``None`` (or 0) for no limit.
    first_timeouts, max_timeouts : int
        Timeouts before a first result, and in all, after which the candidate is no longer called.
    """
    if timeout is not None and not timeout > 0:
        timeout = None
    sess = Session(timeout=timeout, first_timeouts=first_timeouts, max_timeouts=max_timeouts)
    token = _CURRENT.set(sess)
    streams = {name: getattr(sys, name) for name in ("stdout", "stderr")}
    wrappers = {name: _Capture(stream, sess) for name, stream in streams.items()}
    for name, wrapper in wrappers.items():
        setattr(sys, name, wrapper)
    try:
        yield sess
    finally:
        _CURRENT.reset(token)
        sess.close()
        for name, wrapper in wrappers.items():
            if sess.stragglers:
                # an abandoned call may still print: keep swallowing its text, pass the rest on
                continue
            wrapper.session = None
            if getattr(sys, name) is wrapper:
                setattr(sys, name, streams[name])


def guarded_call(fn: Callable[[], T]) -> T:
    """Call ``fn`` (which calls the candidate) under the open session's rules, or directly without one.

    Without a session, ``SystemExit`` still becomes :class:`CandidateExit`.
    """
    sess = _CURRENT.get()
    if sess is not None:
        return sess.call(fn)
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


def in_child(job: Callable[[Callable[[str], None]], T], memory: int | None = MEMORY_LIMIT) -> T:
    """Run ``job(mark)`` in a forked child process and return its result here.

    ``job`` calls ``mark(phase)`` as it enters each phase (``"import"``,
    ``"audit"``); the result (or the exception it raised) comes back pickled
    through a pipe.  Where forking is not safe (:func:`fork_is_safe`) the
    job runs in this process instead.

    The child runs in a process group of its own, killed as a whole when the
    result is in (processes the candidate forked never keep the output pipes
    open); its file descriptor 1 points at stderr (what the candidate prints,
    at import too, from any thread, never reaches stdout, where the report
    goes); its address space may grow by ``memory`` bytes (``RLIMIT_AS``;
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
        return job(lambda phase: None)
    for stream in (sys.stdout, sys.stderr):
        stream.flush()
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: never returns
        status = 0
        try:
            global _WATCH_FD
            os.close(read_fd)
            os.setpgid(0, 0)  # its own group: the candidate's forks are killed with it
            signal.signal(signal.SIGINT, signal.SIG_DFL)  # the parent reports Ctrl-C
            _redirect_stdout_fd()
            _WATCH_FD = write_fd
            if memory is not None:
                _limit_memory(memory)
            try:
                outcome: tuple[bool, Any] = (True, job(lambda phase: _send(write_fd, b"P", phase.encode())))
            except SystemExit as exc:
                outcome = (False, CandidateEnded("", f"sys.exit({exc.code!r})"))
            except BaseException as exc:
                outcome = (False, exc)
            try:
                payload = pickle.dumps(outcome)
            except Exception:
                payload = pickle.dumps((False, RuntimeError(f"{type(outcome[1]).__name__}: {outcome[1]}")))
            _send(write_fd, b"R", payload)
            for stream in (sys.stdout, sys.stderr):
                stream.flush()
        except BaseException:
            status = 70
        finally:
            os._exit(status)
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


def _kill(pid: int) -> None:
    """SIGKILL the process group ``pid`` leads (the child and whatever it forked)."""
    try:
        os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def _redirect_stdout_fd() -> None:
    """Send this process's standard output, ``sys.stdout`` and file descriptor 1, to its standard error."""
    try:
        sys.stdout.flush()
        os.dup2(2, 1)
    except (OSError, ValueError):
        pass
    sys.stdout = sys.stderr


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
