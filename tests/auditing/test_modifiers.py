"""Safety code in a KL: clips and epsilons diagnosed with their parameters, alone and with mistakes."""

from __future__ import annotations

import math

import numpy as np
import pytest
from lazymodules import needs
from naive_kl import build

from mcverify import audit
from mcverify.auditing.auditor import _context
from mcverify.auditing.conventions import get_convention
from mcverify.auditing.mistakes import CATALOG, Explanation, Formula, apply, predict_modified
from mcverify.auditing.modifiers import Modifier
from mcverify.auditing.probes import probe_set


# ------------------------------------------------------ candidates as written
def neg_kl_clipped(mean, std):
    """-KL (prior-std) with the variance clipped to [1e-6, 1e6]: the issue's example."""
    var = np.clip(std**2, 1e-6, 1e6)
    return -0.5 * (var + mean**2 - 1 - np.log(var))


def reversed_clipped(mean_p, std_p, mean_q, std_q):
    var_p = np.clip(std_p**2, 1e-6, 1e6)
    var_q = np.clip(std_q**2, 1e-6, 1e6)
    return 0.5 * (np.log(var_p / var_q) + (var_q + (mean_p - mean_q) ** 2) / var_p - 1)


def kl_eps_q(mean_p, logvar_p, mean_q, logvar_q):
    """A diffusion-style KL with 1e-8 added to q's variance."""
    var_q = np.exp(logvar_q) + 1e-8
    ratio = np.exp(logvar_p) / var_q
    return 0.5 * np.sum(np.log(var_q) - logvar_p + ratio + (mean_p - mean_q) ** 2 / var_q - 1, axis=-1)


def kl_eps_q6(m1, s1, m2, s2):
    v2 = s2**2 + 1e-6
    return np.log(np.sqrt(v2) / s1) + (s1**2 + (m1 - m2) ** 2) / (2 * v2) - 0.5


def reversed_eps(mean_p, var_p, mean_q, var_q):
    var_p, var_q = var_p + 1e-8, var_q + 1e-8
    return 0.5 * (np.log(var_p / var_q) + (var_q + (mean_p - mean_q) ** 2) / var_p - 1)


def vae_clamped(mu, logvar):
    logvar = np.clip(logvar, -30.0, 20.0)
    return -0.5 * np.sum(1 + logvar - mu**2 - np.exp(logvar), axis=-1)


def vae_clamped_sign(mu, logvar):
    logvar = np.clip(logvar, -30.0, 20.0)
    return 0.5 * np.sum(1 + logvar - mu**2 - np.exp(logvar), axis=-1)


def std_floor(mean, std):
    std = np.maximum(std, 1e-4)  # one-sided: a floor only
    return np.log(1 / std) + (std**2 + mean**2) / 2 - 0.5


def std_eps(mean, std):
    std = std + 1e-6
    return np.log(1 / std) + (std**2 + mean**2) / 2 - 0.5


def _outside(name, lo_var, hi_var):
    """Probes with some variance of p or q outside [lo_var, hi_var]: what the clip alone explains."""
    n = 0
    for p in probe_set(name).probes:
        v = np.concatenate([p.var_p, p.var_q])
        n += bool(np.any(v < lo_var) or np.any(v > hi_var))
    return n


def test_sign_with_a_clip_is_diagnosed_with_its_range():
    r = audit(neg_kl_clipped, "prior-std", samples=0)
    assert r.verdict == "fail"
    assert r.diagnoses[0] == ["sign", "clip"]
    detail = r.diagnosis_details[0]
    (mod,) = detail["modifiers"]
    assert mod["kind"] == "clip" and mod["quantity"] == "var" and (mod["lo"], mod["hi"]) == (1e-6, 1e6)
    assert mod["text"] == "clips the variance to [1e-06, 1e+06]"
    n, out = len(r.table), _outside("prior-std", 1e-6, 1e6)
    assert detail["explains"] == [["sign", n - out], ["clip", out]]
    assert out > 0
    clipped = [p.index for p in probe_set("prior-std").probes if p.var_p[0] < 1e-6 or p.var_p[0] > 1e6]
    assert detail["modifier_probes"] == clipped
    text = r.summary()
    assert "Diagnosis: sign + clip (returns -KL; clips the variance to [1e-06, 1e+06])" in text
    assert f"sign explains {n - out} of {n} probes; clip (variance to [1e-06, 1e+06]) explains the other {out}" in text
    assert r.as_dict()["diagnosis_meanings"]["clip"].startswith("clamps")


def test_reversed_with_a_clip():
    r = audit(reversed_clipped, "pair-std", samples=0)
    assert r.diagnoses[0] == ["reversed", "clip"]
    mod = r.diagnosis_details[0]["modifiers"][0]
    assert (mod["lo"], mod["hi"], mod["of"]) == (1e-6, 1e6, "both")
    assert "clips the variances to [1e-06, 1e+06]" in r.summary()


@pytest.mark.parametrize(
    "func,name,value", [(kl_eps_q, "diag-pair-logvar", 1e-8), (kl_eps_q6, "pair-std", 1e-6)], ids=["1e-8", "1e-6"]
)
def test_epsilon_on_q_is_estimated(func, name, value):
    r = audit(func, name, samples=0)
    assert r.diagnoses[0] == ["epsilon"]
    (mod,) = r.diagnosis_details[0]["modifiers"]
    assert (mod["kind"], mod["quantity"], mod["of"], mod["value"]) == ("epsilon", "var", "q", value)
    assert f"adds {value:g} to q's variance" in r.summary()
    assert "the correct formula explains" in r.diagnosis_details[0]["explains_text"]


def test_reversed_with_an_epsilon_on_both():
    r = audit(reversed_eps, "pair-var", samples=0)
    assert r.diagnoses[0] == ["reversed", "epsilon"]
    mod = r.diagnosis_details[0]["modifiers"][0]
    assert (mod["of"], mod["value"]) == ("both", 1e-8)
    assert "adds 1e-08 to both variances" in r.summary()


def test_vae_clamp_alone_and_with_sign():
    r = audit(vae_clamped, "diag-prior-logvar", samples=0)
    assert r.diagnoses[0] == ["clip"]
    mod = r.diagnosis_details[0]["modifiers"][0]
    assert (mod["quantity"], mod["lo"], mod["hi"]) == ("logvar", -30.0, 20.0)
    assert "clips the log-variance to [-30, 20]" in r.summary()
    assert "the correct formula explains" in r.summary()
    r = audit(vae_clamped_sign, "diag-prior-logvar", samples=0)
    assert r.diagnoses[0] == ["sign", "clip"]


def test_one_sided_clip_and_std_epsilon():
    r = audit(std_floor, "prior-std", samples=0)
    assert r.diagnoses[0] == ["clip"]
    mod = r.diagnosis_details[0]["modifiers"][0]
    assert mod["hi"] == "inf" and mod["text"] in (  # JSON-ready: infinity as text
        "clips the variance to at least 1e-08",
        "clips the standard deviation to at least 0.0001",
    )
    r = audit(std_eps, "prior-std", samples=0)
    assert r.diagnoses[0] == ["epsilon"]
    mod = r.diagnosis_details[0]["modifiers"][0]
    assert (mod["quantity"], mod["value"]) == ("std", 1e-6)
    assert mod["text"] == "adds 1e-06 to the standard deviation"


def test_a_clip_never_hides_a_wrong_formula_inside_the_range():
    """A wrong term inside the clip range: no modifier may explain it away."""

    def clipped_plus_quartic(mean, std):
        var = np.clip(std**2, 1e-6, 1e6)
        return 0.5 * (var + mean**2 - 1 - np.log(var)) + 0.01 * mean**4

    r = audit(clipped_plus_quartic, "prior-std", samples=0)
    assert r.diagnoses == [] and any("no known mistake" in n for n in r.notes)


def _clip_logvar(f, lo=-30.0, hi=20.0):
    """Wrap a naive diag-pair-logvar / prior-logvar implementation with torch-style clamps."""
    conv_params = f.__code__.co_argcount

    if conv_params == 2:
        return lambda mean, lv: f(mean, np.clip(lv, lo, hi))
    return lambda mp, lp, mq, lq: f(mp, np.clip(lp, lo, hi), mq, np.clip(lq, lo, hi))


@pytest.mark.parametrize(
    "name",
    ["prior-logvar", pytest.param("diag-pair-logvar", marks=pytest.mark.slow)],  # ~10 s
)
def test_every_single_mistake_with_a_clamp_is_diagnosed_first(name):
    """Each catalog mistake planted in code that clamps logvar to [-30, 20]: the mistake, then the clip."""
    conv = get_convention(name)
    for m in CATALOG:
        if not m.applies(conv):
            continue
        r = audit(_clip_logvar(build(name, (m.id,))), name, samples=0)
        assert r.diagnoses and r.diagnoses[0] == [m.id, "clip"], (name, m.id, r.diagnoses[:3])
        mod = r.diagnosis_details[0]["modifiers"][0]
        assert (mod["lo"], mod["hi"]) == (-30.0, 20.0), (name, m.id, mod)


def test_the_found_explanation_reproduces_every_probe():
    """The fast verification agrees with predicting every probe again."""
    ctx = _context("pair-std")
    mod = Modifier("clip", "var", "both", lo=1e-6, hi=1e6)
    pred = predict_modified(Explanation(("reversed",), apply(["reversed"], "pair-std")), (mod,), ctx.probes)
    values = np.array([reversed_clipped(*p.args()) for p in ctx.probes.probes])
    assert np.all(np.abs(values - pred.value) <= pred.tol)
    plain = predict_modified(Explanation((), Formula()), (mod,), ctx.probes)
    assert np.any(np.abs(values - plain.value) > plain.tol)


def test_transform_changes_only_what_it_guards():
    conv = get_convention("pair-logvar")
    params = {"mean_p": 0.0, "logvar_p": -40.0, "mean_q": 1.0, "logvar_q": 25.0}
    clip = Modifier("clip", "logvar", "both", lo=-30.0, hi=20.0)
    assert clip.transform(params, conv) == {"mean_p": 0.0, "logvar_p": -30.0, "mean_q": 1.0, "logvar_q": 20.0}
    only_q = Modifier("clip", "logvar", "q", lo=-30.0, hi=20.0).transform(params, conv)
    assert only_q["logvar_p"] == -40.0 and only_q["logvar_q"] == 20.0
    eps = Modifier("epsilon", "var", "q", value=1e-8).transform({**params, "logvar_q": -40.0}, conv)
    assert eps["logvar_q"] == pytest.approx(math.log(math.exp(-40.0) + 1e-8), rel=1e-15)
    std = get_convention("diag-prior-std")
    out = Modifier("clip", "var", lo=1e-6, hi=1e6).transform(
        {"mean": np.zeros(3), "std": np.array([1e-9, 1.0, 1e9])}, std
    )
    np.testing.assert_allclose(out["std"], [1e-3, 1.0, 1e3], rtol=1e-15)
    assert out["std"][1] == 1.0  # inside the range: the very same number


@needs("torch")
def test_torch_vae_loss_with_clamp_and_epsilon():
    import torch

    def kl_clamped(mu, logvar):
        logvar = torch.clamp(logvar, -30.0, 20.0)
        return -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp(), dim=-1)

    def kl_eps(mu_p, logvar_p, mu_q, logvar_q):
        var_p, var_q = logvar_p.exp() + 1e-8, logvar_q.exp() + 1e-8
        return 0.5 * torch.sum(torch.log(var_q / var_p) + (var_p + (mu_p - mu_q) ** 2) / var_q - 1, dim=-1)

    r = audit(kl_clamped, "diag-prior-logvar", backend="torch", samples=0)
    assert r.diagnoses[0] == ["clip"] and "clips the log-variance to [-30, 20]" in r.summary()
    assert audit(kl_clamped, "diag-prior-logvar", backend="torch", samples=0, domain={"logvar": (-30, 20)}).passed
    r = audit(kl_eps, "diag-pair-logvar", backend="torch", samples=0)
    assert r.diagnoses[0] == ["epsilon"] and "adds 1e-08 to both variances" in r.summary()
