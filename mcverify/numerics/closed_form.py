"""Exact Kullback-Leibler divergence between two Gaussians, in stable algebra."""

from __future__ import annotations

import math
from functools import cache
from typing import overload

import numpy as np
from numpy.typing import NDArray
from scipy.linalg import solve_triangular

from mcverify.numerics.blas import one_blas_thread
from mcverify.numerics.cholesky import refined_cholesky, refined_cholesky_stack, solve_lower
from mcverify.numerics.gaussian import Gaussian
from mcverify.numerics.gaussian_batch import GaussianBatch, as_batches
from mcverify.numerics.stable import expm1_minus, fsum_columns, fsum_rows, two_square

__all__ = ["kl_divergence"]


@overload
def kl_divergence(p: Gaussian, q: Gaussian) -> float: ...
@overload
def kl_divergence(p: GaussianBatch, q: Gaussian | GaussianBatch) -> NDArray[np.float64]: ...
@overload
def kl_divergence(p: Gaussian, q: GaussianBatch) -> NDArray[np.float64]: ...
def kl_divergence(p: Gaussian | GaussianBatch, q: Gaussian | GaussianBatch) -> float | NDArray[np.float64]:
    r"""Closed-form KL(p || q) between two Gaussians, or between the pairs of two batches.

    Parameters
    ----------
    p, q : Gaussian or GaussianBatch
        Distributions of the same dimension; any mix of univariate, diagonal
        and full covariance.  With a :class:`~mcverify.GaussianBatch` on
        either side the divergences of all pairs are computed at once (a
        single Gaussian on the other side is paired with every entry).

    Returns
    -------
    float or numpy.ndarray
        The divergence in nats, ``>= 0``; ``0.0`` exactly when ``p == q``.
        For batches an array of shape ``(n,)`` whose entry ``i`` is
        bit-identical to ``kl_divergence(p[i], q[i])`` (``inf`` where that
        raises ``OverflowError`` because the sum of finite terms overflows).

    Raises
    ------
    ValueError
        If the dimensions (or the batch lengths) differ.

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
    if isinstance(p, GaussianBatch) or isinstance(q, GaussianBatch):
        return _kl_batches(*as_batches(p, q))
    if p.dim != q.dim:
        raise ValueError(f"p has dimension {p.dim} but q has dimension {q.dim}: they must match")
    if p.is_diagonal and q.is_diagonal:
        terms = _diagonal_terms(p, q)
    else:
        with one_blas_thread():
            terms = _full_terms(p, q)
    return math.fsum(terms.tolist())


#: Univariate pairs per array evaluation of the batched closed form (the
#: temporaries stay in the cache: 2x faster than whole arrays of 10^6).
_UNIVARIATE_BATCH = 8192
#: Full-covariance pairs per array evaluation of the batched closed form.
_FULL_BATCH = 512


def _kl_batches(p: GaussianBatch, q: GaussianBatch) -> NDArray[np.float64]:
    """:func:`kl_divergence` of every pair of two batches of one length, bit for bit."""
    n = len(p)
    if p.is_diagonal and q.is_diagonal:
        if p.kind == "univariate" or q.kind == "univariate":
            p, q = _univariate(p), _univariate(q)
            out = np.empty(n)
            for start in range(0, n, _UNIVARIATE_BATCH):  # chunks that stay in the cache
                part = slice(start, start + _UNIVARIATE_BATCH)
                half_h, half_t2 = _diagonal_halves(_rows(p, part), _rows(q, part))  # type: ignore[arg-type]  # the batch has mean, std and var as it reads them
                with np.errstate(over="ignore", invalid="ignore"):
                    np.add(half_h, half_t2, out=out[part])  # fsum of two numbers: their correctly rounded sum
            return out
        return fsum_rows(_diagonal_terms(p, q))  # type: ignore[arg-type]
    out = np.empty(n)
    with one_blas_thread():
        for start in range(0, n, _FULL_BATCH):
            part = slice(start, start + _FULL_BATCH)
            out[part] = fsum_columns(_full_terms_batch(_rows(p, part), _rows(q, part)))
    return out


def _univariate(g: GaussianBatch) -> GaussianBatch:
    if g.kind == "univariate":
        return g
    return GaussianBatch(g.mean[:, 0], **{g.scale_name: g.scale[:, 0]})


def _rows(g: GaussianBatch, part: slice) -> GaussianBatch:
    """Rows ``part`` of a batch (no validation: the rows of a valid batch are valid)."""
    out = object.__new__(GaussianBatch)
    for name in ("mean", "std", "var", "cov"):
        value = getattr(g, name)
        object.__setattr__(out, name, None if value is None else value[part])
    object.__setattr__(out, "kind", g.kind)
    return out


def _q_exponent(q: Gaussian) -> NDArray[np.intc]:
    """Per-coordinate binary exponent that brings q's standard deviation near 1.

    Kept as the C ``int`` that :func:`numpy.frexp` returns: :func:`numpy.ldexp`
    has a vectorised loop for it (an ``int64`` exponent takes a scalar loop,
    ~15x slower), and both scale by the same exact power of two.
    """
    if q.std is not None:
        return np.frexp(q.std)[1]
    assert q.var is not None
    return np.frexp(q.var)[1] // 2


def _scaled_var(
    g: Gaussian, k: NDArray[np.intc]
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
    """The non-negative terms ``h/2`` and ``t^2/2`` of diagonal pairs, concatenated on the last axis."""
    half_h, half_t2 = _diagonal_halves(p, q)
    return np.concatenate([half_h, half_t2], axis=-1)


def _diagonal_halves(p: Gaussian, q: Gaussian) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    r"""The terms ``h/2`` and ``t^2/2`` of diagonal pairs, elementwise (any shape), as two arrays.

    With :math:`r = \sigma_p^2 / \sigma_q^2`, :math:`a = \log r` and
    :math:`t = (\mu_p - \mu_q) / \sigma_q`, the KL of a univariate pair is
    :math:`h/2 + t^2/2` with :math:`h = r - 1 - a`.  Far from :math:`r = 1`
    (``r`` outside ``[0.5, 2]``) :math:`a` is the difference of the
    logarithms and :math:`h = (r - 1) - a` with the rounded ratio, which is
    more accurate there than ``exp(a)``; everywhere else (near 1, or a ratio
    that overflows or underflows) :math:`a` is ``log1p`` of the exactly
    computed variance difference and :math:`h` comes from
    :func:`~mcverify.numerics.stable.expm1_minus`.  The common branch runs on
    whole arrays; the other only on the compacted entries that need it, so
    each entry sees the same operations on the same operands whatever the
    array's shape (the bits do not depend on batching).
    """
    k = _q_exponent(q)
    p_hi, p_lo, p_log, _ = _scaled_var(p, k)
    q_hi, q_lo, q_log, q_std = _scaled_var(q, k)
    with np.errstate(over="ignore", under="ignore", divide="ignore", invalid="ignore"):
        den = q_hi + q_lo
        ratio = (p_hi + p_lo) / den
        near = (ratio >= 0.5) & (ratio <= 2.0)
        a = p_log - q_log
        # Far from 1 the rounded ratio itself is more accurate than exp(a).
        usable = ~near
        usable &= np.isfinite(ratio)
        usable &= ratio > np.finfo(np.float64).tiny
        h = ratio - 1.0
        h -= a
        rest = np.flatnonzero(~usable)
        if rest.size:
            ph, qh, pl, ql, dn, ar = (x.reshape(-1)[rest] for x in (p_hi, q_hi, p_lo, q_lo, den, a))
            exact = np.log1p(((ph - qh) + (pl - ql)) / dn)  # near 1: Sterbenz makes ph - qh exact
            h.reshape(-1)[rest] = expm1_minus(np.where(near.reshape(-1)[rest], exact, ar))
        t = (np.ldexp(p.mean, -k) - np.ldexp(q.mean, -k)) / q_std
        h *= 0.5
        t2 = 0.5 * t
        t2 *= t
    return h, t2


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


def _stddevs_2d(g: GaussianBatch) -> NDArray[np.float64]:
    """Marginal standard deviations ``(n, d)`` of a univariate or diagonal batch."""
    s = g.std if g.std is not None else np.sqrt(g.scale)
    return s.reshape(len(g), -1)


def _scaled_cholesky_batch(g: GaussianBatch, k: NDArray[np.intc]) -> NDArray[np.float64]:
    """:func:`_scaled_cholesky` of every entry, ``k`` one exponent per entry."""
    if g.cov is not None:
        cov = np.ldexp(g.cov, -2 * k[:, None, None])
        if g.dim <= REFINE_MAX_DIM:
            return refined_cholesky_stack(cov)[0]
        return np.linalg.cholesky(cov)
    s = np.ldexp(_stddevs_2d(g), -k[:, None])
    out = np.zeros(s.shape + s.shape[-1:])
    np.einsum("...ii->...i", out)[...] = s
    return out


def _scaled_cholesky_pairs(
    p: GaussianBatch, q: GaussianBatch, k: NDArray[np.intc]
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """:func:`_scaled_cholesky_batch` of both sides; two full sides are refined as one stack.

    Each matrix of a stack is factored and refined on its own (the stack only
    saves Python-level calls), so the factors are the same bits either way.
    """
    if p.cov is None or q.cov is None or p.dim > REFINE_MAX_DIM:
        return _scaled_cholesky_batch(p, k), _scaled_cholesky_batch(q, k)
    n = len(p)
    kk = np.concatenate([k, k])[:, None, None]
    chol = refined_cholesky_stack(np.ldexp(np.concatenate([p.cov, q.cov]), -2 * kk))[0]
    return chol[:n], chol[n:]


@cache
def _below_diagonal_transposed(d: int) -> NDArray[np.intp]:
    """Flat indices, in a ``d x d`` matrix's transpose, of its entries below the diagonal, in ``np.tril_indices`` order.

    Built once a dimension (cached, read-only), not once a chunk: ~20 µs a call.
    """
    rows, cols = np.tril_indices(d, -1)
    flat = cols * d + rows
    flat.flags.writeable = False
    return flat


def _full_terms_batch(p: GaussianBatch, q: GaussianBatch) -> NDArray[np.float64]:
    """:func:`_full_terms` of every pair, transposed: shape ``(terms, n)``, the same operations on stacks."""
    d, n = p.dim, len(p)
    q_diag = np.diagonal(np.linalg.cholesky(q.cov), axis1=1, axis2=2) if q.cov is not None else _stddevs_2d(q)
    k = np.frexp(np.max(q_diag, axis=1))[1]
    lp, lq = _scaled_cholesky_pairs(p, q, k)
    m = solve_lower(lq, lp)
    # equal factors: whole matrices compared only where the last entries are equal (one comparison
    # over the stack, where np.all(lp == lq, axis=(1, 2)) reduces a matrix at a time: 2.5x slower)
    same = np.flatnonzero(lp[:, -1, -1] == lq[:, -1, -1])
    if same.size:
        m[same[np.all(lp[same] == lq[same], axis=(1, 2))]] = np.eye(d)
    dp, dq = np.diagonal(lp, axis1=1, axis2=2).T, np.diagonal(lq, axis1=1, axis2=2).T
    ratio = dp / dq
    near = (ratio >= 0.5) & (ratio <= 2.0)
    with np.errstate(divide="ignore"):
        a = 2.0 * np.where(near, np.log1p((dp - dq) / dq), np.log(dp) - np.log(dq))
    # M_ij for i > j, read from the M_i^T that solve_lower leaves C-ordered (no copy of m)
    off = np.swapaxes(m, 1, 2).reshape(n, d * d)[:, _below_diagonal_transposed(d)].T
    mean_p, mean_q = p.mean.reshape(n, d), q.mean.reshape(n, d)
    delta = np.ldexp(mean_p, -k[:, None]) - np.ldexp(mean_q, -k[:, None])
    b = solve_lower(lq, delta[..., None])[..., 0].T
    terms = np.empty((2 * d + len(off), n))  # 0.5 * x * x as (0.5 * x) * x, as _full_terms evaluates it
    np.multiply(expm1_minus(a), 0.5, out=terms[:d])
    np.multiply(off, 0.5, out=terms[d:-d])
    terms[d:-d] *= off
    np.multiply(b, 0.5, out=terms[-d:])
    terms[-d:] *= b
    return terms
