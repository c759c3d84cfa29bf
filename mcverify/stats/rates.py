r"""Rates of convergence: the slope of an error against the sample count on log-log axes.

:func:`fit_rate` is the one least-squares fit of

.. math::

    \log e(N) = c + s \log N

behind both the convergence study (RMSE over replicates,
:mod:`mcverify.studies.convergence`) and the reports' convergence slope
(an error statistic per sample size, :func:`mcverify.reporting.summary.convergence_slope`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import NamedTuple

import numpy as np
from numpy.typing import NDArray

__all__ = ["RateFit", "fit_rate"]


class RateFit(NamedTuple):
    """A fitted rate: ``slope`` s, ``intercept`` c (natural logs), ``stderr`` of s, ``points`` used."""

    slope: float
    stderr: float
    points: int
    intercept: float


def fit_rate(samples: Sequence[float] | NDArray[np.float64], errors: Sequence[float] | NDArray[np.float64]) -> RateFit:
    r"""Least-squares slope of :math:`\log e` on :math:`\log N`, with its standard error.

    Points whose error is zero or not finite (an exact estimator, a missing
    value) are left out. ``slope`` and ``intercept`` are NaN with fewer than
    2 points, ``stderr`` NaN with fewer than 3.

    Notes
    -----
    ``stderr`` is the usual :math:`\sqrt{\hat\sigma^2 / S_{xx}}` with
    :math:`\hat\sigma^2` the residual variance on ``points - 2`` degrees of
    freedom.  A Monte Carlo mean of :math:`N` draws has standard error
    :math:`\sigma / \sqrt{N}`, so any fixed quantile of its absolute error
    scales as :math:`N^{-1/2}`: a slope near :math:`-1/2` confirms the Monte
    Carlo rate (Robert and Casella, *Monte Carlo Statistical Methods*, 2004,
    sec. 3.2).
    """
    x = np.log(np.asarray(samples, dtype=np.float64))
    y = np.asarray(errors, dtype=np.float64)
    keep = (y > 0) & np.isfinite(y)
    x, y = x[keep], np.log(y[keep])
    k = int(x.size)
    if k < 2:
        return RateFit(math.nan, math.nan, k, math.nan)
    dx = x - x.mean()
    sxx = float(dx @ dx)
    slope = float(dx @ (y - y.mean())) / sxx
    intercept = float(y.mean()) - slope * float(x.mean())
    if k < 3:
        return RateFit(slope, math.nan, k, intercept)
    resid = y - y.mean() - slope * dx
    return RateFit(slope, math.sqrt(float(resid @ resid) / (k - 2) / sxx), k, intercept)
