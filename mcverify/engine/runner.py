"""Run the three methods on every case of a run, in case order.

Orchestration only: composes the numerical core and returns plain rows;
files and terminals are the CLI's business.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from concurrent.futures import Executor
from dataclasses import dataclass
from typing import Any

import numpy as np

from mcverify.config.cases import Case, RunSpec
from mcverify.numerics.closed_form import kl_divergence
from mcverify.quadrature.integration import quadrature_kl
from mcverify.sampling.estimators import estimate_kl
from mcverify.sampling.ratio_estimators import ratio_estimators
from mcverify.stats.verdicts import apply_verdicts, rounding_allowance

__all__ = ["Settings", "case_seed", "evaluate_case", "run"]

Workers = int | Executor | None


@dataclass(frozen=True)
class Settings:
    """Per-run settings every case needs (picklable, sent to workers)."""

    samples: int
    seed: int
    confidence: float = 0.95
    quad_rtol: float = 1e-10
    method: str = "mc"
    randomizations: int = 64
    estimators: tuple[str, ...] = ()


def case_seed(root: int, index: int, replicate: int = 0) -> int:
    """The 63-bit seed of case ``index``: ``SeedSequence(root, spawn_key=(index, replicate))``.

    Passing it to :func:`mcverify.sampling.estimators.estimate_kl` (or
    :func:`mcverify.monte_carlo_kl`) as ``seed`` reproduces the case's
    Monte Carlo numbers exactly. It depends on the case, never on the
    worker that runs it.
    """
    ss = np.random.SeedSequence(root, spawn_key=(index, replicate))
    return int(ss.generate_state(1, np.uint64)[0] >> np.uint64(1))


def evaluate_case(case: Case, settings: Settings) -> dict[str, Any]:
    """Closed form, Monte Carlo and quadrature for one case, as a flat row."""
    t0 = time.perf_counter()
    p, q = case.p, case.q
    closed = kl_divergence(p, q)
    t1 = time.perf_counter()
    seed = case_seed(settings.seed, case.index)
    mc = estimate_kl(
        p,
        q,
        settings.samples,
        method=settings.method,
        seed=seed,
        confidence=settings.confidence,
        randomizations=settings.randomizations,
    )
    floor = rounding_allowance(closed, mc.estimate, "full" in (p.kind, q.kind))
    t2 = time.perf_counter()
    quad = quadrature_kl(p, q, rtol=settings.quad_rtol)
    direct = quadrature_kl(p, q, method="direct", rtol=settings.quad_rtol) if p.dim <= 2 else None
    t3 = time.perf_counter()
    row: dict[str, Any] = {
        "index": case.index,
        "name": case.name,
        "group": case.group,
        "direction": case.direction,
        "dim": p.dim,
        "p_kind": p.kind,
        "q_kind": q.kind,
        "kl_closed": closed,
        "method": mc.method,
        "kl_mc": mc.estimate,
        "mc_stderr": mc.stderr,
        "mc_skewness": mc.skewness,
        "mc_df": mc.df,
        "mc_ci_low": mc.ci_low,
        "mc_ci_high": mc.ci_high,
        "mc_z": mc.z_score(closed, floor),
        "mc_p_value": mc.p_value(closed, floor),
        "kl_quad": quad.value,
        "quad_error": quad.error,
        "quad_reliable": quad.reliable,
        "quad_message": quad.message,
        "kl_quad_direct": direct.value if direct else math.nan,
        "quad_direct_error": direct.error if direct else math.nan,
        "quad_direct_reliable": direct.reliable if direct else None,
        "samples": mc.samples,
        "seed": seed,
        "seconds_closed": t1 - t0,
        "seconds_mc": t2 - t1,
        "seconds_quad": t3 - t2,
        "seconds": t3 - t0,
    }
    row.update(_errors(closed, mc.estimate, "mc"))
    row.update(_errors(closed, quad.value, "quad"))
    if settings.estimators:
        row.update(_ratio_columns(case, settings, seed, closed))
        row["seconds"] += row["seconds_estimators"]
    for key, value in case.params:
        row[f"param:{key}"] = value
    return row


def _ratio_columns(case: Case, settings: Settings, seed: int, closed: float) -> dict[str, Any]:
    """The requested k1/k2/k3 columns (same draws as plain Monte Carlo with this seed)."""
    t0 = time.perf_counter()
    k = ratio_estimators(case.p, case.q, settings.samples, seed=seed, confidence=settings.confidence)
    out: dict[str, Any] = {}
    for name in settings.estimators:
        result = getattr(k, name)
        out[f"kl_{name}"] = result.estimate
        out[f"{name}_stderr"] = result.stderr
        if name == "k2":
            out["k2_bias"] = result.estimate - closed
        if name == "k3":
            out["k3_finite_variance"] = k.k3_finite_variance
    out["seconds_estimators"] = time.perf_counter() - t0
    return out


def _errors(truth: float, value: float, tag: str) -> dict[str, float]:
    err = abs(value - truth)
    rel = err / abs(truth) if truth != 0.0 else (0.0 if err == 0.0 else math.inf)
    return {f"abs_err_{tag}": err, f"rel_err_{tag}": rel}


def run(
    spec: RunSpec,
    *,
    workers: Workers = None,
    on_row: Callable[[dict[str, Any]], None] | None = None,
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
    from mcverify.engine.blocks import Layout
    from mcverify.engine.parallel import BlockTask, map_blocks, run_params
    from mcverify.tables.columns import to_rows

    settings = Settings(
        spec.samples,
        spec.seed,
        spec.confidence,
        method=spec.method,
        randomizations=spec.randomizations,
        estimators=spec.estimators,
    )
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
    return apply_verdicts(rows, alpha=spec.alpha, control=spec.error_control)  # type: ignore[arg-type]
