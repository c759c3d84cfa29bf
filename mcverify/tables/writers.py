"""Write result tables: atomically, in several formats, with provenance."""

from __future__ import annotations

import datetime as _dt
import io
import json
import platform
import subprocess
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy
import pandas as pd
import scipy

from mcverify._version import __version__
from mcverify.extras import require_extra
from mcverify.tables.atomic import atomic_write
from mcverify.tables.textformats import jsonable, latex_table, markdown_table

__all__ = [
    "FORMATS",
    "atomic_write",
    "check_formats",
    "column_types",
    "provenance",
    "render_table",
]

#: Format name -> (file suffix, extra that provides it or None).
FORMATS: dict[str, tuple[str, str | None]] = {
    "csv": (".csv", None),
    "json": (".json", None),
    "parquet": (".parquet", "parquet"),
    "md": (".md", "markdown"),
    "latex": (".tex", "latex"),
    "html": (".html", None),
}


def check_formats(formats: Iterable[str]) -> list[str]:
    """Validate format names and their optional dependencies before any work."""
    out = []
    for fmt in formats:
        if fmt not in FORMATS:
            raise ValueError(f"unknown format {fmt!r}: choose from {', '.join(FORMATS)}")
        extra = FORMATS[fmt][1]
        if extra is not None:
            require_extra(extra, f"format {fmt!r}")
        out.append(fmt)
    return out


def render_table(frame: pd.DataFrame, fmt: str) -> str | bytes:
    """The whole table in one format: exact for csv, json and parquet; readable for md, latex, html."""

    if fmt == "csv":
        return frame.to_csv(index=False)
    if fmt == "json":
        records = [dict(zip(frame.columns, row)) for row in frame.itertuples(index=False, name=None)]
        return json.dumps(jsonable(records), indent=1, allow_nan=False) + "\n"
    if fmt == "parquet":
        buf = io.BytesIO()
        frame.to_parquet(buf, index=False)
        return buf.getvalue()
    if fmt == "md":
        return markdown_table(frame) + "\n"
    if fmt == "latex":
        return latex_table(frame)
    if fmt == "html":
        return frame.to_html(index=False, na_rep="")
    raise ValueError(f"unknown format {fmt!r}")


def column_types(frame: pd.DataFrame) -> dict[str, str]:
    """Column name -> dtype name, recorded in the provenance so that readers restore dtypes."""
    return {str(c): str(t) for c, t in frame.dtypes.items()}


def _git_commit(where: Path) -> str | None:
    try:
        out = subprocess.run(
            ["git", "-C", str(where), "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None


def _command(argv: list[str]) -> list[str]:
    """``sys.argv`` as typed: ``python -m mcverify ...`` shows as ``mcverify ...``, not a path."""
    if argv and (
        Path(argv[0]).name == "mcverify" or Path(argv[0]).resolve() == Path(__file__).resolve().parent / "__main__.py"
    ):
        return ["mcverify", *argv[1:]]
    return list(argv)


def provenance(**fields: Any) -> dict[str, Any]:
    """A provenance record: package versions, platform, git commit, time, and ``fields``."""

    record: dict[str, Any] = dict(fields)
    record["versions"] = {
        "mcverify": __version__,
        "python": platform.python_version(),
        "numpy": numpy.__version__,
        "scipy": scipy.__version__,
        "pandas": pd.__version__,
    }
    record["platform"] = platform.platform()
    record["git_commit"] = _git_commit(Path(__file__).resolve().parent)
    record["command"] = _command(sys.argv)
    record["time"] = _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds")
    return record
