"""Batches of Gaussian pairs for the batched-API tests: every kind, wide scales, near and equal pairs."""

from __future__ import annotations

import numpy as np
from conftest import random_spd
from hypothesis import strategies as st

from mcverify import GaussianBatch

KINDS = ("univariate", "diagonal", "full")


def batch(rng: np.random.Generator, kind: str, n: int, d: int, scale: str = "std") -> GaussianBatch:
    """``n`` random Gaussians of one kind, scales spread over 1e-3..1e3 and means up to 10."""
    size = 10.0 ** rng.uniform(-3, 3, n)
    if kind == "univariate":
        mean = rng.normal(0.0, 10.0, n) * size
        s = size * np.exp(rng.normal(0.0, 0.5, n))
        return GaussianBatch(mean, **{scale: s if scale == "std" else s * s})
    mean = rng.normal(0.0, 10.0, (n, d)) * size[:, None]
    if kind == "diagonal":
        s = size[:, None] * np.exp(rng.normal(0.0, 0.5, (n, d)))
        return GaussianBatch(mean, **{scale: s if scale == "std" else s * s})
    cov = np.stack([random_spd(rng, d, 10.0 ** rng.uniform(0, 6)) * size[i] ** 2 for i in range(n)])
    return GaussianBatch(mean, cov=cov)


def nudged(rng: np.random.Generator, g: GaussianBatch) -> GaussianBatch:
    """Each entry moved by ~1e-12 relative, and entry 0 left equal: pairs where cancellation bites."""
    f = 1.0 + 1e-12 * rng.standard_normal(g.scale.shape)
    f[0] = 1.0
    scale = g.scale * f
    if g.cov is not None:
        scale = 0.5 * (scale + np.swapaxes(scale, 1, 2))
    return GaussianBatch(g.mean, **{g.scale_name: scale})


@st.composite
def batch_pairs(draw: st.DrawFn) -> tuple[GaussianBatch, GaussianBatch]:
    """Two batches of one length; each side of any kind and scale name, dimension 1-6."""
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    n = draw(st.integers(1, 12))
    d = draw(st.integers(1, 6))
    kp, kq = draw(st.sampled_from(KINDS)), draw(st.sampled_from(KINDS))
    if "univariate" in (kp, kq):
        d = 1
    sp, sq = draw(st.sampled_from(("std", "var"))), draw(st.sampled_from(("std", "var")))
    p = batch(rng, kp, n, d, sp)
    q = nudged(rng, p) if kp == kq and sp == sq and draw(st.booleans()) else batch(rng, kq, n, d, sq)
    return p, q
