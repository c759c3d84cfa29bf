"""Monte Carlo estimate of KL(p || q): the mean log-likelihood ratio under p.

The estimator never uses the closed-form algebra: it draws ``x ~ p`` and
averages ``log p(x) - log q(x)``.  The fast path streams fixed-size chunks
through preallocated buffers (memory stays flat at any sample count) and
evaluates the log ratio in coordinates whitened by q; a slow path evaluates
both log-densities directly with :mod:`scipy.stats` and serves as its oracle.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any, overload

import numpy as np
from numpy.typing import NDArray

from mcverify.numerics.blas import one_blas_thread
from mcverify.numerics.gaussian import Gaussian
from mcverify.numerics.gaussian_batch import GaussianBatch, as_batches
from mcverify.numerics.univariate_pairs import UnivariatePairs
from mcverify.sampling.log_ratio import LogRatio, whitened_diagonal
from mcverify.sampling.moments import StreamingMoments
from mcverify.sampling.power_sums import (
    _power_sums,
    _univariate_moments,
)
from mcverify.sampling.seeding import case_seeds
from mcverify.sampling.univariate_batch import monte_carlo as _univariate_batch
from mcverify.stats.intervals import confidence_interval, two_sided_p_value

_whitened_diagonal = whitened_diagonal  # the name other modules imported before log_ratio held it

__all__ = [
    "MonteCarloBatchResult",
    "MonteCarloResult",
    "generator",
    "mean_result",
    "monte_carlo_kl",
    "monte_carlo_kl_reference",
]

#: Numbers drawn per chunk for d > 1: 512 KiB buffers stay in the L2 cache.
CHUNK = 1 << 16
SeedLike = int | np.random.SeedSequence | None


@dataclass(frozen=True)
class MonteCarloResult:
    """A Monte Carlo estimate with its uncertainty.

    Attributes
    ----------
    estimate : float
        The estimate of KL(p || q): for plain Monte Carlo the sample mean of
        ``log p(x) - log q(x)`` over ``x ~ p``.
    stderr : float
        Standard error of the estimate: ``std / sqrt(terms)``.
    ci_low, ci_high : float
        Confidence interval: Hall's skewness-corrected interval when ``df`` is
        infinite, Student's t with ``df`` degrees of freedom otherwise (see
        :mod:`mcverify.stats.intervals`).
    samples : int
        Number of evaluations of the log-likelihood ratio.
    confidence : float
        Confidence level of the interval.
    std : float
        Sample standard deviation of the averaged terms (for plain Monte
        Carlo, of the log-likelihood ratio).
    skewness : float
        Sample skewness of the averaged terms.
    terms : int
        Number of independent terms averaged: ``samples`` for plain Monte
        Carlo, pairs for antithetic sampling, randomisations for
        randomised quasi-Monte Carlo. 0 means ``samples``.
    df : float
        Degrees of freedom of the interval and test: ``inf`` (normal theory
        with the skewness correction) or ``terms - 1`` (Student's t).
    method : str
        ``"mc"``, ``"antithetic"`` or ``"qmc"``.
    skewness_corrected : bool
        Whether the interval and the test correct for ``skewness`` (Hall's
        transformation); False for randomised QMC, whose skewness estimated
        from R randomisation means is too noisy to correct with
        (:func:`mcverify.sampling.qmc.qmc_kl`).
    """

    estimate: float
    stderr: float
    ci_low: float
    ci_high: float
    samples: int
    confidence: float
    std: float
    skewness: float = 0.0
    terms: int = 0
    df: float = math.inf
    method: str = "mc"
    skewness_corrected: bool = True

    def z_score(self, value: float, floor: float = 0.0) -> float:
        """How many standard errors ``value`` lies from the estimate.

        ``floor`` is a smallest standard error to divide by (a rounding
        allowance): ``(estimate - value) / max(stderr, floor)``.
        """
        se = max(self.stderr, floor)
        if se == 0.0:
            return 0.0 if value == self.estimate else math.copysign(math.inf, self.estimate - value)
        return (self.estimate - value) / se

    def p_value(self, value: float, floor: float = 0.0) -> float:
        """Two-sided p-value of the hypothesis that the true value is ``value``.

        Uses the statistic of :meth:`z_score`, corrected for skewness (or
        referred to Student's t when ``df`` is finite) as in
        :func:`mcverify.stats.intervals.two_sided_p_value`; it rejects at level
        ``1 - confidence`` exactly when ``value`` is outside the interval
        (for ``floor = 0``).
        """
        skew = self.skewness if self.skewness_corrected else 0.0
        return two_sided_p_value(
            self.z_score(value, floor), skewness=skew, terms=self.terms or self.samples, df=self.df
        )

    def as_dict(self) -> dict[str, Any]:
        """The fields as a plain dict."""
        return asdict(self)


@dataclass(frozen=True)
class MonteCarloBatchResult:
    """Monte Carlo estimates of many pairs: the fields of :class:`MonteCarloResult` as arrays.

    Entry ``i`` (``result[i]``, a :class:`MonteCarloResult`) is bit-identical
    to ``monte_carlo_kl(p[i], q[i], samples, seed=int(seeds[i]), confidence=confidence)``.

    Attributes
    ----------
    estimate, stderr, ci_low, ci_high, std, skewness : numpy.ndarray
        One entry per pair, as in :class:`MonteCarloResult`.
    samples : int
    confidence : float
    seeds : numpy.ndarray of uint64
        Each pair's seed.
    """

    estimate: NDArray[np.float64]
    stderr: NDArray[np.float64]
    ci_low: NDArray[np.float64]
    ci_high: NDArray[np.float64]
    std: NDArray[np.float64]
    skewness: NDArray[np.float64]
    samples: int
    confidence: float
    seeds: NDArray[np.uint64]

    def __len__(self) -> int:
        return int(self.estimate.shape[0])

    def __getitem__(self, i: int) -> MonteCarloResult:
        """Pair ``i`` as a :class:`MonteCarloResult`."""
        return MonteCarloResult(
            float(self.estimate[i]),
            float(self.stderr[i]),
            float(self.ci_low[i]),
            float(self.ci_high[i]),
            self.samples,
            self.confidence,
            float(self.std[i]),
            float(self.skewness[i]),
            self.samples,
        )


def generator(seed: SeedLike) -> np.random.Generator:
    if isinstance(seed, np.random.Generator):
        return seed
    ss = seed if isinstance(seed, np.random.SeedSequence) else np.random.SeedSequence(seed)
    return np.random.Generator(np.random.SFC64(ss))


def _check(p: Gaussian, q: Gaussian, samples: int, confidence: float) -> None:
    if p.dim != q.dim:
        raise ValueError(f"p has dimension {p.dim} but q has dimension {q.dim}: they must match")
    if isinstance(samples, bool) or not isinstance(samples, (int, np.integer)) or samples < 2:
        raise ValueError(f"samples must be an integer >= 2, got {samples!r}")
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be in (0, 1), got {confidence!r}")


def mean_result(
    mean: float,
    var: float,
    skew: float,
    terms: int,
    confidence: float,
    *,
    samples: int | None = None,
    df: float = math.inf,
    method: str = "mc",
    correct_skewness: bool = True,
    exponent: int = 0,
) -> MonteCarloResult:
    """A :class:`MonteCarloResult` for the mean of ``terms`` independent terms.

    ``var`` is their unbiased sample variance times ``4**-exponent`` (the
    variance of terms scaled by ``2**-exponent``, which stays finite when the
    variance itself would not: the standard deviation is its square root
    times ``2**exponent``, exactly) and ``skew`` their sample skewness; the
    interval comes from :func:`mcverify.stats.intervals.confidence_interval`,
    corrected for ``skew`` unless ``correct_skewness`` is False.
    """
    std = math.ldexp(math.sqrt(max(var, 0.0)), exponent)
    se = std / math.sqrt(terms)
    used = skew if correct_skewness else 0.0
    low, high = confidence_interval(mean, se, confidence, skewness=used, terms=terms, df=df)
    n = terms if samples is None else samples
    return MonteCarloResult(
        mean, se, low, high, int(n), confidence, std, skew, int(terms), df, method, correct_skewness
    )


@overload
def monte_carlo_kl(
    p: Gaussian, q: Gaussian, samples: int, seed: SeedLike = None, confidence: float = 0.95
) -> MonteCarloResult: ...
@overload
def monte_carlo_kl(
    p: GaussianBatch, q: Gaussian | GaussianBatch, samples: int, seed: Any = None, confidence: float = 0.95
) -> MonteCarloBatchResult: ...
@overload
def monte_carlo_kl(
    p: Gaussian, q: GaussianBatch, samples: int, seed: Any = None, confidence: float = 0.95
) -> MonteCarloBatchResult: ...
def monte_carlo_kl(
    p: Gaussian | GaussianBatch,
    q: Gaussian | GaussianBatch,
    samples: int,
    seed: Any = None,
    confidence: float = 0.95,
) -> MonteCarloResult | MonteCarloBatchResult:
    r"""Monte Carlo estimate of KL(p || q) with a standard error, for one pair or a batch.

    Parameters
    ----------
    p, q : Gaussian or GaussianBatch
        Distributions of the same dimension.  With a
        :class:`~mcverify.GaussianBatch` on either side every pair is
        estimated (a single Gaussian is paired with every entry), each from
        its own stream.
    samples : int
        Number of draws from ``p`` (``>= 2``). Memory use does not grow with it.
    seed : int, numpy.random.SeedSequence, numpy.random.Generator or None
        Source of randomness; an int or SeedSequence seeds numpy's SFC64 generator
        (a small-state generator that passes BigCrush and PractRand).
        The same seed gives bit-identical results.  For batches: a root
        seed (int, or None for fresh entropy), pair ``i`` drawing from
        ``case_seed(seed, i)`` as case ``i`` of a sweep does
        (:func:`mcverify.sampling.seeding.case_seed`), or an array of one
        seed per pair.
    confidence : float
        Level of the confidence interval (Hall's skewness-corrected normal
        interval, :mod:`mcverify.stats.intervals`).

    Returns
    -------
    MonteCarloResult or MonteCarloBatchResult
        For batches, entry ``i`` is bit-identical to
        ``monte_carlo_kl(p[i], q[i], samples, seed=int(result.seeds[i]))``.

    Notes
    -----
    With :math:`x = \mu_p + L_p z`, :math:`z \sim N(0, I)`, the log ratio in
    coordinates whitened by q is

    .. math::

        \log\frac{p(x)}{q(x)} = -\sum_i \log M_{ii}
            + \tfrac12\left(\|M z + b\|^2 - \|z\|^2\right),
        \quad M = L_q^{-1} L_p,\ b = L_q^{-1}(\mu_p - \mu_q),

    evaluated per sample; the estimate is its sample mean. For d > 1 each
    chunk costs one triangular matrix product. For univariate and diagonal
    pairs the ratio is a quadratic :math:`\alpha z^2 + \beta z` per
    coordinate, so only the power sums :math:`\sum z^k, k \le 6` of each
    chunk are needed; the mean, the (exact) sample variance and the sample
    skewness of the ratio follow from them without forming it. Sums across
    chunks are exact (:func:`math.fsum`), and within a chunk pairwise or
    BLAS sums.

    References
    ----------
    C. P. Robert and G. Casella, *Monte Carlo Statistical Methods*, 2nd ed.,
    Springer, 2004, ch. 3.
    """
    if isinstance(p, GaussianBatch) or isinstance(q, GaussianBatch):
        pb, qb = as_batches(p, q)
        _check(pb[0], qb[0], samples, confidence)
        return _batches(pb, qb, samples, _pair_seeds(seed, len(pb)), confidence)
    _check(p, q, samples, confidence)
    rng = generator(seed)
    if p.dim == 1 and p.is_diagonal and q.is_diagonal:
        mean, var, skew, k = _univariate(p, q, samples, rng)
    else:
        mean, var, skew, k = _chunked(LogRatio.of(p, q), samples, rng)
    return mean_result(mean, var, skew, samples, confidence, exponent=k)


def _pair_seeds(seed: Any, n: int) -> NDArray[np.uint64]:
    """One 63-bit seed per pair: ``case_seed(root, i)`` of a root, or the given array."""
    if seed is None:
        seed = np.random.SeedSequence().entropy
    if isinstance(seed, (int, np.integer)) and not isinstance(seed, bool):
        return case_seeds(int(seed), np.arange(n))
    arr = np.asarray(seed)
    if arr.shape != (n,) or arr.dtype.kind not in "iu" or np.any(arr < 0):
        raise ValueError(
            f"seed for a batch must be an int >= 0, None or an array of {n} non-negative integers, got {seed!r}"
        )
    return arr.astype(np.uint64)


def _batches(
    p: GaussianBatch, q: GaussianBatch, samples: int, seeds: NDArray[np.uint64], confidence: float
) -> MonteCarloBatchResult:
    n = len(p)
    if p.dim == 1 and p.is_diagonal and q.is_diagonal:
        pairs = UnivariatePairs(
            p.mean.reshape(n),
            p.scale.reshape(n),
            np.full(n, p.var is not None),
            q.mean.reshape(n),
            q.scale.reshape(n),
            np.full(n, q.var is not None),
        )
        cols = _univariate_batch(pairs, samples, seeds, confidence)
        est, se, low, high, std, skew = cols.estimate, cols.stderr, cols.ci_low, cols.ci_high, cols.std, cols.skewness
    else:
        each = [monte_carlo_kl(p[i], q[i], samples, seed=int(seeds[i]), confidence=confidence) for i in range(n)]
        est, se, low, high, std, skew = (
            np.array([getattr(r, f) for r in each], dtype=np.float64)
            for f in ("estimate", "stderr", "ci_low", "ci_high", "std", "skewness")
        )
    return MonteCarloBatchResult(est, se, low, high, std, skew, int(samples), confidence, seeds)


def _univariate(p: Gaussian, q: Gaussian, n: int, rng: np.random.Generator) -> tuple[float, float, float, int]:
    (r,), (c,), (log_r,) = whitened_diagonal(p, q)
    mean, var, skew, k = _univariate_moments(r, c, log_r, _power_sums(rng, n), n)
    return mean, var, skew, int(k)


def _chunked(
    ratio: LogRatio, n: int, rng: np.random.Generator, *, even: bool = False, rows: int | None = None
) -> tuple[float, float, float, int]:
    """Mean, variance, skewness and exponent of the log ratio over n draws, one chunk at a time.

    With ``even`` the terms are the antithetic pair averages
    (:meth:`LogRatio.even`) of n draws instead; ``rows`` is the chunk size
    (default ``CHUNK // d``). The terms are accumulated times ``2**-k``,
    ``k = ratio.exponent`` (``ratio.even_exponent`` with ``even``;
    :class:`~mcverify.sampling.moments.StreamingMoments`): the variance
    returned is scaled by ``4**-k``, as :func:`mean_result` takes it.
    """
    d = ratio.dim
    rows = rows or max(1, CHUNK // d)
    evaluate = ratio.even if even else ratio.evaluate
    z = np.empty((rows, d))
    scratch = np.empty((rows, d)) if ratio.diagonal else None
    y = np.empty(rows)
    k = ratio.even_exponent if even else ratio.exponent
    acc = StreamingMoments(rows, k)
    done = 0
    with one_blas_thread():  # the chunk's matrix product adds in the same order whatever the threads
        while done < n:
            m = min(rows, n - done)
            zc, yc = z[:m], y[:m]
            rng.standard_normal(out=zc)
            evaluate(zc, yc, None if scratch is None else scratch[:m])
            acc.add(yc)
            done += m
    return (*acc.result(ratio.shift), k)


def monte_carlo_kl_reference(
    p: Gaussian,
    q: Gaussian,
    samples: int,
    seed: SeedLike = None,
    confidence: float = 0.95,
) -> MonteCarloResult:
    """Slow, direct Monte Carlo: the oracle for :func:`monte_carlo_kl`.

    Draws the same standard normals as the fast path from the same seed,
    maps them to ``x = mean_p + L_p z`` and evaluates ``log p(x)`` and
    ``log q(x)`` with :mod:`scipy.stats` (``norm`` for d = 1,
    ``multivariate_normal`` otherwise), all in memory at once; the skewness
    comes from :func:`scipy.stats.skew`.
    """
    from scipy import stats  # slow to import (0.5 s), and only this oracle needs it

    _check(p, q, samples, confidence)
    rng = generator(seed)
    if p.dim == 1:
        x = p.mean[0] + p.stddevs[0] * rng.standard_normal(samples)
        llr = stats.norm.logpdf(x, p.mean[0], p.stddevs[0]) - stats.norm.logpdf(x, q.mean[0], q.stddevs[0])
    else:
        z = rng.standard_normal((samples, p.dim))
        x = p.mean + z @ p.cholesky.T
        llr = stats.multivariate_normal.logpdf(x, p.mean, p.covariance) - stats.multivariate_normal.logpdf(
            x, q.mean, q.covariance
        )
    skew = float(stats.skew(llr, bias=True)) if np.ptp(llr) > 0 else 0.0
    return mean_result(float(np.mean(llr)), float(np.var(llr, ddof=1)), skew, samples, confidence)
