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


def _parser() -> argparse.ArgumentParser:
    from . import __version__

    parser = _Parser(
        prog="mcverify",
        description="Verify KL divergences of Gaussian pairs by closed form, Monte Carlo and quadrature.",
    )
    parser.add_argument("--version", action="version", version=f"mcverify {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    run = sub.add_parser("run", help="compute all methods for every case of a config file")
    run.add_argument("config", help="TOML config file (see configs/)")
    run.add_argument("-o", "--output", default="results", help="output folder (default: results)")
    run.add_argument("--samples", type=_positive_int, help="Monte Carlo samples per case")
    run.add_argument("--seed", type=_nonnegative_int, help="root seed")
    run.add_argument(
        "--format", default="csv", help="comma-separated: csv,json,parquet,md,latex,html (default: csv)"
    )
    run.add_argument("--jobs", type=_positive_int, default=1, help="local worker processes")
    run.add_argument("--force", action="store_true", help="allow sweeps beyond the case limit")
    run.add_argument("-q", "--quiet", action="store_true", help="print nothing but errors")
    run.set_defaults(handler=_cmd_run)
    return parser


def _cmd_run(args: argparse.Namespace) -> int:
    from .config import load_config
    from .runner import run
    from .table import to_frame
    from .writers import check_formats, column_types, provenance, write_provenance, write_table

    try:
        formats = check_formats(f.strip() for f in args.format.split(",") if f.strip())
    except (ValueError, ImportError) as exc:
        raise UsageError(f"--format: {exc}") from None
    if not formats:
        raise UsageError("--format: give at least one format")
    spec = load_config(args.config, samples=args.samples, seed=args.seed, force=args.force)
    out = Path(args.output)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(f"{out}: cannot create the output folder ({exc.strerror})") from None
    if not os.access(out, os.W_OK | os.X_OK):
        raise UsageError(f"{out}: the output folder is not writable")

    t0 = time.perf_counter()
    rows = run(spec, workers=args.jobs)
    elapsed = time.perf_counter() - t0
    stem = Path(spec.source).stem
    frame = to_frame(rows, stem)
    written = write_table(frame, out / stem, formats)
    record = provenance(
        config=str(spec.source),
        config_hash=spec.config_hash,
        seed=spec.seed,
        samples=spec.samples,
        confidence=spec.confidence,
        alpha=spec.alpha,
        error_control="holm",
        cases=len(rows),
        seconds=round(elapsed, 3),
        dtypes=column_types(frame),
    )
    written.append(write_provenance(out / f"{stem}.provenance.json", record))
    failed = frame[frame["verdict"] == "fail"]
    if not args.quiet:
        _summary(frame, failed, elapsed, spec.alpha, written)
    return EXIT_FAIL if len(failed) else EXIT_PASS


def _summary(frame, failed, elapsed: float, alpha: float, written: list[Path]) -> None:  # type: ignore[no-untyped-def]
    n = len(frame)
    print(
        f"{n} case{'s' * (n != 1)}: {n - len(failed)} pass, {len(failed)} fail "
        f"(Monte Carlo at family-wise alpha {alpha:g}, Holm) in {elapsed:.1f} s"
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


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
