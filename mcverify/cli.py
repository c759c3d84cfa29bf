"""The ``mcverify`` command line.

Exit codes: 0 every verdict passes, 1 a verification failed, 2 bad input or
usage (one line on stderr, no traceback unless ``--debug``, nothing
written), 3 an internal error (a bug; one line, the traceback with
``--debug``), 130 interrupted.
"""

from __future__ import annotations

import argparse
import math
import os
import signal
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import NoReturn, Sequence

from .errors import ConfigError

__all__ = ["main"]

EXIT_PASS, EXIT_FAIL, EXIT_USAGE, EXIT_INTERNAL = 0, 1, 2, 3


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
    parser.add_argument("--debug", action="store_true", help="show the traceback of an error")
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
    run.add_argument(
        "--overwrite", action="store_true",
        help="replace existing result files (default: write beside them as <stem>-2, <stem>-3, ...)",
    )
    run.add_argument("-q", "--quiet", action="store_true", help="print nothing but errors")
    run.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help="show the traceback of an error")
    run.set_defaults(handler=_cmd_run)
    return parser


def _cmd_run(args: argparse.Namespace) -> int:
    from .config import load_config
    from .runner import run
    from .table import to_frame
    from .atomic import clean_stale
    from .outputs import write_results
    from .writers import check_formats, provenance

    try:
        formats = check_formats(f.strip() for f in args.format.split(",") if f.strip())
    except (ValueError, ImportError) as exc:
        raise UsageError(f"--format: {exc}") from None
    if not formats:
        raise UsageError("--format: give at least one format")
    spec = load_config(args.config, samples=args.samples, seed=args.seed, force=args.force)
    out = Path(args.output)
    if out.exists() and not out.is_dir():
        raise UsageError(f"{out}: the output folder is not a folder")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(f"{out}: cannot create the output folder ({exc.strerror})") from None
    if not os.access(out, os.W_OK | os.X_OK):
        raise UsageError(f"{out}: the output folder is not writable")
    clean_stale(out)  # temporary files of killed runs

    t0 = time.perf_counter()
    rows = run(spec, workers=args.jobs)
    elapsed = time.perf_counter() - t0
    stem = Path(spec.source).stem
    frame = to_frame(rows, stem)
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
    )
    written = write_results(frame, out, stem, formats, record, overwrite=args.overwrite)
    failed = frame[frame["verdict"] == "fail"]
    if not args.quiet:
        _summary(frame, failed, elapsed, spec.alpha, written)
        if written[-1].name != f"{stem}.provenance.json":
            print(f"  (kept the existing {out / stem}.* files; --overwrite replaces them)")
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


def _one_line(text: str) -> str:
    """``text`` with every line break or other unprintable character escaped: one line, always."""
    return "".join(c if c.isprintable() or c == " " else repr(c)[1:-1] for c in text)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``mcverify`` command; returns the exit code.

    Bad input (a config, an option, an output folder) is reported in one
    line on stderr with exit code 2, before any work starts; so is a file
    that cannot be written and running out of memory.  ``--debug`` adds the
    traceback.  Anything else is a bug in mcverify: one line, exit code 3
    (the traceback with ``--debug``).
    """
    argv = sys.argv[1:] if argv is None else list(argv)
    debug = "--debug" in argv
    try:
        args = _parser().parse_args(argv)
        with _terminate_as_interrupt():
            return int(args.handler(args))
    except (UsageError, ConfigError) as exc:
        return _report(f"mcverify: error: {exc}", EXIT_USAGE, debug)
    except OSError as exc:
        where = f"{exc.filename}: " if exc.filename else ""
        return _report(f"mcverify: error: {where}{exc.strerror or exc}", EXIT_USAGE, debug)
    except MemoryError:
        return _report("mcverify: error: out of memory; make the run smaller", EXIT_USAGE, debug)
    except KeyboardInterrupt:
        return _report("mcverify: interrupted", 130, debug)
    except Exception as exc:  # a bug: still one line unless --debug
        return _report(
            f"mcverify: internal error: {type(exc).__name__}: {exc} (run with --debug for the traceback)",
            EXIT_INTERNAL, debug,
        )


@contextmanager
def _terminate_as_interrupt() -> Iterator[None]:
    """SIGTERM raises KeyboardInterrupt (in the main thread), so files are cleaned up as on Ctrl-C."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous if previous is not None else signal.SIG_DFL)


def _report(message: str, code: int, debug: bool) -> int:
    if debug:
        import traceback

        traceback.print_exc(file=sys.stderr)
    print(_one_line(message), file=sys.stderr)
    return code


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
