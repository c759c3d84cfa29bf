"""The numerics: Gaussians, the closed-form KL and the stable kernels they share.

Layer rule: imports numpy, scipy and :mod:`mcverify.errors` only; no I/O, no
pandas, nothing else of mcverify.

Public names (everything else is internal to the layer):
:mod:`~mcverify.numerics.gaussian`: ``Gaussian``,
:mod:`~mcverify.numerics.gaussian_batch`: ``GaussianBatch``,
:mod:`~mcverify.numerics.closed_form`: ``kl_divergence``,
:mod:`~mcverify.numerics.blas`: ``one_blas_thread``,
:mod:`~mcverify.numerics.kl_gradients`: ``KLGradient``, ``diagonal_kl_gradient``, ``mvn_kl_gradient``.
"""

from __future__ import annotations

from mcverify.numerics.blas import one_blas_thread
from mcverify.numerics.closed_form import kl_divergence
from mcverify.numerics.gaussian import Gaussian
from mcverify.numerics.gaussian_batch import GaussianBatch
from mcverify.numerics.kl_gradients import KLGradient, diagonal_kl_gradient, mvn_kl_gradient

__all__ = [
    "Gaussian",
    "GaussianBatch",
    "KLGradient",
    "diagonal_kl_gradient",
    "kl_divergence",
    "mvn_kl_gradient",
    "one_blas_thread",
]
