"""Exact KL gradients against central differences of KL in mpmath at 50 digits."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from mcverify.numerics.kl_gradients import diagonal_kl_gradient, mvn_kl_gradient, symmetric_part

mpmath = pytest.importorskip("mpmath")
mp = mpmath.mp

#: Step of the central differences: error O(h^2) ~ 1e-40 relative at 50 digits.
H = mpmath.mpf("1e-20")


def _var(scale: str, x: object) -> object:
    x = mpmath.mpf(x)
    return {"std": x * x, "var": x, "logvar": mpmath.exp(x), "logstd": mpmath.exp(2 * x)}[scale]


def _kl_1d(scale: str, mp_: object, sp: object, mq: object, sq: object) -> object:
    vp, vq = _var(scale, sp), _var(scale, sq)
    d = mpmath.mpf(mp_) - mpmath.mpf(mq)
    return (vp / vq - 1 - mpmath.log(vp / vq) + d * d / vq) / 2


POINTS = [
    (0.0, 1.0, 0.0, 1.0),  # p = q
    (0.3, 0.7, -1.2, 1.9),
    (1e3, 1e-2, 0.0, 1e2),
    (-2.0, 5.0, -2.0, 0.25),
]


@pytest.mark.parametrize("scale", ["std", "var", "logvar", "logstd"])
@pytest.mark.parametrize("point", POINTS)
def test_diagonal_gradient_matches_mpmath_differences(scale: str, point: tuple[float, ...]) -> None:
    mean_p, std_p, mean_q, std_q = point
    conv = {
        "std": lambda s: s,
        "var": lambda s: s * s,
        "logvar": lambda s: 2 * np.log(s),
        "logstd": lambda s: np.log(s),
    }[scale]
    args = [mean_p, float(conv(std_p)), mean_q, float(conv(std_q))]
    g = diagonal_kl_gradient(*(np.array([a]) for a in args), scale=scale)
    with mp.workdps(50):
        for k in range(4):
            hi = [mpmath.mpf(a) for a in args]
            lo = list(hi)
            hi[k] += H
            lo[k] -= H
            fd = (_kl_1d(scale, *hi) - _kl_1d(scale, *lo)) / (2 * H)
            exact = float(fd)
            # float64 evaluation of the formulas: a few roundings of the magnitude
            assert abs(g.grads[k][0] - exact) <= 8 * np.finfo(float).eps * g.magnitudes[k][0], (k, g.grads[k], exact)
            assert g.magnitudes[k][0] >= abs(exact) * (1 - 1e-12)


def test_diagonal_gradient_is_zero_at_p_equal_q_exactly() -> None:
    for scale in ("std", "var", "logvar", "logstd"):
        x = np.array([0.37, 1.0, 2.5])
        g = diagonal_kl_gradient(x, x, x, x, scale=scale)  # type: ignore[arg-type]
        for gk in g.grads:
            assert np.all(gk == 0.0)


def test_unknown_scale_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown scale"):
        diagonal_kl_gradient(np.zeros(1), np.ones(1), np.zeros(1), np.ones(1), scale="cov")  # type: ignore[arg-type]


def _kl_mvn(mp_: object, cp: object, mq: object, cq: object) -> object:
    d = len(mp_)
    delta = mpmath.matrix([mpmath.mpf(a) - mpmath.mpf(b) for a, b in zip(mp_, mq, strict=True)])
    iq = cq**-1
    tr = sum((iq * cp)[i, i] for i in range(d))
    quad = (delta.T * iq * delta)[0, 0]
    return (tr + quad - d + mpmath.log(mpmath.det(cq)) - mpmath.log(mpmath.det(cp))) / 2


@pytest.mark.parametrize("seed", [0, 1])
def test_mvn_gradient_matches_mpmath_directional_differences(seed: int) -> None:
    rng = np.random.default_rng(seed)
    d = 3
    a, b = rng.standard_normal((d, d)), rng.standard_normal((d, d))
    cp, cq = a @ a.T + 0.5 * np.eye(d), b @ b.T + 0.5 * np.eye(d)
    mp_, mq = rng.standard_normal(d), rng.standard_normal(d)
    g = mvn_kl_gradient(mp_, cp, mq, cq)
    args = [list(mp_), cp, list(mq), cq]
    with mp.workdps(50):
        base = [mpmath.matrix(cp.tolist()), mpmath.matrix(cq.tolist())]
        for k in (0, 2):
            for i in range(d):
                hi = [list(map(mpmath.mpf, args[0])), list(map(mpmath.mpf, args[2]))]
                lo = [list(hi[0]), list(hi[1])]
                hi[k // 2][i] += H
                lo[k // 2][i] -= H
                fd = (_kl_mvn(hi[0], base[0], hi[1], base[1]) - _kl_mvn(lo[0], base[0], lo[1], base[1])) / (2 * H)
                assert abs(g.grads[k][i] - float(fd)) <= 64 * np.finfo(float).eps * g.magnitudes[k][i]
        for k, c in ((1, 0), (3, 1)):
            for i, j in itertools.combinations_with_replacement(range(d), 2):
                e = mpmath.zeros(d, d)
                e[i, j] = 1
                e[j, i] = 1
                plus, minus = list(base), list(base)
                plus[c] = base[c] + H * e
                minus[c] = base[c] - H * e
                fd = (_kl_mvn(args[0], plus[0], args[2], plus[1]) - _kl_mvn(args[0], minus[0], args[2], minus[1])) / (
                    2 * H
                )
                # a symmetric perturbation e_ij + e_ji: derivative <G, E> = 2 G_ij (G_ii on the diagonal)
                expect = float(fd) / (1 if i == j else 2)
                kappa = np.linalg.cond(cp if c == 0 else cq)
                assert abs(g.grads[k][i, j] - expect) <= 256 * np.finfo(float).eps * g.magnitudes[k][i, j] * kappa
    assert np.array_equal(g.grads[1], g.grads[1].T) and np.array_equal(g.grads[3], g.grads[3].T)


def test_symmetric_part() -> None:
    g = np.array([[1.0, 2.0], [0.0, 3.0]])
    assert np.array_equal(symmetric_part(g), [[1.0, 1.0], [1.0, 3.0]])
