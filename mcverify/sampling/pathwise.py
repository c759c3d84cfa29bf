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
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mcverify.sampling.monte_carlo import SeedLike, generator

__all__ = ["PathwiseGradient", "pathwise_kl_gradient"]

#: Draws per chunk: memory stays flat at any sample count.
CHUNK = 1 << 16


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
    s1 = np.zeros(4)
    s2 = np.zeros(4)
    shift = None  # first chunk's means: sums of squares about them do not cancel
    done = 0
    while done < samples:
        n = min(CHUNK, samples - done)
        z = rng.standard_normal(n)
        r = (mean_p - mean_q + std_p * z) / vq  # (x - mean_q) / v_q
        terms = np.stack([r, -1.0 / std_p + z * r, -r, 0.5 * (1.0 / vq - r * r)])
        if shift is None:
            shift = terms.mean(axis=1)
        c = terms - shift[:, None]
        s1 += c.sum(axis=1)
        s2 += (c * c).sum(axis=1)
        done += n
    assert shift is not None
    m = s1 / samples
    var = np.maximum(s2 / samples - m * m, 0.0) * samples / (samples - 1)
    est = shift + m
    se = np.sqrt(var / samples)
    return PathwiseGradient(
        (float(est[0]), float(est[1]), float(est[2]), float(est[3])),
        (float(se[0]), float(se[1]), float(se[2]), float(se[3])),
        int(samples),
    )
