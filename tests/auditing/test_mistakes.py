"""The mistake catalog: every planted mistake is diagnosed first, correct formulas pass."""

from __future__ import annotations

import math

import numpy as np
import pytest
from naive_kl import build
from numpy.linalg import det, inv

from mcverify import audit
from mcverify.auditing.auditor import catalog_predictions
from mcverify.auditing.conventions import CONVENTIONS, get_convention
from mcverify.auditing.mistakes import CATALOG, Formula, distinguishable, evaluate, explanations, mistake, probe_terms
from mcverify.auditing.probes import probe_set, true_kl

REQUIRED = {
    "log10",
    "log2",
    "reversed",
    "std-as-var",
    "var-as-std",
    "logvar-logstd-swap",
    "missing-half",
    "missing-constant",
    "missing-mean",
    "sign",
    "mean-over-dims",
    "symmetric",
}
ALL = list(CONVENTIONS)


def test_catalog_ids_are_stable_and_unique():
    ids = [m.id for m in CATALOG]
    assert len(ids) == len(set(ids))
    assert REQUIRED <= set(ids)
    assert set(ids) - REQUIRED == {"half-log", "mean-scaled-by-p"}
    with pytest.raises(KeyError, match="known ids"):
        mistake("log3")


def test_mistakes_apply_only_where_they_make_sense():
    def applies(mid, name):
        return mistake(mid).applies(get_convention(name))

    assert [n for n in ALL if applies("logvar-logstd-swap", n)] == [n for n in ALL if "log" in n]
    assert [n for n in ALL if applies("std-as-var", n)] == [n for n in ALL if n.endswith("-std")]
    assert [n for n in ALL if applies("var-as-std", n)] == [n for n in ALL if n.endswith("-var")]
    assert [n for n in ALL if applies("mean-over-dims", n)] == [n for n in ALL if n.startswith(("diag", "mvn"))]
    assert not applies("mean-scaled-by-p", "prior-std") and applies("mean-scaled-by-p", "mvn")
    for mid in (
        "log10",
        "log2",
        "reversed",
        "missing-half",
        "missing-constant",
        "missing-mean",
        "sign",
        "symmetric",
        "half-log",
    ):
        assert all(applies(mid, n) for n in ALL)


def test_mistakes_on_the_same_knob_do_not_combine():
    pairs = {e.ids for e in explanations("pair-logvar") if len(e.ids) == 2}
    assert ("log10", "log2") not in pairs and ("reversed", "symmetric") not in pairs
    assert ("log10", "missing-mean") in pairs


@pytest.mark.parametrize("name", ALL)
def test_correct_formula_state_is_the_truth(name):
    ps = probe_set(name)
    value, mag = evaluate(Formula(), probe_terms(ps.probes))
    truth = np.array([true_kl(p, name) for p in ps.probes])
    assert np.all(np.abs(value - truth) <= 1e-13 * mag + 1e-300)


@pytest.mark.parametrize("name", ALL)
def test_no_two_explanations_look_alike(name):
    """Otherwise a planted mistake could be listed after an indistinguishable twin."""
    preds = catalog_predictions(name)
    for i, a in enumerate(preds):
        for b in preds[i + 1 :]:
            assert distinguishable(a, b), (a.explanation.ids, b.explanation.ids)


def test_redundant_combinations_are_dropped():
    kept = {p.explanation.ids for p in catalog_predictions("pair-std")}
    # In KL(p||q) + KL(q||p) the log terms cancel, and both mean scalings appear.
    assert ("log10", "symmetric") not in kept
    assert ("symmetric", "mean-scaled-by-p") not in kept
    assert ("missing-mean", "mean-scaled-by-p") not in kept


# ------------------------------------------------------------ planted
@pytest.mark.parametrize("name", ALL)
def test_every_single_mistake_is_diagnosed_first(name):
    conv = get_convention(name)
    n = len(probe_set(name))
    for m in CATALOG:
        if not m.applies(conv):
            continue
        report = audit(build(name, (m.id,)), name, samples=0)
        assert report.verdict == "fail", (name, m.id)
        assert report.diagnoses[0] == [m.id], (name, m.id, report.diagnoses[:3])
        failing = int((report.table["status"] != "ok").sum())
        assert failing >= min(10, n // 4), (name, m.id, failing)


@pytest.mark.parametrize("name", ALL)
def test_every_pair_of_mistakes_is_diagnosed_first(name):
    for p in catalog_predictions(name):
        ids = p.explanation.ids
        if len(ids) != 2:
            continue
        report = audit(build(name, ids), name, samples=0)
        assert report.diagnoses and report.diagnoses[0] == list(ids), (name, ids, report.diagnoses[:3])


# ------------------------------------------------------------ correct ones
def _var(scale, x):
    return {"std": lambda: x**2, "var": lambda: x, "logvar": lambda: np.exp(x), "logstd": lambda: np.exp(2 * x)}[
        scale
    ]()


def _textbook_variants(name):
    """Correct formulas as people write them: naive, with cancellation near p = q."""
    conv = get_convention(name)
    s = conv.scale
    unit = {"std": 1.0, "var": 1.0, "logvar": 0.0, "logstd": 0.0}.get(s)

    def a(mp, sp, mq, sq):
        vp, vq = _var(s, sp), _var(s, sq)
        return 0.5 * (np.log(vq / vp) + vp / vq + (mp - mq) ** 2 / vq - 1)

    def b(mp, sp, mq, sq):  # log(s2/s1) + (s1^2 + (m1 - m2)^2) / (2 s2^2) - 1/2
        vp, vq = _var(s, sp), _var(s, sq)
        return 0.5 * np.log(vq) - 0.5 * np.log(vp) + (vp + (mp - mq) ** 2) / (2 * vq) - 0.5

    def c(mp, sp, mq, sq):  # in log space: exp of a difference
        lp, lq = np.log(_var(s, sp)), np.log(_var(s, sq))
        return 0.5 * (lq - lp + np.exp(lp - lq) + (mp - mq) ** 2 * np.exp(-lq) - 1)

    if conv.family == "mvn":

        def m(mp, cp, mq, cq):
            iq = inv(cq)
            dm = mq - mp
            return 0.5 * (np.log(det(cq) / det(cp)) + np.trace(iq @ cp) + dm @ iq @ dm - len(mp))

        def m2(mp, cp, mq, cq):
            _sign_p, ld_p = np.linalg.slogdet(cp)
            _sign_q, ld_q = np.linalg.slogdet(cq)
            dm = mq - mp
            return 0.5 * (ld_q - ld_p + np.trace(np.linalg.solve(cq, cp)) + dm @ np.linalg.solve(cq, dm) - len(mp))

        return [m, m2]
    out = []
    for f in (a, b, c):
        if conv.family == "pair":
            out.append(f)
        elif conv.family == "prior":
            out.append(lambda m, x, f=f: f(m, x, 0.0, unit))
        elif conv.family == "diag-pair":
            out.append(lambda mp, sp, mq, sq, f=f: np.sum(f(mp, sp, mq, sq), axis=-1))
        else:
            out.append(lambda m, x, f=f: np.sum(f(m, x, np.zeros_like(m), np.full_like(x, unit)), axis=-1))
    if name == "diag-prior-logvar":  # the VAE loss as everyone writes it
        out.append(lambda mu, logvar: -0.5 * np.sum(1 + logvar - mu**2 - np.exp(logvar), axis=-1))
    if name == "pair-std":  # scalar-only code: audited one probe at a time
        out.append(lambda m1, s1, m2, s2: math.log(s2 / s1) + (s1**2 + (m1 - m2) ** 2) / (2 * s2**2) - 0.5)
    return out


@pytest.mark.parametrize("name", ALL)
def test_correct_naive_implementations_pass(name):
    for f in [build(name), *_textbook_variants(name)]:
        report = audit(f, name, samples=0)
        assert report.verdict == "pass", report.summary()
        assert report.diagnoses == []
        worst = float((report.table["error"].abs() / report.table["tolerance"]).max())
        assert worst < 0.25, (name, worst)  # the tolerance is not cut close


def test_the_stable_closed_form_passes_without_warnings():
    from mcverify import Gaussian, kl_divergence

    def stable(mp, sp, mq, sq):
        return kl_divergence(Gaussian(float(mp), std=float(sp)), Gaussian(float(mq), std=float(sq)))

    report = audit(stable, "pair-std", samples=0)
    assert report.verdict == "pass" and report.warnings == []


# ------------------------------------------------------- as people write them
HAND_WRITTEN = [
    ("prior-std", lambda mean, std: 0.5 * (std**2 + mean**2 - 1 - np.log(std)), ["half-log"]),
    ("prior-std", lambda mean, std: 0.5 * (std + mean**2 - 1 - np.log(std)), ["std-as-var"]),
    ("prior-logstd", lambda mean, logstd: 0.5 * (np.exp(logstd) + mean**2 - 1 - logstd), ["logvar-logstd-swap"]),
    ("diag-prior-logvar", lambda mu, lv: -0.5 * np.mean(1 + lv - mu**2 - np.exp(lv), axis=-1), ["mean-over-dims"]),
    ("diag-prior-logvar", lambda mu, lv: 0.5 * np.sum(1 + lv - mu**2 - np.exp(lv), axis=-1), ["sign"]),
    ("pair-std", lambda m1, s1, m2, s2: np.log(s1 / s2) + (s2**2 + (m1 - m2) ** 2) / (2 * s1**2) - 0.5, ["reversed"]),
    ("pair-var", lambda m1, v1, m2, v2: np.log(v2 / v1) + (v1 + (m1 - m2) ** 2) / v2 - 1, ["missing-half"]),
    ("pair-var", lambda m1, v1, m2, v2: 0.5 * (np.log2(v2 / v1) + (v1 + (m1 - m2) ** 2) / v2 - 1), ["log2"]),
    ("prior-var", lambda m, v: 0.5 * (v + m**2 - np.log(v)), ["missing-constant"]),
]


@pytest.mark.parametrize("name,func,expected", HAND_WRITTEN)
def test_hand_written_mistakes(name, func, expected):
    report = audit(func, name, samples=0)
    assert report.verdict == "fail"
    assert report.diagnoses[0] == expected


def test_an_unknown_mistake_is_admitted_not_guessed():
    report = audit(lambda m, s: 0.5 * (s**2 + m**2 - 1 - np.log(s**2)) + 0.01 * m**4, "prior-std", samples=0)
    assert report.verdict == "fail" and report.diagnoses == []
    assert any("no known mistake explains this" in n for n in report.notes)
    assert "Diagnosis: no known mistake explains this" in report.summary()


def test_float32_arithmetic_is_called_a_precision_problem():
    def single(mean, std):
        m, s = np.float32(mean), np.float32(std)
        return np.float64(np.float32(0.5) * (s * s + m * m - np.float32(1) - np.log(s * s)))

    report = audit(single, "prior-std", samples=0)
    assert report.verdict == "fail" and report.diagnoses == []
    assert any("precision problem" in n for n in report.notes)
