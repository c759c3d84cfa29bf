"""A small TOML writer for the fuzz corpus and the hypothesis strategies.

The standard library reads TOML (``tomllib``) but does not write it.  This
writer covers what the tests need: nested tables, arrays of tables, inline
tables, arrays (also mixed-type ones, valid TOML 1.0), strings, booleans,
integers of any size, floats including ``nan`` and ``inf``, and dates.
``tomllib.loads(dumps(data)) == data`` for every such document (NaN aside,
which never compares equal).
"""

from __future__ import annotations

import datetime as _dt
import math
import re
from typing import Any

__all__ = ["Raw", "dumps", "key", "value"]

_BARE_KEY = re.compile(r"^[A-Za-z0-9_-]+$")


class Raw(str):
    """Text written verbatim as a value (for deliberately odd literals)."""


def key(k: str) -> str:
    """A key, quoted when it is not a bare key."""
    return k if _BARE_KEY.match(k) else _string(k)


def _string(s: str) -> str:
    out = ['"']
    for ch in s:
        code = ord(ch)
        if ch == '"':
            out.append('\\"')
        elif ch == "\\":
            out.append("\\\\")
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\t":
            out.append("\\t")
        elif code < 0x20 or code == 0x7F:
            out.append(f"\\u{code:04x}")
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


def _float(x: float) -> str:
    if math.isnan(x):
        return "nan"
    if math.isinf(x):
        return "inf" if x > 0 else "-inf"
    text = repr(x)
    return text if any(c in text for c in ".en") else text + ".0"


def value(v: Any) -> str:
    """A value in inline form."""
    if isinstance(v, Raw):
        return str(v)
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        return _float(v)
    if isinstance(v, str):
        return _string(v)
    if isinstance(v, (_dt.date, _dt.time)):
        return v.isoformat()
    if isinstance(v, dict):
        if not v:
            return "{}"
        return "{ " + ", ".join(f"{key(k)} = {value(x)}" for k, x in v.items()) + " }"
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(value(x) for x in v) + "]"
    raise TypeError(f"cannot write {type(v).__name__} as TOML")


def _is_table_array(v: Any) -> bool:
    return isinstance(v, list) and bool(v) and all(isinstance(x, dict) for x in v)


def dumps(data: dict[str, Any]) -> str:
    """A TOML document: top-level scalars, then ``[table]`` and ``[[array]]`` sections.

    Tables nested inside sections are written inline, which keeps key paths
    easy to read in the corpus files.
    """
    lines: list[str] = []
    sections: list[tuple[str, Any]] = []
    for k, v in data.items():
        if isinstance(v, dict) or _is_table_array(v):
            sections.append((k, v))
        else:
            lines.append(f"{key(k)} = {value(v)}")
    for k, v in sections:
        if lines:
            lines.append("")
        if isinstance(v, dict):
            lines.append(f"[{key(k)}]")
            lines.extend(f"{key(kk)} = {value(vv)}" for kk, vv in v.items())
        else:
            for i, entry in enumerate(v):
                if i:
                    lines.append("")
                lines.append(f"[[{key(k)}]]")
                lines.extend(f"{key(kk)} = {value(vv)}" for kk, vv in entry.items())
    return "\n".join(lines) + "\n"
