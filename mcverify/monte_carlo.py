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
from typing import Any

import numpy as np
from numpy.typing import NDArray
from scipy import stats
from scipy.linalg import solve_triangular
from scipy.linalg.blas import dtrmm
from scipy.special import ndtri

from .gaussian import Gaussian

__all__ = ["MonteCarloResult", "monte_carlo_kl", "monte_carlo_kl_reference"]

#: Numbers drawn per chunk for d > 1: 512 KiB buffers stay in the L2 cache.
CHUNK = 1 << 16
#: Univariate chunk: below OpenBLAS's 10,000-element threshold its dot
#: products stay single-threaded, which is faster here and never competes
#: with other processes for cores.
UNIVARIATE_CHUNK = 1 << 13
#: Univariate runs up to this many draws keep their chunk sums in plain lists
#: (see :class:`_Sum`, which collapses its partials beyond 4096 of them).
_SHORT_RUN = UNIVARIATE_CHUNK * 4096

SeedLike = int | np.random.SeedSequence | None


@dataclass(frozen=True)
class MonteCarloResult:
    """A Monte Carlo estimate with its uncertainty.

    Attributes
    ----------
    estimate : float
        Sample mean of ``log p(x) - log q(x)`` over ``x ~ p``.
    stderr : float
        Standard error of the mean: sample standard deviation / sqrt(samples).
    ci_low, ci_high : float
        Normal-theory confidence interval ``estimate -+ z * stderr``.
    samples : int
        Number of draws.
    confidence : float
        Confidence level of the interval.
    std : float
        Sample standard deviation of the log-likelihood ratio.
    """

    estimate: float
    stderr: float
    ci_low: float
    ci_high: float
    samples: int
    confidence: float
    std: float

    def z_score(self, value: float) -> float:
        """How many standard errors ``value`` lies from the estimate."""
        if self.stderr == 0.0:
            return 0.0 if value == self.estimate else math.copysign(math.inf, self.estimate - value)
        return (self.estimate - value) / self.stderr

    def as_dict(self) -> dict[str, Any]:
        """The fields as a plain dict."""
        return asdict(self)


def _generator(seed: SeedLike) -> np.random.Generator:
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


def _result(mean: float, var: float, n: int, confidence: float) -> MonteCarloResult:
    std = math.sqrt(max(var, 0.0))
    se = std / math.sqrt(n)
    half = float(ndtri(0.5 + confidence / 2.0)) * se
    return MonteCarloResult(mean, se, mean - half, mean + half, int(n), confidence, std)


class _Sum:
    """Compensated running sum (exact partials, as :func:`math.fsum`)."""

    __slots__ = ("_parts",)

    def __init__(self) -> None:
        self._parts: list[float] = []

    def add(self, x: float) -> None:
        self._parts.append(x)
        if len(self._parts) > 4096:
            self._parts = [math.fsum(self._parts)]

    @property
    def value(self) -> float:
        return math.fsum(self._parts)


def monte_carlo_kl(
    p: Gaussian,
    q: Gaussian,
    samples: int,
    seed: SeedLike = None,
    confidence: float = 0.95,
) -> MonteCarloResult:
    r"""Monte Carlo estimate of KL(p || q) with a standard error.

    Parameters
    ----------
    p, q : Gaussian
        Distributions of the same dimension.
    samples : int
        Number of draws from ``p`` (``>= 2``). Memory use does not grow with it.
    seed : int, numpy.random.SeedSequence, numpy.random.Generator or None
        Source of randomness; an int or SeedSequence seeds numpy's SFC64 generator
        (a small-state generator that passes BigCrush and PractRand).
        The same seed gives bit-identical results.
    confidence : float
        Level of the normal-theory confidence interval.

    Returns
    -------
    MonteCarloResult

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
    coordinate, so only the power sums :math:`\sum z^k, k \le 4` of each
    chunk are needed; the mean and the (exact) sample variance of the ratio
    follow from them without forming it. Sums across chunks are exact
    (:func:`math.fsum`), and within a chunk pairwise or BLAS sums.

    References
    ----------
    C. P. Robert and G. Casella, *Monte Carlo Statistical Methods*, 2nd ed.,
    Springer, 2004, ch. 3.
    """
    _check(p, q, samples, confidence)
    rng = _generator(seed)
    if p.is_diagonal and q.is_diagonal:
        if p.dim == 1:
            mean, var = _univariate(p, q, samples, rng)
        else:
            mean, var = _diagonal(p, q, samples, rng)
    else:
        mean, var = _full(p, q, samples, rng)
    return _result(mean, var, samples, confidence)


def _whitened_diagonal(p: Gaussian, q: Gaussian) -> tuple[NDArray[np.float64], ...]:
    """Per-coordinate ratio r = s_p / s_q, shift c = (m_p - m_q) / s_q, and log r."""
    sp, sq = p.stddevs, q.stddevs
    r = sp / sq
    c = p.mean / sq - q.mean / sq
    log_r = np.log(sp) - np.log(sq)
    return r, c, log_r


def _univariate(
    p: Gaussian, q: Gaussian, n: int, rng: np.random.Generator
) -> tuple[float, float]:
    (r,), (c,), (log_r,) = _whitened_diagonal(p, q)
    return _univariate_moments(r, c, log_r, _power_sums(rng, n), n)


class PowerSumBuffers:
    """Scratch arrays of :func:`_power_sums`, reusable across calls."""

    __slots__ = ("ones", "z", "z2")

    def __init__(self) -> None:
        self.z = np.empty(UNIVARIATE_CHUNK)
        self.z2 = np.empty(UNIVARIATE_CHUNK)
        self.ones = np.ones(UNIVARIATE_CHUNK)


def _power_sums(
    rng: np.random.Generator, n: int, buffers: PowerSumBuffers | None = None
) -> tuple[float, float, float, float]:
    """Exact sums of ``z, z^2, z^3, z^4`` over ``n`` standard normals from ``rng``.

    Chunks of :data:`UNIVARIATE_CHUNK` draws, each summed by BLAS dot
    products, the chunk sums added exactly (:func:`math.fsum`).  The batched
    runner calls this too, so that a case's numbers are the same whichever
    path computes them.
    """
    b = PowerSumBuffers() if buffers is None else buffers
    z, z2, ones = b.z, b.z2, b.ones
    if n <= _SHORT_RUN:
        # Fewer than 4097 chunks: _Sum never collapses its partial sums, so
        # plain lists summed by fsum at the end give the same bits, with
        # less Python per chunk (this is most of the cost of a 10^4-sample case).
        dot, normal, mul, fsum = np.dot, rng.standard_normal, np.multiply, math.fsum
        s0: list[float] = []
        s1: list[float] = []
        s2: list[float] = []
        s3: list[float] = []
        for start in range(0, n, UNIVARIATE_CHUNK):
            m = min(UNIVARIATE_CHUNK, n - start)
            zc, z2c = z[:m], z2[:m]
            normal(out=zc)
            mul(zc, zc, out=z2c)
            s0.append(float(dot(zc, ones[:m])))
            s1.append(float(dot(zc, zc)))
            s2.append(float(dot(z2c, zc)))
            s3.append(float(dot(z2c, z2c)))
        return fsum(s0), fsum(s1), fsum(s2), fsum(s3)
    sums = [_Sum() for _ in range(4)]
    done = 0
    while done < n:
        m = min(UNIVARIATE_CHUNK, n - done)
        zc, z2c = z[:m], z2[:m]
        rng.standard_normal(out=zc)
        np.multiply(zc, zc, out=z2c)
        sums[0].add(float(np.dot(zc, ones[:m])))
        sums[1].add(float(np.dot(zc, zc)))
        sums[2].add(float(np.dot(z2c, zc)))
        sums[3].add(float(np.dot(z2c, z2c)))
        done += m
    return sums[0].value, sums[1].value, sums[2].value, sums[3].value


def _univariate_moments(
    r: float, c: float, log_r: float, sums: tuple[float, float, float, float], n: int
) -> tuple[float, float]:
    """Mean and sample variance of the log ratio from the power sums of ``z``.

    With ``x = m_p + s_p z``, ``r = s_p/s_q`` and ``c = (m_p - m_q)/s_q``, the
    log ratio is ``-log r + c^2/2 + (alpha z^2 + beta z)/2`` with
    ``alpha = r^2 - 1`` and ``beta = 2 r c``.
    """
    alpha, beta = (r - 1.0) * (r + 1.0), 2.0 * r * c
    m1, m2, m3, m4 = (s / n for s in sums)
    mean = 0.5 * (alpha * m2 + beta * m1) + (0.5 * c * c - log_r)
    central = alpha * alpha * (m4 - m2 * m2) + 2.0 * alpha * beta * (m3 - m1 * m2)
    central += beta * beta * (m2 - m1 * m1)
    return mean, 0.25 * central * n / (n - 1)


class _Moments:
    """Mean and sum of squared deviations, merged chunk by chunk (Chan et al.)."""

    def __init__(self) -> None:
        self.n = 0
        self.mean = 0.0
        self.m2 = _Sum()

    def add(self, y: NDArray[np.float64]) -> None:
        k = y.shape[0]
        mean_k = float(np.sum(y)) / k
        y -= mean_k
        m2_k = float(np.dot(y, y))
        delta = mean_k - self.mean
        total = self.n + k
        self.m2.add(m2_k)
        self.m2.add(delta * delta * self.n * k / total)
        self.mean += delta * k / total
        self.n = total

    def result(self, shift: float) -> tuple[float, float]:
        return self.mean + shift, self.m2.value / (self.n - 1)


def _diagonal(p: Gaussian, q: Gaussian, n: int, rng: np.random.Generator) -> tuple[float, float]:
    r, c, log_r = _whitened_diagonal(p, q)
    alpha, beta = (r - 1.0) * (r + 1.0), 2.0 * r * c
    shift = math.fsum((0.5 * c * c - log_r).tolist())
    rows = max(1, CHUNK // p.dim)
    z = np.empty((rows, p.dim))
    z2 = np.empty((rows, p.dim))
    y = np.empty(rows)
    acc = _Moments()
    done = 0
    while done < n:
        m = min(rows, n - done)
        zc, z2c, yc = z[:m], z2[:m], y[:m]
        rng.standard_normal(out=zc)
        np.multiply(zc, zc, out=z2c)
        np.dot(z2c, 0.5 * alpha, out=yc)
        yc += zc @ (0.5 * beta)
        acc.add(yc)
        done += m
    return acc.result(shift)


def _full(p: Gaussian, q: Gaussian, n: int, rng: np.random.Generator) -> tuple[float, float]:
    lp, lq = p.cholesky, q.cholesky
    mt = np.asfortranarray(solve_triangular(lq, lp, lower=True))
    b = solve_triangular(lq, p.mean - q.mean, lower=True)
    shift = math.fsum((-np.log(np.diag(lp)) + np.log(np.diag(lq))).tolist()) + 0.5 * float(b @ b)
    d = p.dim
    rows = max(1, CHUNK // d)
    z = np.empty((rows, d))
    y = np.empty(rows)
    acc = _Moments()
    done = 0
    while done < n:
        m = min(rows, n - done)
        zc, yc = z[:m], y[:m]
        rng.standard_normal(out=zc)
        np.einsum("ij,ij->i", zc, zc, out=yc)
        # w = M z for every row, in place: (M @ Z^T) on the Fortran view of Z.
        wt = dtrmm(1.0, mt, zc.T, lower=1, overwrite_b=1)
        yc *= -0.5
        yc += 0.5 * np.einsum("ji,ji->i", wt, wt)
        yc += b @ wt
        acc.add(yc)
        done += m
    return acc.result(shift)


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
    ``multivariate_normal`` otherwise), all in memory at once.
    """
    _check(p, q, samples, confidence)
    rng = _generator(seed)
    if p.dim == 1:
        x = p.mean[0] + p.stddevs[0] * rng.standard_normal(samples)
        llr = stats.norm.logpdf(x, p.mean[0], p.stddevs[0]) - stats.norm.logpdf(
            x, q.mean[0], q.stddevs[0]
        )
    else:
        z = rng.standard_normal((samples, p.dim))
        x = p.mean + z @ p.cholesky.T
        llr = stats.multivariate_normal.logpdf(
            x, p.mean, p.covariance
        ) - stats.multivariate_normal.logpdf(x, q.mean, q.covariance)
    return _result(float(np.mean(llr)), float(np.var(llr, ddof=1)), samples, confidence)
