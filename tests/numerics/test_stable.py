"""The scaling helpers of numerics/stable.py: exponents of powers of two, and root mean squares in scaled form."""

from __future__ import annotations

import math

import numpy as np

from mcverify.numerics.stable import SAFE_EXPONENT, root_mean_square, scale_exponent


def test_scale_exponent() -> None:
    assert SAFE_EXPONENT == 334 and 2.0**334 > 3.4e100
    assert scale_exponent(2.0**334) == 0 and scale_exponent(1e100) == 0 and scale_exponent(0.0) == 0
    assert scale_exponent(2.0**334 * (1 + 2**-52)) == 335
    assert scale_exponent(1e300) == 997 and math.ldexp(1e300, -997) < 1.0 <= math.ldexp(1e300, -996)
    assert scale_exponent(math.inf) == 0 and scale_exponent(math.nan) == 0
    k = scale_exponent(np.array([1.0, 1e200, np.inf]))
    assert k.dtype == np.int64 and k.tolist() == [0, 665, 0]


def test_root_mean_square_is_the_plain_formula_bit_for_bit_where_that_is_finite() -> None:
    rng = np.random.default_rng(5)
    for scale in (1e-300, 1e-5, 1.0, 1e90, 1e100):
        x = rng.standard_normal(1000) * scale
        assert root_mean_square(x) == float(np.sqrt(np.mean(x * x)))


def test_root_mean_square_beyond_the_square_of_float64() -> None:
    """At 2**960 the plain formula overflows; the scaled one is its value at 2**-40 times 2**1000, exactly."""
    rng = np.random.default_rng(6)
    x = rng.standard_normal(1000)
    small = root_mean_square(np.ldexp(x, -40))  # exact scaling: these are x * 2**-40 and x * 2**960
    big = root_mean_square(np.ldexp(x, 960))
    assert math.isfinite(big) and big == math.ldexp(small, 1000)
    assert big == math.ldexp(float(np.sqrt(np.mean(x * x))), 960)
    assert math.isnan(root_mean_square(np.array([1.0, math.nan])))
