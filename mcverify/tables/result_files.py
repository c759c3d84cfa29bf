"""The files of a run's results: a table in each format plus its provenance, written as one set.

A set is ``<stem>.<ext>`` for each format and ``<stem>.provenance.json``,
whose ``outputs`` field lists each table file with its SHA-256.  The set
is staged in temporary files and moved into place with
:func:`mcverify.tables.atomic.commit_all`, the provenance last, so:

* no file of the set is ever partial (see :mod:`mcverify.tables.atomic`);
* an interruption by SIGINT or SIGTERM leaves the whole set or none of it;
* a provenance file is only ever present together with the tables it
  lists, and their hashes match (with ``overwrite`` the old provenance is
  removed before the old tables are replaced);
* an existing file is never replaced unless ``overwrite`` is given: the new
  set then goes beside the old one as ``<stem>-2``, ``<stem>-3``, ... (the
  first number for which no file of the set exists).
"""

from __future__ import annotations

import hashlib
import itertools
import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from mcverify.errors import OutputError
from mcverify.tables.atomic import Staged, check_target, commit_all, stage
from mcverify.tables.writers import FORMATS, check_formats, render_table

__all__ = ["PROVENANCE_SUFFIX", "check_set", "commit_results", "set_paths", "write_results"]

PROVENANCE_SUFFIX = ".provenance.json"
#: Bytes reserved for ``-<n>`` when a set goes beside an existing one (up to ``-999``).
_BESIDE = len("-999")


def set_paths(folder: Path, stem: str, formats: Sequence[str]) -> tuple[list[Path], Path]:
    """The table files and the provenance file of the set named ``stem``."""
    return [folder / f"{stem}{FORMATS[f][0]}" for f in formats], folder / f"{stem}{PROVENANCE_SUFFIX}"


def check_set(folder: str | os.PathLike[str], stem: str, suffixes: Sequence[str], *, overwrite: bool) -> None:
    """Check, before any work, that the set named ``stem`` can be written in ``folder``.

    Each file's name (and its temporary name, and ``-<n>`` beside an
    existing set) fits the file system, nothing but a file is in the way
    (:func:`mcverify.tables.atomic.check_target`), no two files of the set
    share a name, and no table takes the name of another set's provenance
    (a config ``x.provenance.toml`` written as JSON would be ``x.provenance.json``).

    Parameters
    ----------
    suffixes : sequence of str
        What each table file adds to ``stem`` (``".csv"``, ``"-rates.json"``).

    Raises
    ------
    OutputError
        Naming the first file that cannot be written and why.
    """
    folder = Path(folder)
    tables = [folder / f"{stem}{suffix}" for suffix in suffixes]
    seen: set[str] = set()
    for path in (*tables, folder / f"{stem}{PROVENANCE_SUFFIX}"):
        key = path.name.casefold()  # one file on case-insensitive file systems
        if key in seen:
            raise OutputError(f"{path}: two outputs of the run would be written to this file")
        seen.add(key)
    for path in tables:
        if path.name.endswith(PROVENANCE_SUFFIX):
            owner = path.name[: -len(PROVENANCE_SUFFIX)]
            raise OutputError(
                f"{path}: this table would take the name of the provenance file of the results '{owner}'; "
                "rename the config or choose another format"
            )
    for path in (*tables, folder / f"{stem}{PROVENANCE_SUFFIX}"):
        check_target(path, 0 if overwrite else _BESIDE)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def commit_results(
    folder: str | os.PathLike[str],
    stem: str,
    tables: Sequence[tuple[str, Staged]],
    record: dict[str, Any],
    *,
    overwrite: bool = False,
) -> list[Path]:
    """Move staged table files into place as one set, with their provenance.

    Parameters
    ----------
    folder : path-like
        The output folder.
    stem : str
        Name of the set.
    tables : sequence of (suffix, Staged)
        Complete temporary files (see :func:`mcverify.tables.atomic.stage`) and the
        suffix each one gets (``".csv"``).
    record : dict
        Provenance; ``outputs`` (file name -> SHA-256) is added.
    overwrite : bool
        Replace an existing set named ``stem``; without it the set goes to
        the first free ``<stem>-<n>``.

    Returns
    -------
    list of Path
        The files written, the provenance last.  On any error the temporary
        files are removed.
    """
    folder = Path(folder)
    digests = [_sha256(item.temp) for _, item in tables]
    candidates = [stem] if overwrite else (stem if n == 1 else f"{stem}-{n}" for n in itertools.count(1))
    try:
        for name in candidates:
            paths = [folder / f"{name}{suffix}" for suffix, _ in tables]
            prov = folder / f"{name}{PROVENANCE_SUFFIX}"
            if not overwrite and any(os.path.lexists(p) for p in (*paths, prov)):
                continue
            full = dict(record, outputs={p.name: d for p, d in zip(paths, digests)})
            staged_prov = stage(prov, json.dumps(full, indent=2, default=str) + "\n")
            try:
                if overwrite:
                    prov.unlink(missing_ok=True)  # the old tables lose their provenance before they change
                return commit_all(
                    [*((item, p) for (_, item), p in zip(tables, paths)), (staged_prov, prov)], overwrite=overwrite
                )
            except FileExistsError:
                continue  # another process took this name meanwhile: try the next one
            finally:
                staged_prov.discard()
        raise AssertionError("unreachable")  # pragma: no cover
    finally:
        for _, item in tables:
            item.discard()


def write_results(
    frame: pd.DataFrame | Mapping[str, pd.DataFrame],
    folder: str | os.PathLike[str],
    stem: str,
    formats: Sequence[str],
    record: dict[str, Any],
    *,
    overwrite: bool = False,
) -> list[Path]:
    """Write ``frame`` in each format and its provenance ``record`` as one set.

    Parameters
    ----------
    frame : DataFrame or mapping of str to DataFrame
        The results table, or several tables keyed by what their file names
        add to ``stem`` (``{"": points, "-rates": rates}`` writes
        ``<stem>.csv`` and ``<stem>-rates.csv``).
    folder : path-like
        An existing, writable folder.
    stem : str
        Name of the set: ``<stem>.csv``, ``<stem>.provenance.json``, ...
    formats : sequence of str
        Keys of :data:`mcverify.tables.writers.FORMATS`.
    record : dict
        Provenance; an ``outputs`` field mapping each table file name to
        its SHA-256 is added.
    overwrite : bool
        Replace an existing set named ``stem``.  Without it, the set goes to
        the first free ``<stem>-<n>`` (n = 2, 3, ...).

    Returns
    -------
    list of Path
        The files written, the provenance last.
    """
    folder = Path(folder)
    tables = frame if isinstance(frame, Mapping) else {"": frame}
    formats = check_formats(formats)
    staged: list[tuple[str, Staged]] = []
    try:
        for extra, table in tables.items():
            for fmt in formats:
                suffix = extra + FORMATS[fmt][0]
                staged.append((suffix, stage(folder / f"{stem}{suffix}", render_table(table, fmt))))
    except BaseException:
        for _, item in staged:
            item.discard()
        raise
    return commit_results(folder, stem, staged, record, overwrite=overwrite)
