"""Streaming sums and moments shared by the sample-based estimators (private)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from numpy.typing import NDArray

__all__ = ["ExactSum", "StreamingMoments", "skewness", "skewness_of"]


class ExactSum:
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


class StreamingMoments:
    """Mean, second and third central sums, merged chunk by chunk.

    The mean and the sum of squared deviations are merged as in Chan, Golub
    and LeVeque (1983), with the squared-deviation partials summed exactly;
    the third central sum (needed only for the sample skewness) is merged
    with Pébay's (2008) formula in ordinary floating point.

    References
    ----------
    T. F. Chan, G. H. Golub and R. J. LeVeque, "Algorithms for computing the
    sample variance", *The American Statistician* 37 (1983) 242-247.
    P. Pébay, "Formulas for robust, one-pass parallel computation of
    covariances and arbitrary-order statistical moments", Sandia report
    SAND2008-6212, 2008.
    """

    def __init__(self, chunk: int, exponent: int = 0) -> None:
        self.exponent = exponent  # the terms are accumulated times 2**-exponent (exact)
        self.n = 0
        self.mean = 0.0
        self.m2 = ExactSum()
        self._m2 = 0.0  # plain running copy of m2 for the third-moment merge
        self.m3 = 0.0
        self._square = np.empty(chunk)

    def add(self, y: NDArray[np.float64]) -> None:
        """Merge a chunk; ``y`` is overwritten with its (scaled) deviations from its own mean."""
        if self.exponent:
            np.ldexp(y, -self.exponent, out=y)
        k = y.shape[0]
        mean_k = float(np.sum(y)) / k
        y -= mean_k
        m2_k = float(np.dot(y, y))
        square = self._square[:k]
        np.multiply(y, y, out=square)
        m3_k = float(np.dot(square, y))
        delta = mean_k - self.mean
        n = self.n
        total = n + k
        self.m2.add(m2_k)
        self.m2.add(delta * delta * n * k / total)
        self.m3 += m3_k + delta**3 * n * k * (n - k) / (total * total) + 3.0 * delta * (n * m2_k - k * self._m2) / total
        self._m2 += m2_k + delta * delta * n * k / total
        self.mean += delta * k / total
        self.n = total

    def result(self, shift: float) -> tuple[float, float, float]:
        """``(mean + shift, unbiased variance * 4**-exponent, sample skewness)``.

        The variance stays scaled (it need not be representable when the mean is);
        :func:`mcverify.sampling.monte_carlo.mean_result` takes its square root and scales that back.
        """
        m2 = self.m2.value
        return math.ldexp(self.mean, self.exponent) + shift, m2 / (self.n - 1), skewness(m2, self.m3, self.n)


def skewness(m2: float, m3: float, n: int) -> float:
    """Sample skewness ``g1 = (m3 / n) / (m2 / n)^(3/2)`` from central sums; 0 when m2 is 0 (or that power underflows)."""
    if not m2 > 0.0:
        return 0.0
    den = (m2 / n) ** 1.5
    if den == 0.0:
        return 0.0
    g = (m3 / n) / den
    return g if math.isfinite(g) else 0.0


def skewness_of(var_n: Any, third: Any) -> Any:
    """Skewness ``third / var_n^(3/2)`` from population central moments, floats or arrays.

    0 where ``var_n`` is not positive or the ratio is not finite. Only numpy
    ufuncs, so that an array of cases gets the same bits as each case alone.
    """
    var_n, third = np.asarray(var_n, dtype=np.float64), np.asarray(third, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        positive = var_n > 0.0
        g = np.where(positive, third / np.where(positive, var_n, 1.0) ** 1.5, 0.0)
        g = np.where(np.isfinite(g), g, 0.0)
    return float(g) if g.ndim == 0 else g
