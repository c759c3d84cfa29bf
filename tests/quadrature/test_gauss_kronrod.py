"""mcverify.quadrature.gauss_kronrod: QUADPACK's qk21 rule, checked against QUADPACK itself."""

from __future__ import annotations

import math

import mpmath
import numpy as np
import pytest
from scipy import integrate

from mcverify.quadrature.gauss_kronrod import NODES, WEIGHTS_GAUSS, WEIGHTS_KRONROD, normal_tail_moments, qk21


def test_rule_constants():
    x, w = np.polynomial.legendre.leggauss(10)
    gauss = WEIGHTS_GAUSS > 0
    assert np.allclose(NODES[gauss], np.sort(x), rtol=0, atol=1e-15)
    assert np.allclose(WEIGHTS_GAUSS[gauss], w[np.argsort(x)], rtol=0, atol=1e-15)
    assert np.all(np.diff(NODES) > 0) and NODES[10] == 0.0
    assert math.isclose(WEIGHTS_KRONROD.sum(), 2.0, rel_tol=1e-15)


@pytest.mark.parametrize("degree", [0, 5, 19, 31])
def test_exact_for_polynomials(degree):
    # Kronrod's 21 points integrate degree 31 exactly, Gauss's 10 degree 19.
    f = lambda t: t**degree + 0.5 * t ** max(degree - 1, 0)  # noqa: E731
    exact = (1 - (-1) ** (degree + 1)) / (degree + 1) + 0.5 * (1 - (-1) ** max(degree, 1)) / max(degree, 1)
    v, _ = qk21(f, np.array([-1.0]), np.array([1.0]))
    assert v[0] == pytest.approx(exact, rel=1e-14, abs=1e-14)


INTEGRANDS = {
    "exp": (np.exp, 0.0, 1.0),
    "phi t^2": (lambda t: np.exp(-t * t / 2) * t * t, 0.0, 8.0),
    "sin": (np.sin, 0.0, 30.0),
    "runge": (lambda t: 1 / (1 + t * t), -5.0, 5.0),
    "reversed": (np.cos, 2.0, -1.0),
}


@pytest.mark.parametrize("name", INTEGRANDS)
def test_one_panel_is_quadpack_qk21(name):
    # quad with limit=1 applies qk21 once to the whole interval and reports its estimate.
    f, a, b = INTEGRANDS[name]
    v, e = qk21(f, np.array([a]), np.array([b]))
    ref = integrate.quad(f, a, b, limit=1, full_output=1)
    assert v[0] == pytest.approx(ref[0], rel=1e-14, abs=1e-15)
    assert e[0] == pytest.approx(ref[1], rel=1e-12)


def test_panels_vectorise_and_zero_width_panels_vanish():
    a = np.array([[0.0, 1.0, 2.0], [3.0, 3.0, 3.0]])
    b = np.array([[1.0, 2.0, 3.0], [3.0, 3.0, 3.0]])
    v, e = qk21(np.exp, a, b)
    assert v.shape == (2, 3)
    assert np.sum(v[0]) == pytest.approx(math.e**3 - 1, rel=1e-15)
    assert np.all(v[1] == 0.0) and np.all(e[1] == 0.0)


@pytest.mark.parametrize("t", [0.0, 1.5, 12.0, 30.0])
def test_normal_tail_moments_against_mpmath(t):
    mpmath.mp.dps = 40
    moments = normal_tail_moments(np.array([t]), 4)
    for k in range(5):
        exact = mpmath.quad(lambda x, k=k: x**k * mpmath.npdf(x), [t, mpmath.inf])
        assert float(moments[k][0]) == pytest.approx(float(exact), rel=1e-13)
