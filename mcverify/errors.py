"""Exception types shared across mcverify."""

from __future__ import annotations

__all__ = ["AuditError", "ConfigError", "OutputError", "QuadratureError"]


class ConfigError(ValueError):
    """A configuration file (or a command-line override) is invalid.

    Parameters
    ----------
    source : str
        The file the problem is in (or ``"<command line>"``).
    field : str
        The key path of the offending value, e.g. ``"pair[3].p.cov"``
        (array-of-tables entries are counted from 1, as a reader counts them
        in the file). Empty when the problem concerns the file as a whole.
    message : str
        What is wrong, in words a user understands.
    """

    def __init__(self, source: str, field: str, message: str) -> None:
        self.source = source
        self.field = field
        self.message = message
        where = f"{source}: {field}" if field else source
        super().__init__(f"{where}: {message}")


class OutputError(ValueError):
    """An output file cannot be written: found before any work (a name too long for the file
    system, a folder in the way, two outputs with one name) or while writing (disk full, a
    read-only file system, no permission).  The message names the file; the command line reports
    it in one line with exit code 2.
    """


class QuadratureError(ArithmeticError):
    """Numerical integration could not produce a value it can vouch for."""


class AuditError(ValueError):
    """An audit cannot run: unknown convention or backend, a candidate that
    is not callable, or one that raises on every probe."""
