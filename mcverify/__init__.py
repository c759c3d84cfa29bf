"""mcverify: verify Kullback-Leibler divergences of Gaussians three ways.

The closed form (:func:`kl_divergence`), a Monte Carlo estimate
(:func:`monte_carlo_kl`) and numerical integration (:func:`quadrature_kl`)
are computed independently, so that a mistake in one cannot hide.

The public names are imported on first use (PEP 562), so that ``import mcverify``
(and the start of the ``mcverify`` command) does not import numpy and scipy.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from mcverify._version import __version__

if TYPE_CHECKING:
    from mcverify.auditing.auditor import AuditReport, audit
    from mcverify.errors import AuditError, ConfigError, QuadratureError
    from mcverify.numerics.blas import blas_threads
    from mcverify.numerics.closed_form import kl_divergence
    from mcverify.numerics.gaussian import Gaussian
    from mcverify.numerics.gaussian_batch import GaussianBatch
    from mcverify.quadrature.integration import QuadratureBatchResult, QuadratureResult, quadrature_kl
    from mcverify.sampling.monte_carlo import (
        MonteCarloBatchResult,
        MonteCarloResult,
        monte_carlo_kl,
        monte_carlo_kl_reference,
    )

__all__ = [
    "AuditError",
    "AuditReport",
    "ConfigError",
    "Gaussian",
    "GaussianBatch",
    "MonteCarloBatchResult",
    "MonteCarloResult",
    "QuadratureBatchResult",
    "QuadratureError",
    "QuadratureResult",
    "__version__",
    "audit",
    "blas_threads",
    "kl_divergence",
    "monte_carlo_kl",
    "monte_carlo_kl_reference",
    "quadrature_kl",
]

#: Where each public name lives; imported on first use.
_WHERE = {
    "AuditReport": "mcverify.auditing.auditor",
    "audit": "mcverify.auditing.auditor",
    "AuditError": "mcverify.errors",
    "ConfigError": "mcverify.errors",
    "QuadratureError": "mcverify.errors",
    "blas_threads": "mcverify.numerics.blas",
    "kl_divergence": "mcverify.numerics.closed_form",
    "Gaussian": "mcverify.numerics.gaussian",
    "GaussianBatch": "mcverify.numerics.gaussian_batch",
    "QuadratureBatchResult": "mcverify.quadrature.integration",
    "QuadratureResult": "mcverify.quadrature.integration",
    "quadrature_kl": "mcverify.quadrature.integration",
    "MonteCarloBatchResult": "mcverify.sampling.monte_carlo",
    "MonteCarloResult": "mcverify.sampling.monte_carlo",
    "monte_carlo_kl": "mcverify.sampling.monte_carlo",
    "monte_carlo_kl_reference": "mcverify.sampling.monte_carlo",
}


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        value = getattr(importlib.import_module(_WHERE[name]), name)
        globals()[name] = value  # later look-ups skip __getattr__
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
