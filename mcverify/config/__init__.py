"""Configs: TOML files read into run specifications, the sweep grammar, the lazy case list.

Layer rule: imports :mod:`mcverify.numerics` and :mod:`mcverify.errors`;
reads files, never writes, never prints.
"""
