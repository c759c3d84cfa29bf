"""Sample-based estimates of KL(p || q): Monte Carlo, antithetic, randomised QMC, k1-k3.

Layer rule: imports :mod:`mcverify.numerics` and :mod:`mcverify.stats` (for
intervals); pure functions over arrays, no I/O.  The Monte Carlo path never
calls the closed form.

Public names (everything else is internal to the layer):
:mod:`~mcverify.sampling.monte_carlo`: ``MonteCarloResult``, ``monte_carlo_kl``, ``monte_carlo_kl_reference``,
:mod:`~mcverify.sampling.antithetic`: ``antithetic_kl``,
:mod:`~mcverify.sampling.qmc`: ``qmc_kl``,
:mod:`~mcverify.sampling.ratio_estimators`: ``RatioEstimates``, ``ratio_estimators``,
:mod:`~mcverify.sampling.estimators`: ``METHODS``, ``estimate_kl``,
:mod:`~mcverify.sampling.seeding`: ``case_seed``, ``case_seeds``,
:mod:`~mcverify.sampling.pathwise`: ``PathwiseGradient``, ``pathwise_kl_gradient`` (the audit's gradient evidence).
"""

from __future__ import annotations

from mcverify.sampling.antithetic import antithetic_kl
from mcverify.sampling.estimators import METHODS, estimate_kl
from mcverify.sampling.monte_carlo import MonteCarloResult, monte_carlo_kl, monte_carlo_kl_reference
from mcverify.sampling.pathwise import PathwiseGradient, pathwise_kl_gradient
from mcverify.sampling.qmc import qmc_kl
from mcverify.sampling.ratio_estimators import RatioEstimates, ratio_estimators
from mcverify.sampling.seeding import case_seed, case_seeds

__all__ = [
    "METHODS",
    "MonteCarloResult",
    "PathwiseGradient",
    "RatioEstimates",
    "antithetic_kl",
    "case_seed",
    "case_seeds",
    "estimate_kl",
    "monte_carlo_kl",
    "monte_carlo_kl_reference",
    "pathwise_kl_gradient",
    "qmc_kl",
    "ratio_estimators",
]
