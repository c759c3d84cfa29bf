"""One BLAS thread for mcverify's own matrix work.

OpenBLAS splits a large matrix product among its threads, and the split
changes the order of the additions: the same Monte Carlo run gives values
that differ in the last bit with one thread or with two.  mcverify's matrix
work runs on one BLAS thread wherever it runs (worker processes for the
whole process, the caller's process for the duration of each call), so its
numbers never depend on the machine's core count or on the caller's
thread settings; parallelism comes from processes instead.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from typing import Any

from threadpoolctl import ThreadpoolController

__all__ = ["limit_process_blas", "one_blas_thread"]


@cache
def _controller() -> Any:
    """threadpoolctl's view of the loaded BLAS and OpenMP libraries (scanned once: ~1 ms)."""
    return ThreadpoolController()


@contextmanager
def one_blas_thread() -> Iterator[None]:
    """Run the block with BLAS (OpenBLAS, MKL, BLIS) and OpenMP pools on one thread.

    Costs about 8 microseconds; the caller's settings are restored on exit.
    """
    with _controller().limit(limits=1):
        yield


def limit_process_blas() -> None:
    """One BLAS thread for the rest of this process (mcverify's own worker processes)."""
    _controller().limit(limits=1)
