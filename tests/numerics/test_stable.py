"""The scaling helpers of numerics/stable.py: exponents of powers of two, and root mean squares in scaled form."""

from __future__ import annotations

import math

import numpy as np
import pytest

from mcverify.numerics.stable import SAFE_EXPONENT, fsum_rows, root_mean_square, scale_exponent


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


def _fsums(terms):
    out = []
    for row in terms.tolist():
        try:
            out.append(math.fsum(row))
        except OverflowError:
            out.append(math.inf)
    return np.array(out)


def _same_bits(a, b):
    return a.shape == b.shape and a.tobytes() == b.tobytes()


@pytest.mark.parametrize("seed", range(6))
def test_fsum_rows_is_math_fsum_bit_for_bit(seed):
    """Random non-negative rows over many binades, rows at a rounding tie, zeros, NaN, inf, negatives, overflow."""
    rng = np.random.default_rng(seed)
    m, n = 400, 1 + 13 * seed
    cases = [
        rng.random((m, n)),
        np.exp(rng.normal(0.0, 20.0, (m, n))),
        rng.random((m, n)) * 10.0 ** rng.integers(-320, 309, (m, 1)).astype(float),
        np.ldexp(rng.integers(0, 2**10, (m, n)).astype(float), rng.integers(-60, 5, (m, n))),
    ]
    ties = np.zeros((m, n + 1))
    ties[:, 0] = 1.0 + 2.0**-52 * rng.integers(0, 2, m)  # odd or even last bit
    ties[:, 1:] = 2.0**-54 * rng.integers(0, 3, (m, n))  # exactly half an ulp, and more, in pieces
    cases.append(ties)
    odd = rng.random((m, n))
    odd[rng.random((m, n)) < 0.05] *= -1.0
    odd[rng.random((m, n)) < 0.05] = np.nan
    odd[rng.random((m, n)) < 0.05] = np.inf
    odd[rng.random((m, n)) < 0.1] = 0.0
    odd[rng.random((m, n)) < 0.05] = 1.7e308
    cases += [odd, np.zeros((m, n)), -np.zeros((m, n))]
    for terms in cases:
        with np.errstate(all="ignore"):
            assert _same_bits(fsum_rows(terms), _fsums(terms))


def test_fsum_rows_takes_the_fallback_only_near_a_tie():
    """1 + 2^-53 (a tie) and 1 + 2^-53 + 2^-150 (just above it) round differently; both are fsum's."""
    terms = np.array([[1.0, 2.0**-53, 0.0], [1.0, 2.0**-53, 2.0**-150], [1.0, 2.0**-54, 2.0**-54]])
    assert fsum_rows(terms).tolist() == [1.0, 1.0 + 2.0**-52, 1.0]
    with pytest.raises(ValueError):  # as math.fsum: inf - inf
        fsum_rows(np.array([[np.inf, -np.inf]]))
