"""Pathwise Monte Carlo gradient against the exact gradient, within its standard error."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import norm

from mcverify.numerics.kl_gradients import diagonal_kl_gradient, mvn_kl_gradient
from mcverify.sampling.pathwise import pathwise_kl_gradient, pathwise_mvn_kl_gradient

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


# ------------------------------------------------------------ full covariances
def _rotated(eigenvalues: list[float], seed: int) -> np.ndarray:
    """``Q diag(eigenvalues) Q^T`` with ``Q`` a random rotation: a covariance of known condition number."""
    q, _ = np.linalg.qr(np.random.default_rng(seed).standard_normal((len(eigenvalues), len(eigenvalues))))
    return (q * np.asarray(eigenvalues)) @ q.T


MVN_CASES = [
    # d = 2: well conditioned, distinct means
    (np.array([0.3, -1.0]), _rotated([0.5, 2.0], 1), np.array([-0.4, 0.2]), _rotated([1.0, 3.0], 2)),
    # d = 3: p = q (the covariance gradients are 0 in expectation, not per draw)
    (np.zeros(3), _rotated([0.2, 1.0, 4.0], 3), np.zeros(3), _rotated([0.2, 1.0, 4.0], 3)),
    # d = 3: ill conditioned (condition numbers 1e6 and 1e5), differently rotated
    (
        np.array([1.0, 0.0, -2.0]),
        _rotated([1e-4, 1.0, 100.0], 4),
        np.array([0.5, 0.5, 0.5]),
        _rotated([1e-3, 0.1, 100.0], 5),
    ),
    # d = 5: a narrow p inside a wide, correlated q
    (np.linspace(-1, 1, 5), _rotated([1e-3, 0.01, 0.1, 1.0, 10.0], 6), np.zeros(5), _rotated([0.5, 1, 2, 4, 8], 7)),
]
#: Family-wise level over every entry of every case above; Bonferroni gives each z-test its share.
FAMILY_LEVEL = 1e-4
N_ENTRIES = sum(2 * len(m) + 2 * len(m) ** 2 for m, *_ in MVN_CASES)
Z_MVN = float(norm.ppf(1 - FAMILY_LEVEL / N_ENTRIES / 2))
MVN_SAMPLES = 20_000


def _rounding(mp: np.ndarray, cp: np.ndarray, mq: np.ndarray, cq: np.ndarray) -> float:
    """``d u kappa max|terms|``: the rounding of Cholesky solves (Higham 2002, sec. 10.1), far below any stderr."""
    exact = mvn_kl_gradient(mp, cp, mq, cq)
    kappa = max(np.linalg.cond(cp), np.linalg.cond(cq))
    return len(mp) * np.finfo(float).eps * kappa * max(float(np.max(m)) for m in exact.magnitudes)


@pytest.mark.parametrize("case", range(len(MVN_CASES)))
def test_mvn_pathwise_gradient_agrees_with_exact_within_its_standard_error(case: int) -> None:
    mp, cp, mq, cq = MVN_CASES[case]
    est = pathwise_mvn_kl_gradient(mp, cp, mq, cq, samples=MVN_SAMPLES, seed=2024 + case)
    exact = mvn_kl_gradient(mp, cp, mq, cq)  # symmetric covariance gradients, the same convention
    slack_rounding = _rounding(mp, cp, mq, cq)
    for k, name in enumerate(("mean_p", "cov_p", "mean_q", "cov_q")):
        assert est.estimate[k].shape == exact.grads[k].shape == est.stderr[k].shape
        assert np.all(est.stderr[k] > 0), name  # every entry varies from draw to draw, even at p = q
        off = np.abs(est.estimate[k] - exact.grads[k])
        assert np.all(off <= Z_MVN * est.stderr[k] + slack_rounding), (name, off / est.stderr[k])
    np.testing.assert_array_equal(est.estimate[1], est.estimate[1].T)
    np.testing.assert_array_equal(est.estimate[3], est.estimate[3].T)


def test_mvn_pathwise_gradient_tells_the_symmetric_convention_from_the_unique_entry_one() -> None:
    """``2 G - diag(G)`` (derivative in the free entries of one triangle) doubles the off-diagonal: detected."""
    mp, cp, mq, cq = MVN_CASES[0]
    est = pathwise_mvn_kl_gradient(mp, cp, mq, cq, samples=MVN_SAMPLES, seed=99)
    exact = mvn_kl_gradient(mp, cp, mq, cq)
    for k in (1, 3):
        unique = 2 * exact.grads[k] - np.diag(np.diag(exact.grads[k]))
        z = np.abs(est.estimate[k] - unique) / est.stderr[k]
        assert z[0, 1] > Z_MVN, (k, z)


def test_mvn_pathwise_gradient_in_one_dimension_is_the_univariate_one() -> None:
    """d = 1 draws the same z: d/d var_p = (d/d std_p) / (2 std_p), the rest equal, to rounding."""
    uni = pathwise_kl_gradient(0.3, 0.7, -1.2, 1.9, samples=30_000, seed=5)
    mvn = pathwise_mvn_kl_gradient([0.3], [[0.49]], [-1.2], [[1.9**2]], samples=30_000, seed=5)
    got = [float(a.ravel()[0]) for a in mvn.estimate]
    want = [uni.estimate[0], uni.estimate[1] / (2 * 0.7), uni.estimate[2], uni.estimate[3]]
    np.testing.assert_allclose(got, want, rtol=1e-12)
    np.testing.assert_allclose(float(mvn.stderr[1][0, 0]), uni.stderr[1] / (2 * 0.7), rtol=1e-9)


def test_mvn_pathwise_gradient_is_reproducible_and_chunked() -> None:
    mp, cp, mq, cq = MVN_CASES[3]  # d = 5: 2,621 draws per chunk, so 7,000 draws take three chunks
    a = pathwise_mvn_kl_gradient(mp, cp, mq, cq, samples=7_000, seed=3)
    b = pathwise_mvn_kl_gradient(mp, cp, mq, cq, samples=7_000, seed=3)
    assert a.samples == 7_000
    for x, y in zip(a.estimate + a.stderr, b.estimate + b.stderr, strict=True):
        np.testing.assert_array_equal(x, y)


def test_mvn_bad_input() -> None:
    eye = np.eye(2)
    with pytest.raises(ValueError, match="samples"):
        pathwise_mvn_kl_gradient(np.zeros(2), eye, np.zeros(2), eye, samples=1, seed=0)
    with pytest.raises(ValueError, match="shape"):
        pathwise_mvn_kl_gradient(np.zeros(3), eye, np.zeros(2), eye, samples=10, seed=0)
    with pytest.raises(ValueError, match="positive definite"):
        pathwise_mvn_kl_gradient(np.zeros(2), -eye, np.zeros(2), eye, samples=10, seed=0)
