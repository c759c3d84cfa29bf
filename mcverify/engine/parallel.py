"""Running blocks of cases in this process, on local processes or on any executor.

``workers`` is a number of local processes or any
:class:`concurrent.futures.Executor` (a Dask client's ``get_executor()``,
a :class:`~concurrent.futures.ProcessPoolExecutor` of your own).  Blocks
are submitted a few at a time and come back as they complete; the caller
puts them in case order.  Inside every worker BLAS runs on one thread: the
processes are the parallelism, and a threaded BLAS in each of them only
fights for the same cores (measured: two workers with threaded BLAS on two
cores run at 0.5-0.7x the speed of one, and a 1x1 triangular solve takes
1 ms instead of 20 µs).

Orchestration only: no files, no terminal.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Generator, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Executor, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Any

from mcverify.config.case_list import CaseList, SweepEntry
from mcverify.config.cases import RunSpec
from mcverify.engine.blocks import Layout, evaluate_block
from mcverify.numerics.blas import limit_process_blas, one_blas_thread
from mcverify.tables.columns import Columns, param_dtypes
from mcverify.tables.schema import estimator_columns

__all__ = [
    "SMALL_RUN_DRAWS",
    "BlockTask",
    "Workers",
    "default_jobs",
    "map_blocks",
    "ordered_map",
    "resolve_workers",
    "usable_cores",
]

Workers = int | Executor | None

#: Seconds the workers of a pool stopped on an error have to exit (after SIGKILL).
STOP_GRACE = 1.0


def usable_cores() -> int:
    """CPU cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


#: Monte Carlo draws below which a run computes in the calling process when
#: no job count is given: about 0.3-0.5 s of sampling on one core, the
#: order of what starting worker processes (and their imports and pools)
#: costs.  ``configs/example.toml`` (53 cases at 2e5 samples, 1.1e7 draws)
#: ran 1.4x faster with ``--jobs 1`` than with two workers.
SMALL_RUN_DRAWS = 50_000_000


def default_jobs(cases: int, samples: int) -> int:
    """Processes for a run when the user gives no ``--jobs``: one for a small run, else every usable core.

    A run of at most :data:`SMALL_RUN_DRAWS` draws (``cases * samples``) is
    over before worker processes would have started; the numbers do not
    depend on the choice.
    """
    if cases * samples <= SMALL_RUN_DRAWS:
        return 1
    return usable_cores()


def _worker_init(parent: int | None = None) -> None:
    """Initializer of mcverify's own worker processes.

    One BLAS thread for the life of the process; Ctrl-C left to the
    parent, which stops the workers itself (otherwise every worker prints
    its own KeyboardInterrupt traceback); SIGTERM back to its default, so
    that a worker the parent terminates dies at once (a forked worker
    inherits the command line's SIGTERM handler, which raises
    KeyboardInterrupt: a worker interrupted inside a queue's lock kept it
    held, and the other workers and the parent's shutdown waited on it for
    ever); and on Linux, death with the
    parent: a parent killed with ``kill -9`` cannot stop its workers, which
    would otherwise wait for work forever (they hold the task pipe open).
    """
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    limit_process_blas()
    if sys.platform.startswith("linux"):
        try:
            import ctypes

            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(1, signal.SIGKILL, 0, 0, 0)  # PR_SET_PDEATHSIG
        except (OSError, AttributeError):  # pragma: no cover - no prctl
            pass
    if parent is not None and os.getppid() != parent:  # the parent died before prctl
        os._exit(1)


@dataclass(frozen=True)
class BlockTask:
    """A picklable callable computing one block of a run: ``task(block) -> (block, columns)``.

    It carries the run's cases (a :class:`CaseList` pickles to its config
    entries, a few kilobytes), settings and layout, so any executor can run
    it.  With ``limit_blas`` it limits BLAS to one thread for the duration
    of the call (for executors whose workers mcverify did not start).
    """

    cases: Any
    settings: Any
    layout: Layout
    params: dict[str, str]
    limit_blas: bool = False

    def __call__(self, block: int) -> tuple[int, Columns]:
        start, stop = self.layout.bounds(block)
        if self.limit_blas:
            with one_blas_thread():
                return block, evaluate_block(self.cases, start, stop, self.settings, self.params)
        return block, evaluate_block(self.cases, start, stop, self.settings, self.params)


def run_params(spec: RunSpec) -> dict[str, str]:
    """Storage kinds of the run's ``param:`` columns, and of the extra estimators' columns if any."""

    return {**_param_columns(spec), **estimator_columns(tuple(getattr(spec, "estimators", ())))}


def _param_columns(spec: RunSpec) -> dict[str, str]:
    cases = spec.cases
    if isinstance(cases, CaseList):
        paths = cases.param_paths()
        always = (
            {"draw"}
            if cases.entries and all(isinstance(e, SweepEntry) and e.sweep.has_random for e in cases.entries)
            else set()
        )
        return param_dtypes(paths, always)
    seen: dict[str, None] = {}
    for c in cases:
        for k, _ in c.params:
            seen.setdefault(k, None)
    always = {k for k in seen if all(k in dict(c.params) for c in cases)}
    return param_dtypes(list(seen), always)


def resolve_workers(workers: Workers) -> int | Executor:
    """Validate ``workers``: an executor, or a number of processes >= 1 (None means 1)."""
    if isinstance(workers, Executor):
        return workers
    if workers is None:
        return 1
    if isinstance(workers, bool) or not isinstance(workers, int):
        raise TypeError(f"workers must be an int or a concurrent.futures.Executor, got {workers!r}")
    if workers < 1:
        raise ValueError(f"workers must be >= 1, got {workers!r}")
    return workers


def _process_context() -> Any:
    """How worker processes start: the platform's default, but never a fork of a threaded process.

    A fork copies only the calling thread; a lock another thread held at
    that moment (an import, a stream, a logging handler) stays locked in
    the child forever.  mcverify called from a program that runs threads
    (an audit's candidate threads, a Dask client, a GUI, a notebook) gets
    freshly started interpreters instead, which cost about a second each.
    """

    if threading.active_count() > 1:
        return multiprocessing.get_context("spawn")
    return None


@dataclass
class _Pool:
    """mcverify's own process pool, which it may stop hard on interruption."""

    size: int
    executor: ProcessPoolExecutor = field(init=False)

    def __post_init__(self) -> None:
        self.executor = ProcessPoolExecutor(
            self.size, mp_context=_process_context(), initializer=_worker_init, initargs=(os.getpid(),)
        )

    def stop(self, hard: bool) -> None:
        """Shut the pool down: after the last result, waiting for the workers; on an error, at once.

        ``hard`` (Ctrl-C or an error): the workers are killed (SIGKILL: a
        SIGTERM can reach a worker still starting before it has reset the
        handler it inherited), waited for at most :data:`STOP_GRACE` seconds,
        and the executor is shut down without waiting: a worker stopped
        inside a queue's lock may leave that lock held, and nothing may wait
        on it.  The blocks not yet done are cancelled.
        """
        if not hard:
            self.executor.shutdown(wait=True, cancel_futures=True)
            return
        procs = list((getattr(self.executor, "_processes", None) or {}).values())
        for proc in procs:
            proc.kill()
        deadline = time.monotonic() + STOP_GRACE
        for proc in procs:
            proc.join(max(0.0, deadline - time.monotonic()))
        manager = getattr(self.executor, "_executor_manager_thread", None)  # shutdown forgets it
        self.executor.shutdown(wait=False, cancel_futures=True)
        if isinstance(manager, threading.Thread):  # it notices the dead workers and cleans up
            manager.join(STOP_GRACE)


def map_blocks(
    task: BlockTask,
    blocks: Iterable[int],
    workers: Workers,
    *,
    window: int | None = None,
) -> Generator[tuple[int, Columns], None, None]:
    """Run ``task`` on every block; yield ``(block, columns)`` as blocks complete.

    Parameters
    ----------
    task : BlockTask
    blocks : iterable of int
        Block numbers, in the order they should start.
    workers : int or concurrent.futures.Executor
        ``1`` runs in this process (BLAS limited to one thread meanwhile);
        ``n > 1`` starts ``min(n, number of blocks)`` worker processes; an
        executor is used as it is, with BLAS limited inside each task.
    window : int, optional
        Blocks in flight at once (default: twice the workers plus two; for
        an executor at least 32, more for a larger pool or Dask cluster), so
        that memory does not grow with the run.

    Notes
    -----
    The order of completion depends on the workers; the numbers do not.
    Closing the generator (or an exception in the caller) cancels the
    blocks not yet started and stops mcverify's own worker processes.
    """
    workers = resolve_workers(workers)
    todo = list(blocks)
    if not todo:
        return
    if isinstance(workers, int) and (workers == 1 or len(todo) == 1):
        with one_blas_thread():
            for b in todo:
                yield task(b)
        return
    pool: _Pool | None = None
    if isinstance(workers, int):
        pool = _Pool(min(workers, len(todo)))
        executor: Executor = pool.executor
        window = window or 2 * pool.size + 2
    else:
        executor = workers
        task = BlockTask(task.cases, task.settings, task.layout, task.params, limit_blas=True)
        window = window or max(32, 2 * _slots(executor) + 2)
    clean = False
    try:
        # mcverify's own pool cancels what is left itself (see _Pool.stop)
        yield from _windowed(executor, task, todo, window, cancel=pool is None)
        clean = True
    finally:
        if pool is not None:
            pool.stop(hard=not clean)


def _slots(executor: Executor) -> int:
    """Tasks the executor can run at once, when it says (a pool's workers, a Dask cluster's threads)."""
    n = getattr(executor, "_max_workers", None)
    if isinstance(n, int):
        return n
    client = getattr(executor, "_client", None)  # distributed.client.ClientExecutor
    try:
        return int(sum(client.nthreads().values())) if client is not None else 0
    except Exception:
        return 0


def _windowed(
    executor: Executor, fn: Callable[[int], tuple[int, Columns]], items: list[int], window: int, *, cancel: bool = True
) -> Iterator[tuple[int, Columns]]:
    pending: set[Future[tuple[int, Columns]]] = set()
    it = iter(items)
    try:
        for item in it:
            pending.add(executor.submit(fn, item))
            if len(pending) >= window:
                break
        while pending:
            done, pending = wait(pending, return_when=FIRST_COMPLETED)
            for fut in done:
                yield fut.result()
            for item in it:
                pending.add(executor.submit(fn, item))
                if len(pending) >= window:
                    break
    finally:
        if cancel:
            for fut in pending:
                fut.cancel()


def ordered_map(
    fn: Callable[[Any], Any], items: Iterable[Any], processes: int, *, window: int | None = None
) -> Generator[Any, None, None]:
    """``map(fn, items)`` on up to ``processes`` local processes, results in order.

    At most ``window`` items (default: four per process) are in flight, so
    results waiting for their turn stay few.  One process means this one.
    """
    todo = list(items)
    if processes <= 1 or len(todo) <= 1:
        for item in todo:
            yield fn(item)
        return
    pool = _Pool(min(processes, len(todo)))
    window = window or 4 * pool.size
    pending: deque[Future[Any]] = deque()
    clean = False
    try:
        for item in todo:
            pending.append(pool.executor.submit(fn, item))
            if len(pending) >= window:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()
        clean = True
    finally:
        pool.stop(hard=not clean)  # which cancels what is left
