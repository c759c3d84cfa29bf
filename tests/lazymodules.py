"""Heavy optional libraries that a test module imports on first use instead of at collection.

pytest imports every test module in every worker to collect it, so a
module-level ``import tensorflow`` costs each worker its import (TensorFlow
4-5 s, torch 2 s, JAX 1 s) for tests that run on one worker, at the end
(``conftest._order``).  JAX imported in a worker also keeps
every later audit in that process from forking its child
(``mcverify.auditing.sandbox.fork_is_safe``): the command line's tests in
process would no longer test the child.  So::

    pytestmark = needs("jax")
    jnp = LazyModule("jax.numpy")

and ``jnp.sum`` imports ``jax.numpy`` when a test first calls it.
"""

from __future__ import annotations

import importlib
import importlib.util
from collections.abc import Callable
from types import ModuleType
from typing import Any

import pytest


class LazyModule:
    """A stand-in for module ``name`` that imports it (with ``load``, if given) at its first attribute."""

    def __init__(self, name: str, load: Callable[[], ModuleType] | None = None) -> None:
        self._name = name
        self._load = load or (lambda: importlib.import_module(name))
        self._module: ModuleType | None = None

    def __getattr__(self, attr: str) -> Any:
        if attr.startswith("__"):  # what collection asks of every name of a test module (__test__...)
            raise AttributeError(attr)
        if self._module is None:
            self._module = self._load()
        return getattr(self._module, attr)

    def __repr__(self) -> str:
        return f"<lazy module {self._name!r}>"


def needs(*names: str, here: bool = True) -> pytest.MarkDecorator:
    """Mark tests that use the modules ``names``: skipped where one is not installed (``conftest.py``).

    With ``here`` (the test imports them in the test process) the tests also
    run after those that fork the test process: torch, JAX and TensorFlow
    start native threads when imported, and a Dask client leaves one.
    ``here=False``: only the commands the test runs import them, and the
    test keeps its place.  Either way the check imports nothing.
    """
    return pytest.mark.needs(*names, here=here)


def missing(names: tuple[str, ...]) -> list[str]:
    """Those of the modules ``names`` that are not installed (found without importing them)."""
    return [name for name in names if importlib.util.find_spec(name) is None]
