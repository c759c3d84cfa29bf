"""A report as a list of blocks, rendered to Markdown, LaTeX (and, in
:mod:`mcverify.reporting.html`, HTML), so that every format says the same.

:func:`report_blocks` turns a results table (and its provenance, an audit's
findings, its figures) into headings, paragraphs, key-value lists, tables
and figures; :func:`to_markdown` and :func:`to_latex` write them out.
Markdown needs tabulate (``mcverify[markdown]``), LaTeX needs Jinja2
(``mcverify[latex]``, for pandas' Styler).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from mcverify.extras import require_extra
from mcverify.reporting.summary import Summary, parameter_label
from mcverify.tables.schema import COLUMNS
from mcverify.tables.textformats import latex_table, latex_text, markdown_table, md_text

__all__ = [
    "Figure",
    "Heading",
    "Items",
    "KeyValues",
    "Paragraph",
    "Table",
    "methods_table",
    "report_blocks",
    "to_latex",
    "to_markdown",
]


@dataclass(frozen=True)
class Heading:
    """A section heading: ``level`` 1 is the title; ``anchor`` is its HTML id and LaTeX label."""

    level: int
    text: str
    anchor: str = ""


@dataclass(frozen=True)
class Paragraph:
    """Plain text; a ``tone`` of "pass" or "fail" makes it a highlighted verdict line."""

    text: str
    tone: str = ""  # "pass", "fail" or "" (HTML colours it)


@dataclass(frozen=True)
class KeyValues:
    """Key-value pairs (the provenance), shown as a definition list."""

    items: tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class Items:
    """A bulleted list."""

    items: tuple[str, ...]


@dataclass(frozen=True, eq=False)
class Table:
    """A table to show: ``digits`` significant digits; ``fail`` marks rows to highlight."""

    frame: pd.DataFrame
    caption: str = ""
    digits: int = 3
    fail: tuple[bool, ...] = ()
    full: bool = False  # the whole results table (HTML folds it; LaTeX makes it a longtable)
    help: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, eq=False)
class Figure:
    """A figure: its item from :func:`mcverify.reporting.plots.standard_figures` and where it was saved."""

    item: Any  # mcverify.reporting.plots.FigureItem
    files: tuple[Path, ...] = ()


Block = Heading | Paragraph | KeyValues | Items | Table | Figure


_FLOAT_WORDS = {None: math.nan, "inf": math.inf, "-inf": -math.inf}


def _provenance_items(prov: dict[str, Any] | None, source: Path | None) -> tuple[tuple[str, str], ...]:
    items: list[tuple[str, str]] = []
    if source is not None:
        items.append(("table", str(source)))
    if not prov:
        items.append(("provenance", "no provenance sidecar beside the table"))
        return tuple(items)
    keys = (
        "config",
        "config_hash",
        "seed",
        "samples",
        "confidence",
        "alpha",
        "error_control",
        "cases",
        "seconds",
        "git_commit",
        "time",
        "platform",
    )
    for k in keys:
        if prov.get(k) is not None:
            items.append((k, str(prov[k])))
    versions = prov.get("versions")
    if isinstance(versions, dict):
        items.append(("versions", ", ".join(f"{k} {v}" for k, v in versions.items())))
    if isinstance(prov.get("command"), list):
        items.append(("command", " ".join(str(a) for a in prov["command"])))
    return tuple(items)


def _audit_blocks(meta: dict[str, Any]) -> list[Block]:
    out: list[Block] = [Heading(2, "Audit", "audit")]
    verdict = str(meta.get("verdict", "")).upper()
    who = meta.get("candidate", "the candidate")
    conv = meta.get("convention", "")
    out.append(Paragraph(f"{who} ({conv}): {verdict}", "pass" if verdict == "PASS" else "fail"))
    diagnoses = meta.get("diagnoses") or []
    meanings = meta.get("diagnosis_meanings") or {}
    if diagnoses:
        first = diagnoses[0]
        text = " + ".join(first) + " (" + "; ".join(meanings.get(i, i) for i in first) + ")"
        if len(diagnoses) > 1:
            text += "; also consistent with " + ", ".join(" + ".join(d) for d in diagnoses[1:])
        out.append(Paragraph(f"Diagnosis: {text}"))
    elif verdict == "FAIL":
        out.append(Paragraph("Diagnosis: no known mistake explains this."))
    if meta.get("problems"):
        out.append(Paragraph("Where it goes wrong:"))
        out.append(Items(tuple(str(p) for p in meta["problems"])))
    if meta.get("warnings"):
        out.append(Paragraph("Warnings:"))
        out.append(Items(tuple(str(w) for w in meta["warnings"])))
    out += _output_blocks(meta.get("output"))
    evidence = meta.get("evidence") or []
    if evidence:
        rows = [
            {
                "reason": e.get("reason"),
                "at": e.get("label"),
                "candidate": e.get("candidate"),
                "true KL": e.get("truth"),
                "Monte Carlo": e.get("mc_estimate"),
                "stderr": e.get("mc_stderr"),
                "z of candidate": e.get("z_candidate"),
                "z of true KL": e.get("z_truth"),
                "quadrature": e.get("quad_value"),
            }
            for e in evidence
        ]
        frame = pd.DataFrame(rows)
        for c in frame.columns[2:]:
            frame[c] = pd.to_numeric(frame[c].map(lambda v: _FLOAT_WORDS.get(v, v)), errors="coerce")
        samples = evidence[0].get("samples")
        out.append(
            Table(
                frame,
                f"Independent evidence: Monte Carlo ({samples} draws) and quadrature at the worst points",
                digits=6,
            )
        )
    out += _training_blocks(meta)
    return out


#: Lines of the candidate's output a report shows (the JSON keeps the first and last few KiB).
OUTPUT_LINES = 10


def _output_blocks(output: Any) -> list[Block]:
    """What the audited candidate wrote to stdout and stderr (the audit's ``output``): counts and its last lines."""
    if not isinstance(output, dict) or not output.get("bytes"):
        return []
    n, size = int(output.get("lines") or 0), int(output["bytes"])
    kept = str(output.get("tail") or output.get("head") or "")
    last = [line for line in kept.splitlines() if line.strip()][-OUTPUT_LINES:]
    said = f"Output of the candidate: {n:,} line{'s' * (n != 1)}, {size:,} byte{'s' * (size != 1)} on stdout/stderr"
    if not last:
        return [Paragraph(said + ".")]
    return [Paragraph(said + (f"; the last {len(last)}:" if len(last) < n else ":")), Items(tuple(last))]


def _training_blocks(meta: dict[str, Any]) -> list[Block]:
    """The gradient part and the training-dtype part of an audit, beside its value part."""
    out: list[Block] = []
    grad = meta.get("gradients")
    if isinstance(grad, dict):
        verdict = str(grad.get("verdict", "")).upper()
        out.append(Heading(3, "Gradients", "audit-gradients"))
        why = "; ".join(str(n) for n in grad.get("notes") or [])
        text = f"Gradients: {verdict}" + (f" ({why})" if verdict == "NOT-CHECKED" and why else "")
        out.append(Paragraph(text, "pass" if verdict == "PASS" else "fail" if verdict == "FAIL" else ""))
        findings = [str(f.get("text", "")) for f in grad.get("findings") or []]
        if findings:
            out.append(Items(tuple(findings)))
        evidence = grad.get("evidence") or []
        if evidence:
            keys = ("argument", "label", "candidate", "exact", "mc_estimate", "mc_stderr", "z_candidate")
            frame = pd.DataFrame([{k: e.get(k) for k in (*keys, "finite_difference")} for e in evidence])
            frame = frame.rename(columns={"label": "at", "mc_estimate": "pathwise Monte Carlo", "mc_stderr": "stderr"})
            for c in frame.columns[2:]:
                frame[c] = pd.to_numeric(frame[c].map(lambda v: _FLOAT_WORDS.get(v, v)), errors="coerce")
            samples = evidence[0].get("samples")
            out.append(
                Table(
                    frame,
                    f"Gradient evidence: pathwise Monte Carlo ({samples} draws) and a central difference of "
                    "the quadrature value at the worst probes",
                    digits=6,
                )
            )
    prec = meta.get("precision")
    if isinstance(prec, dict) and prec.get("verdict") != "not-checked":
        verdict = str(prec.get("verdict", "")).upper()
        out.append(Heading(3, f"Training dtype {prec.get('dtype')}", "audit-dtype"))
        out.append(Paragraph(f"Training dtype {prec.get('dtype')}: {verdict}", "pass" if verdict == "PASS" else "fail"))
        lines = [str(f) for f in prec.get("findings") or []] + [f"note: {n}" for n in prec.get("notes") or []]
        if lines:
            out.append(Items(tuple(lines)))
    return out


def report_blocks(
    frame: pd.DataFrame,
    summary: Summary,
    *,
    title: str,
    source: Path | None = None,
    provenance: dict[str, Any] | None = None,
    meta: dict[str, Any] | None = None,
    figures: Sequence[Figure] = (),
    columns: Sequence[str] | None = None,
    max_rows: int | None = None,
    level: int = 1,
) -> list[Block]:
    """The blocks of one table's report.

    Parameters
    ----------
    frame : pandas.DataFrame
        The results table.
    summary : Summary
        ``mcverify.reporting.summary.summarize(frame)``.
    title : str
    source : path, optional
        The file it was read from.
    provenance, meta : dict, optional
        Its provenance record and, for an audit, the audit's findings.
    figures : sequence of Figure
    columns : sequence of str, optional
        The columns of the full table to show (default: all).
    max_rows : int, optional
        Show at most this many rows of the full table (default: all); the
        summary always covers every row.
    level : int
        Heading level of the title (sections go one deeper).
    """
    h = level
    anchor = "-".join("".join(ch if ch.isalnum() else " " for ch in title.lower()).split())
    out: list[Block] = [Heading(h, title, anchor)]
    tone = "" if summary.failed is None else ("fail" if summary.failed else "pass")
    line = summary.headline() + "."
    if summary.kind == "run":
        line += f" Monte Carlo is judged at family-wise alpha {summary.alpha:g} (Holm)"
        line += f"; {summary.seconds:.1f} s of computing." if summary.seconds is not None else "."
    out.append(Paragraph(line, tone))
    out.append(KeyValues(_provenance_items(provenance, source)))
    if meta and summary.kind == "audit":
        out += [_shift(b, h - 1) for b in _audit_blocks(meta)]

    if summary.numeric is not None and len(summary.numeric):
        out.append(Heading(h + 1, "Numeric columns", f"{anchor}-numeric"))
        out.append(Table(summary.numeric, digits=6))
    if len(summary.methods):
        out.append(Heading(h + 1, "Worst errors per method", f"{anchor}-methods"))
        out.append(
            Table(
                methods_table(summary.methods),
                "Largest errors of each method against the reference, and the case where each occurs; "
                "'fail' counts the cases each method fails on its own, 'unreliable' those where it "
                "does not vouch for its value.",
            )
        )
    if summary.failed:
        out.append(Heading(h + 1, f"Failures ({summary.failed})", f"{anchor}-failures"))
        out.append(Table(summary.failures, digits=6))
        if summary.more_failures:
            out.append(Paragraph(f"... and {summary.more_failures} more (see the full table)."))
    for key, sub, text in (
        ("dimension", summary.by_dimension, "By dimension"),
        ("group", summary.by_group, "By group"),
    ):
        if sub is not None and len(sub) > 1:
            out.append(Heading(h + 1, text, f"{anchor}-by-{key}"))
            out.append(Table(sub))
    for col, sub in summary.by_parameter.items():
        label = parameter_label(col)
        out.append(Heading(h + 1, f"By parameter {label}", f"{anchor}-by-{label}"))
        out.append(
            Table(
                sub.rename(columns={col: label}), f"Cases with {label} in each range (cases without it are left out)."
            )
        )
    if figures:
        out.append(Heading(h + 1, "Plots", f"{anchor}-plots"))
        out += list(figures)
    shown = frame if columns is None else frame[list(columns)]
    fail: tuple[bool, ...] = ()
    if summary.status_column is not None:
        fail = tuple(~frame[summary.status_column].astype(str).str.lower().isin(["pass", "ok"]))
    what = {"run": "cases", "audit": "probes"}.get(summary.kind, "rows")
    cut = max_rows is not None and len(frame) > max_rows
    out.append(
        Heading(
            h + 1,
            f"The first {max_rows} of {len(frame)} {what}" if cut else f"All {len(frame)} {what}",
            f"{anchor}-table",
        )
    )
    if cut:
        assert max_rows is not None  # cut says so
        shown, fail = shown.head(max_rows), fail[:max_rows]
        where = f" in {source}" if source is not None else ""
        out.append(Paragraph(f"The table has {len(frame)} rows; all of them are summarized above and all are{where}."))
    out.append(Table(shown, digits=6, fail=fail, full=True, help={c: COLUMNS[c] for c in shown if c in COLUMNS}))
    return out


def methods_table(methods: pd.DataFrame, digits: int = 3) -> pd.DataFrame:
    """The per-method summary for reading: each worst value with its case, ``"3.18 at <case>"``."""
    out = methods[["method", "cases", "fail"]].copy()
    if "unreliable" in methods and methods["unreliable"].notna().any():
        out["unreliable"] = methods["unreliable"].astype("Int64")
    for title in ("max |z|", "max error / tolerance", "max rel error", "max abs error"):
        if title not in methods or not methods[title].notna().any():
            continue
        out[title] = [
            "" if not isinstance(v, float) or math.isnan(v) else f"{v:.{digits}g} at {at}" if at else f"{v:.{digits}g}"
            for v, at in zip(methods[title], methods[f"{title} at"], strict=True)
        ]
    return out


def _shift(block: Block, by: int) -> Block:
    if isinstance(block, Heading):
        return Heading(block.level + by, block.text, block.anchor)
    return block


# ---------------------------------------------------------------- Markdown
def to_markdown(blocks: Sequence[Block]) -> str:
    """The blocks as GitHub-flavoured Markdown (pipe tables; figures as links to their PNG files)."""

    require_extra("markdown", "a Markdown report")
    parts: list[str] = []
    for b in blocks:
        if isinstance(b, Heading):
            parts.append("#" * min(b.level, 6) + " " + b.text)
        elif isinstance(b, Paragraph):
            parts.append(f"**{b.text}**" if b.tone else b.text)
        elif isinstance(b, KeyValues):
            parts.append(
                "\n".join(
                    f"- {k}: `{v}`" if k in ("config_hash", "git_commit", "command") else f"- {k}: {v}"
                    for k, v in b.items
                )
            )
        elif isinstance(b, Items):
            parts.append("\n".join(f"- {md_text(i)}" for i in b.items))
        elif isinstance(b, Table):
            if b.caption:
                parts.append(f"*{b.caption}*")
            if len(b.frame.columns):
                parts.append(markdown_table(b.frame, b.digits))
        elif isinstance(b, Figure):
            png = [p for p in b.files if p.suffix == ".png"]
            text = f"**{b.item.title}.** {b.item.caption}"
            parts.append(f"![{b.item.title}]({png[0].as_posix()})\n\n{text}" if png else text)
    return "\n\n".join(parts) + "\n"


# ------------------------------------------------------------------- LaTeX
_LATEX_HEADINGS = {1: "section", 2: "subsection", 3: "subsubsection", 4: "paragraph"}


def to_latex(blocks: Sequence[Block]) -> str:
    r"""The blocks as a LaTeX fragment to ``\input`` into a document.

    Tables are booktabs tabulars in ``table`` floats (the full results table
    a ``longtable``); figures are ``\includegraphics`` of their saved files.
    The preamble needs ``booktabs``, ``longtable`` and ``graphicx``.
    """

    require_extra("latex", "a LaTeX report")
    parts = [r"% mcverify report: \input{} this file; needs \usepackage{booktabs,longtable,graphicx}"]
    top = min((b.level for b in blocks if isinstance(b, Heading)), default=1)
    for b in blocks:
        if isinstance(b, Heading):
            cmd = _LATEX_HEADINGS.get(b.level - top + 1, "paragraph")
            parts.append(f"\\{cmd}*{{{latex_text(b.text)}}}" + (f"\\label{{{b.anchor}}}" if b.anchor else ""))
        elif isinstance(b, Paragraph):
            text = latex_text(b.text)
            parts.append(f"\\textbf{{{text}}}" if b.tone else text)
        elif isinstance(b, KeyValues):
            rows = "\n".join(f"  \\item[{latex_text(k)}] \\texttt{{{latex_text(v)}}}" for k, v in b.items)
            parts.append("\\begin{description}\n" + rows + "\n\\end{description}")
        elif isinstance(b, Items):
            rows = "\n".join(f"  \\item {latex_text(i)}" for i in b.items)
            parts.append("\\begin{itemize}\n" + rows + "\n\\end{itemize}")
        elif isinstance(b, Table):
            if not len(b.frame.columns):
                continue
            if b.full:
                parts.append(
                    "{\\scriptsize\n"
                    + latex_table(b.frame, long=True, caption=b.caption or None, digits=b.digits)
                    + "}"
                )
            else:
                body = latex_table(b.frame, digits=b.digits)
                cap = f"\\caption{{{latex_text(b.caption)}}}\n" if b.caption else ""
                # Shrunk to the line width only when wider (box 0 is scratch; the float is a group).
                parts.append(
                    "\\begin{table}[htbp]\n\\centering\n\\small\n"
                    + cap
                    + "\\sbox0{%\n"
                    + body
                    + "}%\n"
                    + "\\ifdim\\wd0>\\linewidth\\resizebox{\\linewidth}{!}{\\usebox0}\\else\\usebox0\\fi\n"
                    + "\\end{table}"
                )
        elif isinstance(b, Figure):
            files = [p for p in b.files if p.suffix in (".pdf", ".png")]
            caption = latex_text(f"{b.item.title}. {b.item.caption}")
            if files:
                parts.append(
                    "\\begin{figure}[htbp]\n\\centering\n"
                    f"\\includegraphics[width=\\linewidth]{{{files[0].as_posix()}}}\n"
                    f"\\caption{{{caption}}}\n\\end{{figure}}"
                )
    return "\n\n".join(parts) + "\n"
