"""Turn a results table into a report file: the glue behind ``mcverify report``.

Reads nothing and prints nothing itself: it takes a
:class:`mcverify.tables.readers.Results`, summarizes it
(:func:`mcverify.reporting.summary.summarize`), draws its plots
(:func:`mcverify.reporting.plots.standard_figures`) and renders it in one format:

- ``md``, ``latex``, ``html``: a document with the summary, the plots (HTML
  embeds them; Markdown and LaTeX link to the files written with
  ``plots_dir``) and the table;
- ``csv``, ``parquet``: the table itself, exactly (a format conversion);
- ``json``: ``{"report": {title, source, summary}, "provenance": ...,
  "table": [records]}`` (plus an audit's findings), which
  :func:`mcverify.tables.readers.read_results` reads back.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from mcverify.extras import require_extra
from mcverify.reporting.documents import Figure, Heading, Paragraph, Table, report_blocks, to_latex, to_markdown
from mcverify.reporting.html import render_html
from mcverify.reporting.plots import save_figure, standard_figures
from mcverify.reporting.summary import Summary, summarize
from mcverify.tables.readers import Results
from mcverify.tables.textformats import jsonable
from mcverify.tables.writers import FORMATS, column_types, render_table

__all__ = [
    "DOCUMENT_FORMATS",
    "REPORT_FORMATS",
    "Report",
    "build_report",
    "format_for",
    "overview",
    "render_report",
    "render_reports",
    "save_plots",
]

#: Report formats and the suffix of their files.
REPORT_FORMATS = {"md": ".md", "latex": ".tex", "html": ".html", "csv": ".csv", "parquet": ".parquet", "json": ".json"}
_BY_SUFFIX = {
    ".md": "md",
    ".markdown": "md",
    ".tex": "latex",
    ".html": "html",
    ".htm": "html",
    ".csv": "csv",
    ".parquet": "parquet",
    ".pq": "parquet",
    ".json": "json",
}
#: The formats that are documents (the others are one table's conversion).
DOCUMENT_FORMATS = ("md", "latex", "html")
#: Rows of the full table a document shows by default (the summary covers all).
MAX_ROWS = 2000


def format_for(fmt: str | None, out: Path | None) -> str:
    """The report format: ``fmt`` if given, else from ``out``'s suffix, else Markdown."""
    if fmt is not None:
        if fmt not in REPORT_FORMATS:
            raise ValueError(f"unknown report format {fmt!r}: choose from {', '.join(REPORT_FORMATS)}")
        return fmt
    if out is not None:
        found = _BY_SUFFIX.get(out.suffix.lower())
        if found is None:
            raise ValueError(f"cannot tell the format from {out.name!r}: give --format ({', '.join(REPORT_FORMATS)})")
        return found
    return "md"


def check_extras(fmt: str, *, plots: bool) -> None:
    """Raise :class:`mcverify.extras.MissingExtraError` before any work if a dependency is missing."""
    extra = FORMATS[fmt][1] if fmt in FORMATS else None
    if extra is not None:
        require_extra(extra, f"format {fmt!r}")
    if plots:
        require_extra("plots", "plots (or pass --no-plots)" if fmt == "html" else "plots")


@dataclass(frozen=True, eq=False)
class Report:
    """A table with its summary and figures, ready to render."""

    results: Results
    summary: Summary
    figures: list[Any]  # mcverify.reporting.plots.FigureItem
    title: str

    @property
    def frame(self) -> pd.DataFrame:
        return self.results.frame


def _default_title(results: Results) -> str:
    meta = results.meta
    if meta.get("convention") and meta.get("candidate"):
        return f"mcverify audit: {meta['candidate']} ({meta['convention']})"
    return f"mcverify report: {results.name}"


def build_report(
    results: Results, *, plots: bool = True, title: str | None = None, convergence: pd.DataFrame | None = None
) -> Report:
    """Summarize a table and draw its plots (``plots=False``: none, no matplotlib needed)."""
    prov = results.provenance or {}
    alpha = prov.get("alpha")
    summary = summarize(results.frame, alpha=alpha)
    figures: list[Any] = []
    if plots:
        figures = standard_figures(
            results.frame,
            meta=results.meta,
            alpha=summary.alpha,
            confidence=prov.get("confidence"),
            convergence=convergence,
            name=results.name,
        )
    return Report(results, summary, figures, title or _default_title(results))


def save_plots(
    figures: Sequence[Any], folder: Path, *, formats: Sequence[str] = ("png", "svg")
) -> dict[str, list[Path]]:
    """Write every figure as ``<folder>/<key>.png`` and ``.svg``; returns the files per key."""

    folder.mkdir(parents=True, exist_ok=True)
    return {f.key: save_figure(f.figure, folder / f.key, formats) for f in figures}


def blocks_for(
    report: Report,
    *,
    columns: Sequence[str] | None = None,
    plot_files: dict[str, list[Path]] | None = None,
    relative_to: Path | None = None,
    level: int = 1,
    max_rows: int | None = None,
) -> list[Any]:
    """The document blocks of a report; figures link to ``plot_files`` (relative to ``relative_to``)."""

    figs = []
    for item in report.figures:
        files = [
            Path(os.path.relpath(p, relative_to)) if relative_to is not None else p
            for p in (plot_files or {}).get(item.key, [])
        ]
        figs.append(Figure(item, tuple(files)))
    r = report.results
    return report_blocks(
        r.frame,
        report.summary,
        title=report.title,
        source=r.path,
        provenance=r.provenance,
        meta=r.meta,
        figures=figs,
        columns=columns,
        level=level,
        max_rows=max_rows,
    )


def render_report(
    report: Report,
    fmt: str,
    *,
    columns: Sequence[str] | None = None,
    plot_files: dict[str, list[Path]] | None = None,
    relative_to: Path | None = None,
    dpi: float = 100,
    max_rows: int | None = MAX_ROWS,
) -> str | bytes:
    """The report in ``fmt`` (see the module docstring); documents show at most ``max_rows`` rows."""
    frame = report.frame if columns is None else report.frame[list(columns)]
    if fmt in ("csv", "parquet"):
        return render_table(frame, fmt)
    if fmt == "json":
        r = report.results
        out: dict[str, Any] = {k: v for k, v in r.meta.items() if k != "report"}
        out["report"] = {"title": report.title, "source": str(r.path), "summary": report.summary.as_dict()}
        out["provenance"] = dict(r.provenance or {}, dtypes=column_types(frame))
        records = [dict(zip(frame.columns, row)) for row in frame.itertuples(index=False, name=None)]
        out["table"] = records
        return json.dumps(jsonable(out), indent=1, allow_nan=False) + "\n"
    blocks = blocks_for(report, columns=columns, plot_files=plot_files, relative_to=relative_to, max_rows=max_rows)
    if fmt == "md":
        return to_markdown(blocks)
    if fmt == "latex":
        return to_latex(blocks)
    if fmt == "html":
        return render_html(blocks, title=report.title, dpi=dpi)
    raise ValueError(f"unknown report format {fmt!r}")


def overview(reports: Sequence[Report]) -> pd.DataFrame:
    """One row per report: ``table``, ``rows``, ``pass``, ``fail`` and each method's worst ``max |z|``
    and ``max error / tolerance`` over the tables (the combined summary of several tables)."""
    rows = []
    for r in reports:
        s = r.summary
        row: dict[str, Any] = {"table": str(r.results.path), "kind": s.kind, "rows": s.rows}
        row["pass"], row["fail"] = s.passed, s.failed
        for title in ("max |z|", "max error / tolerance"):
            values = s.methods[title].dropna() if title in s.methods else pd.Series(dtype=float)
            row[title] = float(values.max()) if len(values) else float("nan")
        rows.append(row)
    return pd.DataFrame(rows)


def render_reports(
    reports: Sequence[Report],
    fmt: str,
    *,
    title: str | None = None,
    columns: Sequence[str] | None = None,
    plot_files: Sequence[dict[str, list[Path]]] | None = None,
    relative_to: Path | None = None,
    dpi: float = 100,
    max_rows: int | None = MAX_ROWS,
) -> str | bytes:
    """Several tables as one document: the combined summary (:func:`overview`), then a section per table.

    One report is :func:`render_report`'s document. Several need a document
    format (:data:`DOCUMENT_FORMATS`); ``plot_files`` holds each report's files.
    """
    if len(reports) == 1:
        files = plot_files[0] if plot_files else None
        return render_report(
            reports[0], fmt, columns=columns, plot_files=files, relative_to=relative_to, dpi=dpi, max_rows=max_rows
        )
    if fmt not in DOCUMENT_FORMATS:
        raise ValueError(f"several tables make one document: choose {', '.join(DOCUMENT_FORMATS)}, not {fmt!r}")
    table = overview(reports)
    doc_title = title or f"mcverify report: {len(reports)} tables"
    n = int(table["rows"].sum())
    line = f"{len(reports)} tables, {n} rows"
    judged = table["fail"].notna()
    tone = ""
    if judged.any():
        failed = int(table.loc[judged, "fail"].sum())
        line += f"; of the {int(table.loc[judged, 'rows'].sum())} judged: {failed} fail"
        tone = "fail" if failed else "pass"
    blocks: list[Any] = [
        Heading(1, doc_title, "top"),
        Paragraph(line + ".", tone),
        Table(table, "One row per table; each worst value is the largest over the table's methods."),
    ]
    for i, report in enumerate(reports):
        files = plot_files[i] if plot_files else None
        section = Report(report.results, report.summary, report.figures, str(report.results.path))
        blocks += blocks_for(
            section, columns=columns, plot_files=files, relative_to=relative_to, level=2, max_rows=max_rows
        )
    if fmt == "md":
        return to_markdown(blocks)
    if fmt == "latex":
        return to_latex(blocks)
    return render_html(blocks, title=doc_title, dpi=dpi, nav=True)
