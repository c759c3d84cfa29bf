"""The architecture, checked: import contracts, lazy imports, the layer map and the layer rules.

- the contracts in ``.importlinter`` hold (``lint-imports`` on this checkout);
- an import inside a function is kept for optional or slow libraries, never
  used to hide an import of mcverify (or of anything else) from the contracts
  and the reader; the one exception is the command line, whose functions that
  run a command import mcverify's implementation of it (see
  :data:`LAZY_IMPLEMENTATIONS`);
- CONTRIBUTING.md's "Architecture" map names exactly the subpackages that
  exist, in the order of the layers contract;
- every subpackage's ``__init__.py`` states its layer rule.
"""

from __future__ import annotations

import ast
import configparser
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "mcverify"
CONTRACTS = ROOT / ".importlinter"
CONTRIBUTING = ROOT / "CONTRIBUTING.md"

#: Libraries a function may import lazily: optional extras and backends, and
#: modules slow to import that most commands never need.  A name covers its
#: submodules (``matplotlib`` covers ``matplotlib.pyplot``).
LAZY_IMPORTS_ALLOWED = frozenset(
    {
        # optional backends of the audit
        "torch",
        "jax",
        "jaxlib",
        "ml_dtypes",  # bfloat16 for numpy arrays (installed with jax)
        "tensorflow",
        "tensorflow_probability",
        "numpyro",
        # optional extras: plots, Dask, Parquet, progress, Markdown, LaTeX, images
        "matplotlib",
        "dask",
        "distributed",
        "pyarrow",
        "tqdm",
        "tabulate",
        "jinja2",
        "PIL",
        # slow to import, or needed by few commands
        "mpmath",
        "scipy.stats",
        "pandas",
        "threadpoolctl",
        "ctypes",
        # loading a user's file
        "importlib",
    }
)

#: The command line (``mcverify/cli/``): the function that runs a command imports the
#: mcverify modules that implement it (the engine, the audit, the studies, the reports: numpy,
#: scipy and pandas behind them), so that building the parsers, for ``mcverify --help`` or a
#: usage error, imports only light modules (tests/cli/test_startup.py).  import-linter sees
#: these imports, so the layers contract still holds them; the command line's own modules are
#: still imported at the top.
LAZY_IMPLEMENTATIONS = ("cli",)

SUBPACKAGES = sorted(p.parent.name for p in PACKAGE.glob("*/__init__.py"))


def _layers() -> list[list[str]]:
    """The rows of the layers contract, top to bottom, without the ``mcverify.`` prefix."""
    config = configparser.ConfigParser()
    config.read(CONTRACTS, encoding="utf-8")
    layers = [s for s in config.sections() if config.get(s, "type", fallback="") == "layers"]
    assert len(layers) == 1, f"{CONTRACTS.name}: expected one layers contract, found {layers}"
    rows = []
    for line in config.get(layers[0], "layers").splitlines():
        if line.strip():
            names = [n.strip() for n in line.split("|")]
            rows.append([n.removeprefix("mcverify.") for n in names])
    return rows


# ------------------------------------------------------------ (a) the contracts
_LINT = """
import importlib.util, pathlib, sys
origin = pathlib.Path(importlib.util.find_spec("mcverify").origin).resolve()
if pathlib.Path(sys.argv[1]) not in origin.parents:
    sys.exit(f"import-linter would analyse {origin.parent}, not {sys.argv[1]}/mcverify")
from importlinter.cli import lint_imports_command
lint_imports_command(["--no-cache", "--no-logo", sys.argv[2]])
"""


def test_import_contracts_are_kept():
    env = dict(os.environ)
    # This checkout's mcverify, whichever checkout is installed in editable mode.
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH")) if p)
    env["COLUMNS"] = "160"  # import-linter wraps its report at the terminal's width
    done = subprocess.run(
        [sys.executable, "-c", _LINT, str(ROOT), str(CONTRACTS)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    report = done.stdout + done.stderr
    assert "No module named 'importlinter'" not in report, "import-linter is missing: pip install -e '.[test]'"
    if done.returncode != 0:
        pytest.fail(f"lint-imports {CONTRACTS.name} failed:\n{report}", pytrace=False)


# ------------------------------------------------- (b) imports inside functions
def _allowed(module: str, names: tuple[str, ...] = (), subpackage: str = "") -> bool:
    """Whether ``import module`` (or ``from module import names``) may sit inside a function.

    ``subpackage`` is the importing module's subpackage of mcverify (``"cli"``), if any.
    """
    if (
        subpackage in LAZY_IMPLEMENTATIONS
        and module.startswith("mcverify.")
        and not module.startswith(f"mcverify.{subpackage}.")
    ):
        return True
    if any(module == lib or module.startswith(lib + ".") for lib in LAZY_IMPORTS_ALLOWED):
        return True
    # `from scipy import stats` imports scipy.stats
    return bool(names) and all(_allowed(f"{module}.{name}") for name in names)


def _function_level_imports(tree: ast.AST) -> list[tuple[int, str, tuple[str, ...]]]:
    """(line, module, names) of every import statement inside a function or method.

    ``names`` is empty for ``import module`` and holds what ``from module import ...`` imports.
    """
    found: list[tuple[int, str, tuple[str, ...]]] = []

    def visit(node: ast.AST, in_function: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if in_function and isinstance(child, ast.Import):
                found.extend((child.lineno, alias.name, ()) for alias in child.names)
            elif in_function and isinstance(child, ast.ImportFrom):
                module = "." * child.level + (child.module or "")
                found.append((child.lineno, module, tuple(alias.name for alias in child.names)))
            visit(child, in_function or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)))

    visit(tree, False)
    return found


def test_functions_import_only_optional_or_slow_libraries():
    offenders = []
    for path in sorted(PACKAGE.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        parts = path.relative_to(PACKAGE).parts
        subpackage = parts[0] if len(parts) > 1 else ""
        for line, module, names in _function_level_imports(tree):
            if not _allowed(module, names, subpackage):
                offenders.append(f"{path.relative_to(ROOT)}:{line}: {module}")
    if offenders:
        pytest.fail(
            f"{len(offenders)} imports inside functions of modules that are neither optional nor slow "
            "(import them at the top of the module; a cycle that forces a local import is a design "
            "problem the import contracts report):\n" + "\n".join(offenders),
            pytrace=False,
        )


# --------------------------------------------------- (c) the map in CONTRIBUTING
def _architecture_section() -> str:
    text = CONTRIBUTING.read_text(encoding="utf-8")
    match = re.search(r"^## Architecture\n(.*?)(?=^## |\Z)", text, flags=re.MULTILINE | re.DOTALL)
    assert match, f"{CONTRIBUTING.name} has no '## Architecture' section"
    return match.group(1)


def test_layers_contract_places_every_module_and_subpackage():
    placed = {name for row in _layers() for name in row}
    on_disk = set(SUBPACKAGES) | {p.stem for p in PACKAGE.glob("*.py") if p.name != "__init__.py"}
    assert placed == on_disk, (
        f"{CONTRACTS.name}: in no layer: {sorted(on_disk - placed)}; no such module: {sorted(placed - on_disk)}"
    )


def test_contributing_map_names_the_subpackages_in_layer_order():
    section = _architecture_section()
    block = re.search(r"^```[a-z]*\n(.*?)^```", section, flags=re.MULTILINE | re.DOTALL)
    assert block, "the Architecture section has no diagram (a fenced code block)"
    diagram = [[n.strip() for n in line.split("|")] for line in block.group(1).splitlines() if line.strip()]
    layers = _layers()
    assert diagram == layers, (
        f"the diagram in {CONTRIBUTING.name} is not the layers contract of {CONTRACTS.name}:\n"
        f"diagram:  {diagram}\ncontract: {layers}"
    )
    in_diagram = [n for row in diagram for n in row if n in SUBPACKAGES]
    assert sorted(in_diagram) == SUBPACKAGES, f"subpackages {SUBPACKAGES}, in the diagram {in_diagram}"

    described = re.findall(r"^- `([\w.]+)`", section, flags=re.MULTILINE)
    flat = [n for row in layers for n in row]
    assert described == flat, f"one line per layer, in the contract's order: expected {flat}, found {described}"


# ------------------------------------------------- (d) the layer rule of each one
def _module_exists(dotted: str) -> bool:
    path = ROOT.joinpath(*dotted.split("."))
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


@pytest.mark.parametrize("name", SUBPACKAGES)
def test_subpackage_docstring_states_its_layer_rule(name):
    init = PACKAGE / name / "__init__.py"
    doc = ast.get_docstring(ast.parse(init.read_text(encoding="utf-8")))
    assert doc, f"{init.relative_to(ROOT)} has no docstring"
    problems = []
    if "Layer rule:" not in doc:
        problems.append("no 'Layer rule:' paragraph (what it may import, what it never does)")
    rows = _layers()
    level = {n: i for i, row in enumerate(rows) for n in row}
    for ref in re.findall(r":mod:`~?(mcverify(?:\.\w+)*)`", doc):
        parts = ref.split(".")
        if not _module_exists(ref):
            problems.append(f"names {ref}, which does not exist")
        elif len(parts) > 1 and parts[1] != name and level.get(parts[1], -1) <= level[name]:
            problems.append(f"names {ref}, which is not in a layer below {name}")
    assert not problems, f"{init.relative_to(ROOT)}:\n" + "\n".join(problems)


def test_only_the_command_line_imports_mcverify_inside_functions():
    """The exception of :data:`LAZY_IMPLEMENTATIONS` is the command line's alone, and never its own modules."""
    assert _allowed("mcverify.engine.pipeline", (), "cli")
    assert _allowed("mcverify.auditing.auditor", ("audit",), "cli")
    assert not _allowed("mcverify.cli.options", (), "cli")
    assert not _allowed("mcverify.engine.pipeline", (), "studies")
    assert not _allowed("mcverify.numerics.gaussian", (), "")
    assert not _allowed("json", (), "cli")
