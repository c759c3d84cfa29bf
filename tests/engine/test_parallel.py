"""The same table whatever runs it: one process, local processes, any executor, Dask."""

from __future__ import annotations

import math
import random
import socket
import threading
import time
import warnings
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from pathlib import Path

import pandas as pd
import pytest
from lazymodules import needs

from mcverify.cli.main import main
from mcverify.config.loader import load_config
from mcverify.engine.parallel import _worker_init, map_blocks, resolve_workers, usable_cores
from mcverify.engine.runner import run
from mcverify.numerics.blas import one_blas_thread

CONFIG = """
[run]
samples = 3000
seed = 21
[[pair]]
name = "corr"
p = { mean = [0.0, 1.0], cov = [[1.0, 0.5], [0.5, 2.0]] }
q = { mean = [0.0, 0.0], var = [1.0, 1.0] }
direction = "both"
[[sweep]]
name = "grid"
p = { mean = { linspace = [-1, 1, 9] }, std = { logspace = [-1, 1, 11] } }
q = { mean = 0.0, var = 1.0 }
[[sweep]]
name = "spd"
p = { mean = { random = "normal", dim = 3 }, cov = { random = "spd", dim = 3, cond = 10.0 } }
q = { mean = 0.0, std = [1.0, 2.0, 0.5] }
count = 5
"""


@pytest.fixture(scope="module")
def spec(tmp_path_factory):
    path = tmp_path_factory.mktemp("par") / "par.toml"
    path.write_text(CONFIG)
    return load_config(path)


def strip(rows):
    return [{k: v for k, v in r.items() if not k.startswith("seconds")} for r in rows]


def same_rows(a, b):
    def eq(x, y):
        return x == y or (isinstance(x, float) and isinstance(y, float) and math.isnan(x) and math.isnan(y))

    return len(a) == len(b) and all(r.keys() == s.keys() and all(eq(r[k], s[k]) for k in r) for r, s in zip(a, b))


@pytest.fixture(scope="module")
def reference(spec):
    rows = run(spec, workers=1)
    assert len(rows) == 2 + 99 + 5
    return strip(rows)


def test_two_local_processes(spec, reference):
    seen = []
    rows = run(spec, workers=2, on_row=lambda r: seen.append(r["index"]))
    assert same_rows(strip(rows), reference)
    assert seen == list(range(len(rows)))  # on_row in case order


@pytest.mark.parametrize("make", [lambda: ThreadPoolExecutor(3), lambda: ProcessPoolExecutor(2)])
def test_any_executor(spec, reference, make):
    with make() as pool:
        assert same_rows(strip(run(spec, workers=pool)), reference)


class _Shuffling(ThreadPoolExecutor):
    """Threads that finish blocks in a scrambled order, and count blocks in flight."""

    def __init__(self):
        super().__init__(4)
        self.rng = random.Random(5)
        self.lock = threading.Lock()
        self.inflight = self.most = 0

    def submit(self, fn, /, *args, **kwargs):
        delay = self.rng.uniform(0, 0.02)
        with self.lock:
            self.inflight += 1
            self.most = max(self.most, self.inflight)

        def slow():
            time.sleep(delay)
            try:
                return fn(*args, **kwargs)
            finally:
                with self.lock:
                    self.inflight -= 1

        return super().submit(slow)


def test_blocks_arriving_out_of_order(spec, reference):
    with _Shuffling() as ex:
        assert same_rows(strip(run(spec, workers=ex)), reference)
        assert 1 < ex.most <= 32  # a bounded window of blocks in flight


@needs("distributed")  # its client leaves a thread in this process: after the tests that fork
@pytest.mark.slow
def test_dask_local_cluster(spec, reference):
    from mcverify.engine.dask_executor import dask_executor

    with dask_executor("local", 2) as executor:
        rows = run(spec, workers=executor)
    assert same_rows(strip(rows), reference)


@needs("distributed")
def test_dask_local_says_nothing_when_another_cluster_holds_port_8787():
    """Regression: --dask local served HTTP at :8787 and warned in four lines on stderr when a
    dashboard (another cluster, a notebook's) held that port."""
    from mcverify.engine.dask_executor import dask_executor

    with socket.socket() as holder:
        holder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            holder.bind(("", 8787))
        except OSError:
            pass  # held already: the case under test
        holder.listen()
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # a warning fails the test
            with dask_executor("local", 1) as ex:
                assert ex.submit(math.fsum, [0.1] * 10).result() == 1.0


def _same_cli_tables(tmp_path: Path, variants: dict[str, list[str]]) -> None:
    """``mcverify run`` with each variant's options writes the same table but for the timings."""
    cfg = tmp_path / "par.toml"
    cfg.write_text(CONFIG)
    tables = {}
    for key, extra in variants.items():
        assert main(["run", str(cfg), "-o", str(tmp_path / key), "-q", *extra]) == 0
        tables[key] = pd.read_csv(tmp_path / key / "par.csv")
    first = next(iter(tables.values()))
    timing = [c for c in first.columns if c.startswith("seconds")]
    for table in tables.values():
        pd.testing.assert_frame_equal(table.drop(columns=timing), first.drop(columns=timing))


@pytest.mark.slow
def test_cli_tables_identical_for_1_and_2_processes(tmp_path):
    _same_cli_tables(tmp_path, {"one": ["--jobs", "1"], "two": ["--jobs", "2"]})


@needs("distributed")
@pytest.mark.slow
def test_cli_tables_identical_for_1_process_and_dask(tmp_path):
    _same_cli_tables(tmp_path, {"one": ["--jobs", "1"], "dask": ["--dask", "local", "--jobs", "2"]})


def _blas_threads():
    from threadpoolctl import threadpool_info

    return sorted({i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"})


def test_blas_runs_on_one_thread_inside_workers():
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=2, user_api="blas"):  # what a forked worker inherits: two threads
        with ProcessPoolExecutor(1, initializer=_worker_init) as pool:
            assert pool.submit(_blas_threads).result() == [1]
        with one_blas_thread():
            assert _blas_threads() == [1]
        assert _blas_threads() == [2]


def test_workers_argument():
    assert resolve_workers(None) == 1 and resolve_workers(3) == 3
    with pytest.raises(ValueError):
        resolve_workers(0)
    with pytest.raises(TypeError):
        resolve_workers("2")
    assert usable_cores() >= 1
    assert list(map_blocks(None, [], 2)) == []  # type: ignore[arg-type]


def test_dask_extra_missing_is_a_usage_error(tmp_path, monkeypatch, capsys):
    import sys

    cfg = tmp_path / "par.toml"
    cfg.write_text(CONFIG)
    monkeypatch.setitem(sys.modules, "distributed", None)  # as if dask[distributed] were not installed
    assert main(["run", str(cfg), "-o", str(tmp_path / "out"), "--dask", "local"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "pip install 'mcverify[dask]'" in err
    assert not (tmp_path / "out" / ".par.checkpoint").exists()  # nothing started


def test_workers_are_never_forked_from_a_threaded_process():
    # A fork copies only the calling thread: a lock held by another thread
    # stays locked in the child (seen: a worker stuck on a futex in the kill tests).
    from mcverify.engine.parallel import _process_context

    stop = threading.Event()
    helper = threading.Thread(target=stop.wait, daemon=True)
    helper.start()
    try:
        ctx = _process_context()
        assert ctx is not None and ctx.get_start_method() == "spawn"
    finally:
        stop.set()
        helper.join()
