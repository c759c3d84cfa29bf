"""Numbers as text: the one place that decides how many digits a number gets.

Every message, label, table cell and report of mcverify writes its numbers
through these functions, so the same value reads the same everywhere:

- :func:`significant`: ``digits`` significant digits (``%g``): ``0.3696``,
  ``1e+04``, ``inf``, ``nan``;
- :func:`exact_or_more`: 6 digits, or 12 when 6 do not give the value back
  (``1.00000001`` next to ``1``);
- :func:`significant_pair`: two numbers with enough digits to show they differ;
- :func:`shortest` and :func:`format_values`: the shortest labels that give
  each value exactly and tell distinct values apart (sweep case names).

Layer rule: a foundation module; imports nothing of mcverify.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

__all__ = ["exact_or_more", "format_values", "shortest", "significant", "significant_pair"]


def significant(x: float, digits: int = 6) -> str:
    """``x`` to ``digits`` significant digits: ``0.3696``, ``1e+04``, ``-0``, ``inf``, ``nan``."""
    return f"{x:.{digits}g}"


def exact_or_more(x: float, digits: int = 6, more: int = 12) -> str:
    """``digits`` significant digits, or ``more`` when ``digits`` would not give ``x`` back."""
    short = significant(x, digits)
    return short if not math.isfinite(x) or float(short) == x else significant(x, more)


def significant_pair(a: float, b: float) -> tuple[str, str]:
    """Two numbers with enough digits (4 to 12) to show that they differ."""
    digits = 4
    if math.isfinite(a) and math.isfinite(b) and a != b:
        scale = max(abs(a), abs(b))
        digits = min(12, max(4, math.ceil(math.log10(scale / abs(a - b))) + 2))
    return significant(a, digits), significant(b, digits)


def shortest(x: float, digits: int) -> str:
    """``digits`` significant digits, or fewer when they already give ``x`` exactly (``100``, not ``1e+02``)."""
    text = significant(x, digits)
    if float(text) != x:
        return text
    exact = (significant(x, k) for k in range(1, digits + 1))
    return min((t for t in exact if float(t) == x), key=len)


def format_values(values: Iterable[float]) -> list[str]:
    """Short labels that tell distinct values apart.

    Uses 6 significant digits and adds digits (up to the 17 that identify
    any double) until the labels of distinct values differ, never printing
    more digits than a value needs: ``0.1``, ``1e-08``,
    ``0.30000000000000004`` only when ``0.3`` is also present.
    """
    vals = [float(v) for v in values]
    distinct = len(set(vals))
    for digits in range(6, 18):
        labels = [shortest(v, digits) for v in vals]
        if len(set(labels)) == distinct:
            return labels
    return [repr(v) for v in vals]  # pragma: no cover - 17 digits always suffice
