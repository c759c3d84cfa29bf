"""The packages whose public names are imported on first use (:mod:`mcverify.lazy`)."""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest

from mcverify.lazy import lazy_names

ROOT = Path(__file__).resolve().parents[1]
LAZY_PACKAGES = sorted(
    p.parent.name for p in (ROOT / "mcverify").glob("*/__init__.py") if "lazy_names(" in p.read_text(encoding="utf-8")
)


def test_the_layers_with_heavy_modules_are_lazy():
    assert {"auditing", "config", "engine", "reporting", "sampling", "studies", "tables"} <= set(LAZY_PACKAGES)


@pytest.mark.parametrize("name", LAZY_PACKAGES)
def test_every_public_name_resolves_to_its_module(name):
    package = importlib.import_module(f"mcverify.{name}")
    tree = ast.parse((ROOT / "mcverify" / name / "__init__.py").read_text(encoding="utf-8"))
    typed = {  # what type checkers see: the names of the `if TYPE_CHECKING:` imports, and their modules
        alias.name: node.module
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith(f"mcverify.{name}.")
        for alias in node.names
    }
    assert sorted(typed) == sorted(package.__all__)
    folder = ROOT / "mcverify" / name
    submodules = {p.stem for p in folder.glob("*.py")} | {p.parent.name for p in folder.glob("*/__init__.py")}
    assert not set(typed) & submodules, (
        "a lazy name that is also a submodule's name is the module once that is imported"
    )
    for public, module in typed.items():
        assert getattr(package, public) is getattr(importlib.import_module(module), public)
    with pytest.raises(AttributeError, match=f"module 'mcverify.{name}' has no attribute 'nope'"):
        _ = package.nope


def test_lazy_names_of_a_made_up_package():
    getattr_ = lazy_names("json", {"decoder": ("JSONDecodeError",)})
    assert getattr_("JSONDecodeError") is importlib.import_module("json.decoder").JSONDecodeError
    with pytest.raises(AttributeError, match="module 'json' has no attribute 'dumps'"):
        getattr_("dumps")
