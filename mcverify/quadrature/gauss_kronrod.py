r"""Vectorised 21-point Gauss-Kronrod quadrature on fixed panels.

QUADPACK's ``qk21`` rule (the rule behind :func:`scipy.integrate.quad` on
finite ranges) applied to many panels of many integrands at once: one
array evaluation of the integrand per batch instead of a Python call per
point.  Each panel gets QUADPACK's own error estimate, so a sum over panels
carries the same kind of error estimate ``quad`` reports for a partition it
would have stopped at; :func:`normal_tail_moments` supplies the exact
normal-tail integrals used to bound what lies outside the panels.

References
----------
R. Piessens, E. de Doncker-Kapenga, C. W. Ueberhuber and D. K. Kahaner,
*QUADPACK: a subroutine package for automatic integration*, Springer, 1983,
routine ``qk21``.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
from numpy.typing import NDArray
from scipy.special import erfc

__all__ = [
    "NODES",
    "WEIGHTS_GAUSS",
    "WEIGHTS_KRONROD",
    "normal_tail_moments",
    "panel_nodes",
    "qk21",
    "qk21_sums",
]

# Positive Kronrod abscissae of qk21, largest first; the odd positions
# (0.9739..., 0.8650..., ...) are the 10-point Gauss nodes.
_XGK = (
    0.995657163025808080735527280689003,
    0.973906528517171720077964012084452,
    0.930157491355708226001207180059508,
    0.865063366688984510732096688423493,
    0.780817726586416897063717578345042,
    0.679409568299024406234327365114874,
    0.562757134668604683339000099272694,
    0.433395394129247190799265943165784,
    0.294392862701460198131126603103866,
    0.148874338981631210884826001129720,
)
_WGK = (
    0.011694638867371874278064396062192,
    0.032558162307964727478818972459390,
    0.054755896574351996031381300244580,
    0.075039674810919952767043140916190,
    0.093125454583697605535065465083366,
    0.109387158802297641899210590325805,
    0.123491976262065851077208703099515,
    0.134709217311473325928054001771707,
    0.142775938577060080797094273138717,
    0.147739104901338491374841515972068,
)
_WGK_CENTRE = 0.149445554002916905664936468389821
_WG = (
    0.066671344308688137593568809893332,
    0.149451349150580593145776339657697,
    0.219086362515982043995534934228163,
    0.269266719309996355091226921569469,
    0.295524224714752870173892994651338,
)

#: The 21 nodes on [-1, 1], ascending.
NODES: NDArray[np.float64] = np.array([-x for x in _XGK] + [0.0] + list(reversed(_XGK)))
#: Kronrod weights of :data:`NODES` (they sum to 2).
WEIGHTS_KRONROD: NDArray[np.float64] = np.array([*_WGK, _WGK_CENTRE, *reversed(_WGK)])
#: 10-point Gauss weights on :data:`NODES` (zero at the Kronrod-only nodes and the centre).
WEIGHTS_GAUSS: NDArray[np.float64] = np.zeros(21)
for _k, _w in enumerate(_WG):
    WEIGHTS_GAUSS[2 * _k + 1] = WEIGHTS_GAUSS[19 - 2 * _k] = _w

#: The Gauss weights at the odd positions of :data:`NODES`, where the Gauss nodes are.
_WG_ODD = np.ascontiguousarray(WEIGHTS_GAUSS[1::2])
assert np.all(WEIGHTS_GAUSS[0::2] == 0.0)

_EPS = float(np.finfo(np.float64).eps)


def _weighted_sum(values: NDArray[np.float64], weights: NDArray[np.float64]) -> NDArray[np.float64]:
    """``sum(values * weights, axis=-1)``, each row by the same loop."""
    return np.einsum("...i,i->...", values, weights)


_UFLOW = float(np.finfo(np.float64).tiny)


def panel_nodes(a: NDArray[np.float64], b: NDArray[np.float64]) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """The 21 nodes of every panel ``[a, b]`` (shape ``a.shape + (21,)``) and the half-lengths."""
    half = 0.5 * (b - a)
    return (0.5 * (a + b))[..., None] + half[..., None] * NODES, half


def qk21_sums(fv: NDArray[np.float64], half: NDArray[np.float64]) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    r"""Integrals and QUADPACK error estimates from integrand values at the nodes.

    Parameters
    ----------
    fv : numpy.ndarray
        Values at :func:`panel_nodes`, shape ``half.shape + (21,)``.
    half : numpy.ndarray
        Half-lengths of the panels.

    Returns
    -------
    value, error : numpy.ndarray
        Shaped like ``half``: the 21-point Kronrod estimate of each panel's
        integral and ``qk21``'s error estimate for it.

    Notes
    -----
    With half-length :math:`h`, Kronrod and Gauss sums :math:`K, G`,
    :math:`A = h\sum_i w_i |f_i|` and :math:`R = h\sum_i w_i |f_i - K/2|`,
    QUADPACK estimates the error as

    .. math::

        E = \max\bigl(R \min(1, (200 |K - G| h / R)^{3/2}),\ 50\,\epsilon A\bigr),

    the first term pessimistic for smooth integrands, the second a floor
    for rounding.  A zero-width panel contributes 0 with error 0.
    """
    # einsum, not matrix products: it sums every panel with the same loop
    # whatever the number of panels, so a panel's result does not depend on
    # the batch it is computed in (BLAS kernels may sum a row differently by
    # its position in the matrix).
    wsum = _weighted_sum
    resk = wsum(fv, WEIGHTS_KRONROD)
    resg = wsum(fv[..., 1::2], _WG_ODD)
    scale = np.abs(half)
    resabs = wsum(np.abs(fv), WEIGHTS_KRONROD) * scale
    resasc = wsum(np.abs(fv - 0.5 * resk[..., None]), WEIGHTS_KRONROD) * scale
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        err = np.abs((resk - resg) * half)
        use = (resasc != 0.0) & (err != 0.0)
        ratio = np.where(use, 200.0 * err / np.where(use, resasc, 1.0), 0.0)
        err = np.where(use, resasc * np.minimum(1.0, ratio * np.sqrt(ratio)), err)
        err = np.where(resabs > _UFLOW / (50.0 * _EPS), np.maximum(50.0 * _EPS * resabs, err), err)
    return resk * half, err


def qk21(
    f: Callable[[NDArray[np.float64]], NDArray[np.float64]],
    a: NDArray[np.float64],
    b: NDArray[np.float64],
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Integrals and QUADPACK error estimates of ``f`` over many panels.

    ``f`` is vectorised: given nodes of shape ``a.shape + (21,)`` it returns
    the values there (parameters of the integrand broadcast against the
    leading axes).  ``a`` and ``b`` are the panel ends, any common shape.
    See :func:`qk21_sums` for the estimates.
    """
    t, half = panel_nodes(np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64))
    return qk21_sums(f(t), half)


def normal_tail_moments(t: NDArray[np.float64], kmax: int) -> list[NDArray[np.float64]]:
    r"""``I_k(T) = \int_T^\infty x^k \varphi(x)\,dx`` for ``k = 0..kmax``, ``T >= 0``.

    :math:`I_0 = Q(T)` (the upper normal tail), :math:`I_1 = \varphi(T)` and
    :math:`I_k = T^{k-1}\varphi(T) + (k - 1) I_{k-2}`, all terms positive
    for ``T >= 0``, so the recursion is stable.
    """
    t = np.asarray(t, dtype=np.float64)
    phi = np.exp(-0.5 * t * t) / math.sqrt(2.0 * math.pi)
    out = [0.5 * erfc(t / math.sqrt(2.0)), phi]
    for k in range(2, kmax + 1):
        out.append(t ** (k - 1) * phi + (k - 1) * out[k - 2])
    return out[: kmax + 1]
