"""One BLAS thread for mcverify's own matrix work.

OpenBLAS splits a large matrix product among its threads, and the split
changes the order of the additions: the same Monte Carlo run gives values
that differ in the last bit with one thread or with two.  On a busy machine
the threads also wait for each other: with the other core taken, a d = 10
closed form or Monte Carlo run is ~5x slower on two threads than on one.
mcverify's matrix work therefore runs on one BLAS thread wherever it runs
(worker processes for the whole process, the caller's process for the
duration of each call: the closed form and quadrature of full covariances,
Monte Carlo for d > 1), so its numbers never depend on the machine's core
count or on the caller's thread settings; parallelism comes from processes
instead.  A caller who wants otherwise says so with :func:`blas_threads`.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from functools import cache
from typing import Any

from threadpoolctl import ThreadpoolController

__all__ = ["blas_threads", "limit_process_blas", "one_blas_thread"]

#: The caller's choice (:func:`blas_threads`): ``0`` means mcverify's default, one thread.
_CHOICE: ContextVar[int | None] = ContextVar("mcverify_blas_threads", default=0)


@cache
def _controller() -> Any:
    """threadpoolctl's view of the loaded BLAS and OpenMP libraries (scanned once: ~1 ms)."""
    return ThreadpoolController()


@contextmanager
def one_blas_thread() -> Iterator[None]:
    """Run the block with BLAS (OpenBLAS, MKL, BLIS) and OpenMP pools on one thread.

    Costs about 8 microseconds; the caller's settings are restored on exit.
    Inside :func:`blas_threads` the caller's choice holds instead.
    """
    choice = _CHOICE.get()
    if choice is None:  # the caller manages the threads (threadpoolctl, environment)
        yield
        return
    with _controller().limit(limits=choice or 1):
        yield


@contextmanager
def blas_threads(threads: int | None) -> Iterator[None]:
    """Let mcverify's matrix work in this block use ``threads`` BLAS threads.

    Parameters
    ----------
    threads : int or None
        A number of threads, or None to leave the BLAS libraries as the
        caller set them (for example with :func:`threadpoolctl.threadpool_limits`).

    Notes
    -----
    Numbers computed with more than one thread may differ in the last bit
    from those of one thread (the order of a product's additions changes).

    Examples
    --------
    >>> import mcverify
    >>> with mcverify.blas_threads(None):  # the caller's own BLAS settings
    ...     pass
    """
    if threads is not None and (isinstance(threads, bool) or not isinstance(threads, int) or threads < 1):
        raise ValueError(f"threads must be a positive integer or None, got {threads!r}")
    token = _CHOICE.set(threads)
    try:
        yield
    finally:
        _CHOICE.reset(token)


def limit_process_blas() -> None:
    """One BLAS thread for the rest of this process (mcverify's own worker processes)."""
    _controller().limit(limits=1)
