"""Configs: TOML files read into run specifications, the sweep grammar, the lazy case list.

Layer rule: imports :mod:`mcverify.numerics`, :mod:`mcverify.stats`,
:mod:`mcverify.errors` and the estimator names of :mod:`mcverify.sampling.methods`;
reads files, never writes, never prints.

Public names (everything else is internal to the layer):
:mod:`~mcverify.config.loader`: ``load_config``, ``parse_config``,
:mod:`~mcverify.config.cases`: ``Case``, ``RunSpec``.

The public names are imported on first use, so that importing one light module of
this layer (:mod:`~mcverify.config.defaults`, :mod:`~mcverify.config.examples`: what
the command line's help shows) does not import the reader and numpy.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from mcverify.lazy import lazy_names

if TYPE_CHECKING:
    from mcverify.config.cases import Case, RunSpec
    from mcverify.config.loader import load_config, parse_config

__all__ = [
    "Case",
    "RunSpec",
    "load_config",
    "parse_config",
]

#: Where each public name lives (module: names); imported on first use, so that importing one
#: module of this layer does not import them all (numpy, scipy and pandas among them).
__getattr__ = lazy_names(
    __name__,
    {
        "cases": ("Case", "RunSpec"),
        "loader": ("load_config", "parse_config"),
    },
)
