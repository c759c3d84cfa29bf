r"""Randomised quasi-Monte Carlo estimate of KL(p || q) with scrambled Sobol points.

The integrand is the log-likelihood ratio of :mod:`mcverify.sampling.log_ratio` at
``z = Phi^{-1}(u)``, ``u`` running over a scrambled Sobol sequence
(:class:`scipy.stats.qmc.Sobol`). Never uses the closed-form KL algebra.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from scipy.special import ndtri

from mcverify.numerics.gaussian import Gaussian
from mcverify.sampling.log_ratio import LogRatio
from mcverify.sampling.methods import DEFAULT_RANDOMIZATIONS
from mcverify.sampling.moments import ExactSum, skewness
from mcverify.sampling.monte_carlo import CHUNK, MonteCarloResult, SeedLike, mean_result

__all__ = ["DEFAULT_RANDOMIZATIONS", "points_per_randomization", "qmc_kl"]

#: Bits of the scrambled Sobol points: 53, the precision of a double, so
#: every point k * 2**-53 is exact and below 1 (the inverse normal CDF then
#: resolves |z| up to 8.1). Scrambling costs O(d * bits**3); 64 bits would
#: cost 1.8 times more for digits a double cannot hold.
SOBOL_BITS = 53
#: A coordinate is exactly 0 with probability 2**-53; it is moved to the
#: middle of its cell, 2**-54, so that no point maps to z = -inf.
_U_MIN = 2.0**-54


def points_per_randomization(samples: int, randomizations: int) -> int:
    """Sobol points in each randomisation: the power of two nearest ``samples / randomizations``.

    "Nearest" is on a log scale (``2**round(log2(samples / R))``, at least 2),
    so the total ``R * 2**k`` is within a factor sqrt(2) of ``samples``.
    Scrambled Sobol points keep their balance properties only in blocks of
    ``2**k`` points.
    """
    k = max(1, round(math.log2(samples / randomizations)))
    return 1 << k


def _seed_sequence(seed: SeedLike | np.random.Generator) -> np.random.SeedSequence:
    if isinstance(seed, np.random.SeedSequence):
        return seed
    if isinstance(seed, np.random.Generator):
        return np.random.SeedSequence(seed.integers(0, 2**63, size=4).tolist())
    return np.random.SeedSequence(seed)


def _sobol(d: int, rng: np.random.Generator) -> Any:
    """A scrambled Sobol engine; scipy >= 1.15 names its generator ``rng``, older ones ``seed``."""
    from scipy.stats import qmc  # 0.5 s to import: only when a QMC run asks for it

    try:
        return qmc.Sobol(d, scramble=True, bits=SOBOL_BITS, rng=rng)
    except TypeError:  # pragma: no cover - scipy < 1.15
        return qmc.Sobol(d, scramble=True, bits=SOBOL_BITS, seed=rng)


def qmc_kl(
    p: Gaussian,
    q: Gaussian,
    samples: int,
    seed: SeedLike = None,
    confidence: float = 0.95,
    randomizations: int = DEFAULT_RANDOMIZATIONS,
) -> MonteCarloResult:
    r"""Randomised quasi-Monte Carlo estimate of KL(p || q) with a standard error.

    Parameters
    ----------
    p, q : Gaussian
        Distributions of the same dimension (``d <= 21201``, Sobol's limit).
    samples : int
        Requested evaluations of the log ratio. They are split into
        ``randomizations`` independent scramblings of ``2**k`` Sobol points
        each, ``2**k`` the power of two nearest ``samples / randomizations``
        (:func:`points_per_randomization`); ``MonteCarloResult.samples`` is
        the number actually used.
    seed : int, numpy.random.SeedSequence, numpy.random.Generator or None
        Randomisation ``i`` scrambles with an SFC64 generator seeded by the
        ``i``-th child of ``SeedSequence(seed)``; the same seed gives
        bit-identical results.
    confidence : float
        Level of the interval (skewness-corrected Student t over the R means).
    randomizations : int
        Number ``R >= 2`` of independent scramblings (64 by default).

    Returns
    -------
    MonteCarloResult
        ``estimate`` is the mean of the R randomisation means, ``std`` and
        ``skewness`` are their sample standard deviation and skewness,
        ``stderr = std / sqrt(R)``, ``terms = R`` and ``df = R - 1``; the
        interval and test are Student's t over the R means, without the
        skewness correction plain Monte Carlo uses (``skewness_corrected``
        is False; see Notes).

    Notes
    -----
    Each scrambled point (Matoušek's linear matrix scramble plus a digital
    shift, scipy's default) is uniform on the unit cube, so each
    randomisation mean :math:`\hat\mu_i = 2^{-k}\sum_j \ell(\Phi^{-1}(u_{ij}))`
    is unbiased and the ``R`` means are independent: their spread gives an
    honest standard error, and Student's t with ``R - 1`` degrees of freedom
    an interval (exact if the means were normal; a central limit theorem
    for scrambled nets, Loh 2003, holds only as the number of points grows).
    The means stay skewed and heavy-tailed, because the extreme Sobol strata
    map to the unbounded normal tails, but their skewness estimated from 64
    of them is too noisy to correct with: Hall's correction with that
    estimate made the 95% interval cover 0.9325 of 2,000 replicates of a
    pure mean shift (a symmetric case, where the noise is all it adds),
    against 0.9445 for plain t, and changed nothing on the most skewed case
    (std ratio 10: 0.9500 and 0.9505). For the smooth
    integrands here the error of each mean falls close to :math:`N^{-1}`
    rather than Monte Carlo's :math:`N^{-1/2}` (``mcverify converge``
    measures the rate). ``d = 1`` uses the one-dimensional Sobol sequence.

    References
    ----------
    A. B. Owen, "Scrambled net variance for integrals of smooth functions",
    *Annals of Statistics* 25 (1997) 1541-1562.
    J. Matoušek, "On the L2-discrepancy for anchored boxes", *Journal of
    Complexity* 14 (1998) 527-556.
    W.-L. Loh, "On the asymptotic distribution of scrambled net
    quadrature", *Annals of Statistics* 31 (2003) 1282-1324.
    P. L'Ecuyer and C. Lemieux, "Recent advances in randomized quasi-Monte
    Carlo methods", in *Modeling Uncertainty*, Springer, 2002.
    """
    if p.dim != q.dim:
        raise ValueError(f"p has dimension {p.dim} but q has dimension {q.dim}: they must match")
    if isinstance(randomizations, bool) or not isinstance(randomizations, (int, np.integer)) or randomizations < 2:
        raise ValueError(f"randomizations must be an integer >= 2, got {randomizations!r}")
    if isinstance(samples, bool) or not isinstance(samples, (int, np.integer)) or samples < 2 * randomizations:
        raise ValueError(f"samples must be an integer >= 2 * randomizations = {2 * randomizations}, got {samples!r}")
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be in (0, 1), got {confidence!r}")
    ratio = LogRatio.of(p, q)
    d = ratio.dim
    m = points_per_randomization(int(samples), int(randomizations))
    rows = min(m, 1 << int(math.log2(max(1, CHUNK // d))))
    y = np.empty(rows)
    scratch = np.empty((rows, d)) if ratio.diagonal else None
    k = ratio.exponent  # the terms are summed times 2**-k (exact; 0 for a KL up to 1e100)
    shift = math.ldexp(ratio.shift, -k)
    means = []
    for child in _seed_sequence(seed).spawn(int(randomizations)):
        sobol = _sobol(d, np.random.Generator(np.random.SFC64(child)))
        total = ExactSum()
        for _ in range(m // rows):
            u = sobol.random(rows)
            np.maximum(u, _U_MIN, out=u)
            z = ndtri(u, out=u)
            ratio.evaluate(z, y, scratch)
            if k:
                np.ldexp(y, -k, out=y)
            total.add(float(np.sum(y)))
        means.append(shift + total.value / m)
    r = len(means)
    values = np.array(means)
    mean = math.fsum(means) / r
    dev = values - mean
    m2 = float(dev @ dev)
    skew = skewness(m2, float(dev**3 @ np.ones(r)), r)
    return mean_result(
        math.ldexp(mean, k),
        m2 / (r - 1),
        skew,
        r,
        confidence,
        samples=r * m,
        df=r - 1,
        method="qmc",
        correct_skewness=False,
        exponent=k,
    )
