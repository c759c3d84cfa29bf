"""Properties of the closed form; its accuracy grid is in test_closed_form_reference.py."""

import math

import numpy as np
import pytest
from conftest import random_spd

from mcverify import Gaussian, kl_divergence


def textbook(m1, s1, m2, s2):
    return math.log(s2 / s1) + (s1**2 + (m1 - m2) ** 2) / (2 * s2**2) - 0.5


def test_known_value():
    assert kl_divergence(Gaussian(0.0, std=2.0), Gaussian(0.0, std=1.0)) == pytest.approx(
        0.5 * (4.0 - 1.0 - math.log(4.0)), rel=1e-15
    )


def test_zero_exactly_at_equality(full_pair):
    p, _ = full_pair
    for g in (Gaussian(0.3, std=0.7), Gaussian([1.0, 2.0], var=[0.1, 3.0]), p):
        assert kl_divergence(g, g) == 0.0


def test_agrees_with_textbook_where_textbook_is_accurate(rng):
    for _ in range(200):
        m1, m2 = rng.normal(size=2)
        s1, s2 = np.exp(rng.uniform(-2, 2, size=2))
        assert kl_divergence(Gaussian(m1, std=s1), Gaussian(m2, std=s2)) == pytest.approx(
            textbook(m1, s1, m2, s2), rel=1e-12, abs=1e-15
        )


def test_near_equal_keeps_relative_accuracy():
    # KL(N(0,(1+e)^2) || N(0,1)) = e^2 - 2e^3/3 + ... ; the textbook formula returns ~0 noise.
    for e in (1e-6, 1e-9, 1e-12):
        s = 1.0 + e
        e_exact = math.fsum([s, -1.0])  # the exactly representable perturbation
        expected = e_exact**2 - 2 * e_exact**3 / 3 + e_exact**4 / 2
        got = kl_divergence(Gaussian(0.0, std=s), Gaussian(0.0, std=1.0))
        assert got == pytest.approx(expected, rel=1e-12)
    # What we guard against: the textbook form has no correct digit left there.
    assert abs(textbook(0.0, 1.0 + 1e-12, 0.0, 1.0) - expected) > 0.5 * expected


def test_representations_agree():
    a = kl_divergence(Gaussian([0.0, 1.0], std=[2.0, 0.5]), Gaussian([1.0, 0.0], std=[1.0, 3.0]))
    b = kl_divergence(Gaussian([0.0, 1.0], var=[4.0, 0.25]), Gaussian([1.0, 0.0], var=[1.0, 9.0]))
    c = kl_divergence(Gaussian([0.0, 1.0], cov=np.diag([4.0, 0.25])), Gaussian([1.0, 0.0], cov=np.diag([1.0, 9.0])))
    assert a == pytest.approx(b, rel=1e-15) and a == pytest.approx(c, rel=1e-14)


def test_diagonal_is_sum_of_univariate(rng):
    d = 1000
    mp, mq = rng.normal(size=d), rng.normal(size=d)
    sp, sq = np.exp(rng.uniform(-3, 3, d)), np.exp(rng.uniform(-3, 3, d))
    total = kl_divergence(Gaussian(mp, std=sp), Gaussian(mq, std=sq))
    parts = [kl_divergence(Gaussian(a, std=b), Gaussian(c, std=e)) for a, b, c, e in zip(mp, sp, mq, sq)]
    assert total == pytest.approx(math.fsum(parts), rel=1e-14)


def test_invariant_under_common_affine_map(rng, full_pair):
    p, q = full_pair
    a = rng.standard_normal((5, 5)) + 3 * np.eye(5)
    shift = rng.normal(size=5)

    def mapped(g):
        c = a @ g.cov @ a.T
        return Gaussian(a @ g.mean + shift, cov=0.5 * (c + c.T))

    assert kl_divergence(mapped(p), mapped(q)) == pytest.approx(kl_divergence(p, q), rel=1e-10)


def test_ill_conditioned_full_covariance_is_finite_and_positive(rng):
    p = Gaussian(np.zeros(20), cov=random_spd(rng, 20, 1e8))
    q = Gaussian(np.ones(20), cov=random_spd(rng, 20, 1e8))
    kl = kl_divergence(p, q)
    assert math.isfinite(kl) and kl > 0


def test_extreme_scales_do_not_overflow():
    for scale in (1e-150, 1e150):
        p, q = Gaussian(0.0, std=2 * scale), Gaussian(scale, std=scale)
        assert kl_divergence(p, q) == pytest.approx(textbook(0.0, 2.0, 1.0, 1.0), rel=1e-14)
        p, q = Gaussian([0.0, 0.0], cov=np.eye(2) * 4 * scale**2), Gaussian([0.0, 0.0], var=[scale**2] * 2)
        assert kl_divergence(p, q) == pytest.approx(2 * textbook(0.0, 2.0, 0.0, 1.0), rel=1e-14)


def test_dimension_mismatch():
    with pytest.raises(ValueError, match="dimension 2 but q has dimension 3"):
        kl_divergence(Gaussian([0.0, 0.0], std=1.0), Gaussian([0.0, 0.0, 0.0], std=1.0))
