"""Statistics of the checks: intervals and z-tests, power, verdicts and error control.

Layer rule: imports numpy and scipy only; no I/O.

Public names (everything else is internal to the layer):
:mod:`~mcverify.stats.intervals`: ``confidence_interval``, ``minimum_terms``, ``two_sided_p_value``,
:mod:`~mcverify.stats.power`: ``detectable_difference``, ``per_case_level``,
:mod:`~mcverify.stats.verdicts`: ``adjust_p_values``, ``adjusted_p_values``, ``apply_verdicts``, ``verdict_columns``,
:mod:`~mcverify.stats.rates`: ``RateFit``, ``fit_rate``.
"""

from __future__ import annotations

from mcverify.stats.intervals import confidence_interval, minimum_terms, two_sided_p_value
from mcverify.stats.power import detectable_difference, per_case_level
from mcverify.stats.rates import RateFit, fit_rate
from mcverify.stats.verdicts import adjust_p_values, adjusted_p_values, apply_verdicts, verdict_columns

__all__ = [
    "RateFit",
    "adjust_p_values",
    "adjusted_p_values",
    "apply_verdicts",
    "confidence_interval",
    "detectable_difference",
    "fit_rate",
    "minimum_terms",
    "per_case_level",
    "two_sided_p_value",
    "verdict_columns",
]
