"""Tests for mcverify.quadrature.integration against an independent mpmath reference.

The reference is the exact Gaussian KL formula evaluated in mpmath with the
float inputs taken as exact numbers (their binary values), at 60 significant
digits (80 near p == q, where the divergence is 1e-24 and its terms 1e-12):

    univariate  KL = log(s2/s1) + (s1^2 + (m1 - m2)^2) / (2 s2^2) - 1/2
    full        KL = 1/2 [tr(S2^-1 S1) + dm^T S2^-1 dm - d + log det S2 - log det S1]

Nothing from mcverify's closed form is used.

What is asserted for every trusted result (see ``_check``):

1. ``reliable`` is True;
2. ``|value - ref| <= error + 4 eps |ref|``: the error estimate covers the
   actual error.  The floor is the rounding of the answer itself: the exact
   KL rounded to binary64 is 0.5 ulp away, ``math.fsum`` of the pieces adds
   at most another ulp;
3. from 1 and 2, ``|value - ref| / ref <= rtol + 4 eps`` (rtol = 1e-10): the
   contract.  We also assert the much tighter ``_REL`` = 1e-13 (~450 ulps),
   which is what this implementation achieves: over these cases and 3000
   random univariate ones the largest relative error seen is below 3e-15.
"""

from __future__ import annotations

import math
import time
import warnings

import mpmath as mp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import integrate

from mcverify.errors import QuadratureError
from mcverify.numerics.gaussian import Gaussian
from mcverify.quadrature import integration as quadrature
from mcverify.quadrature.integration import QuadratureResult, quadrature_kl

EPS = float(np.finfo(np.float64).eps)
RTOL = 1e-10
_REL = 1e-13


# ------------------------------------------------------------- reference
def _mp_var(g: Gaussian, i: int) -> mp.mpf:
    """Variance of coordinate i of a diagonal Gaussian, exactly as given."""
    if g.std is not None:
        return mp.mpf(float(g.std[i])) ** 2
    assert g.var is not None
    return mp.mpf(float(g.var[i]))


def ref_kl_diag(p: Gaussian, q: Gaussian, dps: int = 60) -> mp.mpf:
    """Exact KL between diagonal Gaussians: sum of univariate KLs."""
    with mp.workdps(dps):
        terms = []
        for i in range(p.dim):
            v1, v2 = _mp_var(p, i), _mp_var(q, i)
            dm = mp.mpf(float(p.mean[i])) - mp.mpf(float(q.mean[i]))
            terms.append(mp.log(v2 / v1) / 2 + (v1 + dm**2) / (2 * v2) - mp.mpf(1) / 2)
        return +mp.fsum(terms)


def _mp_cov(g: Gaussian) -> mp.matrix:
    if g.cov is not None:
        return mp.matrix([[mp.mpf(float(x)) for x in row] for row in g.cov])
    return mp.diag([_mp_var(g, i) for i in range(g.dim)])


def ref_kl_full(p: Gaussian, q: Gaussian, dps: int = 60) -> mp.mpf:
    """Exact KL with mpmath matrices: 1/2 [tr(S2^-1 S1) + dm' S2^-1 dm - d + log|S2| - log|S1|]."""
    with mp.workdps(dps):
        s1, s2 = _mp_cov(p), _mp_cov(q)
        d = p.dim
        dm = mp.matrix([mp.mpf(float(a)) - mp.mpf(float(b)) for a, b in zip(p.mean, q.mean)])
        s2_inv = mp.inverse(s2)
        tr = mp.fsum((s2_inv * s1)[i, i] for i in range(d))
        maha = (dm.T * s2_inv * dm)[0]
        return +((tr + maha - d + mp.log(mp.det(s2)) - mp.log(mp.det(s1))) / 2)


def _check(res: QuadratureResult, ref: mp.mpf, rel: float = _REL) -> float:
    """The three assertions of the module docstring; returns the relative error."""
    assert res.reliable, res.message
    assert res.message == ""
    err = abs(mp.mpf(res.value) - ref)
    assert err <= mp.mpf(res.error) + 4 * EPS * abs(ref), (res, float(ref))
    rel_err = float(err / abs(ref)) if ref != 0 else float(err)
    assert rel_err <= RTOL + 4 * EPS
    assert rel_err <= rel, (res, float(ref), rel_err)
    return rel_err


def _spd(d: int, cond: float, rng: np.random.Generator, scale: float = 1.0) -> np.ndarray:
    """Random SPD matrix Q diag(logspace(0, log10 cond)) Q^T times ``scale``."""
    qmat, _ = np.linalg.qr(rng.normal(size=(d, d)))
    s = (qmat * (scale * np.logspace(0.0, math.log10(cond), d))) @ qmat.T
    return 0.5 * (s + s.T)


# ------------------------------------------------------------ univariate
RATIOS = [1e-8, 1e-5, 1e-3, 0.1, 0.5, 0.9, 1.0, 1.5, 2.0, 10.0, 1e3, 1e5, 1e8]


@pytest.mark.parametrize("ratio", RATIOS)
@pytest.mark.parametrize("shift", [0.0, 0.3, 1.0, 5.0])
def test_std_ratios(ratio: float, shift: float) -> None:
    p, q = Gaussian(shift, std=ratio), Gaussian(0.0, std=1.0)
    _check(quadrature_kl(p, q), ref_kl_diag(p, q))


_SCALE_CASES = [
    (scale, ratio, form)
    for scale in (1e-150, 1e150)
    for ratio in (1e-8, 1e-3, 0.7, 1.0 + 1e-12, 3.0, 1e8)
    for form in ("std", "var")
    if form == "std" or (ratio * scale) * (ratio * scale) < math.inf  # 1e158**2 overflows
]


@pytest.mark.parametrize("scale, ratio, form", _SCALE_CASES)
def test_tiny_and_huge_scales(scale: float, ratio: float, form: str) -> None:
    # Variances near 1e-300 and 1e300 (and their ratios) must not under- or
    # overflow: everything is done with ratios of the scales.
    m_q = 2.0 * scale
    m_p = m_q + 0.4 * scale
    s_p, s_q = ratio * scale, scale
    if form == "std":
        p, q = Gaussian(m_p, std=s_p), Gaussian(m_q, std=s_q)
    else:
        p, q = Gaussian(m_p, var=s_p * s_p), Gaussian(m_q, var=s_q * s_q)
    _check(quadrature_kl(p, q), ref_kl_diag(p, q, dps=80))


def test_scales_far_apart() -> None:
    # s_p / s_q = 1e-300: r itself is representable, r**2 is not.
    p, q = Gaussian(0.0, std=1e-150), Gaussian(1e140, std=1e150)
    _check(quadrature_kl(p, q), ref_kl_diag(p, q))


@pytest.mark.parametrize("ratio", [1e-3, 1.0, 10.0])
def test_fifty_sigma_shift(ratio: float) -> None:
    for p, q in [
        (Gaussian(50.0, std=ratio), Gaussian(0.0, std=1.0)),
        (Gaussian(0.0, std=ratio), Gaussian(-50.0 * ratio, std=1.0)),
        (Gaussian(1e3, std=ratio), Gaussian(0.0, std=1.0)),
    ]:
        _check(quadrature_kl(p, q), ref_kl_diag(p, q))


def test_narrow_p_away_from_origin() -> None:
    # The case that fools quad over raw x (it reports 0 with error 0).
    p, q = Gaussian(0.3, std=1e-3), Gaussian(0.0, std=1.0)
    res = quadrature_kl(p, q)
    _check(res, ref_kl_diag(p, q))
    assert res.value > 5.0


@pytest.mark.parametrize(
    "p, q",
    [
        (Gaussian(0.0, std=1.0 + 1e-12), Gaussian(0.0, std=1.0)),
        (Gaussian(0.0, std=1.0 - 1e-12), Gaussian(0.0, std=1.0)),
        (Gaussian(0.0, std=1.0), Gaussian(0.0, std=1.0 + 1e-12)),
        (Gaussian(1e-12, std=1.0 + 1e-12), Gaussian(0.0, std=1.0)),
        (Gaussian(3.0, std=7.0 * (1.0 + 1e-12)), Gaussian(3.0, std=7.0)),
        (Gaussian(0.0, var=1.0 + 2e-12), Gaussian(0.0, var=1.0)),
        (Gaussian(0.0, std=1.0 + 1e-12), Gaussian(0.0, var=1.0)),
        (Gaussian(0.0, var=1e-200), Gaussian(0.0, std=1e-100 * (1.0 + 1e-12))),
        (Gaussian(1e-6, std=1.0), Gaussian(0.0, std=1.0)),
    ],
    ids=lambda g: repr(g),
)
def test_near_equal_keeps_relative_accuracy(p: Gaussian, q: Gaussian) -> None:
    # KL ~ 1e-24 here; the non-negative integrand rho - 1 - log rho and the
    # cancellation-free log-ratio keep full relative accuracy (observed
    # <= 3e-16), where the plain integrand would return rounding noise.
    ref = ref_kl_diag(p, q, dps=80)
    res = quadrature_kl(p, q)
    _check(res, ref)
    assert 0.0 < res.value < 1e-11


def test_equal_gives_exact_zero() -> None:
    g = Gaussian(0.3, std=2.0)
    res = quadrature_kl(g, Gaussian(0.3, std=2.0))
    assert res.value == 0.0 and res.error == 0.0 and res.reliable


@settings(derandomize=True, max_examples=150, deadline=None)
@given(
    log_scale=st.floats(-140.0, 140.0),
    log_ratio=st.floats(-8.0, 8.0),
    shift=st.floats(-60.0, 60.0),
    p_var=st.booleans(),
    q_var=st.booleans(),
)
def test_univariate_property(log_scale: float, log_ratio: float, shift: float, p_var: bool, q_var: bool) -> None:
    # Whenever a result is declared reliable, its error estimate covers the
    # true error (derandomized: the same examples on every run).
    s_q = 10.0**log_scale
    s_p = s_q * 10.0**log_ratio
    m_q = s_q
    m_p = m_q + shift * s_q
    p = Gaussian(m_p, var=s_p * s_p) if p_var else Gaussian(m_p, std=s_p)
    q = Gaussian(m_q, var=s_q * s_q) if q_var else Gaussian(m_q, std=s_q)
    _check(quadrature_kl(p, q), ref_kl_diag(p, q, dps=80))


# ------------------------------------------------------- diagonal, d > 1
def test_diagonal_d1000() -> None:
    rng = np.random.default_rng(20240611)
    d = 1000
    p = Gaussian(rng.normal(size=d), std=np.exp(rng.normal(size=d)))
    q = Gaussian(rng.normal(size=d), var=np.exp(2.0 * rng.normal(size=d)))
    res = quadrature_kl(p, q)
    _check(res, ref_kl_diag(p, q))


def test_isotropic_pairs_integrated_once() -> None:
    p, q = Gaussian(np.zeros(1000), std=1.0), Gaussian(np.ones(1000), std=2.0)
    one = quadrature_kl(Gaussian(0.0, std=1.0), Gaussian(1.0, std=2.0))
    res = quadrature_kl(p, q)
    assert res.evaluations == one.evaluations
    _check(res, ref_kl_diag(p, q))


def test_diagonal_matches_univariate_sum() -> None:
    p = Gaussian([0.0, 1.0, -2.0], std=[1.0, 1e-3, 5.0])
    q = Gaussian([0.5, 1.0, 0.0], std=[2.0, 1.0, 5.0 * (1 + 1e-12)])
    res = quadrature_kl(p, q)
    parts = [
        quadrature_kl(
            Gaussian(float(p.mean[i]), std=float(p.std[i])), Gaussian(float(q.mean[i]), std=float(q.std[i]))
        ).value
        for i in range(3)
    ]
    assert res.value == pytest.approx(math.fsum(parts), rel=1e-14)
    _check(res, ref_kl_diag(p, q, dps=80))


# ----------------------------------------------------- full covariance
@pytest.mark.parametrize("d", [2, 3, 5, 10])
@pytest.mark.parametrize("cond_p, cond_q", [(10.0, 10.0), (1e6, 1e3), (1e3, 1e6), (1e8, 1e8), (1.0, 1e8)])
def test_full_covariance(d: int, cond_p: float, cond_q: float) -> None:
    rng = np.random.default_rng([d, int(math.log10(cond_p)), int(math.log10(cond_q))])
    p = Gaussian(rng.normal(size=d), cov=_spd(d, cond_p, rng))
    q = Gaussian(rng.normal(size=d), cov=_spd(d, cond_q, rng, scale=3.0))
    _check(quadrature_kl(p, q), ref_kl_full(p, q))


@pytest.mark.parametrize("d", [2, 6])
def test_mixed_diagonal_and_full(d: int) -> None:
    rng = np.random.default_rng(d)
    full = Gaussian(rng.normal(size=d), cov=_spd(d, 1e6, rng))
    diag = Gaussian(rng.normal(size=d), var=np.exp(rng.normal(size=d)))
    _check(quadrature_kl(full, diag), ref_kl_full(full, diag))
    _check(quadrature_kl(diag, full), ref_kl_full(diag, full))


def test_full_covariance_tiny_scale() -> None:
    # Covariances near 1e-200: only ratios of scales enter the integrand.
    rng = np.random.default_rng(7)
    p = Gaussian(1e-100 * rng.normal(size=3), cov=_spd(3, 1e4, rng, scale=1e-200))
    q = Gaussian(np.zeros(3), cov=_spd(3, 1e2, rng, scale=1e-200))
    _check(quadrature_kl(p, q), ref_kl_full(p, q))


def test_unrefined_factor_is_flagged(monkeypatch: pytest.MonkeyPatch) -> None:
    # Without the refinement of the Cholesky factor, condition number 1e8
    # costs ~1e-9 relative accuracy; the error estimate must say so.
    monkeypatch.setattr(quadrature, "_REFINE_MAX_DIM", 0)
    rng = np.random.default_rng(3)
    p = Gaussian(rng.normal(size=4), cov=_spd(4, 1e8, rng))
    q = Gaussian(rng.normal(size=4), cov=_spd(4, 1e8, rng))
    ref = ref_kl_full(p, q)
    res = quadrature_kl(p, q)
    assert abs(mp.mpf(res.value) - ref) <= res.error
    assert not res.reliable and "exceeds" in res.message
    assert quadrature_kl(p, q, rtol=1e-4).reliable


# ------------------------------------------------------------- direct
@pytest.mark.parametrize(
    "p, q",
    [
        (Gaussian(0.3, std=1e-3), Gaussian(0.0, std=1.0)),
        (Gaussian(50.0, std=1.0), Gaussian(0.0, std=1.0)),
        (Gaussian(-1.0, std=4.0), Gaussian(2.0, var=0.25)),
        (Gaussian(0.0, std=1e5), Gaussian(1.0, std=1.0)),
        (Gaussian(1e-150, std=3e-150), Gaussian(0.0, std=1e-150)),
    ],
)
def test_direct_agrees_in_one_dimension(p: Gaussian, q: Gaussian) -> None:
    ref = ref_kl_diag(p, q)
    direct, reduced = quadrature_kl(p, q, method="direct"), quadrature_kl(p, q)
    _check(direct, ref)
    _check(reduced, ref)
    assert abs(direct.value - reduced.value) <= direct.error + reduced.error
    assert direct.method == "direct" and reduced.method == "reduced"


@pytest.mark.parametrize("cond_p, cond_q", [(1.0, 1.0), (10.0, 1e3), (1e8, 1e8)])
def test_direct_agrees_in_two_dimensions(cond_p: float, cond_q: float) -> None:
    rng = np.random.default_rng(int(math.log10(cond_p)) + 10 * int(math.log10(cond_q)))
    p = Gaussian(rng.normal(size=2), cov=_spd(2, cond_p, rng))
    q = Gaussian(rng.normal(size=2), cov=_spd(2, cond_q, rng, scale=2.0))
    ref = ref_kl_full(p, q)
    t0 = time.perf_counter()
    direct = quadrature_kl(p, q, method="direct")
    assert time.perf_counter() - t0 < 5.0  # ~0.05 s typically; generous for slow CI
    reduced = quadrature_kl(p, q)
    _check(direct, ref)
    _check(reduced, ref)
    assert abs(direct.value - reduced.value) <= direct.error + reduced.error


def test_direct_two_dimensional_diagonal() -> None:
    p = Gaussian([0.1, 0.2], std=[0.5, 2.0])
    q = Gaussian([0.0, 1.0], var=[1.0, 2.25])
    _check(quadrature_kl(p, q, method="direct"), ref_kl_diag(p, q))


def test_direct_flags_cancellation_instead_of_returning_noise() -> None:
    # log p - log q evaluated from the original parameters cannot resolve a
    # KL of 1e-24: the rounding bound must make the result untrusted.
    p, q = Gaussian(0.0, std=1.0 + 1e-12), Gaussian(0.0, std=1.0)
    res = quadrature_kl(p, q, method="direct")
    assert not res.reliable
    assert res.error > 1e3 * float(ref_kl_diag(p, q, dps=80))
    with pytest.raises(QuadratureError, match="not reliable"):
        quadrature_kl(p, q, method="direct", strict=True)


# ----------------------------------------------------------- bad input
def test_direct_rejects_d3() -> None:
    g = Gaussian(np.zeros(3), std=1.0)
    with pytest.raises(ValueError, match=r"d <= 2 only, got d = 3"):
        quadrature_kl(g, g, method="direct")


def test_mismatched_dimensions() -> None:
    with pytest.raises(ValueError, match="same dimension: p has dimension 2, q has dimension 3"):
        quadrature_kl(Gaussian(np.zeros(2), std=1.0), Gaussian(np.zeros(3), std=1.0))


def test_unknown_method_and_bad_rtol() -> None:
    g = Gaussian(0.0, std=1.0)
    with pytest.raises(ValueError, match="method must be"):
        quadrature_kl(g, g, method="simpson")  # type: ignore[arg-type]
    for rtol in (0.0, -1e-3, 1.0, float("nan")):
        with pytest.raises(ValueError, match="rtol"):
            quadrature_kl(g, g, rtol=rtol)


# --------------------------------------------------------- untrusted
def test_unreachable_tolerance_is_flagged() -> None:
    p, q = Gaussian(0.0, std=1.2), Gaussian(0.5, std=1.0)
    res = quadrature_kl(p, q, rtol=1e-30)
    assert not res.reliable
    assert "exceeds" in res.message and "\n" not in res.message
    assert res.value == pytest.approx(float(ref_kl_diag(p, q)), rel=1e-13)  # still the best value
    with pytest.raises(QuadratureError, match="exceeds"):
        quadrature_kl(p, q, rtol=1e-30, strict=True)


def _warning_quad(mode: str):  # type: ignore[no-untyped-def]
    real = integrate.quad

    def fake(*args, **kwargs):  # type: ignore[no-untyped-def]
        out = real(*args, **kwargs)
        if mode == "warn":
            warnings.warn(
                "The maximum number of subdivisions (200) has been achieved.",
                integrate.IntegrationWarning,
                stacklevel=2,
            )
            return out
        return (*out[:3], "Extremely bad integrand behavior occurs at some points.")

    return fake


@pytest.mark.parametrize(
    "mode, text", [("warn", "maximum number of subdivisions"), ("message", "Extremely bad integrand")]
)
def test_quad_warning_is_flagged(monkeypatch: pytest.MonkeyPatch, mode: str, text: str) -> None:
    monkeypatch.setattr(integrate, "quad", _warning_quad(mode))
    p, q = Gaussian(0.0, std=1.2), Gaussian(0.5, std=1.0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the warning must be captured, not leak
        res = quadrature_kl(p, q)
    assert not res.reliable and text in res.message and "quad warned" in res.message
    with pytest.raises(QuadratureError, match=text):
        quadrature_kl(p, q, strict=True)


def test_overflow_is_flagged() -> None:
    # KL ~ 5e399 does not fit in a float.
    p, q = Gaussian(0.0, std=1e200), Gaussian(0.0, std=1e-200)
    res = quadrature_kl(p, q)
    assert not res.reliable and "not finite" in res.message
    with pytest.raises(QuadratureError):
        quadrature_kl(p, q, strict=True)


# ------------------------------------------------------------- result
def test_result_record() -> None:
    res = quadrature_kl(Gaussian(0.0, std=1.0), Gaussian(1.0, std=2.0))
    row = res.as_dict()
    assert list(row) == ["value", "error", "method", "evaluations", "reliable", "message"]
    assert row["method"] == "reduced" and row["evaluations"] > 0 and row["reliable"] is True
    assert row["value"] == pytest.approx(math.log(2.0) + 2.0 / 8.0 - 0.5, rel=1e-14)
    with pytest.raises(AttributeError):
        res.value = 0.0  # type: ignore[misc]
