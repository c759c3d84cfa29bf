"""Pathwise Monte Carlo gradient against the exact gradient, within its standard error."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import norm

from mcverify.numerics.kl_gradients import diagonal_kl_gradient
from mcverify.sampling.pathwise import pathwise_kl_gradient

#: Two-sided level of each z-test; with 4 components x 4 cases, a false alarm has probability < 2e-4.
LEVEL = 1e-5
Z = float(norm.ppf(1 - LEVEL / 2))


@pytest.mark.parametrize(
    ("mp", "sp", "mq", "sq"),
    [(0.0, 1.0, 0.0, 1.0), (0.3, 0.7, -1.2, 1.9), (2.0, 0.05, 0.0, 3.0), (-1.0, 4.0, 1.0, 0.5)],
)
def test_pathwise_gradient_agrees_with_exact_within_its_standard_error(
    mp: float, sp: float, mq: float, sq: float
) -> None:
    est = pathwise_kl_gradient(mp, sp, mq, sq, samples=50_000, seed=12345)
    exact_std = diagonal_kl_gradient(np.array([mp]), np.array([sp]), np.array([mq]), np.array([sq]), scale="std")
    exact_var = diagonal_kl_gradient(
        np.array([mp]), np.array([sp * sp]), np.array([mq]), np.array([sq * sq]), scale="var"
    )
    exact = (exact_std.grads[0][0], exact_std.grads[1][0], exact_std.grads[2][0], exact_var.grads[3][0])
    for k in range(4):
        slack = Z * est.stderr[k] + 1e-12 * (1 + abs(exact[k]))  # p = q: some components have no variance
        assert abs(est.estimate[k] - exact[k]) <= slack, (k, est.estimate[k], exact[k], est.stderr[k])


def test_pathwise_gradient_detects_a_wrong_gradient() -> None:
    est = pathwise_kl_gradient(0.3, 0.7, -1.2, 1.9, samples=50_000, seed=1)
    wrong = 2 * 0.3 / 1.9**2  # the mean gradient with a factor 2 too many (delta would be 1.5)
    assert abs(est.estimate[0] - wrong) > 10 * est.stderr[0]


def test_pathwise_gradient_is_reproducible_and_chunked() -> None:
    a = pathwise_kl_gradient(0.1, 1.3, 0.0, 1.0, samples=70_000, seed=7)
    b = pathwise_kl_gradient(0.1, 1.3, 0.0, 1.0, samples=70_000, seed=7)
    assert a == b and a.samples == 70_000


def test_bad_input() -> None:
    with pytest.raises(ValueError, match="samples"):
        pathwise_kl_gradient(0.0, 1.0, 0.0, 1.0, samples=1, seed=0)
    with pytest.raises(ValueError, match="positive"):
        pathwise_kl_gradient(0.0, -1.0, 0.0, 1.0, samples=10, seed=0)
