"""Read results tables back: by extension, with their dtypes and provenance.

Any table mcverify writes (``run``, ``audit -o``, ``report``) reads back
into the DataFrame that was written: CSV, JSON and Parquet keep every bit of
every float, and the column dtypes (text, booleans with missing values,
integers) are restored from the ``dtypes`` record of the provenance sidecar
``<stem>.provenance.json`` when there is one, and otherwise inferred from
the values.

An edge module: it reads files. Errors are :class:`ResultsError` with one
line naming the file and the problem.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import pandas as pd

from mcverify.extras import require_extra
from mcverify.files import not_regular, shown_path

if TYPE_CHECKING:
    from pandas._typing import AstypeArg

__all__ = ["SUFFIXES", "Results", "ResultsError", "provenance_path", "read_results", "restore_dtypes"]

#: File suffix -> table format.
SUFFIXES = {".csv": "csv", ".json": "json", ".parquet": "parquet", ".pq": "parquet"}

#: Text columns of mcverify's tables (run and audit): an empty cell is an
#: empty string, never a missing value.
TEXT_COLUMNS = frozenset(
    {
        "config",
        "name",
        "group",
        "direction",
        "p_kind",
        "q_kind",
        "quad_message",
        "verdict",
        "reason",
        "status",
        "message",
    }
)
#: Boolean columns that may be empty (a missing check).
BOOLEAN_COLUMNS = frozenset({"quad_reliable", "quad_direct_reliable"})
_TEXT_DTYPES = ("str", "string", "object")


class ResultsError(ValueError):
    """A results file cannot be read: missing, malformed or of an unknown kind."""


@dataclass(frozen=True, eq=False)
class Results:
    """A results table read from a file.

    Attributes
    ----------
    frame : pandas.DataFrame
        The table, with its dtypes restored.
    path : pathlib.Path
        Where it was read from.
    format : {"csv", "json", "parquet"}
    provenance : dict or None
        The provenance sidecar beside the file (or embedded in a JSON
        report), None when there is none.
    meta : dict
        The other top-level fields of a JSON file that holds a ``table``
        (an audit's verdict, diagnoses, regions and evidence; a report's
        summary). Empty for a bare table.
    """

    frame: pd.DataFrame
    path: Path
    format: str
    provenance: dict[str, Any] | None = None
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def name(self) -> str:
        """The file's stem: ``results/classic-std.csv`` -> ``classic-std``."""
        return self.path.stem


def provenance_path(path: str | os.PathLike[str]) -> Path:
    """The provenance sidecar of a table: ``<stem>.provenance.json`` beside it."""
    path = Path(path)
    return path.with_name(f"{path.stem}.provenance.json")


def read_results(path: str | os.PathLike[str]) -> Results:
    """Read a results table by its extension (.csv, .json, .parquet).

    Parameters
    ----------
    path : path-like
        A table written by ``mcverify run`` (any of its data formats), by
        ``mcverify audit -o FILE.csv|.json``, or by ``mcverify report``.

    Returns
    -------
    Results

    Raises
    ------
    ResultsError
        The file is missing, is not a regular file (a FIFO, a device, a
        folder: refused before it is opened), has an unknown extension,
        cannot be parsed, or is JSON of another shape; the message names
        the file.
    """
    path = Path(path)
    fmt = SUFFIXES.get(path.suffix.lower())
    if fmt is None:
        raise ResultsError(
            f"{path}: unknown table format {path.suffix or '(no extension)'!r}: use .csv, .json or .parquet"
        )
    problem = not_regular(path)  # checked before opening: a FIFO would block the read
    if problem:
        raise ResultsError(f"{shown_path(path)}: {problem}")
    if not path.is_file():
        raise ResultsError(f"{shown_path(path)}: no such file")
    prov = _read_provenance(path)
    dtypes = prov.get("dtypes") if isinstance(prov, dict) else None
    meta: dict[str, Any] = {}
    try:
        if fmt == "csv":
            frame = _read_csv(path, dtypes)
        elif fmt == "parquet":
            require_extra("parquet", "reading Parquet")
            frame = pd.read_parquet(path)
        else:
            frame, meta = _read_json(path)
            if prov is None and isinstance(meta.get("provenance"), dict):
                prov = meta.pop("provenance")
                dtypes = prov.get("dtypes")
    except ResultsError:
        raise
    except (ValueError, TypeError, KeyError, OSError, pd.errors.ParserError) as exc:
        what = {"csv": "CSV", "json": "JSON", "parquet": "Parquet"}[fmt]
        raise ResultsError(f"{path}: cannot read it as {what} ({_first_line(exc)})") from None
    except Exception as exc:  # pyarrow's errors are not ValueErrors
        if type(exc).__module__.startswith("pyarrow"):
            raise ResultsError(f"{path}: cannot read it as Parquet ({_first_line(exc)})") from None
        raise
    if fmt != "parquet":
        frame = restore_dtypes(frame, dtypes)
    return Results(frame, path, fmt, prov, meta)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def _read_provenance(path: Path) -> dict[str, Any] | None:
    side = provenance_path(path)
    if not side.is_file():
        return None
    try:
        record = json.loads(side.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ResultsError(f"{side}: the provenance sidecar is not valid JSON ({_first_line(exc)})") from None
    if not isinstance(record, dict):
        raise ResultsError(f"{side}: the provenance sidecar is not a JSON object")
    return record


def _read_csv(path: Path, dtypes: dict[str, str] | None) -> pd.DataFrame:
    header = pd.read_csv(path, nrows=0).columns
    text = [c for c in header if (dtypes or {}).get(c, "str" if c in TEXT_COLUMNS else "") in _TEXT_DTYPES]
    # Text cells are read verbatim ("" stays "", "NA" stays "NA"); elsewhere
    # an empty cell is missing. "round_trip" parses every double exactly (pandas 3: the default).
    exact: dict[str, Any] = {"float_precision": "round_trip"} if int(pd.__version__.split(".")[0]) < 3 else {}
    return pd.read_csv(
        path,
        dtype={c: str for c in text},
        keep_default_na=False,
        na_values={c: [""] for c in header if c not in text},
        **exact,
    )


def _read_json(path: Path) -> tuple[pd.DataFrame, dict[str, Any]]:
    data = json.loads(path.read_text(encoding="utf-8"))
    meta: dict[str, Any] = {}
    if isinstance(data, dict):
        if not isinstance(data.get("table"), list):
            raise ResultsError(
                f"{path}: a JSON object needs a 'table' list of records "
                "(write one with mcverify audit -o FILE.json or mcverify report --format json)"
            )
        meta = {k: v for k, v in data.items() if k != "table"}
        data = data["table"]
    if not isinstance(data, list) or not all(isinstance(r, dict) for r in data):
        raise ResultsError(f"{path}: expected a list of records (one JSON object per row)")
    columns: dict[str, None] = {}
    for record in data:
        columns.update(dict.fromkeys(record))
    return pd.DataFrame.from_records(data, columns=list(columns)), meta


def restore_dtypes(frame: pd.DataFrame, dtypes: dict[str, str] | None = None) -> pd.DataFrame:
    """Give each column of a table read from text its original dtype.

    Parameters
    ----------
    frame : pandas.DataFrame
        As parsed from CSV or JSON.
    dtypes : dict, optional
        Column -> dtype name as written (:func:`mcverify.tables.writers.column_types`).
        Columns it does not name, or whose values do not fit it, are inferred:
        text columns get ``""`` for missing cells, columns of ``True``/``False``
        with gaps become pandas' nullable ``boolean``, and numbers with
        ``"inf"``/``"-inf"`` strings (how JSON stores infinities) become floats.
    """
    out = frame.copy()
    for col in out.columns:
        want = (dtypes or {}).get(col)
        converted = None
        if want is not None:
            try:
                converted = _convert(out[col], want)
            except (ValueError, TypeError, OverflowError):
                converted = None
        if converted is None:
            converted = _infer(out[col], str(col))
        out[col] = converted
    return out


def _is_missing(v: Any) -> bool:
    return v is None or v is pd.NA or (isinstance(v, float) and math.isnan(v))


_FLOAT_WORDS = {
    "inf": math.inf,
    "-inf": -math.inf,
    "Infinity": math.inf,
    "-Infinity": -math.inf,
    "nan": math.nan,
    "NaN": math.nan,
}


def _to_float(s: pd.Series) -> pd.Series:
    values = [
        math.nan if _is_missing(v) else _FLOAT_WORDS[v] if isinstance(v, str) and v in _FLOAT_WORDS else float(v)
        for v in s
    ]
    return pd.Series(values, index=s.index, dtype="float64")


def _to_boolean(s: pd.Series) -> pd.Series:
    words = {"True": True, "False": False, "true": True, "false": False}

    def one(v: Any) -> Any:
        if _is_missing(v):
            return pd.NA
        if isinstance(v, str):
            return words[v]
        if v in (0, 1):  # also True/False and 1.0/0.0
            return bool(v)
        raise ValueError(f"not a boolean: {v!r}")

    return pd.Series([one(v) for v in s], index=s.index, dtype="boolean")


def _to_int(v: Any) -> int:
    if isinstance(v, bool):
        raise TypeError("a boolean is not an integer")
    if isinstance(v, float):
        if not v.is_integer():
            raise ValueError(f"not an integer: {v!r}")
        return int(v)
    return int(v)


def _convert(s: pd.Series, dtype: str) -> pd.Series:
    # A dtype name as written (writers.column_types), typed as one pandas knows: one it does not
    # raises here, and restore_dtypes infers the column instead.
    as_dtype = cast("AstypeArg", dtype)
    if dtype in _TEXT_DTYPES:
        if not all(_is_missing(v) or isinstance(v, str) for v in s):
            raise TypeError("not text")
        return s.astype(object).where(s.notna(), "").astype(as_dtype)
    if dtype == "boolean":
        return _to_boolean(s)
    if dtype == "bool":
        b = _to_boolean(s)
        if b.isna().any():
            raise ValueError("missing values in a bool column")
        return b.astype(bool)
    if dtype.startswith(("float", "Float")):
        return _to_float(s).astype(as_dtype)
    if dtype.startswith(("int", "uint", "Int", "UInt")):
        if pd.api.types.is_integer_dtype(s.dtype):
            return s.astype(as_dtype)
        # Exactly, never through a double (seeds use all 63 bits).
        values = [pd.NA if _is_missing(v) else _to_int(v) for v in s]
        if dtype[0] in "iu" and any(v is pd.NA for v in values):
            raise ValueError("missing values in an integer column")
        return pd.Series(values, index=s.index, dtype=dtype if dtype[0] in "IU" else "object").astype(as_dtype)
    return s.astype(as_dtype)


def _infer(s: pd.Series, name: str) -> pd.Series:
    values = [v for v in s if not _is_missing(v)]
    if name in TEXT_COLUMNS and all(isinstance(v, str) for v in values):
        return _convert(s, "str")
    if name in BOOLEAN_COLUMNS or (values and all(isinstance(v, bool) for v in values)):
        try:
            b = _to_boolean(s)
        except (ValueError, TypeError):
            return s
        return b.astype(bool) if not b.isna().any() else b
    if (s.dtype == object or pd.api.types.is_string_dtype(s.dtype)) and values:
        # A float column may hold only "inf" words (mc_df of plain Monte Carlo): JSON readers make it text.
        if all(isinstance(v, (int, float)) or (isinstance(v, str) and v in _FLOAT_WORDS) for v in values):
            return _to_float(s)
        if all(isinstance(v, str) for v in values):
            return _convert(s, "str")
    if pd.api.types.is_string_dtype(s.dtype) and s.isna().any() and all(isinstance(v, str) for v in values):
        return _convert(s, "str")
    return s
