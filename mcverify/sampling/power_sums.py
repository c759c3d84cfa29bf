"""Power sums of standard normals: what a univariate Monte Carlo estimate needs of its draws.

For a univariate (or one-dimensional diagonal) pair the log ratio is a
quadratic in the standard normal ``z``, so the estimate, its variance and
its skewness follow from the sums of ``z, ..., z^6``.  Shared by
:func:`mcverify.monte_carlo_kl` and the batched path
(:mod:`mcverify.sampling.univariate_batch`), so that a case's numbers are
the same whichever computes them.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from numpy.lib.stride_tricks import as_strided

from mcverify.numerics.stable import scale_exponent
from mcverify.sampling.moments import ExactSum, skewness_of

__all__ = ["UNIVARIATE_CHUNK", "PowerSumBuffers"]

#: Univariate chunk: OpenBLAS computes dot products of up to 10,000
#: elements on one thread, so a chunk's sums never depend on the number of
#: BLAS threads (and never compete with other processes for cores); the
#: largest such chunk also makes a 10^4-sample case a single chunk.
UNIVARIATE_CHUNK = 10_000
#: Univariate runs up to this many draws keep their chunk sums in plain lists
#: (see :class:`~mcverify.sampling.moments.ExactSum`, which collapses its partials beyond 4096 of them).
_SHORT_RUN = UNIVARIATE_CHUNK * 4096


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


def _univariate_moments(r: Any, c: Any, log_r: Any, sums: Any, n: int) -> tuple[Any, Any, Any, Any]:
    """Mean, scaled sample variance, sample skewness and exponent of the log ratio from the power sums of ``z``.

    With ``x = m_p + s_p z``, ``r = s_p/s_q`` and ``c = (m_p - m_q)/s_q``, the
    log ratio is ``-log r + c^2/2 + (alpha z^2 + beta z)/2`` with
    ``alpha = r^2 - 1`` and ``beta = 2 r c``.  The coefficients are scaled by
    ``2**-k``, ``k`` the :func:`~mcverify.numerics.stable.scale_exponent` of
    ``max(|alpha|/2, |beta|/2)`` (0 unless it exceeds 3.5e100;
    scaling by a power of two is exact), so that the cubes of the skewness stay
    finite up to float64's maximum: the mean is scaled back, the variance is
    returned times ``4**-k`` (:func:`~mcverify.sampling.monte_carlo.mean_result`
    takes it so).  Only arithmetic and numpy ufuncs: the batched runner applies
    it to arrays of pairs and gets the same bits per pair.
    """
    alpha, beta, const = (r - 1.0) * (r + 1.0), 2.0 * r * c, 0.5 * c * c - log_r
    k = scale_exponent(np.maximum(np.abs(0.5 * alpha), np.abs(0.5 * beta)))
    # ldexp by 0 is the identity: skipped where every k is 0 (one case's k is an int: np.any on it
    # costs microseconds per estimate).
    scaled = k != 0 if isinstance(k, int) else bool(k.any())
    if scaled:
        alpha, beta, const = np.ldexp(alpha, -k), np.ldexp(beta, -k), np.ldexp(const, -k)
    m1, m2, m3, m4, m5, m6 = (s / n for s in sums)
    mean = 0.5 * (alpha * m2 + beta * m1) + const
    if scaled:
        mean = np.ldexp(mean, k)
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
    return mean, var_n * n / (n - 1), skewness_of(var_n, third), k
