"""Standard output that a reader may close: ``mcverify ... | head`` is never a failure.

When the reader of a pipe goes away, writing raises :class:`BrokenPipeError`.
:class:`ClosablePipe` wraps ``sys.stdout`` for the duration of a command:
the first broken write points file descriptor 1 at ``/dev/null`` and every
later write goes there, so the command finishes its work (files are
written) and its exit status is the verdict's, not the pipe's.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, TextIO

__all__ = ["ClosablePipe", "reader_may_leave"]


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
