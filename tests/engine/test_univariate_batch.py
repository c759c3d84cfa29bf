"""numerics.univariate_pairs, sampling.univariate_batch, quadrature.univariate_batch: the three methods for many univariate pairs at once.

Closed form and Monte Carlo must be bit-identical to the one-case
functions; the batched quadrature must be honest (its error estimate covers
its distance from the 80-digit reference) and agree with quadrature_kl
within both error estimates.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import mpmath
import numpy as np
import pytest

from mcverify import kl_divergence, monte_carlo_kl, quadrature_kl
from mcverify.numerics import univariate_pairs
from mcverify.quadrature import univariate_batch as quad_batch
from mcverify.sampling import univariate_batch as mc_batch
from mcverify.sampling.seeding import case_seeds

REFERENCE = json.loads((Path(__file__).parents[1] / "data" / "kl_reference.json").read_text())["cases"]
UNIVARIATE_REF = [c for c in REFERENCE if c["kind"] == "univariate"]


def _side(d):
    return (float(d["mean"]), float(d.get("std", d.get("var"))), "var" in d)


def reference_pairs():
    return univariate_pairs.UnivariatePairs.from_values([(*_side(c["p"]), *_side(c["q"])) for c in UNIVARIATE_REF])


def random_pairs(n=400, seed=11):
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        kind = rng.integers(4)
        if kind == 0:  # anything
            mp, sp, mq, sq = rng.normal(), math.exp(3 * rng.normal()), rng.normal(), math.exp(3 * rng.normal())
        elif kind == 1:  # std ratio within 1e-14 .. 1e-1 of 1
            mp, sp, mq, sq = 0.1 * rng.normal(), 1 + rng.normal() * 10.0 ** rng.uniform(-14, -1), 0.0, 1.0
        elif kind == 2:  # tiny mean shift
            mp, sp, mq, sq = rng.normal() * 10.0 ** rng.uniform(-12, 0), 1.0, 0.0, 1.0
        else:  # far apart, wide range of scales
            mp, sp, mq, sq = 100 * rng.normal(), math.exp(8 * rng.normal()), rng.normal(), math.exp(8 * rng.normal())
        out.append((mp, sp, bool(rng.integers(2)), mq, sq, bool(rng.integers(2))))
    return univariate_pairs.UnivariatePairs.from_values(out)


def test_closed_form_is_bit_identical_to_kl_divergence():
    for pairs in (reference_pairs(), random_pairs()):
        got = univariate_pairs.closed_form(pairs)
        expected = [kl_divergence(*pairs.gaussians(i)) for i in range(len(pairs))]
        assert got.tolist() == expected


@pytest.mark.parametrize("samples", [2, 1000, 10_000, 10_001, 20_000, 30_007])
def test_monte_carlo_is_bit_identical_to_monte_carlo_kl(samples):
    rnd = random_pairs(25, seed=samples)
    # and p == q (a zero-variance log ratio), as std and as var
    same = univariate_pairs.UnivariatePairs.from_values(
        [(0.5, 2.0, False, 0.5, 2.0, False), (0.0, 4.0, True, 0.0, 2.0, False)]
    )
    pairs = univariate_pairs.UnivariatePairs(
        *(
            np.concatenate([getattr(rnd, f), getattr(same, f)])
            for f in univariate_pairs.UnivariatePairs.__dataclass_fields__
        )
    )
    seeds = case_seeds(5, np.arange(100, 127))
    got = mc_batch.monte_carlo(pairs, samples, seeds, confidence=0.9)
    for i in range(len(pairs)):
        one = monte_carlo_kl(*pairs.gaussians(i), samples, seed=int(seeds[i]), confidence=0.9)
        mine = (got.estimate[i], got.stderr[i], got.ci_low[i], got.ci_high[i])
        theirs = (one.estimate, one.stderr, one.ci_low, one.ci_high)
        assert [float(x).hex() for x in mine] == [float(x).hex() for x in theirs]  # signs of zero too
    assert np.all(got.seconds > 0)


def test_close_pairs_at_the_corners_of_the_close_region():
    # The non-negative integrand serves std ratios 0.5..2 with shifts up to 1
    # (its nodes reach |t| = 20 at ratio 0.5); at the corners and just inside
    # them every error estimate covers the 50-digit value.
    corners = []
    for r in (0.5, 0.5000001, 0.9999999, 1.0, 1.0000001, 1.999999, 2.0):
        for delta in (-1.0, -0.3, 0.0, 1e-9, 0.999999, 1.0):
            corners.append((delta, r, False, 0.0, 1.0, False))
    pairs = univariate_pairs.UnivariatePairs.from_values(corners)
    with mpmath.workdps(50):
        truth = np.array(
            [
                float(-mpmath.log(mpmath.mpf(r)) + (mpmath.mpf(r) ** 2 + mpmath.mpf(d) ** 2) / 2 - mpmath.mpf(1) / 2)
                for d, r, *_ in corners
            ]
        )
    for method, res in quad_batch.quadrature(pairs, rtol=1e-10, fallback=quadrature_kl).items():
        assert not res.fallback.any(), method
        # the direct integrand cancels to rounding noise for KL near 1e-14, as quad's does
        assert res.reliable.all() if method == "reduced" else res.reliable[truth > 1e-10].all()
        off = np.abs(res.value - truth)
        assert np.all(off <= res.error + 1e-15 * truth), (method, np.max(off - res.error))


def test_quadrature_does_not_depend_on_the_batch_a_pair_is_in(monkeypatch):
    # Each pair's numbers are summed by the same loops whatever its batch, so a
    # case's table row does not depend on its neighbours.
    pairs = random_pairs(300, seed=4)
    whole = quad_batch.quadrature(pairs, rtol=1e-10, fallback=quadrature_kl)
    for size in (1, 37):
        monkeypatch.setattr(quad_batch, "_QUAD_BATCH", size)
        other = quad_batch.quadrature(pairs, rtol=1e-10, fallback=quadrature_kl)
        for method in ("reduced", "direct"):
            a, b = whole[method], other[method]
            assert a.value.tobytes() == b.value.tobytes() and a.error.tobytes() == b.error.tobytes()
            assert np.array_equal(a.reliable, b.reliable) and a.message == b.message


@pytest.mark.parametrize("method", ["reduced", "direct"])
def test_quadrature_error_estimates_cover_the_reference(method):
    pairs = reference_pairs()
    res = quad_batch.quadrature(pairs, rtol=1e-10, fallback=quadrature_kl)[method]
    truth = np.array([float(mpmath.mpf(c["kl"])) for c in UNIVARIATE_REF])
    off = np.abs(res.value - truth)
    assert np.all(off <= res.error + 1e-15 * np.abs(truth)), [
        (c["id"], o, e) for c, o, e in zip(UNIVARIATE_REF, off, res.error) if not o <= e + 1e-15 * abs(float(c["kl"]))
    ]
    # the reduced integral is trustworthy everywhere on the grid, as quad is
    if method == "reduced":
        assert res.reliable.all()


@pytest.mark.parametrize("method", ["reduced", "direct"])
def test_quadrature_agrees_with_quadrature_kl(method):
    pairs = random_pairs(300)
    res = quad_batch.quadrature(pairs, rtol=1e-10, fallback=quadrature_kl)[method]
    truth = univariate_pairs.closed_form(pairs)
    assert np.all(np.abs(res.value - truth) <= res.error + 1e-12 * np.abs(truth))
    for i in range(0, len(pairs), 6):
        one = quadrature_kl(*pairs.gaussians(i), method=method)
        if one.reliable and res.reliable[i]:
            assert abs(one.value - res.value[i]) <= one.error + res.error[i]
        if one.reliable:  # where quad vouches for its value, so do the panels
            assert res.reliable[i], (pairs.gaussians(i), one, res.result(i, method))
        if not res.reliable[i]:
            assert res.message[i].startswith("error estimate") or "not finite" in res.message[i]


@pytest.mark.parametrize("method", ["reduced", "direct"])
def test_panels_too_coarse_fall_back_to_quadrature_kl(monkeypatch, method):
    # With 2 panels over [-12, 12] the estimates miss quad's tolerance: quadrature_kl answers.
    coarse = quad_batch._fixed_nodes([-12.0, 0.0, 12.0])
    monkeypatch.setattr(quad_batch, "_CORE_T", coarse[0])
    monkeypatch.setattr(quad_batch, "_CORE_HALF", coarse[1])
    monkeypatch.setattr(quad_batch, "_CORE_E", coarse[2])
    monkeypatch.setattr(quad_batch, "_CLOSE_T", coarse[0])
    monkeypatch.setattr(quad_batch, "_CLOSE_HALF", coarse[1])
    monkeypatch.setattr(quad_batch, "_CLOSE_E", coarse[2])
    monkeypatch.setattr(quad_batch, "_DIRECT_T", coarse[0])
    monkeypatch.setattr(quad_batch, "_DIRECT_HALF", coarse[1])
    monkeypatch.setattr(quad_batch, "_DIRECT_E", coarse[2])
    pairs = random_pairs(12, seed=3)
    res = quad_batch.quadrature(pairs, rtol=1e-10, fallback=quadrature_kl)[method]
    assert res.fallback.sum() >= 6
    for i in np.flatnonzero(res.fallback):
        one = quadrature_kl(*pairs.gaussians(int(i)), method=method)
        assert (res.value[i], res.error[i], res.reliable[i], res.message[i]) == (
            one.value,
            one.error,
            one.reliable,
            one.message,
        )


@pytest.mark.parametrize("delta, r", [(0.0, 0.5), (1.0, 0.5), (-0.7, 0.9), (0.3, 1.0 + 1e-6), (1.0, 2.0)])
def test_close_tail_bound_is_an_upper_bound(delta, r):
    mpmath.mp.dps = 50
    d, rr = mpmath.mpf(delta), mpmath.mpf(r)
    log_r = mpmath.log(rr)

    def h(t):
        a = log_r - (d + (rr - 1) * t) * (d + (rr + 1) * t) / 2
        return mpmath.npdf(t) * (mpmath.exp(a) - 1 - a)

    width = max(12.0, (12.0 + abs(delta)) / r)
    exact = mpmath.quad(h, [-mpmath.inf, -width]) + mpmath.quad(h, [width, mpmath.inf])
    a0 = abs(0.5 * delta**2 - math.log(r))
    a1 = abs(delta * r)
    a2 = 0.5 * abs(r * r - 1)
    bound = quad_batch._close_tail_bound(*(np.array([x]) for x in (abs(delta), r, a0, a1, a2, width)))
    assert float(exact) <= bound[0]
