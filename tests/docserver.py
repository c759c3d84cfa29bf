"""A fork server for ``mcverify`` commands: the documentation's examples and the CLI tests (``commands.py``).

Each ``$ mcverify ...`` line of a page used to start a fresh interpreter,
which spends a second or two importing numpy, scipy and pandas before the
command does anything.  Here one server per page imports them once, under the
page's environment; each command is then a fork of it, a process of its own:

- ``python tests/docserver.py serve SOCKET [MODULE...]``: import
  :mod:`mcverify.cli.main` and what the commands import when they run
  (:data:`PRELOAD`: mcverify's implementation, with numpy, pandas and scipy;
  the libraries ``audit`` imports before the target's (``_PRELOADED`` of
  :mod:`mcverify.cli.audit`, scipy.stats among them); matplotlib's figure and
  Agg canvas, not pyplot), and the ``MODULE``\\s named (such as
  ``torch``), listen on the Unix socket ``SOCKET``, and for each command fork a process
  that takes the caller's standard streams (the file descriptors themselves,
  passed over the socket), folder, environment and arguments, and runs
  ``python -m mcverify`` there (:func:`runpy._run_module_as_main`, what ``-m``
  calls), and leaving as the interpreter would (:func:`_leave`: threads
  joined, atexit, flushes, exit code).  Nothing it runs sees the server's state: each command starts
  from the server's fresh imports.
- ``python tests/docserver.py call SOCKET ARG...`` (the page's ``mcverify``):
  hand the call to the server, wait, and exit with the command's status (or
  die by its signal).  ``run-module SOCKET MODULE ARG...`` runs another module:
  a page's ``python -m pytest`` (its mcverify, the plugin pytest loads, imported
  anew in the fork: :func:`_forget_pytest_plugins`), and the probe with which the
  tests of this file compare a process's view of itself, forked and fresh.

A command runs as a fresh ``python -m mcverify`` instead (the caller
``exec``\\s it) whenever the fork could differ from one: the server is not up,
a standard stream is a terminal, or the environment differs from the server's
in anything but the variables the shell sets (``PWD``, ``OLDPWD``, ``SHLVL``,
``_``) and ``PATH`` (numpy, OpenBLAS and Python read theirs at start-up:
``NPY_DISABLE_CPU_FEATURES``, ``OPENBLAS_CORETYPE``, ``PYTHONHASHSEED``...).
Output is byte for byte what the process prints: the same streams, the same
buffering (stdout a pipe, block-buffered), the same interleaving of stdout and
stderr.  What a fork cannot show is start-up itself (Ctrl-C while numpy
imports); such examples belong in the tests of ``mcverify/__main__.py``.
"""

from __future__ import annotations

import gc
import io
import json
import os
import signal
import socket
import sys
import threading

#: Variables the shell sets or that Python reads only at run time: they may differ from the server's.
#: PS1 and PS2 among them: a non-interactive bash unsets them, so a prompt exported by a
#: virtual environment's ``activate`` reaches the server but not the page's commands.
#: PYTEST_CURRENT_TEST: pytest sets it for each test (tests/commands.py); DOCSERVER_RUNTIME: see :func:`call`.
_RUNTIME_ONLY = frozenset(
    {"PWD", "OLDPWD", "SHLVL", "_", "PATH", "PS1", "PS2", "PYTEST_CURRENT_TEST", "DOCSERVER_RUNTIME"}
)
_LIMIT = 1 << 20  # bytes of one request (arguments and environment)


def _comparable(env: dict[str, str], runtime: frozenset[str] = frozenset()) -> dict[str, str]:
    return {k: v for k, v in env.items() if k not in _RUNTIME_ONLY and k not in runtime}


def call(path: str, args: list[str], module: str = "mcverify") -> None:
    """The page's ``mcverify``: run ``args`` in a fork of the server, or as a fresh interpreter; never returns.

    ``module`` is what runs (``python -m module``): the tests of this file run a probe.
    ``DOCSERVER_RUNTIME`` in the environment names (comma-separated) further variables
    that only the command's run reads, never start-up (a test's own switches): they
    may differ from the server's.
    """
    fresh = [sys.executable, "-m", module, *args]
    if any(os.isatty(fd) for fd in (0, 1, 2)):
        os.execv(sys.executable, fresh)
    request = json.dumps({"module": module, "args": args, "cwd": os.getcwd(), "env": dict(os.environ)}).encode()
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    try:
        sock.connect(path)
        socket.send_fds(sock, [request], [0, 1, 2])
    except OSError:  # no server (it has not started, or would not fork): nothing ran yet
        os.execv(sys.executable, fresh)
    reply = json.loads(sock.recv(4096) or b"{}")
    if "fresh" in reply:  # the server declined before forking
        os.execv(sys.executable, fresh)
    if "signal" in reply:  # die as the command died, so that the shell sees the same status
        signal.signal(reply["signal"], signal.SIG_DFL)
        os.kill(os.getpid(), reply["signal"])
    if "status" not in reply:
        sys.exit(f"docserver: the server lost the command mcverify {' '.join(args)}")
    sys.exit(reply["status"])


#: What the commands import when they run (the command line itself imports none of it): the
#: second or so each fresh ``mcverify`` spends before it does anything.  :func:`serve` also
#: imports the libraries ``audit`` imports before the target (``mcverify.cli.audit._PRELOADED``,
#: scipy.stats among them: 0.5 s); ``report`` draws on matplotlib's Figure and Agg canvas (0.3 s;
#: pyplot is never imported).
PRELOAD = (
    "mcverify.cli.main",
    "mcverify.config.loader",
    "mcverify.engine.pipeline",
    "mcverify.engine.parallel",
    "mcverify.auditing.auditor",
    "mcverify.auditing.evidence",
    "mcverify.tables.readers",
    "mcverify.reporting.publish",
    "matplotlib.figure",
    "matplotlib.backends.backend_agg",
)


def serve(path: str, modules: list[str] | tuple[str, ...] = ()) -> None:
    """Import :data:`PRELOAD` and ``modules`` once, then fork a command for each request on the socket ``path``."""
    import importlib

    before = dict(os.environ)
    for name in (*PRELOAD, *modules):
        importlib.import_module(name)
    for name in importlib.import_module("mcverify.cli.audit")._PRELOADED:
        importlib.import_module(name)

    # What the imports did to the environment (threadpoolctl sets KMP_DUPLICATE_LIB_OK), done again in each command.
    imported = {k: v for k, v in os.environ.items() if before.get(k) != v}

    threads = _threads()
    if threads:  # a fork of a threaded process may deadlock: callers find no server and run fresh
        sys.exit(f"docserver: threads {', '.join(threads)} after the imports; not forking")
    startup = _comparable(before)
    # The imports' objects move to the collector's permanent generation: a command's collections
    # no longer walk (and so copy, page by page) the server's whole heap. 0.57 -> 0.23 s a
    # `mcverify --version`; 41 -> 14 s of CPU for tests/cli/test_cli_audit.py.
    gc.freeze()
    server = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    server.bind(path + ".new")
    server.listen(16)
    os.rename(path + ".new", path)  # callers see the socket only when it listens
    sys.stdout.write("ready\n")
    sys.stdout.flush()
    while True:
        conn, _ = server.accept()
        data, fds, _flags, _addr = socket.recv_fds(conn, _LIMIT, 3)
        request = json.loads(data)
        runtime = frozenset(request["env"].get("DOCSERVER_RUNTIME", "").split(","))
        # A variable the imports set (KMP_DUPLICATE_LIB_OK) is one a fresh command sets too: the
        # caller may hold it already (its own process imported threadpoolctl) or not, but not otherwise.
        env = _comparable({**request["env"], **imported}, runtime)
        expected = _comparable({**startup, **imported}, runtime)
        differ = sorted(k for k, v in imported.items() if request["env"].get(k, v) != v) or sorted(
            k for k in env.keys() | expected.keys() if env.get(k) != expected.get(k)
        )
        if len(fds) != 3 or differ:
            conn.send(json.dumps({"fresh": f"environment: {', '.join(differ)}"}).encode())
        elif os.fork() == 0:  # a waiter, so that the server takes the next request (a pipeline) at once
            server.close()
            _wait_for_command(conn, fds, {**request, "env": {**request["env"], **imported}})
        for fd in fds:
            os.close(fd)
        conn.close()
        _reap()


def _threads() -> list[str]:
    """The threads besides this one, but jemalloc's (pyarrow's allocator, which pandas imports).

    jemalloc quiesces its background thread around a fork (``pthread_atfork``) and a
    child starts without it; any other thread (BLAS's pool without
    ``OPENBLAS_NUM_THREADS=1``, a monitor) makes the server decline.
    """
    if not os.path.isdir("/proc/self/task"):
        return ["(unknown: no /proc)"]
    names = []
    for task in os.listdir("/proc/self/task"):
        if int(task) != threading.get_native_id():
            with open(f"/proc/self/task/{task}/comm") as f:
                names.append(f.read().strip())
    return [n for n in names if n != "jemalloc_bg_thd"]


def _reap() -> None:
    try:
        while os.waitpid(-1, os.WNOHANG)[0]:
            pass
    except ChildProcessError:
        pass


def _wait_for_command(conn: socket.socket, fds: list[int], request: dict) -> None:
    """In the waiter: fork the command, wait for it, send its status; never returns.

    The command leaves by :func:`_leave` (an exception other than SystemExit, up
    through the server's frames, none of which catches it, to the interpreter's
    own shutdown: a traceback, or Ctrl-C's death by SIGINT).
    """
    pid = os.fork()
    if pid == 0:
        conn.close()
        _become_command(fds, request)
    try:
        _, status = os.waitpid(pid, 0)
        if os.WIFSIGNALED(status):
            reply = {"signal": os.WTERMSIG(status)}
        else:
            reply = {"status": os.waitstatus_to_exitcode(status)}
        conn.send(json.dumps(reply).encode())
    finally:
        os._exit(0)


def _become_command(fds: list[int], request: dict) -> None:
    """Turn this fork into ``python -m MODULE ARGS`` started by the caller; never returns."""
    import importlib
    import runpy
    import types

    for target, fd in enumerate(fds):
        os.dup2(fd, target)
        os.close(fd)
    # The standard streams anew, as the interpreter makes them at start-up for these descriptors
    # (pylifecycle.c, create_stdio): seekable or not, line-buffered on a terminal and stderr, or
    # unbuffered (-u, PYTHONUNBUFFERED: the same for the server and the command, as the environments are).
    unbuffered = sys.stdout.write_through
    for fd, name in enumerate(("stdin", "stdout", "stderr")):
        old = getattr(sys, name)
        writing = fd > 0
        buffer = open(fd, "wb" if writing else "rb", buffering=0 if unbuffered and writing else -1, closefd=False)
        raw = buffer if isinstance(buffer, io.FileIO) else buffer.raw
        raw.name = f"<{name}>"
        stream = io.TextIOWrapper(
            buffer,
            encoding=old.encoding,
            errors=old.errors,
            newline="\n",
            line_buffering=not unbuffered and (raw.isatty() or fd == 2),
            write_through=unbuffered,
        )
        stream.mode = "r" if fd == 0 else "w"
        setattr(sys, name, stream)
        setattr(sys, f"__{name}__", stream)
    os.chdir(request["cwd"])
    os.environ.clear()
    os.environ.update(request["env"])
    sys.argv = ["-m", *request["args"]]  # as python -m sets it, until runpy names the module's file
    sys.path[0] = os.getcwd()  # python -m puts the current folder first, not this file's
    importlib.invalidate_caches()
    sys.modules["__main__"] = types.ModuleType("__main__")
    if request["module"] == "pytest":
        _forget_pytest_plugins()
    try:
        runpy._run_module_as_main(request["module"], alter_argv=True)  # type: ignore[attr-defined]
    except SystemExit as exc:
        _leave(exc.code)
    _leave(0)


def _forget_pytest_plugins() -> None:
    """Forget the imported packages that pytest loads as plugins (``pytest11`` entry points: mcverify's).

    pytest rewrites the asserts of its plugins' packages, which it must import itself: a fresh
    ``python -m pytest`` imports mcverify after pytest starts, and in a fork that had it imported
    already pytest would warn ("Module already imported so cannot be rewritten; mcverify").  The
    command imports them anew, as a fresh one does; numpy, scipy, pandas and the libraries the
    server preloaded stay imported.
    """
    from importlib.metadata import entry_points

    packages = {ep.value.split(":")[0].split(".")[0] for ep in entry_points(group="pytest11")} - {"pytest", "_pytest"}
    for name in [m for m in sys.modules if m.split(".")[0] in packages]:
        del sys.modules[name]


def _leave(code: object) -> None:
    """End the command as ``Py_FinalizeEx`` would, up to its module teardown, then ``os._exit``; never returns.

    What a command can observe of the interpreter's shutdown: ``SystemExit``'s
    code (None is 0, an integer is the status, anything else is printed to
    standard error and is 1), non-daemon threads joined, atexit functions run,
    the standard streams flushed.  The teardown after that (every module's
    objects released) would touch the server's whole heap, copying it page
    by page: ~0.1 s a command for nothing a command could see, as
    multiprocessing's forked workers also end.  A flush that fails
    (``BrokenPipeError``) leaves by the interpreter's own shutdown instead,
    which reports it and exits 120.
    """
    import atexit

    if code is None:
        status = 0
    elif isinstance(code, int):
        status = code & 0xFF
    else:
        print(code, file=sys.stderr)
        status = 1
    threading._shutdown()  # type: ignore[attr-defined]
    atexit._run_exitfuncs()
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except BaseException:
        raise SystemExit(status) from None
    os._exit(status)


if __name__ == "__main__":
    if sys.argv[1] == "serve":
        serve(sys.argv[2], sys.argv[3:])
    elif sys.argv[1] == "call":
        call(sys.argv[2], sys.argv[3:])
    else:  # run-module SOCKET MODULE ARG...
        call(sys.argv[2], sys.argv[4:], module=sys.argv[3])
