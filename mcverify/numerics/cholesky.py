"""Cholesky factors refined to (nearly) correctly rounded accuracy.

LAPACK's Cholesky factor is backward stable only: at condition number 1e8 it
moves a Gaussian KL by ~1e-9 relative. Newton steps with a residual computed
in twice the working precision bring it to a few ulps of the exact factor of
the given matrix. Stacks of small matrices take the steps in whole-stack
products (an exactly sliced residual, an explicit inverse) wherever that
provably gives the factor of the per-matrix steps bit for bit. Private:
shared by the closed form and the quadrature.
"""

from __future__ import annotations

from functools import cache
from typing import cast

import numpy as np
from numpy.typing import NDArray
from scipy.linalg import lapack

from mcverify.numerics.stable import split

__all__ = ["cholesky_residual", "refined_cholesky", "refined_cholesky_stack", "sliced_residual", "solve_lower"]

_EPS = float(np.finfo(np.float64).eps) / 2.0
#: Newton steps at most: two suffice at condition number 1e8, four at 1e14.
_REFINE_STEPS = 6


def cholesky_residual(cov: NDArray[np.float64], chol: NDArray[np.float64]) -> NDArray[np.float64]:
    """``cov - L L^T`` as accurately as in twice the working precision, for one matrix or a stack.

    Ogita, Rump and Oishi's Dot2 (SIAM J. Sci. Comput. 26, 2005),
    vectorised over the entries: each product ``L_ik L_jk`` split exactly
    into ``h + e`` (Dekker's TwoProduct), the ``h`` subtracted from ``cov``
    in the order ``k = 0, 1, ...`` with TwoSum and all rounding errors
    collected, in the same order, in a second array.

    Parameters
    ----------
    cov, chol : ndarray, shape (..., d, d)
        Covariances and their lower Cholesky factors.

    Notes
    -----
    Column ``k`` updates the block ``[k:, k:]`` of every matrix of the stack
    at once: the matrices lie along the last, contiguous axis (``s[i, j, m]``),
    so that each operation runs over whole rows of the stack, and a stack of
    256 matrices of d = 10 costs ~12 µs a matrix where one matrix at a time
    cost ~250 µs.  The additions are those of one matrix at a time, in the
    same order, so the bits are too.  (Running sums over ``k`` by
    :func:`numpy.subtract.accumulate` would remove the loop over the columns
    but are ten times slower than this loop.)
    """
    d = chol.shape[-1]
    stack = cov.shape[:-2]
    m = int(np.prod(stack, dtype=np.int64))
    s: NDArray[np.float64]
    if m == 1:  # one matrix: rows of the matrix are the contiguous axis
        s = cov.reshape(d, d, 1).copy()
        lt = np.ascontiguousarray(chol.reshape(d, d).T)[..., None]  # lt[k, i, 0] = L_ik
    else:  # s[i, j, m], lt[k, i, m] = L[m]_ik
        s = np.moveaxis(cov.reshape(m, d, d), 0, -1).copy()
        lt = np.ascontiguousarray(np.transpose(chol.reshape(m, d, d), (2, 1, 0)))
    hi, lo = split(lt)
    c = np.zeros_like(s)
    for k in range(d):
        a, ah, al = lt[k, k:, None], hi[k, k:, None], lo[k, k:, None]
        b, bh, bl = lt[k, None, k:], hi[k, None, k:], lo[k, None, k:]
        h = a * b  # h[i, j] = L_ik L_jk
        e = (((ah * bh - h) + ah * bl) + al * bh) + al * bl
        sk = s[k:, k:]
        t = sk - h  # TwoSum(s, -h)
        bb = t - sk
        c[k:, k:] += ((sk - (t - bb)) + (-h - bb)) - e
        s[k:, k:] = t
    out = s + c
    return np.moveaxis(out, -1, 0).reshape(cov.shape)


def solve_lower(lower: NDArray[np.float64], b: NDArray[np.float64]) -> NDArray[np.float64]:
    """``L^{-1} B`` for a stack of lower triangular ``L`` ``(m, d, d)`` and ``B`` ``(m, d, k)``.

    LAPACK's ``dtrtrs`` called on each matrix exactly as
    :func:`scipy.linalg.solve_triangular` calls it (so the bits are the
    same), without its per-call checks: ~20x less overhead on small
    matrices, where the checks cost more than the solve.  ``lower`` and
    ``trans`` are passed by position: f2py parses keywords in ~0.5 µs a
    call, a third of a d = 10 solve.  The right-hand sides are first
    copied, all at once, into one array where each ``B_i`` is Fortran
    ordered, the layout ``dtrtrs`` works in, and solved there in place
    (``overwrite_b``): f2py then neither copies each ``B_i`` in nor its
    solution out, and the solutions need no stacking (2.4 -> 1.3 µs a
    d = 10 matrix ``B``).  The routine and the numbers it reads are the
    same, so the bits are too.

    Raises
    ------
    numpy.linalg.LinAlgError
        If a matrix is singular.
    """
    trtrs = lapack.dtrtrs
    d = lower.shape[-1]
    x = np.empty(b.shape[:-2] + b.shape[:-3:-1])  # x[i].T is B_i, Fortran ordered
    xs = np.swapaxes(x, -1, -2)
    xs[...] = b
    # by position: lower, trans, unitdiag, lda (its default), overwrite_b (xs[i] becomes the solution)
    if lower.flags.c_contiguous and d > 1:  # C-ordered matrices: solved transposed, as solve_triangular does
        infos = [trtrs(a, bi, 0, 1, 0, d, 1)[1] for a, bi in zip(np.swapaxes(lower, -1, -2), xs)]
    else:
        infos = [
            (trtrs(a, bi, 1, 0, 0, d, 1) if a.flags.f_contiguous else trtrs(a.T, bi, 0, 1, 0, d, 1))[1]
            for a, bi in zip(lower, xs)
        ]
    if any(infos):
        i = next(i for i, info in enumerate(infos) if info)
        raise np.linalg.LinAlgError(f"singular triangular matrix (LAPACK info {infos[i]}) at stack index {i}")
    return xs


def refined_cholesky(cov: NDArray[np.float64]) -> tuple[NDArray[np.float64], bool]:
    """Lower Cholesky factor of ``cov`` refined by Newton steps.

    Returns
    -------
    chol : ndarray
        The factor.
    refined : bool
        True when the last correction was at rounding level, so ``chol`` is
        within a few ulps of the exact factor componentwise; False when the
        refinement did not converge (LAPACK's factor, or its last finite
        refinement, is returned).

    Notes
    -----
    Each step is ``L <- L + L Phi(L^{-1} R L^{-T})`` with ``Phi`` the lower
    triangle (half diagonal) and ``R = cov - L L^T`` from
    :func:`cholesky_residual`: Newton's method for ``L L^T = cov``.
    :func:`refined_cholesky_stack` does the same for a stack of matrices.
    """
    chol, refined = refined_cholesky_stack(cov[None])
    return chol[0], bool(refined[0])


def refined_cholesky_stack(cov: NDArray[np.float64]) -> tuple[NDArray[np.float64], NDArray[np.bool_]]:
    r""":func:`refined_cholesky` of each matrix of a stack ``(n, d, d)``, bit for bit.

    Each matrix takes its own Newton steps
    :math:`L \leftarrow L + L\,\Phi(L^{-1} R L^{-T})`,
    :math:`R = \operatorname{cov} - LL^T`, and stops at its own convergence;
    LAPACK's factorisations and the steps run on the whole stack of still
    active matrices.  Up to ``d = 32``, for matrices with rows of moderate
    size (binary exponents within ``+-400``), the steps are
    :func:`_newton_steps_sliced`: ``R`` from :func:`sliced_residual` (an
    error-free splitting into products that ``numpy.matmul`` computes
    exactly) and products with an explicit inverse of ``L`` in place of the
    triangular solves, all on the whole stack, and a second step that
    provably changes nothing is not taken.  They give the factor, and the
    flag, of :func:`_newton_steps_dot2` (the :func:`cholesky_residual` and
    per-matrix LAPACK solves) wherever their correction is provably within
    ``2^-10`` ulp of its own (:func:`_correction_sure`); the other matrices
    (entries far below the norm of their row, condition numbers beyond
    ~1e7, extreme scales, ``d > 32``) are refined by
    :func:`_newton_steps_dot2` from LAPACK's factor.  At d = 10 the stack
    costs ~4.5 µs a matrix where the Dot2 steps cost ~18.
    """
    # numpy's stubs type cholesky's result as floating[Any]; it is float64 for float64 input.
    chol = cast("NDArray[np.float64]", np.linalg.cholesky(cov))
    n, d = cov.shape[0], cov.shape[-1]
    row = np.sqrt(np.diagonal(cov, axis1=-2, axis2=-1))[..., :, None]  # ||L_i,:|| = sqrt(cov_ii)
    # eps^2 ||L_i,:|| on every entry (one broadcast, not one a step: numpy is slow along a short last axis)
    floor = np.repeat(_EPS * _EPS * row, d, axis=-1)
    refined = np.zeros(n, dtype=bool)
    every = np.arange(n)
    if d > _SLICED_MAX_DIM or n == 0:
        _newton_steps_dot2(cov, chol, floor, refined, every)
        return chol, refined
    e = np.frexp(row)[1]
    moderate = _each((e >= -_SLICED_MAX_EXP) & (e <= _SLICED_MAX_EXP))
    moderate &= _each(np.isfinite(cov))
    # cond(L) >= max L_ii / min L_ii; beyond 2^15, _correction_sure fails anyway: straight to Dot2
    diag = np.diagonal(chol, axis1=-2, axis2=-1)
    with np.errstate(divide="ignore", invalid="ignore"):
        if not np.max(diag) <= 2.0**15 * np.min(diag):  # else every matrix passes (one reduction, not two a matrix)
            moderate &= np.max(diag, axis=-1) <= 2.0**15 * np.min(diag, axis=-1)
    redo = _newton_steps_sliced(cov, chol, row[..., 0], floor, refined, every[moderate])
    if redo.size:  # from LAPACK's factor again
        chol[redo] = np.linalg.cholesky(cov[redo])
        refined[redo] = False
    _newton_steps_dot2(cov, chol, floor, refined, np.concatenate([every[~moderate], redo]))
    return chol, refined


#: The sliced residual is exact in its products up to this dimension (24-bit slices).
_SLICED_MAX_DIM = 32
#: ... and for factors whose rows have binary exponents within +-this (no underflow, no overflow).
_SLICED_MAX_EXP = 400
_SLICE_BITS = 24


def _each(ok: NDArray[np.bool_]) -> NDArray[np.bool_]:
    """``np.all(ok, axis=(-2, -1))`` for a stack ``(m, d, k)``: first over the whole stack, then, if that fails, a matrix at a time.

    A reduction over the whole stack is ~10x faster than one a matrix
    (numpy's reduction loop runs once a matrix, on ``d k`` entries), and the
    tests it serves are passed by every matrix in the usual case.
    """
    if ok.all():
        return np.ones(ok.shape[0], dtype=bool)
    return np.all(ok, axis=(-2, -1))


def _converged(corr: NDArray[np.float64], size: NDArray[np.float64], floor: NDArray[np.float64]) -> NDArray[np.bool_]:
    r"""Which matrices' corrections are at rounding level: :math:`|C_{ij}| \le 4 \epsilon |L_{ij}| + \epsilon^2 \|L_{i,:}\|` everywhere.

    ``size`` is :math:`|L|` after the step, ``floor`` :math:`\epsilon^2 \|L_{i,:}\|` on every entry.
    """
    return _each(np.abs(corr) <= 4.0 * _EPS * size + floor)


def _update(
    chol: NDArray[np.float64],
    floor: NDArray[np.float64],
    refined: NDArray[np.bool_],
    active: NDArray[np.intp],
    a_chol: NDArray[np.float64],
    corr: NDArray[np.float64],
) -> NDArray[np.intp]:
    """One Newton update ``L <- L + corr`` of the active matrices; the ones still active after it."""
    finite = _each(np.isfinite(corr))
    new = a_chol + corr
    with np.errstate(over="ignore", invalid="ignore"):
        done = _converged(corr, np.abs(new), floor[active])
    chol[active[finite]] = new[finite]
    refined[active[finite & done]] = True
    return active[finite & ~done]


def _newton_steps_dot2(
    cov: NDArray[np.float64],
    chol: NDArray[np.float64],
    floor: NDArray[np.float64],
    refined: NDArray[np.bool_],
    active: NDArray[np.intp],
) -> None:
    """Newton steps on the matrices ``active`` of a stack, in place: Dot2 residual, LAPACK solves."""
    for _ in range(_REFINE_STEPS):
        if active.size == 0:
            break
        a_cov, a_chol = cov[active], chol[active]
        with np.errstate(over="ignore", invalid="ignore", under="ignore"):
            res = cholesky_residual(a_cov, a_chol)
            y = solve_lower(a_chol, res)
            x = np.swapaxes(solve_lower(a_chol, np.swapaxes(y, -1, -2)), -1, -2)
            x = 0.5 * (x + np.swapaxes(x, -1, -2))
            half_diag = np.zeros_like(x)
            np.einsum("...ii->...i", half_diag)[...] = np.diagonal(x, axis1=-2, axis2=-1)
            corr = a_chol @ (np.tril(x, -1) + 0.5 * half_diag)
        active = _update(chol, floor, refined, active, a_chol, corr)


def slicing_constants(cov: NDArray[np.float64]) -> tuple[NDArray[np.float64], ...]:
    r"""What :func:`sliced_residual` needs of a stack of covariances ``(m, d, d)``: ``(sigma1, sigma2, c1, c2)``.

    ``sigma1[..., i, :] = 1.5 * 2^(e_i + 28)`` and ``sigma2 = 2^-24 sigma1``
    on every entry, with :math:`2^{e_i - 1} > \sqrt{cov_{ii}}`, which bounds
    every :math:`|L_{ik}|` of a (nearly) exact factor and is within a factor
    :math:`2\sqrt{d}` of the largest; ``cov = c1 + c2`` exactly, ``c1`` on
    the grid :math:`2^{e_i + e_j - 48}` of the products of the leading slices.
    """
    d = cov.shape[-1]
    e = np.frexp(np.sqrt(np.diagonal(cov, axis1=-2, axis2=-1)))[1] + 1
    power = np.ldexp(1.0, e + (52 - _SLICE_BITS))  # 2^(e_i + 28); every product below is exact
    # scaled while still (m, d), then spread along rows (a broadcast along the last, short axis, or a
    # transposed operand, is slow in numpy): 6 passes over the stack instead of 8 (1.2 -> 1.0 us a pair)
    sigma1 = np.repeat((1.5 * power)[..., :, None], d, axis=-1)
    sigma2 = np.repeat((1.5 * 2.0**-_SLICE_BITS * power)[..., :, None], d, axis=-1)
    sigma = sigma1 * (2.0**-52 * power)[..., None, :]  # 1.5 * 2^(e_i + e_j + 4)
    c1 = cov + sigma
    c1 -= sigma
    return sigma1, sigma2, c1, cov - c1


def sliced_residual(
    cov: NDArray[np.float64], chol: NDArray[np.float64], constants: tuple[NDArray[np.float64], ...] | None = None
) -> NDArray[np.float64]:
    r"""``cov - L L^T`` to ~2^-46 of ``eps ||L_i,:|| ||L_j,:||``, for a stack ``(m, d, d)``, ``d <= 32``.

    Ozaki's error-free splitting: with :math:`2^{e_i - 1}` above the largest
    :math:`|L_{ik}|` of row ``i`` (:func:`slicing_constants`),
    :math:`L = H + M + E` exactly, ``H`` on the grid :math:`2^{e_i - 24}`,
    ``M`` on :math:`2^{e_i - 48}` and :math:`|E_{ik}| \le 2^{e_i - 49}`,
    and :math:`\operatorname{cov} = C_1 + C_2` exactly, :math:`C_1` on the
    grid :math:`g_{ij} = 2^{e_i + e_j - 48}`.  Every product of ``H`` and
    ``M`` entries is a float, and so is every partial sum of up to 32 of
    them (below ``2^52`` units of their grid), so :math:`HH^T` and
    :math:`HM^T` come out of ``numpy.matmul`` exactly, in any order of
    summation, and so do the differences :math:`A = C_1 - HH^T` (multiples
    of :math:`g_{ij}` below :math:`2^{53} g_{ij}`) and
    :math:`A - (HM^T + MH^T)` (of the size of the residual, on the grid
    :math:`2^{-24} g_{ij}`).  Then

    .. math::

        \operatorname{cov} - LL^T = \bigl(C_1 - HH^T - (HM^T + MH^T)\bigr)
            + \bigl(C_2 - MM^T - (W + W^T)\bigr), \qquad W = E\,(L - E/2)^T,

    where only the second bracket, of size :math:`2^{-48} \|L_{i,:}\| \|L_{j,:}\|`,
    is rounded (Dot2, :func:`cholesky_residual`, is accurate relative to
    :math:`|L| |L|^T` instead, but costs a loop over the columns).  The row
    exponents must lie within ``+-400`` (no product underflows or overflows).
    """
    sigma1, sigma2, c1, c2 = slicing_constants(cov) if constants is None else constants
    h = chol + sigma1  # H = fl(fl(L + sigma1) - sigma1): L rounded to the grid ulp(sigma1)
    h -= sigma1
    rest = chol - h
    m = rest + sigma2
    m -= sigma2
    rest -= m  # E
    ht, mt = np.swapaxes(h, -1, -2).copy(), np.swapaxes(m, -1, -2).copy()
    out = c1 - h @ ht
    hm = h @ mt
    hm += m @ ht  # HM^T + MH^T: both exact, so M H^T is (H M^T)^T, in a product faster than the transpose
    out -= hm
    h = chol - 0.5 * rest
    w = rest @ np.swapaxes(h, -1, -2).copy()
    w += np.swapaxes(w, -1, -2)
    w += m @ mt
    w -= c2
    out -= w
    return out


def _lower_inverse(chol: NDArray[np.float64]) -> NDArray[np.float64]:
    """``L^{-1}`` of a stack of lower triangular matrices, by forward substitution a row at a time over the stack."""
    d = chol.shape[-1]
    inv = np.zeros_like(chol)
    recip = 1.0 / np.diagonal(chol, axis1=-2, axis2=-1)
    np.einsum("...ii->...i", inv)[...] = recip
    neg = -recip
    for i in range(1, d):  # row i: -(L_i,:i L^{-1}_:i,:i) / L_ii (einsum: matmul calls BLAS once a matrix)
        np.multiply(np.einsum("mk,mkj->mj", chol[:, i, :i], inv[:, :i, :i]), neg[:, i, None], out=inv[:, i, :i])
    return inv


def _newton_steps_sliced(
    cov: NDArray[np.float64],
    chol: NDArray[np.float64],
    row: NDArray[np.float64],
    floor: NDArray[np.float64],
    refined: NDArray[np.bool_],
    active: NDArray[np.intp],
) -> NDArray[np.intp]:
    r"""The Newton steps of :func:`_newton_steps_dot2` on the matrices ``active``, in whole-stack numpy.

    The step is :math:`L \leftarrow L + L\,\Phi(X)` with
    :math:`X = L^{-1} R L^{-T}`, ``R`` from :func:`sliced_residual` and
    :math:`L^{-1}` an explicit inverse (:func:`_lower_inverse` for the first
    step, then :math:`(I + \Phi)^{-1} L^{-1} \approx (I - \Phi) L^{-1}`):
    products of small matrices over the whole stack in place of two LAPACK
    solves per matrix.  Its correction differs from that of the Dot2
    residual and the solves by rounding noise of order
    :math:`\operatorname{cond}(L)^2\, 2^{-46}` ulps of ``L``, so ``L + corr``
    rounds to the same factor but for a tie within that distance, and the
    test for convergence (the correction within 2 ulps) decides the same.
    After the first step, the matrices where a second step provably
    changes nothing and stops (:func:`_second_step_idle`) stop at once.
    """
    if active.size == 0:
        return active
    phi, upper = _phi_and_upper(cov.shape[-1])
    whole = active.size == cov.shape[0]
    a_cov, a_chol, a_floor, a_row = (
        (cov, chol, floor, row) if whole else (cov[active], chol[active], floor[active], row[active])
    )
    redo = []
    constants = slicing_constants(a_cov)
    with np.errstate(over="ignore", invalid="ignore", under="ignore", divide="ignore"):
        inv = _lower_inverse(a_chol)
        # the test of _correction_sure on LAPACK's factor: what fails it will fail it after the step
        v, lv = _sensitivity(a_chol, inv, a_row)
        size = np.abs(a_chol)
        likely = _correction_sure(v, lv, None, a_chol, size, np.where(upper, np.inf, size), upper)
    if not np.all(likely):
        redo.append(active[~likely])
        active = active[likely]
        if active.size == 0:
            return np.concatenate(redo)
        a_cov, a_chol, a_floor, a_row, inv = a_cov[likely], a_chol[likely], a_floor[likely], a_row[likely], inv[likely]
        v, lv = v[likely], lv[likely]
        constants = tuple(c[likely] for c in constants)
    for step in range(_REFINE_STEPS):
        with np.errstate(over="ignore", invalid="ignore", under="ignore"):
            res = sliced_residual(a_cov, a_chol, constants)
            x = (inv @ res) @ np.swapaxes(inv, -1, -2).copy()
            x *= phi
            corr = a_chol @ x
            finite = _each(np.isfinite(corr))
            new = a_chol + corr
            size = np.abs(new)
            lower = np.where(upper, np.inf, size)  # the lower triangle of |L_1|, shared by the two tests below
            if step == 0:  # where a second step would only confirm this one, it is not taken
                done = _second_step_idle(size, lower, x, a_floor, upper)
                if not np.all(done):  # (usually every matrix is idle, and few are converged)
                    done |= _converged(corr, size, a_floor)
            else:
                done = _converged(corr, size, a_floor)
            if step > 0:
                v, lv = _sensitivity(a_chol, inv, a_row)
            sure = _correction_sure(v, lv, corr, new, size, lower, upper)
        if np.all(finite):
            if active.size == len(chol):  # every matrix (active is sorted): a plain copy, not a gather
                chol[...] = new
            else:
                chol[active] = new
        else:
            chol[active[finite]] = new[finite]
        refined[active[finite & done & sure]] = True
        redo.append(active[finite & ~sure])
        going = finite & ~done & sure
        if not np.any(going):
            break
        active = active[going]
        a_cov, a_chol, a_floor, a_row, x, inv = (
            a_cov[going],
            chol[active],
            a_floor[going],
            a_row[going],
            x[going],
            inv[going],
        )
        constants = tuple(c[going] for c in constants)
        with np.errstate(over="ignore", invalid="ignore", under="ignore"):
            inv -= x @ inv
    return np.concatenate(redo)


@cache
def _phi_and_upper(d: int) -> tuple[NDArray[np.float64], NDArray[np.bool_]]:
    """The mask of ``Phi`` (ones below the diagonal, 1/2 on it) and that of the strict upper triangle, read-only.

    Built once a dimension (cached), not once a stack: ~20 µs a call.
    ``Phi(X)`` takes the lower triangle of ``X`` and half its diagonal: only
    the lower triangle of ``X`` is read, so ``X = L^{-1} R L^{-T}`` is not
    symmetrised (its two triangles differ by rounding only).
    """
    phi = np.tril(np.ones((d, d)), -1) + 0.5 * np.eye(d)
    upper = np.triu(np.ones((d, d), dtype=bool), 1)
    phi.flags.writeable = upper.flags.writeable = False
    return phi, upper


def _second_step_idle(
    size: NDArray[np.float64],
    lower: NDArray[np.float64],
    phi: NDArray[np.float64],
    floor: NDArray[np.float64],
    upper: NDArray[np.bool_],
) -> NDArray[np.bool_]:
    r"""Which matrices a second Newton step would leave bit for bit as they are, and call converged.

    After :math:`L_1 = fl(L_0 (I + \Phi))` the second step's correction is
    the rounding error of that addition (at most half an ulp of
    :math:`L_1`, and :math:`L_1` plus it rounds back to :math:`L_1`), plus
    the quadratic term :math:`L_1 \Phi(-\Phi\Phi^T)`, whose entry ``(i, j)``
    is at most :math:`\|L_{1,i,:}\|\,\|\Phi\|_F^2`, plus rounding noise.
    Where twice that bound is below :math:`2^{-64} |L_{1,ij}|` (``2^-11``
    ulp) on the whole lower triangle, the step returns :math:`L_1` (but
    for a tie within that distance) and stops, its correction being below
    the threshold of 2 ulps.  ``size`` is :math:`|L_1|`, ``lower`` the same
    with ``inf`` above the diagonal, ``floor`` :math:`2^{-106} \|L_{i,:}\|`
    on every entry.  The stack's largest bound against its smallest entry
    first: where that passes, so does every matrix (rounding is monotonic).
    """
    s = np.einsum("mij,mij->m", phi, phi)
    scale = s * 2.0**171  # the bound is floor * scale: 2 ||L_i,:|| ||Phi||_F^2 * 2^64
    if size.size and np.max(floor) * np.max(scale) <= np.min(lower):
        return np.ones(len(size), dtype=bool)
    return _each((floor * scale[:, None, None] <= size) | upper)


#: :func:`sliced_residual`'s error bound, relative to ``||L_i,:|| ||L_j,:||`` (its tests: ``2^-97 d``).
_SLICED_ERROR = 2.0**-92


def _sensitivity(
    chol: NDArray[np.float64], inv: NDArray[np.float64], row: NDArray[np.float64]
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """``v = |L^{-1}| r`` and ``2^63 eps |L| v`` of :func:`_correction_sure`, shapes ``(m, d, 1)``."""
    v = np.abs(inv) @ row[..., None]
    lv = np.abs(chol) @ v
    lv *= _SLICED_ERROR * 2.0**63
    return v, lv


def _correction_sure(
    v: NDArray[np.float64],
    lv: NDArray[np.float64],
    corr: NDArray[np.float64] | None,
    new: NDArray[np.float64],
    size: NDArray[np.float64],
    lower: NDArray[np.float64],
    upper: NDArray[np.bool_],
) -> NDArray[np.bool_]:
    r"""Which matrices' corrections are far more accurate than an ulp of each entry of ``new = L + corr``.

    :func:`sliced_residual` is accurate relative to the row norms,
    :math:`|\delta R_{kl}| \le \varepsilon r_k r_l` (:math:`r = \|L_{k,:}\|`,
    :math:`\varepsilon` = ``_SLICED_ERROR``), not to each entry as Dot2 is;
    through :math:`L \Phi(L^{-1} R L^{-T})` that moves entry ``(i, j)`` of the
    correction by at most :math:`\varepsilon (|L| v)_i v_j` with
    :math:`v = |L^{-1}| r`.  A matrix passes where that is below
    :math:`2^{-63} |new_{ij}|` (``2^-10`` ulp) on the whole lower triangle,
    an entry that is 0 with a correction of exactly 0 (a zero that the
    structure keeps) included; the others (entries far smaller than their
    row, ill-conditioned factors) are refined by the Dot2 residual instead.
    Without ``corr`` (the test of LAPACK's factor before the step, which
    spares the step where it would fail after it), any 0 entry passes.
    ``size`` is ``|new|``, ``lower`` the same with ``inf`` above the diagonal.
    """
    # at once where the smallest entry clears the largest bound (the usual case); first for the whole
    # stack (its extremes bound each matrix's): three reductions over the stack, not three a matrix
    if size.size and np.min(lower) >= np.max(lv) * np.max(v):
        return np.ones(len(size), dtype=bool)
    smallest = np.min(lower, axis=(-2, -1))
    sure = smallest >= np.max(lv[..., 0], axis=-1) * np.max(v[..., 0], axis=-1)
    rest = np.flatnonzero(~sure)
    if rest.size:
        ok = size[rest] >= lv[rest] * np.swapaxes(v[rest], -1, -2)
        ok |= upper
        ok |= (new[rest] == 0.0) & (True if corr is None else corr[rest] == 0.0)
        sure[rest] = np.all(ok, axis=(-2, -1))
    return sure
