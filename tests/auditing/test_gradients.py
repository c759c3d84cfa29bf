"""The gradient audit, with torch and jax candidates shaped like real training code."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from lazymodules import LazyModule, needs
from scipy.stats import norm

from mcverify import audit
from mcverify.auditing.gradients import judge
from mcverify.auditing.probes import probe_set
from mcverify.testing import assert_kl_correct

#: Monte Carlo draws for mvn gradient evidence: enough to separate a wrong covariance gradient, and fast.
MVN_EVIDENCE_SAMPLES = 2_000
#: Each evidence line holds two z-tests (candidate, exact); family-wise level 1e-4 over 3 lines of 2.
Z_EVIDENCE = float(norm.ppf(1 - 1e-4 / 6 / 2))
#: Central difference of quadrature: the quadrature's rtol 1e-10 over a step of 1e-4 of the scale is
#: 1e-6 of KL / (scale * gradient), at most ~10 on the mvn probes; the truncation is 1e-8 relative.
FD_REL = 1e-5
#: The same over every mvn probe, relative to the largest gradient term: ill conditioning (up to 1e8)
#: adds the whitening's rounding u * kappa, over the step.
FD_SCALE = 1e-6


# ------------------------------------------------------------------ pure parts
def test_judge_orders_problems_and_counts_none_as_zero():
    exact, tol = np.array([1.0, 0.0]), np.array([1e-12, 1e-12])
    assert judge(np.array([1.0, 0.0]), exact, tol) == "ok"
    assert judge(np.array([np.nan, np.inf]), exact, tol) == "nan"
    assert judge(np.array([np.inf, 0.0]), exact, tol) == "inf"
    assert judge(None, exact, tol) == "zero"
    assert judge(np.zeros(2), exact, tol) == "zero"
    assert judge(np.array([1.1, 0.0]), exact, tol) == "wrong"
    assert judge(None, np.zeros(2), tol) == "ok"  # nothing to reach where the gradient is 0


def test_evidence_line_says_when_there_is_no_quadrature_difference():
    from mcverify.auditing.gradients import GradientEvidence

    e = GradientEvidence(0, "p", "cov_p[0, 1]", 1.0, 0.5, 0.51, 0.01, 49.0, -1.0, None, 100, 7)
    assert e.line().endswith(", no finite difference of quadrature (quadrature failed)")
    assert replace(e, finite_difference=0.5).line().endswith("exact z = -1), finite difference of quadrature 0.5")


def test_numpy_candidates_are_not_checked():
    def kl(mean, logvar):
        return -0.5 * np.sum(1 + logvar - mean**2 - np.exp(logvar), axis=-1)

    r = audit(kl, "diag-prior-logvar", samples=0)
    assert r.verdict == "pass" and r.gradient_verdict == "not-checked" and r.gradient_problems == []
    assert "Gradients" not in r.summary()  # numpy has nothing to differentiate: the text is as before
    assert r.as_dict()["gradient_verdict"] == "not-checked"


def test_bad_gradients_argument():
    from mcverify.errors import AuditError

    with pytest.raises(AuditError, match="gradients must be True or False"):
        audit(lambda m, s: m, "prior-std", gradients="yes")  # type: ignore[arg-type]


# ------------------------------------------------------------------ torch
@needs("torch")
class TestTorch:
    torch = LazyModule("torch")

    def test_textbook_vae_loss_passes_values_and_gradients(self):
        torch = self.torch

        def kl(mean, logvar):
            return -0.5 * torch.sum(1 + logvar - mean**2 - logvar.exp(), dim=-1)

        r = audit(kl, "diag-prior-logvar", backend="torch", samples=0)
        assert r.verdict == "pass" and r.gradient_verdict == "pass", r.summary()
        off = audit(kl, "diag-prior-logvar", backend="torch", samples=0, gradients=False)
        assert off.gradient_verdict == "not-checked"

    def test_nan_gradient_where_the_means_are_equal(self):
        torch = self.torch

        def kl(mean_p, std_p, mean_q, std_q):
            d = mean_p - mean_q
            gap = torch.sqrt(d**2) ** 2  # |d|^2: the value is right, d sqrt / dx at 0 is inf, times 0: NaN
            return torch.log(std_q / std_p) + (std_p**2 + gap) / (2 * std_q**2) - 0.5

        r = audit(kl, "pair-std", backend="torch", samples=0)
        assert r.value_verdict == "pass" and r.verdict == "fail"
        assert r.gradient_verdict == "fail" and r.gradient_problems == ["nan"]
        texts = [f.text for f in r.gradient.findings]
        assert "NaN gradient with respect to mean_p wherever mean_p = mean_q" in texts[0]
        assert {f.argument for f in r.gradient.findings} == {"mean_p", "mean_q"}
        with pytest.raises(AssertionError, match="NaN gradient"):
            assert_kl_correct(kl, "pair-std", backend="torch")
        assert_kl_correct(kl, "pair-std", backend="torch", gradients=False)

    def test_detached_mean_gives_no_gradient_with_evidence(self):
        torch = self.torch

        def kl(mean, logvar):
            return -0.5 * torch.sum(1 + logvar - mean.detach() ** 2 - logvar.exp(), dim=-1)

        r = audit(kl, "diag-prior-logvar", backend="torch", samples=20_000)
        assert r.value_verdict == "pass" and r.gradient_problems == ["zero"]
        (f,) = r.gradient.findings
        assert f.argument == "mean" and "wherever mean != 0" in f.text
        assert r.gradient.evidence
        for e in r.gradient.evidence:
            assert abs(e.z_exact) < 5 < abs(e.z_candidate)
            assert e.finite_difference == pytest.approx(e.exact, rel=1e-5, abs=1e-9)
        d = r.as_dict()
        assert d["gradients"]["problems"] == ["zero"] and d["gradients"]["evidence"]

    def test_detached_variance_gives_a_wrong_gradient(self):

        def kl(mean_p, logvar_p, mean_q, logvar_q):
            var_p = logvar_p.exp().detach()  # "it's only the scale", detached by mistake
            return 0.5 * (logvar_q - logvar_p + (var_p + (mean_p - mean_q) ** 2) / logvar_q.exp() - 1)

        r = audit(kl, "pair-logvar", backend="torch", samples=0)
        assert r.value_verdict == "pass" and r.gradient_problems == ["wrong"]
        assert [f.argument for f in r.gradient.findings] == ["logvar_p"]

    def test_wrong_hand_written_backward(self):
        torch = self.torch

        class PriorKL(torch.autograd.Function):
            @staticmethod
            def forward(ctx, mean, std):
                ctx.save_for_backward(mean, std)
                return 0.5 * (std**2 + mean**2 - 1) - torch.log(std)

            @staticmethod
            def backward(ctx, g):
                mean, std = ctx.saved_tensors
                return g * mean, g * (std - 1 / std) * 0.5  # the 1/2 is wrong: d/dstd = std - 1/std

        r = audit(PriorKL.apply, "prior-std", backend="torch", samples=5_000)
        assert r.value_verdict == "pass" and r.gradient_problems == ["wrong"]
        (f,) = r.gradient.findings
        assert f.argument == "std" and "std = 1" not in f.probes  # right where the true gradient is 0
        e = r.gradient.evidence[0]
        assert abs(e.z_exact) < 5 < abs(e.z_candidate)

    def test_mvn_symmetric_gradient_of_a_cholesky_formula_passes(self):
        torch = self.torch

        def kl(mean_p, cov_p, mean_q, cov_q):
            lq = torch.linalg.cholesky(cov_q)
            lp = torch.linalg.cholesky(cov_p)
            m = torch.linalg.solve_triangular(lq, lp, upper=False)
            b = torch.linalg.solve_triangular(lq, (mean_q - mean_p).unsqueeze(-1), upper=False).squeeze(-1)
            logdet = 2 * (
                torch.log(torch.diagonal(lq, dim1=-2, dim2=-1)).sum(-1)
                - torch.log(torch.diagonal(lp, dim1=-2, dim2=-1)).sum(-1)
            )
            return 0.5 * ((m**2).sum((-2, -1)) + (b**2).sum(-1) - mean_p.shape[-1] + logdet)

        r = audit(kl, "mvn", backend="torch", samples=0)
        assert r.verdict == "pass", r.summary()
        assert r.gradient_verdict == "pass"

    def test_mvn_wrong_covariance_gradient_gets_monte_carlo_and_quadrature_evidence(self):
        torch = self.torch

        def kl(mean_p, cov_p, mean_q, cov_q):
            iq = torch.cholesky_inverse(torch.linalg.cholesky(cov_q))
            diff = (mean_q - mean_p).unsqueeze(-1)
            trace = (iq * cov_p.detach()).sum((-2, -1))  # detached by mistake: the value is right
            maha = (diff.transpose(-1, -2) @ iq @ diff).squeeze(-1).squeeze(-1)
            return 0.5 * (trace + maha - mean_p.shape[-1] + torch.logdet(cov_q) - torch.logdet(cov_p))

        r = audit(kl, "mvn", backend="torch", samples=MVN_EVIDENCE_SAMPLES)
        assert r.value_verdict == "pass" and r.gradient_problems == ["wrong"]
        assert [f.argument for f in r.gradient.findings] == ["cov_p"]
        assert not any("no Monte Carlo gradient evidence" in n for n in r.gradient.notes)
        assert len(r.gradient.evidence) == 3
        for e in r.gradient.evidence:
            assert e.argument.startswith("cov_p[") and e.samples == MVN_EVIDENCE_SAMPLES
            assert abs(e.z_exact) < Z_EVIDENCE < abs(e.z_candidate), e.line()
            assert e.finite_difference == pytest.approx(e.exact, rel=FD_REL), e.line()
        text = r.summary()
        assert "Gradient evidence (pathwise Monte Carlo, 2000 draws" in text
        assert "d KL / d cov_p[" in text and "finite difference of quadrature" in text

    def test_mvn_hand_written_backward_in_the_unique_entry_convention_is_caught_off_the_diagonal(self):
        """A backward that returns the derivative in one triangle's free entries (2 G - diag G) for cov_q."""
        torch = self.torch

        class MvnKL(torch.autograd.Function):
            @staticmethod
            def forward(ctx, mean_p, cov_p, mean_q, cov_q):
                iq = torch.linalg.inv(cov_q)
                ip = torch.linalg.inv(cov_p)
                delta = (mean_p - mean_q).unsqueeze(-1)
                ctx.save_for_backward(iq, ip, delta, cov_p)
                trace = (iq * cov_p).sum((-2, -1))
                maha = (delta.transpose(-1, -2) @ iq @ delta).squeeze(-1).squeeze(-1)
                return 0.5 * (trace + maha - mean_p.shape[-1] + torch.logdet(cov_q) - torch.logdet(cov_p))

            @staticmethod
            def backward(ctx, g):
                iq, ip, delta, cov_p = ctx.saved_tensors
                g = g[..., None, None]
                g_mp = (iq @ delta).squeeze(-1)
                g_cq = 0.5 * (iq - iq @ (cov_p + delta @ delta.transpose(-1, -2)) @ iq)
                unique = 2 * g_cq - torch.diag_embed(torch.diagonal(g_cq, dim1=-2, dim2=-1))  # the mistake
                return g[..., 0] * g_mp, g * 0.5 * (iq - ip), -g[..., 0] * g_mp, g * unique

        r = audit(MvnKL.apply, "mvn", backend="torch", samples=MVN_EVIDENCE_SAMPLES)
        assert r.value_verdict == "pass" and r.gradient_problems == ["wrong"]
        assert [f.argument for f in r.gradient.findings] == ["cov_q"]
        assert r.gradient.evidence
        for e in r.gradient.evidence:
            i, j = (int(t) for t in e.argument.removeprefix("cov_q[").removesuffix("]").split(","))
            assert i != j, e.line()  # the diagonal is right; an off-diagonal entry is twice the truth
            assert abs(e.z_exact) < Z_EVIDENCE < abs(e.z_candidate), e.line()
            assert e.finite_difference == pytest.approx(e.exact, rel=FD_REL), e.line()


# ------------------------------------------------------------------ jax
@pytest.mark.slow  # jax compiles each probe shape's gradient: several seconds per audit
@needs("jax")
class TestJax:
    jax = LazyModule("jax")

    def test_textbook_passes_and_stop_gradient_is_zero(self):
        jnp = self.jax.numpy
        lax = self.jax.lax

        def kl(mean, logvar):
            return -0.5 * jnp.sum(1 + logvar - mean**2 - jnp.exp(logvar), axis=-1)

        def detached(mean, logvar):
            return -0.5 * jnp.sum(1 + logvar - lax.stop_gradient(mean) ** 2 - jnp.exp(logvar), axis=-1)

        assert audit(kl, "diag-prior-logvar", backend="jax", samples=0).gradient_verdict == "pass"
        r = audit(detached, "diag-prior-logvar", backend="jax", samples=0)
        assert r.value_verdict == "pass" and r.gradient_problems == ["zero"]

    def test_nan_gradient_where_the_means_are_equal(self):
        jnp = self.jax.numpy

        def kl(mean_p, std_p, mean_q, std_q):
            gap = jnp.sqrt((mean_p - mean_q) ** 2) ** 2
            return jnp.log(std_q / std_p) + (std_p**2 + gap) / (2 * std_q**2) - 0.5

        r = audit(kl, "pair-std", backend="jax", samples=0)
        assert r.gradient_problems == ["nan"]
        assert "wherever mean_p = mean_q" in r.gradient.findings[0].text

    def test_detached_variance_and_wrong_custom_vjp(self):
        jax = self.jax
        jnp = jax.numpy

        def detached(mean_p, logvar_p, mean_q, logvar_q):
            var_p = jax.lax.stop_gradient(jnp.exp(logvar_p))
            return 0.5 * (logvar_q - logvar_p + (var_p + (mean_p - mean_q) ** 2) / jnp.exp(logvar_q) - 1)

        r = audit(detached, "pair-logvar", backend="jax", samples=0)
        assert r.gradient_problems == ["wrong"] and r.gradient.findings[0].argument == "logvar_p"

        @jax.custom_vjp
        def prior_kl(mean, std):
            return 0.5 * (std**2 + mean**2 - 1) - jnp.log(std)

        def fwd(mean, std):
            return prior_kl(mean, std), (mean, std)

        def bwd(res, g):
            mean, std = res
            return g * mean, g * std  # forgets the -1/std of the log

        prior_kl.defvjp(fwd, bwd)
        r = audit(prior_kl, "prior-std", backend="jax", samples=0)
        assert r.value_verdict == "pass" and r.gradient_problems == ["wrong"]


def test_every_probe_set_has_exact_gradients():
    from mcverify.auditing.conventions import CONVENTIONS
    from mcverify.auditing.gradients import exact_gradient

    for name, conv in CONVENTIONS.items():
        ps = probe_set(name)
        for p in ps.probes:
            g = exact_gradient(p, conv)
            assert len(g.grads) == len(conv.params)
            for gk, (arg, v) in zip(g.grads, p.params.items(), strict=True):
                assert np.shape(gk) == np.shape(v), (name, arg)
                assert np.all(np.isfinite(gk))


def test_mvn_evidence_at_every_mvn_probe_agrees_with_the_exact_gradient():
    """Dimensions 2, 3 and 5, condition numbers up to 1e8: Monte Carlo within its stderr, quadrature differences close."""
    from mcverify.auditing.conventions import CONVENTIONS
    from mcverify.auditing.gradients import _mvn_evidence, exact_gradient

    conv = CONVENTIONS["mvn"]
    ps = probe_set("mvn")
    assert {p.d for p in ps.probes} == {2, 3, 5}
    z = float(norm.ppf(1 - 1e-4 / (4 * len(ps)) / 2))  # family-wise level 1e-4 over every probe and argument
    for p in ps.probes:
        exact = exact_gradient(p, conv)
        scale = max(float(np.max(m)) for m in exact.magnitudes)
        for k in range(4):
            e = _mvn_evidence(p, conv, k, None, 1_000, seed=11)  # None: the entry of largest exact gradient
            assert abs(e.z_exact) < z, e.line()
            assert e.finite_difference is not None, e.line()
            # central difference: truncation (h / lambda_min)^2 = 1e-8, quadrature and whitening errors
            # (rtol 1e-10, u * kappa with kappa <= 1e8) over the step: within 1e-6 of the gradient's scale
            assert abs(e.finite_difference - e.exact) <= FD_SCALE * scale, e.line()


@needs("torch")
def test_a_batch_mean_loss_gets_its_gradients_audited_per_sample():
    """A VAE loss that averages over the batch is differentiated on batches of one, where mean = per-sample KL."""
    import torch

    def kl_mean(mu, logvar):
        return torch.mean(-0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp(), dim=1))

    def kl_mean_detached(mu, logvar):
        return torch.mean(-0.5 * torch.sum(1 + logvar - mu.detach().pow(2) - logvar.exp(), dim=1))

    good = audit(kl_mean, "diag-prior-logvar", backend="torch", samples=0)
    assert (good.reduction, good.gradient_verdict) == ("mean", "pass")
    bad = audit(kl_mean_detached, "diag-prior-logvar", backend="torch", samples=0)
    assert (bad.reduction, bad.value_verdict, bad.gradient_problems) == ("mean", "pass", ["zero"])


@needs("tensorflow")
def test_tensorflow_gradients_are_audited():
    import tensorflow as tf

    def kl(mean, logvar):
        return -0.5 * tf.reduce_sum(1 + logvar - mean**2 - tf.exp(logvar), axis=-1)

    def kl_stopped(mean, logvar):
        return -0.5 * tf.reduce_sum(1 + logvar - tf.stop_gradient(mean) ** 2 - tf.exp(logvar), axis=-1)

    assert audit(kl, "diag-prior-logvar", backend="tensorflow", samples=0).gradient_verdict == "pass"
    bad = audit(kl_stopped, "diag-prior-logvar", backend="tensorflow", samples=0)
    assert (bad.value_verdict, bad.gradient_problems) == ("pass", ["zero"])
    half = audit(kl, "diag-prior-logvar", backend="tensorflow", samples=0, dtype="float16")
    assert "overflow" in half.precision_problems
