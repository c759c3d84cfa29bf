"""What the terminal does to a command: a reader that closes standard output, and Ctrl-C while it imports.

Standard output that a reader may close: ``mcverify ... | head`` is never a failure.

When the reader of a pipe goes away, writing raises :class:`BrokenPipeError`.
:class:`ClosablePipe` wraps ``sys.stdout`` for the duration of a command:
the first broken write points file descriptor 1 at ``/dev/null`` and every
later write goes there, so the command finishes its work (files are
written) and its exit status is the verdict's, not the pipe's.

Ctrl-C (or SIGTERM) before a command has done anything, while the command
line or a command's implementation imports, prints one line and exits 130 at
once (:func:`exit_interrupted`, :func:`interrupts_exit`).
"""

from __future__ import annotations

import os
import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType
from typing import Any, TextIO

__all__ = ["EXIT_INTERRUPTED", "INTERRUPTED", "ClosablePipe", "exit_interrupted", "interrupts_exit", "reader_may_leave"]

EXIT_INTERRUPTED = 130
INTERRUPTED = "mcverify: interrupted"


class ClosablePipe:
    """A text stream that swallows :class:`BrokenPipeError` (see the module docstring).

    Everything but :meth:`write` and :meth:`flush` is the wrapped stream's.
    ``closed_by_reader`` tells whether the reader went away.
    """

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream
        self.closed_by_reader = False

    def write(self, text: str) -> int:
        try:
            return self._stream.write(text)
        except BrokenPipeError:
            self._reader_left()
            return len(text)

    def flush(self) -> None:
        try:
            self._stream.flush()
        except BrokenPipeError:
            self._reader_left()

    def _reader_left(self) -> None:
        self.closed_by_reader = True
        try:
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, self._stream.fileno())
            os.close(devnull)
        except (OSError, ValueError):  # no file descriptor: later writes raise and are swallowed again
            pass

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


@contextmanager
def reader_may_leave(stream: TextIO) -> Iterator[ClosablePipe]:
    """Yield ``stream`` wrapped in a :class:`ClosablePipe`; flush it on the way out."""
    pipe = ClosablePipe(stream)
    try:
        yield pipe
    finally:
        pipe.flush()  # what is still buffered goes now, or to /dev/null, never to the interpreter's exit


def exit_interrupted(signum: int, frame: FrameType | None) -> None:
    """Ctrl-C or SIGTERM with nothing to clean up yet: one line on stderr and exit 130, at once."""
    try:
        sys.stdout.flush()
    except (OSError, ValueError, RuntimeError):  # a closed or busy stdout: the line on stderr still goes
        pass
    os.write(2, f"{INTERRUPTED}\n".encode())
    os._exit(EXIT_INTERRUPTED)


@contextmanager
def interrupts_exit() -> Iterator[None]:
    """Ctrl-C and SIGTERM call :func:`exit_interrupted` for the duration (in the main thread).

    Around a command's imports of its implementation, before it has written
    anything: a :class:`KeyboardInterrupt` raised inside numpy's, scipy's or
    pandas' imports, though caught and reported by :func:`mcverify.cli.main.main`,
    can leave the interpreter ending by the signal (exit status -2) instead of 130.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {s: signal.signal(s, exit_interrupted) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler if handler is not None else signal.SIG_DFL)
