"""Keyword-only candidates: matched by name to the convention's arguments and called by keyword."""

from __future__ import annotations

import numpy as np
import pytest

from mcverify import AuditError, audit
from mcverify.auditing.conventions import get_convention
from mcverify.auditing.keywords import ALIASES, accepted_names, by_keyword


def kl_kwonly(*, mu, log_var):
    """``def kl_loss(*, mu, log_var)`` as a Lightning module's helper has it."""
    return -0.5 * np.sum(1 + log_var - mu**2 - np.exp(log_var), axis=-1)


def kl_kwonly_sign(*, mean, logvariance):
    return 0.5 * np.sum(1 + logvariance - mean**2 - np.exp(logvariance), axis=-1)


def gaussian_kl(*, mu1, sigma1, mu2, sigma2):
    return np.log(sigma2 / sigma1) + (sigma1**2 + (mu1 - mu2) ** 2) / (2 * sigma2**2) - 0.5


def test_keyword_only_candidates_pass_and_say_how_they_were_called():
    r = audit(kl_kwonly, "diag-prior-logvar", samples=0)
    assert r.verdict == "pass", r.summary()
    assert r.notes[0] == "called by keyword: mu=mean, log_var=logvar" and r.name == "kl_kwonly"
    r = audit(gaussian_kl, "pair-std", samples=0)
    assert r.verdict == "pass" and "mu1=mean_p, sigma1=std_p, mu2=mean_q, sigma2=std_q" in r.notes[0]


def test_keyword_only_candidate_with_a_mistake_gets_its_diagnosis():
    r = audit(kl_kwonly_sign, "diag-prior-logvar", samples=0)
    assert r.verdict == "fail" and r.diagnoses[0] == ["sign"]


def test_positional_candidates_are_untouched():
    def kl(mu, logvar):
        return kl_kwonly(mu=mu, log_var=logvar)

    assert by_keyword(kl, get_convention("prior-logvar")) == (kl, "")
    assert by_keyword(np.add, get_convention("prior-logvar"))[1] == ""


def test_mixed_positional_and_keyword_only():
    def kl(mean, *, logvar, eps=1e-12):  # an optional extra keeps its default
        return kl_kwonly(mu=mean, log_var=logvar)

    func, note = by_keyword(kl, get_convention("diag-prior-logvar"))
    assert note == "called by keyword: mean=mean, logvar=logvar"
    assert func(np.zeros(2), np.zeros(2)) == 0.0


def test_unmatched_names_are_refused_with_the_accepted_names():
    def kl(*, z, s):
        return z + s

    with pytest.raises(AuditError, match=r"parameter 'z' matches no argument of convention prior-logvar; accepted"):
        audit(kl, "prior-logvar", samples=0)

    def twice(*, mu, mean, logvar):
        return mu

    with pytest.raises(AuditError, match="both 'mu' and 'mean' name mean"):
        audit(twice, "prior-logvar", samples=0)

    def half(*, mu, lam=1.0):
        return mu

    with pytest.raises(AuditError, match="no parameter receives logvar"):
        audit(half, "prior-logvar", samples=0)


def test_accepted_names_cover_the_documented_forms():
    names = accepted_names(get_convention("pair-logvar"))
    assert {"mu_p", "mu1", "mu_1", "p_mu", "mean_p"} <= set(names["mean_p"])
    assert {"logvar_q", "log_var2", "q_logvariance"} <= set(names["logvar_q"])
    assert set(ALIASES) == {"mean", "std", "var", "logvar", "logstd", "cov"}
    assert accepted_names(get_convention("prior-std"))["std"] == ALIASES["std"]
