r"""Pathwise (reparameterisation) Monte Carlo estimate of the gradient of KL(p || q).

With :math:`x = \mu_p + \sigma_p z`, :math:`z \sim N(0, 1)`, the KL between
univariate Gaussians is :math:`E_z[\log p(x) - \log q(x)]` and its gradient
is the expectation of the derivative of the integrand along the path, with
:math:`z` held fixed. From the log densities alone (never the closed form):

.. math::

    \partial_{\mu_p} = (x - \mu_q)/v_q,\quad
    \partial_{\sigma_p} = -1/\sigma_p + z\,(x - \mu_q)/v_q,\quad
    \partial_{\mu_q} = -(x - \mu_q)/v_q,\quad
    \partial_{v_q} = \tfrac12\,\big(1/v_q - (x - \mu_q)^2/v_q^2\big),

since :math:`\log p(x) = -z^2/2 - \log\sigma_p - \tfrac12\log 2\pi` depends
on :math:`\mu_p` not at all and on :math:`\sigma_p` only through the log.
A diagonal Gaussian's KL is a sum over coordinates, so one coordinate's
derivatives are those of its univariate KL.

Full covariances (:func:`pathwise_mvn_kl_gradient`): with
:math:`x = \mu_p + A z`, :math:`\Sigma_p = A A^T` (:math:`A` the Cholesky
factor, treated as a free square root), :math:`z \sim N(0, I)`, and
:math:`w = \Sigma_q^{-1}(x - \mu_q)`, the derivatives of
:math:`\log p(x) - \log q(x)` along the path are

.. math::

    \partial_{\mu_p} = w,\quad
    \partial_{A} = -A^{-T} + w z^T,\quad
    \partial_{\mu_q} = -w,\quad
    \partial_{\Sigma_q} = \tfrac12\big(\Sigma_q^{-1} - w w^T\big),

since :math:`\log p(x) = -z^T z/2 - \log\lvert\det A\rvert - \tfrac d2\log 2\pi`
along the path. As :math:`\Sigma = A A^T`, a symmetric gradient
:math:`G_\Sigma` gives :math:`G_A = 2 G_\Sigma A`, so
:math:`G_{\Sigma_p} = \mathrm{sym}(\tfrac12 G_A A^{-1})
= -\tfrac12\Sigma_p^{-1} + \tfrac12\,\mathrm{sym}(w u^T)` with
:math:`u = A^{-T} z`, :math:`\mathrm{sym}(M) = (M + M^T)/2`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.linalg import cho_solve, cholesky, solve_triangular

from mcverify.numerics.kl_gradients import symmetric_part
from mcverify.sampling.monte_carlo import SeedLike, generator

__all__ = ["PathwiseGradient", "PathwiseMvnGradient", "pathwise_kl_gradient", "pathwise_mvn_kl_gradient"]

#: Draws per chunk: memory stays flat at any sample count.
CHUNK = 1 << 16


def _mean_and_stderr(
    draws: Callable[[int], NDArray[np.float64]], samples: int, chunk: int
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    r"""Sample means and standard errors of per-draw values, ``draws(n)`` giving shape (k, n), in chunks.

    Sums are taken about the first chunk's means, so that the sum of squares
    does not cancel; the variance is the unbiased one, the standard error
    :math:`\sqrt{s^2/n}`.
    """
    s1: NDArray[np.float64] | None = None
    s2: NDArray[np.float64] | None = None
    shift: NDArray[np.float64] | None = None
    done = 0
    while done < samples:
        n = min(chunk, samples - done)
        terms = draws(n)
        if shift is None:
            shift = terms.mean(axis=1)
            s1, s2 = np.zeros_like(shift), np.zeros_like(shift)
        assert s1 is not None and s2 is not None
        c = terms - shift[:, None]
        s1 += c.sum(axis=1)
        s2 += (c * c).sum(axis=1)
        done += n
    assert shift is not None and s1 is not None and s2 is not None
    m = s1 / samples
    var = np.maximum(s2 / samples - m * m, 0.0) * samples / (samples - 1)
    return shift + m, np.sqrt(var / samples)


@dataclass(frozen=True)
class PathwiseGradient:
    """Monte Carlo gradient of KL(p || q) in ``mean_p``, ``std_p``, ``mean_q``, ``var_q``.

    Attributes
    ----------
    estimate, stderr : tuple of float
        Means of the pathwise derivatives and their standard errors, in the
        order ``mean_p, std_p, mean_q, var_q``.
    samples : int
    """

    estimate: tuple[float, float, float, float]
    stderr: tuple[float, float, float, float]
    samples: int


def pathwise_kl_gradient(
    mean_p: float, std_p: float, mean_q: float, std_q: float, *, samples: int, seed: SeedLike
) -> PathwiseGradient:
    """Pathwise Monte Carlo gradient of KL between univariate Gaussians (see the module).

    Parameters
    ----------
    mean_p, std_p, mean_q, std_q : float
        The two Gaussians.
    samples : int
        Draws of ``z`` (at least 2).
    seed : int or SeedSequence
        Root of the draws (:func:`mcverify.sampling.monte_carlo.generator`).
    """
    if samples < 2:
        raise ValueError(f"samples must be at least 2, got {samples}")
    if not (std_p > 0 and std_q > 0):
        raise ValueError("standard deviations must be positive")
    rng = generator(seed)
    vq = std_q * std_q

    def draws(n: int) -> NDArray[np.float64]:
        z = rng.standard_normal(n)
        r = (mean_p - mean_q + std_p * z) / vq  # (x - mean_q) / v_q
        return np.stack([r, -1.0 / std_p + z * r, -r, 0.5 * (1.0 / vq - r * r)])

    est, se = _mean_and_stderr(draws, samples, CHUNK)
    return PathwiseGradient(
        (float(est[0]), float(est[1]), float(est[2]), float(est[3])),
        (float(se[0]), float(se[1]), float(se[2]), float(se[3])),
        int(samples),
    )


@dataclass(frozen=True)
class PathwiseMvnGradient:
    """Monte Carlo gradient of KL(p || q) between full-covariance Gaussians.

    Attributes
    ----------
    estimate, stderr : tuple of ndarray
        Sample means of the pathwise derivatives and their standard errors
        per entry, in the order ``mean_p`` (d,), ``cov_p`` (d, d), ``mean_q``
        (d,), ``cov_q`` (d, d). The covariance gradients are symmetric: the
        gradient with respect to independent entries at a symmetric point,
        the convention of :func:`mcverify.numerics.kl_gradients.mvn_kl_gradient`.
    samples : int
    """

    estimate: tuple[NDArray[np.float64], ...]
    stderr: tuple[NDArray[np.float64], ...]
    samples: int


def pathwise_mvn_kl_gradient(
    mean_p: ArrayLike, cov_p: ArrayLike, mean_q: ArrayLike, cov_q: ArrayLike, *, samples: int, seed: SeedLike
) -> PathwiseMvnGradient:
    r"""Pathwise Monte Carlo gradient of KL between full-covariance Gaussians (see the module).

    Each draw :math:`z` gives one value of every derivative; the estimate is
    their mean and the standard error their sample standard deviation over
    :math:`\sqrt n`, entry by entry.

    The explicit dependence of :math:`\log p(x)` on :math:`\Sigma_p` (and
    on :math:`\mu_p`), a score term of expectation zero, is *kept*: added to
    the derivative along the path it makes the :math:`\log p` part exactly
    deterministic (:math:`-A^{-T}` for :math:`A`, 0 for :math:`\mu_p`), a
    control variate that removes its variance. :math:`\Sigma_p^{-1}`,
    :math:`\Sigma_q^{-1}`, :math:`u = A^{-T} z` and :math:`w` come from
    triangular solves with the Cholesky factors, never explicit inverses.

    Parameters
    ----------
    mean_p, cov_p, mean_q, cov_q : array_like
        Means, shape (d,), and symmetric positive definite covariances, shape (d, d).
    samples : int
        Draws of ``z`` (at least 2).
    seed : int or SeedSequence
        Root of the draws (:func:`mcverify.sampling.monte_carlo.generator`).

    Raises
    ------
    ValueError
        If ``samples < 2``, the shapes disagree, or a covariance is not
        positive definite.
    """
    if samples < 2:
        raise ValueError(f"samples must be at least 2, got {samples}")
    mp, cp, mq, cq = (np.asarray(a, dtype=np.float64) for a in (mean_p, cov_p, mean_q, cov_q))
    d = mp.shape[0] if mp.ndim == 1 else -1
    if d < 1 or mq.shape != (d,) or cp.shape != (d, d) or cq.shape != (d, d):
        raise ValueError(
            f"means must have shape (d,) and covariances (d, d); got {mp.shape}, {cp.shape}, {mq.shape}, {cq.shape}"
        )
    try:
        lp = cholesky(symmetric_part(cp), lower=True)
        lq = cholesky(symmetric_part(cq), lower=True)
    except np.linalg.LinAlgError as exc:
        raise ValueError("covariances must be symmetric positive definite") from exc
    eye = np.eye(d)
    lp_inv = solve_triangular(lp, eye, lower=True)
    lq_inv = solve_triangular(lq, eye, lower=True)
    ip = lp_inv.T @ lp_inv  # Sigma_p^{-1} = A^{-T} A^{-1}
    iq = lq_inv.T @ lq_inv
    delta = mp - mq
    rng = generator(seed)

    def draws(n: int) -> NDArray[np.float64]:
        z = rng.standard_normal((n, d))
        r = delta + z @ lp.T  # x - mean_q
        w = cho_solve((lq, True), r.T).T  # Sigma_q^{-1} (x - mean_q)
        u = solve_triangular(lp, z.T, lower=True, trans="T").T  # A^{-T} z
        g_cp = -0.5 * ip + 0.5 * symmetric_part(w[:, :, None] * u[:, None, :])
        g_cq = 0.5 * (iq - w[:, :, None] * w[:, None, :])
        return np.concatenate([w, g_cp.reshape(n, -1), -w, g_cq.reshape(n, -1)], axis=1).T

    # per-draw d x d matrices: chunks of CHUNK numbers keep the memory flat
    est, se = _mean_and_stderr(draws, samples, max(1, CHUNK // (d * d)))
    cuts = np.cumsum([d, d * d, d])
    shapes = [(d,), (d, d), (d,), (d, d)]
    return PathwiseMvnGradient(
        tuple(a.reshape(sh) for a, sh in zip(np.split(est, cuts), shapes, strict=True)),
        tuple(a.reshape(sh) for a, sh in zip(np.split(se, cuts), shapes, strict=True)),
        int(samples),
    )
