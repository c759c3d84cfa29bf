"""Writing a results table block by block, so that memory does not grow with the run.

A block is a dict of equal-length columns in table order (numpy arrays,
or lists for strings and the optional booleans).  CSV, JSON and Parquet
are streamed: each block is appended to a temporary file as it is judged,
and the finished files are moved into place at the end, so readers never
see a partial table.  CSV is formatted straight from the columns, the way
pandas formats it (a DataFrame per block would cost more than computing a
10^4-sample case); JSON and Parquet go through pandas and pyarrow.
Markdown, LaTeX and HTML are documents for reading: they are rendered from
the whole table at the end.  Every file has the same content as
:func:`mcverify.tables.result_files.write_results` gives for the whole table at once
(CSV and JSON byte for byte), which the tests check.
"""

from __future__ import annotations

import csv
import io
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import IO, Any

import numpy as np
import pandas as pd

from mcverify.tables.atomic import Staged, _temp_path, stage, writing
from mcverify.tables.textformats import jsonable
from mcverify.tables.writers import FORMATS, check_formats, render_table

__all__ = ["STREAMED", "TableWriter", "block_frame", "block_from_frame", "csv_fields", "render_block"]

#: Formats written block by block.
STREAMED = ("csv", "json", "parquet")

Block = Mapping[str, Any]


def csv_fields(column: Any) -> list[str]:
    """A column as pandas' ``to_csv`` writes it: ``repr`` of floats, '' for NaN and None."""
    if isinstance(column, np.ndarray):
        if column.dtype.kind == "f":
            # pandas writes numpy's shortest round-trip repr, which is Python's repr
            text = list(map(repr, column.tolist()))
            for i in np.flatnonzero(np.isnan(column)).tolist():
                text[i] = ""
            return text
        return [str(v) for v in column.tolist()]
    return ["" if v is None or v is pd.NA or (isinstance(v, float) and v != v) else str(v) for v in column]


def block_from_frame(frame: pd.DataFrame) -> dict[str, Any]:
    """A DataFrame's columns as a block (lists for object and string columns)."""
    out: dict[str, Any] = {}
    for name in frame.columns:
        col = frame[name]
        if isinstance(col.dtype, np.dtype) and col.dtype.kind in "fiub":
            out[name] = col.to_numpy()
        else:
            out[name] = [
                None if v is None or v is pd.NA or (isinstance(v, float) and v != v) else v for v in col.tolist()
            ]
    return out


def render_block(block: Block, formats: list[str]) -> dict[str, str]:
    """CSV (with the header apart) and JSON text of a block, as the whole-table writers format them."""
    out: dict[str, str] = {}
    if "csv" in formats:
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator=os.linesep, quoting=csv.QUOTE_MINIMAL)
        writer.writerow(list(block))
        out["csv_header"] = buf.getvalue()
        buf.seek(0)
        buf.truncate()
        writer.writerows(zip(*(csv_fields(col) for col in block.values())))
        out["csv"] = buf.getvalue()
    if "json" in formats:
        frame = block_frame(block)
        records = [dict(zip(frame.columns, row)) for row in frame.itertuples(index=False, name=None)]
        text = json.dumps(jsonable(records), indent=1, allow_nan=False)
        out["json"] = text[2:-2]  # between "[\n" and "\n]"
    return out


def block_frame(block: Block) -> pd.DataFrame:
    """A block as a DataFrame with the dtypes :func:`mcverify.tables.schema.to_frame` gives the whole table."""
    frame = pd.DataFrame(dict(block))
    if "quad_direct_reliable" in frame:  # True/False, or missing when d > 2
        frame["quad_direct_reliable"] = frame["quad_direct_reliable"].astype("boolean")
    return frame


class TableWriter:
    """Appends blocks of a table to ``<stem>.<ext>`` for each format; :meth:`close` publishes them.

    Parameters
    ----------
    stem : path
        Output path without the extension (``results/example``).
    formats : list of str
        Format names (see :data:`mcverify.tables.writers.FORMATS`).
    """

    def __init__(self, stem: str | os.PathLike[str], formats: list[str]) -> None:
        self.formats = check_formats(formats)
        self.stem = Path(stem)
        self._tmp: dict[str, tuple[str, IO[Any]]] = {}
        # Every temporary path this writer may have created, staged ones
        # included, until the set is committed: abort() removes them all.
        self._pending: list[str] = []
        self._frames: list[pd.DataFrame] = []
        self._parquet: Any = None
        self._rows = 0
        try:
            for fmt in self.formats:
                if fmt in STREAMED:
                    path = self._path(fmt)
                    tmp = str(_temp_path(path))  # named so that mcverify.tables.atomic.clean_stale knows it
                    self._pending.append(tmp)  # known before it exists: Ctrl-C right after open() cannot leak it
                    with writing(path):
                        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
                    mode = "wb" if fmt == "parquet" else "w"
                    kw: dict[str, Any] = {} if fmt == "parquet" else {"encoding": "utf-8", "newline": ""}
                    self._tmp[fmt] = (tmp, os.fdopen(fd, mode, **kw))
        except BaseException:
            self.abort()
            raise

    def _path(self, fmt: str) -> Path:
        return Path(f"{os.fspath(self.stem)}{FORMATS[fmt][0]}")

    @property
    def needs_block(self) -> bool:
        """Whether :meth:`add` needs the block itself (formats other than CSV and JSON)."""
        return any(fmt not in ("csv", "json") for fmt in self.formats)

    def render(self, block: Block) -> dict[str, str]:
        """The CSV and JSON text of a block (no header), as :meth:`add` writes it.

        Pure formatting, so it may run in another process; see :func:`render_block`.
        """
        return render_block(block, self.formats)

    def add(self, block: Block | None, rows: int | None = None, rendered: dict[str, str] | None = None) -> None:
        """Append the next rows (in order).

        Parameters
        ----------
        block : dict or None
            The rows as columns in table order; may be None when ``rendered``
            holds every format and :attr:`needs_block` is False.
        rows : int, optional
            Number of rows (default: the block's length).
        rendered : dict, optional
            CSV and JSON text of the block made beforehand by :func:`render_block`.
        """
        if rendered is None:
            assert block is not None
            rendered = render_block(block, self.formats)
        if rows is not None:
            n = rows
        else:
            assert block is not None, "add(None) needs rows"
            n = len(next(iter(block.values())))
        first = self._rows == 0
        frame = block_frame(block) if block is not None and self.needs_block else None
        for fmt, (_, fh) in self._tmp.items():
            with writing(self._path(fmt)):
                self._append(fmt, fh, rendered, frame, first)
        if any(fmt not in STREAMED for fmt in self.formats):
            assert frame is not None
            self._frames.append(frame)
        self._rows += n

    def _append(self, fmt: str, fh: IO[Any], rendered: dict[str, str], frame: pd.DataFrame | None, first: bool) -> None:
        """Append one block's rows to the open file of ``fmt``."""
        if fmt == "csv":
            if first:
                fh.write(rendered["csv_header"])
            fh.write(rendered["csv"])
        elif fmt == "json":
            inner = rendered["json"]
            if inner:
                fh.write(("[\n" if first else ",\n") + inner)
        elif fmt == "parquet":
            assert frame is not None
            self._add_parquet(frame, fh)

    def _add_parquet(self, frame: pd.DataFrame, fh: IO[Any]) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        if self._parquet is None:
            schema = pa.Schema.from_pandas(frame, preserve_index=False)
            # A block of d > 2 cases only has missing direct-quadrature flags.
            i = schema.get_field_index("quad_direct_reliable")
            if i >= 0:
                schema = schema.set(i, pa.field("quad_direct_reliable", pa.bool_()))
            self._parquet = pq.ParquetWriter(fh, schema)
        table = pa.Table.from_pandas(frame, schema=self._parquet.schema, preserve_index=False)
        self._parquet.write_table(table)

    def close(self) -> list[Path]:
        """Finish every file and move it into place; returns the paths written, in format order."""
        return [staged.commit() for _, staged in self.close_staged()]

    def close_staged(self) -> list[tuple[str, Staged]]:
        """Finish every file; returns ``(suffix, staged file)`` in format order, not yet in place.

        :func:`mcverify.tables.result_files.commit_results` moves them into place as one
        set with their provenance (never replacing existing files unless asked).
        On any error, Ctrl-C included, every temporary file is removed; so
        does :meth:`abort` until the caller has committed the set, even if
        Ctrl-C arrives before it holds the returned list.
        """
        staged: list[tuple[str, Staged]] = []
        try:
            whole = pd.concat(self._frames, ignore_index=True) if self._frames else None
            for fmt in self.formats:
                path = self._path(fmt)
                if fmt in self._tmp:
                    tmp, fh = self._tmp[fmt]
                    with writing(path):
                        if fmt == "json":
                            fh.write("\n]\n" if self._rows else "[]\n")
                        if fmt == "parquet" and self._parquet is not None:
                            self._parquet.close()
                            self._parquet = None
                        fh.flush()
                        os.fsync(fh.fileno())
                        fh.close()
                        os.chmod(tmp, 0o666 & ~_umask())
                    staged.append((FORMATS[fmt][0], Staged(Path(tmp), path)))
                    del self._tmp[fmt]
                else:
                    assert whole is not None
                    tmp = str(_temp_path(path))
                    self._pending.append(tmp)
                    staged.append((FORMATS[fmt][0], stage(path, render_table(whole, fmt), tmp)))
        except BaseException:
            for _, item in staged:
                item.discard()
            self.abort()
            raise
        return staged

    def abort(self) -> None:
        """Remove the temporary files; nothing is published."""
        if self._parquet is not None:
            try:
                self._parquet.close()
            except Exception:
                pass
            self._parquet = None
        for _, fh in self._tmp.values():
            try:
                fh.close()
            except Exception:
                pass
        self._tmp.clear()
        while self._pending:
            Path(self._pending.pop()).unlink(missing_ok=True)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
