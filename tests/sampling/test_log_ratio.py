import numpy as np
import pytest
from conftest import random_spd
from scipy import stats

from mcverify import Gaussian
from mcverify.sampling.log_ratio import LogRatio


def pairs():
    rng = np.random.default_rng(5)
    yield Gaussian(0.3, std=2.0), Gaussian(-1.0, std=0.5)
    yield Gaussian([0.0, 1.0, 2.0], std=[1.0, 2.0, 0.5]), Gaussian([1.0, 1.0, 1.0], var=[1.0, 3.0, 1.0])
    yield (
        Gaussian(rng.normal(size=4), cov=random_spd(rng, 4, 50.0)),
        Gaussian(rng.normal(size=4), cov=random_spd(rng, 4, 5.0)),
    )
    yield Gaussian(np.zeros(3), std=[1.0, 2.0, 3.0]), Gaussian(np.ones(3), cov=random_spd(rng, 3, 10.0))


@pytest.mark.parametrize("p, q", list(pairs()))
def test_matches_scipy_log_densities(p, q):
    ratio = LogRatio.of(p, q)
    z = np.random.default_rng(1).standard_normal((500, p.dim))
    x = p.mean + z @ p.cholesky.T
    if p.dim == 1:
        direct = stats.norm.logpdf(x[:, 0], p.mean[0], p.stddevs[0]) - stats.norm.logpdf(
            x[:, 0], q.mean[0], q.stddevs[0]
        )
    else:
        direct = stats.multivariate_normal.logpdf(x, p.mean, p.covariance) - stats.multivariate_normal.logpdf(
            x, q.mean, q.covariance
        )
    out = np.empty(500)
    ratio.evaluate(z.copy(), out)
    np.testing.assert_allclose(out + ratio.shift, direct, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("p, q", list(pairs()))
def test_even_part_is_the_antithetic_pair_average(p, q):
    ratio = LogRatio.of(p, q)
    z = np.random.default_rng(2).standard_normal((300, p.dim))
    plus, minus, even = np.empty(300), np.empty(300), np.empty(300)
    ratio.evaluate(z.copy(), plus)
    ratio.evaluate(-z, minus)
    ratio.even(z.copy(), even)
    np.testing.assert_allclose(even, 0.5 * (plus + minus), rtol=1e-12, atol=1e-12)


def test_dimension_mismatch():
    with pytest.raises(ValueError, match="dimension"):
        LogRatio.of(Gaussian([0.0, 0.0], std=1.0), Gaussian(0.0, std=1.0))
