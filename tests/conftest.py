"""Shared fixtures: seeded random Gaussians."""

from __future__ import annotations

import numpy as np
import pytest

from mcverify import Gaussian


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
