"""The version of mcverify, defined once (pyproject.toml reads it from here)."""

__version__ = "0.4.0"
