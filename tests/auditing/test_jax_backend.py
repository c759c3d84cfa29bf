"""The jax backend: JAX losses audited on float64 arrays, 64-bit mode only during calls."""

from __future__ import annotations

import sys

import numpy as np
import pytest
from lazymodules import LazyModule, needs

from mcverify import audit
from mcverify.auditing.backends import BackendUnavailable, get_backend

pytestmark = needs("jax")
jax = LazyModule("jax")
jnp = LazyModule("jax.numpy")


def vae_kl(mean, logvar):
    return -0.5 * jnp.sum(1 + logvar - mean**2 - jnp.exp(logvar), axis=-1)


def test_vae_loss_passes_and_sees_float64():
    seen = []

    def spy(mean, logvar):
        seen.append((mean.dtype, logvar.dtype))
        return vae_kl(mean, logvar)

    r = audit(spy, "diag-prior-logvar", backend="jax", samples=0)
    assert r.verdict == "pass", r.summary()
    assert r.calls == "batched" and r.backend == "jax"
    assert all(a == b == jnp.float64 for a, b in seen)


def test_jitted_function_passes():
    r = audit(jax.jit(vae_kl), "diag-prior-logvar", backend="jax", samples=0)
    assert r.verdict == "pass", r.summary()


@pytest.mark.slow  # compiles every linalg op for every probe shape: ~5 s
def test_mvn_with_jnp_linalg_passes():
    def kl(mp, cp, mq, cq):
        lq = jnp.linalg.cholesky(cq)
        lp = jnp.linalg.cholesky(cp)
        m = jax.scipy.linalg.solve_triangular(lq, lp, lower=True)
        b = jax.scipy.linalg.solve_triangular(lq, (mp - mq)[..., None], lower=True)[..., 0]
        logdet = jnp.sum(jnp.log(jnp.diagonal(lq, axis1=-2, axis2=-1)), -1) - jnp.sum(
            jnp.log(jnp.diagonal(lp, axis1=-2, axis2=-1)), -1
        )
        return logdet + 0.5 * (jnp.sum(m * m, (-2, -1)) + jnp.sum(b * b, -1) - mp.shape[-1])

    r = audit(kl, "mvn", backend="jax", samples=0)
    assert r.verdict == "pass", r.summary()


def test_mistake_is_diagnosed():
    r = audit(lambda m, s: 0.5 * (s**2 - 1 - jnp.log10(s**2)), "prior-std", backend="jax", samples=2000)
    assert r.diagnoses[0] == ["log10", "missing-mean"] and r.evidence


def test_64_bit_mode_is_not_left_on():
    before = bool(jax.config.jax_enable_x64)
    audit(vae_kl, "diag-prior-logvar", backend="jax", samples=0)
    assert bool(jax.config.jax_enable_x64) == before


def test_missing_jax_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "jax", None)
    with pytest.raises(BackendUnavailable, match=r"pip install 'mcverify\[jax\]'"):
        get_backend("jax")


def test_results_back_as_numpy():
    r = audit(vae_kl, "diag-prior-logvar", backend="jax", samples=0)
    assert r.table["candidate"].dtype == np.float64
