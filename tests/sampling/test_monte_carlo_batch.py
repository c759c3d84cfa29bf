"""monte_carlo_kl on GaussianBatch: one stream per pair, each entry bit-identical to the one-pair call."""

from __future__ import annotations

import numpy as np
import pytest
from batches import KINDS, batch

from mcverify import Gaussian, GaussianBatch, MonteCarloResult, kl_divergence, monte_carlo_kl
from mcverify.sampling.seeding import case_seed


def assert_entries_match(res, p, q, samples):
    pick = lambda g, i: g[i] if isinstance(g, GaussianBatch) else g  # noqa: E731
    for i in range(len(res)):
        one = monte_carlo_kl(pick(p, i), pick(q, i), samples, seed=int(res.seeds[i]))
        assert res[i] == one
        assert isinstance(res[i], MonteCarloResult)


@pytest.mark.parametrize("kp", KINDS)
@pytest.mark.parametrize("kq", KINDS)
def test_every_kind_both_directions_bit_identical(kp, kq):
    rng = np.random.default_rng(abs(hash((kp, kq))) % 2**32)
    d = 1 if "univariate" in (kp, kq) else 3
    p, q = batch(rng, kp, 6, d), batch(rng, kq, 6, d, "var")
    for a, b in ((p, q), (q, p), (p, q[2]), (q[1], p)):
        res = monte_carlo_kl(a, b, 500, seed=42)
        assert len(res) == 6 and res.estimate.shape == (6,)
        assert_entries_match(res, a, b, 500)


def test_pair_seeds_are_the_sweep_case_seeds():
    p = GaussianBatch(np.zeros(4), std=np.full(4, 2.0))
    q = Gaussian(0.0, std=1.0)
    res = monte_carlo_kl(p, q, 100, seed=7)
    assert [int(s) for s in res.seeds] == [case_seed(7, i) for i in range(4)]
    # several chunks (more than 10,000 draws) take the same path as one pair
    res = monte_carlo_kl(p, q, 25_001, seed=np.array([3, 1, 4, 1]))
    assert res.seeds.tolist() == [3, 1, 4, 1]
    assert_entries_match(res, p, q, 25_001)


def test_batched_estimates_cover_the_closed_form_at_the_stated_rate():
    """200 pairs at 95%: the number of intervals missing the truth is Binomial(200, 0.05)."""
    rng = np.random.default_rng(1)
    p, q = batch(rng, "diagonal", 200, 2), batch(rng, "diagonal", 200, 2)
    res = monte_carlo_kl(p, q, 2000, seed=11)
    truth = kl_divergence(p, q)
    misses = int(np.sum((truth < res.ci_low) | (truth > res.ci_high)))
    # mean 10, sd sqrt(200 * 0.05 * 0.95) = 3.08: four standard deviations either side
    assert abs(misses - 10) <= 4 * 3.08


def test_fresh_entropy_without_a_seed_and_bad_seeds():
    p = GaussianBatch(np.zeros(3), std=np.ones(3))
    a, b = monte_carlo_kl(p, p[0], 10, seed=None), monte_carlo_kl(p, p[0], 10, seed=None)
    assert not np.array_equal(a.seeds, b.seeds)
    with pytest.raises(ValueError, match="seed for a batch must be"):
        monte_carlo_kl(p, p[0], 10, seed=[1, 2])
    with pytest.raises(ValueError, match="samples must be an integer >= 2"):
        monte_carlo_kl(p, p[0], 1, seed=1)
