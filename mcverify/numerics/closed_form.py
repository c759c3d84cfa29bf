"""Exact Kullback-Leibler divergence between two Gaussians, in stable algebra."""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import NDArray
from scipy.linalg import solve_triangular

from mcverify.numerics.cholesky import refined_cholesky
from mcverify.numerics.gaussian import Gaussian
from mcverify.numerics.stable import expm1_minus, log1p_ratio_of, two_square

__all__ = ["kl_divergence"]


def kl_divergence(p: Gaussian, q: Gaussian) -> float:
    r"""Closed-form KL(p || q) between two Gaussians.

    Parameters
    ----------
    p, q : Gaussian
        Distributions of the same dimension; any mix of univariate, diagonal
        and full covariance.

    Returns
    -------
    float
        The divergence in nats, ``>= 0``; ``0.0`` exactly when ``p == q``.

    Raises
    ------
    ValueError
        If the dimensions differ.

    Notes
    -----
    The divergence is

    .. math::

        KL(p \| q) = \tfrac12 \left[ \operatorname{tr}(\Sigma_q^{-1}\Sigma_p)
            + \delta^T \Sigma_q^{-1} \delta - d
            + \log\det\Sigma_q - \log\det\Sigma_p \right],
        \qquad \delta = \mu_p - \mu_q .

    It is evaluated as a sum of non-negative terms so that no digit is lost
    to cancellation. With Cholesky factors :math:`L_p, L_q` and
    :math:`M = L_q^{-1} L_p` (lower triangular, :math:`M_{ii} = L_{p,ii} /
    L_{q,ii}`), :math:`b = L_q^{-1}\delta` and :math:`a_i = \log M_{ii}^2`,

    .. math::

        KL = \tfrac12 \sum_i (e^{a_i} - 1 - a_i)
           + \tfrac12 \sum_{i > j} M_{ij}^2 + \tfrac12 \|b\|^2 .

    :math:`e^a - 1 - a` is summed as a Taylor series for small :math:`|a|`,
    and :math:`a` itself comes from ``log1p`` of an exactly computed variance
    difference, so pairs with standard deviation ratio ``1 + 1e-12`` keep
    full relative accuracy where the textbook formula returns 0. Univariate
    and diagonal pairs never form a matrix and use the parameters exactly as
    given (standard deviations or variances, squared in double-double
    arithmetic). Both distributions are first rescaled by a common power of
    two, which is exact, so scales near 1e-150 or 1e150 neither underflow nor
    overflow. The non-negative terms are added with :func:`math.fsum`.

    References
    ----------
    S. Kullback, *Information Theory and Statistics*, Wiley, 1959, ch. 9.

    Examples
    --------
    >>> kl_divergence(Gaussian(0.0, std=2.0), Gaussian(0.0, std=1.0))  # doctest: +ELLIPSIS
    0.8068528194400...
    """
    if p.dim != q.dim:
        raise ValueError(f"p has dimension {p.dim} but q has dimension {q.dim}: they must match")
    if p.is_diagonal and q.is_diagonal:
        terms = _diagonal_terms(p, q)
    else:
        terms = _full_terms(p, q)
    return math.fsum(terms.tolist())


def _q_exponent(q: Gaussian) -> NDArray[np.int64]:
    """Per-coordinate binary exponent that brings q's standard deviation near 1."""
    if q.std is not None:
        return np.frexp(q.std)[1].astype(np.int64)
    assert q.var is not None
    return (np.frexp(q.var)[1] // 2).astype(np.int64)


def _scaled_var(
    g: Gaussian, k: NDArray[np.int64]
) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]:
    """Variance of ``g`` rescaled by ``4**-k`` as ``(hi, lo, log, std)``, exactly where possible."""
    if g.std is not None:
        s = np.ldexp(g.std, -k)
        hi, lo = two_square(s)
        return hi, lo, 2.0 * np.log(s), s
    assert g.var is not None
    v = np.ldexp(g.var, -2 * k)
    return v, np.zeros_like(v), np.log(v), np.sqrt(v)


def _diagonal_terms(p: Gaussian, q: Gaussian) -> NDArray[np.float64]:
    k = _q_exponent(q)
    p_hi, p_lo, p_log, _ = _scaled_var(p, k)
    q_hi, q_lo, q_log, q_std = _scaled_var(q, k)
    with np.errstate(over="ignore", under="ignore", divide="ignore", invalid="ignore"):
        ratio = (p_hi + p_lo) / (q_hi + q_lo)
        near = (ratio >= 0.5) & (ratio <= 2.0)
        a = np.where(near, log1p_ratio_of(p_hi, p_lo, q_hi, q_lo), p_log - q_log)
        # Far from 1 the rounded ratio itself is more accurate than exp(a).
        usable = ~near & np.isfinite(ratio) & (ratio > np.finfo(np.float64).tiny)
        h = np.where(usable, (ratio - 1.0) - a, expm1_minus(a))
        t = (np.ldexp(p.mean, -k) - np.ldexp(q.mean, -k)) / q_std
    return np.concatenate([0.5 * h, 0.5 * t * t])


#: Full covariances up to this dimension get a refined Cholesky factor (O(d^3)
#: with a large constant: ~0.7 s at d = 256); above it LAPACK's own.
REFINE_MAX_DIM = 256


def _scaled_cholesky(g: Gaussian, k: int) -> NDArray[np.float64]:
    if g.cov is not None:
        cov = np.ldexp(g.cov, -2 * k)
        if g.dim <= REFINE_MAX_DIM:
            return refined_cholesky(cov)[0]
        return np.linalg.cholesky(cov)
    return np.diag(np.ldexp(g.stddevs, -k))


def _full_terms(p: Gaussian, q: Gaussian) -> NDArray[np.float64]:
    k = int(np.frexp(np.max(np.diag(q.cholesky)))[1])
    lp = _scaled_cholesky(p, k)
    lq = _scaled_cholesky(q, k)
    # Equal covariances give M = I exactly; a blocked triangular solve would
    # leave rounding noise of order 1e-16 below the diagonal (KL(p, p) ~ 1e-30).
    same = np.array_equal(lp, lq)
    m = np.eye(lp.shape[0]) if same else solve_triangular(lq, lp, lower=True, check_finite=False)
    dp, dq = np.diag(lp), np.diag(lq)
    ratio = dp / dq
    near = (ratio >= 0.5) & (ratio <= 2.0)
    with np.errstate(divide="ignore"):
        a = 2.0 * np.where(near, np.log1p((dp - dq) / dq), np.log(dp) - np.log(dq))
    off = m[np.tril_indices_from(m, -1)]
    b = solve_triangular(lq, np.ldexp(p.mean, -k) - np.ldexp(q.mean, -k), lower=True)
    return np.concatenate([0.5 * expm1_minus(a), 0.5 * off * off, 0.5 * b * b])
