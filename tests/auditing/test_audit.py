"""audit(): report fields, failing regions, evidence, warnings, properties, calling."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from naive_kl import build
from scipy.optimize import brentq

import mcverify
from mcverify import AuditError, AuditReport, audit

SAMPLES = 20_000


def classic(mean, std):
    return 0.5 * (std**2 - 1 - np.log10(std**2))


@pytest.fixture(scope="module")
def classic_report() -> AuditReport:
    return audit(classic, "prior-std", samples=SAMPLES)


def crossing() -> float:
    """Where s^2 - 1 = log10(s^2) below 1: the classic formula's zero."""
    return brentq(lambda s: s * s - 1 - math.log10(s * s), 0.1, 0.9, xtol=1e-15)


def test_exported():
    assert mcverify.audit is audit and mcverify.AuditReport is AuditReport


def test_report_fields(classic_report):
    r = classic_report
    assert r.verdict == "fail" and not r.passed
    assert r.convention == "prior-std" and r.backend == "numpy" and r.name == "classic"
    assert r.calls == "batched"
    cols = {
        "probe",
        "group",
        "d",
        "mean",
        "std",
        "candidate",
        "truth",
        "error",
        "tolerance",
        "relative_error",
        "status",
        "message",
    }
    assert cols <= set(r.table.columns)
    assert set(r.table["status"]) <= {"ok", "fail", "non-finite", "raised"}
    assert (r.table["tolerance"] > 0).all()
    d = r.as_dict()
    text = json.dumps(d, allow_nan=False)
    assert {"verdict", "diagnoses", "warnings", "convention", "failures", "evidence", "regions"} <= set(d)
    assert json.loads(text)["diagnoses"][0] == ["log10", "missing-mean"]
    assert "table" in r.as_dict(table=True)


def test_classic_case_diagnosis(classic_report):
    assert classic_report.diagnoses[0] == ["log10", "missing-mean"]
    assert "Diagnosis: log10 + missing-mean" in classic_report.summary()


def test_classic_case_failing_region(classic_report):
    s0 = crossing()
    assert 0.369 < s0 < 0.371
    scale = next(f for f in classic_report.regions if f.sweep == "scale")
    # At std = 1e9 the log term (about 20) is below float64's resolution of a KL of 5e17 (64):
    # no float64 program can show the mistake there, and the tolerance says so.
    assert scale.passing == [1.0, 1e9]
    [(lo, hi)] = scale.negative
    assert lo == pytest.approx(s0, rel=1e-8) and hi == pytest.approx(1.0, abs=1e-8)
    ((x, kl_there),) = scale.zeros
    assert x == pytest.approx(s0, rel=1e-8)
    assert kl_there == pytest.approx(0.5 * (s0**2 - 1 - math.log(s0**2)), rel=1e-12)
    text = classic_report.summary()
    assert "fails for every std except std = 1 and 1e+09" in text
    assert f"negative for std in ({s0:.4g}, 1), where the true KL is positive" in text
    assert f"zero at std = {s0:.4g}" in text
    mean = next(f for f in classic_report.regions if f.sweep == "mean")
    assert mean.passing == [0.0]


def test_classic_case_monte_carlo_evidence(classic_report):
    ev = {e.reason: e for e in classic_report.evidence}
    assert {"clearest disagreement", "most negative", "largest error", "zero crossing"} <= set(ev)
    for e in classic_report.evidence:
        assert e.samples == SAMPLES and e.mc_stderr > 0
        assert abs(e.z_truth) < 5  # Monte Carlo agrees with the closed form...
        assert abs(e.z_candidate) > 20  # ...and not with the candidate
        # its resolution, by the run table's power machinery: (z_0.975 + z_0.8) standard errors
        assert e.mc_detectable == pytest.approx((1.959964 + 0.841621) * e.mc_stderr, rel=1e-5)
        assert abs(e.candidate - e.truth) > e.mc_detectable and "with 80% power" in e.line()
    neg = ev["most negative"]
    assert neg.candidate < 0 < neg.mc_ci_low
    zero = ev["zero crossing"]
    assert zero.probe is None and abs(zero.candidate) < 1e-9
    assert zero.params["std"] == pytest.approx(crossing(), rel=1e-8)
    failures = classic_report.failures
    assert failures[0]["params"] == {"mean": -1000.0, "std": 1.0}
    assert failures[0]["evidence"]["reason"] == "largest error"


def test_evidence_is_reproducible():
    a = audit(classic, "prior-std", samples=5000)
    b = audit(classic, "prior-std", samples=5000)
    c = audit(classic, "prior-std", samples=5000, seed=1)
    assert [e.mc_estimate for e in a.evidence] == [e.mc_estimate for e in b.evidence]
    assert [e.mc_estimate for e in a.evidence] != [e.mc_estimate for e in c.evidence]


def test_no_evidence_with_zero_samples():
    r = audit(classic, "prior-std", samples=0)
    assert r.evidence == [] and r.regions


@pytest.mark.parametrize("name", ["diag-pair-var", "mvn"])
def test_evidence_for_vector_conventions(name):
    r = audit(build(name, ("missing-constant",)), name, samples=5000, evidence_points=2)
    assert len(r.evidence) == 2
    for e in r.evidence:
        assert abs(e.z_truth) < 5 and abs(e.z_candidate) > 5


def test_passing_report():
    r = audit(build("prior-logvar"), "prior-logvar")
    assert r.verdict == "pass" and r.passed
    assert r.diagnoses == [] and r.problems == [] and r.evidence == [] and r.regions == []
    assert r.failures == []
    assert "PASS" in r.summary().splitlines()[0]


def test_textbook_formula_passes_with_an_accuracy_warning():
    r = audit(lambda m1, s1, m2, s2: np.log(s2 / s1) + (s1**2 + (m1 - m2) ** 2) / (2 * s2**2) - 0.5, "pair-std")
    assert r.verdict == "pass"
    [w] = [w for w in r.warnings if "loses relative accuracy" in w]
    assert "p close to q" in w
    assert "true KL at most 1e-12" in w


def test_property_negative_values():
    r = audit(build("pair-var", ("sign",)), "pair-var", samples=0)
    assert r.properties["negative"] > 50
    assert any("a KL divergence is never negative" in p for p in r.problems)


def test_property_nonzero_at_equal():
    r = audit(build("pair-logstd", ("missing-constant",)), "pair-logstd", samples=0)
    assert r.properties["nonzero_at_equal"] == 6
    assert any(p.startswith("not zero at p = q: 0.5") for p in r.problems)


def test_property_nonfinite_for_valid_inputs():
    def overflowing(mp, cp, mq, cq):  # determinants of 1e8 * R in 5-d overflow nothing; fake it
        out = build("mvn")(mp, cp, mq, cq)
        return np.inf if np.max(cp) > 1e6 else out

    r = audit(overflowing, "mvn", samples=0)
    assert r.verdict == "fail"
    assert r.properties["nonfinite"] >= 1
    assert any(p.startswith("non-finite results for valid inputs") for p in r.problems)
    assert r.diagnoses == []
    assert any("right wherever it returns a number" in n for n in r.notes)


def test_exceptions_on_some_probes_fail_with_the_message():
    def picky(mean, std):
        if std > 1e3:
            raise OverflowError("too big")
        return 0.5 * (std**2 + mean**2 - 1 - math.log(std**2))

    r = audit(picky, "prior-std", samples=0)
    # std = 1e4, 1e6 and 1e9 (the scale sweep reaches 1e9)
    assert r.verdict == "fail" and r.properties["raised"] == 3 and r.calls == "one per probe"
    assert any("OverflowError: too big" in p for p in r.problems)
    assert r.table.loc[r.table["status"] == "raised", "message"].tolist() == ["OverflowError: too big"] * 3


def test_batched_and_fallback_calls_agree():
    batched = audit(build("pair-std", ("log2",)), "pair-std", samples=0)
    single = audit(
        lambda a, b, c, d: (
            float(build("pair-std", ("log2",))(a, b, c, d))
            if np.ndim(a) == 0
            else (_ for _ in ()).throw(TypeError("scalars only"))
        ),
        "pair-std",
        samples=0,
    )
    assert batched.calls == "batched" and single.calls == "one per probe"
    assert np.array_equal(batched.table["candidate"], single.table["candidate"])
    assert single.diagnoses == batched.diagnoses == [["log2"]]


def test_batch_mixing_candidate_is_warned_about_and_audited_singly():
    correct = build("prior-var")

    def mixing(m, v):
        out = correct(m, v)
        return np.roll(out, 1) if np.ndim(out) else out

    r = audit(mixing, "prior-var", samples=0)
    assert r.verdict == "pass" and r.calls == "one per probe"
    assert any("differs from a single call" in w for w in r.warnings)


def test_candidate_raising_everywhere_is_bad_input():
    def broken(mean, std):
        raise NotImplementedError("todo")

    with pytest.raises(AuditError, match=r"raised on every probe \(first: NotImplementedError: todo\).*f\(mean, std\)"):
        audit(broken, "prior-std")


def test_wrong_arity_is_bad_input():
    with pytest.raises(AuditError, match=r"raised on every probe.*TypeError"):
        audit(lambda m, s: m, "pair-std")


@pytest.mark.parametrize(
    "kwargs,match",
    [
        ({"convention": "prior-sd"}, "unknown convention"),
        ({"convention": "prior-std", "backend": "cupy"}, "unknown backend"),
        ({"convention": "prior-std", "samples": 1}, "samples must be"),
    ],
)
def test_bad_arguments(kwargs, match):
    with pytest.raises(AuditError, match=match):
        audit(classic, **kwargs)


def test_not_callable():
    with pytest.raises(AuditError, match="must be callable"):
        audit("0.5*std", "prior-std")


def test_failing_region_lists_intervals():
    def wrong_below_one(mean, std):
        kl = 0.5 * (std**2 + mean**2 - 1 - np.log(std**2))
        return np.where(std < 0.5, 2 * kl, kl)

    r = audit(wrong_below_one, "prior-std", samples=0)
    scale = next(f for f in r.regions if f.sweep == "scale")
    assert scale.failing == [[1e-9, 0.4]]  # the scale sweep reaches std = 1e-9
    assert "fails for std in [1e-09, 0.4]" in scale.text
    assert r.diagnoses == []


@pytest.mark.parametrize("name", ["pair-logvar", "diag-pair-std", "mvn"])
def test_evidence_is_ranked_by_exact_monte_carlo_standard_errors(name):
    from mcverify.auditing.evidence import llr_std
    from mcverify.auditing.probes import probe_set
    from mcverify.sampling.monte_carlo import monte_carlo_kl

    for p in probe_set(name).probes[3::11]:
        mc = monte_carlo_kl(*p.gaussians(), 50_000, seed=p.index)
        assert mc.std == pytest.approx(llr_std(p), rel=0.05, abs=1e-300)


def test_unresolvable_errors_are_not_offered_as_evidence():
    # log10 with the mean term: its largest absolute error (5.2 at KL = 5e7)
    # is far below what 1e5 draws can see; the evidence goes where they can.
    r = audit(lambda m, s: 0.5 * (s**2 + m**2 - 1 - np.log10(s**2)), "prior-std", samples=SAMPLES)
    assert r.diagnoses[0] == ["log10"]
    assert all(abs(e.z_candidate) > 20 for e in r.evidence)
    assert "largest error" not in {e.reason for e in r.evidence}


def test_regions_say_what_a_probe_without_a_value_did():
    """A probe that raised or returned no real number is not described as "returns nan"."""

    def raises_when_wide(mean, logvar):
        if np.any(np.abs(np.asarray(logvar)) > 10):
            raise ValueError("too wide")
        return 0.5 * np.sum(np.exp(logvar) + mean**2 - 1 - logvar, axis=-1)

    def complex_kl(mean, logvar):
        return 0.5 * np.sum(np.exp(logvar) + mean**2 - 1 - logvar, axis=-1) + 5j

    raising = mcverify.audit(raises_when_wide, "diag-prior-logvar", samples=0)
    text = "\n".join(r.text for r in raising.regions)
    assert "raises at logvar = -41.4465" in text and "returns nan" not in text  # the sweep's first point
    complex_ = mcverify.audit(complex_kl, "diag-prior-logvar", samples=0)
    text = "\n".join(r.text for r in complex_.regions)
    assert "returns no real number at" in text and "returns nan" not in text
