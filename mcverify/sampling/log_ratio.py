r"""The log-likelihood ratio log p(x) - log q(x) at x = mu_p + L_p z, chunk by chunk.

Every sample-based estimator (plain Monte Carlo, antithetic pairs,
randomised quasi-Monte Carlo, the k1/k2/k3 estimators) evaluates this
function of standard normal draws ``z``. It is written in coordinates
whitened by q and never uses the closed-form KL algebra:

.. math::

    \log\frac{p(x)}{q(x)} = c + \tfrac12\left(\|M z\|^2 - \|z\|^2\right) + b^\top M z,
    \quad M = L_q^{-1} L_p,\ b = L_q^{-1}(\mu_p - \mu_q),
    \quad c = -\sum_i \log M_{ii} + \tfrac12 \|b\|^2 .

For diagonal pairs ``M`` is diagonal with entries ``r_i = s_{p,i} / s_{q,i}``
and the varying part is :math:`\sum_i \tfrac12(r_i^2 - 1) z_i^2 + r_i c_i z_i`
with ``c_i = (m_{p,i} - m_{q,i}) / s_{q,i}``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from scipy.linalg import solve_triangular
from scipy.linalg.blas import dtrmm

from mcverify.numerics.gaussian import Gaussian
from mcverify.numerics.stable import scale_exponent

__all__ = ["LogRatio"]


@dataclass(frozen=True, eq=False)
class LogRatio:
    """The log-likelihood ratio of a pair as a function of standard normal draws.

    Build it with :meth:`of`; :meth:`evaluate` and :meth:`even` then map a
    chunk of draws ``z`` (rows are draws) to the varying part of the ratio,
    to which :attr:`shift` is added once at the end.

    Attributes
    ----------
    dim : int
        Dimension d.
    shift : float
        The constant term ``c`` (summed exactly).
    diagonal : bool
        True when both covariances are diagonal (``M`` is diagonal).
    half_alpha, half_beta : ndarray or None
        Diagonal pairs: ``(r_i^2 - 1) / 2`` and ``r_i c_i``, the coefficients of
        ``z_i^2`` and ``z_i``.
    m_transpose : ndarray or None
        Full pairs: ``M`` in Fortran order (its transpose in C order).
    b : ndarray or None
        Full pairs: the whitened mean difference.
    magnitude : float
        Size of the varying part, from the parameters: ``max(sum |alpha_i| / 2,
        sum |beta_i| / 2)`` for diagonal pairs, ``max(||M||_F^2 / 2, ||b|| ||M||_F)``
        for full ones. Its :func:`~mcverify.numerics.stable.scale_exponent`,
        :attr:`exponent`, is the power of two by which the moment accumulators
        scale the terms: 0 unless they exceed 3.5e100 (a KL beyond 1e100).
    even_magnitude : float
        The same for the even part alone (``sum |alpha_i| / 2``, ``||M||_F^2 / 2``),
        whose :attr:`even_exponent` scales the antithetic pair averages: a pure
        mean shift has a huge odd part and an even part of order 1.
    """

    dim: int
    shift: float
    diagonal: bool
    half_alpha: NDArray[np.float64] | None = None
    half_beta: NDArray[np.float64] | None = None
    m_transpose: NDArray[np.float64] | None = None
    b: NDArray[np.float64] | None = None
    magnitude: float = 0.0
    even_magnitude: float = 0.0

    @property
    def exponent(self) -> int:
        """Binary exponent by which the accumulators scale the varying part (see :attr:`magnitude`)."""
        return int(scale_exponent(self.magnitude))

    @property
    def even_exponent(self) -> int:
        """Binary exponent by which the accumulators scale the even part (:meth:`even`)."""
        return int(scale_exponent(self.even_magnitude))

    @classmethod
    def of(cls, p: Gaussian, q: Gaussian) -> LogRatio:
        """The log ratio of ``p`` against ``q`` (same dimension)."""
        if p.dim != q.dim:
            raise ValueError(f"p has dimension {p.dim} but q has dimension {q.dim}: they must match")
        if p.is_diagonal and q.is_diagonal:
            r, c, log_r = whitened_diagonal(p, q)
            alpha, beta = (r - 1.0) * (r + 1.0), 2.0 * r * c
            shift = math.fsum((0.5 * c * c - log_r).tolist())
            ha, hb = 0.5 * alpha, 0.5 * beta
            with np.errstate(over="ignore"):
                even = float(np.sum(np.abs(ha)))
                size = max(even, float(np.sum(np.abs(hb))))
            return cls(p.dim, shift, True, half_alpha=ha, half_beta=hb, magnitude=size, even_magnitude=even)
        lp, lq = p.cholesky, q.cholesky
        mt = np.asfortranarray(solve_triangular(lq, lp, lower=True))
        b = solve_triangular(lq, p.mean - q.mean, lower=True)
        shift = math.fsum((-np.log(np.diag(lp)) + np.log(np.diag(lq))).tolist()) + 0.5 * float(b @ b)
        with np.errstate(over="ignore"):
            frob = float(np.sqrt(np.sum(np.square(mt))))
            even = 0.5 * frob * frob
            size = max(even, frob * float(np.linalg.norm(b)))
        return cls(p.dim, shift, False, m_transpose=mt, b=b, magnitude=size, even_magnitude=even)

    def evaluate(
        self, z: NDArray[np.float64], out: NDArray[np.float64], scratch: NDArray[np.float64] | None = None
    ) -> NDArray[np.float64]:
        """Varying part of the log ratio for each row of ``z``, into ``out``.

        ``z`` is a C-ordered ``(m, d)`` array; for full pairs it is
        overwritten (the product ``M z`` is formed in place). ``scratch``, an
        optional array shaped like ``z``, saves an allocation for diagonal pairs.
        """
        if self.diagonal:
            assert self.half_alpha is not None and self.half_beta is not None
            np.dot(np.multiply(z, z, out=scratch), self.half_alpha, out=out)
            out += z @ self.half_beta
            return out
        assert self.b is not None
        np.einsum("ij,ij->i", z, z, out=out)
        wt = self._times_m(z)
        out *= -0.5
        out += 0.5 * np.einsum("ji,ji->i", wt, wt)
        out += self.b @ wt
        return out

    def even(
        self, z: NDArray[np.float64], out: NDArray[np.float64], scratch: NDArray[np.float64] | None = None
    ) -> NDArray[np.float64]:
        r"""Varying part of ``(llr(z) + llr(-z)) / 2``: :math:`\tfrac12(\|Mz\|^2 - \|z\|^2)`.

        The linear term :math:`b^\top M z` cancels exactly between ``z`` and
        ``-z``. Overwrites ``z`` for full pairs, as :meth:`evaluate`.
        """
        if self.diagonal:
            assert self.half_alpha is not None
            np.dot(np.multiply(z, z, out=scratch), self.half_alpha, out=out)
            return out
        np.einsum("ij,ij->i", z, z, out=out)
        wt = self._times_m(z)
        out *= -0.5
        out += 0.5 * np.einsum("ji,ji->i", wt, wt)
        return out

    def _times_m(self, z: NDArray[np.float64]) -> NDArray[np.float64]:
        # w = M z for every row, in place: (M @ Z^T) on the Fortran view of Z.
        return dtrmm(1.0, self.m_transpose, z.T, lower=1, overwrite_b=1)


def whitened_diagonal(p: Gaussian, q: Gaussian) -> tuple[NDArray[np.float64], ...]:
    """Per-coordinate ratio r = s_p / s_q, shift c = (m_p - m_q) / s_q, and log r."""
    sp, sq = p.stddevs, q.stddevs
    r = sp / sq
    c = p.mean / sq - q.mean / sq
    log_r = np.log(sp) - np.log(sq)
    return r, c, log_r
