"""The ``mcverify`` command line.

Exit codes: 0 every verdict passes, 1 a verification failed, 2 bad input or
usage (one line on stderr, no traceback, nothing written).
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import time
from pathlib import Path
from typing import NoReturn, Sequence

from .errors import ConfigError

__all__ = ["main"]

EXIT_PASS, EXIT_FAIL, EXIT_USAGE = 0, 1, 2


class UsageError(Exception):
    """Bad input from the command line or a file: reported in one line, exit 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{self.prog}: {message}")


def _positive_int(text: str) -> int:
    try:
        value = int(text.replace("_", ""))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def _nonnegative_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer >= 0, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected an integer >= 0, got {text!r}")
    return value


def _level(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number strictly between 0 and 1, got {text!r}") from None
    if not 0.0 < value < 1.0:
        raise argparse.ArgumentTypeError(f"expected a number strictly between 0 and 1, got {text!r}")
    return value


def _power_of_two(text: str) -> int:
    value = _positive_int(text)
    if value < 2 or value & (value - 1):
        raise argparse.ArgumentTypeError(f"expected a power of two >= 2, got {text!r}")
    return value


def _names(allowed: tuple[str, ...]):  # type: ignore[no-untyped-def]
    def parse(text: str) -> tuple[str, ...]:
        names = tuple(n.strip() for n in text.split(",") if n.strip())
        bad = [n for n in names if n not in allowed]
        if bad or not names:
            raise argparse.ArgumentTypeError(
                f"expected a comma-separated list of {', '.join(allowed)}, got {text!r}"
            )
        return tuple(a for a in allowed if a in names)

    return parse


def _add_common(p: argparse.ArgumentParser, output: str = "results") -> None:
    from .config import ERROR_CONTROLS

    p.add_argument("config", help="TOML config file (see configs/)")
    p.add_argument("-o", "--output", default=output, help=f"output folder (default: {output})")
    p.add_argument("--seed", type=_nonnegative_int, help="root seed")
    p.add_argument("--alpha", type=_level, help="level of the verdicts (default: [run] alpha, else 0.01)")
    p.add_argument(
        "--error-control", choices=ERROR_CONTROLS,
        help="holm: family-wise error rate (default); bh: false discovery rate (Benjamini-Hochberg)",
    )
    p.add_argument("--randomizations", type=_positive_int, help="independent scramblings for qmc (default 64)")
    p.add_argument(
        "--format", default="csv", help="comma-separated: csv,json,parquet,md,latex,html (default: csv)"
    )
    p.add_argument("--jobs", type=_positive_int, default=1, help="local worker processes")
    p.add_argument("--force", action="store_true", help="allow sweeps beyond the case limit")
    p.add_argument("-q", "--quiet", action="store_true", help="print nothing but errors")


def _parser() -> argparse.ArgumentParser:
    from . import __version__
    from .config import ESTIMATORS, METHODS

    parser = _Parser(
        prog="mcverify",
        description="Verify KL divergences of Gaussian pairs by closed form, Monte Carlo and quadrature.",
    )
    parser.add_argument("--version", action="version", version=f"mcverify {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    run = sub.add_parser("run", help="compute all methods for every case of a config file")
    _add_common(run)
    run.add_argument("--samples", type=_positive_int, help="Monte Carlo samples per case")
    run.add_argument("--method", choices=METHODS, help="sampling estimator: mc (default), antithetic or qmc")
    run.add_argument("--estimators", type=_names(ESTIMATORS), help="also report k1,k2,k3 (comma-separated)")
    run.set_defaults(handler=_cmd_run)

    cal = sub.add_parser(
        "calibrate", help="replicate every case: coverage of the intervals and false-alarm rates"
    )
    _add_common(cal)
    cal.add_argument("--samples", type=_positive_int, help="samples per estimate (default: [run] samples)")
    cal.add_argument("--replicates", type=_positive_int, default=200, help="replicates per case (default 200)")
    cal.add_argument(
        "--method", type=_names(METHODS), default=METHODS,
        help="comma-separated estimators to calibrate (default: mc,antithetic,qmc)",
    )
    cal.set_defaults(handler=_cmd_calibrate)

    conv = sub.add_parser("converge", help="error against sample count, and the fitted convergence rates")
    _add_common(conv)
    conv.add_argument("--min-samples", type=_power_of_two, default=1 << 10, help="smallest count (default 1024)")
    conv.add_argument("--max-samples", type=_power_of_two, default=1 << 20, help="largest count (default 2^20)")
    conv.add_argument("--replicates", type=_positive_int, default=16, help="estimates per count (default 16)")
    conv.add_argument(
        "--method", type=_names(METHODS), default=METHODS,
        help="comma-separated estimators (default: mc,antithetic,qmc)",
    )
    conv.set_defaults(handler=_cmd_converge)
    _add_audit(sub)
    return parser


def _add_audit(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    from .audit import DEFAULT_SAMPLES, DEFAULT_SEED
    from .backends import BACKENDS
    from .conventions import CONVENTIONS

    audit = sub.add_parser(
        "audit",
        help="audit your own KL function: verdict, failing region, diagnosis, evidence",
        description=(
            "Evaluate a KL implementation on probe pairs, compare it with the true KL within "
            "floating-point tolerance, and report where it goes wrong, which classic mistake it "
            "matches, and Monte Carlo evidence. Exit 0 pass, 1 fail, 2 bad input."
        ),
    )
    audit.add_argument(
        "target", nargs="?",
        help="the function: path/to/file.py:function or package.module:function",
    )
    audit.add_argument(
        "--convention", "-c", required=True, choices=list(CONVENTIONS), metavar="C",
        help="calling convention: " + ", ".join(CONVENTIONS),
    )
    audit.add_argument(
        "--expr", help="a formula as text instead of TARGET, e.g. \"0.5*(std**2 + mean**2 - 1 - log(std**2))\"",
    )
    audit.add_argument("--backend", default="numpy", choices=list(BACKENDS),
                       help="array type the function receives (default: numpy)")
    audit.add_argument("--json", action="store_true", help="print one JSON object instead of text")
    audit.add_argument("-o", "--output", metavar="FILE",
                       help="also write the report: JSON for .json, the probe table for .csv, text otherwise")
    audit.add_argument("--samples", type=_nonnegative_int, default=DEFAULT_SAMPLES,
                       help=f"Monte Carlo draws per evidence point, 0 for none (default: {DEFAULT_SAMPLES})")
    audit.add_argument("--seed", type=_nonnegative_int, default=DEFAULT_SEED,
                       help=f"root seed of the evidence (default: {DEFAULT_SEED})")
    audit.set_defaults(handler=_cmd_audit)


def _cmd_audit(args: argparse.Namespace) -> int:
    import json

    from .audit import audit
    from .backends import BackendUnavailable
    from .errors import AuditError

    if (args.target is None) == (args.expr is None):
        raise UsageError(
            "audit: give either TARGET (path/to/file.py:function or package.module:function) or --expr"
        )
    if args.samples == 1:
        raise UsageError("audit: --samples must be 0 (no evidence) or at least 2")
    out = Path(args.output) if args.output else None
    if out is not None and not out.parent.is_dir():
        raise UsageError(f"{out}: the folder {out.parent} does not exist")
    if args.expr is not None:
        from .expr import ExprError, compile_expr

        if args.backend != "numpy":
            raise UsageError("audit: --expr is evaluated with numpy; --backend does not apply")
        try:
            func = compile_expr(args.expr, args.convention)
        except ExprError as exc:
            raise UsageError(f"--expr: {exc}") from None
        name = f"expr {args.expr.strip()!r}"
    else:
        func = _load_target(args.target)
        name = args.target
    try:
        report = audit(func, args.convention, backend=args.backend, samples=args.samples,
                       seed=args.seed, name=name)
    except (AuditError, BackendUnavailable) as exc:
        raise UsageError(f"audit: {exc}") from None
    if args.json:
        print(json.dumps(report.as_dict(), indent=2, allow_nan=False))
    else:
        print(report.summary())
    if out is not None:
        _write_report(report, out)
    return EXIT_PASS if report.passed else EXIT_FAIL


def _write_report(report, out: Path) -> None:  # type: ignore[no-untyped-def]
    import json

    from .writers import atomic_write

    try:
        with atomic_write(out) as fh:
            if out.suffix.lower() == ".json":
                json.dump(report.as_dict(table=True), fh, indent=2, allow_nan=False)
                fh.write("\n")
            elif out.suffix.lower() == ".csv":
                fh.write(report.table.to_csv(index=False))
            else:
                fh.write(report.summary() + "\n")
    except OSError as exc:
        raise UsageError(f"{out}: cannot write the report ({exc.strerror})") from None


def _load_target(target: str):  # type: ignore[no-untyped-def]
    """The callable named by ``path/to/file.py:function`` or ``package.module:function``."""
    import importlib
    import importlib.util

    where, sep, attr = target.rpartition(":")
    if not sep or not where or not attr:
        raise UsageError(
            f"{target!r}: TARGET must be path/to/file.py:function or package.module:function"
        )
    if where.endswith(".py") or "/" in where or os.sep in where:
        path = Path(where)
        if not path.is_file():
            raise UsageError(f"{where}: no such file")
        folder = str(path.resolve().parent)
        if folder not in sys.path:
            sys.path.insert(0, folder)
        spec = importlib.util.spec_from_file_location(f"_mcverify_target_{path.stem}", path)
        if spec is None or spec.loader is None:
            raise UsageError(f"{where}: cannot load it as Python")
        module = importlib.util.module_from_spec(spec)
        try:
            spec.loader.exec_module(module)
        except Exception as exc:  # noqa: BLE001 - the user's file, reported in one line
            raise UsageError(f"{where}: importing it raised {type(exc).__name__}: {_first_line(exc)}") from None
        what = where
    else:
        if os.getcwd() not in sys.path and "" not in sys.path:
            sys.path.insert(0, os.getcwd())
        try:
            module = importlib.import_module(where)
        except ImportError as exc:
            raise UsageError(f"cannot import {where!r}: {_first_line(exc)}") from None
        except Exception as exc:  # noqa: BLE001 - the user's module, reported in one line
            raise UsageError(f"{where}: importing it raised {type(exc).__name__}: {_first_line(exc)}") from None
        what = f"module {where}"
    obj = module
    for part in attr.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise UsageError(f"{what} has no function {attr!r}") from None
    if not callable(obj):
        raise UsageError(f"{what}: {attr!r} is not callable (it is {type(obj).__name__})")
    return obj


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def _load(args: argparse.Namespace, **extra: object):  # type: ignore[no-untyped-def]
    from .config import load_config

    return load_config(
        args.config, samples=getattr(args, "samples", None), seed=args.seed, force=args.force,
        alpha=args.alpha, error_control=args.error_control, randomizations=args.randomizations, **extra,
    )


def _output_checked(args: argparse.Namespace) -> tuple[Path, list[str]]:
    """The output folder and the checked formats (before any work)."""
    from .writers import check_formats

    try:
        formats = check_formats(f.strip() for f in args.format.split(",") if f.strip())
    except (ValueError, ImportError) as exc:
        raise UsageError(f"--format: {exc}") from None
    if not formats:
        raise UsageError("--format: give at least one format")
    return Path(args.output), formats


def _make_output(out: Path) -> None:
    """Create the output folder, or say in one line why it cannot be used."""
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(f"{out}: cannot create the output folder ({exc.strerror})") from None
    if not os.access(out, os.W_OK | os.X_OK):
        raise UsageError(f"{out}: the output folder is not writable")


def _run_settings(spec) -> dict[str, object]:  # type: ignore[no-untyped-def]
    """The run's settings as provenance fields."""
    return {
        "config": str(spec.source),
        "config_hash": spec.config_hash,
        "seed": spec.seed,
        "samples": spec.samples,
        "confidence": spec.confidence,
        "alpha": spec.alpha,
        "error_control": spec.error_control,
        "method": spec.method,
        "randomizations": spec.randomizations,
        "estimators": list(spec.estimators),
    }


_CONTROL_NAMES = {"holm": "family-wise alpha {a:g}, Holm", "bh": "false discovery rate {a:g}, Benjamini-Hochberg"}


def _cmd_run(args: argparse.Namespace) -> int:
    from .runner import run
    from .table import to_frame
    from .writers import provenance, write_provenance, write_table

    out, formats = _output_checked(args)
    spec = _load(args, method=args.method, estimators=args.estimators)
    _make_output(out)

    t0 = time.perf_counter()
    rows = run(spec, workers=args.jobs)
    elapsed = time.perf_counter() - t0
    stem = Path(spec.source).stem
    frame = to_frame(rows, stem)
    written = write_table(frame, out / stem, formats)
    record = provenance(**_run_settings(spec), cases=len(rows), seconds=round(elapsed, 3))
    written.append(write_provenance(out / f"{stem}.provenance.json", record))
    failed = frame[frame["verdict"] == "fail"]
    if not args.quiet:
        _summary(frame, failed, elapsed, spec.alpha, written, spec.error_control, spec.method)
    return EXIT_FAIL if len(failed) else EXIT_PASS


def _summary(  # type: ignore[no-untyped-def]
    frame, failed, elapsed: float, alpha: float, written: list[Path], control: str = "holm", method: str = "mc"
) -> None:
    n = len(frame)
    sampler = "Monte Carlo" if method == "mc" else f"Monte Carlo ({method})"
    print(
        f"{n} case{'s' * (n != 1)}: {n - len(failed)} pass, {len(failed)} fail "
        f"({sampler} at {_CONTROL_NAMES[control].format(a=alpha)}) in {elapsed:.1f} s"
    )
    z = frame["mc_z"].abs()
    if z.notna().any():
        i = z.idxmax()
        print(f"  largest |z|: {z[i]:.2f} ({frame.at[i, 'name']})")
    rel = frame["rel_err_quad"].replace(math.inf, math.nan)
    if rel.notna().any():
        i = rel.idxmax()
        print(f"  largest quadrature relative error: {rel[i]:.2g} ({frame.at[i, 'name']})")
    for _, row in failed.head(10).iterrows():
        print(f"  FAIL {row['name']}: {row['reason']}")
    if len(failed) > 10:
        print(f"  ... and {len(failed) - 10} more failures")
    print("wrote " + ", ".join(str(p) for p in written))


def _frame(rows: list[dict[str, object]], columns: dict[str, str]):  # type: ignore[no-untyped-def]
    import pandas as pd

    return pd.DataFrame(rows, columns=list(columns))


def _cmd_calibrate(args: argparse.Namespace) -> int:
    from .calibrate import CELL_COLUMNS, FAMILY_COLUMNS, calibrate
    from .estimators import minimum_samples
    from .writers import provenance, write_provenance, write_table

    out, formats = _output_checked(args)
    spec = _load(args)
    for method in args.method:
        least = minimum_samples(method, spec.randomizations)
        if spec.samples < least:
            raise UsageError(f"method '{method}' needs at least {least} samples, got {spec.samples:,}")
    if args.replicates < 2:
        raise UsageError("--replicates: need at least 2")
    _make_output(out)

    t0 = time.perf_counter()
    result = calibrate(spec, replicates=args.replicates, methods=args.method, workers=args.jobs)
    elapsed = time.perf_counter() - t0
    stem = Path(spec.source).stem
    written = write_table(_frame(result.cells, CELL_COLUMNS), out / f"{stem}.calibration", formats)
    written += write_table(_frame(result.family, FAMILY_COLUMNS), out / f"{stem}.calibration-family", formats)
    record = provenance(
        **_run_settings(spec), study="calibrate", methods=list(args.method), replicates=args.replicates,
        cases=len(spec.cases), checks=result.checks, check_level=result.check_level, ok=result.ok,
        seconds=round(elapsed, 3),
    )
    written.append(write_provenance(out / f"{stem}.calibration.provenance.json", record))
    if not args.quiet:
        _calibration_summary(result, spec, args, elapsed, written)
    return EXIT_PASS if result.ok else EXIT_FAIL


def _calibration_summary(result, spec, args, elapsed: float, written: list[Path]) -> None:  # type: ignore[no-untyped-def]
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
            what.append(f"coverage {c['coverage']:.4f} outside {c['coverage_band_low']:.4f} .. {c['coverage_band_high']:.4f}")
        if not c["false_alarm_ok"]:
            what.append(f"false-alarm rate {c['false_alarm_rate']:.4f} > {c['false_alarm_band_high']:.4f}")
        print(f"  FAIL {c['name']} ({c['method']}): " + "; ".join(what))
    if len(bad) > 10:
        print(f"  ... and {len(bad) - 10} more")
    print("  every check passes" if result.ok else "  calibration FAILED")
    print("wrote " + ", ".join(str(p) for p in written))


def _cmd_converge(args: argparse.Namespace) -> int:
    from .converge import FIT_COLUMNS, POINT_COLUMNS, converge, sample_counts
    from .estimators import minimum_samples
    from .writers import provenance, write_provenance, write_table

    out, formats = _output_checked(args)
    spec = _load(args)
    try:
        counts = sample_counts(args.min_samples, args.max_samples)
    except ValueError as exc:
        raise UsageError(f"--min-samples/--max-samples: {exc}") from None
    for method in args.method:
        least = minimum_samples(method, spec.randomizations)
        if counts[0] < least:
            raise UsageError(f"--min-samples: method '{method}' needs at least {least} samples, got {counts[0]:,}")
    if args.replicates < 2:
        raise UsageError("--replicates: need at least 2")
    _make_output(out)

    t0 = time.perf_counter()
    result = converge(spec, counts=counts, replicates=args.replicates, methods=args.method, workers=args.jobs)
    elapsed = time.perf_counter() - t0
    stem = Path(spec.source).stem
    written = write_table(_frame(result.points, POINT_COLUMNS), out / f"{stem}.convergence", formats)
    written += write_table(_frame(result.fits, FIT_COLUMNS), out / f"{stem}.rates", formats)
    settings = _run_settings(spec)
    del settings["samples"], settings["estimators"]
    record = provenance(
        **settings, study="converge", methods=list(args.method), sample_counts=counts,
        replicates=args.replicates, cases=len(spec.cases), seconds=round(elapsed, 3),
    )
    written.append(write_provenance(out / f"{stem}.convergence.provenance.json", record))
    if not args.quiet:
        print(
            f"convergence: {len(spec.cases)} cases x {len(args.method)} methods, {args.replicates} replicates "
            f"at {counts[0]:,} .. {counts[-1]:,} samples in {elapsed:.1f} s"
        )
        print(f"  {'case':<28} {'method':<10} {'rate':>14} {'rmse at ' + format(counts[-1], ','):>20} {'gain vs mc':>10}")
        for f in result.fits:
            rate = f"{f['slope']:+.3f} ± {f['slope_stderr']:.3f}" if math.isfinite(f["slope"]) else "exact"
            gain = f"{f['gain_vs_mc']:.3g}" if not math.isnan(f["gain_vs_mc"]) else ""
            print(f"  {f['name'][:28]:<28} {f['method']:<10} {rate:>14} {f['rmse_at_max']:>20.3g} {gain:>10}")
        print("wrote " + ", ".join(str(p) for p in written))
    return EXIT_PASS


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``mcverify`` command; returns the exit code."""
    try:
        args = _parser().parse_args(argv)
        return int(args.handler(args))
    except (UsageError, ConfigError) as exc:
        print(f"mcverify: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("mcverify: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # The reader went away (`mcverify audit --json ... | head`): stop quietly.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return EXIT_FAIL


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
