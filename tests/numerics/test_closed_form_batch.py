"""kl_divergence on GaussianBatch: bit-identical to the per-pair closed form, every kind, both directions."""

from __future__ import annotations

import json
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
from batches import KINDS, batch, batch_pairs, nudged
from hypothesis import given

from mcverify import Gaussian, GaussianBatch, kl_divergence

RTOL = {"univariate": 1e-12, "diagonal": 1e-12, "full": 1e-9}
REFERENCE = json.loads((Path(__file__).parents[1] / "data" / "kl_reference.json").read_text())["cases"]


def per_pair(p, q):
    n = len(p) if isinstance(p, GaussianBatch) else len(q)
    pick = lambda g, i: g[i] if isinstance(g, GaussianBatch) else g  # noqa: E731
    return np.array([kl_divergence(pick(p, i), pick(q, i)) for i in range(n)])


def same_bits(a, b):
    return a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()


@pytest.mark.parametrize("kp", KINDS)
@pytest.mark.parametrize("kq", KINDS)
def test_every_kind_both_directions_and_broadcast(kp, kq):
    rng = np.random.default_rng(abs(hash((kp, kq))) % 2**32)
    d = 1 if "univariate" in (kp, kq) else 4
    p, q = batch(rng, kp, 30, d), batch(rng, kq, 30, d, "var")
    for a, b in ((p, q), (q, p), (p, q[7]), (p[3], q), (q[0], p)):
        out = kl_divergence(a, b)
        assert isinstance(out, np.ndarray) and out.shape == (30,)
        assert same_bits(out, per_pair(a, b))


@given(batch_pairs())
def test_batched_closed_form_is_bit_identical_to_per_pair(pq):
    p, q = pq
    assert same_bits(kl_divergence(p, q), per_pair(p, q))
    assert same_bits(kl_divergence(q, p), per_pair(q, p))


def test_near_and_equal_pairs_keep_full_accuracy_bits():
    rng = np.random.default_rng(5)
    for kind in KINDS:
        p = batch(rng, kind, 20, 1 if kind == "univariate" else 5)
        q = nudged(rng, p)
        out = kl_divergence(p, q)
        assert out[0] == 0.0 and np.all(out[1:] > 0.0)
        assert same_bits(out, per_pair(p, q))


def _side(d):
    name = next(k for k in ("std", "var", "cov") if k in d)
    return d["mean"], name, d[name]


def test_reference_grid_in_one_batch_per_kind_matches_the_80_digit_values():
    """The accuracy grid, one batch per (kind, scale names): same bits as per pair, and each within
    the tolerance of tests/numerics/test_closed_form_reference.py (1e-12 relative; 1e-9 for full
    covariances, whose inputs are ill-conditioned up to 1e8)."""
    groups: dict[tuple, list] = {}
    for c in REFERENCE:
        (mp, np_, _), (_, nq, _) = _side(c["p"]), _side(c["q"])
        dim = len(np.atleast_1d(mp))
        groups.setdefault((c["kind"], np_, nq, dim, np.ndim(mp)), []).append(c)
    checked = 0
    for (_kind, np_, nq, _dim, _ndim), cases in groups.items():
        p = GaussianBatch(np.array([c["p"]["mean"] for c in cases]), **{np_: np.array([c["p"][np_] for c in cases])})
        q = GaussianBatch(np.array([c["q"]["mean"] for c in cases]), **{nq: np.array([c["q"][nq] for c in cases])})
        out = kl_divergence(p, q)
        single = np.array([kl_divergence(Gaussian(**c["p"]), Gaussian(**c["q"])) for c in cases])
        assert same_bits(out, single)
        for value, c in zip(out, cases):
            ref = Fraction(c["kl"])
            err = 0.0 if ref == 0 and value == 0.0 else float(abs(Fraction(float(value)) - ref) / abs(ref))
            assert err <= RTOL[c["kind"]], c["id"]
        checked += len(cases)
    assert checked == len(REFERENCE)


def test_bad_pairs_of_batches_are_one_line_errors():
    a = GaussianBatch([0.0, 1.0], std=[1.0, 1.0])
    with pytest.raises(ValueError, match="p holds 2 Gaussians but q holds 3"):
        kl_divergence(a, GaussianBatch([0.0, 1.0, 2.0], std=[1.0, 1.0, 1.0]))
    with pytest.raises(ValueError, match="p has dimension 1 but q has dimension 2"):
        kl_divergence(a, Gaussian([0.0, 0.0], std=1.0))


def test_overflowing_sum_is_inf_where_the_single_pair_raises():
    # two finite terms of 0.98e308 each: math.fsum raises, the batch says inf
    p = GaussianBatch(np.array([[1.4e154, 1.4e154], [1.0, 1.0]]), std=np.ones((2, 2)))
    q = Gaussian([0.0, 0.0], std=1.0)
    with pytest.raises(OverflowError):
        kl_divergence(p[0], q)
    assert kl_divergence(p, q)[0] == np.inf
    assert kl_divergence(p, q)[1] == kl_divergence(p[1], q)


def _spd(rng, d, cond):
    q, r = np.linalg.qr(rng.standard_normal((d, d)))
    q *= np.sign(np.diag(r))
    a = (q * np.logspace(0.0, np.log10(cond), d)) @ q.T
    return 0.5 * (a + a.T)


@pytest.mark.parametrize("d", range(1, 13))
def test_full_covariances_batched_are_per_pair_bit_for_bit(d):
    """d = 1..12, condition numbers 1 .. 1e10 (the whole-stack refinement and its Dot2 fallback),
    equal pairs, near-diagonal covariances, scales 1e-6 .. 1e6: the batch gives the per-pair bits."""
    rng = np.random.default_rng(300 + d)
    n = 24
    covs = [_spd(rng, d, 10.0 ** rng.uniform(0, 10)) * 10.0 ** rng.uniform(-6, 6) for _ in range(2 * n)]
    for i in range(0, 2 * n, 7):  # off-diagonal entries far below the diagonal
        c = covs[i]
        covs[i] = np.diag(np.diag(c)) + 1e-12 * (c - np.diag(np.diag(c)))
    cp, cq = np.stack(covs[:n]), np.stack(covs[n:])
    mp, mq = rng.standard_normal((n, d)), rng.standard_normal((n, d))
    cq[:3], mq[:3] = cp[:3], mp[:3]  # p == q
    cq[3] = cp[3]  # equal covariances, different means
    p, q = GaussianBatch(mp, cov=cp), GaussianBatch(mq, cov=cq)
    out = kl_divergence(p, q)
    assert same_bits(out, per_pair(p, q))
    assert np.all(out[:3] == 0.0) and np.all(out[3:] > 0.0)
    assert same_bits(kl_divergence(q, p), per_pair(q, p))
