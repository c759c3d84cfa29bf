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
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import NoReturn

from mcverify.errors import ConfigError

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


def _level(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number strictly between 0 and 1, got {text!r}") from None
    if not 0.0 < value < 1.0:
        raise argparse.ArgumentTypeError(f"expected a number strictly between 0 and 1, got {text!r}")
    return value


def _names(allowed: tuple[str, ...]):  # type: ignore[no-untyped-def]
    """An argparse type: a comma-separated list of ``allowed`` names, returned in ``allowed``'s order."""

    def parse(text: str) -> tuple[str, ...]:
        names = tuple(n.strip() for n in text.split(",") if n.strip())
        bad = [n for n in names if n not in allowed]
        if bad or not names:
            raise argparse.ArgumentTypeError(f"expected a comma-separated list of {', '.join(allowed)}, got {text!r}")
        return tuple(a for a in allowed if a in names)

    return parse


def add_sampling_options(p: argparse.ArgumentParser) -> None:
    """``--alpha``, ``--error-control`` and ``--randomizations``: [run] keys every command that samples takes."""
    from mcverify.config.loader import ERROR_CONTROLS

    p.add_argument("--alpha", type=_level, help="level of the verdicts (default: [run] alpha, else 0.01)")
    p.add_argument(
        "--error-control",
        choices=ERROR_CONTROLS,
        help="holm: family-wise error rate (default); bh: false discovery rate (Benjamini-Hochberg)",
    )
    p.add_argument("--randomizations", type=_positive_int, help="independent scramblings for qmc (default 64)")


def add_config_options(p: argparse.ArgumentParser) -> None:
    """What every command that computes a config's cases takes (run, calibrate, converge).

    CONFIG, ``-o``, ``--seed``, the sampling options, ``--format``,
    ``--jobs``, ``--force``, ``--overwrite``, ``-q`` and ``--debug``.
    """
    p.add_argument("config", help="TOML config file (see configs/)")
    p.add_argument("-o", "--output", default="results", help="output folder (default: results)")
    p.add_argument("--seed", type=_nonnegative_int, help="root seed")
    add_sampling_options(p)
    p.add_argument("--format", default="csv", help="comma-separated: csv,json,parquet,md,latex,html (default: csv)")
    p.add_argument(
        "--jobs",
        type=_positive_int,
        default=None,
        help="worker processes (default: every core this process may use)",
    )
    p.add_argument("--force", action="store_true", help="allow sweeps beyond the case limit")
    p.add_argument(
        "--overwrite",
        action="store_true",
        help="replace existing result files (default: write beside them as <stem>-2, <stem>-3, ...)",
    )
    p.add_argument("-q", "--quiet", action="store_true", help="print nothing but errors")
    p.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help="show the traceback of an error")


def _parser() -> argparse.ArgumentParser:
    from mcverify._version import __version__
    from mcverify.config.loader import ESTIMATORS, METHODS

    parser = _Parser(
        prog="mcverify",
        description="Verify KL divergences of Gaussian pairs by closed form, Monte Carlo and quadrature.",
    )
    parser.add_argument("--version", action="version", version=f"mcverify {__version__}")
    parser.add_argument("--debug", action="store_true", help="show the traceback of an error")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    run = sub.add_parser("run", help="compute all methods for every case of a config file")
    add_config_options(run)
    run.add_argument("--samples", type=_positive_int, help="Monte Carlo samples per case")
    run.add_argument(
        "--dask",
        metavar="ADDRESS",
        help="run on a Dask cluster: a scheduler address (tcp://host:8786), or 'local' for a new "
        "LocalCluster of --jobs single-threaded workers; needs pip install 'mcverify[dask]'",
    )
    run.add_argument(
        "--resume", action="store_true", help="continue an interrupted run from its checkpoint (DIR/.<stem>.checkpoint)"
    )
    run.add_argument("--restart", action="store_true", help="discard an interrupted run's checkpoint and start over")
    run.add_argument("--keep-checkpoint", action="store_true", help="keep the checkpoint folder after a successful run")
    run.add_argument("--method", choices=METHODS, help="sampling estimator: mc (default), antithetic or qmc")
    run.add_argument("--estimators", type=_names(ESTIMATORS), help="also report k1,k2,k3 (comma-separated)")
    run.set_defaults(handler=_cmd_run)
    _add_audit(sub)
    from mcverify.cli.studies import add_study_commands

    add_study_commands(sub)
    from mcverify.cli.report import add_report_commands

    add_report_commands(sub)
    return parser


def _add_audit(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    from mcverify.auditing.auditor import DEFAULT_SAMPLES, DEFAULT_SEED, DEFAULT_TIMEOUT
    from mcverify.auditing.backends import BACKENDS
    from mcverify.auditing.conventions import CONVENTIONS

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
        "target",
        nargs="?",
        help="the function: path/to/file.py:function or package.module:function",
    )
    audit.add_argument(
        "--convention",
        "-c",
        required=True,
        choices=list(CONVENTIONS),
        metavar="C",
        help="calling convention: " + ", ".join(CONVENTIONS),
    )
    audit.add_argument(
        "--expr",
        help='a formula as text instead of TARGET, e.g. "0.5*(std**2 + mean**2 - 1 - log(std**2))"',
    )
    audit.add_argument(
        "--backend", default="numpy", choices=list(BACKENDS), help="array type the function receives (default: numpy)"
    )
    audit.add_argument("--json", action="store_true", help="print one JSON object instead of text")
    audit.add_argument(
        "-o",
        "--output",
        metavar="FILE",
        help="also write the report: JSON for .json, the probe table for .csv, text otherwise",
    )
    audit.add_argument(
        "--overwrite",
        action="store_true",
        help="replace FILE if it exists (default: write beside it as <stem>-2<suffix>, ...)",
    )
    audit.add_argument(
        "--samples",
        type=_nonnegative_int,
        default=DEFAULT_SAMPLES,
        help=f"Monte Carlo draws per evidence point, 0 for none (default: {DEFAULT_SAMPLES})",
    )
    audit.add_argument(
        "--seed",
        type=_nonnegative_int,
        default=DEFAULT_SEED,
        help=f"root seed of the evidence (default: {DEFAULT_SEED})",
    )
    audit.add_argument(
        "--timeout",
        type=_seconds,
        default=DEFAULT_TIMEOUT,
        metavar="SECONDS",
        help=f"time each call of the function may take, 0 for no limit (default: {DEFAULT_TIMEOUT:g})",
    )
    audit.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help="show the traceback of an error")
    audit.set_defaults(handler=_cmd_audit)


def _cmd_audit(args: argparse.Namespace) -> int:
    import json

    from mcverify.auditing.auditor import audit
    from mcverify.auditing.backends import BackendUnavailable
    from mcverify.auditing.report import AuditReport
    from mcverify.auditing.sandbox import CandidateEnded, in_child
    from mcverify.errors import AuditError

    if (args.target is None) == (args.expr is None):
        raise UsageError("audit: give either TARGET (path/to/file.py:function or package.module:function) or --expr")
    if args.samples == 1:
        raise UsageError("audit: --samples must be 0 (no evidence) or at least 2")
    from mcverify.config.loader import MAX_SAMPLES

    if args.samples > MAX_SAMPLES:
        raise UsageError(f"audit: --samples must be at most {MAX_SAMPLES:.0e}, got {args.samples:,}")
    out = Path(args.output) if args.output else None
    if out is not None and not out.parent.is_dir():
        raise UsageError(f"{out}: the folder {out.parent} does not exist")
    if out is not None and out.is_dir():
        raise UsageError(f"{out}: is a folder; -o takes a file name")
    if out is not None:
        from mcverify.tables.atomic import clean_stale

        if not os.access(out.parent, os.W_OK | os.X_OK):
            raise UsageError(f"{out}: the folder {out.parent} is not writable")
        clean_stale(out.parent)  # temporary files of killed runs
    if args.expr is not None:
        from mcverify.auditing.expressions import ExprError, compile_expr

        if args.backend != "numpy":
            raise UsageError("audit: --expr is evaluated with numpy; --backend does not apply")
        try:
            compile_expr(args.expr, args.convention)  # refused here, before any process starts
        except ExprError as exc:
            raise UsageError(f"--expr: {exc}") from None
        name = f"expr {args.expr.strip()!r}"
    else:
        name = args.target

    def job(mark: Callable[[str], None]) -> AuditReport:
        mark("import")
        func = compile_expr(args.expr, args.convention) if args.expr is not None else _load_target(args.target)
        mark("audit")
        try:
            with _c_level_stdout_to_stderr():  # the function's own output never mixes with the report
                return audit(
                    func,
                    args.convention,
                    backend=args.backend,
                    samples=args.samples,
                    seed=args.seed,
                    name=name,
                    timeout=args.timeout or None,
                )
        except (AuditError, BackendUnavailable) as exc:
            raise UsageError(f"audit: {exc}") from None

    # The candidate is imported and called in a child process: whatever it does to
    # that process (os._exit, a crash, patching mcverify), this one reports.
    try:
        report = in_child(job)
    except CandidateEnded as exc:
        if exc.phase in ("", "import"):
            raise UsageError(f"{name}: importing it ended the process ({exc.how}); no audit was made") from None
        problem = f"the candidate ended the audit's process ({exc.how}) before the audit finished"
        if args.json:
            print(
                json.dumps(
                    {
                        "name": name,
                        "convention": args.convention,
                        "backend": args.backend,
                        "verdict": "fail",
                        "problems": [problem],
                    },
                    indent=2,
                )
            )
        print(f"mcverify: audit: FAIL: {name}: {problem}", file=sys.stderr)
        return EXIT_FAIL
    if args.json:
        print(json.dumps(report.as_dict(), indent=2, allow_nan=False))
    else:
        print(report.summary())
    if out is not None:
        written = _write_report(report, out, args.overwrite)
        if written != out:
            print(f"mcverify: {out} exists: wrote {written} (--overwrite replaces it)", file=sys.stderr)
    return EXIT_PASS if report.passed else EXIT_FAIL


@contextmanager
def _c_level_stdout_to_stderr() -> Iterator[None]:
    """Point file descriptor 1 at stderr for the duration (Python-level output is captured by the sandbox)."""
    try:
        out_fd, err_fd = sys.stdout.fileno(), sys.stderr.fileno()
    except (AttributeError, OSError, ValueError):  # not real files (captured in a test, a notebook)
        yield
        return
    sys.stdout.flush()
    saved = os.dup(out_fd)
    os.dup2(err_fd, out_fd)
    try:
        yield
    finally:
        sys.stdout.flush()
        os.dup2(saved, out_fd)
        os.close(saved)


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of seconds, got {text!r}") from None
    if not (value >= 0 and math.isfinite(value)):
        raise argparse.ArgumentTypeError(f"expected a number of seconds >= 0, got {text!r}")
    return value


def _write_report(report, out: Path, overwrite: bool = False) -> Path:  # type: ignore[no-untyped-def]
    """Write the report atomically to ``out``, or beside it when it exists; return where it went."""
    import json

    from mcverify.tables.atomic import write_new

    if out.suffix.lower() == ".json":
        text = json.dumps(report.as_dict(table=True), indent=2, allow_nan=False) + "\n"
    elif out.suffix.lower() == ".csv":
        text = report.table.to_csv(index=False)
    else:
        text = report.summary() + "\n"
    try:
        return write_new(out, text, overwrite=overwrite)
    except OSError as exc:
        raise UsageError(f"{out}: cannot write the report ({exc.strerror})") from None


def _load_target(target: str):  # type: ignore[no-untyped-def]
    """The callable named by ``path/to/file.py:function`` or ``package.module:function``."""
    import importlib
    import importlib.util

    where, sep, attr = target.rpartition(":")
    if not sep or not where or not attr:
        raise UsageError(f"{target!r}: TARGET must be path/to/file.py:function or package.module:function")
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
        except SystemExit as exc:
            raise UsageError(f"{where}: importing it called sys.exit({exc.code!r}); no audit was made") from None
        except Exception as exc:
            raise UsageError(f"{where}: importing it raised {type(exc).__name__}: {_first_line(exc)}") from None
        what = where
    else:
        if os.getcwd() not in sys.path and "" not in sys.path:
            sys.path.insert(0, os.getcwd())
        try:
            module = importlib.import_module(where)
        except ImportError as exc:
            raise UsageError(f"cannot import {where!r}: {_first_line(exc)}") from None
        except SystemExit as exc:
            raise UsageError(f"{where}: importing it called sys.exit({exc.code!r}); no audit was made") from None
        except Exception as exc:
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


def prepare_output(folder: str | os.PathLike[str]) -> Path:
    """Create the output folder if needed and check it is a writable folder, before any work.

    Removes the temporary files that killed runs left there.

    Raises
    ------
    UsageError
        If it is not a folder, cannot be created or is not writable.
    """
    from mcverify.tables.atomic import clean_stale

    out = Path(folder)
    if out.exists() and not out.is_dir():
        raise UsageError(f"{out}: the output folder is not a folder")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(f"{out}: cannot create the output folder ({exc.strerror})") from None
    if not os.access(out, os.W_OK | os.X_OK):
        raise UsageError(f"{out}: the output folder is not writable")
    clean_stale(out)  # temporary files of killed runs
    return out


def _cmd_run(args: argparse.Namespace) -> int:
    from mcverify.config.loader import load_config
    from mcverify.engine.checkpoint import CheckpointError
    from mcverify.engine.run import RunOptions, RunProblem, execute
    from mcverify.tables.writers import check_formats

    try:
        formats = check_formats(f.strip() for f in args.format.split(",") if f.strip())
    except (ValueError, ImportError) as exc:
        raise UsageError(f"--format: {exc}") from None
    if not formats:
        raise UsageError("--format: give at least one format")
    spec = load_config(
        args.config,
        samples=args.samples,
        seed=args.seed,
        force=args.force,
        alpha=args.alpha,
        error_control=args.error_control,
        method=args.method,
        randomizations=args.randomizations,
        estimators=args.estimators,
    )
    out = prepare_output(args.output)

    if args.resume and args.restart:
        raise UsageError("--resume and --restart exclude each other")
    options = RunOptions(
        output=out,
        formats=formats,
        jobs=args.jobs,
        dask=args.dask,
        resume=args.resume,
        restart=args.restart,
        keep_checkpoint=args.keep_checkpoint,
        quiet=args.quiet,
        overwrite=args.overwrite,
    )
    try:
        return execute(spec, options)
    except (RunProblem, CheckpointError) as exc:
        raise UsageError(str(exc)) from None


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
    except BrokenPipeError:
        # The reader went away (`mcverify audit --json ... | head`): stop quietly.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return EXIT_FAIL
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
            EXIT_INTERNAL,
            debug,
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
