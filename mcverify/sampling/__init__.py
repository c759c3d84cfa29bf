"""Sample-based estimates of KL(p || q): Monte Carlo, antithetic, randomised QMC, k1-k3.

Layer rule: imports :mod:`mcverify.numerics` and :mod:`mcverify.stats` (for
intervals); pure functions over arrays, no I/O.  The Monte Carlo path never
calls the closed form.

Public names (everything else is internal to the layer):
:mod:`~mcverify.sampling.monte_carlo`: ``MonteCarloResult``, ``monte_carlo_kl``, ``monte_carlo_kl_reference``,
:mod:`~mcverify.sampling.antithetic`: ``antithetic_kl``,
:mod:`~mcverify.sampling.qmc`: ``qmc_kl``,
:mod:`~mcverify.sampling.ratio_estimators`: ``RatioEstimates`` (its function ``ratio_estimators`` is
imported from the module: ``mcverify.sampling.ratio_estimators`` names the module),
:mod:`~mcverify.sampling.estimators`: ``estimate_kl``,
:mod:`~mcverify.sampling.methods`: ``METHODS``, ``ESTIMATORS`` (their names, which import nothing),
:mod:`~mcverify.sampling.seeding`: ``case_seed``, ``case_seeds``,
:mod:`~mcverify.sampling.pathwise`: ``PathwiseGradient``, ``pathwise_kl_gradient`` (the audit's gradient evidence).

The public names are imported on first use, so that importing one module of this
layer (:mod:`~mcverify.sampling.methods`, for the command line's choices) does
not import them all (numpy and scipy among them).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from mcverify.lazy import lazy_names

if TYPE_CHECKING:
    from mcverify.sampling.antithetic import antithetic_kl
    from mcverify.sampling.estimators import estimate_kl
    from mcverify.sampling.methods import ESTIMATORS, METHODS
    from mcverify.sampling.monte_carlo import MonteCarloResult, monte_carlo_kl, monte_carlo_kl_reference
    from mcverify.sampling.pathwise import PathwiseGradient, pathwise_kl_gradient
    from mcverify.sampling.qmc import qmc_kl
    from mcverify.sampling.ratio_estimators import RatioEstimates
    from mcverify.sampling.seeding import case_seed, case_seeds

__all__ = [
    "ESTIMATORS",
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
]

#: Where each public name lives (module: names); imported on first use, so that importing one
#: module of this layer does not import them all (numpy, scipy and pandas among them).
__getattr__ = lazy_names(
    __name__,
    {
        "antithetic": ("antithetic_kl",),
        "estimators": ("estimate_kl",),
        "methods": ("ESTIMATORS", "METHODS"),
        "monte_carlo": ("MonteCarloResult", "monte_carlo_kl", "monte_carlo_kl_reference"),
        "pathwise": ("PathwiseGradient", "pathwise_kl_gradient"),
        "qmc": ("qmc_kl",),
        "ratio_estimators": ("RatioEstimates",),
        "seeding": ("case_seed", "case_seeds"),
    },
)
