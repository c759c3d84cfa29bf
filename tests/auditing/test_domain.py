"""The probed domain: wide probes, their truth at the extremes, the ranges a verdict states, --domain."""

from __future__ import annotations

import math

import mpmath
import numpy as np
import pytest

from mcverify import AuditError, audit
from mcverify.auditing.auditor import _context
from mcverify.auditing.conventions import CONVENTIONS, get_convention
from mcverify.auditing.domain import Bound, as_bounds, coverage, describe, parse_domain, probes_within
from mcverify.auditing.probes import probe_set, true_kl


def vae_kl(mu, logvar):
    return -0.5 * np.sum(1 + logvar - mu**2 - np.exp(logvar), axis=-1)


def vae_clamped(mu, logvar):
    logvar = np.clip(logvar, -30.0, 20.0)
    return vae_kl(mu, logvar)


@pytest.mark.parametrize("name", [n for n in CONVENTIONS if n != "mvn"])
def test_scale_sweeps_reach_training_clamps(name):
    """log-variances to at least +-40 (std 1e-9 to 1e9) on every scale sweep."""
    ps = probe_set(name)
    for key, sw in ps.sweeps.items():
        if sw.axis in ("mean", "mean_p"):
            continue
        lvs = [
            float(p.logvar_p[0] if sw.axis == get_convention(name).params[1] else p.logvar_q[0])
            for _, p in ps.on_sweep(key)
        ]
        assert min(lvs) <= -40 and max(lvs) >= 40, (name, key)
    cov = coverage(ps)
    # log scales keep 6 digits: logvar -41.4465 is std 1.000016e-09
    assert cov["std"][0] == pytest.approx(1e-9, rel=1e-4) and cov["std"][1] == pytest.approx(1e9, rel=1e-4)


def _mp_kl(p, conv) -> mpmath.mpf:
    """KL of the probe's numbers in mpmath, from the exact log-variances (log scales) or the scales."""
    total = mpmath.mpf(0)
    names = conv.params
    for i in range(p.d):
        if conv.scale in ("logvar", "logstd"):
            lp, lq = mpmath.mpf(float(p.logvar_p[i])), mpmath.mpf(float(p.logvar_q[i]))
        else:
            k = 2 if conv.scale == "std" else 1
            sp = np.atleast_1d(p.params[names[1]])[i]
            sq = np.atleast_1d(p.params[names[3]])[i] if conv.has_q else 1.0
            lp, lq = k * mpmath.log(mpmath.mpf(float(sp))), k * mpmath.log(mpmath.mpf(float(sq)))
        dm = mpmath.mpf(float(p.mean_p[i])) - mpmath.mpf(float(p.mean_q[i]))
        a = lp - lq
        total += (mpmath.exp(a) - 1 - a + dm**2 * mpmath.exp(-lq)) / 2
    return total


@pytest.mark.parametrize("name", ["prior-std", "pair-var", "pair-logvar", "diag-prior-logvar", "diag-pair-logstd"])
def test_truth_and_tolerance_at_the_wide_probes_against_mpmath(name):
    """At |logvar| >= 27 the truth is good to 1e-13 relative, well inside the audit's tolerance."""
    conv = get_convention(name)
    ctx = _context(name)
    mpmath.mp.dps = 50
    wide = [p for p in ctx.probes.probes if np.max(np.abs(np.concatenate([p.logvar_p, p.logvar_q]))) > 27]
    assert len(wide) >= 4
    for p in wide:
        ref = float(_mp_kl(p, conv))
        got = true_kl(p, conv)
        assert abs(got - ref) <= 1e-13 * ref, p.label()
        assert abs(got - ref) <= 0.01 * ctx.tol[p.index], p.label()


def test_a_pass_states_what_it_covers():
    r = audit(vae_kl, "diag-prior-logvar", samples=0)
    assert r.verdict == "pass"
    assert set(r.domain) == {"mean", "logvar", "std"}
    lo, hi = r.domain["logvar"]
    assert lo <= -40 and hi >= 40
    text = r.summary()
    assert f"probes on {r.domain_text}, all within" in text
    assert r.domain_text == "mean -100..1000, logvar -41.4465..41.4465 (std 1e-09..1e+09)"
    d = r.as_dict()
    assert d["domain"]["logvar"] == [lo, hi] and d["domain_text"] == r.domain_text
    r = audit(lambda m, s: 0.5 * (s**2 + m**2 - 1 - np.log(s**2)), "prior-std", samples=0)
    assert "on mean -1000..1000, std 1e-09..1e+09" in r.summary()


def test_a_clamp_inside_the_default_domain_fails_and_passes_on_the_users_terms():
    r = audit(vae_clamped, "diag-prior-logvar", samples=0)
    assert r.verdict == "fail" and r.diagnoses[0] == ["clip"]
    r = audit(vae_clamped, "diag-prior-logvar", samples=0, domain={"logvar": (-30, 20)})
    assert r.verdict == "pass", r.summary()
    lo, hi = r.domain["logvar"]
    assert -30 <= lo and hi <= 20
    assert "logvar -27.631..18.4207" in r.summary()
    # the same bound given as standard deviations
    r2 = audit(vae_clamped, "diag-prior-logvar", samples=0, domain={"std": (math.exp(-15), math.exp(10))})
    assert r2.verdict == "pass" and len(r2.table) == len(r.table)


def test_a_wider_domain_catches_a_clamp_outside_the_default_one():
    def clamped_wide(mu, logvar):
        return vae_kl(mu, np.clip(logvar, -60.0, 60.0))

    assert audit(clamped_wide, "diag-prior-logvar", samples=0).verdict == "pass"
    r = audit(clamped_wide, "diag-prior-logvar", samples=0, domain={"logvar": (-100, 100)})
    assert r.verdict == "fail" and r.diagnoses[0] == ["clip"]
    assert r.domain["logvar"] == (-100.0, 100.0)
    mod = r.diagnosis_details[0]["modifiers"][0]
    assert (mod["lo"], mod["hi"]) == (-60.0, 60.0)
    assert audit(vae_kl, "diag-prior-logvar", samples=0, domain={"logvar": (-100, 100)}).verdict == "pass"


def test_widening_adds_sweep_points_and_restricting_removes_probes():
    base = probe_set("pair-std")
    wide = probes_within("pair-std", parse_domain("std=1e-12..1e12"))
    assert len(wide) > len(base)
    assert coverage(wide)["std"] == (1e-12, 1e12)
    assert [p.index for p in wide.probes] == list(range(len(wide)))
    narrow = probes_within("pair-std", parse_domain("std=0.01..100, mean=-10..10"))
    cov = coverage(narrow)
    assert 0.01 <= cov["std"][0] and cov["std"][1] <= 100 and -10 <= cov["mean"][0] and cov["mean"][1] <= 10
    only_q = probes_within("pair-std", parse_domain("std_q=0.5..2"))
    assert all(0.5 <= p.params["std_q"] <= 2 for p in only_q.probes)
    assert any(p.params["std_p"] < 0.5 for p in only_q.probes)


def test_parse_domain_forms():
    assert parse_domain("logvar=-30..20") == (Bound("logvar", -30.0, 20.0),)
    assert parse_domain(["mean=-5..5", "logvar=-30..inf"]) == (
        Bound("logvar", -30.0, math.inf),
        Bound("mean", -5.0, 5.0),
    )
    assert parse_domain("mean=-5..5, std=1e-3..1e3") == parse_domain(["std=1e-3..1e3", "mean=-5..5"])
    assert as_bounds({"logvar": (-30, 20)}) == (Bound("logvar", -30.0, 20.0),)
    assert as_bounds(None) == ()
    assert describe({"mean": (-1.0, 1.0), "logvar": (-2.0, 2.0), "std": (0.37, 2.7)}) == (
        "mean -1..1, logvar -2..2 (std 0.37..2.7)"
    )
    # The object conventions merge their kinds' ranges: std is their own scale there, and the
    # eigenvalues of the full kind are a range of their own, not standard deviations.
    assert describe({"mean": (-1.0, 1.0), "std": (1e-9, 1e9), "cov eigenvalues": (1e-9, 1e8)}) == (
        "mean -1..1, std 1e-09..1e+09, cov eigenvalues 1e-09..1e+08"
    )


@pytest.mark.parametrize(
    "text,message",
    [
        ("logvar", "'logvar': write NAME=LO..HI"),
        ("logvar=-30", "write NAME=LO..HI"),
        ("size=1..2", "size: unknown parameter"),
        ("logvar=a..2", "logvar: 'a' is not a number"),
        ("logvar=3..2", "logvar: the range must have LO < HI"),
        ("std=-1..2", "std: a std is positive"),
        ("mean=1..2,mean=0..3", "mean: given twice"),
        ("", "no bounds given"),
    ],
)
def test_bad_domain_text_names_the_field(text, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(")):
        parse_domain(text)


def test_bad_domain_in_the_api_is_an_audit_error():
    with pytest.raises(AuditError, match="domain: logvar: mvn takes covariances"):
        audit(vae_kl, "mvn", domain={"logvar": (-1, 1)})
    with pytest.raises(AuditError, match="domain: std_q: diag-prior-logvar takes mean, logvar"):
        audit(vae_kl, "diag-prior-logvar", domain={"std_q": (1, 2)})
    with pytest.raises(AuditError, match="domain: logvar: give the range as"):
        audit(vae_kl, "diag-prior-logvar", domain={"logvar": 3})
    with pytest.raises(AuditError, match="leaves no probe"):
        audit(vae_kl, "diag-prior-logvar", domain={"mean": (2000, 3000), "logvar": (1, 2)})
    with pytest.raises(AuditError, match="beyond what float64 holds"):
        audit(vae_kl, "diag-prior-logvar", domain={"logvar": (-1, 900)})


def test_convert_scale_between_every_pair_of_scales():
    from mcverify.auditing.conventions import convert_scale

    std = np.array([1e-9, 0.37, 1.0, 1e9])
    forms = {"std": std, "var": std**2, "logvar": 2 * np.log(std), "logstd": np.log(std)}
    for src, x in forms.items():
        for dst, want in forms.items():
            np.testing.assert_allclose(convert_scale(src, dst, x), want, rtol=1e-14, atol=1e-14)
    assert convert_scale("logvar", "logvar", -30.0) == -30.0 and isinstance(convert_scale("std", "var", 2.0), float)


def test_pytest_helper_takes_the_domain():
    from mcverify.testing import assert_kl_correct

    assert assert_kl_correct(vae_clamped, "diag-prior-logvar", domain={"logvar": (-30, 20)}).passed
    with pytest.raises(AssertionError, match=r"clip \(clips the log-variance to \[-30, 20\]\)"):
        assert_kl_correct(vae_clamped, "diag-prior-logvar")
