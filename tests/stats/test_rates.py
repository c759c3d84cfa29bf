"""The one log-log rate fit, against numpy's least squares."""

from __future__ import annotations

import math

import numpy as np
import pytest

from mcverify.stats.rates import fit_rate


def test_fit_rate_recovers_a_power_law():
    n = 2.0 ** np.arange(10, 21)
    slope, se, k, intercept = fit_rate(n, 3.0 * n**-0.5)
    assert slope == pytest.approx(-0.5, abs=1e-12) and se == pytest.approx(0.0, abs=1e-12) and k == 11
    assert intercept == pytest.approx(math.log(3.0), rel=1e-12)
    noisy = 3.0 * n**-1.0 * np.exp(np.random.default_rng(0).normal(0, 0.1, n.size))
    fit = fit_rate(n, noisy)
    # Independent check against numpy's least squares with its covariance.
    coef, cov = np.polyfit(np.log(n), np.log(noisy), 1, cov="unscaled")
    resid = np.log(noisy) - np.polyval(coef, np.log(n))
    assert fit.slope == pytest.approx(coef[0], rel=1e-12) and fit.intercept == pytest.approx(coef[1], rel=1e-12)
    assert fit.stderr == pytest.approx(math.sqrt(cov[0, 0] * (resid @ resid) / (n.size - 2)), rel=1e-9)


def test_fit_rate_leaves_out_exact_and_missing_errors():
    n = 2.0 ** np.arange(10, 21)
    assert fit_rate(n, np.zeros(n.size)).points == 0 and math.isnan(fit_rate(n, np.zeros(n.size)).slope)
    assert math.isnan(fit_rate(n[:2], n[:2]).stderr) and fit_rate(n[:2], n[:2]).points == 2
    errors = n**-0.5
    errors[[1, 4]] = [np.nan, np.inf]
    assert fit_rate(n, errors).points == n.size - 2 and fit_rate(n, errors).slope == pytest.approx(-0.5, abs=1e-12)
