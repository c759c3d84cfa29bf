"""quadrature_kl on GaussianBatch: per-pair quad for d > 1 (bit-identical), fixed panels for univariate pairs."""

from __future__ import annotations

import numpy as np
import pytest
from batches import KINDS, batch

from mcverify import Gaussian, GaussianBatch, QuadratureError, QuadratureResult, kl_divergence, quadrature_kl


@pytest.mark.parametrize("method", ["reduced", "direct"])
@pytest.mark.parametrize("kp", KINDS[1:])
@pytest.mark.parametrize("kq", KINDS[1:])
def test_multivariate_entries_are_bit_identical_both_directions(method, kp, kq):
    rng = np.random.default_rng(abs(hash((method, kp, kq))) % 2**32)
    n = 2 if method == "direct" else 3  # nested quad: ~0.1 s a pair
    p, q = batch(rng, kp, n, 2), batch(rng, kq, n, 2, "var")
    for a, b in ((p, q), (q, p), (p, q[0])):
        res = quadrature_kl(a, b, method=method)
        assert not res.panels.any()
        for i in range(n):
            one = quadrature_kl(a[i], b if isinstance(b, Gaussian) else b[i], method=method)
            assert res[i] == one and isinstance(res[i], QuadratureResult)


@pytest.mark.parametrize("method", ["reduced", "direct"])
def test_univariate_entries_agree_with_quad_within_both_error_estimates(method):
    rng = np.random.default_rng(2)
    p, q = batch(rng, "univariate", 40, 1), batch(rng, "univariate", 40, 1, "var")
    for a, b in ((p, q), (q, p), (p, q[5])):
        res = quadrature_kl(a, b, method=method)
        truth = kl_divergence(a, b)
        for i in range(40):
            one = quadrature_kl(a[i], b if isinstance(b, Gaussian) else b[i], method=method)
            if res[i].reliable and one.reliable:
                assert abs(res.value[i] - one.value) <= res.error[i] + one.error
                assert abs(res.value[i] - truth[i]) <= res.error[i] + 4 * np.finfo(float).eps * truth[i]
            if not res.panels[i]:  # handed to quad itself
                assert (res.value[i], res.error[i], res.reliable[i]) == (one.value, one.error, one.reliable)


def test_strict_names_the_batch_index_and_bad_arguments_fail_once():
    p = GaussianBatch(np.zeros(2), std=np.array([1.0, 1e-3]))
    q = Gaussian(1e6, std=1.0)
    res = quadrature_kl(p, q, rtol=1e-15)
    if not res.reliable.all():
        with pytest.raises(QuadratureError, match="at batch index"):
            quadrature_kl(p, q, rtol=1e-15, strict=True)
    with pytest.raises(ValueError, match="rtol must be a number in"):
        quadrature_kl(p, q, rtol=2.0)
    d3 = GaussianBatch(np.zeros((2, 3)), std=np.ones((2, 3)))
    with pytest.raises(ValueError, match='method="direct"'):
        quadrature_kl(d3, d3, method="direct")
