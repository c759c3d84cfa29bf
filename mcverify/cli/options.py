"""What every subcommand shares: exit codes, the one-line error, argument types, common options.

Exit codes: 0 every verdict passes, 1 a verification failed, 2 bad input or
usage (one line on stderr, no traceback unless ``--debug``, nothing
written), 3 an internal error (a bug; one line, the traceback with
``--debug``), 130 interrupted.
"""

from __future__ import annotations

import argparse
import math
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import NoReturn

from mcverify.cli.terminal import interrupts_exit
from mcverify.config.defaults import DEFAULTS, ERROR_CONTROLS
from mcverify.tables.atomic import check_writable, clean_stale

__all__ = [
    "EXIT_FAIL",
    "EXIT_INTERNAL",
    "EXIT_PASS",
    "EXIT_USAGE",
    "Parser",
    "UsageError",
    "add_common_options",
    "add_config_options",
    "add_sampling_options",
    "check_outputs",
    "first_line",
    "level",
    "names",
    "nonnegative_int",
    "one_line",
    "parse_formats",
    "positive_int",
    "prepare_output",
    "seconds",
]

EXIT_PASS, EXIT_FAIL, EXIT_USAGE, EXIT_INTERNAL = 0, 1, 2, 3


class UsageError(Exception):
    """Bad input from the command line or a file: reported in one line, exit 2.

    ``follow_up`` lines, printed indented under that line, show material
    behind it (the last output of an audited candidate that ended at import).
    """

    def __init__(self, message: str, follow_up: Sequence[str] = ()) -> None:
        super().__init__(message)
        self.follow_up = tuple(follow_up)


class Parser(argparse.ArgumentParser):
    """argparse's parser whose errors are :class:`UsageError`: ``audit: argument --seed: ...``.

    The subcommand names the message (``mcverify: error:`` is added once, by
    :func:`mcverify.cli.main.main`).
    """

    def error(self, message: str) -> NoReturn:
        command = self.prog.partition(" ")[2]
        raise UsageError(f"{command}: {message}" if command else message)


def positive_int(text: str) -> int:
    try:
        value = int(text.replace("_", ""))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def nonnegative_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer >= 0, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected an integer >= 0, got {text!r}")
    return value


def level(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number strictly between 0 and 1, got {text!r}") from None
    if not 0.0 < value < 1.0:
        raise argparse.ArgumentTypeError(f"expected a number strictly between 0 and 1, got {text!r}")
    return value


def seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of seconds, got {text!r}") from None
    if not (value >= 0 and math.isfinite(value)):
        raise argparse.ArgumentTypeError(f"expected a number of seconds >= 0, got {text!r}")
    return value


def names(allowed: tuple[str, ...]) -> Callable[[str], tuple[str, ...]]:
    """An argparse type: a comma-separated list of ``allowed`` names, returned in ``allowed``'s order."""

    def parse(text: str) -> tuple[str, ...]:
        names = tuple(n.strip() for n in text.split(",") if n.strip())
        bad = [n for n in names if n not in allowed]
        if bad or not names:
            raise argparse.ArgumentTypeError(f"expected a comma-separated list of {', '.join(allowed)}, got {text!r}")
        return tuple(a for a in allowed if a in names)

    return parse


def _from_config(key: str) -> str:
    """``"(default: [run] seed, else 0"``: the config's own value, else mcverify's (the caller closes it)."""
    return f"(default: [run] {key}, else {DEFAULTS[key]}"


def add_sampling_options(p: argparse.ArgumentParser, *, verdicts: bool = True) -> None:
    """``--randomizations``, and ``--alpha`` and ``--error-control`` for commands that make verdicts.

    Each overrides the config's ``[run]`` key of the same name.
    """
    if verdicts:
        p.add_argument("--alpha", type=level, help=f"level of the verdicts {_from_config('alpha')})")
        p.add_argument(
            "--error-control",
            choices=ERROR_CONTROLS,
            help="holm: family-wise error rate; bh: false discovery rate (Benjamini-Hochberg) "
            f"{_from_config('error_control')})",
        )
    p.add_argument(
        "--randomizations", type=positive_int, help=f"independent scramblings for qmc {_from_config('randomizations')})"
    )


def add_common_options(
    p: argparse.ArgumentParser,
    *,
    output: str,
    default: str | None = None,
    metavar: str | None = None,
    quiet: str = "print nothing but errors",
) -> None:
    """``-o/--output`` (``output`` is its help, which states ``default``), ``-q/--quiet`` and ``--debug``.

    The options every subcommand spells the same way (and ``-f/--format``, where a command has formats).
    """
    p.add_argument("-o", "--output", default=default, metavar=metavar, help=output)
    p.add_argument("-q", "--quiet", action="store_true", help=quiet)
    p.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help="show the traceback of an error")


def add_config_options(p: argparse.ArgumentParser, *, verdicts: bool = True) -> None:
    """What every command that computes a config's cases takes (run, calibrate, converge).

    CONFIG, ``-o``, ``--seed``, the sampling options (without ``--alpha`` and
    ``--error-control`` when the command makes no verdicts), ``-f/--format``,
    ``--jobs``, ``--force``, ``--overwrite``, ``-q`` and ``--debug``.
    """
    p.add_argument("config", help="TOML config file (mcverify init writes examples)")
    add_common_options(p, output="output folder (default: results)", default="results")
    p.add_argument("--seed", type=nonnegative_int, help=f"root seed {_from_config('seed')})")
    add_sampling_options(p, verdicts=verdicts)
    p.add_argument(
        "-f", "--format", default="csv", help="comma-separated: csv,json,parquet,md,latex,html (default: csv)"
    )
    p.add_argument(
        "--jobs",
        type=positive_int,
        default=None,
        help="worker processes (default: every core this process may use; run: one for a run of at most 5e7 draws)",
    )
    p.add_argument("--force", action="store_true", help="allow sweeps beyond the case limit")
    p.add_argument(
        "--overwrite",
        action="store_true",
        help="replace existing result files (default: write beside them as <stem>-2, <stem>-3, ...)",
    )


def parse_formats(text: str) -> list[str]:
    """The ``--format`` list (``csv,json``), each format and its optional dependency checked before any work."""
    with interrupts_exit():  # nothing is written yet: Ctrl-C while importing exits 130 at once
        from mcverify.tables.writers import check_formats

    try:
        formats = check_formats(f.strip() for f in text.split(",") if f.strip())
    except (ValueError, ImportError) as exc:
        raise UsageError(f"--format: {exc}") from None
    if not formats:
        raise UsageError("--format: give at least one format")
    return formats


def check_outputs(
    folder: str | os.PathLike[str], stem: str, formats: list[str], *, overwrite: bool, tables: tuple[str, ...] = ("",)
) -> None:
    """Check, before any work, that the result set ``stem`` can be written (names, collisions, folders in the way).

    ``tables`` are what each table adds to ``stem`` (``("", "-rates")``), each
    written in every format; see :func:`mcverify.tables.result_files.check_set`.

    Raises
    ------
    mcverify.errors.OutputError
        Naming the file.
    """
    with interrupts_exit():  # nothing is written yet: Ctrl-C while importing exits 130 at once
        from mcverify.tables.result_files import check_set
        from mcverify.tables.writers import FORMATS

    check_set(folder, stem, [t + FORMATS[f][0] for t in tables for f in formats], overwrite=overwrite)


def prepare_output(folder: str | os.PathLike[str]) -> Path:
    """Create the output folder if needed and check it is a writable folder, before any work.

    Removes the temporary files that killed runs left there.

    Raises
    ------
    UsageError
        If it is not a folder, cannot be created or is not writable.
    """
    out = Path(folder)
    if out.exists() and not out.is_dir():
        raise UsageError(f"{out}: the output folder is not a folder")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(f"{out}: cannot create the output folder ({exc.strerror})") from None
    if not os.access(out, os.W_OK | os.X_OK):
        raise UsageError(f"{out}: the output folder is not writable")
    check_writable(out)  # what os.access cannot tell: a read-only file system, root refused
    clean_stale(out)  # temporary files of killed runs
    return out


def first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def one_line(text: str) -> str:
    """``text`` with every line break or other unprintable character escaped: one line, always."""
    return "".join(c if c.isprintable() or c == " " else repr(c)[1:-1] for c in text)
