"""Few array shapes per audit: a candidate compiled per shape (JAX) compiles a handful of programs."""

from __future__ import annotations

import numpy as np
import pytest
from lazymodules import needs

from mcverify import audit
from mcverify.auditing.conventions import CONVENTIONS
from mcverify.auditing.probes import DIMS, probe_set

DIAG = [n for n in CONVENTIONS if n.startswith("diag-")]


@pytest.mark.parametrize("name", DIAG)
def test_diagonal_probes_come_in_two_dimensions(name):
    ps = probe_set(name)
    assert sorted({p.d for p in ps.probes}) == sorted(DIMS) == [1, 4]
    assert len(ps.batches()) == 2


def _prior_kl(xp):
    def kl(mean, logvar):
        return -0.5 * xp.sum(1 + logvar - mean**2 - xp.exp(logvar), axis=-1)

    return kl


def _shapes_seen(func, name, backend):
    seen = set()

    def spy(*args):
        seen.add(tuple(tuple(a.shape) for a in args))
        return func(*args)

    r = audit(spy, name, backend=backend, samples=0)
    assert r.verdict == "pass", r.summary()
    return seen


def test_a_passing_diagonal_audit_uses_four_shapes():
    """One batch per dimension and the single calls that cross-check it: (n1, 1), (1,), (n4, 4), (4,)."""
    seen = _shapes_seen(_prior_kl(np), "diag-prior-logvar", "numpy")
    assert len(seen) == 4
    assert {s[0] for s in seen} >= {(1,), (4,)}


@needs("jax")
def test_a_first_jax_audit_compiles_for_four_shapes():
    import jax.numpy as jnp

    seen = _shapes_seen(_prior_kl(jnp), "diag-prior-logvar", "jax")
    assert len(seen) == 4
