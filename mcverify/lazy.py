"""Public names of a package imported on first use (PEP 562), defined once for every package.

A package's ``__init__.py`` names where each public name lives, and
:func:`lazy_names` gives it the module ``__getattr__`` that imports that module
when the name is first looked up: importing one light module of a layer (the
command line's choices, say) then does not import the whole layer, numpy,
scipy and pandas with it.  Type checkers read the same names from the
package's ``if TYPE_CHECKING:`` imports.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping, Sequence
from typing import Any

__all__ = ["lazy_names"]


def lazy_names(package: str, where: Mapping[str, Sequence[str]]) -> Callable[[str], Any]:
    """The module ``__getattr__`` of ``package``: each name of ``where[module]`` from ``package.module``.

    Parameters
    ----------
    package : str
        The package's ``__name__``, e.g. ``"mcverify.sampling"``.
    where : mapping of str to sequence of str
        Submodule (relative to ``package``) -> the public names it defines,
        e.g. ``{"methods": ("ESTIMATORS", "METHODS")}``.  A name may not be
        the name of a submodule: once that submodule is imported, the package's
        attribute is the module, and ``__getattr__`` is no longer asked.

    Returns
    -------
    callable
        ``__getattr__(name)``: the attribute ``name`` of its module, imported
        now; ``AttributeError`` for a name that is not listed, as Python
        raises for any module.
    """
    home = {name: f"{package}.{module}" for module, names in where.items() for name in names}

    def __getattr__(name: str) -> Any:
        if name in home:
            return getattr(importlib.import_module(home[name]), name)
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    return __getattr__
