"""Calibration study: do the intervals cover and the tests keep their error rates?

Every case of a run is estimated ``replicates`` times with independent
seeds (replicate ``r`` of case ``i`` draws from
``SeedSequence(seed, spawn_key=(i, r))``, so replicate 0 of plain Monte
Carlo reproduces the run's table), for each requested method, and compared
with the closed form. Reported per case and method:

- the **coverage** of the confidence intervals and how often the truth fell
  below or above them (skewness shows up as unequal misses);
- the **false-alarm rate** of the per-case z-test at the run's ``alpha``;
- the z-scores' mean and standard deviation and the ratio of the actual
  error (RMSE over replicates) to the reported standard error.

Per method, every replicate is also treated as one run of all cases with the
run's error control (Holm or Benjamini-Hochberg at ``alpha``): the
**family-wise false-alarm rate** is the fraction of these runs in which any
true case was flagged.

Each rate comes with a 95% Clopper-Pearson interval, and each is checked
against its nominal value with an exact binomial test. The study is itself
a multiple test, so each check uses level ``alpha / K`` for ``K`` checks
(Bonferroni): a correct implementation fails the study with probability at
most ``alpha``. Orchestration only: no files, no printing.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import numpy as np
from numpy.typing import NDArray
from scipy import stats

from mcverify.config.cases import Case, RunSpec
from mcverify.engine.case import Settings
from mcverify.engine.parallel import Workers, ordered_map, resolve_workers
from mcverify.numerics.blas import one_blas_thread
from mcverify.numerics.closed_form import kl_divergence
from mcverify.numerics.stable import root_mean_square
from mcverify.sampling.estimators import METHODS, estimate_kl
from mcverify.sampling.seeding import case_seed
from mcverify.stats.verdicts import adjust_p_values, rounding_allowance

__all__ = [
    "CELL_COLUMNS",
    "FAMILY_COLUMNS",
    "Calibration",
    "acceptance_band",
    "calibrate",
    "clopper_pearson",
    "study_map",
]

#: Confidence of the Clopper-Pearson intervals reported for each rate.
RATE_CONFIDENCE = 0.95

#: Columns of the per-case table, in order, with their meaning.
CELL_COLUMNS: dict[str, str] = {
    "index": "case position in the run (replicate r draws from SeedSequence(seed, spawn_key=(index, r)))",
    "name": "case label",
    "dim": "dimension d",
    "p_kind": "p's covariance structure",
    "q_kind": "q's covariance structure",
    "kl_closed": "closed-form KL(p || q), the truth",
    "method": "sampling estimator: mc, antithetic or qmc",
    "samples": "log-ratio evaluations per replicate",
    "replicates": "independent replicates",
    "confidence": "nominal coverage of each interval",
    "coverage": "fraction of replicates whose interval contains kl_closed",
    "coverage_low": "95% Clopper-Pearson lower bound of coverage",
    "coverage_high": "95% Clopper-Pearson upper bound of coverage",
    "coverage_band_low": "lowest coverage an exact binomial test at the study's check level accepts",
    "coverage_band_high": "highest coverage it accepts",
    "coverage_ok": "coverage within [coverage_band_low, coverage_band_high], or exact",
    "exact": "no sampling error at all (every standard error at rounding level: p == q, antithetic "
    "pairs on a pure mean shift); coverage is then 1 by construction",
    "miss_below": "fraction of replicates with kl_closed below the interval (nominal (1 - confidence) / 2)",
    "miss_above": "fraction with kl_closed above the interval (nominal (1 - confidence) / 2)",
    "alpha": "per-case level of the false-alarm test (the run's alpha, unadjusted)",
    "false_alarm_rate": "fraction of replicates whose z-test rejects the true value at alpha",
    "false_alarm_low": "95% Clopper-Pearson lower bound of false_alarm_rate",
    "false_alarm_high": "95% Clopper-Pearson upper bound of false_alarm_rate",
    "false_alarm_band_high": "highest rate a one-sided exact binomial test of rate <= alpha accepts",
    "false_alarm_ok": "false_alarm_rate <= false_alarm_band_high",
    "z_mean": "mean of the replicates' z-scores (0 when unbiased)",
    "z_std": "standard deviation of the z-scores (1 when the standard error is honest)",
    "rmse": "root mean square error of the estimates against kl_closed",
    "stderr_rms": "root mean square of the reported standard errors",
    "error_ratio": "rmse / stderr_rms (1 when the standard error is honest)",
    "skewness_mean": "mean reported skewness of the averaged terms",
    "seconds": "wall time of all replicates of this case and method",
}

#: Columns of the per-method family-wise table.
FAMILY_COLUMNS: dict[str, str] = {
    "method": "sampling estimator",
    "error_control": "multiplicity procedure applied to each replicate run: holm or bh",
    "alpha": "level of the error control",
    "cases": "true cases per run",
    "replicates": "independent runs",
    "runs_with_false_alarm": "runs in which at least one true case was flagged",
    "family_rate": "runs_with_false_alarm / replicates (nominal at most alpha)",
    "family_low": "95% Clopper-Pearson lower bound of family_rate",
    "family_high": "95% Clopper-Pearson upper bound of family_rate",
    "family_band_high": "highest rate a one-sided exact binomial test of rate <= alpha accepts",
    "family_ok": "family_rate <= family_band_high",
}


@dataclass(frozen=True)
class Calibration:
    """Result of :func:`calibrate`.

    Attributes
    ----------
    cells : list of dict
        One row per case and method, with the :data:`CELL_COLUMNS`.
    family : list of dict
        One row per method, with the :data:`FAMILY_COLUMNS`.
    check_level : float
        Level of each binomial check: ``alpha / checks``.
    checks : int
        Number of checks: two per cell (coverage, false alarms) plus one per method.
    """

    cells: list[dict[str, Any]] = field(repr=False)
    family: list[dict[str, Any]]
    check_level: float
    checks: int

    @property
    def ok(self) -> bool:
        """Whether every check passed."""
        return all(c["coverage_ok"] and c["false_alarm_ok"] for c in self.cells) and all(
            f["family_ok"] for f in self.family
        )


def clopper_pearson(successes: int, trials: int, confidence: float = RATE_CONFIDENCE) -> tuple[float, float]:
    """Exact (Clopper-Pearson) two-sided confidence interval for a binomial proportion.

    Notes
    -----
    The bounds are the ``(1 - confidence) / 2`` quantile of
    ``Beta(k, n - k + 1)`` and the ``(1 + confidence) / 2`` quantile of
    ``Beta(k + 1, n - k)``, with 0 and 1 at the ends (Clopper and Pearson,
    *Biometrika* 26, 1934).
    """
    tail = (1.0 - confidence) / 2.0
    low = 0.0 if successes == 0 else float(stats.beta.ppf(tail, successes, trials - successes + 1))
    high = 1.0 if successes == trials else float(stats.beta.ppf(1.0 - tail, successes + 1, trials - successes))
    return low, high


def acceptance_band(rate: float, trials: int, level: float, *, sided: str = "two") -> tuple[float, float]:
    """Rates an exact binomial test of ``H0: p = rate`` at ``level`` does not reject.

    Parameters
    ----------
    rate : float
        The nominal proportion.
    trials : int
        Number of trials.
    level : float
        Probability of rejecting a true ``H0`` (at most).
    sided : {"two", "upper"}
        ``"two"``: equal tails, ``level / 2`` each; ``"upper"``: reject only
        too many successes (the band starts at 0).

    Returns
    -------
    (float, float)
        ``(k_low / trials, k_high / trials)``: a count ``k`` is accepted when
        ``k_low <= k <= k_high``, and ``P(k outside) <= level`` under ``H0``.
    """
    tail = level / 2.0 if sided == "two" else level
    if sided not in ("two", "upper"):
        raise ValueError(f"sided must be 'two' or 'upper', got {sided!r}")
    high = float(stats.binom.isf(tail, trials, rate))  # P(K > high) <= tail
    low = float(stats.binom.ppf(tail, trials, rate)) if sided == "two" else 0.0  # P(K < low) <= tail
    return low / trials, high / trials


@dataclass(frozen=True)
class _SingleThreadBlas:
    """``fn`` with BLAS limited to one thread while it runs (for executors mcverify did not start)."""

    fn: Callable[[Any], Any]

    def __call__(self, item: Any) -> Any:
        with one_blas_thread():
            return self.fn(item)


def study_tasks(
    spec: RunSpec, replicates: int, methods: Sequence[str]
) -> tuple[tuple[str, ...], list[tuple[Case, str, float]], Settings]:
    """Check a study's arguments; return its methods, its ``(case, method, closed-form KL)`` tasks and settings."""
    if replicates < 2:
        raise ValueError(f"replicates must be >= 2, got {replicates!r}")
    methods = tuple(methods)
    for method in methods:
        if method not in METHODS:
            raise ValueError(f"unknown method {method!r}: use one of {', '.join(METHODS)}")
    truth = {case.index: kl_divergence(case.p, case.q) for case in spec.cases}
    tasks = [(case, method, truth[case.index]) for case in spec.cases for method in methods]
    settings = Settings.from_spec(spec)
    return methods, tasks, settings


def study_map(fn: Callable[[Any], Any], items: Sequence[Any], workers: Workers) -> Iterator[Any]:
    """``map(fn, items)`` in order, in this process, on local processes or on an executor.

    ``workers`` is as for :func:`mcverify.engine.runner.run`. BLAS runs on one thread
    in every process (the processes are the parallelism; see
    :mod:`mcverify.engine.parallel`). Results never depend on ``workers``: every
    task seeds itself.
    """

    resolved = resolve_workers(workers)
    if isinstance(resolved, Executor):
        yield from resolved.map(_SingleThreadBlas(fn), items)
    elif resolved == 1 or len(items) <= 1:
        with one_blas_thread():
            yield from map(fn, items)
    else:
        yield from ordered_map(fn, items, resolved)


def _replicates(task: tuple[Case, str, float], *, settings: Settings, replicates: int) -> dict[str, Any]:
    """All replicates of one case and method (runs in a worker)."""
    case, method, kl = task
    full = "full" in (case.p.kind, case.q.kind)
    est, se, skew, p_values, z = (np.empty(replicates) for _ in range(5))
    samples = 0
    exact = True
    t0 = time.perf_counter()
    for r in range(replicates):
        res = estimate_kl(
            case.p,
            case.q,
            settings.samples,
            method=method,
            seed=case_seed(settings.seed, case.index, r),
            confidence=settings.confidence,
            randomizations=settings.randomizations,
        )
        floor = rounding_allowance(kl, res.estimate, full)
        est[r], se[r], skew[r] = res.estimate, res.stderr, res.skewness
        z[r] = res.z_score(kl, floor)
        p_values[r] = res.p_value(kl, floor)
        samples = res.samples
        exact = exact and res.stderr <= floor
    return {
        "estimate": est,
        "stderr": se,
        "skewness": skew,
        "p": p_values,
        "z": z,
        "samples": samples,
        "exact": exact,
        "seconds": time.perf_counter() - t0,
    }


def calibrate(
    spec: RunSpec,
    *,
    replicates: int,
    methods: Sequence[str] | None = None,
    workers: Workers = None,
    on_task: Callable[[Case, str], None] | None = None,
) -> Calibration:
    """Replicate every case of ``spec`` and measure coverage and false-alarm rates.

    Parameters
    ----------
    spec : RunSpec
        Cases, sample count, seed, confidence, ``alpha``, error control and
        randomisations (the run's settings).
    replicates : int
        Independent replicates per case and method (``>= 2``).
    methods : sequence of str, optional
        Estimators to calibrate; by default ``spec.method`` alone.
    workers : int or concurrent.futures.Executor, optional
        As for :func:`mcverify.engine.runner.run`; results do not depend on it.
    on_task : callable, optional
        Called with each finished (case, method), in order (progress).

    Returns
    -------
    Calibration
    """
    methods, tasks, settings = study_tasks(spec, replicates, methods or (spec.method,))
    checks = 2 * len(tasks) + len(methods)
    level = spec.alpha / checks
    work = partial(_replicates, settings=settings, replicates=replicates)
    cells: list[dict[str, Any]] = []
    p_by_method: dict[str, list[NDArray[np.float64]]] = {m: [] for m in methods}
    for (case, method, kl), out in zip(tasks, study_map(work, tasks, workers), strict=True):
        cells.append(_cell(case, method, kl, out, spec, replicates, level))
        p_by_method[method].append(out["p"])
        if on_task is not None:
            on_task(case, method)
    family = [_family(method, np.column_stack(p_by_method[method]), spec, level) for method in methods]
    return Calibration(cells, family, level, checks)


def _cell(
    case: Case, method: str, kl: float, out: dict[str, Any], spec: RunSpec, replicates: int, level: float
) -> dict[str, Any]:
    p, z, est, se = out["p"], out["z"], out["estimate"], out["stderr"]
    tail = 1.0 - spec.confidence
    missed = p <= tail  # the interval misses kl exactly when its test rejects at 1 - confidence
    covered = int(np.count_nonzero(~missed))
    alarms = int(np.count_nonzero(p <= spec.alpha))
    band = acceptance_band(spec.confidence, replicates, level)
    fa_band = acceptance_band(spec.alpha, replicates, level, sided="upper")
    err = est - kl
    rmse = root_mean_square(err)  # scaled: finite for a KL up to 1e300
    se_rms = root_mean_square(se)
    coverage = covered / replicates
    rate = alarms / replicates
    return {
        "index": case.index,
        "name": case.name,
        "dim": case.dim,
        "p_kind": case.p.kind,
        "q_kind": case.q.kind,
        "kl_closed": kl,
        "method": method,
        "samples": out["samples"],
        "replicates": replicates,
        "confidence": spec.confidence,
        "coverage": coverage,
        **dict(zip(("coverage_low", "coverage_high"), clopper_pearson(covered, replicates))),
        "coverage_band_low": band[0],
        "coverage_band_high": band[1],
        "coverage_ok": bool(band[0] <= coverage <= band[1] or (out["exact"] and coverage == 1.0)),
        "exact": out["exact"],
        "miss_below": float(np.count_nonzero(missed & (est > kl))) / replicates,
        "miss_above": float(np.count_nonzero(missed & (est < kl))) / replicates,
        "alpha": spec.alpha,
        "false_alarm_rate": rate,
        **dict(zip(("false_alarm_low", "false_alarm_high"), clopper_pearson(alarms, replicates))),
        "false_alarm_band_high": fa_band[1],
        "false_alarm_ok": bool(rate <= fa_band[1]),
        "z_mean": float(np.mean(z)),
        "z_std": float(np.std(z, ddof=1)),
        "rmse": rmse,
        "stderr_rms": se_rms,
        "error_ratio": rmse / se_rms if se_rms > 0 else (0.0 if rmse == 0 else math.inf),
        "skewness_mean": float(np.mean(out["skewness"])),
        "seconds": out["seconds"],
    }


def _family(method: str, p: NDArray[np.float64], spec: RunSpec, level: float) -> dict[str, Any]:
    """Family-wise false alarms: each replicate (a row of ``p``) is one run of all cases."""
    replicates, cases = p.shape
    alarms = sum(
        bool(np.any(adjust_p_values(row, spec.error_control) <= spec.alpha))  # type: ignore[arg-type]  # RunSpec.error_control: a str the loader checked against ERROR_CONTROLS
        for row in p
    )
    band = acceptance_band(spec.alpha, replicates, level, sided="upper")
    rate = alarms / replicates
    low, high = clopper_pearson(alarms, replicates)
    return {
        "method": method,
        "error_control": spec.error_control,
        "alpha": spec.alpha,
        "cases": cases,
        "replicates": replicates,
        "runs_with_false_alarm": alarms,
        "family_rate": rate,
        "family_low": low,
        "family_high": high,
        "family_band_high": band[1],
        "family_ok": bool(rate <= band[1]),
    }
