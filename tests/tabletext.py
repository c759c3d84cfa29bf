"""Independent parsers for the tables mcverify writes as text: GitHub pipe tables and LaTeX tabulars.

Deliberately small and strict, so that a malformed table fails the tests
instead of being guessed at.
"""

from __future__ import annotations

import re

_PIPE = re.compile(r"(?<!\\)\|")
_SEP = re.compile(r"^:?-{3,}:?$")


def _cells(line: str) -> list[str]:
    parts = _PIPE.split(line.strip())
    assert parts[0] == "" and parts[-1] == "", f"a pipe-table row starts and ends with '|': {line!r}"
    return [p.strip().replace("\\|", "|").replace("\\\\", "\\") for p in parts[1:-1]]


def pipe_tables(text: str) -> list[tuple[list[str], list[list[str]]]]:
    """Every pipe table in a Markdown text: (header, rows); asserts each is well formed."""
    out = []
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        if not lines[i].startswith("|"):
            i += 1
            continue
        block = []
        while i < len(lines) and lines[i].startswith("|"):
            block.append(lines[i])
            i += 1
        header = _cells(block[0])
        sep = _cells(block[1])
        assert len(sep) == len(header) and all(_SEP.match(s) for s in sep), f"bad separator {block[1]!r}"
        rows = [_cells(r) for r in block[2:]]
        assert all(len(r) == len(header) for r in rows), "every row has one cell per column"
        out.append((header, rows))
    return out


_TABULAR = re.compile(r"\\begin\{(tabular|longtable)\}\{([^}]*)\}(.*?)\\end\{\1\}", re.S)
_AMP = re.compile(r"(?<!\\)&")


def _strip_math(cell: str) -> str:
    return re.sub(r"\$[^$]*\$", "", cell)


def latex_tabulars(text: str) -> list[tuple[str, list[str], list[list[str]]]]:
    """Every booktabs tabular/longtable: (column spec, header, rows); asserts each is well formed.

    Checks that the column spec has one letter per cell in every row, that
    each row ends with ``\\\\``, that header and body are separated by booktabs
    rules, and that no cell holds an unescaped LaTeX special character
    (``& % # _``) outside math.
    """
    out = []
    for m in _TABULAR.finditer(text):
        spec, body = m.group(2), m.group(3)
        ncol = len(re.findall(r"[lrcp]", spec))
        assert "\\toprule" in body and "\\midrule" in body and "\\bottomrule" in body, "booktabs rules"
        head_part = body.split("\\toprule", 1)[1].split("\\midrule", 1)[0]
        if m.group(1) == "longtable":  # header, repeated header and footers, then the rows
            assert "\\endhead" in body and "\\endlastfoot" in body, "longtable head and foot"
            rows_part = re.split(r"\\endlastfoot|\\endfoot|\\endhead", body)[-1]
        else:
            rows_part = body.split("\\midrule", 1)[1].split("\\bottomrule", 1)[0]
        rows = []
        for part, store in ((head_part, None), (rows_part, rows)):
            for line in part.strip().splitlines():
                line = line.strip()
                if not line or (line.startswith("\\") and not line.endswith("\\\\")):
                    continue
                assert line.endswith("\\\\"), f"row must end with \\\\: {line!r}"
                cells = [c.strip() for c in _AMP.split(line[:-2])]
                assert len(cells) == ncol, f"{len(cells)} cells for {ncol} columns in {line!r}"
                for c in cells:
                    assert not re.search(r"(?<!\\)[%#_&]", _strip_math(c)), f"unescaped special character in {c!r}"
                if store is None:
                    header = cells
                else:
                    store.append(cells)
        out.append((spec, header, rows))
    return out
