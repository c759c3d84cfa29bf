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


def _test_stack(rng, d, n):
    """Covariances of condition 1 .. 1e10 and scales 1e-8 .. 1e8; some diagonal, some with a zero row, some Wishart."""
    covs = []
    for i in range(n):
        cov = random_spd(rng, d, 10.0 ** rng.uniform(0, 10)) * 10.0 ** rng.uniform(-8, 8)
        if i % 6 == 0:
            cov = np.diag(np.diag(cov))
        elif i % 6 == 1 and d > 1:
            cov[0, 1:] = cov[1:, 0] = 0.0
        elif i % 6 == 2:
            a = rng.standard_normal((d, d))
            cov = a @ a.T / d + 0.1 * np.eye(d)
        covs.append(cov)
    return np.stack(covs)


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


@pytest.mark.parametrize("d", range(1, 13))
def test_refinement_by_products_is_the_dot2_and_lapack_refinement_bit_for_bit(d):
    """The sliced residual, the explicit inverse and the skipped confirming step change no bit (nor flag)."""
    rng = np.random.default_rng(100 + d)
    covs = _test_stack(rng, d, 60)
    chol, refined = cholesky.refined_cholesky_stack(covs)
    for i in range(len(covs)):
        one, ok = refined_by_loop(covs[i])
        assert same_bits(chol[i], one) and refined[i] == ok, i


def test_extreme_and_large_matrices_take_the_dot2_path_and_mix_with_the_others():
    rng = np.random.default_rng(11)
    moderate = _test_stack(rng, 4, 6)
    extreme = np.stack([random_spd(rng, 4, 1e3) * 2.0**s for s in (-1000, -850, 850, 1000)])
    covs = np.concatenate([moderate[:3], extreme, moderate[3:]])
    chol, refined = cholesky.refined_cholesky_stack(covs)
    for i in range(len(covs)):
        one, ok = refined_by_loop(covs[i])
        assert same_bits(chol[i], one) and refined[i] == ok, i
    big = np.stack([random_spd(rng, 40, 1e4) for _ in range(2)])  # d > 32: the Dot2 path
    chol, refined = cholesky.refined_cholesky_stack(big)
    for i in range(2):
        one, ok = refined_by_loop(big[i])
        assert same_bits(chol[i], one) and refined[i] == ok


def _exact_residual(cov, chol):
    """cov - L L^T in rationals, rounded once to float."""
    from fractions import Fraction

    d = cov.shape[0]
    f = [[Fraction(float(v)) for v in r] for r in chol.tolist()]
    return np.array(
        [
            [float(Fraction(float(cov[i, j])) - sum(f[i][k] * f[j][k] for k in range(d))) for j in range(d)]
            for i in range(d)
        ]
    )


@given(covariances())
def test_sliced_residual_is_the_exact_residual_to_2_to_the_minus_44(cov):
    """Against rational arithmetic: within 2^-44 d of eps ||L_i,:|| ||L_j,:|| (the exact products lose nothing)."""
    chol = np.linalg.cholesky(cov)
    d = cov.shape[0]
    kept = cov.copy()
    got = cholesky.sliced_residual(cov[None], chol[None])[0]
    row = np.sqrt(np.diag(cov))
    assert np.all(np.abs(got - _exact_residual(cov, chol)) <= 2.0**-44 * 2.0**-53 * np.outer(row, row) * d)
    assert same_bits(cov, kept)
    stacked = cholesky.sliced_residual(np.stack([cov, 4.0 * cov]), np.stack([chol, 2.0 * chol]))
    assert same_bits(stacked[0], got) and same_bits(stacked[1], 4.0 * got)  # exact scaling, each on its own


def test_sliced_residual_sees_a_one_ulp_change_of_the_factor():
    """The residual of L and of L with one entry an ulp larger differ by that entry's products, to 2^-40."""
    rng = np.random.default_rng(3)
    cov = random_spd(rng, 10, 1e6)
    chol = np.linalg.cholesky(cov)
    moved = chol.copy()
    moved[7, 3] = np.nextafter(moved[7, 3], np.inf)
    a, b = cholesky.sliced_residual(np.stack([cov, cov]), np.stack([chol, moved]))
    row = np.sqrt(np.diag(cov))
    for got, factor in ((a, chol), (b, moved)):
        assert np.all(np.abs(got - _exact_residual(cov, factor)) <= 2.0**-93 * np.outer(row, row))
    assert not same_bits(a, b)


def test_lower_inverse_is_the_lapack_inverse_to_rounding():
    rng = np.random.default_rng(4)
    for d in (1, 2, 7, 12):
        chol = np.linalg.cholesky(np.stack([random_spd(rng, d, 10.0**c) for c in (0, 4, 8)]))
        inv = cholesky._lower_inverse(chol)
        for i, c in enumerate((0, 4, 8)):
            ref = linalg.solve_triangular(chol[i], np.eye(d), lower=True)
            assert np.all(np.triu(inv[i], 1) == 0.0)
            assert np.allclose(inv[i], ref, rtol=0.0, atol=1e-15 * 10 ** (c / 2 + 1) * np.abs(ref).max())


@pytest.mark.parametrize("d", [2, 3, 6, 10])
def test_entries_far_below_their_row_are_refined_bit_for_bit(d):
    """Off-diagonal couplings of 1e-18 .. 1e-6: the row-relative accuracy of the sliced residual would move
    their last bits (it does without the check of `_correction_sure`); they are refined by Dot2 instead."""
    rng = np.random.default_rng(200 + d)
    covs = []
    for i in range(40):
        a = rng.standard_normal((d, d))
        base = a @ a.T / d + 0.1 * np.eye(d)
        if i % 2:
            covs.append(np.diag(np.diag(base)) + 10.0 ** rng.uniform(-18, -6) * (base - np.diag(np.diag(base))))
        else:
            h = d // 2
            base[:h, h:] *= 10.0 ** rng.uniform(-17, -6)
            base[h:, :h] = base[:h, h:].T
            covs.append(base)
    covs = np.stack(covs)
    chol, refined = cholesky.refined_cholesky_stack(covs)
    for i in range(len(covs)):
        one, ok = refined_by_loop(covs[i])
        assert same_bits(chol[i], one) and refined[i] == ok, i


@pytest.mark.parametrize("d", [1, 2, 10, 17])
def test_solve_lower_is_solve_triangular_bit_for_bit_and_leaves_its_arguments(d):
    """Each stack layout (C-ordered, Fortran-ordered, strided factors; one or d right-hand sides).

    The LAPACK call depends on the layout (a C-ordered factor is solved transposed), so the
    oracle is ``solve_triangular`` of the same matrix object.
    """
    rng = np.random.default_rng(300 + d)
    chol = np.linalg.cholesky(np.stack([random_spd(rng, d, 10.0**c) for c in (0, 3, 6, 9, 2)]))
    layouts = {
        "C": chol,
        "F": np.asfortranarray(chol.transpose(1, 2, 0)).transpose(2, 0, 1),
        "strided": np.zeros((5, 2 * d, d))[:, ::2] + chol,
    }
    for k in (1, d):
        b = rng.standard_normal((5, d, k))
        for name, lower in layouts.items():
            before_b, before_l = b.copy(), lower.copy()
            x = cholesky.solve_lower(lower, b)
            assert x.shape == b.shape, name
            for i in range(5):
                ref = linalg.solve_triangular(lower[i], b[i], lower=True, check_finite=False)
                assert same_bits(np.ascontiguousarray(x[i]), ref), (name, k, i)
            assert same_bits(b, before_b) and same_bits(lower, before_l), name


def test_solve_lower_names_the_singular_matrix():
    chol = np.stack([np.eye(3)] * 4)
    chol[2, 1, 1] = 0.0
    with pytest.raises(np.linalg.LinAlgError, match="at stack index 2"):
        cholesky.solve_lower(chol, np.ones((4, 3, 2)))
    assert cholesky.solve_lower(np.empty((0, 3, 3)), np.empty((0, 3, 2))).shape == (0, 3, 2)


def test_each_is_np_all_over_each_matrix():
    rng = np.random.default_rng(12)
    for shape in [(0, 3, 3), (5, 3, 3), (7, 4, 1), (1, 1, 1)]:
        for p_false in (0.0, 0.01, 0.5):
            ok = rng.random(shape) >= p_false
            assert np.array_equal(cholesky._each(ok), np.all(ok, axis=(-2, -1)))


def test_correction_sure_is_its_entrywise_test_on_every_matrix():
    """The stack-wide shortcut (smallest entry of the stack against its largest bound) decides only
    where every matrix passes; stacks mixing scales and bounds decide a matrix at a time."""
    rng = np.random.default_rng(13)
    d = 5
    upper = np.triu(np.ones((d, d), dtype=bool), 1)

    def entrywise(v, lv, corr, new, size):
        ok = (size >= lv * np.swapaxes(v, -1, -2)) | upper
        ok |= (new == 0.0) & (True if corr is None else corr == 0.0)
        return np.all(ok, axis=(-2, -1))

    for trial in range(200):
        m = int(rng.integers(1, 12))
        scale = 10.0 ** rng.uniform(-3, 3, (m, 1, 1)) if trial % 2 else np.ones((m, 1, 1))
        new = np.tril(rng.standard_normal((m, d, d))) * scale
        new[rng.random((m, d, d)) < 0.01] = 0.0
        corr = np.where(rng.random((m, d, d)) < 0.5, 0.0, 1e-20)
        size = np.abs(new)
        v = 10.0 ** rng.uniform(-12, -4, (m, d, 1)) * (10.0 ** rng.uniform(-2, 2, (m, 1, 1)) if trial % 3 else 1.0)
        lv = 10.0 ** rng.uniform(-12, -4, (m, d, 1)) * 10.0 ** rng.uniform(0, 3, (m, 1, 1))
        for c in (corr, None):
            sure = cholesky._correction_sure(v, lv, c, new, size, np.where(upper, np.inf, size), upper)
            assert np.array_equal(sure, entrywise(v, lv, c, new, size)), trial
    # one entry of 1e-3 against the bound 1e-2 of its row (i = 3) or its column (j = 1): the only
    # failing entry; the stack's other bounds are tiny, its other entries 1
    new = np.tril(np.ones((2, d, d)))
    new[0, 3, 1] = 1e-3
    for big in ("lv", "v"):
        v, lv = np.full((2, d, 1), 1e-9), np.full((2, d, 1), 1e-9)
        (lv if big == "lv" else v)[0, 3 if big == "lv" else 1] = 1e-2 / 1e-9
        sure = cholesky._correction_sure(v, lv, None, new, new, np.where(upper, np.inf, new), upper)
        assert sure.tolist() == [False, True] == entrywise(v, lv, None, new, new).tolist(), big


def test_second_step_idle_is_its_entrywise_test_on_every_matrix():
    """The stack-wide shortcut (largest bound against the smallest entry) decides only where every
    matrix passes; otherwise each matrix's bound floor * ||Phi||_F^2 * 2^171 meets each of its entries."""
    rng = np.random.default_rng(14)
    d = 5
    upper = np.triu(np.ones((d, d), dtype=bool), 1)
    shortcut = 0
    for trial in range(300):
        m = int(rng.integers(1, 10))
        size = np.abs(np.tril(rng.standard_normal((m, d, d)))) * 10.0 ** rng.uniform(-3, 3, (m, 1, 1))
        size[rng.random((m, d, d)) < 0.01] = 0.0
        row = 10.0 ** rng.uniform(-2, 2, (m, d, 1))
        floor = np.repeat(2.0**-106 * row, d, axis=-1)
        phi = np.tril(rng.standard_normal((m, d, d))) * 10.0 ** rng.uniform(-34, -22, (m, 1, 1))
        lower = np.where(upper, np.inf, size)
        s = np.einsum("mij,mij->m", phi, phi)
        expected = np.all((floor * (s * 2.0**171)[:, None, None] <= size) | upper, axis=(-2, -1))
        assert np.array_equal(cholesky._second_step_idle(size, lower, phi, floor, upper), expected), trial
        shortcut += bool(np.max(floor) * np.max(s * 2.0**171) <= np.min(lower))
    assert 30 < shortcut < 270  # both ways of deciding are taken
    # the only failing entry (1e-3, matrix 0, row 3) fails against its own row's floor or its matrix's
    # ||Phi||: against the stack's smallest floor or smallest ||Phi|| it would pass
    size = np.tril(np.ones((2, d, d)))
    size[0, 3, 1] = 1e-3
    lower = np.where(upper, np.inf, size)
    for big in ("floor", "phi"):
        floor = np.full((2, d, d), 2.0**-106)
        phi = np.tril(np.full((2, d, d), 4e-14))  # bound 2^65 ||Phi||_F^2 ~ 1e-6 on every entry
        if big == "floor":
            floor[0, 3] *= 1e4  # ~1e-2 on row 3 of matrix 0
        else:
            phi[0] *= 100.0  # ~1e-2 on matrix 0
        assert cholesky._second_step_idle(size, lower, phi, floor, upper).tolist() == [False, True], big
