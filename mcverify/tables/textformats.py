"""Tables as text: exact JSON values, GitHub Markdown pipe tables, LaTeX booktabs tabulars.

Every cell is escaped for its format (a ``|`` in a Markdown cell, ``_ & % $ #``
and a leading ``[`` in LaTeX), numbers are shown to a fixed number of
significant digits (LaTeX typesets exponents, ``$1.2\\times 10^{-16}$``), and
JSON keeps every bit of every float. Used by :mod:`mcverify.tables.writers` for the
table formats and by :mod:`mcverify.reporting.documents` for reports. Markdown needs
tabulate, LaTeX needs Jinja2 (pandas' Styler); both are imported when used.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

from mcverify.formatting import significant

__all__ = ["jsonable", "latex_table", "latex_text", "markdown_table", "md_text"]


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


def md_text(s: str) -> str:
    """``s`` safe inside a Markdown table cell: a pipe would end the cell, a newline the row."""
    return s.replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ")


def markdown_table(frame: pd.DataFrame, digits: int = 6) -> str:
    """``frame`` as a GitHub pipe table (tabulate), cells escaped, numbers to ``digits`` significant digits.

    Needs tabulate (``pip install 'mcverify[markdown]'``).
    """
    from tabulate import tabulate

    header = [md_text(str(c)) for c in frame.columns]
    cells = _cells(frame, lambda x: significant(x, digits), md_text)
    align = [
        "right" if pd.api.types.is_numeric_dtype(frame[c]) and not pd.api.types.is_bool_dtype(frame[c]) else "left"
        for c in frame.columns
    ]
    return tabulate(cells, headers=header, tablefmt="github", disable_numparse=True, colalign=align)


_LATEX_SPECIAL = {
    "&": r"\&",
    "%": r"\%",
    "$": r"\$",
    "#": r"\#",
    "_": r"\_",
    "{": r"\{",
    "}": r"\}",
    "~": r"\textasciitilde{}",
    "^": r"\textasciicircum{}",
    "\\": r"\textbackslash{}",
    "<": r"\textless{}",
    ">": r"\textgreater{}",
    "|": r"\textbar{}",
    # A cell that starts with "[" after \\ or \midrule would be read as their optional argument.
    "[": "{[}",
    "]": "{]}",
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
    text = significant(x, digits)
    mant, _, exp = text.partition("e")
    if exp:
        return f"${mant}\\times 10^{{{int(exp)}}}$"
    return f"${text}$" if x < 0 else text


def latex_table(
    frame: pd.DataFrame, *, caption: str | None = None, label: str | None = None, long: bool = False, digits: int = 6
) -> str:
    """``frame`` as a booktabs ``tabular`` (or ``longtable``), escaped, via pandas' Styler.

    Needs Jinja2 (pandas' Styler) and, in the document, ``\\usepackage{booktabs}``
    (and ``longtable`` when ``long``).
    """
    header = [latex_text(str(c)) for c in frame.columns]
    cells = _cells(frame, lambda x: _latex_number(x, digits), latex_text, _latex_int)
    shown = pd.DataFrame(cells, columns=header) if cells else pd.DataFrame(columns=header)
    align = "".join(
        "r" if pd.api.types.is_numeric_dtype(frame[c]) and not pd.api.types.is_bool_dtype(frame[c]) else "l"
        for c in frame.columns
    )
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
