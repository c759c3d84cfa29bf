"""The sample-based estimators by name, their fewest samples and the default QMC scramblings, defined once.

Pure Python, with no import: the configs (:mod:`mcverify.config.defaults`)
and the command line's parsers (``--method``, ``--estimators``) take their
choices from here without importing numpy or the estimators themselves
(:mod:`mcverify.sampling.estimators`, :mod:`mcverify.sampling.ratio_estimators`,
:mod:`mcverify.sampling.qmc`, which import these names from this module).
"""

from __future__ import annotations

__all__ = ["DEFAULT_RANDOMIZATIONS", "ESTIMATORS", "METHODS", "minimum_samples"]

#: The sampling estimators (``[run] method``, ``--method``), in the order tables list them.
METHODS: tuple[str, ...] = ("mc", "antithetic", "qmc")
#: The ratio estimators of :func:`mcverify.sampling.ratio_estimators.ratio_estimators`, in table order.
ESTIMATORS: tuple[str, ...] = ("k1", "k2", "k3")
#: Independent scramblings by default. The randomisation means of these
#: integrands are skewed (skewness about 1.3 whenever the covariances differ)
#: and heavy-tailed (excess kurtosis 2 to 3), because the extreme Sobol strata
#: map to the unbounded normal tails, and the t-test over R of them inherits
#: an O(1/R) error. Measured rejection rates of true values at the nominal
#: 5% / 1% (skewness-corrected t; benchmarks in the README's estimator section):
#: R = 32: up to 1.34x / 1.88x nominal; R = 64: up to 1.13x / 1.33x. 64 costs
#: a factor sqrt(2) in accuracy at a given number of points.
DEFAULT_RANDOMIZATIONS = 64


def minimum_samples(method: str, randomizations: int = DEFAULT_RANDOMIZATIONS) -> int:
    """Fewest samples ``method`` accepts: 2 (mc), 4 (antithetic) or 2 * randomizations (qmc)."""
    return {"mc": 2, "antithetic": 4, "qmc": 2 * randomizations}[method]
