"""The ``mcverify`` command line: the parser of every subcommand, and :func:`main`.

Each subcommand family lives in a module of its own (:mod:`mcverify.cli.run`,
:mod:`mcverify.cli.audit`, :mod:`mcverify.cli.studies`,
:mod:`mcverify.cli.report`, :mod:`mcverify.cli.init`) over :mod:`mcverify.cli.options`, which holds the
exit codes, the one-line error and the argument types they share.
"""

from __future__ import annotations

import argparse
import functools
import io
import signal
import sys
import threading
import traceback
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

from mcverify._version import __version__
from mcverify.cli.audit import add_audit_command
from mcverify.cli.init import add_init_command
from mcverify.cli.options import EXIT_INTERNAL, EXIT_USAGE, Parser, UsageError, one_line
from mcverify.cli.report import add_report_commands
from mcverify.cli.run import add_run_command
from mcverify.cli.studies import add_study_commands
from mcverify.cli.terminal import reader_may_leave
from mcverify.errors import ConfigError, OutputError

__all__ = ["main"]


@functools.cache  # built once a process (2 ms): argparse parsers are reusable, and main() may run many times
def _parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="mcverify",
        description="Verify KL divergences of Gaussian pairs by closed form, Monte Carlo and quadrature.",
    )
    parser.add_argument("--version", action="version", version=f"mcverify {__version__}")
    parser.add_argument("--debug", action="store_true", help="show the traceback of an error")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=Parser)
    add_run_command(sub)
    add_audit_command(sub)
    add_study_commands(sub)
    add_report_commands(sub)
    add_init_command(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``mcverify`` command; returns the exit code.

    Bad input (a config, an option, an output folder) is reported in one
    line on stderr with exit code 2, before any work starts; so is a file
    that cannot be written and running out of memory.  ``--debug`` adds the
    traceback.  Anything else is a bug in mcverify: one line, exit code 3
    (the traceback with ``--debug``).
    """
    if argv is None and isinstance(sys.stdout, io.TextIOWrapper):
        # As the command: text that cannot be encoded (a surrogate escape) is printed escaped, never raises.
        sys.stdout.reconfigure(errors="backslashreplace")
    argv = sys.argv[1:] if argv is None else list(argv)
    debug = "--debug" in argv
    parser = _parser()
    if not argv:  # `mcverify` alone: what it can do, on stderr, as for any usage error
        sys.stderr.write(parser.format_help())
        return EXIT_USAGE
    stdout = sys.stdout
    try:
        # A reader that closes the pipe (`mcverify audit ... | head`) never fails the command:
        # the rest of the output goes to /dev/null and the exit status is the verdict's.
        with reader_may_leave(stdout) as sys.stdout:
            args = parser.parse_args(argv)
            with _terminate_as_interrupt():
                return int(args.handler(args))
    except UsageError as exc:
        code = _report(f"mcverify: error: {exc}", EXIT_USAGE, debug)
        for line in exc.follow_up:
            print("  " + one_line(line), file=sys.stderr)
        return code
    except (ConfigError, OutputError) as exc:
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
            EXIT_INTERNAL,
            debug,
        )
    finally:
        sys.stdout = stdout


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
        traceback.print_exc(file=sys.stderr)
    print(one_line(message), file=sys.stderr)
    return code


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
