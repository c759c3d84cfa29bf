"""Shared fixtures: seeded random Gaussians; hypothesis profiles."""

from __future__ import annotations

import os
import shutil
import signal
import tempfile

import numpy as np
import pytest
from hypothesis import HealthCheck, settings
from threadpoolctl import threadpool_limits

from mcverify import Gaussian

# Hypothesis: 1,000 examples per property in CI (which sets CI=true), fewer
# locally; derandomized and without an example database, so every run of the
# suite tries the same examples.  HYPOTHESIS_PROFILE=ci runs the full count.
_PROFILE = {
    "deadline": None,
    "derandomize": True,
    "database": None,
    "suppress_health_check": [HealthCheck.too_slow, HealthCheck.data_too_large],
}
settings.register_profile("ci", max_examples=1000, **_PROFILE)
settings.register_profile("dev", max_examples=100, **_PROFILE)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci" if os.environ.get("CI") else "dev"))


def random_spd(rng: np.random.Generator, d: int, cond: float) -> np.ndarray:
    """A random symmetric positive definite matrix with the given condition number."""
    q, r = np.linalg.qr(rng.standard_normal((d, d)))
    q *= np.sign(np.diag(r))
    a = (q * np.logspace(0.0, np.log10(cond), d)) @ q.T
    return 0.5 * (a + a.T)


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(20261125)


@pytest.fixture
def full_pair(rng: np.random.Generator) -> tuple[Gaussian, Gaussian]:
    d = 5
    return (
        Gaussian(rng.standard_normal(d), cov=random_spd(rng, d, 30.0)),
        Gaussian(rng.standard_normal(d), cov=random_spd(rng, d, 10.0)),
    )


# ------------------------------------------------------- results tables for report tests
SMALL_RUN = """
[run]
samples = 20_000
seed = 3
[[pair]]
name = "corr"
p = { mean = [0.0, 1.0], cov = [[1.0, 0.5], [0.5, 2.0]] }
q = { mean = [0.0, 0.0], var = [1.0, 1.0] }
[[pair]]
name = "diag-3d"
p = { mean = [1.0, -0.5, 2.0], std = [0.5, 1.0, 3.0] }
q = { mean = [0.0, 0.0, 0.0], std = [1.0, 2.0, 1.5] }
[[sweep]]
name = "std"
p = { mean = 0.0, std = { linspace = [0.25, 3.0, 12] } }
q = { mean = 0.0, std = 1.0 }
direction = "both"
[[sweep]]
name = "grid"
p = { mean = { linspace = [-1.0, 1.0, 3] }, std = { values = [0.5, 1.0, 2.0] } }
q = { mean = 0.0, std = 1.0 }
"""


@pytest.fixture(scope="session")
def small_run(tmp_path_factory: pytest.TempPathFactory):
    """A real 35-case run (pairs in d = 2 and 3, a 1-D sweep both ways, a 3 x 3 grid), written as
    ``small.csv``, ``.json`` and ``.parquet`` with its provenance; returns (folder, in-memory table)."""
    from mcverify.cli.main import main
    from mcverify.config.loader import load_config
    from mcverify.engine.runner import run
    from mcverify.tables.schema import to_frame

    folder = tmp_path_factory.mktemp("small-run")
    cfg = folder / "small.toml"
    cfg.write_text(SMALL_RUN)
    assert main(["run", str(cfg), "-o", str(folder), "-q", "--format", "csv,json,parquet"]) == 0
    frame = to_frame(run(load_config(cfg)), "small")
    return folder, frame


# ------------------------------------------------------------ JAX's compilation cache
# JAX compiles each operation for each shape it meets (a numpyro audit: ~8 s of its 16);
# the same audits recur in the documentation's pages and the tests, in this process and in
# the commands' processes.  One persistent cache for the session's processes (the controller
# sets it before pytest-xdist starts its workers, which inherit it), removed at the end.
_JAX_CACHE = "JAX_COMPILATION_CACHE_DIR"


def pytest_configure(config):  # type: ignore[no-untyped-def]
    # A shell starts a background job (`pytest ... &`) with SIGINT ignored, which its children
    # inherit: the tests of Ctrl-C would then see nothing.  Python's own handler, as at a terminal.
    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)
    # One BLAS thread in the test processes, as the commands have (tests/commands.py): two test
    # workers on two cores, each with an OpenBLAS pool that spins between products, ran the
    # numerical tests 2-3x slower (tests/numerics/test_closed_form_batch.py: 0.8 s alone, 11-38 s
    # in the suite).  The tests of thread settings set their own (tests/numerics/test_blas.py).
    threadpool_limits(limits=1, user_api="blas")
    if _JAX_CACHE not in os.environ:
        config._mcverify_jax_cache = tempfile.mkdtemp(prefix="mcv-jax-")
        os.environ.update(
            {
                _JAX_CACHE: config._mcverify_jax_cache,
                "JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS": "0",
                "JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES": "0",
            }
        )


def pytest_unconfigure(config):  # type: ignore[no-untyped-def]
    folder = getattr(config, "_mcverify_jax_cache", None)
    if folder is not None:
        shutil.rmtree(folder, ignore_errors=True)


# ------------------------------------------------------------ artifacts in the CI log
#: Files tests produce for people to look at (the HTML report's screenshot).
ARTIFACTS: list[str] = []


def pytest_terminal_summary(terminalreporter, exitstatus, config):  # type: ignore[no-untyped-def]
    if ARTIFACTS:
        terminalreporter.section("mcverify test artifacts")
        for line in ARTIFACTS:
            terminalreporter.write_line(line)


def pytest_sessionfinish(session, exitstatus):  # type: ignore[no-untyped-def]
    workeroutput = getattr(session.config, "workeroutput", None)
    if workeroutput is not None:  # a pytest-xdist worker: hand the lines to the controller, which prints them
        workeroutput["mcverify_artifacts"] = list(ARTIFACTS)


@pytest.hookimpl(optionalhook=True)  # a pytest-xdist hook: unknown, and so never called, without it
def pytest_testnodedown(node, error):  # type: ignore[no-untyped-def]
    ARTIFACTS.extend(getattr(node, "workeroutput", {}).get("mcverify_artifacts", []))


@pytest.fixture(scope="session", autouse=True)
def _command_server():  # type: ignore[no-untyped-def]
    """Stop this process's ``mcverify`` command server (``commands.py``) at the end of the session."""
    yield
    from commands import SERVER

    SERVER.stop()


@pytest.fixture
def artifacts() -> list[str]:
    """Append a line here to have it listed at the end of the test run."""
    return ARTIFACTS


# The order in which pytest-xdist hands out the tests (``--dist worksteal``: each worker gets
# half of them in this order, and one that runs out takes the end of the other's queue): the
# long ones first, so that no worker is left running one while the other is idle at the end,
# with an exception.  Tests that import torch, JAX, TensorFlow or Dask's client in the test
# process (``lazymodules.needs``, and the documentation's pages whose Python blocks import
# them) leave native threads there, and many tests fork the test
# process (a fork of a process running such threads can deadlock the child; JAX warns as
# much; and ``mcverify.auditing.sandbox.in_child`` no longer forks once JAX is imported): they
# run after every test that forks, the long ones first again.  (A worker that steals twice may
# still meet a forking test after a threaded one: tests that need a fork-safe process check
# for one, as tests/auditing/test_sandbox_child.py does, which then runs in a fresh pytest.)
# A module with a slow test moves whole, so that its module-scoped fixtures are made once.
def _order(item, slow_modules: set[str]) -> tuple[bool, bool, bool]:  # type: ignore[no-untyped-def]
    """(starts threads, short, not a page): False sorts first."""
    page = item.callspec.params.get("page") if hasattr(item, "callspec") else None
    if item.path.name == "test_docs.py" and isinstance(page, str):
        from docexamples import starts_threads

        return starts_threads(page), False, False
    threaded = any(mark.kwargs.get("here", True) for mark in item.iter_markers("needs"))
    return threaded, str(item.path) not in slow_modules, True


def pytest_collection_modifyitems(session, config, items):  # type: ignore[no-untyped-def]
    from lazymodules import missing

    for item in items:
        for mark in item.iter_markers("needs"):
            if absent := missing(mark.args):
                item.add_marker(pytest.mark.skip(reason=f"needs {', '.join(absent)} (not installed)"))
    slow_modules = {str(item.path) for item in items if item.get_closest_marker("slow")}
    items.sort(key=lambda item: _order(item, slow_modules))  # stable: order kept otherwise
