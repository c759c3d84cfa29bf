"""Input files: refuse what is not a regular file, and name any path in printable text.

Every file mcverify reads (a config, a results table, an audit's target) is
checked with :func:`not_regular` before it is opened: a FIFO would block
the read until a writer comes, a device may never end, a folder is not a
file.  :func:`shown_path` turns any path the operating system accepts
(bytes that are not UTF-8 arrive as surrogate escapes) into text that
prints and encodes everywhere.

Layer rule: a foundation module; imports nothing of mcverify.
"""

from __future__ import annotations

import os
import stat

__all__ = ["file_kind", "not_regular", "shown_path"]


def file_kind(mode: int) -> str:
    """What a ``st_mode`` describes, in words: ``"a regular file"``, ``"a FIFO"``, ``"a folder"``..."""
    kinds = (
        (stat.S_ISREG, "a regular file"),
        (stat.S_ISDIR, "a folder"),
        (stat.S_ISFIFO, "a FIFO"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
        (stat.S_ISSOCK, "a socket"),
    )
    return next((name for test, name in kinds if test(mode)), "not a file of a known kind")


def not_regular(path: str | bytes | os.PathLike[str] | os.PathLike[bytes]) -> str | None:
    """``"not a regular file (a FIFO)"`` and the like, or None for a regular file.

    Checked with ``os.stat`` (symbolic links followed), without opening
    anything, so it never blocks.  None too when the path cannot be
    examined (missing, no permission): opening it reports that.
    """
    try:
        mode = os.stat(path).st_mode
    except (OSError, ValueError):  # ValueError: a NUL byte in the path
        return None
    if stat.S_ISREG(mode):
        return None
    return f"not a regular file ({file_kind(mode)})"


def shown_path(path: str | bytes | os.PathLike[str] | os.PathLike[bytes]) -> str:
    """``path`` as text that prints and encodes as UTF-8: bytes that are not UTF-8 become ``\\xff``."""
    text = os.fsdecode(path)
    try:
        raw = text.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:  # a surrogate no file name can hold ("\ud800" given as text)
        return text.encode("utf-8", "backslashreplace").decode("utf-8")
    return raw.decode("utf-8", "backslashreplace")
