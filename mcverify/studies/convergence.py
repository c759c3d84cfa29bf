r"""Convergence: error against sample count, and the fitted rate.

One study in two uses: ``mcverify converge`` (:func:`converge`: every
method, powers of two, replicates, RMSE and fitted rate per case) and the
convergence table of ``mcverify validate`` (:func:`convergence_table`: plain
Monte Carlo at decades below the run's own sample count, one estimate per
case and size).  Both draw their estimates from :func:`replicate_estimates`.

For every case and method, the estimate is computed at several sample
counts, ``replicates`` times each with independent seeds, and compared with
the closed form. The root mean square error (RMSE) at
each count is fitted by least squares on a log-log scale,

.. math::

    \log \mathrm{RMSE}(N) = c + s \log N,

whose slope ``s`` is the convergence rate: :math:`-1/2` for plain and
antithetic Monte Carlo, close to :math:`-1` (or steeper) for randomised
quasi-Monte Carlo on these smooth integrands (:func:`mcverify.stats.rates.fit_rate`).
Replicate ``r`` at the ``j``-th count of case ``i`` draws from
``SeedSequence(seed, spawn_key=(i, 1 + j * replicates + r))``: every estimate
has its own stream, independent of the run's own draws (key ``(i, 0)``), so
errors at different counts are independent (nested streams would make them
correlated and the fitted slope's standard error too small). Orchestration
only: no files, no printing.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mcverify.config.cases import Case, RunSpec
from mcverify.engine.case import Settings
from mcverify.engine.parallel import Workers
from mcverify.numerics.closed_form import kl_divergence
from mcverify.numerics.stable import root_mean_square
from mcverify.sampling.estimators import METHODS, estimate_kl
from mcverify.sampling.monte_carlo import MonteCarloResult
from mcverify.sampling.seeding import case_seed
from mcverify.stats.rates import fit_rate
from mcverify.studies.calibration import study_map, study_tasks

__all__ = [
    "FIT_COLUMNS",
    "POINT_COLUMNS",
    "Convergence",
    "converge",
    "convergence_rows",
    "convergence_sizes",
    "convergence_table",
    "replicate_estimates",
    "sample_counts",
]

#: Smallest Monte Carlo sample size of a validation report's convergence table.
MIN_SAMPLES = 100

#: Columns of the error-versus-samples table.
POINT_COLUMNS: dict[str, str] = {
    "index": "case position in the run",
    "name": "case label",
    "dim": "dimension d",
    "kl_closed": "closed-form KL(p || q), the truth",
    "method": "sampling estimator: mc, antithetic or qmc",
    "samples": "log-ratio evaluations per estimate",
    "replicates": "independent estimates at this count",
    "rmse": "root mean square error against kl_closed",
    "bias": "mean error (estimate - kl_closed)",
    "stderr_rms": "root mean square of the reported standard errors (close to rmse when honest)",
    "seconds": "mean wall time of one estimate",
}

#: Columns of the fitted-rate table.
FIT_COLUMNS: dict[str, str] = {
    "index": "case position in the run",
    "name": "case label",
    "dim": "dimension d",
    "method": "sampling estimator",
    "slope": "fitted rate s in rmse ~ N^s (least squares of log rmse on log N)",
    "slope_stderr": "standard error of slope from the fit's residuals",
    "points": "sample counts in the fit (those with rmse > 0)",
    "max_samples": "largest sample count",
    "rmse_at_max": "rmse at max_samples",
    "gain_vs_mc": "plain Monte Carlo's rmse_at_max / this method's (empty without mc)",
    "seconds_at_max": "mean wall time of one estimate at max_samples",
}


@dataclass(frozen=True)
class Convergence:
    """Result of :func:`converge`: the error table and the fitted rates."""

    points: list[dict[str, Any]] = field(repr=False)
    fits: list[dict[str, Any]]


def sample_counts(smallest: int, largest: int) -> list[int]:
    """Powers of two from ``smallest`` to ``largest`` (both powers of two, doubling)."""
    for name, value in (("smallest", smallest), ("largest", largest)):
        if value < 2 or value & (value - 1):
            raise ValueError(f"{name} sample count must be a power of two >= 2, got {value!r}")
    if largest < smallest:
        raise ValueError(f"largest sample count {largest} is below the smallest {smallest}")
    return [1 << k for k in range(smallest.bit_length() - 1, largest.bit_length())]


def replicate_estimates(
    case: Case, method: str, counts: Sequence[int], replicates: int, settings: Settings
) -> list[tuple[list[tuple[int, MonteCarloResult]], float]]:
    """Estimates of one case by ``method``: per count, ``replicates`` of them with their seeds.

    Returns, for each count in order, the list of ``(seed, result)`` and the
    mean wall time of one estimate. Replicate ``r`` at the ``j``-th count
    draws from ``SeedSequence(settings.seed, spawn_key=(case.index, 1 + j * replicates + r))``.
    """
    out = []
    for j, n in enumerate(counts):
        t0 = time.perf_counter()
        estimates = []
        for r in range(replicates):
            seed = case_seed(settings.seed, case.index, 1 + j * replicates + r)
            result = estimate_kl(
                case.p,
                case.q,
                n,
                method=method,
                seed=seed,
                confidence=settings.confidence,
                randomizations=settings.randomizations,
            )
            estimates.append((seed, result))
        out.append((estimates, (time.perf_counter() - t0) / replicates))
    return out


def _errors(
    task: tuple[Case, str, float], *, settings: Settings, counts: tuple[int, ...], replicates: int
) -> list[dict[str, Any]]:
    """All counts and replicates of one case and method (runs in a worker)."""
    case, method, kl = task
    out = []
    for estimates, seconds in replicate_estimates(case, method, counts, replicates, settings):
        err = np.array([res.estimate - kl for _, res in estimates])
        se = np.array([res.stderr for _, res in estimates])
        out.append(
            {
                "index": case.index,
                "name": case.name,
                "dim": case.dim,
                "kl_closed": kl,
                "method": method,
                "samples": estimates[-1][1].samples,
                "replicates": replicates,
                "rmse": root_mean_square(err),  # scaled: finite for a KL up to 1e300
                "bias": float(np.mean(err)),
                "stderr_rms": root_mean_square(se),
                "seconds": seconds,
            }
        )
    return out


def converge(
    spec: RunSpec,
    *,
    counts: Sequence[int],
    replicates: int,
    methods: Sequence[str] | None = None,
    workers: Workers = None,
    on_task: Callable[[Case, str], None] | None = None,
) -> Convergence:
    """Measure each method's error against the sample count and fit its rate.

    Parameters
    ----------
    spec : RunSpec
        Cases, seed, confidence and randomisations (``spec.samples`` is not used).
    counts : sequence of int
        Sample counts (see :func:`sample_counts`); each method must accept the smallest.
    replicates : int
        Independent estimates per count (``>= 2``).
    methods : sequence of str, optional
        By default all of ``mc``, ``antithetic`` and ``qmc``.
    workers : int or concurrent.futures.Executor, optional
        As for :func:`mcverify.engine.runner.run`; results do not depend on it.
    on_task : callable, optional
        Called with each finished (case, method), in order (progress).

    Returns
    -------
    Convergence
    """
    methods, tasks, settings = study_tasks(spec, replicates, methods or METHODS)
    counts = tuple(sorted(set(int(n) for n in counts)))
    if not counts:
        raise ValueError("give at least one sample count")
    work = partial(_errors, settings=settings, counts=counts, replicates=replicates)
    points: list[dict[str, Any]] = []
    fits: list[dict[str, Any]] = []
    for (case, method, _), rows in zip(tasks, study_map(work, tasks, workers), strict=True):
        points.extend(rows)
        slope, slope_se, k, _ = fit_rate([r["samples"] for r in rows], [r["rmse"] for r in rows])
        fits.append(
            {
                "index": case.index,
                "name": case.name,
                "dim": case.dim,
                "method": method,
                "slope": slope,
                "slope_stderr": slope_se,
                "points": k,
                "max_samples": rows[-1]["samples"],
                "rmse_at_max": rows[-1]["rmse"],
                "gain_vs_mc": math.nan,
                "seconds_at_max": rows[-1]["seconds"],
            }
        )
        if on_task is not None:
            on_task(case, method)
    reference = {f["index"]: f["rmse_at_max"] for f in fits if f["method"] == "mc"}
    for f in fits:
        if f["index"] in reference and f["rmse_at_max"] > 0:
            f["gain_vs_mc"] = reference[f["index"]] / f["rmse_at_max"]
        elif f["index"] in reference:
            f["gain_vs_mc"] = math.inf
    return Convergence(points, fits)


# ------------------------------------------ the validation report's convergence table
def convergence_sizes(samples: int, levels: int) -> list[int]:
    """``samples`` and up to ``levels`` sizes below it, a decade apart, none under :data:`MIN_SAMPLES`."""
    sizes = {samples}
    for k in range(1, levels + 1):
        n = samples // 10**k
        if n >= MIN_SAMPLES:
            sizes.add(n)
    return sorted(sizes)


def convergence_rows(spec: RunSpec, sizes: Sequence[int]) -> list[dict[str, Any]]:
    """Plain Monte Carlo alone for every case at each sample size, one estimate each.

    Size number ``k`` (from 1, smallest first) of case ``i`` draws from
    ``SeedSequence(seed, spawn_key=(i, k))`` (:func:`replicate_estimates`
    with one replicate), independent of the run's own draws (key ``(i, 0)``)
    and of the other sizes, so that the errors at different sizes are
    independent.
    """
    settings = Settings.from_spec(spec)
    rows = []
    for case in spec.cases:
        closed = kl_divergence(case.p, case.q)
        for (((seed, mc),), _), n in zip(replicate_estimates(case, "mc", sizes, 1, settings), sizes, strict=True):
            rows.append(
                _convergence_row(
                    case.index,
                    case.name,
                    case.group,
                    case.direction,
                    case.dim,
                    n,
                    seed,
                    closed,
                    mc.estimate,
                    mc.stderr,
                    mc.z_score(closed),
                )
            )
    return rows


def _convergence_row(
    index: int,
    name: str,
    group: str,
    direction: str,
    dim: int,
    samples: int,
    seed: int,
    closed: float,
    estimate: float,
    stderr: float,
    z: float,
) -> dict[str, Any]:
    err = abs(estimate - closed)
    return {
        "index": index,
        "name": name,
        "group": group,
        "direction": direction,
        "dim": dim,
        "samples": samples,
        "seed": seed,
        "kl_closed": closed,
        "kl_mc": estimate,
        "mc_stderr": stderr,
        "mc_z": z,
        "abs_err_mc": err,
        "rel_err_mc": err / abs(closed) if closed != 0 else float("nan"),
    }


def convergence_table(spec: RunSpec, frame: pd.DataFrame, levels: int) -> pd.DataFrame:
    """The run's own Monte Carlo (``frame``) and reruns at ``levels`` smaller sizes, one row per case and size."""
    sizes = convergence_sizes(spec.samples, levels)[:-1]
    if not sizes:
        return pd.DataFrame()
    rows = convergence_rows(spec, sizes)
    # A row of the run's table: pandas-stubs types its cells as any scalar (and r.index as tuple.index).
    r: Any
    for r in frame.itertuples(index=False):
        rows.append(
            _convergence_row(
                r.index,
                r.name,
                r.group,
                r.direction,
                r.dim,
                r.samples,
                r.seed,
                r.kl_closed,
                r.kl_mc,
                r.mc_stderr,
                r.mc_z,
            )
        )
    out = pd.DataFrame(rows).sort_values(["index", "samples"], kind="stable", ignore_index=True)
    out.insert(0, "config", Path(spec.source).stem)
    return out
