"""KL(p || q) by numerical integration: scipy's quad, whitening, Gauss-Kronrod panels.

Layer rule: imports :mod:`mcverify.numerics` only; no I/O.  Never calls the
closed form: integration is an independent check.

Public names (everything else is internal to the layer):
:mod:`~mcverify.quadrature.integration`: ``QuadratureResult``, ``quadrature_kl``.
"""

from __future__ import annotations

from mcverify.quadrature.integration import QuadratureResult, quadrature_kl

__all__ = [
    "QuadratureResult",
    "quadrature_kl",
]
