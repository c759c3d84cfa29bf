import math

import numpy as np
import pytest
from scipy import special, stats

from mcverify.stats.power import detectable_difference, detection_multiplier, per_case_level

Z_MAX = 5.0


def test_per_case_level():
    assert per_case_level(0.01, 1000, "holm") == 1e-5
    assert per_case_level(0.05, 20, "bh") == 0.0025
    assert per_case_level(0.05, 20, "none") == 0.05
    with pytest.raises(ValueError, match="unknown error control"):
        per_case_level(0.05, 20, "bonferroni")
    with pytest.raises(ValueError, match="cases"):
        per_case_level(0.05, 0)


@pytest.mark.parametrize("level", [0.05, 1e-3, 1e-6])
def test_normal_multiplier_solves_the_power_equation(level):
    lam = detection_multiplier(level)
    zc = special.ndtri(1 - level / 2)
    assert special.ndtr(lam - zc) + special.ndtr(-lam - zc) == pytest.approx(0.8, abs=1e-10)
    # Close to the textbook z_{1-a/2} + z_{0.8}; never above it (the far tail only helps).
    assert lam <= zc + special.ndtri(0.8) and lam == pytest.approx(zc + special.ndtri(0.8), abs=1e-3)


@pytest.mark.parametrize("df, level", [(31, 0.05), (15, 1e-4), (math.inf, 0.01)])
def test_power_by_simulation(df, level):
    # Draw the test statistic with the true value offset by lambda standard errors and count rejections.
    rng = np.random.default_rng(2024)
    n = 100_000
    lam = detection_multiplier(level, 0.8, df)
    if math.isinf(df):
        t = rng.standard_normal(n) + lam
        crit = special.ndtri(1 - level / 2)
    else:
        t = (rng.standard_normal(n) + lam) / np.sqrt(rng.chisquare(df, n) / df)
        crit = stats.t.ppf(1 - level / 2, df)
    hits = np.count_nonzero(np.abs(t) > crit)
    assert abs(hits - 0.8 * n) < Z_MAX * math.sqrt(0.8 * 0.2 * n)


def test_detectable_difference_scales_with_the_standard_error():
    assert detectable_difference(0.01, 0.05) == pytest.approx(0.0280158, rel=1e-5)
    se = np.array([0.0, 0.5, 2.0])
    out = detectable_difference(se, 1e-5, df=31)
    assert isinstance(out, np.ndarray) and out[0] == 0.0
    assert out[2] == pytest.approx(4 * out[1]) and out[1] > detectable_difference(0.5, 1e-5)
    assert detectable_difference(1.0, 0.01, power=0.9) > detectable_difference(1.0, 0.01, power=0.5)


@pytest.mark.parametrize("kwargs", [{"level": 0.0}, {"level": 0.5, "power": 0.4}, {"level": 0.1, "df": 0}])
def test_bad_arguments(kwargs):
    with pytest.raises(ValueError):
        detection_multiplier(**kwargs)


@pytest.mark.parametrize("level", [1e-17, 1e-100, 1e-300])
def test_multiplier_for_levels_below_double_precision(level):
    """Per-case levels under 1.1e-16 (1 - level/2 rounds to 1) still give the lambda of the power equation.

    Checked with mpmath at 50 digits: Phi(lambda - z_c) + Phi(-lambda - z_c) = 0.8, where
    z_c solves Phi(-z_c) = level / 2.
    """
    mpmath = pytest.importorskip("mpmath")
    with mpmath.workdps(50):
        half = mpmath.mpf(level) / 2
        zc = mpmath.findroot(lambda z: mpmath.log(mpmath.ncdf(-z)) - mpmath.log(half), -special.ndtri(level / 2))
        lam = mpmath.mpf(detection_multiplier(level))
        power = mpmath.ncdf(lam - zc) + mpmath.ncdf(-lam - zc)
    assert math.isfinite(float(lam))
    assert abs(float(power) - 0.8) < 1e-9


def test_student_multiplier_for_a_level_below_double_precision():
    lam = detection_multiplier(1e-40, df=63.0)
    tc = stats.t.isf(0.5e-40, 63.0)
    assert math.isfinite(lam) and lam > tc
    assert stats.nct.sf(tc, 63.0, lam) == pytest.approx(0.8, abs=1e-6)
