"""The ``mcverify report`` and ``mcverify validate`` commands (registered by :mod:`mcverify.cli.main`).

``report`` turns a results table into a document or another table format
(:mod:`mcverify.reporting.publish`); ``validate`` runs several configs and writes
their tables and one validation report (:mod:`mcverify.studies.validation`). Errors
are :class:`mcverify.cli.options.UsageError`: one line on stderr, exit 2.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from dataclasses import replace
from pathlib import Path

from mcverify.cli.options import (
    EXIT_FAIL,
    EXIT_PASS,
    UsageError,
    add_common_options,
    nonnegative_int,
    positive_int,
)
from mcverify.cli.terminal import interrupts_exit
from mcverify.extras import require_extra
from mcverify.files import shown_path
from mcverify.tables.atomic import check_target, check_writable, clean_stale, write_new

__all__ = ["add_report_commands"]


def add_report_commands(sub: argparse._SubParsersAction) -> None:
    """Add ``report`` and ``validate`` to the ``mcverify`` subcommands."""
    _add_report(sub)
    _add_validate(sub)


def _add_report(sub: argparse._SubParsersAction) -> None:
    report = sub.add_parser(
        "report",
        help="turn a results table into a report: md, latex, html (with plots), csv, parquet, json",
        description="Summarize a results table (from run, audit -o, or report --format json) and write it "
        "as Markdown, LaTeX, self-contained HTML with plots, or convert it to CSV, Parquet or JSON. "
        "Exit 0 when written, 2 on bad input.",
    )
    report.add_argument(
        "results",
        nargs="+",
        metavar="TABLE",
        help="results tables: .csv, .parquet or .json; several make one document (md, latex or html) "
        "with a combined summary and a section per table",
    )
    report.add_argument(
        "-f", "--format", help="md, latex, html, csv, parquet or json (default: from -o's extension, else md)"
    )
    add_common_options(
        report,
        output="write here (default: standard output)",
        metavar="FILE",
        quiet="print nothing but errors (default: with -o, a summary of each table)",
    )
    report.add_argument(
        "--overwrite",
        action="store_true",
        help="replace FILE if it exists (default: write beside it as <stem>-2<suffix>, ...)",
    )
    report.add_argument(
        "--plots",
        metavar="DIR",
        help="also save every plot as PNG and SVG in DIR, which Markdown and LaTeX reports then link "
        "(default: none saved; HTML embeds its plots)",
    )
    report.add_argument("--no-plots", action="store_true", help="HTML without plots (no matplotlib needed)")
    report.add_argument("--columns", help="comma-separated columns of the table to include (default: all)")
    report.add_argument("--title", help="report title (default: mcverify report: <table name>)")
    report.add_argument(
        "--max-rows",
        type=nonnegative_int,
        default=2000,
        metavar="N",
        help="rows of the full table in md, latex and html, 0 for all (default: 2000)",
    )
    report.set_defaults(handler=_cmd_report)


def _add_validate(sub: argparse._SubParsersAction) -> None:
    val = sub.add_parser(
        "validate",
        help="run several configs and write their tables and one validation report (index.html, index.md)",
        description="Run every config, write DIR/<stem>.csv with provenance, a Monte Carlo convergence "
        "study (DIR/convergence.csv) and the validation report DIR/index.html (self-contained, with plots) "
        "and DIR/index.md. Exit 0 when every case passes, 1 when one fails, 2 on bad input.",
    )
    val.add_argument("configs", nargs="+", metavar="CONFIG", help="TOML config files")
    add_common_options(val, output="output folder (default: results)", default="results")
    val.add_argument(
        "--overwrite", action="store_true", help="replace the files of an earlier validation in the output folder"
    )
    val.add_argument("--jobs", type=positive_int, default=1, help="local worker processes per run (default: 1)")
    val.add_argument(
        "--convergence",
        type=nonnegative_int,
        default=3,
        metavar="K",
        help="Monte Carlo sample sizes below each config's own, a decade apart, 0 for none (default: 3)",
    )
    val.add_argument("--no-plots", action="store_true", help="report without plots (no matplotlib needed)")
    val.set_defaults(handler=_cmd_validate)


def _cmd_validate(args: argparse.Namespace) -> int:
    with interrupts_exit():  # nothing is written yet: Ctrl-C while importing exits 130 at once
        from mcverify.studies.validation import validate

    try:
        require_extra("markdown", "index.md")
        if not args.no_plots:
            require_extra("plots", "the report's plots (or pass --no-plots)")
    except ImportError as exc:
        raise UsageError(f"validate: {exc}") from None
    out = Path(args.output)
    if out.exists() and not out.is_dir():
        raise UsageError(f"{out}: not a folder")
    if out.is_dir() and not args.overwrite:  # an existing results file is replaced only when asked
        names = [f"{Path(c).stem}{sfx}" for c in args.configs for sfx in (".csv", ".provenance.json")]
        existing = [
            n
            for n in (*names, "convergence.csv", "convergence.provenance.json", "index.html", "index.md")
            if (out / n).exists()
        ]
        if existing:
            more = f" (and {len(existing) - 1} more of the files it writes)" if len(existing) > 1 else ""
            raise UsageError(
                f"{out}: {existing[0]} exists{more}; pass --overwrite to replace them, or choose another -o"
            )
    if out.is_dir():
        clean_stale(out)  # temporary files of killed runs
    progress = None if args.quiet else (lambda line: print(line, flush=True))
    t0 = time.perf_counter()
    results, written = validate(
        args.configs, out, jobs=args.jobs, levels=args.convergence, plots=not args.no_plots, progress=progress
    )
    failed = sum(r.failed for r in results)
    if not args.quiet:
        n = sum(len(r.frame) for r in results)
        print(
            f"{len(results)} config{'s' * (len(results) != 1)}, {n} cases: {n - failed} pass, {failed} fail "
            f"in {time.perf_counter() - t0:.1f} s"
        )
        print(f"wrote {len(written)} files in {out}: " + ", ".join(p.name for p in written))
    return EXIT_FAIL if failed else EXIT_PASS


def _cmd_report(args: argparse.Namespace) -> int:
    with interrupts_exit():  # nothing is written yet: Ctrl-C while importing exits 130 at once
        from mcverify.reporting.publish import (
            DOCUMENT_FORMATS,
            build_report,
            check_extras,
            format_for,
            render_reports,
            save_plots,
        )
        from mcverify.tables.readers import ResultsError, read_results

    out = Path(args.output) if args.output else None
    try:
        fmt = format_for(args.format, out)
    except ValueError as exc:
        raise UsageError(f"report: {exc}") from None
    several = len(args.results) > 1
    if several and fmt not in DOCUMENT_FORMATS:
        raise UsageError(f"report: several tables make one document: choose {', '.join(DOCUMENT_FORMATS)}, not {fmt}")
    if args.plots and args.no_plots:
        raise UsageError("report: --plots and --no-plots contradict each other")
    if out is None and fmt == "parquet":
        raise UsageError("report: Parquet is binary: give -o FILE")
    if out is not None and not out.parent.is_dir():
        raise UsageError(f"{out}: the folder {out.parent} does not exist")
    if out is not None and out.is_dir():
        raise UsageError(f"{out}: is a folder; -o takes a file name")
    if out is not None:
        check_target(out, 0 if args.overwrite else 4)  # the name fits, nothing but a file in the way
        check_writable(out.parent)
        clean_stale(out.parent)  # temporary files of killed runs
    plots = bool(args.plots) or (fmt == "html" and not args.no_plots)
    try:
        check_extras(fmt, plots=plots)
    except ImportError as exc:
        raise UsageError(f"report: {exc}") from None
    tables = []
    for path in args.results:  # every table read and checked before any work
        try:
            results = read_results(path)
        except ResultsError as exc:
            raise UsageError(str(exc)) from None
        # From here the path only names the table (title, source): bytes that are not UTF-8 shown as \xff.
        tables.append(replace(results, path=Path(shown_path(results.path))))
    columns = None
    if args.columns:
        columns = [c.strip() for c in args.columns.split(",") if c.strip()]
        if not columns:
            raise UsageError("--columns: give at least one column")
        for results in tables:
            unknown = [c for c in columns if c not in results.frame.columns]
            if unknown:
                raise UsageError(f"--columns: {results.path} has no column {unknown[0]!r}")
    reports = [build_report(r, plots=plots, title=None if several else args.title) for r in tables]
    plot_files: list[dict[str, list[Path]]] = []
    if args.plots:
        try:
            names = [r.results.name for r in reports]
            for i, report in enumerate(reports):  # several tables: a folder each (their plots share names)
                twins = names[:i].count(names[i])  # the second small.* in small-2/
                folder = Path(args.plots) / (f"{names[i]}-{twins + 1}" if twins else names[i])
                plot_files.append(save_plots(report.figures, folder if several else Path(args.plots)))
        except OSError as exc:
            raise UsageError(f"{args.plots}: cannot write the plots ({exc.strerror})") from None
    base = out.parent if out is not None else Path.cwd()
    data = render_reports(
        reports,
        fmt,
        title=args.title,
        columns=columns,
        plot_files=plot_files,
        relative_to=base,
        max_rows=args.max_rows or None,
    )
    if out is None:
        sys.stdout.write(data if isinstance(data, str) else data.decode())
        return EXIT_PASS
    try:
        written = write_new(out, data, overwrite=args.overwrite)
    except OSError as exc:
        raise UsageError(f"{out}: cannot write the report ({exc.strerror})") from None
    if written != out:
        print(f"mcverify: {out} exists: wrote {written} (--overwrite replaces it)", file=sys.stderr)
        out = written
    if not args.quiet:
        for report in reports:
            s = report.summary
            print(f"{report.results.path}: {s.headline()}")
            for m in s.methods.to_dict(orient="records"):
                worst = [
                    f"{k} {m[k]:.3g} ({m[k + ' at']})"
                    # the error in standard errors or in tolerances: a relative error means little next
                    # to p = q, where the KL is near 0, and an absolute one where the KL is huge
                    for k in ("max |z|", "max error / tolerance", "max abs error")
                    if isinstance(m.get(k), float) and math.isfinite(m[k])
                ]
                print(f"  {m['method']}: " + worst[0] if worst else f"  {m['method']}")
        n_files = sum(len(v) for files in plot_files for v in files.values())
        print(f"wrote {out}" + (f" and {n_files} plot files in {args.plots}" if n_files else ""))
    return EXIT_PASS
