r"""Convergence study: error against sample count, and the fitted rate.

For every case and method, the estimate is computed at sample counts
``2**k`` over a range, ``replicates`` times each with independent seeds,
and compared with the closed form. The root mean square error (RMSE) at
each count is fitted by least squares on a log-log scale,

.. math::

    \log \mathrm{RMSE}(N) = c + s \log N,

whose slope ``s`` is the convergence rate: :math:`-1/2` for plain and
antithetic Monte Carlo, close to :math:`-1` (or steeper) for randomised
quasi-Monte Carlo on these smooth integrands. Replicate ``r`` at the
``j``-th count of case ``i`` draws from
``SeedSequence(seed, spawn_key=(i, j * replicates + r))``: every estimate
has its own stream, so errors at different counts are independent (nested
streams would make them correlated and the fitted slope's standard error
too small). Orchestration only: no files, no printing.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import numpy as np

from mcverify.config.cases import Case, RunSpec
from mcverify.engine.case import Settings
from mcverify.engine.parallel import Workers
from mcverify.sampling.estimators import METHODS, estimate_kl
from mcverify.sampling.seeding import case_seed
from mcverify.studies.calibrate import study_map, study_tasks

__all__ = ["FIT_COLUMNS", "POINT_COLUMNS", "Convergence", "converge", "fit_rate", "sample_counts"]

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


def fit_rate(samples: Sequence[float], rmse: Sequence[float]) -> tuple[float, float, int]:
    r"""Least-squares slope of :math:`\log \mathrm{RMSE}` on :math:`\log N`, with its standard error.

    Points with a zero RMSE (an exact estimator) are left out. Returns
    ``(slope, stderr, points)``; ``slope`` is NaN with fewer than 2 points
    and ``stderr`` NaN with fewer than 3.

    Notes
    -----
    ``stderr`` is the usual :math:`\sqrt{\hat\sigma^2 / S_{xx}}` with
    :math:`\hat\sigma^2` the residual variance on ``points - 2`` degrees of freedom.
    """
    x = np.log(np.asarray(samples, dtype=np.float64))
    y = np.asarray(rmse, dtype=np.float64)
    keep = (y > 0) & np.isfinite(y)
    x, y = x[keep], np.log(y[keep])
    k = int(x.size)
    if k < 2:
        return math.nan, math.nan, k
    dx = x - x.mean()
    sxx = float(dx @ dx)
    slope = float(dx @ (y - y.mean())) / sxx
    if k < 3:
        return slope, math.nan, k
    resid = y - y.mean() - slope * dx
    return slope, math.sqrt(float(resid @ resid) / (k - 2) / sxx), k


def _errors(
    task: tuple[Case, str, float], *, settings: Settings, counts: tuple[int, ...], replicates: int
) -> list[dict[str, Any]]:
    """All counts and replicates of one case and method (runs in a worker)."""
    case, method, kl = task
    out = []
    for j, n in enumerate(counts):
        err, se = np.empty(replicates), np.empty(replicates)
        used = n
        t0 = time.perf_counter()
        for r in range(replicates):
            res = estimate_kl(
                case.p,
                case.q,
                n,
                method=method,
                seed=case_seed(settings.seed, case.index, j * replicates + r),
                confidence=settings.confidence,
                randomizations=settings.randomizations,
            )
            err[r], se[r], used = res.estimate - kl, res.stderr, res.samples
        out.append(
            {
                "index": case.index,
                "name": case.name,
                "dim": case.dim,
                "kl_closed": kl,
                "method": method,
                "samples": used,
                "replicates": replicates,
                "rmse": float(np.sqrt(np.mean(err * err))),
                "bias": float(np.mean(err)),
                "stderr_rms": float(np.sqrt(np.mean(se * se))),
                "seconds": (time.perf_counter() - t0) / replicates,
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
        slope, slope_se, k = fit_rate([r["samples"] for r in rows], [r["rmse"] for r in rows])
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
