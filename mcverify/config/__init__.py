"""Configs: TOML files read into run specifications, the sweep grammar, the lazy case list.

Layer rule: imports :mod:`mcverify.numerics` and :mod:`mcverify.errors`;
reads files, never writes, never prints.

Public names (everything else is internal to the layer):
:mod:`~mcverify.config.loader`: ``load_config``, ``parse_config``,
:mod:`~mcverify.config.cases`: ``Case``, ``RunSpec``.
"""

from __future__ import annotations

from mcverify.config.cases import Case, RunSpec
from mcverify.config.loader import load_config, parse_config

__all__ = [
    "Case",
    "RunSpec",
    "load_config",
    "parse_config",
]
