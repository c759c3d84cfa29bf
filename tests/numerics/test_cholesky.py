"""numerics/cholesky.py: the residual and refinement of stacks of matrices, bit for bit.

The oracle is the former implementation, one matrix at a time, a loop over
the columns that updates the block ``[k:, k:]`` of the residual with
``numpy.multiply.outer`` (Dot2 by TwoProduct and TwoSum): the stacked
residual must give the same bits, signed zeros included, and so must every
matrix of a stack refined at once.
"""

from __future__ import annotations

import numpy as np
import pytest
from conftest import random_spd
from hypothesis import given
from hypothesis import strategies as st
from scipy import linalg

from mcverify.numerics import cholesky
from mcverify.numerics.stable import split


def residual_by_columns(cov, chol):
    s = cov.copy()
    c = np.zeros_like(cov)
    hi, lo = split(chol)
    for k in range(chol.shape[0]):
        col, ah, al = chol[k:, k], hi[k:, k], lo[k:, k]
        h = np.multiply.outer(col, col)
        e = (
            ((np.multiply.outer(ah, ah) - h) + np.multiply.outer(ah, al)) + np.multiply.outer(al, ah)
        ) + np.multiply.outer(al, al)
        sk = s[k:, k:]
        t = sk - h
        bb = t - sk
        c[k:, k:] += ((sk - (t - bb)) + (-h - bb)) - e
        s[k:, k:] = t
    return s + c


def same_bits(a, b):
    return a.shape == b.shape and a.tobytes() == b.tobytes()


@st.composite
def covariances(draw):
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    d = draw(st.integers(1, 12))
    cov = random_spd(rng, d, 10.0 ** draw(st.floats(0, 10))) * 10.0 ** draw(st.floats(-5, 5))
    shape = draw(st.sampled_from(("dense", "diagonal", "zero-row")))
    if shape == "diagonal":
        cov = np.diag(np.diag(cov))
    elif shape == "zero-row" and d > 1:  # exact zeros off the diagonal: signed-zero corner cases
        cov[0, 1:] = cov[1:, 0] = 0.0
    return cov


@given(covariances())
def test_stacked_residual_is_the_column_loop_bit_for_bit(cov):
    chol = np.linalg.cholesky(cov)
    kept = cov.copy()
    expected = residual_by_columns(cov, chol)
    assert same_bits(cholesky.cholesky_residual(cov, chol), expected)
    stacked = cholesky.cholesky_residual(np.stack([cov, 2.0 * cov, cov]), np.stack([chol, chol, chol]))
    assert same_bits(stacked[0], expected) and same_bits(stacked[2], expected)
    assert same_bits(stacked[1], residual_by_columns(2.0 * cov, chol))
    assert same_bits(cov, kept)  # the input is left alone


def refined_by_loop(cov):
    """The refinement as it was, one matrix at a time, on the column-loop residual."""
    eps = float(np.finfo(np.float64).eps) / 2.0
    chol = np.linalg.cholesky(cov)
    row = np.sqrt(np.diag(cov))[:, None]
    for _ in range(6):
        with np.errstate(over="ignore", invalid="ignore", under="ignore"):
            res = residual_by_columns(cov, chol)
            y = linalg.solve_triangular(chol, res, lower=True, check_finite=False)
            x = linalg.solve_triangular(chol, y.T, lower=True, check_finite=False).T
            x = 0.5 * (x + x.T)
            corr = chol @ (np.tril(x, -1) + 0.5 * np.diag(np.diag(x)))
        if not np.all(np.isfinite(corr)):
            return chol, False
        chol = chol + corr
        if np.all(np.abs(corr) <= 4.0 * eps * np.abs(chol) + eps * eps * row):
            return chol, True
    return chol, False


@pytest.mark.parametrize("d", [1, 2, 5, 10])
def test_stacked_refinement_is_each_matrix_refined_alone(d):
    rng = np.random.default_rng(d)
    covs = np.stack([random_spd(rng, d, 10.0 ** rng.uniform(0, 12)) for _ in range(24)])
    chol, refined = cholesky.refined_cholesky_stack(covs)
    for i in range(len(covs)):
        one, ok = refined_by_loop(covs[i])
        assert same_bits(chol[i], one) and refined[i] == ok
        single, single_ok = cholesky.refined_cholesky(covs[i])
        assert same_bits(single, one) and single_ok == ok


def test_refinement_reaches_the_exact_factor_of_an_ill_conditioned_matrix():
    """Against a 50-digit factor: componentwise within a few ulps at condition number 1e10."""
    mpmath = pytest.importorskip("mpmath")
    rng = np.random.default_rng(7)
    cov = random_spd(rng, 6, 1e10)
    chol, ok = cholesky.refined_cholesky(cov)
    with mpmath.workdps(50):
        exact = mpmath.cholesky(mpmath.matrix(cov.tolist()))
        ref = np.array([[float(exact[i, j]) for j in range(6)] for i in range(6)])
    assert ok
    assert np.all(np.abs(chol - ref) <= 8 * np.finfo(float).eps * np.abs(ref) + 1e-300)
