"""Cancellation-free elementary pieces used by the closed form.

Private: these are floating-point building blocks, not part of the API.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

# Taylor coefficients 1/k! for k = 2..21 of expm1(a) - a = sum_k a**k / k!.
_INV_FACT = np.array([1.0 / math.factorial(k) for k in range(2, 22)])
#: Below this |a| the series is used; at |a| = 0.7 the first omitted term is
#: 0.7**22 / 22! < 1e-24 of the sum, and above it expm1(a) - a loses less than
#: a factor 4 (two bits) to cancellation.
_SERIES_LIMIT = 0.7
#: Dekker's splitting constant 2**27 + 1 for binary64.
_SPLIT = 134217729.0

#: Terms of magnitude up to ``2**SAFE_EXPONENT`` (3.5e100) are summed as they are: their cubes,
#: summed over a chunk for a skewness, stay inside float64. That covers every case of a KL up to
#: 1e100 (the terms are at most about twice the KL), so those cases keep their bits.
SAFE_EXPONENT = 334


def scale_exponent(magnitude: Any) -> Any:
    r"""Binary exponent ``k`` by which to scale terms of size ``magnitude`` (float or array).

    ``k = 0`` where ``magnitude <= 2**SAFE_EXPONENT`` (or is not finite); otherwise the exponent
    of ``magnitude`` (:func:`numpy.frexp`), so that :math:`2^{-k}` times it lies in
    :math:`[\tfrac12, 1)`. Scaling by a power of two is exact away from subnormals: the moments
    of the scaled terms are those of the terms times :math:`2^{-jk}`, and their cubes stay finite
    for any magnitude below float64's maximum.
    """
    if np.ndim(magnitude) == 0:  # one case: plain floats (a few microseconds less per estimate)
        x = float(magnitude)
        return math.frexp(x)[1] if x > 2.0**SAFE_EXPONENT and math.isfinite(x) else 0
    m = np.asarray(magnitude, dtype=np.float64)
    with np.errstate(invalid="ignore"):
        big = np.isfinite(m) & (m > 2.0**SAFE_EXPONENT)
    k = np.where(big, np.frexp(m)[1], 0).astype(np.int64)
    return int(k) if k.ndim == 0 else k


def root_mean_square(x: ArrayLike) -> float:
    r"""``sqrt(mean(x**2))``, squared in scaled form so that it is finite wherever it is representable.

    The values are scaled by :math:`2^{-k}` (``k`` the :func:`scale_exponent` of the largest
    :math:`|x_i|`, 0 below 3.5e100) before squaring and the root scaled back: exact, so the bits
    are those of the plain formula wherever that does not overflow. NaN in, NaN out.
    """
    v = np.asarray(x, dtype=np.float64)
    with np.errstate(invalid="ignore"):
        k = scale_exponent(float(np.max(np.abs(v))))
    s = np.ldexp(v, -k)
    return math.ldexp(float(np.sqrt(np.mean(s * s))), k)


def expm1_minus(a: ArrayLike) -> NDArray[np.float64]:
    """``exp(a) - 1 - a`` to full relative accuracy, elementwise.

    This is ``r - 1 - log r`` for ``r = exp(a)``, the shape of every Gaussian
    KL term. For small ``|a|`` the direct form cancels (``a = 1e-12`` leaves
    no correct digit), so a Taylor series is summed there instead.
    """
    a = np.asarray(a, dtype=np.float64)
    out = np.empty_like(a)
    small = np.abs(a) < _SERIES_LIMIT
    s = a[small]
    acc = np.zeros_like(s)
    for c in _INV_FACT[::-1]:  # acc = acc * s + c, in place
        np.multiply(acc, s, out=acc)
        np.add(acc, c, out=acc)
    out[small] = acc * s * s
    big = ~small
    with np.errstate(over="ignore", invalid="ignore"):
        out[big] = np.expm1(a[big]) - a[big]
    # a = +inf means an infinite variance ratio; expm1(inf) - inf is nan.
    out[np.isposinf(a)] = np.inf
    out[np.isneginf(a)] = np.inf
    return out


def two_square(x: NDArray[np.float64]) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """``x*x`` as an unevaluated sum ``hi + lo`` with ``lo`` the exact rounding error.

    Dekker's product; exact while ``x*x`` neither overflows nor underflows.
    """
    hi = x * x
    xh, xl = split(x)
    lo = ((xh * xh - hi) + 2.0 * xh * xl) + xl * xl
    return hi, lo


def split(x: NDArray[np.float64]) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Dekker's split ``x = hi + lo`` into 26-bit halves, so products of halves are exact."""
    c = _SPLIT * x
    hi = c - (c - x)
    return hi, x - hi


def log1p_ratio_of(
    num_hi: NDArray[np.float64],
    num_lo: NDArray[np.float64],
    den_hi: NDArray[np.float64],
    den_lo: NDArray[np.float64],
) -> NDArray[np.float64]:
    """``log(num / den)`` for double-double positives, accurate when the ratio is near 1.

    Uses ``log1p((num - den) / den)``; when ``num`` and ``den`` are within a
    factor 2 the leading difference is exact (Sterbenz), so the result keeps
    full relative accuracy even for ratios ``1 +- 1e-15``.
    """
    diff = (num_hi - den_hi) + (num_lo - den_lo)
    return np.log1p(diff / (den_hi + den_lo))


#: Sums below this (or above its inverse) go to math.fsum: the bound 2^-101 of
#: :func:`fsum_rows` holds only without underflow and overflow.
_FSUM_RANGE = 2.0**-900


def fsum_rows(terms: NDArray[np.float64]) -> NDArray[np.float64]:
    r""":func:`math.fsum` of each row of ``terms`` ``(m, n)``; ``inf`` where it overflows; fast for non-negative terms.

    Bit for bit the correctly rounded sum that :func:`math.fsum` returns,
    computed on whole arrays: the columns are added pairwise (a tree of
    depth :math:`\lceil \log_2 n \rceil`) in double-double arithmetic, each
    node ``(a_h + a_l) + (b_h + b_l)`` by TwoSum of the heads, the tails and
    the TwoSum error added in floating point, then renormalised (Fast2Sum).
    With non-negative terms a node's rounding error is at most
    :math:`3 u^2` of its value (:math:`u = 2^{-53}`) and the values of a level
    add up to the sum ``S``, so the result ``hi + lo`` is within
    :math:`3 u^2 \lceil\log_2 n\rceil S < 2^{-101} S` of it (for ``n <= 2^9``).
    ``hi = fl(hi + lo)`` is then the correctly rounded ``S`` wherever
    :math:`|lo| + 2^{-100} hi` is below half the gap from ``hi`` down to the
    next float (the smaller of its two gaps).  Rows that fail this test (a
    sum within ``2^-48`` ulp of a rounding tie, a sum that is 0, below
    ``2^-900`` or above ``2^900``, not finite, or with a negative term) are summed by
    :func:`math.fsum` itself (``inf`` where it raises ``OverflowError``).
    """
    return fsum_columns(np.ascontiguousarray(terms.T))


def fsum_columns(terms: NDArray[np.float64]) -> NDArray[np.float64]:
    """:func:`fsum_rows` of ``terms.T``: the sum of each column of ``terms`` ``(n, m)``, which is left alone."""
    n, m = terms.shape
    if n == 0 or n > 512:
        return _fsum_each(terms, np.arange(m))
    hi = terms
    nonnegative = np.minimum.reduce(hi, axis=0) >= 0.0  # (NaN compares False)
    lo = None  # the first level's tails are 0, and its TwoSum leaves (s, t) renormalised already
    with np.errstate(over="ignore", invalid="ignore"):
        while hi.shape[0] > 1:
            k = hi.shape[0] // 2
            ah, bh = hi[:k], hi[k : 2 * k]
            s = ah + bh
            bb = s - ah
            t = ah - (s - bb)
            t += bh - bb  # TwoSum: ah + bh = s + t exactly
            if lo is None:
                new_hi, new_lo = s, t
            else:
                t += lo[:k] + lo[k : 2 * k]
                new_hi = s + t
                new_lo = s - new_hi
                new_lo += t  # Fast2Sum (s >= |t|): new_hi + new_lo = s + t exactly
            if hi.shape[0] % 2:  # an odd row passes to the next level as it is
                new_hi = np.concatenate([new_hi, hi[2 * k :]])
                new_lo = np.concatenate([new_lo, np.zeros((1, m)) if lo is None else lo[2 * k :]])
            hi, lo = new_hi, new_lo
        if lo is None:
            lo = np.zeros_like(hi)
        hi, lo = hi[0], lo[0]
        gap = hi - np.nextafter(hi, 0.0)
        ok = np.abs(lo) + hi * 2.0**-100 < 0.5 * gap
        ok &= (hi >= _FSUM_RANGE) & (hi <= 1.0 / _FSUM_RANGE)
        ok &= nonnegative
    out = hi.copy()
    rest = np.flatnonzero(~ok)
    if rest.size:
        out[rest] = _fsum_each(terms, rest)
    return out


def _fsum_each(terms: NDArray[np.float64], columns: NDArray[np.intp]) -> NDArray[np.float64]:
    """:func:`math.fsum` of the given columns; ``inf`` where it raises ``OverflowError``."""
    fsum = math.fsum
    out = []
    for row in terms[:, columns].T.tolist():
        try:
            out.append(fsum(row))
        except OverflowError:
            out.append(math.inf)
    return np.array(out, dtype=np.float64)
