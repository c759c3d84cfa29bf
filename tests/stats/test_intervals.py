import math

import numpy as np
import pytest
from scipy import optimize, special, stats

from mcverify import Gaussian, monte_carlo_kl
from mcverify.stats.intervals import (
    confidence_interval,
    critical_value,
    hall_inverse,
    hall_transform,
    minimum_terms,
    two_sided_p_value,
)

Z_MAX = 5.0


@pytest.mark.parametrize("skew", [-2.8, -0.3, 0.0, 0.5, 2.8])
@pytest.mark.parametrize("n", [10, 1000, 10**7])
def test_inverse_inverts_and_transform_is_increasing(skew, n):
    ts = np.linspace(-30.0, 30.0, 601)
    g = np.array([hall_transform(t, skew, n) for t in ts])
    assert np.all(np.diff(g) >= 0.0)  # g'(T) = (1 + aT)^2 >= 0
    for x in (-6.0, -1.96, 0.0, 0.7, 3.0):
        t = hall_inverse(x, skew, n)
        assert hall_transform(t, skew, n) == pytest.approx(x, abs=1e-12 * max(1.0, abs(x)))


def test_transform_is_johnsons_modified_t_plus_a_cubic_term():
    # Johnson (1978): t1 = T + gamma / (6 sqrt n) + gamma T^2 / (3 sqrt n).
    skew, n, t = 1.7, 400, 2.3
    johnson = t + skew / (6 * math.sqrt(n)) + skew * t * t / (3 * math.sqrt(n))
    a = skew / (3 * math.sqrt(n))
    assert hall_transform(t, skew, n) == pytest.approx(johnson + a * a * t**3 / 3, rel=1e-14)


def test_no_skewness_gives_the_normal_and_student_intervals():
    assert confidence_interval(1.0, 0.1, 0.95) == pytest.approx((1.0 - 0.1959963984540054, 1.0 + 0.1959963984540054))
    t = stats.t.ppf(0.975, 15)
    assert confidence_interval(1.0, 0.1, 0.95, df=15) == pytest.approx((1.0 - 0.1 * t, 1.0 + 0.1 * t))
    assert two_sided_p_value(1.959963984540054) == pytest.approx(0.05, rel=1e-12)
    assert two_sided_p_value(-2.0, df=15) == pytest.approx(2 * stats.t.sf(2.0, 15), rel=1e-12)
    assert critical_value(0.9) == pytest.approx(1.6448536269514722)
    assert math.isnan(two_sided_p_value(math.nan)) and two_sided_p_value(math.inf, skewness=-2.0, terms=10) == 0.0


@pytest.mark.parametrize("df", [math.inf, 31])
@pytest.mark.parametrize("skew", [-2.5, 1.2])
def test_interval_is_the_set_the_test_accepts(df, skew):
    est, se, n = 3.0, 0.2, 50
    lo, hi = confidence_interval(est, se, 0.9, skewness=skew, terms=n, df=df)

    def p(mu):
        return two_sided_p_value((est - mu) / se, skewness=skew, terms=n, df=df)

    assert p(lo) == pytest.approx(0.1, rel=1e-9) and p(hi) == pytest.approx(0.1, rel=1e-9)
    assert p(lo - 1e-3) < 0.1 < p(lo + 1e-3) and p(hi + 1e-3) < 0.1 < p(hi - 1e-3)
    # Positive skewness of the terms: the truth is more likely above, so the interval reaches further up.
    assert (hi - est > est - lo) == (skew > 0)


def test_corrected_interval_covers_both_tails_of_a_skewed_mean():
    # llr of N(0, 10^2) vs N(0, 1) is 49.5 z^2 + const (skewness sqrt 8, the largest any
    # Gaussian pair can have). At n = 1000 the normal-theory interval misses low far more
    # often than high; Hall's interval misses each side about 2.5% of the time.
    p, q = Gaussian(0.0, std=10.0), Gaussian(0.0, std=1.0)
    truth = 49.5 - math.log(10.0)  # E[49.5 z^2] - log 10: an independent one-line derivation
    reps, n = 8000, 1000
    raw_low = raw_high = low = high = 0
    for i in range(reps):
        r = monte_carlo_kl(p, q, n, seed=np.random.SeedSequence(11, spawn_key=(i,)), confidence=0.95)
        t = r.z_score(truth)
        raw_low += t > 1.959963984540054  # estimate too high: the truth below the interval
        raw_high += t < -1.959963984540054
        low += truth < r.ci_low
        high += truth > r.ci_high
    nominal, sd = 0.025 * reps, math.sqrt(0.025 * 0.975 * reps)
    assert abs(low - nominal) < Z_MAX * sd and abs(high - nominal) < Z_MAX * sd
    # The uncorrected interval's misses are lopsided (expected about 0.72x and 1.37x nominal).
    assert raw_high - raw_low > 3 * math.sqrt(2) * sd
    assert abs(high - low) < abs(raw_high - raw_low)


def test_minimum_terms():
    # ceil((|g| (2x^2 + 1) x / 12)^2) with x the two-sided critical value.
    x = special.ndtri(1 - 1e-4 / 2)
    assert minimum_terms(2.8, 1e-4) == math.ceil((2.8 * (2 * x * x + 1) * x / 12) ** 2)
    assert minimum_terms(-2.8, 1e-4) == minimum_terms(2.8, 1e-4)
    assert minimum_terms(0.0, 1e-6) == 2 and minimum_terms(math.nan, 0.01) == 2
    assert minimum_terms(1.0, 1e-3, df=31) > minimum_terms(1.0, 1e-3)  # Student's x is larger


def test_inverse_is_accurate_for_tiny_skewness():
    # (cbrt(1 + 3a u) - 1) / a would lose every digit here; the rewritten form does not.
    t = hall_inverse(1.96, 1e-12, 1e6)
    ref = optimize.brentq(lambda s: hall_transform(s, 1e-12, 1e6) - 1.96, 1.0, 3.0, xtol=1e-15)
    assert t == pytest.approx(ref, rel=1e-14)


@pytest.mark.parametrize("confidence", [1.0 - 2.0**-53, 1.0 - 1e-16])
def test_critical_value_for_confidence_next_to_one(confidence):
    """0.5 + confidence/2 rounds to 1 here; the quantile comes from the exact tail (1 - confidence)/2 (mpmath)."""
    mpmath = pytest.importorskip("mpmath")
    from mcverify.stats.intervals import critical_value

    tail = (1.0 - confidence) / 2.0
    with mpmath.workdps(50):
        expected = -mpmath.sqrt(2) * mpmath.erfinv(2 * mpmath.mpf(tail) - 1)
    assert critical_value(confidence) == pytest.approx(float(expected), rel=1e-14)
    assert math.isfinite(critical_value(confidence, df=9.0))


def test_minimum_terms_for_a_level_below_double_precision():
    from mcverify.stats.intervals import critical_value, minimum_terms

    n = minimum_terms(np.sqrt(8.0), 1e-300)
    x = -float(special.ndtri(0.5e-300))
    assert n == math.ceil((np.sqrt(8.0) * (2 * x * x + 1) * x / (6 * 2.0)) ** 2)
    assert minimum_terms(np.sqrt(8.0), 0.01) == math.ceil(
        (np.sqrt(8.0) * (2 * critical_value(0.99) ** 2 + 1) * critical_value(0.99) / 12.0) ** 2
    )
