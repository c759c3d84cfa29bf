"""``mcverify init [NAME ...]``: write the shipped example configs into the current folder.

From a wheel there is no ``configs/`` folder to point ``mcverify run`` at;
``mcverify init`` writes ``example.toml`` (and the other verification
configs, or the ones named) where the user stands, from the copies shipped
inside the package (:mod:`mcverify.config.examples`).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from mcverify.cli.options import EXIT_PASS, UsageError, add_common_options
from mcverify.config.examples import DEFAULT_EXAMPLES, EXAMPLES, example_text
from mcverify.tables.atomic import atomic_write

__all__ = ["add_init_command"]


def add_init_command(sub: argparse._SubParsersAction) -> None:
    """Register ``mcverify init`` on the subcommand parsers ``sub``."""
    p = sub.add_parser(
        "init",
        help="write the shipped example configs into the current folder",
        description="Write the example configs shipped with mcverify into a folder (default: the current "
        f"one) as NAME.toml: without NAME, {', '.join(DEFAULT_EXAMPLES)}. Then run one: "
        "mcverify run example.toml. An existing file is never replaced without --overwrite. "
        "Nothing is written when a NAME is unknown or a file exists. "
        "Exit 0 when written, 2 on bad input.",
    )
    p.add_argument(
        "names",
        nargs="*",
        metavar="NAME",
        help=f"example configs to write (default: {' '.join(DEFAULT_EXAMPLES)}; all: {' '.join(EXAMPLES)})",
    )
    add_common_options(p, output="folder to write into (default: .)", default=".", metavar="DIR")
    p.add_argument("--overwrite", action="store_true", help="replace existing files of the same names")
    p.set_defaults(handler=_cmd_init)


def _cmd_init(args: argparse.Namespace) -> int:
    names = list(dict.fromkeys(args.names)) or list(DEFAULT_EXAMPLES)
    unknown = [n for n in names if n not in EXAMPLES]
    if unknown:
        raise UsageError(f"init: no example config named {unknown[0]!r}; choose from: {', '.join(EXAMPLES)}")
    out = Path(args.output)
    if not out.is_dir():
        raise UsageError(f"init: {out}: not a folder")
    targets = [(n, out / f"{n}.toml") for n in names]
    if not args.overwrite:  # checked for every file before any is written
        existing = [str(t) for _, t in targets if t.exists() or t.is_symlink()]
        if existing:
            raise UsageError(f"init: {existing[0]} exists; pass --overwrite to replace it")
    texts = [(example_text(n), t) for n, t in targets]
    for text, target in texts:
        with atomic_write(target, overwrite=args.overwrite) as fh:
            fh.write(text)
    if not args.quiet:
        print("wrote " + ", ".join(str(t) for _, t in texts))
        print(f"next: mcverify run {texts[0][1]}")
    return EXIT_PASS
