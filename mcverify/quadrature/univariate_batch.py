r"""Both quadratures of :func:`mcverify.quadrature_kl` for many univariate pairs at once.

:func:`quadrature` integrates the same integrands as
:func:`mcverify.quadrature_kl` (``"reduced"`` and ``"direct"``) with
QUADPACK's 21-point Gauss-Kronrod rule on fixed panels, for all pairs in
one array evaluation, with QUADPACK's per-panel error estimates and exact
bounds for the neglected tails.  A pair whose error estimate the panels
cannot bring within quad's tolerance is handed to :func:`quadrature_kl`
itself, so every value comes with an error estimate of the same kind as
quad's.  The values agree with :func:`quadrature_kl` within the error
estimates, not bit for bit.

Pure numerics: arrays in, arrays out.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
from numpy.typing import NDArray

from mcverify.numerics.gaussian import Gaussian
from mcverify.numerics.univariate_pairs import UnivariatePairs
from mcverify.quadrature import pieces as _quad
from mcverify.quadrature.gauss_kronrod import normal_tail_moments, panel_nodes, qk21_sums
from mcverify.quadrature.pieces import QuadratureResult

__all__ = ["OnePair", "QuadratureColumns", "quadrature"]

Array = NDArray[np.float64]

_EPS = float(np.finfo(np.float64).eps)
#: Half-width of the direct method's box in t, as in :mod:`mcverify.quadrature.integration`
#: (its Cauchy-Schwarz bound on the mass outside needs |t| <= 12).
_BOX = _quad._DIRECT_HALF_WIDTH
#: Half-width of the reduced integrands' core: beyond 9 the tails are bounded
#: exactly (p holds 2.3e-19 of its mass there, and the bounds, which scale
#: with the integrand, stay below 1e-15 of the value).
_HALF_WIDTH = 9.0
#: Panel edges of the direct integrand over [-12, 12] and of the plain one
#: over [-9, 9]: about 2.3 wide where phi holds its mass, wider in the
#: tails.  Chosen on thousands of pairs from every corner of the parameter
#: space: narrower panels change no value, wider ones miss quad's tolerance
#: for some pairs.
_DIRECT_EDGES = (-12.0, -7.0, -4.5, -2.2, 0.0, 2.2, 4.5, 7.0, 12.0)
_PLAIN_EDGES = (-9.0, -5.5, -2.6, 0.0, 2.6, 5.5, 9.0)
#: The non-negative integrand holds q's density, as narrow as 1/2 in t:
#: 12 panels of width 1.5 over [-9, 9], and 4 more on each side beyond 9
#: when q reaches further.
_CLOSE_PANELS = 12
_EXTRA_PANELS = 4


def _fixed_nodes(edges: Any) -> tuple[Array, Array, Array]:
    """Nodes and half-lengths of the panels between ``edges``, and exp(-t^2/2) there."""
    edges = np.asarray(edges, dtype=np.float64)
    t, half = panel_nodes(edges[:-1], edges[1:])
    return t, half, np.exp(-0.5 * t * t)


_DIRECT_T, _DIRECT_HALF, _DIRECT_E = _fixed_nodes(_DIRECT_EDGES)
_CORE_T, _CORE_HALF, _CORE_E = _fixed_nodes(_PLAIN_EDGES)
_CLOSE_T, _CLOSE_HALF, _CLOSE_E = _fixed_nodes(np.linspace(-_HALF_WIDTH, _HALF_WIDTH, _CLOSE_PANELS + 1))
#: Normal tail moments I_0..I_4 beyond the core's half-width.
_CORE_TAILS = normal_tail_moments(np.array(_HALF_WIDTH), 4)
#: Gauss-Hermite nodes and weights (for N(0, 1)) of the direct method's a-priori magnitudes.
_HERMITE = (
    np.polynomial.hermite_e.hermegauss(_quad._HERMITE_NODES)[0],
    np.polynomial.hermite_e.hermegauss(_quad._HERMITE_NODES)[1] / math.sqrt(2.0 * math.pi),
)
#: Pairs integrated per array evaluation.  Measured on the benchmark sweep:
#: at 256 pairs the temporaries (~350 KB) cost 2.5 page faults per pair
#: (the allocator maps and unmaps them afresh) and the quadrature takes 14 µs
#: per pair; at 128 there are none and it takes 9.5 µs; below, per-call
#: overhead grows again.
_QUAD_BATCH = 128


class OnePair(Protocol):
    """:func:`mcverify.quadrature_kl` for one pair: the fallback of :func:`quadrature`."""

    def __call__(
        self, p: Gaussian, q: Gaussian, *, method: _quad.QuadratureMethod, rtol: float
    ) -> QuadratureResult: ...


@dataclass(frozen=True)
class QuadratureColumns:
    """Quadrature results of many pairs, one entry per pair.

    ``fallback`` marks the pairs whose value came from
    :func:`~mcverify.quadrature_kl` because the fixed panels could not
    meet quad's tolerance.
    """

    value: Array
    error: Array
    reliable: NDArray[np.bool_]
    message: list[str]
    fallback: NDArray[np.bool_]

    def result(self, i: int, method: str) -> QuadratureResult:
        """Entry ``i`` as a :class:`~mcverify.quadrature.integration.QuadratureResult` (evaluations 0)."""
        return QuadratureResult(
            float(self.value[i]), float(self.error[i]), method, 0, bool(self.reliable[i]), self.message[i]
        )


#: ``e**a - 1 - a``: Taylor series below this ``|a|`` (first omitted term
#: ``0.1**13 / 13! < 2e-23``, i.e. 4e-21 of the sum), ``expm1(a) - a`` above
#: (cancellation loses at most a factor 20 at 0.1, below qk21's rounding
#: floor of 50 eps, and nothing beyond |a| = 2).
_SHORT_SERIES_LIMIT = 0.1
_SHORT_SERIES = tuple(1.0 / math.factorial(k) for k in range(12, 1, -1))


def _h(a: Array) -> Array:
    """``e**a - 1 - a`` to a few ulps (``a`` below 709, where ``e**a`` is finite)."""
    h = np.expm1(a) - a
    small = np.abs(a) < _SHORT_SERIES_LIMIT
    if small.any():
        s = a[small]
        acc = np.zeros_like(s)
        for coef in _SHORT_SERIES:
            acc = acc * s + coef
        h[small] = acc * s * s
    return h


def _panels(lo: Array, hi: Array, k: int) -> tuple[Array, Array]:
    """``k`` equal panels between ``lo`` and ``hi`` for each entry: shapes ``(n, k)``."""
    u = np.linspace(0.0, 1.0, k + 1)
    edges = lo[:, None] + (hi - lo)[:, None] * u
    edges[:, -1] = hi
    return edges[:, :-1], edges[:, 1:]


def _reduced(delta: Array, r: Array, rm1: Array, log_r: Array, rtol: float) -> tuple[Array, Array, NDArray[np.bool_]]:
    r"""KL(N(delta, r^2) || N(0, 1)) for arrays of pairs; see :func:`quadrature`.

    Returns value, error and the mask of pairs that met quad's tolerance.
    """
    c = 2.0 + rm1
    n = delta.shape[0]
    close = (_quad._CLOSE_RATIO[0] <= r) & (r <= _quad._CLOSE_RATIO[1]) & (np.abs(delta) <= _quad._CLOSE_SHIFT)
    value = np.empty(n)
    error = np.empty(n)
    budget = np.empty(n)
    piece_rtol = _quad._piece_rtol(rtol)
    # |log p/q| <= a0 + a1 |t| + a2 t^2 in p's standard coordinate t.
    with np.errstate(over="ignore", invalid="ignore"):
        a0 = np.abs(0.5 * delta * delta - log_r)
        a1 = np.abs(delta * r)
        a2 = 0.5 * np.abs(rm1 * c)
    tails = _CORE_TAILS

    plain = np.flatnonzero(~close)
    if plain.size:
        d, rr, cc, lr = (x[plain, None, None] for x in (delta, rm1, c, log_r))

        with np.errstate(over="ignore", invalid="ignore"):
            fv = _quad._INV_SQRT_2PI * _CORE_E * (0.5 * (d + rr * _CORE_T) * (d + cc * _CORE_T) - lr)
        v, e = qk21_sums(fv, _CORE_HALF)
        # |int_{|t|>T} phi log(p/q)| <= 2 (a0 I_0 + a1 I_1 + a2 I_2)(T).
        with np.errstate(over="ignore", invalid="ignore"):
            tail = 2.0 * (a0[plain] * tails[0] + a1[plain] * tails[1] + a2[plain] * tails[2])
        value[plain] = np.sum(v, axis=1)
        error[plain] = np.sum(e, axis=1) + tail
        with np.errstate(over="ignore", invalid="ignore"):
            scale = (
                np.abs(log_r[plain])
                + 0.5 * (delta[plain] ** 2 + np.abs(rm1[plain] * c[plain]))
                + np.abs(r[plain] * delta[plain])
            )
        budget[plain] = np.maximum(np.maximum(_quad._ABS_FLOOR, 1e-3 * rtol * scale), piece_rtol * np.abs(value[plain]))

    near = np.flatnonzero(close)
    if near.size:
        d, rr, cc, lr = (x[near, None, None] for x in (delta, rm1, c, log_r))

        def f_close(t: Array, e_t: Array) -> Array:
            # phi(t) (rho - 1 - log rho) with rho = q/p = e**a.  _kl_1d switches
            # to q's density, r phi(delta + r t) = phi(t) e**a, for |a| >= 0.7;
            # here |t| <= (9 + 1)/0.5 = 20 keeps |a| below 140 and e_t above
            # 1e-87, so phi(t) h(a) is as accurate and needs one exponential.
            a = lr - 0.5 * (d + rr * t) * (d + cc * t)
            return _quad._INV_SQRT_2PI * e_t * _h(a)

        dn, rn = np.abs(delta[near]), r[near]
        # Wide enough for q's mass too: q sits at -delta/r with width 1/r.
        width = np.maximum(_HALF_WIDTH, (_HALF_WIDTH + dn) / rn)
        v, e = qk21_sums(f_close(_CLOSE_T, _CLOSE_E), _CLOSE_HALF)
        value_c, error_c = np.sum(v, axis=1), np.sum(e, axis=1)
        beyond = np.flatnonzero(width > _HALF_WIDTH)
        if beyond.size:  # pairs whose q reaches past 9: r < 1 + |delta|/9
            d, rr, cc, lr = (x[beyond] for x in (d, rr, cc, lr))
            wb = width[beyond]
            lo, hi = np.full(beyond.size, _HALF_WIDTH), wb
            la, lb = _panels(-hi, -lo, _EXTRA_PANELS)
            ra, rb = _panels(lo, hi, _EXTRA_PANELS)
            t, half = panel_nodes(np.concatenate([la, ra], axis=1), np.concatenate([lb, rb], axis=1))
            v, e = qk21_sums(f_close(t, np.exp(-0.5 * t * t)), half)
            value_c[beyond] += np.sum(v, axis=1)
            error_c[beyond] += np.sum(e, axis=1)
        value[near] = value_c
        error[near] = error_c + _close_tail_bound(dn, rn, a0[near], a1[near], a2[near], width)
        budget[near] = np.maximum(_quad._ABS_FLOOR, piece_rtol * np.abs(value[near]))
    with np.errstate(invalid="ignore"):
        ok = np.isfinite(value) & (error <= budget)
    return value, error, ok


def _close_tail_bound(delta: Array, r: Array, a0: Array, a1: Array, a2: Array, width: Array) -> Array:
    r"""Bound on the non-negative integrand's mass outside ``[-T, T]``.

    The integrand is :math:`\varphi(t) h(a)`, :math:`h(a) = e^a - 1 - a`,
    :math:`a = -\log(p/q)`.  Since :math:`h(a) \le \tfrac12 a^2 (1 + e^a)`
    and :math:`\varphi e^a = r\varphi(\delta + rt)` (q's density in t),
    with :math:`a^2 \le (a_0 + a_1|t| + a_2 t^2)^2 = \sum_k c_k |t|^k`,

    .. math::

        \int_{|t|>T} \varphi h \le \sum_k c_k \Bigl[I_k(T) + r^{-k}
            \sum_j \tbinom{k}{j} |\delta|^{k-j} I_j(rT - |\delta|)\Bigr],

    using :math:`|t| \le (|u| + |\delta|)/r` for :math:`u = \delta + rt`
    and :math:`rT \mp \delta \ge rT - |\delta|`.
    """
    coeffs = [a0 * a0, 2.0 * a0 * a1, a1 * a1 + 2.0 * a0 * a2, 2.0 * a1 * a2, a2 * a2]
    i_p = normal_tail_moments(width, 4)
    i_q = normal_tail_moments(r * width - delta, 4)
    total = np.zeros_like(delta)
    for k, ck in enumerate(coeffs):
        q_part = sum(math.comb(k, j) * delta ** (k - j) * i_q[j] for j in range(k + 1)) / r**k
        total += ck * (i_p[k] + q_part)
    return total


def _factor_1d(scale: Array, is_var: NDArray[np.bool_]) -> tuple[Array, Array, Array]:
    """Cholesky factor ``s``, log-determinant and componentwise error constant, as ``_factor``."""
    s = np.where(is_var, np.sqrt(scale), scale)
    log_det = np.where(is_var, np.log(scale), 2.0 * np.log(scale))
    return s, log_det, np.where(is_var, 0.5, 0.0)


def _direct(pairs: UnivariatePairs, rtol: float) -> tuple[Array, Array, NDArray[np.bool_]]:
    """The direct method of :func:`quadrature_kl` for arrays of univariate pairs.

    Returns value, error (quad part plus the rounding, box and input
    bounds of ``_direct``) and the mask of pairs whose quadrature error met
    quad's tolerance.
    """
    mp, mq = pairs.mean_p, pairs.mean_q
    lp, ldp, relp = _factor_1d(pairs.scale_p, pairs.p_var)
    lq, ldq, relq = _factor_1d(pairs.scale_q, pairs.q_var)
    cp = -0.5 * ldp - _quad._LOG_SQRT_2PI
    cq = -0.5 * ldq - _quad._LOG_SQRT_2PI
    nodes, weights = _HERMITE
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        # a-priori magnitudes (_direct_magnitudes with d = 1)
        x = mp[:, None] + nodes * lp[:, None]
        tt = (x - mp[:, None]) / lp[:, None]
        z = (x - mq[:, None]) / lq[:, None]
        t2, z2 = tt * tt, z * z
        logp = cp[:, None] - 0.5 * t2
        logq = cq[:, None] - 0.5 * z2
        llr = logp - logq
        dx = np.abs(mp)[:, None] + np.abs(mq)[:, None] + np.abs(nodes) * np.abs(lp)[:, None]
        per_node = (
            np.abs(logp)
            + np.abs(logq)
            + 2.0 * t2
            + 2.0 * z2
            + dx * (np.sqrt(t2) / lp[:, None] + np.sqrt(z2) / lq[:, None])
        )
        # row by row, not matrix products: see gauss_kronrod.qk21_sums
        scale = np.einsum("ij,j->i", np.abs(llr), weights)
        rounding = 2.0 * _EPS * np.einsum("ij,j->i", per_node, weights)
        rms = np.sqrt(np.einsum("ij,ij,j->i", llr, llr, weights))
        # _input_rounding with d = 1
        dm = mp - mq
        m = lp / lq
        bq = dm / lq
        inputs = _EPS * bq * bq
        gq = -(m * m + bq * bq) / lq + 1.0 / lq
        inputs += (relq + 1.0) * _EPS * np.abs(gq) * np.abs(lq)
        gp = m / lq - 1.0 / lp
        inputs += np.where(relp > 0, relp * _EPS * np.abs(gp) * np.abs(lp), 0.0)

    m0, l0, mq0, lq0, c0, c1 = (v[:, None, None] for v in (mp, lp, mq, lq, cp, cq))

    t = _DIRECT_T
    with np.errstate(over="ignore", invalid="ignore"):
        xv = m0 + l0 * t
        zp = (xv - m0) / l0
        zq = (xv - mq0) / lq0
        fv = _quad._INV_SQRT_2PI * _DIRECT_E * ((c0 - 0.5 * zp * zp) - (c1 - 0.5 * zq * zq))
    v, e = qk21_sums(fv, _DIRECT_HALF)
    value = np.sum(v, axis=1)
    quad_err = np.sum(e, axis=1)
    p_out = math.erfc(_BOX / math.sqrt(2.0))  # mass outside the box
    with np.errstate(over="ignore", invalid="ignore"):
        error = quad_err + (rms * math.sqrt(p_out) + rounding + inputs)
        budget = np.maximum(np.maximum(_quad._ABS_FLOOR, 1e-3 * rtol * scale), _quad._piece_rtol(rtol) * np.abs(value))
    finite = np.isfinite(scale) & np.isfinite(rounding) & np.isfinite(rms)
    value = np.where(finite, value, math.inf)
    error = np.where(finite, error, math.inf)
    with np.errstate(invalid="ignore"):
        # Where the bounds alone exceed the trust test, quad cannot do better.
        hopeless = error - quad_err > rtol * np.abs(value) + _quad._ABS_FLOOR
        ok = finite & np.isfinite(value) & ((quad_err <= budget) | hopeless)
    return value, error, ok


def _finish(
    pairs: UnivariatePairs,
    value: Array,
    error: Array,
    ok: NDArray[np.bool_],
    method: _quad.QuadratureMethod,
    rtol: float,
    fallback: OnePair,
) -> QuadratureColumns:
    """Reliability and messages as :func:`quadrature_kl` gives them; fallbacks."""
    value = value.copy()
    error = error.copy()
    reliable = np.zeros(len(pairs), dtype=bool)
    message = [""] * len(pairs)
    with np.errstate(invalid="ignore"):
        good = np.isfinite(value) & np.isfinite(error) & (error <= rtol * np.abs(value) + _quad._ABS_FLOOR)
    reliable[good & ok] = True
    for i in np.flatnonzero(~(good & ok)):
        if ok[i]:  # the panels did their job; the bound itself says no
            tally = _quad._Tally()
            tally.add(float(value[i]), float(error[i]), 0)
            res = _quad._verdict(tally, method, rtol, strict=False)
        else:
            p, q = pairs.gaussians(int(i))
            res = fallback(p, q, method=method, rtol=rtol)
        value[i], error[i], reliable[i], message[i] = res.value, res.error, res.reliable, res.message
    return QuadratureColumns(value, error, reliable, message, ~ok)


def quadrature(
    pairs: UnivariatePairs,
    rtol: float,
    fallback: OnePair,
    methods: tuple[_quad.QuadratureMethod, ...] = ("reduced", "direct"),
) -> dict[str, QuadratureColumns]:
    r"""Both quadratures of :func:`mcverify.quadrature_kl` for many univariate pairs.

    Parameters
    ----------
    pairs : UnivariatePairs
    rtol : float
        As for :func:`~mcverify.quadrature_kl`.
    fallback : callable
        :func:`~mcverify.quadrature_kl` itself (passed in: it lives in the
        module that calls this one), for the pairs the panels cannot settle.
    methods : tuple of str
        Which of ``"reduced"`` and ``"direct"`` to compute.

    Returns
    -------
    dict
        ``{"reduced": QuadratureColumns, "direct": QuadratureColumns}``.

    Notes
    -----
    **Reduced.**  KL(N(δ, r²) ‖ N(0, 1)) in p's standard coordinate ``t``
    with :func:`quadrature_kl`'s integrands: the plain one,
    :math:`\varphi(t)\ell(t)`, on 8 panels over ``[-12, 12]``, or for close
    pairs the non-negative :math:`\varphi(t)(\rho - 1 - \log\rho)` on
    ``[-T, T]``, :math:`T = \max(12, (12 + |\delta|)/r)`, which covers q's
    mass too (16 panels inside ``[-12, 12]``, 4 on each side beyond).  The
    error is the sum of the panels' ``qk21`` estimates plus an exact bound
    on the integral outside the range: with :math:`|\ell(t)| \le a_0 +
    a_1|t| + a_2 t^2`, :math:`2\sum_k a_k I_k(12)` for the plain integrand
    (:math:`I_k` the normal tail moments, :math:`I_0(12) = 1.8\times
    10^{-33}`), and :func:`_close_tail_bound` for the other.

    **Direct.**  :math:`\varphi(t)[\log p(x) - \log q(x)]`, ``x = m_p + s_p t``,
    both log-densities from the given parameters, on the same 8 panels over
    ``[-12, 12]``, plus ``_direct``'s bounds for the box, the rounding of
    the log-density difference and of the inputs.

    A pair is taken from the panels when their error meets what quad is
    asked for (``max(epsabs, max(rtol/8, 64 eps) |value|)``), else from
    :func:`quadrature_kl`; reliability is then judged exactly as there:
    ``error <= rtol |value| + 1e-300``.
    """
    n = len(pairs)
    out: dict[str, QuadratureColumns] = {}
    if "reduced" in methods:
        red = [np.empty(n), np.empty(n), np.empty(n, dtype=bool)]
        for sel, p, q in pairs.groups():
            with np.errstate(over="ignore"):
                delta = (p.mean - q.mean) / q.stddevs
            r, rm1, log_r = _quad._scale_ratio(p, q)  # type: ignore[arg-type]  # Side duck-types Gaussian: mean, std, var, stddevs are all this reads
            for start in range(0, sel.size, _QUAD_BATCH):
                part = slice(start, start + _QUAD_BATCH)
                res = _reduced(delta[part], r[part], rm1[part], log_r[part], rtol)
                for k in range(3):
                    red[k][sel[part]] = res[k]
        out["reduced"] = _finish(pairs, red[0], red[1], red[2], "reduced", rtol, fallback)
    if "direct" in methods:
        direct = [np.empty(n), np.empty(n), np.empty(n, dtype=bool)]
        for start in range(0, n, _QUAD_BATCH):
            part = slice(start, start + _QUAD_BATCH)
            sub = UnivariatePairs(*(getattr(pairs, f)[part] for f in UnivariatePairs.__dataclass_fields__))
            res = _direct(sub, rtol)
            for k in range(3):
                direct[k][part] = res[k]
        out["direct"] = _finish(pairs, direct[0], direct[1], direct[2], "direct", rtol, fallback)
    return out


def as_dict(columns: QuadratureColumns) -> dict[str, Any]:  # pragma: no cover - debugging aid
    """The columns as a dict of arrays."""
    return {k: getattr(columns, k) for k in QuadratureColumns.__dataclass_fields__}
