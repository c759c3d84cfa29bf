"""The torch backend: PyTorch losses audited as they run, on float64 tensors."""

from __future__ import annotations

import numpy as np
from lazymodules import LazyModule, needs

from mcverify import audit

pytestmark = needs("torch")
torch = LazyModule("torch")
td = LazyModule("torch.distributions")  # import torch.distributions as td


def test_normal_kl_divergence_passes_in_pair_conventions():
    def by_std(mp, sp, mq, sq):
        return td.kl_divergence(td.Normal(mp, sp), td.Normal(mq, sq))

    def by_var(mp, vp, mq, vq):
        return td.kl_divergence(td.Normal(mp, vp.sqrt()), td.Normal(mq, vq.sqrt()))

    def by_logvar(mp, lp, mq, lq):
        return td.kl_divergence(td.Normal(mp, torch.exp(0.5 * lp)), td.Normal(mq, torch.exp(0.5 * lq)))

    for f, name in ((by_std, "pair-std"), (by_var, "pair-var"), (by_logvar, "pair-logvar")):
        r = audit(f, name, backend="torch", samples=0)
        assert r.verdict == "pass", r.summary()
        assert r.calls == "batched" and r.backend == "torch"


def test_normal_kl_divergence_passes_summed_over_dims():
    def diag(mp, sp, mq, sq):
        return td.kl_divergence(td.Normal(mp, sp), td.Normal(mq, sq)).sum(-1)

    def prior(mean, logstd):
        p = td.Normal(mean, logstd.exp())
        return td.kl_divergence(p, td.Normal(torch.zeros_like(mean), torch.ones_like(mean))).sum(-1)

    assert audit(diag, "diag-pair-std", backend="torch", samples=0).verdict == "pass"
    assert audit(prior, "diag-prior-logstd", backend="torch", samples=0).verdict == "pass"


def test_multivariate_normal_kl_divergence_passes():
    def mvn(mp, cp, mq, cq):
        return td.kl_divergence(
            td.MultivariateNormal(mp, covariance_matrix=cp), td.MultivariateNormal(mq, covariance_matrix=cq)
        )

    r = audit(mvn, "mvn", backend="torch", samples=0)
    assert r.verdict == "pass", r.summary()
    assert r.calls == "batched"


def test_candidate_receives_float64_tensors():
    seen = []

    def spy(mean, logvar):
        seen.append((type(mean), mean.dtype, logvar.dtype))
        return -0.5 * torch.sum(1 + logvar - mean**2 - logvar.exp(), dim=-1)

    r = audit(spy, "diag-prior-logvar", backend="torch", samples=0)
    assert r.verdict == "pass"
    assert all(t is torch.Tensor and a == b == torch.float64 for t, a, b in seen)


def test_torch_mistakes_are_diagnosed():
    def vae_mean(mean, logvar):  # the common slip: mean over latent dimensions
        return -0.5 * torch.mean(1 + logvar - mean.pow(2) - logvar.exp(), dim=-1)

    def reversed_mvn(mp, cp, mq, cq):
        return td.kl_divergence(
            td.MultivariateNormal(mq, covariance_matrix=cq), td.MultivariateNormal(mp, covariance_matrix=cp)
        )

    r = audit(vae_mean, "diag-prior-logvar", backend="torch", samples=2000)
    assert r.diagnoses[0] == ["mean-over-dims"] and r.evidence
    assert audit(reversed_mvn, "mvn", backend="torch", samples=0).diagnoses[0] == ["reversed"]


def test_float32_loss_fails_as_a_precision_problem():
    def float32(mean, logvar):
        m, lv = mean.float(), logvar.float()
        return -0.5 * torch.sum(1 + lv - m**2 - lv.exp(), dim=-1)

    r = audit(float32, "diag-prior-logvar", backend="torch", samples=0)
    assert r.verdict == "fail" and r.diagnoses == []
    assert any("precision problem" in n for n in r.notes)


def test_results_back_as_numpy():
    r = audit(
        lambda mp, sp, mq, sq: td.kl_divergence(td.Normal(mp, sp), td.Normal(mq, sq)),
        "pair-std",
        backend="torch",
        samples=0,
    )
    assert r.table["candidate"].dtype == np.float64
