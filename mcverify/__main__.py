"""``python -m mcverify`` and the ``mcverify`` command: :func:`run`.

Ctrl-C (or SIGTERM) while the command line's modules import (its parsers, from
light modules: no numpy) prints the same one line as later and exits 130,
never a traceback: :func:`run` catches the signals before it imports
:mod:`mcverify.cli.main`, then hands them back to :func:`~mcverify.cli.main.main`,
in which each command imports its implementation (numpy, scipy, pandas: a second
or two) and reports Ctrl-C the same way.
This module imports nothing heavy (nor does ``mcverify/__init__.py``).
"""

from __future__ import annotations

import importlib
import os
import signal
import sys
from collections.abc import Callable
from types import FrameType
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    # run() imports it with importlib, after catching the signals; named here for
    # import-linter, which then sees that this module sits over the command line.
    import mcverify.cli.main  # noqa: F401

__all__ = ["run"]

EXIT_INTERRUPTED = 130
INTERRUPTED = "mcverify: interrupted"


def _interrupted_at_start(signum: int, frame: FrameType | None) -> None:
    """Ctrl-C or SIGTERM before main() runs: nothing to clean up yet, so one line and exit 130."""
    try:
        sys.stdout.flush()
    except (OSError, ValueError, RuntimeError):  # a closed or busy stdout: the line on stderr still goes
        pass
    os.write(2, f"{INTERRUPTED}\n".encode())
    os._exit(EXIT_INTERRUPTED)


def _raise_interrupt(signum: int, frame: FrameType | None) -> None:
    """SIGTERM once main() runs: KeyboardInterrupt, as Ctrl-C (main() installs the same while it works)."""
    raise KeyboardInterrupt


def run() -> int:
    """Entry point of the ``mcverify`` command; returns the exit code of :func:`~mcverify.cli.main.main`."""
    previous_term = signal.signal(signal.SIGTERM, _interrupted_at_start)
    signal.signal(signal.SIGINT, _interrupted_at_start)
    main: Callable[[], int] = importlib.import_module("mcverify.cli.main").main
    try:
        # From here on Ctrl-C and SIGTERM raise KeyboardInterrupt, which main() reports.
        signal.signal(signal.SIGTERM, _raise_interrupt)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        return main()
    except KeyboardInterrupt:  # between the handlers and main()'s own try
        print(INTERRUPTED, file=sys.stderr)
        return EXIT_INTERRUPTED
    finally:
        signal.signal(signal.SIGTERM, previous_term if previous_term is not None else signal.SIG_DFL)


if __name__ == "__main__":
    sys.exit(run())
