"""``mcverify --help``, every ``mcverify COMMAND --help``, ``mcverify`` alone and usage errors import
nothing heavy: the parsers are built from light modules, and each command imports its
implementation when it runs (issue 15; the time is measured by ``benchmarks/run.py --only startup``,
not asserted here).

Each case runs as the command does, ``python -m mcverify ...`` in a fresh interpreter (through
:mod:`runpy`, as ``-m`` does), which writes ``sys.modules`` at its exit.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.cli.test_help import COMMANDS

ROOT = Path(__file__).resolve().parents[2]

#: Libraries that neither help nor a usage error needs: numpy (0.1-0.2 s) and what stands on it.
HEAVY_LIBRARIES = (
    "numpy",
    "scipy",
    "pandas",
    "matplotlib",
    "pyarrow",
    "dask",
    "tqdm",
    "tabulate",
    "jinja2",
    "mpmath",
    "torch",
    "jax",
    "tensorflow",
)
#: mcverify's implementations of the commands (each imports numpy, scipy or pandas): imported
#: only by the function that runs a command. A name covers its submodules.
HEAVY_MCVERIFY = (
    "mcverify.numerics",
    "mcverify.stats",
    "mcverify.quadrature",
    "mcverify.engine",
    "mcverify.studies",
    "mcverify.reporting",
    "mcverify.auditing.auditor",
    "mcverify.auditing.conventions",
    "mcverify.auditing.backends",
    "mcverify.config.loader",
    "mcverify.sampling.estimators",
    "mcverify.tables.writers",
    "mcverify.tables.readers",
    "mcverify.tables.result_files",
)

HELP = [["--help"], ["--version"], *([name, "--help"] for name in sorted(COMMANDS))]
USAGE_ERRORS = [
    [],  # `mcverify` alone: its help on stderr, exit 2
    ["nope"],  # no such command
    ["run"],  # CONFIG missing
    ["run", "cfg.toml", "--samples", "0"],
    ["run", "cfg.toml", "--method", "nope"],
    ["calibrate", "cfg.toml", "--method", "mc,nope"],
    ["converge", "cfg.toml", "--min-samples", "1000"],
    ["audit", "--convention", "nope", "--expr", "mean"],
    ["audit", "--expr", "mean", "--convention", "prior-std", "--dtype", "float8"],
    ["report"],
]


#: ``python -m mcverify ARGS`` (runpy, as ``-m`` runs it) that writes, at exit, every module it imported.
_AS_COMMAND = (
    "import atexit, os, runpy, sys\n"
    "def dump():\n"
    "    with open(os.environ['MCVERIFY_TEST_MODULES'], 'w') as fh:\n"
    "        fh.write('\\n'.join(sorted(sys.modules)))\n"
    "atexit.register(dump)\n"
    "runpy.run_module('mcverify', run_name='__main__', alter_sys=True)\n"
)


def _run(args: list[str], tmp_path: Path) -> tuple[subprocess.CompletedProcess[str], set[str]]:
    """The process and the modules it imported (``sys.modules`` at its exit)."""
    modules = tmp_path / "modules.txt"
    env = dict(os.environ, PYTHONPATH=str(ROOT), MCVERIFY_TEST_MODULES=str(modules))
    done = subprocess.run(
        [sys.executable, "-c", _AS_COMMAND, *args], capture_output=True, text=True, env=env, timeout=120
    )
    return done, set(modules.read_text().splitlines())


def _heavy(imported: set[str]) -> list[str]:
    heavy = [(lib, lib + ".") for lib in (*HEAVY_LIBRARIES, *HEAVY_MCVERIFY)]
    return sorted(m for m in imported if any(m == name or m.startswith(prefix) for name, prefix in heavy))


@pytest.mark.parametrize("args", HELP, ids=" ".join)
def test_help_imports_nothing_heavy(args, tmp_path):
    done, imported = _run(args, tmp_path)
    err = done.stderr
    assert (done.returncode, err) == (0, ""), err
    assert done.stdout.startswith("usage: mcverify" if args != ["--version"] else "mcverify ")
    assert "mcverify.cli.main" in imported  # the parsers were built in this process
    assert _heavy(imported) == []


@pytest.mark.parametrize("args", USAGE_ERRORS, ids=lambda a: " ".join(a) or "(no arguments)")
def test_usage_errors_import_nothing_heavy(args, tmp_path):
    done, imported = _run(args, tmp_path)  # cfg.toml does not exist: the arguments are refused before it is read
    err = done.stderr
    assert done.returncode == 2, err
    if args:
        assert err.startswith("mcverify: error: ") and len(err.splitlines()) == 1, err
    else:
        assert err.startswith("usage: mcverify"), err
    assert done.stdout == ""
    assert "mcverify.cli.main" in imported
    assert _heavy(imported) == []


def test_a_command_that_runs_imports_its_implementation(tmp_path):
    """The other side: the check above sees heavy modules when a command does import them."""
    done, imported = _run(
        ["audit", "--expr", "0.5 * (std**2 + mean**2 - 1 - log(std**2))", "-c", "prior-std"], tmp_path
    )
    assert done.returncode == 0, done.stderr
    assert {"numpy", "mcverify.auditing.auditor"} <= set(_heavy(imported))
