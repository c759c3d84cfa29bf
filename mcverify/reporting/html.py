"""A self-contained HTML report: one file that opens in any browser, offline.

Everything is inside the file: the CSS inline, the plots as base64 PNG
``data:`` URIs, one inline script (:data:`SCRIPT`: click a column name to
sort a table, type in the box above the full table to filter its rows), and
no fonts, styles or scripts from the network. A Content-Security-Policy
``<meta>`` (``default-src 'none'``, and ``script-src`` that names
:data:`SCRIPT` by its SHA-256) makes the browser refuse any other load or
script, so the page provably works without a server or a network. Built
with the standard library (no template engine): every piece of text goes
through :func:`html.escape`. Without scripts the page reads the same,
unsorted and unfiltered.
"""

from __future__ import annotations

import base64
import hashlib
import html
import math
from collections.abc import Sequence
from typing import Any

import pandas as pd

from mcverify._version import __version__
from mcverify.reporting.documents import Block, Figure, Heading, Items, KeyValues, Paragraph, Table
from mcverify.reporting.plots import figure_bytes

__all__ = ["CSP", "SCRIPT", "render_html"]

#: Sorting (click a column name; again for descending) and filtering (every word typed must occur in the
#: row; "fail" finds the failing rows) of the page's tables. Numbers sort as numbers, empty cells last.
SCRIPT = """
(function () {
  function key(td, num) {
    var t = td ? td.textContent : "";
    if (!num) return t.toLowerCase();
    if (t === "") return NaN;
    return t === "inf" ? Infinity : t === "-inf" ? -Infinity : parseFloat(t);
  }
  function sortBy(table, col, th) {
    var body = table.tBodies[0];
    var rows = Array.prototype.slice.call(body.rows);
    var num = rows.some(function (r) { return r.cells[col] && r.cells[col].className === "num"; });
    var down = th.getAttribute("aria-sort") === "ascending";
    Array.prototype.forEach.call(table.tHead.rows[0].cells, function (c) { c.removeAttribute("aria-sort"); });
    th.setAttribute("aria-sort", down ? "descending" : "ascending");
    rows.sort(function (a, b) {
      var x = key(a.cells[col], num), y = key(b.cells[col], num);
      if (num && isNaN(x)) return isNaN(y) ? 0 : 1;
      if (num && isNaN(y)) return -1;
      var c = x < y ? -1 : x > y ? 1 : 0;
      return down ? -c : c;
    });
    rows.forEach(function (r) { body.appendChild(r); });
  }
  function filter(table, input, count) {
    var words = input.value.toLowerCase().split(/\\s+/).filter(Boolean);
    var shown = 0, rows = table.tBodies[0].rows;
    for (var i = 0; i < rows.length; i++) {
      var text = rows[i].textContent.toLowerCase() + (rows[i].className === "fail" ? " fail" : "");
      var ok = words.every(function (w) { return text.indexOf(w) >= 0; });
      rows[i].hidden = !ok;
      shown += ok ? 1 : 0;
    }
    count.textContent = shown + " of " + rows.length + " rows";
  }
  Array.prototype.forEach.call(document.querySelectorAll("table.sortable"), function (table) {
    Array.prototype.forEach.call(table.tHead.rows[0].cells, function (th, col) {
      th.tabIndex = 0;
      th.addEventListener("click", function () { sortBy(table, col, th); });
      th.addEventListener("keydown", function (e) { if (e.key === "Enter") sortBy(table, col, th); });
    });
    var box = table.parentNode.previousElementSibling;
    if (box && box.className === "filter") {
      var input = box.querySelector("input"), count = box.querySelector("span");
      box.hidden = false;
      input.addEventListener("input", function () { filter(table, input, count); });
      filter(table, input, count);
    }
  });
})();
"""
#: The page may load nothing but its own inline styles, data: images and :data:`SCRIPT`.
CSP = (
    "default-src 'none'; img-src data:; style-src 'unsafe-inline'; "
    f"script-src 'sha256-{base64.b64encode(hashlib.sha256(SCRIPT.encode()).digest()).decode()}'"
)

_CSS = """
:root { --fail: #b42318; --fail-bg: #fdecea; --pass: #1e7b34; --pass-bg: #e7f5ea; --rule: #d0d7de; }
* { box-sizing: border-box; }
body { font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", sans-serif;
       color: #1f2328; margin: 0; background: #fff; }
main { max-width: 1180px; margin: 0 auto; padding: 24px 28px 64px; }
h1 { font-size: 1.8em; margin: .2em 0 .4em; border-bottom: 1px solid var(--rule); padding-bottom: .2em; }
h2 { font-size: 1.4em; margin: 1.6em 0 .4em; border-bottom: 1px solid var(--rule); padding-bottom: .15em; }
h3 { font-size: 1.15em; margin: 1.3em 0 .4em; }
h4 { font-size: 1em; margin: 1.1em 0 .3em; }
p.banner { padding: .5em .8em; border-radius: 6px; font-weight: 600; }
p.pass { background: var(--pass-bg); color: var(--pass); }
p.fail { background: var(--fail-bg); color: var(--fail); }
dl.kv { display: grid; grid-template-columns: max-content 1fr; gap: .1em 1em; font-size: .88em; margin: .6em 0; }
dl.kv dt { color: #57606a; }
dl.kv dd { margin: 0; font-family: ui-monospace, "DejaVu Sans Mono", monospace; overflow-wrap: anywhere; }
.scroll { overflow-x: auto; max-width: 100%; }
table { border-collapse: collapse; font-size: .82em; margin: .5em 0 1em; }
caption { caption-side: top; text-align: left; color: #57606a; padding: .2em 0; font-style: italic; }
th, td { border-bottom: 1px solid #eaeef2; padding: .25em .6em; vertical-align: top; }
th { background: #f6f8fa; text-align: left; position: sticky; top: 0; white-space: nowrap; }
table.sortable th { cursor: pointer; }
table.sortable th[aria-sort="ascending"]::after { content: " \\25B2"; }
table.sortable th[aria-sort="descending"]::after { content: " \\25BC"; }
table.full td { white-space: nowrap; }
div.filter { margin: .5em 0; font-size: .88em; }
div.filter input { font: inherit; padding: .2em .4em; width: 22em; }
div.filter span { color: #57606a; margin-left: .8em; }
th[title] { text-decoration: underline dotted #8c959f; cursor: help; }
td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
tr.fail td { background: var(--fail-bg); }
figure { margin: 1em 0 1.6em; }
figure img { max-width: 100%; height: auto; border: 1px solid #eaeef2; }
figcaption { font-size: .88em; color: #444c56; max-width: 900px; }
details { margin: .6em 0 1.2em; }
summary { cursor: pointer; font-weight: 600; }
nav ul { columns: 2; font-size: .92em; }
footer { margin-top: 3em; font-size: .8em; color: #57606a; }
"""


def _esc(x: Any) -> str:
    return html.escape(str(x), quote=True)


def _cell(v: Any, digits: int) -> tuple[str, bool]:
    """Display text of a cell and whether it is a number."""
    if v is None or v is pd.NA:
        return "", False
    if isinstance(v, bool):
        return str(v), False
    if isinstance(v, int) or (hasattr(v, "dtype") and getattr(v.dtype, "kind", "") in "iu"):
        return str(int(v)), True
    if isinstance(v, float) or (hasattr(v, "dtype") and getattr(v.dtype, "kind", "") == "f"):
        x = float(v)
        if math.isnan(x):
            return "", True
        if math.isinf(x):
            return ("inf" if x > 0 else "-inf"), True
        return f"{x:.{digits}g}", True
    return str(v), False


def _table(t: Table) -> str:
    cols = list(t.frame.columns)
    head = "".join(
        f'<th title="{_esc(t.help[c])}">{_esc(c)}</th>' if c in t.help else f"<th>{_esc(c)}</th>" for c in cols
    )
    rows = []
    for i, row in enumerate(t.frame.itertuples(index=False, name=None)):
        cells = []
        for v in row:
            text, num = _cell(v, t.digits)
            cells.append(f'<td class="num">{_esc(text)}</td>' if num else f"<td>{_esc(text)}</td>")
        cls = ' class="fail"' if i < len(t.fail) and t.fail[i] else ""
        rows.append(f"<tr{cls}>{''.join(cells)}</tr>")
    caption = f"<caption>{_esc(t.caption)}</caption>" if t.caption and not t.full else ""
    cls = "sortable full" if t.full else "sortable"
    body = (
        f'<div class="scroll"><table class="{cls}">{caption}<thead><tr>{head}</tr></thead>'
        f"<tbody>{''.join(rows)}</tbody></table></div>"
    )
    if t.full:
        n_fail = sum(t.fail)
        extra = f", {n_fail} failing highlighted" if n_fail else ""
        box = (  # shown by the script: without it there is nothing to filter with
            '<div class="filter" hidden><label>Filter rows: <input type="search" '
            'placeholder="words every row shown contains; fail: the failing rows"></label><span></span></div>'
        )
        body = (
            f"<details><summary>Show the table ({len(t.frame)} rows, {len(cols)} columns{extra}; "
            f"hover a column name for its meaning, click it to sort)</summary>{box}{body}</details>"
        )
    return body


def _figure(f: Figure, dpi: float) -> str:

    png = figure_bytes(f.item.figure, "png", dpi=dpi, compact=True)
    width, height = (int(round(v * dpi)) for v in f.item.figure.get_size_inches())  # noqa: RUF046 - v is a numpy float64: round() may keep it a float
    data = base64.b64encode(png).decode("ascii")
    return (
        f'<figure id="{_esc(f.item.key)}"><img src="data:image/png;base64,{data}" '
        f'alt="{_esc(f.item.title)}" width="{width}" height="{height}">'
        f"<figcaption><b>{_esc(f.item.title)}.</b> {_esc(f.item.caption)}</figcaption></figure>"
    )


def _block(b: Block, dpi: float) -> str:
    if isinstance(b, Heading):
        n = min(max(b.level, 1), 6)
        anchor = f' id="{_esc(b.anchor)}"' if b.anchor else ""
        return f"<h{n}{anchor}>{_esc(b.text)}</h{n}>"
    if isinstance(b, Paragraph):
        return f'<p class="banner {b.tone}">{_esc(b.text)}</p>' if b.tone else f"<p>{_esc(b.text)}</p>"
    if isinstance(b, KeyValues):
        return '<dl class="kv">' + "".join(f"<dt>{_esc(k)}</dt><dd>{_esc(v)}</dd>" for k, v in b.items) + "</dl>"
    if isinstance(b, Items):
        return "<ul>" + "".join(f"<li>{_esc(i)}</li>" for i in b.items) + "</ul>"
    if isinstance(b, Table):
        return _table(b) if len(b.frame.columns) else ""
    if isinstance(b, Figure):
        return _figure(b, dpi)
    raise TypeError(f"not a report block: {b!r}")


def render_html(blocks: Sequence[Block], *, title: str, dpi: float = 100, nav: bool = False) -> str:
    """The blocks as one self-contained HTML page.

    Parameters
    ----------
    blocks : sequence of Block
        From :func:`mcverify.reporting.documents.report_blocks` (several reports may
        be concatenated).
    title : str
        The page title.
    dpi : float
        Resolution of the embedded PNG plots (a 7-inch figure at 100 dpi is
        700 pixels wide).
    nav : bool
        Add a table of contents linking to the level-1 and level-2 headings.

    Returns
    -------
    str
        The page: no external references, no script but :data:`SCRIPT`.
    """

    parts = [_block(b, dpi) for b in blocks]
    toc = ""
    if nav:
        links = [
            f'<li><a href="#{_esc(b.anchor)}">{_esc(b.text)}</a></li>'
            for b in blocks
            if isinstance(b, Heading) and b.level == 2 and b.anchor
        ]
        if links:
            toc = f"<nav><ul>{''.join(links)}</ul></nav>"
    if parts and toc:
        parts.insert(1, toc)
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f'<meta name="generator" content="mcverify {_esc(__version__)}">\n'
        f"<title>{_esc(title)}</title>\n<style>{_CSS}</style>\n</head>\n<body>\n<main>\n"
        + "\n".join(p for p in parts if p)
        + f"\n<footer>Generated by mcverify {_esc(__version__)}. This page is self-contained: "
        "its plots are embedded and it loads nothing from a network.</footer>\n"
        f"</main>\n<script>{SCRIPT}</script>\n</body>\n</html>\n"
    )
