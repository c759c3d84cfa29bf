"""``mcverify run``: compute every case of a config by all three methods and write the tables."""

from __future__ import annotations

import argparse
from pathlib import Path

from mcverify.cli.options import (
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
from mcverify.sampling.methods import ESTIMATORS, METHODS
from mcverify.tables.atomic import check_name

__all__ = ["add_run_command"]


def add_run_command(sub: argparse._SubParsersAction) -> None:
    """Add ``run`` to the ``mcverify`` subcommands."""
    run = sub.add_parser(
        "run",
        help="compute all methods for every case of a config file",
        description="Compute the KL divergence of every case of CONFIG by closed form, Monte Carlo and "
        "quadrature, judge each case, and write the table (OUTPUT/<stem>.csv by default) with its provenance. "
        "Exit 0 when every case passes, 1 when one fails, 2 on bad input.",
    )
    add_config_options(run)
    run.add_argument(
        "--samples",
        type=positive_int,
        help=f"Monte Carlo samples per case (default: [run] samples, else {DEFAULTS['samples']})",
    )
    run.add_argument(
        "--dask",
        metavar="ADDRESS",
        help="run on a Dask cluster: a scheduler address (tcp://host:8786), or 'local' for a new "
        "LocalCluster of --jobs single-threaded workers; needs pip install 'mcverify[dask]' (default: local processes, see --jobs)",
    )
    run.add_argument(
        "--resume", action="store_true", help="continue an interrupted run from its checkpoint (DIR/.<stem>.checkpoint)"
    )
    run.add_argument("--restart", action="store_true", help="discard an interrupted run's checkpoint and start over")
    run.add_argument("--keep-checkpoint", action="store_true", help="keep the checkpoint folder after a successful run")
    run.add_argument(
        "--method", choices=METHODS, help="sampling estimator: mc, antithetic or qmc (default: [run] method, else mc)"
    )
    run.add_argument(
        "--estimators",
        type=names(ESTIMATORS),
        help="also report k1,k2,k3, comma-separated (default: [run] estimators, else none)",
    )
    run.set_defaults(handler=_cmd_run)


def _cmd_run(args: argparse.Namespace) -> int:
    with interrupts_exit():  # nothing is written yet: Ctrl-C while importing exits 130 at once
        from mcverify.config.loader import load_config
        from mcverify.engine.checkpoint import Checkpoint, CheckpointError
        from mcverify.engine.pipeline import RunOptions, RunProblem, execute

    formats = parse_formats(args.format)
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
    if args.resume and args.restart:
        raise UsageError("--resume and --restart exclude each other")
    stem = Path(spec.source).stem
    check_outputs(args.output, stem, formats, overwrite=args.overwrite)
    check_name(Checkpoint.folder_for(args.output, stem))
    out = prepare_output(args.output)
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
