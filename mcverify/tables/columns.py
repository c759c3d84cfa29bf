"""Results held column-wise: one array per table column, one entry per case.

A block of cases comes back from a worker as a :class:`Columns` (a dict of
equal-length numpy arrays), travels to the checkpoint as ``.npz`` without
pickling, and becomes table rows or a DataFrame only at the edges.  The
dtypes are fixed by the row schema (:data:`mcverify.tables.schema.RAW_COLUMNS`, and :func:`param_dtypes` for the
swept parameters), so that tables written block by block are the same,
byte for byte, as a table written at once.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray

from mcverify.tables.schema import RAW_COLUMNS

__all__ = [
    "Columns",
    "concat",
    "empty",
    "from_rows",
    "length",
    "load_npz_arrays",
    "npz_arrays",
    "param_dtypes",
    "to_rows",
]

Columns = dict[str, Any]

_NUMPY = {"i": np.int64, "f": np.float64, "b": np.bool_, "o": np.int8}


def param_dtypes(paths: Sequence[str], always: Iterable[str] = ()) -> dict[str, str]:
    """Storage kinds of the ``param:<path>`` columns.

    Swept values are floats; the draw number is an integer, stored as int64
    when every case has one (``always``) and as float64 with NaN otherwise,
    as pandas would store it.
    """
    always = set(always)
    return {f"param:{p}": ("i" if p == "draw" and p in always else "f") for p in paths}


def empty(n: int, params: Mapping[str, str]) -> Columns:
    """Columns for ``n`` cases, numbers NaN/0 and strings empty, to be filled in."""
    cols: Columns = {}
    for name, kind in {**RAW_COLUMNS, **params}.items():
        if kind == "s":
            cols[name] = [""] * n
        elif kind == "f":
            cols[name] = np.full(n, np.nan)
        else:
            cols[name] = np.zeros(n, dtype=_NUMPY[kind])
    return cols


def length(cols: Columns) -> int:
    """Number of cases in ``cols``."""
    return len(cols["index"])


def set_row(cols: Columns, i: int, row: Mapping[str, Any]) -> None:
    """Store a row dict (as :func:`mcverify.engine.case.evaluate_case` returns it) at position ``i``."""
    for key, value in row.items():
        col = cols[key]
        if isinstance(col, list):
            col[i] = value
        elif col.dtype == np.int8:
            col[i] = -1 if value is None else int(bool(value))
        else:
            col[i] = value


def from_rows(rows: Sequence[Mapping[str, Any]], params: Mapping[str, str]) -> Columns:
    """Columns from row dicts."""
    cols = empty(len(rows), params)
    for i, row in enumerate(rows):
        set_row(cols, i, row)
    return cols


def _py(value: Any, kind: str) -> Any:
    if kind == "o":
        return None if value < 0 else bool(value)
    return value


def to_rows(cols: Columns, params: Mapping[str, str]) -> list[dict[str, Any]]:
    """Row dicts, as :func:`mcverify.engine.case.evaluate_case` returns them.

    A ``param:`` value is left out of rows that have none (NaN), as the
    row of a case outside that sweep has no such key.
    """
    n = length(cols)
    kinds = {**RAW_COLUMNS, **{k: v for k, v in params.items()}}
    lists = {}
    for name, kind in kinds.items():
        col = cols[name]
        values = col if isinstance(col, list) else col.tolist()
        lists[name] = [_py(v, kind) for v in values] if kind == "o" else values
    rows = []
    for i in range(n):
        row = {name: lists[name][i] for name in RAW_COLUMNS}
        for name in params:
            v = lists[name][i]
            if not (isinstance(v, float) and v != v):
                row[name] = int(v) if kinds[name] == "i" else v
        rows.append(row)
    return rows


def concat(parts: Sequence[Columns]) -> Columns:
    """Columns of several blocks, one after the other."""
    out: Columns = {}
    for name in parts[0]:
        first = parts[0][name]
        if isinstance(first, list):
            out[name] = [v for part in parts for v in part[name]]
        else:
            out[name] = np.concatenate([part[name] for part in parts])
    return out


def npz_arrays(cols: Columns) -> dict[str, NDArray[Any]]:
    """Plain numpy arrays for ``numpy.savez``, a handful per block, no pickling.

    Numbers of one kind are stacked into one 2-D array (``f``, ``i``; booleans
    and optional booleans as int8 in ``b``) with their column names beside
    them (``f_names``, ...); each string column is a fixed-width unicode
    array ``s:<name>``.  Fewer, larger arrays load much faster than one per
    column.
    """
    groups: dict[str, list[str]] = {"f": [], "i": [], "b": []}
    out: dict[str, NDArray[Any]] = {}
    for name, col in cols.items():
        if isinstance(col, list):
            out[f"s:{name}"] = np.array(col, dtype=np.str_)
        else:
            groups["f" if col.dtype.kind == "f" else "i" if col.dtype == np.int64 else "b"].append(name)
    dtypes = {"f": np.float64, "i": np.int64, "b": np.int8}
    for kind, names in groups.items():
        n = length(cols)
        out[kind] = (
            np.stack([np.asarray(cols[c], dtype=dtypes[kind]) for c in names])
            if names
            else np.empty((0, n), dtypes[kind])
        )
        out[f"{kind}_names"] = np.array(names, dtype=np.str_)
    return out


def load_npz_arrays(arrays: Mapping[str, NDArray[Any]], names: Iterable[str] | None = None) -> Columns:
    """Inverse of :func:`npz_arrays` (only the columns ``names``, if given), in stored order."""
    want = None if names is None else set(names)
    cols: Columns = {}
    for kind in ("f", "i", "b"):
        if f"{kind}_names" not in arrays:
            continue
        col_names = arrays[f"{kind}_names"].tolist()
        if want is not None and not want.intersection(col_names):
            continue
        block = arrays[kind]
        for j, name in enumerate(col_names):
            if want is None or name in want:
                col = block[j]
                cols[name] = col.astype(bool) if kind == "b" and RAW_COLUMNS.get(name) == "b" else col.copy()
    for key in arrays:
        if key.startswith("s:") and (want is None or key[2:] in want):
            cols[key[2:]] = arrays[key].tolist()
    return cols
