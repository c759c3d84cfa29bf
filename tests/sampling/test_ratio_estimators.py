import math

import numpy as np
import pytest
from conftest import random_spd

from mcverify import Gaussian, kl_divergence, monte_carlo_kl
from mcverify.sampling.ratio_estimators import k3_variance_is_finite, ratio_estimators

Z_MAX = 5.0


def test_k1_is_plain_monte_carlo_on_the_same_draws():
    for p, q, n in [
        (Gaussian(0.3, std=2.0), Gaussian(0.0, std=1.0), 20_001),
        (Gaussian([0.0, 1.0], cov=[[1.0, 0.5], [0.5, 2.0]]), Gaussian([0.0, 0.0], var=[1.0, 1.0]), 70_001),
    ]:
        k = ratio_estimators(p, q, n, seed=8)
        mc = monte_carlo_kl(p, q, n, seed=8)
        assert k.k1.estimate == pytest.approx(mc.estimate, rel=1e-10)
        assert k.k1.stderr == pytest.approx(mc.stderr, rel=1e-9)


def test_k2_is_biased_by_half_the_variance_and_k3_is_unbiased():
    # N(0.5, 1.2^2) vs N(0, 1): r = 1.2, c = 0.5, llr = const + 0.22 z^2 + 0.6 z.
    # Var llr = 0.22^2 * 2 + 0.6^2 = 0.4568 (independent derivation), E k2 = (Var + KL^2) / 2.
    p, q = Gaussian(0.5, std=1.2), Gaussian(0.0, std=1.0)
    kl = kl_divergence(p, q)
    k = ratio_estimators(p, q, 400_000, seed=2)
    assert k.k3_finite_variance
    for est in (k.k1, k.k3):
        assert abs(est.z_score(kl)) < Z_MAX
    assert abs(k.k2.z_score(0.5 * (0.4568 + kl * kl))) < Z_MAX
    assert k.k2.z_score(kl) > Z_MAX  # the bias is visible at this sample size
    assert k.k3.stderr < k.k1.stderr  # close pair: k3 has the smaller variance
    assert k.k2.estimate >= 0 and k.k3.estimate >= 0


def test_k3_variance_condition():
    # Finite iff every singular value of L_q^{-1} L_p exceeds 1/sqrt(2).
    q = Gaussian(0.0, std=1.0)
    assert k3_variance_is_finite(Gaussian(0.0, std=0.71), q)
    assert not k3_variance_is_finite(Gaussian(0.0, std=0.70), q)
    p2, q2 = Gaussian([0.0, 0.0], std=[2.0, 0.6]), Gaussian([0.0, 0.0], std=[1.0, 1.0])
    assert not k3_variance_is_finite(p2, q2)
    # The same pair written with full covariances gives the same answer.
    assert not k3_variance_is_finite(
        Gaussian([0.0, 0.0], cov=np.diag([4.0, 0.36])), Gaussian([0.0, 0.0], cov=np.eye(2))
    )
    rng = np.random.default_rng(1)
    c = random_spd(rng, 3, 4.0)
    assert k3_variance_is_finite(Gaussian(np.zeros(3), cov=c), Gaussian(np.zeros(3), cov=c))


def test_k3_with_infinite_variance_is_flagged():
    # p = N(0, 0.5^2), q = N(0, 1): E_p[r^2] = int q^2 / p diverges (0.5 < 1/sqrt 2);
    # k3's sample standard deviation then estimates an infinite quantity.
    p, q = Gaussian(0.0, std=0.5), Gaussian(0.0, std=1.0)
    k = ratio_estimators(p, q, 50_000, seed=0)
    assert not k.k3_finite_variance
    assert k.k3.estimate >= 0 and math.isfinite(k.k3.estimate)
    assert k.k3.skewness > 10  # a few huge r values dominate: the heavy tail shows
