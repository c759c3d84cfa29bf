"""``mcverify`` as the tests run it: ``python -m mcverify ARGS``, a process of its own.

Each call is a process with the test's folder, environment, standard streams
and arguments, whose exit status (or death by a signal) is the test's to
check, as a user's shell would see it.  It is forked from a server that has
imported what the commands import (``docserver.py``, which the documentation's
examples use too), so that it skips the second or so a fresh interpreter spends
importing numpy, scipy and pandas; it runs as a fresh interpreter instead when
its environment differs from the server's in anything Python or a library
reads at start-up.  One server per test process, started by the first call and
stopped at the end of the session (``conftest.py``).

Tests about start-up itself, signals sent to the command, or limits set on the
process (``test_startup.py``, ``test_kill.py``, the attack corpus) start
``python -m mcverify`` themselves.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
_DOCSERVER = Path(__file__).resolve().parent / "docserver.py"


#: The suite's environment as the test process found it (collection imports this module), as a
#: user's shell keeps it: what libraries imported by tests write into ``os.environ`` later
#: (TensorFlow's and JAX's TF_CPP_MIN_LOG_LEVEL, TPU_SKIP_MDS_QUERY) is not the commands'.
#: It also kept every command after them from the server (another environment: a fresh
#: interpreter each): tests/cli/test_cli_audit.py took 86 s in the suite, 14 s alone.
SUITE_ENVIRONMENT = dict(os.environ)


def environment(**extra: str) -> dict[str, str]:
    """The commands' environment: the suite's, with this checkout first on the path and one BLAS thread.

    One BLAS and OpenMP thread: mcverify's numbers do not depend on it (it runs
    its own matrix work on one thread: ``mcverify/numerics/blas.py``), and a
    process with a BLAS thread pool could not fork the commands.
    """
    return dict(SUITE_ENVIRONMENT, PYTHONPATH=str(ROOT), OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1", **extra)


class CommandServer:
    """A ``docserver.py`` server, started on first use, for commands run in ``cwd`` with environment ``env``.

    ``modules`` are imported by the server besides :data:`docserver.PRELOAD`.
    If the server gives up (see ``docserver.serve``), :meth:`client` still
    works: the commands find no server and run as fresh processes.
    """

    def __init__(self, env: Mapping[str, str], cwd: str | os.PathLike[str], modules: tuple[str, ...] = ()) -> None:
        self.env, self.cwd, self.modules = dict(env), cwd, modules
        self.proc: subprocess.Popen[str] | None = None
        self.folder = ""

    @property
    def started(self) -> bool:
        return self.proc is not None

    def client(self) -> list[str]:
        """The command that hands a call to the server; starts it, and waits until it listens, on first use."""
        if self.proc is None:
            self.folder = tempfile.mkdtemp(prefix="mcv-")  # short: a socket's path has at most 107 bytes
            self.proc = subprocess.Popen(
                [sys.executable, str(_DOCSERVER), "serve", self._socket(), *self.modules],
                cwd=self.cwd,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                text=True,
            )
            assert self.proc.stdout is not None
            self.proc.stdout.readline()  # "ready", or nothing if it gave up
        return [sys.executable, "-I", "-S", str(_DOCSERVER), "call", self._socket()]

    def _socket(self) -> str:
        return os.path.join(self.folder, "socket")

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait()
            assert self.proc.stdout is not None
            self.proc.stdout.close()
            shutil.rmtree(self.folder, ignore_errors=True)
            self.proc = None


#: This test process's server for :func:`mcverify` (the suite's environment as collection found it).
SERVER = CommandServer(environment(), ROOT)


def mcverify(
    *args: str | bytes | os.PathLike[str],
    cwd: str | os.PathLike[str] | None = None,
    env: Mapping[str, str] | None = None,
    runtime_env: Mapping[str, str] | None = None,
    timeout: float = 300,
    text: bool = True,
    **kwargs: Any,
) -> subprocess.CompletedProcess[Any]:
    """Run ``python -m mcverify ARGS`` and capture its output.

    Parameters
    ----------
    env : mapping, optional
        The whole environment (default :func:`environment`).  A call whose
        environment differs from the server's runs as a fresh interpreter.
    runtime_env : mapping, optional
        Variables added to the environment that only the command's run reads
        (a test candidate's switches): they do not keep the call from the server.
    kwargs
        Passed to :func:`subprocess.run` (``input``, ``stdout``...); output is
        captured unless ``stdout`` or ``stderr`` is given.
    """
    full = dict(environment() if env is None else env)
    if runtime_env:
        full.update(runtime_env, DOCSERVER_RUNTIME=",".join(runtime_env))
    if "stdout" not in kwargs and "stderr" not in kwargs:
        kwargs["capture_output"] = True
    return subprocess.run([*SERVER.client(), *args], cwd=cwd, env=full, timeout=timeout, text=text, **kwargs)
