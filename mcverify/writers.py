"""Write result tables: atomically, in several formats, with provenance."""

from __future__ import annotations

import datetime as _dt
import io
import json
import math
import os
import platform
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterable
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any, Iterator

import numpy as np
import pandas as pd

__all__ = [
    "FORMATS",
    "MissingExtraError",
    "atomic_write",
    "check_formats",
    "column_types",
    "jsonable",
    "provenance",
    "render_table",
    "require_extra",
    "write_table",
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
#: Extra -> the module it installs (``pip install 'mcverify[extra]'``).
_EXTRA_MODULE = {"parquet": "pyarrow", "markdown": "tabulate", "latex": "jinja2", "plots": "matplotlib"}


class MissingExtraError(ImportError):
    """An optional dependency needed for a format or a plot is not installed."""


def require_extra(extra: str, what: str | None = None) -> None:
    """Import the module behind ``extra`` or raise :class:`MissingExtraError` naming it.

    Parameters
    ----------
    extra : str
        A key of the package's optional dependencies (``"plots"``, ``"parquet"``...).
    what : str, optional
        What needs it, for the message (default: the extra's name).
    """
    module = _EXTRA_MODULE[extra]
    try:
        __import__(module)
    except ImportError:
        raise MissingExtraError(
            f"{what or extra} needs {module}: pip install 'mcverify[{extra}]'"
        ) from None


@contextmanager
def atomic_write(path: str | os.PathLike[str], mode: str = "w") -> Iterator[IO[Any]]:
    """Open a temporary file beside ``path`` and move it into place on success.

    Readers never see a half-written file: either the old content or the
    complete new one. On error the temporary file is removed and ``path``
    is untouched.
    """
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
    try:
        with os.fdopen(fd, mode, **({} if "b" in mode else {"encoding": "utf-8", "newline": ""})) as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        # mkstemp makes the file private (0600); give it the target's mode,
        # or the usual 0644 of a new file, before it takes the target's place.
        os.chmod(tmp, path.stat().st_mode & 0o7777 if path.exists() else 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


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


def jsonable(value: Any) -> Any:
    """``value`` as plain JSON types, exactly.

    Floats keep every bit (``json`` writes the shortest repr that reads back
    to the same double); NaN and missing values become ``null`` and the
    infinities the strings ``"inf"`` and ``"-inf"`` (JSON has no literal for
    them); numpy scalars become Python numbers; containers recurse.
    """
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if hasattr(value, "tolist") and not isinstance(value, (str, bytes)):  # numpy arrays and scalars
        value = value.tolist()
        if isinstance(value, list):
            return [jsonable(v) for v in value]
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, bool):
        return value
    if isinstance(value, float):
        if math.isnan(value):
            return None
        return value if math.isfinite(value) else ("inf" if value > 0 else "-inf")
    return value


def _cells(
    frame: pd.DataFrame,
    number: Callable[[float], str],
    text: Callable[[str], str],
    integer: Callable[[int], str] = str,
) -> list[list[str]]:
    """Every cell of ``frame`` as display text; missing values are empty."""
    out = []
    for row in frame.itertuples(index=False, name=None):
        cells = []
        for v in row:
            if v is None or v is pd.NA or (isinstance(v, float) and math.isnan(v)):
                cells.append("")
            elif isinstance(v, (bool, np.bool_)):
                cells.append(text(str(bool(v))))
            elif isinstance(v, (float, np.floating)):
                cells.append(number(float(v)))
            elif isinstance(v, (int, np.integer)):
                cells.append(integer(int(v)))
            else:
                cells.append(text(str(v)))
        out.append(cells)
    return out


def _short(x: float, digits: int = 6) -> str:
    if x == math.inf or x == -math.inf:
        return "inf" if x > 0 else "-inf"
    return f"{x:.{digits}g}"


def _md_text(s: str) -> str:
    # A pipe would end the cell; a newline the row.
    return s.replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ")


def markdown_table(frame: pd.DataFrame, digits: int = 6) -> str:
    """``frame`` as a GitHub pipe table (tabulate), cells escaped, numbers to ``digits`` significant digits.

    Needs tabulate (``pip install 'mcverify[markdown]'``).
    """
    from tabulate import tabulate

    header = [_md_text(str(c)) for c in frame.columns]
    cells = _cells(frame, lambda x: _short(x, digits), _md_text)
    align = ["right" if pd.api.types.is_numeric_dtype(frame[c]) and not pd.api.types.is_bool_dtype(frame[c])
             else "left" for c in frame.columns]
    return tabulate(cells, headers=header, tablefmt="github", disable_numparse=True, colalign=align)


_LATEX_SPECIAL = {
    "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_", "{": r"\{", "}": r"\}",
    "~": r"\textasciitilde{}", "^": r"\textasciicircum{}", "\\": r"\textbackslash{}",
    "<": r"\textless{}", ">": r"\textgreater{}", "|": r"\textbar{}",
    # A cell that starts with "[" after \\ or \midrule would be read as their optional argument.
    "[": "{[}", "]": "{]}",
}


def latex_text(s: str) -> str:
    """``s`` with LaTeX's special characters escaped (text mode)."""
    return "".join(_LATEX_SPECIAL.get(ch, ch) for ch in s)


def _latex_int(x: int) -> str:
    return f"${x}$" if x < 0 else str(x)


def _latex_number(x: float, digits: int = 6) -> str:
    if math.isnan(x):
        return ""
    if math.isinf(x):
        return r"$\infty$" if x > 0 else r"$-\infty$"
    text = f"{x:.{digits}g}"
    mant, _, exp = text.partition("e")
    if exp:
        return f"${mant}\\times 10^{{{int(exp)}}}$"
    return f"${text}$" if x < 0 else text


def latex_table(frame: pd.DataFrame, *, caption: str | None = None, label: str | None = None,
                long: bool = False, digits: int = 6) -> str:
    """``frame`` as a booktabs ``tabular`` (or ``longtable``), escaped, via pandas' Styler.

    Needs Jinja2 (pandas' Styler) and, in the document, ``\\usepackage{booktabs}``
    (and ``longtable`` when ``long``).
    """
    header = [latex_text(str(c)) for c in frame.columns]
    cells = _cells(frame, lambda x: _latex_number(x, digits), latex_text, _latex_int)
    shown = pd.DataFrame(cells, columns=header) if cells else pd.DataFrame(columns=header)
    align = "".join("r" if pd.api.types.is_numeric_dtype(frame[c]) and not pd.api.types.is_bool_dtype(frame[c])
                    else "l" for c in frame.columns)
    styler = shown.style.hide(axis="index")
    kwargs: dict[str, Any] = {"hrules": True, "column_format": align}
    if long:
        kwargs["environment"] = "longtable"
    if caption is not None:
        kwargs["caption"] = latex_text(caption)
    if label is not None:
        kwargs["label"] = label
    if caption is not None and not long:
        kwargs["position_float"] = "centering"
    return styler.to_latex(**kwargs)


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


def write_table(frame: pd.DataFrame, stem: str | os.PathLike[str], formats: Iterable[str]) -> list[Path]:
    """Write ``frame`` as ``<stem><suffix>`` for each format, each atomically."""
    written = []
    for fmt in check_formats(formats):
        path = Path(f"{os.fspath(stem)}{FORMATS[fmt][0]}")
        data = render_table(frame, fmt)
        with atomic_write(path, "wb" if isinstance(data, bytes) else "w") as fh:
            fh.write(data)
        written.append(path)
    return written


def _git_commit(where: Path) -> str | None:
    try:
        out = subprocess.run(
            ["git", "-C", str(where), "rev-parse", "HEAD"],
            capture_output=True, text=True, timeout=5, check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None


def _command(argv: list[str]) -> list[str]:
    """``sys.argv`` as typed: ``python -m mcverify ...`` shows as ``mcverify ...``, not a path."""
    if argv and (Path(argv[0]).name == "mcverify"
                 or Path(argv[0]).resolve() == Path(__file__).resolve().parent / "__main__.py"):
        return ["mcverify", *argv[1:]]
    return list(argv)


def provenance(**fields: Any) -> dict[str, Any]:
    """A provenance record: package versions, platform, git commit, time, and ``fields``."""
    import numpy
    import scipy

    from . import __version__

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
    record["time"] = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
    return record


def write_provenance(path: str | os.PathLike[str], record: dict[str, Any]) -> Path:
    """Write a provenance record as JSON, atomically."""
    path = Path(path)
    with atomic_write(path) as fh:
        json.dump(record, fh, indent=2, default=str)
        fh.write("\n")
    return path
