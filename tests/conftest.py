"""Shared fixtures: seeded random Gaussians; hypothesis profiles."""

from __future__ import annotations

import os

import numpy as np
import pytest
from hypothesis import HealthCheck, settings

from mcverify import Gaussian

# Hypothesis: 1,000 examples per property in CI (which sets CI=true), fewer
# locally; derandomized and without an example database, so every run of the
# suite tries the same examples.  HYPOTHESIS_PROFILE=ci runs the full count.
_PROFILE = {"deadline": None, "derandomize": True, "database": None,
            "suppress_health_check": [HealthCheck.too_slow, HealthCheck.data_too_large]}
settings.register_profile("ci", max_examples=1000, **_PROFILE)
settings.register_profile("dev", max_examples=100, **_PROFILE)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci" if os.environ.get("CI") else "dev"))


def random_spd(rng: np.random.Generator, d: int, cond: float) -> np.ndarray:
    """A random symmetric positive definite matrix with the given condition number."""
    q, r = np.linalg.qr(rng.standard_normal((d, d)))
    q *= np.sign(np.diag(r))
    a = (q * np.logspace(0.0, np.log10(cond), d)) @ q.T
    return 0.5 * (a + a.T)


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(20261125)


@pytest.fixture
def full_pair(rng: np.random.Generator) -> tuple[Gaussian, Gaussian]:
    d = 5
    return (
        Gaussian(rng.standard_normal(d), cov=random_spd(rng, d, 30.0)),
        Gaussian(rng.standard_normal(d), cov=random_spd(rng, d, 10.0)),
    )
