"""``python -m mcverify`` and the ``mcverify`` command: :func:`run`.

Ctrl-C (or SIGTERM) while the command line's modules import (its parsers, from
light modules: no numpy) prints the same one line as later and exits 130,
never a traceback: :func:`run` catches the signals before it imports
:mod:`mcverify.cli.main`, then hands them back to :func:`~mcverify.cli.main.main`,
in which each command imports its implementation (numpy, scipy, pandas: a second
or two) under the same handler (:func:`mcverify.cli.terminal.interrupts_exit`) and
then reports Ctrl-C the same way, after cleaning up.
This module imports nothing heavy (nor does ``mcverify/__init__.py``).
"""

from __future__ import annotations

import importlib
import signal
import sys
from collections.abc import Callable
from types import FrameType
from typing import TYPE_CHECKING

from mcverify.cli.terminal import EXIT_INTERRUPTED, INTERRUPTED, exit_interrupted

if TYPE_CHECKING:
    # run() imports it with importlib, after catching the signals; named here for
    # import-linter, which then sees that this module sits over the command line.
    import mcverify.cli.main  # noqa: F401

__all__ = ["run"]


def _raise_interrupt(signum: int, frame: FrameType | None) -> None:
    """SIGTERM once main() runs: KeyboardInterrupt, as Ctrl-C (main() installs the same while it works)."""
    raise KeyboardInterrupt


def run() -> int:
    """Entry point of the ``mcverify`` command; returns the exit code of :func:`~mcverify.cli.main.main`.

    The process's last act: it returns with Ctrl-C and SIGTERM ignored, so that a signal
    during the interpreter's shutdown (which gives SIGINT back its default action) cannot
    turn a finished command's exit status into death by the signal.
    """
    signal.signal(signal.SIGTERM, exit_interrupted)  # before main(): nothing to clean up yet
    signal.signal(signal.SIGINT, exit_interrupted)
    main: Callable[[], int] = importlib.import_module("mcverify.cli.main").main
    try:
        # From here on Ctrl-C and SIGTERM raise KeyboardInterrupt, which main() reports.
        signal.signal(signal.SIGTERM, _raise_interrupt)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        return main()
    except KeyboardInterrupt:  # between the handlers and main()'s own try, or as it returns
        print(INTERRUPTED, file=sys.stderr)
        return EXIT_INTERRUPTED
    finally:
        # The command is over and its status stands (a short one, --help, ends in 0.1 s).
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)


if __name__ == "__main__":
    sys.exit(run())
