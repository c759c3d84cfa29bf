"""mcverify: verify Kullback-Leibler divergences of Gaussians three ways.

The closed form (:func:`kl_divergence`), a Monte Carlo estimate
(:func:`monte_carlo_kl`) and numerical integration (:func:`quadrature_kl`)
are computed independently, so that a mistake in one cannot hide.
"""

from __future__ import annotations

from mcverify._version import __version__
from mcverify.auditing.auditor import AuditReport, audit
from mcverify.errors import AuditError, ConfigError, QuadratureError
from mcverify.numerics.closed_form import kl_divergence
from mcverify.numerics.gaussian import Gaussian
from mcverify.quadrature.integration import QuadratureResult, quadrature_kl
from mcverify.sampling.monte_carlo import MonteCarloResult, monte_carlo_kl, monte_carlo_kl_reference

__all__ = [
    "AuditError",
    "AuditReport",
    "ConfigError",
    "Gaussian",
    "MonteCarloResult",
    "QuadratureError",
    "QuadratureResult",
    "__version__",
    "audit",
    "kl_divergence",
    "monte_carlo_kl",
    "monte_carlo_kl_reference",
    "quadrature_kl",
]
