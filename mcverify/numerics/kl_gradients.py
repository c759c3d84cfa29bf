r"""Exact gradients of KL(p || q) between Gaussians, in the parameters a user writes.

KL is a training loss: what an optimiser sees is its gradient. These are the
derivatives of

.. math::

    \mathrm{KL} = \tfrac12\Big[\operatorname{tr}(\Sigma_q^{-1}\Sigma_p)
    + \delta^T \Sigma_q^{-1} \delta - d + \log\det\Sigma_q - \log\det\Sigma_p\Big],
    \qquad \delta = \mu_p - \mu_q,

with respect to the means and to the spread of each distribution, given as a
standard deviation, a variance, a log-variance or a log-standard deviation
per coordinate (diagonal covariances), or as a full covariance matrix.

Each function returns the gradients and their *magnitudes*: the same sums
with every term replaced by its absolute value, which is what a rounding
error bound of a naive evaluation scales with (Higham, *Accuracy and
Stability of Numerical Algorithms*, 2nd ed., 2002, sec. 3.1 and 4.2).

Symmetric matrices: the covariance gradient is the gradient with respect to
the matrix entries taken as independent, evaluated at a symmetric point,
where it is itself symmetric. Automatic differentiation of code that reads
only one triangle (a Cholesky factorisation) returns a different, non-
symmetric matrix with the same symmetric part; compare symmetric parts,
:math:`(G + G^T)/2`: both give the same derivative along every symmetric
perturbation, which is all a covariance can undergo.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
from numpy.typing import NDArray
from scipy.linalg import cho_factor, cho_solve

__all__ = ["KLGradient", "diagonal_kl_gradient", "mvn_kl_gradient", "symmetric_part"]

Scale = Literal["std", "var", "logvar", "logstd"]


@dataclass(frozen=True)
class KLGradient:
    """Gradients of KL(p || q) and their magnitudes, in calling order.

    Attributes
    ----------
    grads : tuple of ndarray
        ``d KL / d mean_p``, ``d KL / d scale_p``, ``d KL / d mean_q``,
        ``d KL / d scale_q``, each shaped as its argument.
    magnitudes : tuple of ndarray
        The same derivatives with every term taken in absolute value
        (non-negative): the scale of rounding errors in a naive evaluation.
    """

    grads: tuple[NDArray[np.float64], ...]
    magnitudes: tuple[NDArray[np.float64], ...]


def diagonal_kl_gradient(
    mean_p: NDArray[np.float64],
    scale_p: NDArray[np.float64],
    mean_q: NDArray[np.float64],
    scale_q: NDArray[np.float64],
    scale: Scale,
) -> KLGradient:
    r"""Gradient of KL between diagonal Gaussians in the given scale parameters.

    Parameters
    ----------
    mean_p, scale_p, mean_q, scale_q : array_like, shape (d,) or scalars
        Means and spreads (``std``, ``var``, ``logvar`` or ``logstd``).
    scale : {"std", "var", "logvar", "logstd"}

    Returns
    -------
    KLGradient

    Notes
    -----
    Per coordinate, with :math:`v` the variances and :math:`\delta = \mu_p - \mu_q`:

    .. math::

        \partial_{\mu_p} = \delta / v_q = -\partial_{\mu_q},\quad
        \partial_{v_p} = \tfrac12 (1/v_q - 1/v_p),\quad
        \partial_{v_q} = \tfrac12 (1/v_q - v_p/v_q^2 - \delta^2/v_q^2),

    and by the chain rule :math:`\partial_s = 2 s\,\partial_v` for a
    standard deviation. For log scales, with :math:`a = \log v_p - \log v_q`
    and :math:`c = 1` (log-variance) or 2 (log-std), the derivatives are
    formed without the variance ratio:
    :math:`\partial_{\ell_p} = \tfrac{c}{2}\,\mathrm{expm1}(a)` and
    :math:`\partial_{\ell_q} = -\tfrac{c}{2}\,(\mathrm{expm1}(a) + \delta^2 e^{-\log v_q})`.
    """
    mp, sp, mq, sq = (np.asarray(x, dtype=np.float64) for x in (mean_p, scale_p, mean_q, scale_q))
    delta = mp - mq
    if scale in ("logvar", "logstd"):
        c = 1.0 if scale == "logvar" else 2.0
        lvp, lvq = c * sp, c * sq
        a = lvp - lvq
        m2 = delta * delta * np.exp(-lvq)
        g_mp = delta * np.exp(-lvq)
        g_sp = 0.5 * c * np.expm1(a)
        g_sq = -0.5 * c * (np.expm1(a) + m2)
        mag_sp = 0.5 * c * (np.exp(a) + 1.0)
        mag_sq = 0.5 * c * (np.exp(a) + 1.0 + m2)
        return KLGradient((g_mp, g_sp, -g_mp, g_sq), (np.abs(g_mp), mag_sp, np.abs(g_mp), mag_sq))
    if scale == "std":
        vp, vq, jp, jq = sp * sp, sq * sq, 2.0 * sp, 2.0 * sq
    elif scale == "var":
        vp, vq, jp, jq = sp, sq, np.ones_like(sp), np.ones_like(sq)
    else:
        raise ValueError(f"unknown scale {scale!r}: choose from std, var, logvar, logstd")
    g_mp = delta / vq
    g_vp = 0.5 * (1.0 / vq - 1.0 / vp)
    t_vq = (vp + delta * delta) / vq / vq
    g_vq = 0.5 * (1.0 / vq - t_vq)
    mag_vp = 0.5 * (1.0 / vq + 1.0 / vp)
    mag_vq = 0.5 * (1.0 / vq + t_vq)
    return KLGradient(
        (g_mp, jp * g_vp, -g_mp, jq * g_vq),
        (np.abs(g_mp), np.abs(jp) * mag_vp, np.abs(g_mp), np.abs(jq) * mag_vq),
    )


def mvn_kl_gradient(
    mean_p: NDArray[np.float64],
    cov_p: NDArray[np.float64],
    mean_q: NDArray[np.float64],
    cov_q: NDArray[np.float64],
) -> KLGradient:
    r"""Gradient of KL between full-covariance Gaussians in the means and covariances.

    Notes
    -----
    .. math::

        \partial_{\mu_p} = \Sigma_q^{-1}\delta = -\partial_{\mu_q},\quad
        \partial_{\Sigma_p} = \tfrac12(\Sigma_q^{-1} - \Sigma_p^{-1}),\quad
        \partial_{\Sigma_q} = \tfrac12\big(\Sigma_q^{-1}
        - \Sigma_q^{-1}(\Sigma_p + \delta\delta^T)\Sigma_q^{-1}\big),

    the gradients with respect to independent entries at a symmetric point
    (symmetric themselves; see the module's note). Inverses by Cholesky
    solves; their error grows with the condition numbers, which a caller's
    tolerance must carry.
    """
    mp, cp, mq, cq = (np.asarray(x, dtype=np.float64) for x in (mean_p, cov_p, mean_q, cov_q))
    d = mp.shape[-1]
    eye = np.eye(d)
    fq, fp = cho_factor(cq, lower=True), cho_factor(cp, lower=True)
    iq = symmetric_part(cho_solve(fq, eye))
    ip = symmetric_part(cho_solve(fp, eye))
    delta = mp - mq
    g_mp = iq @ delta
    outer = cp + np.outer(delta, delta)
    g_cp = 0.5 * (iq - ip)
    g_cq = 0.5 * (iq - symmetric_part(iq @ outer @ iq))
    aq = np.abs(iq)
    mag_mp = aq @ np.abs(delta)
    mag_cp = 0.5 * (aq + np.abs(ip))
    mag_cq = 0.5 * (aq + aq @ (np.abs(cp) + np.abs(np.outer(delta, delta))) @ aq)
    return KLGradient((g_mp, g_cp, -g_mp, g_cq), (mag_mp, mag_cp, mag_mp, mag_cq))


def symmetric_part(g: NDArray[np.float64]) -> NDArray[np.float64]:
    """``(g + g^T) / 2`` over the last two axes."""
    g = np.asarray(g, dtype=np.float64)
    return 0.5 * (g + np.swapaxes(g, -1, -2))
