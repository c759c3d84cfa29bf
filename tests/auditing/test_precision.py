"""The training-dtype audit: candidates fed float32, bfloat16 and float16 inputs."""

from __future__ import annotations

import numpy as np
import pytest
from lazymodules import LazyModule, needs

from mcverify import audit
from mcverify.auditing.precision import FORMATS
from mcverify.errors import AuditError
from mcverify.testing import assert_kl_correct


def test_formats_match_numpy():
    for name in ("float32", "float16"):
        fi = np.finfo(name)
        fmt = FORMATS[name]
        assert fmt.unit_roundoff == fi.eps / 2 and fmt.largest == fi.max and fmt.smallest_normal == fi.tiny
    ml = pytest.importorskip("ml_dtypes")
    fi = ml.finfo(ml.bfloat16)
    assert FORMATS["bfloat16"].unit_roundoff == float(fi.eps) / 2 and FORMATS["bfloat16"].largest == float(fi.max)


def numpy_prior_kl(mean, logvar):
    return -0.5 * (1 + logvar - mean**2 - np.exp(logvar))


def test_numpy_float16_overflow_region_and_float64_unchanged():
    r = audit(numpy_prior_kl, "prior-logvar", samples=0, dtype="float16")
    assert r.value_verdict == "pass" and r.verdict == "fail" and r.dtype == "float16"
    assert r.precision_problems == ["overflow"]
    assert any("overflows to inf for logvar > 11.09 in float16" in f for f in r.precision.findings), r.summary()
    assert r.as_dict()["precision_problems"] == ["overflow"]
    plain = audit(numpy_prior_kl, "prior-logvar", samples=0)
    assert plain.passed and plain.precision_verdict == "not-checked" and plain.precision_problems == []


def test_bad_dtype_is_refused():
    with pytest.raises(AuditError, match="unknown dtype 'float8'"):
        audit(numpy_prior_kl, "prior-logvar", dtype="float8")


@needs("torch")
class TestTorch:
    torch = LazyModule("torch")

    def test_float16_overflow_of_exp_logvar(self):

        def kl(mean, logvar):
            return -0.5 * (1 + logvar - mean**2 - logvar.exp())

        r = audit(kl, "prior-logvar", backend="torch", samples=0, dtype="float16")
        assert r.precision_problems == ["overflow"] and r.gradient_verdict == "pass"
        assert any("overflows to inf for logvar > 11.09 in float16" in f for f in r.precision.findings)
        with pytest.raises(AssertionError, match="overflows to inf"):
            assert_kl_correct(kl, "prior-logvar", backend="torch", dtype="float16")

    def test_upcasting_candidate_passes_in_bfloat16_and_float16(self):
        torch = self.torch
        seen = []

        def kl(mean, logvar):
            seen.append(mean.dtype)
            wide = torch.promote_types(mean.dtype, torch.float32)  # at least float32, as mixed precision does
            m, lv = mean.to(wide), logvar.to(wide)
            return (-0.5 * torch.sum(1 + lv - m**2 - lv.exp(), dim=-1)).to(mean.dtype)

        for dt in ("bfloat16", "float16"):
            r = assert_kl_correct(kl, "diag-prior-logvar", backend="torch", dtype=dt)
            assert r.precision_verdict == "pass"
        assert torch.bfloat16 in seen

    def test_textbook_float32_passes_with_at_most_a_warning(self):
        torch = self.torch

        def kl(mean_p, std_p, mean_q, std_q):
            return torch.log(std_q / std_p) + (std_p**2 + (mean_p - mean_q) ** 2) / (2 * std_q**2) - 0.5

        r = audit(kl, "pair-std", backend="torch", samples=0, dtype="float32")
        assert r.verdict == "pass", r.summary()
        assert r.precision_verdict == "pass" and r.precision_problems == []

    def test_a_log_taken_in_half_precision_fails_in_float32(self):
        torch = self.torch

        def kl(mean_p, std_p, mean_q, std_q):
            log_ratio = torch.log(std_q.half() / std_p.half()).to(std_p.dtype)  # an op left in half precision
            return log_ratio + (std_p**2 + (mean_p - mean_q) ** 2) / (2 * std_q**2) - 0.5

        r = audit(kl, "pair-std", backend="torch", samples=0, dtype="float32", gradients=False)
        assert "cancellation" in r.precision_problems, r.summary()
        assert any("loses more accuracy than the dtype allows in float32" in f for f in r.precision.findings)

    def test_expanded_square_passes_its_gradient_in_float64(self):
        torch = self.torch

        def kl(mean_p, std_p, mean_q, std_q):
            sq = mean_p**2 - 2 * mean_p * mean_q + mean_q**2  # (mean_p - mean_q)^2, expanded
            return torch.log(std_q / std_p) + (std_p**2 + sq) / (2 * std_q**2) - 0.5

        assert audit(kl, "pair-std", backend="torch", samples=0).gradient_verdict == "pass"


@needs("jax")
class TestJax:
    jax = LazyModule("jax")

    @pytest.mark.slow
    def test_float16_overflow_upcasting_bfloat16_and_float32_textbook(self):
        jnp = self.jax.numpy

        def kl(mean, logvar):
            return -0.5 * (1 + logvar - mean**2 - jnp.exp(logvar))

        def upcast(mean, logvar):
            wide = jnp.promote_types(mean.dtype, jnp.float32)  # at least float32, as mixed precision does
            m, lv = mean.astype(wide), logvar.astype(wide)
            return (-0.5 * (1 + lv - m**2 - jnp.exp(lv))).astype(mean.dtype)

        r = audit(kl, "prior-logvar", backend="jax", samples=0, dtype="float16", gradients=False)
        assert r.precision_problems == ["overflow"]
        assert any("overflows to inf for logvar > 11.09 in float16" in f for f in r.precision.findings)
        assert audit(upcast, "prior-logvar", backend="jax", samples=0, dtype="bfloat16", gradients=False).passed
        r32 = audit(kl, "prior-logvar", backend="jax", samples=0, dtype="float32", gradients=False)
        assert r32.verdict == "pass", r32.summary()


def test_numpy_bfloat16_with_ml_dtypes_and_a_clear_error_without(monkeypatch):
    import sys

    from mcverify.auditing.backends import BackendUnavailable

    pytest.importorskip("ml_dtypes")
    r = audit(numpy_prior_kl, "prior-logvar", samples=0, dtype="bfloat16")
    assert r.precision_verdict == "pass", r.summary()
    monkeypatch.setitem(sys.modules, "ml_dtypes", None)  # as if not installed
    with pytest.raises(BackendUnavailable, match="numpy has no bfloat16 without the ml_dtypes package"):
        audit(numpy_prior_kl, "prior-logvar", samples=0, dtype="bfloat16")


def test_classic_log10_mistake_is_negative_and_off_in_float32_too():
    def classic(mean, std):
        return 0.5 * (std**2 + mean**2 - 1 - np.log10(std**2))

    r = audit(classic, "prior-std", samples=0, dtype="float32")
    assert r.value_verdict == "fail"
    assert {"negative", "cancellation"} <= set(r.precision_problems)
    assert any(f.startswith("negative in float32") for f in r.precision.findings)


@needs("torch")
def test_torch_mvn_distribution_passes_in_float32():
    from torch.distributions import MultivariateNormal, kl_divergence

    def kl(mean_p, cov_p, mean_q, cov_q):
        return kl_divergence(
            MultivariateNormal(mean_p, covariance_matrix=cov_p), MultivariateNormal(mean_q, covariance_matrix=cov_q)
        )

    r = audit(kl, "mvn", backend="torch", samples=0, dtype="float32")
    assert r.verdict == "pass" and r.gradient_verdict == "pass" and r.precision_verdict == "pass", r.summary()
