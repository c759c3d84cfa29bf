"""Batch reductions: per-sample, sum and mean over the batch, recognised and audited per sample."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from lazymodules import needs

from mcverify import AuditError, audit
from mcverify.auditing.backends import get_backend
from mcverify.auditing.conventions import call_candidate, call_one
from mcverify.auditing.probes import probe_set, true_kl
from mcverify.auditing.reductions import REDUCTIONS, classify, pick_pair, with_batch_axis

NUMPY = get_backend("numpy")


# ------------------------------------------------------ candidates, shaped like VAE training code
def kl_batch_mean(mu, logvar):
    """``kld = torch.mean(-0.5 * torch.sum(1 + logvar - mu ** 2 - logvar.exp(), dim=1), dim=0)``, in numpy."""
    return np.mean(-0.5 * np.sum(1 + logvar - mu**2 - np.exp(logvar), axis=1), axis=0)


def kl_batch_sum(mu, logvar):
    """The PyTorch VAE example's ``KLD = -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp())``."""
    return -0.5 * np.sum(1 + logvar - mu**2 - np.exp(logvar))


def kl_per_sample(mu, logvar):
    return -0.5 * np.sum(1 + logvar - mu**2 - np.exp(logvar), axis=1)


def kl_batch_mean_sign(mu, logvar):
    """The batch mean with the sign flipped (a loss that maximises the KL)."""
    return np.mean(0.5 * np.sum(1 + logvar - mu**2 - np.exp(logvar), axis=1))


def univariate_batch_mean(mu, logvar):
    """A 1-D latent: ``-0.5 * mean(1 + logvar - mu^2 - exp(logvar))`` over the batch."""
    return -0.5 * np.mean(1 + logvar - mu**2 - np.exp(logvar))


def kl_batch_max(mu, logvar):
    """One number per batch that is neither a sum nor a mean: the worst sample."""
    return np.max(kl_per_sample(mu, logvar))


# ------------------------------------------------------------------------ the pure helpers
def test_classify_names_sum_and_mean_and_refuses_the_rest():
    va, vb = 0.7, 2.5
    assert classify(va, vb, 2 * va, va + vb) == "sum"
    assert classify(va, vb, va, (va + vb) / 2) == "mean"
    assert classify(va, vb, va, max(va, vb)) is None  # the max: [a, a] looks like a mean, [a, b] does not
    assert classify(va, vb, math.nan, va + vb) is None
    assert classify(0.0, 0.0, 0.0, 0.0) is None  # a zero value cannot tell a sum from a mean
    # within the tolerances only
    assert classify(va, vb, 2 * va + 1e-6, va + vb, 1e-12, 1e-12) is None
    assert classify(va, vb, 2 * va + 1e-6, va + vb, 1e-6, 1e-6) == "sum"
    assert REDUCTIONS == ("none", "sum", "mean")


def test_pick_pair_prefers_finite_nonzero_values_near_one():
    assert pick_pair(np.array([0.0, np.nan, 1e300, 0.9, 3.0])) == (3, 4)
    assert pick_pair(np.array([0.0, 2.0])) == (1, 1)
    assert pick_pair(np.array([0.0, np.inf, np.nan])) is None


def test_with_batch_axis():
    out = with_batch_axis((np.zeros(3), np.eye(3), np.asarray(1.5)))
    assert [a.shape for a in out] == [(1, 3), (1, 3, 3), (1,)]


# ----------------------------------------------------------------------- through the audit
@pytest.mark.parametrize(
    ("func", "convention", "reduction", "calls"),
    [
        (kl_batch_mean, "diag-prior-logvar", "mean", {"batches of one"}),
        (kl_batch_sum, "diag-prior-logvar", "sum", {"batches of one"}),
        (kl_per_sample, "diag-prior-logvar", "none", {"batched"}),
        (univariate_batch_mean, "prior-logvar", "mean", {"batches of one"}),
    ],
)
def test_reduction_is_recognised_and_the_per_sample_kl_passes(func, convention, reduction, calls):
    r = audit(func, convention, samples=0)
    assert r.verdict == "pass", r.summary()
    assert r.reduction == reduction and r.calls in calls
    # audited per sample: every value is the per-sample KL, not a batch statistic
    ps = probe_set(convention)
    truth = np.array([true_kl(p, convention) for p in ps.probes])
    assert np.all(np.abs(r.table["candidate"].to_numpy() - truth) <= r.table["tolerance"].to_numpy())
    assert r.as_dict()["reduction"] == reduction
    if reduction != "none":
        assert f"the function returns the {reduction} over the batch" in r.summary().splitlines()[1]
        assert any(f"returns the {reduction} of the per-sample KL" in n for n in r.notes)
    else:
        assert "over the batch" not in r.summary()


def test_a_wrong_batch_mean_fails_with_its_diagnosis_and_regions():
    r = audit(kl_batch_mean_sign, "diag-prior-logvar", samples=2_000)
    assert r.verdict == "fail" and r.reduction == "mean"
    assert r.diagnoses[0] == ["sign"]
    assert r.regions and r.evidence  # found by calling single points as batches of one
    assert all(np.isfinite(e.candidate) and e.candidate == pytest.approx(-e.truth, rel=1e-9) for e in r.evidence)
    json.dumps(r.as_dict(), allow_nan=False)


def test_a_batch_statistic_that_is_neither_sum_nor_mean_is_said_so():
    r = audit(kl_batch_max, "diag-prior-logvar", samples=0)
    assert r.verdict == "pass" and r.reduction == "none"
    assert any("differs from both the sum and the mean" in w for w in r.warnings)


def test_one_probe_call_is_retried_as_a_batch_of_one():
    # Rejects batches of more than one sample and indexes axis 1: plain 1-D calls raise AxisError.
    def one_sample_at_a_time(mu, logvar):
        if mu.shape[0] != 1:
            raise ValueError(f"expected one sample, got a batch of {mu.shape[0]}")
        return kl_per_sample(mu, logvar)

    ps = probe_set("diag-prior-logvar")
    groups = [[ps.probes[i].args() for i in idx] for idx in ps.batches()]
    out = call_candidate(one_sample_at_a_time, groups, NUMPY)
    assert out.mode in ("one per probe", "mixed") and out.batch_of_one  # a group of one probe batches
    assert all(e is None for e in out.errors)
    order = [i for idx in ps.batches() for i in idx]
    truth = np.array([true_kl(ps.probes[i], "diag-prior-logvar") for i in order])
    assert np.allclose(out.values, truth, rtol=1e-9, atol=1e-12)
    value, err = call_one(one_sample_at_a_time, ps.probes[-1].args(), NUMPY)
    assert err is None and value == pytest.approx(truth[order.index(len(ps) - 1)], rel=1e-12)


def test_when_all_fails_the_error_says_what_the_batched_call_returned():
    def squeezes(mu, logvar):  # squeeze() turns a batch of one into 1-D, then axis=1 is out of bounds
        mu, logvar = mu.squeeze(), logvar.squeeze()
        return np.mean(-0.5 * np.sum(1 + logvar - mu**2 - np.exp(logvar), axis=1))

    ps = probe_set("diag-prior-logvar")
    groups = [[ps.probes[i].args() for i in idx] for idx in ps.batches()]
    out = call_candidate(squeezes, groups, NUMPY)
    assert all(e is not None and e.startswith("AxisError") for e in out.errors)
    assert any("returns one number for a batch (shape ())" in n for n in out.notes)
    with pytest.raises(AuditError, match=r"raised on every probe \(first: AxisError.*a batched call .*shape"):
        audit(squeezes, "diag-prior-logvar", samples=0)


def test_d_shaped_output_is_reported_as_a_shape_not_nan():
    def forgets_the_sum(mu, logvar):  # per-dimension terms: the sum over the latent axis is missing
        return -0.5 * (1 + logvar - mu**2 - np.exp(logvar))

    r = audit(forgets_the_sum, "diag-prior-logvar", samples=0)
    assert r.verdict == "fail" and r.properties["wrong_shape"] > 0 and r.properties["raised"] == 0
    text = "\n".join(r.problems)
    dims = sorted(set(r.table.loc[r.table["d"] > 1, "d"]))
    assert any(f"returns shape ({d},)" in text for d in dims), text
    assert "nan" not in text and "raises" not in text
    assert "sum over the last axis" in text
    assert set(r.table.loc[r.table["d"] > 1, "status"]) == {"wrong-shape"}


@needs("torch")
def test_torch_batch_mean_and_sum():
    import torch

    def torch_mean(mu, logvar):
        return torch.mean(-0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp(), dim=1), dim=0)

    def torch_sum(mu, logvar):
        return -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp())

    for f, red in ((torch_mean, "mean"), (torch_sum, "sum")):
        r = audit(f, "diag-prior-logvar", backend="torch", samples=0)
        assert r.verdict == "pass" and r.reduction == red, r.summary()


@needs("jax")
@pytest.mark.slow  # JAX dispatches each operation of each single call eagerly: about 15 s
def test_jax_batch_mean():
    import jax.numpy as jnp

    def jax_mean(mean, logvar):
        return jnp.mean(-0.5 * jnp.sum(1 + logvar - mean**2 - jnp.exp(logvar), axis=-1))

    r = audit(jax_mean, "diag-prior-logvar", backend="jax", samples=0)
    assert r.verdict == "pass" and r.reduction == "mean", r.summary()


def test_accuracy_warning_does_not_guess_the_cancelling_operation():
    def log_difference(mean, logvar):  # cancels in log(a) - log(b), not in log(ratio) + ratio - 1
        var = np.exp(logvar)
        return 0.5 * (var + mean**2 - 1) - 0.5 * (np.log(var) - np.log(1.0))

    r = audit(log_difference, "prior-logvar", samples=0)
    [w] = [w for w in r.warnings if "loses relative accuracy" in w]
    assert "ratio" not in w and "p close to q" in w


def test_assert_kl_correct_can_require_the_reduction():
    from mcverify.testing import assert_kl_correct

    assert assert_kl_correct(kl_batch_mean, "diag-prior-logvar", reduction="mean").reduction == "mean"
    with pytest.raises(AssertionError, match="reduces the batch by 'sum', expected 'mean'"):
        assert_kl_correct(kl_batch_sum, "diag-prior-logvar", reduction="mean")


def test_per_sample_function_indexing_axis_1_gets_regions_and_evidence():
    def kl_axis1_sign(mu, logvar):  # per sample, needs the batch axis, and the sign is wrong
        return 0.5 * np.sum(1 + logvar - mu**2 - np.exp(logvar), axis=1)

    r = audit(kl_axis1_sign, "diag-prior-logvar", samples=2_000)
    assert r.verdict == "fail" and r.reduction == "none" and r.calls == "batched"
    assert r.diagnoses[0] == ["sign"] and r.regions
    # single points (regions, evidence) are called as batches of one, where a 1-D call raises AxisError
    assert r.evidence and all(e.candidate == pytest.approx(-e.truth, rel=1e-9) for e in r.evidence)
