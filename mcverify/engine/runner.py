"""A whole run in memory: every case of a run, in case order, with verdicts.

Orchestration only: composes the numerical core and returns plain rows;
files and terminals are the CLI's business.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from mcverify.config.cases import RunSpec
from mcverify.engine.blocks import Layout
from mcverify.engine.case import Methods, Settings
from mcverify.engine.parallel import BlockTask, Workers, map_blocks, run_params
from mcverify.stats.verdicts import apply_verdicts
from mcverify.tables.columns import to_rows

__all__ = ["run"]


def run(
    spec: RunSpec,
    *,
    workers: Workers = None,
    on_row: Callable[[dict[str, Any]], None] | None = None,
    methods: Methods | None = None,
) -> list[dict[str, Any]]:
    """Evaluate every case of ``spec`` and attach verdicts.

    Parameters
    ----------
    spec : RunSpec
        The expanded run.
    workers : int or concurrent.futures.Executor, optional
        Local processes to use, or any executor (a Dask client's
        ``get_executor()``). Rows come back in case order and every case is
        seeded by its index, so the table is identical whatever the workers.
    on_row : callable, optional
        Called with each raw row as it completes, in case order (progress).
    methods : Methods, optional
        The three methods to compute each case with; mcverify's own by default.

    Returns
    -------
    list of dict
        One row per case, with ``verdict`` and ``reason``.

    Notes
    -----
    Cases are computed in blocks (:mod:`mcverify.engine.blocks`), univariate pairs
    in bulk; see :mod:`mcverify.engine.parallel` for how blocks reach the workers.
    For runs too large to hold as dicts, the command line streams blocks
    to a checkpoint instead (:mod:`mcverify.engine.checkpoint`).
    """
    settings = Settings.from_spec(spec, methods)
    layout = Layout.for_run(len(spec.cases), spec.samples)
    params = run_params(spec)
    task = BlockTask(spec.cases, settings, layout, params)
    parts: dict[int, Any] = {}
    rows: list[dict[str, Any]] = []
    for block, cols in map_blocks(task, range(layout.n_blocks), workers):
        parts[block] = cols
        while len(rows) < layout.n_cases and (len(rows) // layout.block_size) in parts:
            new = to_rows(parts[len(rows) // layout.block_size], params)
            rows.extend(new)
            if on_row is not None:
                for row in new:
                    on_row(row)
    return apply_verdicts(rows, alpha=spec.alpha, control=spec.error_control)  # type: ignore[arg-type]  # RunSpec.error_control: a str the loader checked against ERROR_CONTROLS
