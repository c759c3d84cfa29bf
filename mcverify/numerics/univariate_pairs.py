"""Many univariate pairs as arrays, and their closed form all at once.

:class:`UnivariatePairs` holds the parameters of ``n`` univariate pairs as
the user or the config gave them (standard deviation or variance per
side); :func:`closed_form` runs the closed form's own array code
(:mod:`mcverify.numerics.closed_form`) on every pair at once, bit-identical
to :func:`mcverify.kl_divergence`.  The batched Monte Carlo
(:mod:`mcverify.sampling.univariate_batch`) and quadrature
(:mod:`mcverify.quadrature.univariate_batch`) take the same pairs.

Pure numerics: arrays in, arrays out.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from mcverify.numerics.closed_form import _diagonal_halves
from mcverify.numerics.gaussian import Gaussian

__all__ = ["UnivariatePairs", "closed_form"]

Array = NDArray[np.float64]


@dataclass(frozen=True)
class Side:
    """Duck-typed stand-in for many univariate Gaussians of one scale kind."""

    mean: Array
    std: Array | None
    var: Array | None

    @property
    def stddevs(self) -> Array:
        if self.std is not None:
            return self.std
        assert self.var is not None  # groups() sets exactly one of std and var
        return np.sqrt(self.var)


@dataclass(frozen=True)
class UnivariatePairs:
    """Parameters of ``n`` univariate pairs (p, q), as the config gave them.

    Attributes
    ----------
    mean_p, scale_p, mean_q, scale_q : numpy.ndarray
        Means and scales; a scale is a standard deviation, or a variance
        where ``p_var`` (``q_var``) is True.
    p_var, q_var : numpy.ndarray of bool
    """

    mean_p: Array
    scale_p: Array
    p_var: NDArray[np.bool_]
    mean_q: Array
    scale_q: Array
    q_var: NDArray[np.bool_]

    @classmethod
    def from_values(cls, pairs: list[tuple[float, float, bool, float, float, bool]]) -> UnivariatePairs:
        """From ``(mean_p, scale_p, p_is_var, mean_q, scale_q, q_is_var)`` tuples."""
        cols = list(zip(*pairs)) if pairs else [()] * 6
        f = [np.array(c, dtype=np.float64) for c in cols]
        b = [np.array(c, dtype=bool) for c in cols]
        return cls(f[0], f[1], b[2], f[3], f[4], b[5])

    def __len__(self) -> int:
        return int(self.mean_p.shape[0])

    def gaussians(self, i: int) -> tuple[Gaussian, Gaussian]:
        """Pair ``i`` as :class:`~mcverify.numerics.gaussian.Gaussian` objects."""
        p = Gaussian(float(self.mean_p[i]), **{"var" if self.p_var[i] else "std": float(self.scale_p[i])})
        q = Gaussian(float(self.mean_q[i]), **{"var" if self.q_var[i] else "std": float(self.scale_q[i])})
        return p, q

    def groups(self) -> list[tuple[NDArray[np.intp], Side, Side]]:
        """Index sets sharing one scale kind per side, with duck-typed sides."""
        out = []
        for pv in (False, True):
            for qv in (False, True):
                sel = np.flatnonzero((self.p_var == pv) & (self.q_var == qv))
                if sel.size:
                    sp, sq = self.scale_p[sel], self.scale_q[sel]
                    p = Side(self.mean_p[sel], None if pv else sp, sp if pv else None)
                    q = Side(self.mean_q[sel], None if qv else sq, sq if qv else None)
                    out.append((sel, p, q))
        return out


# ------------------------------------------------------------ closed form
def closed_form(pairs: UnivariatePairs) -> Array:
    """KL(p || q) of every pair, bit-identical to :func:`mcverify.kl_divergence`.

    The closed form of a univariate pair is the sum of two non-negative
    terms (:func:`mcverify.numerics.closed_form._diagonal_halves`, evaluated here for
    all pairs at once); ``math.fsum`` of two numbers is their correctly
    rounded sum, which is what floating-point addition returns.  Where that
    sum overflows the result is ``inf`` (``kl_divergence`` raises there).
    """
    out = np.empty(len(pairs))
    for sel, p, q in pairs.groups():
        half_h, half_t2 = _diagonal_halves(p, q)  # type: ignore[arg-type]  # Side duck-types Gaussian: mean, std, var, stddevs are all this reads
        with np.errstate(over="ignore", invalid="ignore"):
            out[sel] = half_h + half_t2
    return out
