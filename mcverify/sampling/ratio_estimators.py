r"""The k1, k2 and k3 estimators of KL(p || q) met in reinforcement learning code.

With :math:`r = q(x)/p(x)` and :math:`x \sim p` (Schulman 2020):

- :math:`k_1 = -\log r`: unbiased, the plain Monte Carlo term, can be negative;
- :math:`k_2 = \tfrac12 (\log r)^2`: always non-negative, low variance, but
  biased: :math:`E k_2 = \tfrac12(\mathrm{Var}\log r + \mathrm{KL}^2)`, which
  equals KL only to second order as q approaches p;
- :math:`k_3 = (r - 1) - \log r`: unbiased (:math:`E_p r = 1`) and always
  non-negative (:math:`\log r \le r - 1`), with lower variance than k1 when
  q is close to p, but its variance is infinite when
  :math:`E_p r^2 = \int q^2/p = \infty`.

Computed from the same draws as :func:`mcverify.monte_carlo_kl` with the same
seed, so ``k1`` equals its estimate up to rounding. Never uses the closed form.

References
----------
J. Schulman, "Approximating KL divergence", 2020,
http://joschu.net/blog/kl-approx.html
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.linalg import solve_triangular

from mcverify.numerics.gaussian import Gaussian
from mcverify.numerics.stable import scale_exponent
from mcverify.sampling.log_ratio import LogRatio
from mcverify.sampling.methods import ESTIMATORS
from mcverify.sampling.moments import StreamingMoments
from mcverify.sampling.monte_carlo import (
    CHUNK,
    MonteCarloResult,
    SeedLike,
    _check,
    generator,
    mean_result,
)
from mcverify.sampling.power_sums import UNIVARIATE_CHUNK

__all__ = ["ESTIMATORS", "RatioEstimates", "k3_variance_is_finite", "ratio_estimators"]


@dataclass(frozen=True)
class RatioEstimates:
    """The three estimators from one set of draws.

    Attributes
    ----------
    k1, k2, k3 : MonteCarloResult
        Sample means of :math:`-\\log r`, :math:`(\\log r)^2/2` and
        :math:`r - 1 - \\log r`, each with its standard error and
        skewness-corrected interval. ``k2``'s interval covers
        :math:`E k_2`, not KL.
    k3_finite_variance : bool
        Whether :math:`E_p r^2` is finite (:func:`k3_variance_is_finite`);
        when it is not, ``k3.stderr`` estimates an infinite quantity and its
        interval means nothing.
    """

    k1: MonteCarloResult
    k2: MonteCarloResult
    k3: MonteCarloResult
    k3_finite_variance: bool


def k3_variance_is_finite(p: Gaussian, q: Gaussian) -> bool:
    r"""Whether :math:`E_p[(q/p)^2]` is finite, i.e. k3 has finite variance.

    Notes
    -----
    :math:`q^2/p \propto \exp(-\tfrac12 x^\top(2\Sigma_q^{-1} - \Sigma_p^{-1})x + \dots)`
    is integrable iff :math:`2\Sigma_q^{-1} - \Sigma_p^{-1}` is positive
    definite. Whitening by q (:math:`M = L_q^{-1}L_p`) turns this into
    :math:`2I - (MM^\top)^{-1} \succ 0`: every singular value of ``M`` must
    exceed :math:`1/\sqrt2`. For diagonal pairs: every std ratio
    :math:`s_{p,i}/s_{q,i} > 1/\sqrt 2`.
    """
    if p.is_diagonal and q.is_diagonal:
        smallest = float(np.min(p.stddevs / q.stddevs))
    else:
        m = solve_triangular(q.cholesky, p.cholesky, lower=True)
        smallest = float(np.linalg.svd(m, compute_uv=False)[-1])
    return smallest * smallest > 0.5


def ratio_estimators(
    p: Gaussian,
    q: Gaussian,
    samples: int,
    seed: SeedLike = None,
    confidence: float = 0.95,
) -> RatioEstimates:
    """k1, k2 and k3 from the same ``samples`` draws ``x ~ p``.

    Parameters
    ----------
    p, q : Gaussian
        Distributions of the same dimension.
    samples : int
        Draws (``>= 2``); memory does not grow with it.
    seed : int, numpy.random.SeedSequence, numpy.random.Generator or None
        The same stream as :func:`mcverify.monte_carlo_kl` with this seed.
    confidence : float
        Level of the intervals.

    Returns
    -------
    RatioEstimates

    Notes
    -----
    The log ratio :math:`\\ell = \\log p(x) - \\log q(x) = -\\log r` is
    evaluated per draw (:mod:`mcverify.sampling.log_ratio`); :math:`k_3` is computed
    as ``expm1(-l) + l``. A draw with :math:`\\ell < -709` overflows ``r``
    and makes k3 infinite, which is reported as it is. The moments are
    accumulated scaled by a power of two (from ``LogRatio.magnitude`` and the
    constant, twice it for k2), so a KL beyond 1e100 keeps finite skewness sums; k2 itself is finite
    only while the squared log ratio is (a KL up to about 1e150).
    """
    _check(p, q, samples, confidence)
    ratio = LogRatio.of(p, q)
    rng = generator(seed)
    d = ratio.dim
    rows = UNIVARIATE_CHUNK if d == 1 else max(1, CHUNK // d)
    z = np.empty((rows, d))
    scratch = np.empty((rows, d)) if ratio.diagonal else None
    llr, k2, k3 = np.empty(rows), np.empty(rows), np.empty(rows)
    # The terms include the constant: scaled by the exponent of the larger of it and the varying part.
    e = int(scale_exponent(max(ratio.magnitude, abs(ratio.shift))))
    exponents = (e, 2 * e, e)  # k2 squares the log ratio
    acc = [StreamingMoments(rows, e) for e in exponents]
    done = 0
    with np.errstate(over="ignore", invalid="ignore"):
        while done < samples:
            m = min(rows, samples - done)
            zc, lc, k2c, k3c = z[:m], llr[:m], k2[:m], k3[:m]
            rng.standard_normal(out=zc)
            ratio.evaluate(zc, lc, None if scratch is None else scratch[:m])
            lc += ratio.shift
            np.multiply(lc, lc, out=k2c)
            k2c *= 0.5
            np.negative(lc, out=k3c)
            np.expm1(k3c, out=k3c)
            k3c += lc
            for a, values in zip(acc, (lc, k2c, k3c)):
                a.add(values)
            done += m
        res_k1, res_k2, res_k3 = [
            mean_result(*a.result(0.0), samples, confidence, exponent=e) for a, e in zip(acc, exponents)
        ]
    return RatioEstimates(res_k1, res_k2, res_k3, k3_finite_variance=k3_variance_is_finite(p, q))
