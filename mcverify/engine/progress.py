"""A progress bar on terminals: tqdm when it is installed, nothing otherwise.

The bar goes to standard error and only when standard error is a terminal
(tqdm's ``disable=None``), so pipes, files, CI logs and ``--quiet`` see
nothing, and standard output stays clean for the summary.
"""

from __future__ import annotations

import sys
from typing import IO, Any

__all__ = ["NoBar", "progress_bar"]


class NoBar:
    """Stands in for a tqdm bar: accepts the same calls and shows nothing."""

    def update(self, n: int = 1) -> None:
        """Ignore ``n`` more done."""

    def close(self) -> None:
        """Nothing to close."""

    def __enter__(self) -> NoBar:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def progress_bar(
    total: int,
    *,
    initial: int = 0,
    quiet: bool = False,
    file: IO[str] | None = None,
    desc: str | None = None,
) -> Any:
    """A bar counting cases: done, rate and time left.

    Parameters
    ----------
    total : int
        Cases in the run.
    initial : int
        Cases already done (a resumed run); the rate counts only new ones.
    quiet : bool
        No bar at all.
    file : file object, optional
        Where to draw (default: ``sys.stderr``); nothing is drawn unless it
        is a terminal.
    desc : str, optional
        Label before the bar.

    Returns
    -------
    tqdm.tqdm or NoBar
        With ``update(n)`` and ``close()``; also a context manager.
    """
    if quiet:
        return NoBar()
    try:
        from tqdm import tqdm
    except ImportError:  # the 'progress' extra is not installed
        return NoBar()
    # No monitor thread: worker processes are forked after the bar exists,
    # and forking a process that runs other threads invites deadlocks.
    tqdm.monitor_interval = 0
    return tqdm(
        total=total,
        initial=initial,
        desc=desc,
        unit="case",
        unit_scale=total >= 10_000,
        file=file if file is not None else sys.stderr,
        disable=None,
        dynamic_ncols=True,
        mininterval=0.5,
        smoothing=0.1,
        leave=False,
    )
