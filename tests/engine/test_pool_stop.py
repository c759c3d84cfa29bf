"""Stopping mcverify's worker processes: on an error, on SIGTERM, and when the parent dies.

Regression: ``mcverify run --jobs 2`` hung for ever in 3 of 39 runs on an
early error (disk full while writing the tables).  The forked workers had
inherited the command line's SIGTERM handler (which raises
KeyboardInterrupt); the parent terminated them on the error, one was
interrupted while holding the result queue's lock, and the other worker and
the parent's unbounded ``shutdown(wait=True)`` waited on it for ever.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import subprocess
import sys
import time
import uuid
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from pathlib import Path

import pytest

from mcverify.engine.parallel import _Pool, _worker_init

psutil = pytest.importorskip("psutil")

ROOT = Path(__file__).resolve().parents[2]
linux_only = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="needs Linux (/proc, prctl)")

# 20 cases in 20 blocks: the tables are formatted on the worker processes too.
SMALL_CONFIG = """
[run]
samples = 1000
seed = 1
[[sweep]]
name = "grid"
p = { mean = { linspace = [-1.0, 1.0, 5] }, std = { values = [0.5, 2.0] } }
q = { mean = 0.0, std = 1.0 }
direction = "both"
"""
# 40 cases of 400_000 samples: seconds of work on two workers.
LONG_CONFIG = SMALL_CONFIG.replace("samples = 1000", "samples = 400_000").replace(
    "values = [0.5, 2.0]", "values = [0.5, 1.0, 1.5, 2.0]"
)

# The disk fills up once the checkpoint is written: the parent's table writing fails with ENOSPC,
# either while the workers still format blocks (TableWriter.add) or after them (the fsync).
DISK_FULL = """
import os, sys
from mcverify.tables.block_writer import TableWriter
from mcverify.cli.main import main
where = sys.argv[1]
def enospc():
    raise OSError(28, "No space left on device")
real_fsync, real_add, added = os.fsync, TableWriter.add, []
def fsync(fd):
    if ".checkpoint" in os.readlink(f"/proc/self/fd/{fd}"):
        return real_fsync(fd)
    enospc()
def add(self, *args, **kwargs):
    added.append(1)
    if len(added) == 2:
        enospc()
    return real_add(self, *args, **kwargs)
if where == "fsync":
    os.fsync = fsync
else:
    TableWriter.add = add
sys.exit(main(sys.argv[2:]))
"""


def marked(tag: str) -> list[psutil.Process]:
    """Live processes whose environment carries ``MCVERIFY_TEST_TAG=tag`` (a run and its workers)."""
    found = []
    for proc in psutil.process_iter():
        try:
            if proc.environ().get("MCVERIFY_TEST_TAG") == tag and proc.status() != psutil.STATUS_ZOMBIE:
                found.append(proc)
        except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
            pass
    return found


def env(tag: str) -> dict[str, str]:
    return dict(os.environ, PYTHONPATH=str(ROOT), MCVERIFY_TEST_TAG=tag)


@pytest.mark.parametrize("method", ["fork", "spawn"])
def test_workers_get_the_default_sigterm_handler(method: str) -> None:
    """Whatever handler the parent has, a worker dies of SIGTERM at once (forked and spawned)."""
    if method not in multiprocessing.get_all_start_methods():
        pytest.skip(f"no {method} start method")
    previous = signal.signal(signal.SIGTERM, lambda signum, frame: None)
    try:
        ctx = multiprocessing.get_context(method)
        with ProcessPoolExecutor(1, mp_context=ctx, initializer=_worker_init, initargs=(os.getpid(),)) as pool:
            assert pool.submit(signal.getsignal, signal.SIGTERM).result(timeout=60) == signal.SIG_DFL
            assert pool.submit(signal.getsignal, signal.SIGINT).result(timeout=60) == signal.SIG_IGN
    finally:
        signal.signal(signal.SIGTERM, previous)


def test_hard_stop_does_not_wait_for_running_blocks() -> None:
    pool = _Pool(2)
    futures = [pool.executor.submit(time.sleep, 60) for _ in range(4)]
    procs = list(pool.executor._processes.values())  # type: ignore[union-attr]
    deadline = time.monotonic() + 30
    while not futures[0].running() and time.monotonic() < deadline:
        time.sleep(0.01)
    t0 = time.monotonic()
    pool.stop(hard=True)
    assert time.monotonic() - t0 < 5
    assert not any(p.is_alive() for p in procs)


@linux_only
def test_workers_die_with_a_killed_parent(tmp_path: Path) -> None:
    cfg = tmp_path / "cfg.toml"
    cfg.write_text(LONG_CONFIG)
    tag = uuid.uuid4().hex
    cmd = [sys.executable, "-m", "mcverify", "run", str(cfg), "-o", str(tmp_path / "out"), "--jobs", "2", "-q"]
    proc = subprocess.Popen(cmd, env=env(tag), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        workers: list[psutil.Process] = []
        while len(workers) < 2:
            assert proc.poll() is None, "the run ended before its workers were seen"
            assert time.monotonic() < deadline, "no worker processes within 60 s"
            time.sleep(0.05)
            workers = [p for p in marked(tag) if p.pid != proc.pid]
    finally:
        proc.kill()
        proc.wait()
    _gone, alive = psutil.wait_procs(workers, timeout=5)
    assert not alive, f"workers outlived their killed parent: {alive}"
    assert not marked(tag)


@linux_only
@pytest.mark.parametrize("where", ["add", "fsync"])
def test_disk_full_never_hangs(tmp_path: Path, where: str) -> None:
    """10 runs each (4 at once) with --jobs 2: every one exits 2 with one line, and leaves no worker."""
    cfg = tmp_path / "cfg.toml"
    cfg.write_text(SMALL_CONFIG)

    def one(i: int) -> tuple[int, str, str]:
        tag = uuid.uuid4().hex
        args = [where, "run", str(cfg), "-o", str(tmp_path / f"out{i}"), "--jobs", "2"]
        try:
            done = subprocess.run(
                [sys.executable, "-c", DISK_FULL, *args], env=env(tag), capture_output=True, timeout=60
            )
        except subprocess.TimeoutExpired:
            for p in marked(tag):
                p.kill()
            return -1, "hung for 60 s", tag
        return done.returncode, done.stderr.decode("utf-8", "backslashreplace"), tag

    with ThreadPoolExecutor(4) as threads:
        results = list(threads.map(one, range(10)))
    for code, err, _tag in results:
        assert code == 2, (code, err)
        assert err.count("\n") == 1 and "Traceback" not in err, err
        assert err.startswith("mcverify: error: ") and "No space left on device" in err, err
    time.sleep(0.2)
    leftover = [p for _, _, tag in results for p in marked(tag)]
    assert not leftover, f"worker processes left behind: {leftover}"
