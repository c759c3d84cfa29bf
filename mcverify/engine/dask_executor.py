"""A Dask cluster as a :class:`concurrent.futures.Executor` (optional extra ``dask``).

``mcverify run CONFIG --dask tcp://scheduler:8786`` connects to a running
scheduler; ``--dask local`` starts a :class:`distributed.LocalCluster` of
single-threaded worker processes on this machine.  Either way the run
hands its blocks to ``client.get_executor()``; the workers need mcverify
(and the same numpy) installed, and the checkpoint and results are written
by the process that runs ``mcverify``, so the workers need no shared disk.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from concurrent.futures import Executor
from contextlib import contextmanager

from mcverify.extras import require_extra

__all__ = ["DaskUnavailable", "dask_executor"]


class DaskUnavailable(ImportError):
    """dask.distributed is not installed."""


@contextmanager
def dask_executor(address: str, n_workers: int, *, timeout: float = 20.0) -> Iterator[Executor]:
    """An executor on a Dask cluster, closed (and a local cluster stopped) on exit.

    Parameters
    ----------
    address : str
        ``"local"`` for a new :class:`~distributed.LocalCluster` on this
        machine, or a scheduler address such as ``"tcp://10.0.0.5:8786"``.
    n_workers : int
        Worker processes of a local cluster (one thread each); ignored for
        a remote scheduler, whose workers are what they are.
    timeout : float
        Seconds to wait for the scheduler.

    Raises
    ------
    DaskUnavailable
        If ``dask[distributed]`` is not installed.
    OSError
        If the scheduler cannot be reached.
    """
    require_extra("dask", "--dask", DaskUnavailable)
    from distributed import Client, LocalCluster

    cluster = None
    if address == "local":
        cluster = LocalCluster(
            n_workers=n_workers,
            threads_per_worker=1,
            processes=True,
            # No dashboard; its scheduler still serves HTTP (health, metrics), at
            # :8787 unless told otherwise, with a multi-line UserWarning on the user's
            # terminal when another cluster holds that port.  Any free port instead.
            dashboard_address=None,
            scheduler_kwargs={"dashboard_address": ":0"},
            # A worker whose heartbeat meets the closing scheduler logs an ERROR with a
            # traceback (tornado's StreamClosedError), to the user's terminal: noise of the
            # shutdown. A task's own error reaches mcverify through its future and is
            # reported there, so distributed's log lines below CRITICAL are not shown.
            silence_logs=logging.CRITICAL,
        )
        client = Client(cluster, timeout=timeout)
    else:
        try:
            client = Client(address, timeout=timeout)
        except (OSError, TimeoutError, ValueError) as exc:
            raise OSError(f"cannot connect to the Dask scheduler at {address} ({exc})") from None
    try:
        yield client.get_executor()
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
