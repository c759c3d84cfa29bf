"""The ``mcverify calibrate`` and ``mcverify converge`` commands (registered by :mod:`mcverify.cli.main`).

``calibrate`` replicates every case of a config and reports the coverage of
the intervals and the false-alarm rates (:mod:`mcverify.studies.calibration`);
``converge`` measures each estimator's error against the sample count and
fits its rate (:mod:`mcverify.studies.convergence`). Both write their tables and one
provenance record as a set (:func:`mcverify.tables.result_files.commit_results`: never
replacing earlier files without ``--overwrite``). Errors are
:class:`mcverify.cli.options.UsageError`: one line on stderr, exit 2.
"""

from __future__ import annotations

import argparse
import math
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mcverify.cli.options import (
    EXIT_FAIL,
    EXIT_PASS,
    UsageError,
    add_config_options,
    check_outputs,
    names,
    parse_formats,
    positive_int,
    prepare_output,
)
from mcverify.cli.terminal import interrupts_exit
from mcverify.config.defaults import DEFAULTS
from mcverify.sampling.methods import METHODS, minimum_samples

if TYPE_CHECKING:
    import pandas as pd

    from mcverify.config.cases import RunSpec
    from mcverify.studies.calibration import Calibration

__all__ = ["add_study_commands"]


def _power_of_two(text: str) -> int:
    value = positive_int(text)
    if value < 2 or value & (value - 1):
        raise argparse.ArgumentTypeError(f"expected a power of two >= 2, got {text!r}")
    return value


def add_study_commands(sub: argparse._SubParsersAction) -> None:
    """Add ``calibrate`` and ``converge`` to the ``mcverify`` subcommands."""

    cal = sub.add_parser(
        "calibrate",
        help="replicate every case: coverage of the intervals and false-alarm rates, with binomial bands",
        description="Estimate every case of CONFIG --replicates times per method with independent seeds and "
        "report the coverage of the confidence intervals, the per-case and family-wise false-alarm rates and "
        "their binomial bands. Exit 0 when every check passes, 1 when one fails, 2 on bad input.",
    )
    add_config_options(cal)
    cal.add_argument(
        "--samples",
        type=positive_int,
        help=f"samples per estimate (default: [run] samples, else {DEFAULTS['samples']})",
    )
    cal.add_argument("--replicates", type=positive_int, default=200, help="replicates per case (default: 200)")
    cal.add_argument(
        "--method",
        type=names(METHODS),
        default=METHODS,
        help="comma-separated estimators to calibrate (default: mc,antithetic,qmc)",
    )
    cal.set_defaults(handler=_cmd_calibrate)

    conv = sub.add_parser(
        "converge",
        help="error against sample count, and the fitted convergence rates",
        description="Estimate every case of CONFIG at 2^k samples, --replicates times each, and fit the rate "
        "of the root mean square error against the closed form. It makes no verdicts. Exit 0 when written, "
        "2 on bad input.",
    )
    add_config_options(conv, verdicts=False)
    conv.add_argument(
        "--min-samples", type=_power_of_two, default=1 << 10, help="smallest count, a power of two (default: 1024)"
    )
    conv.add_argument(
        "--max-samples", type=_power_of_two, default=1 << 20, help="largest count, a power of two (default: 1048576)"
    )
    conv.add_argument("--replicates", type=positive_int, default=16, help="estimates per count (default: 16)")
    conv.add_argument(
        "--method",
        type=names(METHODS),
        default=METHODS,
        help="comma-separated estimators (default: mc,antithetic,qmc)",
    )
    conv.set_defaults(handler=_cmd_converge)


def _prepare(
    args: argparse.Namespace, samples: Sequence[int], study: str, tables: tuple[str, ...]
) -> tuple[RunSpec, Path, list[str], int]:
    """Check formats, config, methods and outputs before any work; return (spec, out, formats, jobs).

    The results are the set ``<config stem>.<study>``, with ``tables`` (what
    each table adds to that name) in every format.
    """
    with interrupts_exit():  # nothing is written yet: Ctrl-C while importing exits 130 at once
        from mcverify.config.loader import load_config
        from mcverify.engine.parallel import usable_cores

    formats = parse_formats(args.format)
    spec = load_config(
        args.config,
        samples=getattr(args, "samples", None),
        seed=args.seed,
        force=args.force,
        alpha=getattr(args, "alpha", None),  # converge makes no verdicts: no --alpha, no --error-control
        error_control=getattr(args, "error_control", None),
        randomizations=args.randomizations,
    )
    smallest = min(samples) if samples else spec.samples
    for method in args.method:
        least = minimum_samples(method, spec.randomizations)
        if smallest < least:
            what = "--min-samples: " if samples else ""
            raise UsageError(f"{what}method '{method}' needs at least {least} samples, got {smallest:,}")
    if args.replicates < 2:
        raise UsageError("--replicates: need at least 2")
    check_outputs(args.output, f"{Path(spec.source).stem}.{study}", formats, overwrite=args.overwrite, tables=tables)
    out = prepare_output(args.output)
    return spec, out, formats, args.jobs if args.jobs is not None else usable_cores()


def _settings(spec: RunSpec) -> dict[str, Any]:
    return {
        "config": str(spec.source),
        "config_hash": spec.config_hash,
        "seed": spec.seed,
        "confidence": spec.confidence,
        "alpha": spec.alpha,
        "error_control": spec.error_control,
        "randomizations": spec.randomizations,
    }


def _frame(rows: list[dict[str, Any]], columns: dict[str, str]) -> pd.DataFrame:
    import pandas as pd

    return pd.DataFrame(rows, columns=list(columns))


def _cmd_calibrate(args: argparse.Namespace) -> int:
    with interrupts_exit():  # nothing is written yet: Ctrl-C while importing exits 130 at once
        from mcverify.studies.calibration import CELL_COLUMNS, FAMILY_COLUMNS, calibrate
        from mcverify.tables.result_files import write_results
        from mcverify.tables.writers import provenance

    spec, out, formats, jobs = _prepare(args, (), "calibration", ("", "-family"))
    t0 = time.perf_counter()
    result = calibrate(spec, replicates=args.replicates, methods=args.method, workers=jobs)
    elapsed = time.perf_counter() - t0
    stem = f"{Path(spec.source).stem}.calibration"
    record = provenance(
        **_settings(spec),
        samples=spec.samples,
        study="calibrate",
        methods=list(args.method),
        replicates=args.replicates,
        cases=len(spec.cases),
        checks=result.checks,
        check_level=result.check_level,
        ok=result.ok,
        seconds=round(elapsed, 3),
    )
    tables = {"": _frame(result.cells, CELL_COLUMNS), "-family": _frame(result.family, FAMILY_COLUMNS)}
    written = write_results(tables, out, stem, formats, record, overwrite=args.overwrite)
    if not args.quiet:
        _calibration_summary(result, spec, args, elapsed, written)
    return EXIT_PASS if result.ok else EXIT_FAIL


def _calibration_summary(
    result: Calibration, spec: RunSpec, args: argparse.Namespace, elapsed: float, written: list[Path]
) -> None:
    cases, methods = len(spec.cases), args.method
    print(
        f"calibration: {cases} case{'s' * (cases != 1)} x {len(methods)} method{'s' * (len(methods) != 1)}, "
        f"{args.replicates:,} replicates of {spec.samples:,} samples in {elapsed:.1f} s"
    )
    print(
        f"  each check is an exact binomial test at level {result.check_level:.2g} "
        f"(alpha {spec.alpha:g} / {result.checks} checks)"
    )
    band = result.cells[0]
    print(
        f"  {spec.confidence:.0%} interval coverage (band {band['coverage_band_low']:.4f} .. "
        f"{band['coverage_band_high']:.4f}), misses below / above, per-case false alarms at alpha {spec.alpha:g}:"
    )
    for method in methods:
        cells = [c for c in result.cells if c["method"] == method]
        cov = [c["coverage"] for c in cells]
        below = max(c["miss_below"] for c in cells)
        above = max(c["miss_above"] for c in cells)
        alarms = max(c["false_alarm_rate"] for c in cells)
        print(
            f"    {method:<10} coverage {min(cov):.4f} .. {max(cov):.4f}, largest misses {below:.4f} / {above:.4f}, "
            f"largest false-alarm rate {alarms:.4f} (band <= {cells[0]['false_alarm_band_high']:.4f})"
        )
    name = {"holm": "Holm", "bh": "Benjamini-Hochberg"}[spec.error_control]
    print(f"  runs with any false alarm ({name} at {spec.alpha:g} over {cases} cases; 95% Clopper-Pearson):")
    for f in result.family:
        print(
            f"    {f['method']:<10} {f['runs_with_false_alarm']} of {f['replicates']:,} = {f['family_rate']:.4f} "
            f"[{f['family_low']:.4f}, {f['family_high']:.4f}] (band <= {f['family_band_high']:.4f})"
            + ("" if f["family_ok"] else "  FAIL")
        )
    bad = [c for c in result.cells if not (c["coverage_ok"] and c["false_alarm_ok"])]
    for c in bad[:10]:
        what = []
        if not c["coverage_ok"]:
            what.append(
                f"coverage {c['coverage']:.4f} outside {c['coverage_band_low']:.4f} .. {c['coverage_band_high']:.4f}"
            )
        if not c["false_alarm_ok"]:
            what.append(f"false-alarm rate {c['false_alarm_rate']:.4f} > {c['false_alarm_band_high']:.4f}")
        print(f"  FAIL {c['name']} ({c['method']}): " + "; ".join(what))
    if len(bad) > 10:
        print(f"  ... and {len(bad) - 10} more")
    print("  every check passes" if result.ok else "  calibration FAILED")
    print("wrote " + ", ".join(str(p) for p in written))


def _cmd_converge(args: argparse.Namespace) -> int:
    with interrupts_exit():  # nothing is written yet: Ctrl-C while importing exits 130 at once
        from mcverify.studies.convergence import FIT_COLUMNS, POINT_COLUMNS, converge, sample_counts
        from mcverify.tables.result_files import write_results
        from mcverify.tables.writers import provenance

    try:
        counts = sample_counts(args.min_samples, args.max_samples)
    except ValueError as exc:
        raise UsageError(f"--min-samples/--max-samples: {exc}") from None
    spec, out, formats, jobs = _prepare(args, counts, "convergence", ("", "-rates"))
    t0 = time.perf_counter()
    result = converge(spec, counts=counts, replicates=args.replicates, methods=args.method, workers=jobs)
    elapsed = time.perf_counter() - t0
    stem = f"{Path(spec.source).stem}.convergence"
    record = provenance(
        **_settings(spec),
        study="converge",
        methods=list(args.method),
        sample_counts=counts,
        replicates=args.replicates,
        cases=len(spec.cases),
        seconds=round(elapsed, 3),
    )
    tables = {"": _frame(result.points, POINT_COLUMNS), "-rates": _frame(result.fits, FIT_COLUMNS)}
    written = write_results(tables, out, stem, formats, record, overwrite=args.overwrite)
    if not args.quiet:
        print(
            f"convergence: {len(spec.cases)} cases x {len(args.method)} methods, {args.replicates} replicates "
            f"at {counts[0]:,} .. {counts[-1]:,} samples in {elapsed:.1f} s"
        )
        print(
            f"  {'case':<28} {'method':<10} {'rate':>14} {'rmse at ' + format(counts[-1], ','):>20} {'gain vs mc':>10}"
        )
        for f in result.fits:
            rate = f"{f['slope']:+.3f} ± {f['slope_stderr']:.3f}" if math.isfinite(f["slope"]) else "exact"
            gain = f"{f['gain_vs_mc']:.3g}" if not math.isnan(f["gain_vs_mc"]) else ""
            print(f"  {f['name'][:28]:<28} {f['method']:<10} {rate:>14} {f['rmse_at_max']:>20.3g} {gain:>10}")
        print("wrote " + ", ".join(str(p) for p in written))
    return EXIT_PASS
