"""Run the examples of the README and the documentation, and compare what they print.

A page's fenced blocks run in order, in one temporary folder per page that
holds links to the repository's ``configs/``, ``tests/`` and ``benchmarks/``, a
copy of ``results/validation/`` and an empty ``docs/``:

- ```` ```console ````: each ``$ COMMAND`` line runs in bash (``mcverify`` is
  this checkout's ``python -m mcverify``; a line ending in ``\\`` continues on
  the next line, as in bash; ``$?`` is the exit status of the block's previous
  command); the lines under it are what it must
  print, stdout and stderr together. A line ``...`` stands for any number of
  lines; durations (``1.5 s``) are masked. ``pip install ...`` (alone, or
  before ``&&``) is not run: the suite runs in an environment that has
  mcverify installed (the installs themselves are checked by ``.ci/run``).
- ```` ```python ````: executed; the blocks of a page share one namespace.
  After ``<!-- docs-test: file NAME -->`` it is written to NAME instead (a
  module the commands below audit or test).
- ```` ```pycon ````: ``>>>`` examples checked by :mod:`doctest` (ELLIPSIS,
  NORMALIZE_WHITESPACE), in the same namespace.
- ```` ```toml ````: parsed; after ``<!-- docs-test: file NAME -->`` it is
  also written to NAME in the page's folder, for the commands below it.
- ```` ```text ````: shown only (a picture of a progress bar, a usage line);
  it may not hold a ``$ `` command line.

A comment line ``<!-- docs-test: skip REASON -->`` right above a block keeps it
from running (the reason is required: a cluster address, the test suite itself);
``<!-- docs-test: needs MODULE [MODULE ...] -->`` right above a block runs it only
where every named module can be imported (an optional backend: ``torch``,
``jax``, ``tensorflow``); ``.ci/run`` installs them all, so there every block
runs. ``<!-- docs-test: slow -->`` anywhere in a page marks the page's test slow.

The page's folder is on ``sys.path`` while its blocks run, so a python block can
import the modules that ``file`` blocks wrote; they are forgotten
(``sys.modules``) when a block rewrites them and when the page ends.
"""

from __future__ import annotations

import doctest
import importlib.util
import os
import re
import shutil
import subprocess
import sys
import tempfile
import tomllib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from commands import SUITE_ENVIRONMENT, CommandServer

ROOT = Path(__file__).resolve().parents[1]
#: The pages whose examples run: the README and the site's pages (docs/sections/ holds fragments).
PAGES = [
    "README.md",
    *sorted(
        str(p.relative_to(ROOT)) for p in (ROOT / "docs").rglob("*.md") if "sections" not in p.relative_to(ROOT).parts
    ),
]
KINDS = ("console", "python", "pycon", "toml", "text")

_FENCE = re.compile(r"^```(\w*)[^\n]*\n(.*?)^```\s*$", re.M | re.S)
_DIRECTIVE = re.compile(r"<!-- docs-test: (skip|slow|file|needs)(?: (.+?))? -->\s*$")
_DURATION = re.compile(r"\b\d+(?:\.\d+)? ?s\b(?: \(\d+:\d\d:\d\d\))?")  # pytest adds "(0:01:03)" past a minute
_PIP = re.compile(r"^pip install [^&]*&&\s*")


@dataclass(frozen=True)
class Block:
    """One fenced block of a page: its kind, text, first line number and directives."""

    page: str
    line: int
    kind: str
    text: str
    skip: str | None = None
    file: str | None = None
    needs: tuple[str, ...] = ()
    offset: int = -1  # where ``text`` starts in the page

    def missing(self) -> list[str]:
        """The modules this block needs that cannot be imported here."""
        return [m for m in self.needs if importlib.util.find_spec(m) is None]


def blocks(page: str) -> list[Block]:
    """Every fenced block of ``page`` (relative to the repository), with the directive above it."""
    text = (ROOT / page).read_text(encoding="utf-8")
    out = []
    for m in _FENCE.finditer(text):
        before = text[: m.start()].rstrip("\n").rsplit("\n", 1)[-1]
        d = _DIRECTIVE.search(before)
        kind, arg = (d.group(1), d.group(2)) if d else (None, None)
        if kind == "skip" and not arg:
            raise AssertionError(f"{page}: a skipped block needs a reason")
        if kind == "needs" and not arg:
            raise AssertionError(f"{page}: a 'needs' directive names the modules a block needs")
        out.append(
            Block(
                page=page,
                line=text.count("\n", 0, m.start()) + 1,
                kind=m.group(1),
                text=m.group(2),
                skip=arg if kind == "skip" else None,
                file=arg if kind == "file" else None,
                needs=tuple(arg.split()) if kind == "needs" and arg else (),
                offset=m.start(2),
            )
        )
    return out


#: Libraries that start threads when imported or used (a fork of the test process could then deadlock).
THREADED = ("torch", "jax", "tensorflow", "tensorflow_probability", "numpyro", "distributed", "dask")


def starts_threads(page: str) -> bool:
    """Whether a Python block of ``page`` (run in the test process) imports a library that starts threads."""
    return any(
        re.search(rf"^\s*(?:>>> )?(?:from|import) ({'|'.join(THREADED)})\b", b.text, re.M)
        or any(m.split(".")[0] in THREADED for m in b.needs)  # through a module the page wrote, or audit(backend=)
        for b in blocks(page)
        if b.kind in ("python", "pycon") and not b.file
    )


def commands(block: Block) -> list[tuple[str, list[str]]]:
    """A console block as (command, expected output lines) pairs."""
    out: list[tuple[str, list[str]]] = []
    for line in block.text.splitlines():
        if line.startswith("$ "):
            out.append((line[2:], []))
        elif out and not out[-1][1] and out[-1][0].endswith("\\"):  # a command continued on the next line
            out[-1] = (out[-1][0] + "\n" + line, [])
        elif out:
            out[-1][1].append(line)
        elif line.strip():
            raise AssertionError(f"{block.page}:{block.line}: a console block starts with a '$ ' line")
    return out


def _normal(text: str) -> str:
    return _DURATION.sub("N s", text.rstrip())  # "1.5 s", and pytest's "0.52s"


def matches(expected: list[str], actual: str) -> bool:
    """Whether ``actual`` is ``expected`` line by line, ``...`` lines matching any lines, durations masked."""
    pattern = "".join(r"(?:[^\n]*\n)*?" if e.strip() == "..." else re.escape(_normal(e)) + r"\n" for e in expected)
    return re.fullmatch(pattern, _normal(actual) + "\n" if actual.strip() else "") is not None


def workdir(tmp: Path) -> Path:
    """A page's folder: links to configs/, tests/, benchmarks/; a copy of results/validation/; an empty docs/."""
    for name in ("configs", "tests", "benchmarks"):
        (tmp / name).symlink_to(ROOT / name, target_is_directory=True)
    shutil.copytree(ROOT / "results" / "validation", tmp / "results" / "validation")
    (tmp / "docs").mkdir()
    bin_dir = tmp / ".bin"
    bin_dir.mkdir()
    shim = bin_dir / "mcverify"
    shim.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m mcverify "$@"\n')
    shim.chmod(0o755)
    return tmp


def environment(tmp: Path) -> dict[str, str]:
    # The suite's, as a reader's shell keeps its own while Python runs the page's blocks: not what
    # a block's or an earlier test's imports wrote into os.environ (JAX's TF_CPP_MIN_LOG_LEVEL).
    env = dict(SUITE_ENVIRONMENT)
    env.update(
        PATH=f"{tmp / '.bin'}{os.pathsep}{env.get('PATH', '')}",
        PYTHONPATH=str(ROOT),
        MPLBACKEND="Agg",
        COLUMNS="200",
        OMP_NUM_THREADS="1",
        OPENBLAS_NUM_THREADS="1",
        # The shipped tables and the outputs shown were computed without AVX-512
        # (see the guarantees: the last bit of exp, log and BLAS sums follows the CPU).
        NPY_DISABLE_CPU_FEATURES="X86_V4 AVX512_ICL",
        OPENBLAS_CORETYPE="Haswell",
    )
    env.pop("CI", None)  # the commands' output must not depend on the test runner
    return env


def run_console(block: Block, tmp: Path) -> list[str]:
    """Run a console block's commands; the mismatches, as messages."""
    problems = []
    status = 0
    for command, expected in commands(block):
        printed, status = _printed(command, tmp, status)
        if printed is None:
            continue  # pip install: the environment is installed already; .ci/run checks the installs
        if not matches(expected, printed):
            problems.append(
                f"{block.page}:{block.line}: $ {command}\n--- shown\n"
                + "\n".join(expected)
                + f"\n--- printed\n{printed}"
            )
    return problems


def run_python(block: Block, namespace: dict[str, Any], tmp: Path) -> list[str]:
    """Execute a python block, or check a pycon block with doctest, in ``namespace``; the failures."""
    if block.kind == "python":
        code = compile(block.text, f"{block.page}:{block.line}", "exec")
        exec(code, namespace)
        return []
    test = doctest.DocTestParser().get_doctest(block.text, namespace, block.page, block.page, block.line)
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    report: list[str] = []
    runner.run(test, out=report.append, clear_globs=False)
    namespace.update(test.globs)  # DocTest works on a copy; later blocks see its names
    return report if runner.failures else []


def run_toml(block: Block, tmp: Path) -> None:
    tomllib.loads(block.text)  # a config shown must at least be TOML
    write_file(block, tmp)


def write_file(block: Block, tmp: Path) -> None:
    """A block under ``<!-- docs-test: file NAME -->``: written to NAME (a python one is compiled, not run)."""
    if block.kind == "python":
        compile(block.text, f"{block.page}:{block.line}", "exec")
    if block.file:
        (tmp / block.file).write_text(block.text, encoding="utf-8")
        _forget_modules(tmp)


def _forget_modules(tmp: Path) -> None:
    """Drop the modules imported from the page's folder, so that the next import reads the files anew."""
    for name, module in list(sys.modules.items()):
        origin = getattr(module, "__file__", None)
        if origin and Path(origin).resolve().is_relative_to(tmp.resolve()):
            del sys.modules[name]
    importlib.invalidate_caches()


@contextmanager
def command_server(tmp: Path, modules: tuple[str, ...] = ()) -> Iterator[None]:
    """The page's ``mcverify`` as forks of one server that has imported what the commands import (``docserver.py``).

    Each command is still a process of its own, with the page's folder, environment and
    streams; it only skips the interpreter's start-up and the imports (a second or two a
    command; ``modules``, such as :func:`shared_modules`, besides).  The server starts
    with the page's first command.
    """
    _SERVERS[tmp] = CommandServer(environment(tmp), tmp, modules)
    try:
        yield
    finally:
        _SERVERS.pop(tmp).stop()


def shared_modules(page: str) -> tuple[str, ...]:
    """The heavy libraries of ``page``'s commands that its server imports once for all of them.

    PyTorch (two seconds an import) where the page names it and it is installed.
    TensorFlow and JAX start threads when imported, which a fork must not copy
    (``docserver.serve`` would decline): their commands import them afresh.
    """
    text = (ROOT / page).read_text(encoding="utf-8")
    return tuple(m for m in ("torch",) if re.search(rf"\b{m}\b", text) and importlib.util.find_spec(m))


#: The page folders whose ``mcverify`` is a server's (started with the page's first command).
_SERVERS: dict[Path, CommandServer] = {}


@contextmanager
def page_imports(tmp: Path) -> Iterator[None]:
    """The page's folder on ``sys.path`` while its blocks run; its modules forgotten afterwards."""
    sys.path.insert(0, str(tmp))
    try:
        yield
    finally:
        sys.path.remove(str(tmp))
        _forget_modules(tmp)


def update(page: str) -> int:
    """Rewrite the shown output of ``page``'s console commands with what they print now.

    Outputs that hold a ``...`` line are left alone and reported (edit them by
    hand). Review the diff: this is for outputs that changed for a reason.
    Blocks whose ``needs`` cannot be imported are left alone. Returns the number
    of outputs left alone that differ.
    """
    text = (ROOT / page).read_text(encoding="utf-8")
    left = 0
    edits: list[tuple[Block, str]] = []
    with tempfile.TemporaryDirectory() as t:
        tmp = workdir(Path(t))
        cwd = os.getcwd()
        os.chdir(tmp)
        namespace: dict[str, Any] = {"__name__": "__docs__"}
        try:
            with page_imports(tmp), command_server(tmp, shared_modules(page)):
                for block in blocks(page):
                    if block.skip or block.missing():
                        continue
                    if block.kind == "toml":
                        run_toml(block, tmp)
                    elif block.kind == "python" and block.file:
                        write_file(block, tmp)
                    elif block.kind in ("python", "pycon"):
                        for problem in run_python(block, namespace, tmp):
                            left += 1
                            print(f"{page}:{block.line}: edit by hand:\n{problem}")
                    elif block.kind == "console":
                        new = []
                        status = 0
                        for command, expected in commands(block):
                            printed, status = _printed(command, tmp, status)
                            if any(e.strip() == "..." for e in expected):
                                if printed is not None and not matches(expected, printed):
                                    left += 1
                                    print(f"{page}:{block.line}: $ {command}: differs; edit by hand:\n{printed}")
                                new.append("$ " + command + "\n" + "".join(e + "\n" for e in expected))
                            else:
                                new.append(
                                    "$ "
                                    + command
                                    + "\n"
                                    + (
                                        ""
                                        if printed is None
                                        else printed.rstrip("\n") + "\n"
                                        if printed.strip()
                                        else ""
                                    )
                                )
                        edits.append((block, "".join(new)))
        finally:
            os.chdir(cwd)
    for block, new_text in reversed(edits):  # each block in its place, even where two blocks' texts coincide
        text = text[: block.offset] + new_text + text[block.offset + len(block.text) :]
    (ROOT / page).write_text(text, encoding="utf-8")
    return left


def _printed(command: str, tmp: Path, status: int = 0) -> tuple[str | None, int]:
    """What ``command`` prints, and its exit status; ``$?`` in it is ``status``, the previous command's."""
    if re.match(r"pip install [^&]*$", command):
        return None, 0
    server = _SERVERS.get(tmp)
    if server is not None and not server.started:  # the page's mcverify becomes the server's client
        client = " ".join(f'"{arg}"' if "/" in arg else arg for arg in server.client())
        (tmp / ".bin" / "mcverify").write_text(f'#!/bin/sh\nexec {client} "$@"\n')
        # and so does its `python -m pytest` (3-4 s -> 0.5 s with torch); any other python is itself
        pytest = client.replace(" call ", " run-module ", 1) + " pytest"
        python = tmp / ".bin" / "python"
        python.write_text(
            f'#!/bin/sh\nif [ "$1" = -m ] && [ "$2" = pytest ]; then shift 2; exec {pytest} "$@"; fi\n'
            f'exec "{sys.executable}" "$@"\n'
        )
        python.chmod(0o755)
    proc = subprocess.run(
        ["bash", "-c", f"{{ (exit {status}); " + _PIP.sub("", command) + "\n} 2>&1"],
        cwd=tmp,
        capture_output=True,
        text=True,
        env=environment(tmp),
        timeout=600,
    )
    return proc.stdout, proc.returncode


if __name__ == "__main__":  # python tests/docexamples.py --update PAGE ...
    import argparse

    sys.path.insert(0, str(ROOT))
    os.environ["MPLBACKEND"] = "Agg"
    parser = argparse.ArgumentParser(description="Rewrite the shown outputs of console examples with what they print.")
    parser.add_argument("--update", nargs="+", metavar="PAGE", required=True)
    sys.exit(1 if sum(update(p) for p in parser.parse_args().update) else 0)
