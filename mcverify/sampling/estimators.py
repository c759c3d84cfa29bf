"""One entry point for the sample-based estimators of KL(p || q).

``method="mc"`` is plain Monte Carlo (:func:`mcverify.monte_carlo_kl`),
``"antithetic"`` antithetic pairs (:func:`mcverify.sampling.antithetic.antithetic_kl`)
and ``"qmc"`` randomised quasi-Monte Carlo with scrambled Sobol points
(:func:`mcverify.sampling.qmc.qmc_kl`). None of them uses the closed form.
"""

from __future__ import annotations

from typing import Literal

from mcverify.numerics.gaussian import Gaussian
from mcverify.sampling.antithetic import antithetic_kl
from mcverify.sampling.methods import METHODS, minimum_samples
from mcverify.sampling.monte_carlo import MonteCarloResult, SeedLike, monte_carlo_kl
from mcverify.sampling.qmc import DEFAULT_RANDOMIZATIONS, qmc_kl

__all__ = ["METHODS", "SamplingMethod", "estimate_kl", "minimum_samples"]

SamplingMethod = Literal["mc", "antithetic", "qmc"]


def estimate_kl(
    p: Gaussian,
    q: Gaussian,
    samples: int,
    *,
    method: str = "mc",
    seed: SeedLike = None,
    confidence: float = 0.95,
    randomizations: int = DEFAULT_RANDOMIZATIONS,
) -> MonteCarloResult:
    """Estimate KL(p || q) by sampling, with a standard error and an interval.

    Parameters
    ----------
    p, q : Gaussian
        Distributions of the same dimension.
    samples : int
        Evaluations of the log-likelihood ratio (see each method for how
        they are used; ``MonteCarloResult.samples`` reports the count used).
    method : {"mc", "antithetic", "qmc"}
        Plain Monte Carlo, antithetic pairs, or randomised quasi-Monte Carlo.
    seed : int, numpy.random.SeedSequence, numpy.random.Generator or None
        The same seed gives bit-identical results.
    confidence : float
        Level of the interval.
    randomizations : int
        Independent scramblings for ``"qmc"`` (ignored otherwise).

    Returns
    -------
    MonteCarloResult
    """
    if method == "mc":
        return monte_carlo_kl(p, q, samples, seed=seed, confidence=confidence)
    if method == "antithetic":
        return antithetic_kl(p, q, samples, seed=seed, confidence=confidence)
    if method == "qmc":
        return qmc_kl(p, q, samples, seed=seed, confidence=confidence, randomizations=randomizations)
    raise ValueError(f"unknown method {method!r}: use one of {', '.join(METHODS)}")
