"""Conventions: registry, scale transforms, probes, and calling candidates."""

from __future__ import annotations

import math
import sys

import mpmath
import numpy as np
import pytest

from mcverify.auditing.backends import BackendUnavailable, get_backend
from mcverify.auditing.conventions import (
    CONVENTIONS,
    call_candidate,
    get_convention,
    log_var,
    std_to_scale,
    to_var,
)
from mcverify.auditing.probes import make_probe, probe_set, true_kl

FAMILIES = ("pair", "prior", "diag-pair", "diag-prior")
SCALES = ("std", "var", "logvar", "logstd")


def test_registry_has_every_named_convention():
    expected = {f"{f}-{s}" for f in FAMILIES for s in SCALES} | {"mvn"}
    assert set(CONVENTIONS) == expected


def test_argument_names():
    assert get_convention("pair-logvar").params == ("mean_p", "logvar_p", "mean_q", "logvar_q")
    assert get_convention("prior-std").params == ("mean", "std")
    assert get_convention("diag-prior-logstd").params == ("mean", "logstd")
    assert get_convention("mvn").params == ("mean_p", "cov_p", "mean_q", "cov_q")
    assert "summed over the last axis" in get_convention("diag-pair-var").signature


def test_unknown_convention_names_the_valid_ones():
    with pytest.raises(ValueError, match=r"unknown convention 'pair-sd'.*pair-std"):
        get_convention("pair-sd")


@pytest.mark.parametrize("scale", SCALES)
def test_scale_transforms_agree(scale):
    for s in (1e-4, 0.37, 1.0, 3.0, 1e4):
        x = std_to_scale(scale, s)
        assert to_var(scale, np.array(x)) == pytest.approx(s * s, rel=1e-14)
        assert log_var(scale, np.array(x)) == pytest.approx(2 * math.log(s), rel=1e-14, abs=1e-15)


@pytest.mark.parametrize("name", list(CONVENTIONS))
def test_probe_sets_are_deterministic_and_cover_the_hard_cases(name):
    conv = get_convention(name)
    ps = probe_set(name)
    probe_set.cache_clear()
    again = probe_set(name)
    assert [p.label() for p in ps.probes] == [p.label() for p in again.probes]
    assert any(p.same for p in ps.probes)
    stds = np.concatenate(
        [np.sqrt(p.var_p) if p.var_p is not None else np.sqrt(np.linalg.eigvalsh(p.cov_p)) for p in ps.probes]
    )
    assert stds.min() <= 1.5e-4 and stds.max() >= 0.9e4
    near_one = [p for p in ps.probes if not p.same and 0 < true_kl(p, conv) < 1e-12]
    assert near_one, "probes within 1e-6 of p = q"
    if conv.vector:
        assert max(p.d for p in ps.probes) > 1
    if name == "mvn":
        conds = [np.linalg.cond(c) for p in ps.probes for c in (p.cov_p, p.cov_q)]
        assert max(conds) > 1e7
    assert len(ps.sweeps) >= 2


def test_probes_hold_the_users_own_parameters():
    ps = probe_set("prior-logvar")
    p = ps.probes[1]
    assert list(p.params) == ["mean", "logvar"]
    assert p.params["logvar"] == -18.4207  # 2 log(1e-4), to 6 digits
    assert p.var_p[0] == math.exp(-18.4207)  # exactly the distribution those digits describe
    assert probe_set("prior-logstd").probes[1].params["logstd"] == -9.21034


@pytest.mark.parametrize("name", ["pair-logvar", "prior-logstd", "diag-pair-logstd"])
def test_log_scale_truth_matches_mpmath(name):
    conv = get_convention(name)
    mpmath.mp.dps = 40
    for p in probe_set(name).probes[::7]:
        ref = mpmath.mpf(0)
        for i in range(p.d):
            a = mpmath.mpf(float(p.logvar_p[i])) - mpmath.mpf(float(p.logvar_q[i]))
            dm = mpmath.mpf(float(p.mean_p[i])) - mpmath.mpf(float(p.mean_q[i]))
            ref += (mpmath.exp(a) - 1 - a + dm**2 * mpmath.exp(-mpmath.mpf(float(p.logvar_q[i])))) / 2
        got = true_kl(p, conv)
        assert abs(got - float(ref)) <= 1e-13 * float(ref) + 1e-300, p.label()


def test_make_probe_validates():
    with pytest.raises(ValueError, match="takes mean, std"):
        make_probe("prior-std", {"mu": 0.0, "std": 1.0})
    with pytest.raises(ValueError):
        make_probe("prior-std", {"mean": 0.0, "std": -1.0})
    with pytest.raises(ValueError):
        make_probe("mvn", {"mean_p": [0, 0], "cov_p": [[1, 2], [2, 1]], "mean_q": [0, 0], "cov_q": np.eye(2)})


# ------------------------------------------------------------------ calling
NUMPY = get_backend("numpy")


def _groups(name):
    ps = probe_set(name)
    return ps, [[ps.probes[i].args() for i in idx] for idx in ps.batches()]


def _textbook(mp, sp, mq, sq):
    return np.log(sq / sp) + (sp**2 + (mp - mq) ** 2) / (2 * sq**2) - 0.5


def test_batched_call_when_the_candidate_accepts_arrays():
    calls = []

    def f(*args):
        calls.append(np.shape(args[0]))
        return _textbook(*args)

    ps, groups = _groups("pair-std")
    out = call_candidate(f, groups, NUMPY, tolerances=[[1e-12] * len(g) for g in groups])
    assert out.mode == "batched" and not out.notes
    assert calls[0] == (len(ps),)
    assert len(calls) == 1 + 3  # one batch, three single-call cross-checks
    assert all(e is None for e in out.errors)


def test_falls_back_to_one_call_per_probe():
    def f(mp, sp, mq, sq):  # math functions take scalars only
        return math.log(sq / sp) + (sp**2 + (mp - mq) ** 2) / (2 * sq**2) - 0.5

    ps, groups = _groups("pair-std")
    out = call_candidate(f, groups, NUMPY)
    assert out.mode == "one per probe"
    assert "raised TypeError" in out.notes[0] and "once per probe" in out.notes[0]
    assert np.allclose(out.values, [_textbook(*p.args()) for p in ps.probes], rtol=1e-12)


def test_falls_back_on_a_result_of_the_wrong_shape():
    def terms_when_batched(m, s):  # sums over the dimensions of one sample only
        terms = 0.5 * (s**2 + m**2 - 1 - np.log(s**2))
        return np.sum(terms) if np.ndim(m) == 1 else terms

    _ps, groups = _groups("diag-prior-std")
    out = call_candidate(terms_when_batched, groups, NUMPY)
    assert out.mode in ("one per probe", "mixed") and out.reduction == "none"  # the d = 1 group batches
    wide = next(g for g in groups if len(g) > 1 and np.size(g[0][0]) > 1)  # a batch of vectors: (probes, d) terms
    assert f"returned shape ({len(wide)}, {np.size(wide[0][0])})" in out.notes[0]
    assert np.all(np.isfinite(out.values))


def test_one_number_for_a_batch_is_a_reduction():
    _ps, groups = _groups("diag-prior-std")
    out = call_candidate(lambda m, s: np.sum(0.5 * (s**2 + m**2 - 1 - np.log(s**2))), groups, NUMPY)
    assert out.reduction == "sum" and out.batch_of_one
    assert any("returns the sum of the per-sample KL" in n and "shape ()" in n for n in out.notes)
    assert np.all(np.isfinite(out.values))


def test_batched_results_are_cross_checked_against_single_calls():
    def mixing(mp, sp, mq, sq):  # reverses the batch: right shape, wrong entries
        out = _textbook(mp, sp, mq, sq)
        return out[::-1] if np.ndim(out) else out

    ps, groups = _groups("pair-std")
    tols = [[1e-9] * len(g) for g in groups]
    out = call_candidate(mixing, groups, NUMPY, tolerances=tols)
    assert out.mode == "one per probe"
    assert any("differs from a single call" in n for n in out.notes)
    assert np.allclose(out.values, [_textbook(*p.args()) for p in ps.probes], rtol=1e-12)


def test_exceptions_are_recorded_per_probe():
    def picky(mean, std):
        if float(std) < 0.01:
            raise FloatingPointError("too small")
        return 0.5 * (std**2 + mean**2 - 1 - math.log(std**2))

    _ps, groups = _groups("prior-std")
    out = call_candidate(picky, groups, NUMPY)
    bad = [i for i, e in enumerate(out.errors) if e]
    assert bad and all(out.errors[i] == "FloatingPointError: too small" for i in bad)
    assert np.all(np.isnan(out.values[bad]))


def test_unknown_backend():
    with pytest.raises(ValueError, match="unknown backend 'jaxx'"):
        get_backend("jaxx")


def test_missing_torch_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "torch", None)
    with pytest.raises(BackendUnavailable, match=r"pip install 'mcverify\[torch\]'"):
        get_backend("torch")
