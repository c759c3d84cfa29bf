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
from numpy.lib.stride_tricks import as_strided
from scipy import stats

from mcverify.numerics.blas import one_blas_thread
from mcverify.numerics.gaussian import Gaussian
from mcverify.sampling.log_ratio import LogRatio, whitened_diagonal
from mcverify.sampling.moments import ExactSum, StreamingMoments, skewness_of
from mcverify.stats.intervals import confidence_interval, two_sided_p_value

_whitened_diagonal = whitened_diagonal  # the name other modules imported before log_ratio held it

__all__ = ["MonteCarloResult", "generator", "mean_result", "monte_carlo_kl", "monte_carlo_kl_reference"]

#: Numbers drawn per chunk for d > 1: 512 KiB buffers stay in the L2 cache.
CHUNK = 1 << 16
#: Univariate chunk: OpenBLAS computes dot products of up to 10,000
#: elements on one thread, so a chunk's sums never depend on the number of
#: BLAS threads (and never compete with other processes for cores); the
#: largest such chunk also makes a 10^4-sample case a single chunk.
UNIVARIATE_CHUNK = 10_000
#: Univariate runs up to this many draws keep their chunk sums in plain lists
#: (see :class:`~mcverify.sampling.moments.ExactSum`, which collapses its partials beyond 4096 of them).
_SHORT_RUN = UNIVARIATE_CHUNK * 4096

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
) -> MonteCarloResult:
    """A :class:`MonteCarloResult` for the mean of ``terms`` independent terms.

    ``var`` is their unbiased sample variance and ``skew`` their sample
    skewness; the interval comes from :func:`mcverify.stats.intervals.confidence_interval`,
    corrected for ``skew`` unless ``correct_skewness`` is False.
    """
    std = math.sqrt(max(var, 0.0))
    se = std / math.sqrt(terms)
    used = skew if correct_skewness else 0.0
    low, high = confidence_interval(mean, se, confidence, skewness=used, terms=terms, df=df)
    n = terms if samples is None else samples
    return MonteCarloResult(
        mean, se, low, high, int(n), confidence, std, skew, int(terms), df, method, correct_skewness
    )


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
        Level of the confidence interval (Hall's skewness-corrected normal
        interval, :mod:`mcverify.stats.intervals`).

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
    _check(p, q, samples, confidence)
    rng = generator(seed)
    if p.dim == 1 and p.is_diagonal and q.is_diagonal:
        mean, var, skew = _univariate(p, q, samples, rng)
    else:
        mean, var, skew = _chunked(LogRatio.of(p, q), samples, rng)
    return mean_result(mean, var, skew, samples, confidence)


def _univariate(p: Gaussian, q: Gaussian, n: int, rng: np.random.Generator) -> tuple[float, float, float]:
    (r,), (c,), (log_r,) = whitened_diagonal(p, q)
    return _univariate_moments(r, c, log_r, _power_sums(rng, n), n)


class PowerSumBuffers:
    """Scratch arrays of :func:`_power_sums`, reusable across calls.

    ``powers`` holds the rows ``1, z, z^2, z^3`` of a chunk; :meth:`views`
    gives, for a chunk of ``m`` draws, the row ``z`` to draw into and the
    operands of :func:`_chunk_sums`.
    """

    __slots__ = ("powers",)

    def __init__(self) -> None:
        self.powers = np.empty((4, UNIVARIATE_CHUNK))
        self.powers[0] = 1.0

    def views(self, m: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """``(z, powers, left, right)`` for a chunk of ``m`` draws.

        ``left[k] = z^(k+1)`` and ``right[k, j] = z^(k+j)``, ``k < 3``,
        ``j < 2``: the six dot products ``left[k] . right[k, j]`` are the
        sums of ``z^1 .. z^6`` in order.
        """
        p = self.powers[:, :m]
        row, col = p.strides
        left = p[1:4, None, :]
        right = as_strided(p, shape=(3, 2, m), strides=(row, row, col), writeable=False)
        return p[1], p, left, right


def _chunk_sums(powers: np.ndarray, left: np.ndarray, right: np.ndarray, out: np.ndarray) -> np.ndarray:
    """Sums of ``z, z^2, ..., z^6`` over one chunk, into ``out`` (shape (3, 2)).

    ``powers[1]`` holds the draws ``z`` (:meth:`PowerSumBuffers.views`).  Two
    products fill ``z^2`` and ``z^3``; one :func:`numpy.vecdot` call makes
    the six BLAS dot products (``ddot`` on each row: a chunk of at most
    10,000 draws is summed on one thread, whatever the BLAS thread count).
    """
    z = powers[1]
    np.multiply(z, z, out=powers[2])
    np.multiply(powers[2], z, out=powers[3])
    return np.vecdot(left, right, out=out)


def _power_sums(
    rng: np.random.Generator, n: int, buffers: PowerSumBuffers | None = None
) -> tuple[float, float, float, float, float, float]:
    """Exact sums of ``z, z^2, ..., z^6`` over ``n`` standard normals from ``rng``.

    Chunks of :data:`UNIVARIATE_CHUNK` draws, each summed by
    :func:`_chunk_sums`, the chunk sums added exactly (:func:`math.fsum`).
    The batched runner calls this too (and :func:`_chunk_sums` directly for
    one-chunk cases), so that a case's numbers are the same whichever path
    computes them.  The sums of ``z^5`` and ``z^6`` serve only the sample
    skewness.
    """
    b = PowerSumBuffers() if buffers is None else buffers
    out = np.empty((3, 2))
    full = b.views(UNIVARIATE_CHUNK)
    parts: list[list[float]] = []
    sums = [ExactSum() for _ in range(6)] if n > _SHORT_RUN else None
    for start in range(0, n, UNIVARIATE_CHUNK):
        m = min(UNIVARIATE_CHUNK, n - start)
        z, powers, left, right = full if m == UNIVARIATE_CHUNK else b.views(m)
        rng.standard_normal(out=z)
        chunk = _chunk_sums(powers, left, right, out).ravel().tolist()
        if sums is None:
            # Fewer than 4097 chunks: ExactSum never collapses its partial
            # sums, so plain lists summed by fsum at the end give the same bits.
            parts.append(chunk)
        else:
            for acc, value in zip(sums, chunk):
                acc.add(value)
    if sums is not None:
        return sums[0].value, sums[1].value, sums[2].value, sums[3].value, sums[4].value, sums[5].value
    fsum = math.fsum
    s0, s1, s2, s3, s4, s5 = zip(*parts)
    return fsum(s0), fsum(s1), fsum(s2), fsum(s3), fsum(s4), fsum(s5)


def _univariate_moments(r: Any, c: Any, log_r: Any, sums: Any, n: int) -> tuple[Any, Any, Any]:
    """Mean, sample variance and sample skewness of the log ratio from the power sums of ``z``.

    With ``x = m_p + s_p z``, ``r = s_p/s_q`` and ``c = (m_p - m_q)/s_q``, the
    log ratio is ``-log r + c^2/2 + (alpha z^2 + beta z)/2`` with
    ``alpha = r^2 - 1`` and ``beta = 2 r c``.  Only arithmetic and numpy
    ufuncs: the batched runner applies it to arrays of pairs and gets the
    same bits per pair.
    """
    alpha, beta = (r - 1.0) * (r + 1.0), 2.0 * r * c
    m1, m2, m3, m4, m5, m6 = (s / n for s in sums)
    mean = 0.5 * (alpha * m2 + beta * m1) + (0.5 * c * c - log_r)
    central = alpha * alpha * (m4 - m2 * m2) + 2.0 * alpha * beta * (m3 - m1 * m2)
    central += beta * beta * (m2 - m1 * m1)
    # Third central moment of y = a u + b v, u = z^2 - m2, v = z - m1 (sample moments).
    a, b = 0.5 * alpha, 0.5 * beta
    u3 = m6 - 3.0 * m2 * m4 + 2.0 * m2 * m2 * m2
    u2v = m5 - m1 * m4 - 2.0 * m2 * m3 + 2.0 * m1 * m2 * m2
    uv2 = m4 - 2.0 * m1 * m3 - m2 * m2 + 2.0 * m1 * m1 * m2
    v3 = m3 - 3.0 * m1 * m2 + 2.0 * m1 * m1 * m1
    third = a * a * a * u3 + 3.0 * a * a * b * u2v + 3.0 * a * b * b * uv2 + b * b * b * v3
    var_n = 0.25 * central
    return mean, var_n * n / (n - 1), skewness_of(var_n, third)


def _chunked(
    ratio: LogRatio, n: int, rng: np.random.Generator, *, even: bool = False, rows: int | None = None
) -> tuple[float, float, float]:
    """Mean, variance and skewness of the log ratio over n draws, one chunk at a time.

    With ``even`` the terms are the antithetic pair averages
    (:meth:`LogRatio.even`) of n draws instead; ``rows`` is the chunk size
    (default ``CHUNK // d``).
    """
    d = ratio.dim
    rows = rows or max(1, CHUNK // d)
    evaluate = ratio.even if even else ratio.evaluate
    z = np.empty((rows, d))
    scratch = np.empty((rows, d)) if ratio.diagonal else None
    y = np.empty(rows)
    acc = StreamingMoments(rows)
    done = 0
    with one_blas_thread():  # the chunk's matrix product adds in the same order whatever the threads
        while done < n:
            m = min(rows, n - done)
            zc, yc = z[:m], y[:m]
            rng.standard_normal(out=zc)
            evaluate(zc, yc, None if scratch is None else scratch[:m])
            acc.add(yc)
            done += m
    return acc.result(ratio.shift)


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
