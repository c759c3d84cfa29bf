"""Validate a set of configs and write one report: the engine of ``mcverify validate``.

For each config: run it (closed form, Monte Carlo, quadrature) as ``mcverify
run`` does and write ``<stem>.csv`` with its provenance; rerun its Monte
Carlo alone at smaller sample sizes to measure the convergence rate; then
write ``index.html`` (a self-contained report with every summary, plot and
table) and ``index.md`` (the summaries, which GitHub shows beside the files).
``mcverify validate configs/*.toml -o results/validation --overwrite`` regenerates the
repository's ``results/validation/`` (a folder of its own inside ``results/``,
where ``mcverify run`` writes by default and git ignores everything else).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any, SupportsFloat, cast

import pandas as pd

from mcverify.config.cases import RunSpec
from mcverify.config.loader import load_config
from mcverify.engine.case import Methods
from mcverify.engine.pipeline import RunOptions, execute
from mcverify.reporting.documents import Heading, Items, Paragraph, Table, to_markdown
from mcverify.reporting.html import render_html
from mcverify.reporting.publish import Report, blocks_for, build_report
from mcverify.reporting.summary import convergence_slope, summarize
from mcverify.studies.convergence import convergence_table
from mcverify.tables.readers import Results, provenance_path, read_results
from mcverify.tables.result_files import write_results
from mcverify.tables.writers import atomic_write, provenance

__all__ = ["ConfigResult", "validate"]


@dataclass(frozen=True, eq=False)
class ConfigResult:
    """One validated config: its table, the files written and its convergence study."""

    stem: str
    spec: RunSpec
    frame: pd.DataFrame
    convergence: pd.DataFrame
    provenance: dict[str, Any]
    files: tuple[Path, ...]
    seconds: float

    @property
    def failed(self) -> int:
        return int((self.frame["verdict"] != "pass").sum())


def validate(
    configs: Sequence[str | Path],
    out: Path,
    *,
    jobs: int | None = 1,
    levels: int = 3,
    plots: bool = True,
    progress: Callable[[str], None] | None = None,
    methods: Methods | None = None,
) -> tuple[list[ConfigResult], list[Path]]:
    """Run every config and write the tables, ``index.html`` and ``index.md`` into ``out``.

    Parameters
    ----------
    configs : sequence of path
        Config files, validated in this order.
    out : pathlib.Path
        Output folder (created if needed).
    jobs : int
        Worker processes per run.
    levels : int
        Sample sizes below each config's own for the convergence study
        (0: none).
    plots : bool
        Embed plots in ``index.html`` (needs matplotlib).
    progress : callable, optional
        Called with a line of text after each step.
    methods : Methods, optional
        The three methods to compute each case with; mcverify's own by default.

    Returns
    -------
    (list of ConfigResult, list of pathlib.Path)
        The results and every file written.

    Raises
    ------
    mcverify.errors.ConfigError
        A config is invalid (checked for all configs before anything runs).
    """
    specs = [load_config(c) for c in configs]  # every config checked before any work
    out.mkdir(parents=True, exist_ok=True)
    results: list[ConfigResult] = []
    written: list[Path] = []
    for spec in specs:
        stem = Path(spec.source).stem
        t0 = time.perf_counter()
        # The run is computed and written exactly as `mcverify run` does it.
        options = RunOptions(output=out, formats=["csv"], jobs=jobs or 1, quiet=True, overwrite=True)
        execute(spec, options, methods=methods)
        elapsed = time.perf_counter() - t0
        table = read_results(out / f"{stem}.csv")
        frame, record = table.frame, table.provenance or {}
        files = [table.path, provenance_path(table.path)]
        conv = convergence_table(spec, frame, levels)
        results.append(ConfigResult(stem, spec, frame, conv, record, tuple(files), time.perf_counter() - t0))
        written += files
        if progress is not None:
            n_fail = results[-1].failed
            smaller = sorted(set(conv["samples"]))[:-1] if len(conv) else []
            extra = f"; Monte Carlo again at {', '.join(map(str, smaller))} samples" if smaller else ""
            progress(
                f"{spec.source}: {len(frame)} cases, {len(frame) - n_fail} pass, {n_fail} fail "
                f"in {elapsed:.1f} s{extra}"
            )
    conv_all = (
        pd.concat([r.convergence for r in results if len(r.convergence)], ignore_index=True)
        if any(len(r.convergence) for r in results)
        else pd.DataFrame()
    )
    if len(conv_all):
        record = provenance(
            configs=[str(r.spec.source) for r in results],
            config_hashes=[r.spec.config_hash for r in results],
            seeds=[r.spec.seed for r in results],
            levels=levels,
            cases=len(conv_all),
        )
        written += write_results(conv_all, out, "convergence", ["csv"], record, overwrite=True)
    written += _write_index(results, out, plots=plots)
    return results, written


def _cell(methods: pd.DataFrame, method: str, col: str) -> float:
    # A numeric column: pandas-stubs types a cell as any scalar.
    return float(cast(SupportsFloat, methods.at[method, col])) if method in methods.index else float("nan")


def _overview(results: Sequence[ConfigResult]) -> pd.DataFrame:

    rows = []
    for r in results:
        s = summarize(r.frame, alpha=r.spec.alpha)
        m = s.methods.set_index("method")
        get = partial(_cell, m)

        slope = convergence_slope(r.convergence)["slope"] if len(r.convergence) else float("nan")
        rows.append(
            {
                "config": r.stem,
                "cases": s.rows,
                "pass": s.passed,
                "fail": s.failed,
                "samples": r.spec.samples,
                "max |z|": get("Monte Carlo", "max |z|"),
                "quadrature max error / tolerance": get("quadrature", "max error / tolerance"),
                "Monte Carlo convergence slope": slope,
                "seconds": round(r.seconds, 1),
            }
        )
    return pd.DataFrame(rows)


def _write_index(results: Sequence[ConfigResult], out: Path, *, plots: bool) -> list[Path]:

    overview = _overview(results)
    n_fail = int(overview["fail"].sum())
    n = int(overview["cases"].sum())
    tone = "fail" if n_fail else "pass"
    head = [
        Heading(1, "mcverify validation report", "top"),
        Paragraph(
            f"{len(results)} config{'s' * (len(results) != 1)}, {n} cases: {n - n_fail} pass, {n_fail} fail.", tone
        ),
        Paragraph(
            "Every case is computed three independent ways (closed form, Monte Carlo, quadrature); a case "
            "fails when a method disagrees with the closed form beyond its own error. Regenerate with: "
            "mcverify validate configs/*.toml -o results/validation --overwrite"
        ),
        Table(
            overview,
            "One row per config; the convergence slope is that of the median Monte Carlo error "
            "against the sample size on log-log axes (theory: -0.5).",
        ),
    ]
    html_blocks: list[Any] = list(head)
    md_blocks: list[Any] = list(head)
    md_blocks.append(
        Paragraph(
            "Full report with plots and tables: index.html (download it and open it in a "
            "browser). Tables: " + ", ".join(f"{r.stem}.csv" for r in results) + "."
        )
    )
    for r in results:
        res = Results(r.frame, Path(f"{r.stem}.csv"), "csv", r.provenance)
        report = build_report(res, plots=plots, title=r.stem, convergence=r.convergence if len(r.convergence) else None)
        html_blocks += blocks_for(report, relative_to=out, level=2)
        short = Report(res, report.summary, [], r.stem)
        md_blocks += [
            b
            for b in blocks_for(short, relative_to=out, level=2)
            if not (isinstance(b, Table) and b.full) and not (isinstance(b, Heading) and b.anchor.endswith("-table"))
        ]
    if any(r.failed for r in results):
        fails = [
            f"{r.stem}: {row['name']}: {row['reason']}"
            for r in results
            for _, row in r.frame[r.frame["verdict"] != "pass"].iterrows()
        ]
        html_blocks[4:4] = [Heading(2, "Failures", "failures"), Items(tuple(fails[:20]))]
    html = render_html(html_blocks, title="mcverify validation report", nav=True)
    md = to_markdown(md_blocks)
    files = []
    for name, text in (("index.html", html), ("index.md", md)):
        with atomic_write(out / name) as fh:
            fh.write(text)
        files.append(out / name)
    return files
