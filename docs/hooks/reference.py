"""MkDocs hook: the reference tables, generated from the code at build time.

A page writes a marker such as ``<!-- mcverify:columns run -->`` on a line of
its own; :func:`on_page_markdown` replaces it with the table the code defines,
so that the documentation cannot disagree with the code.
``tests/test_docs.py`` renders every marker the same way.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

MARKER = re.compile(r"^<!-- mcverify:([a-z-]+)(?: ([a-z-]+))? -->$", re.M)


def _columns(which: str) -> str:
    from mcverify.studies.calibration import CELL_COLUMNS, FAMILY_COLUMNS
    from mcverify.studies.convergence import FIT_COLUMNS, POINT_COLUMNS
    from mcverify.tables.schema import COLUMNS, markdown_columns

    tables = {
        "run": COLUMNS,
        "calibration": CELL_COLUMNS,
        "calibration-family": FAMILY_COLUMNS,
        "convergence": POINT_COLUMNS,
        "convergence-rates": FIT_COLUMNS,
    }
    if which not in tables:
        raise ValueError(f"unknown column table {which!r}; known: {', '.join(tables)}")
    return markdown_columns(tables[which])


def _run_keys(_: str | None) -> str:
    from mcverify.config.loader import DEFAULT_MAX_CASES, DEFAULTS, ERROR_CONTROLS, ESTIMATORS, MAX_SAMPLES, METHODS

    allowed = {
        "samples": f"integer, 2 .. {MAX_SAMPLES:.0e}",
        "seed": "integer >= 0",
        "confidence": "number in (0, 1)",
        "alpha": "number in (0, 1)",
        "error_control": " or ".join(f'`"{v}"`' for v in ERROR_CONTROLS),
        "method": ", ".join(f'`"{v}"`' for v in METHODS),
        "randomizations": "integer >= 2",
        "estimators": "a list of " + ", ".join(f'`"{v}"`' for v in ESTIMATORS),
    }
    defaults = {**DEFAULTS, "max_cases": DEFAULT_MAX_CASES}
    allowed["max_cases"] = "integer >= 1"
    lines = ["| key | default | allowed |", "| --- | --- | --- |"]
    for key, value in defaults.items():
        shown = (
            "[]"
            if value == ()
            else (f'"{value}"' if isinstance(value, str) else f"{value:_}" if isinstance(value, int) else repr(value))
        )
        lines.append(f"| `{key}` | `{shown}` | {allowed[key]} |")
    return "\n".join(lines)


def _examples(_: str | None) -> str:
    from mcverify.config.examples import EXAMPLES

    return "\n".join(f"- `{name}`: `configs/{path}`" for name, path in EXAMPLES.items())


GENERATORS: dict[str, Callable[[str], str]] = {"columns": _columns, "run-keys": _run_keys, "examples": _examples}


def render(markdown: str) -> str:
    """``markdown`` with every ``<!-- mcverify:... -->`` marker replaced by its generated table."""

    def one(m: re.Match[str]) -> str:
        kind, arg = m.group(1), m.group(2)
        if kind not in GENERATORS:
            raise ValueError(f"unknown marker {m.group(0)!r}")
        return GENERATORS[kind](arg)

    return MARKER.sub(one, markdown)


def on_page_markdown(markdown: str, **kwargs: Any) -> str:
    return render(markdown)
