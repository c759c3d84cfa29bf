r"""Confidence intervals and z-tests for sample means of skewed terms.

The log-likelihood ratio of two Gaussians is a quadratic form in a Gaussian
vector (for a univariate pair with equal means it is an affine function of
a chi-square variable with one degree of freedom, skewness
:math:`\sqrt 8 \approx 2.83`). The studentised mean
:math:`T = (\bar Y - \mu) / (S / \sqrt n)` of skewed terms is itself skewed
in the opposite direction, with the Edgeworth expansion (Hall 1992b, §2.6)

.. math::

    P(T \le x) = \Phi(x) + n^{-1/2}\,\tfrac{\gamma}{6}(2x^2 + 1)\,\phi(x) + O(n^{-1}),

where :math:`\gamma` is the skewness of one term. The normal-theory
interval :math:`\bar Y \mp z S/\sqrt n` therefore has one-sided errors of
order :math:`n^{-1/2}`, which grow like :math:`\gamma x^3 / (6\sqrt n)`
relative to the normal tail at :math:`|T| = x`: large in the far tails a
multiple-testing correction looks at. mcverify removes the
:math:`n^{-1/2}` term with Hall's (1992a) monotone cubic transformation

.. math::

    g(T) = T + a T^2 + \tfrac{a^2}{3} T^3 + b, \quad
    a = \frac{\hat\gamma}{3\sqrt n}, \quad b = \frac{\hat\gamma}{6\sqrt n},

with :math:`\hat\gamma` the sample skewness: :math:`g(T)` is standard
normal up to :math:`O(n^{-1})` in both tails. It extends Johnson's (1978)
modified t, :math:`T + b + aT^2`, by the cubic term that makes it
increasing (:math:`g'(T) = (1 + aT)^2`) and hence invertible, so the
interval :math:`\{\mu : |g(T(\mu))| \le z\}` is an interval:

.. math::

    \left[\bar Y - g^{-1}(z)\,\tfrac{S}{\sqrt n},\ \bar Y - g^{-1}(-z)\,\tfrac{S}{\sqrt n}\right],
    \quad g^{-1}(x) = \frac{3(x - b)}{c^2 + c + 1},\ c = \sqrt[3]{1 + 3a(x - b)} .

With :math:`\hat\gamma = 0` both reduce to the normal-theory interval and
z-test. Estimators with few independent terms (randomised quasi-Monte
Carlo: the means of R independent randomisations) refer :math:`g(T)` to
Student's t with ``df`` degrees of freedom instead of the normal law, as
Johnson (1978) does for his modified t.

References
----------
P. Hall (1992a), "On the removal of skewness by transformation", *Journal
of the Royal Statistical Society B* 54, 221-228.
P. Hall (1992b), *The Bootstrap and Edgeworth Expansion*, Springer.
N. J. Johnson (1978), "Modified t tests and confidence intervals for
asymmetrical populations", *Journal of the American Statistical
Association* 73, 536-544.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import special, stats

__all__ = [
    "SKEW_TERM_LIMIT",
    "confidence_interval",
    "critical_value",
    "hall_inverse",
    "hall_transform",
    "minimum_terms",
    "two_sided_p_value",
]

#: Largest first-order Edgeworth term (relative to the normal tail) that
#: Hall's correction is trusted to remove; see :func:`minimum_terms`.
SKEW_TERM_LIMIT = 2.0


def _coefficients(skewness: float, terms: float) -> tuple[float, float]:
    if not math.isfinite(skewness) or not terms > 0:
        return 0.0, 0.0
    root = math.sqrt(terms)
    return skewness / (3.0 * root), skewness / (6.0 * root)


def hall_transform(t: float, skewness: float, terms: float) -> float:
    r"""Hall's skewness-removing transformation :math:`g(T)` of a studentised mean.

    Parameters
    ----------
    t : float
        The studentised mean :math:`T = (\bar Y - \mu) / (S / \sqrt n)`.
    skewness : float
        Sample skewness :math:`\hat\gamma` of the averaged terms.
    terms : float
        Number ``n`` of independent terms averaged.

    Returns
    -------
    float
        :math:`g(T) = T + aT^2 + a^2T^3/3 + b` (see the module notes), standard
        normal up to :math:`O(n^{-1})`; ``t`` itself when it is not finite.
    """
    if not math.isfinite(t):
        return t
    a, b = _coefficients(skewness, terms)
    at = a * t
    return t * (1.0 + at + at * at / 3.0) + b


def hall_inverse(x: float, skewness: float, terms: float) -> float:
    r"""The inverse of :func:`hall_transform` in ``t``: the ``T`` with :math:`g(T) = x`.

    Written as :math:`3(x - b) / (c^2 + c + 1)` with
    :math:`c = \sqrt[3]{1 + 3a(x - b)}`, which equals
    :math:`(c - 1)/a` without cancellation as :math:`a \to 0`.
    """
    a, b = _coefficients(skewness, terms)
    u = x - b
    c = float(np.cbrt(1.0 + 3.0 * a * u))
    return 3.0 * u / (c * c + c + 1.0)


def critical_value(confidence: float, df: float = math.inf) -> float:
    """Two-sided critical value: the normal or Student-t quantile at ``(1 + confidence) / 2``."""
    level = 0.5 + confidence / 2.0
    if math.isinf(df):
        return float(special.ndtri(level))
    return float(stats.t.ppf(level, df))


def confidence_interval(
    estimate: float,
    stderr: float,
    confidence: float,
    *,
    skewness: float = 0.0,
    terms: float = math.inf,
    df: float = math.inf,
) -> tuple[float, float]:
    """Two-sided confidence interval for a mean.

    Parameters
    ----------
    estimate, stderr : float
        Sample mean and its standard error :math:`S/\\sqrt n`.
    confidence : float
        Level, in (0, 1).
    skewness : float
        Sample skewness of the averaged terms; 0 gives the normal-theory interval.
    terms : float
        Number of independent terms averaged (``n``).
    df : float
        Degrees of freedom of the reference law: ``inf`` for the normal,
        finite for Student's t.

    Returns
    -------
    (float, float)
        Hall's skewness-corrected interval (module notes) with normal or
        Student-t critical values; ``estimate -+ z * stderr`` when
        ``skewness`` is 0.
    """
    z = critical_value(confidence, df)
    upper_t = hall_inverse(z, skewness, terms)
    lower_t = hall_inverse(-z, skewness, terms)
    return estimate - upper_t * stderr, estimate - lower_t * stderr


def two_sided_p_value(
    t: float, *, skewness: float = 0.0, terms: float = math.inf, df: float = math.inf
) -> float:
    """Two-sided p-value of a studentised mean ``t`` under the null hypothesis.

    The statistic is first corrected for skewness with
    :func:`hall_transform`, then referred to the standard normal law
    (infinite ``df``) or to Student's t with ``df`` degrees of freedom. NaN
    gives NaN.

    Notes
    -----
    The p-value is :math:`2\\min(F(s), 1 - F(s))` with ``s`` the (corrected)
    statistic and ``F`` its reference law, so rejecting at level
    :math:`\\alpha` is exactly the complement of the level
    :math:`1 - \\alpha` interval of :func:`confidence_interval`.
    """
    if math.isnan(t):
        return math.nan
    s = hall_transform(t, skewness, terms)
    if not math.isinf(df):
        return float(2.0 * stats.t.sf(abs(s), df))
    return float(special.erfc(abs(s) / math.sqrt(2.0)))


def minimum_terms(skewness: float, level: float, limit: float = SKEW_TERM_LIMIT, df: float = math.inf) -> int:
    r"""Fewest terms for which the skewness-corrected test is calibrated at ``level``.

    Parameters
    ----------
    skewness : float
        Skewness :math:`\gamma` of one term (the log ratio's is at most
        :math:`\sqrt 8`, the value for a chi-square with one degree of freedom).
    level : float
        Two-sided level of the test (for a run, the per-case level of
        :func:`mcverify.power.per_case_level`); its critical value is
        :math:`x = \Phi^{-1}(1 - \text{level}/2)`.
    limit : float
        Largest tolerated first-order term, 2 by default.
    df : float
        Degrees of freedom of the reference law (``inf``: normal); the
        critical value ``x`` is then Student's.

    Returns
    -------
    int
        :math:`\lceil (|\gamma|(2x^2 + 1)x / (6\,\text{limit}))^2 \rceil`:
        the ``n`` at which the relative size
        :math:`\varepsilon_1 = |\gamma|(2x^2+1)x/(6\sqrt n)` of the
        :math:`n^{-1/2}` Edgeworth term in the tail :math:`P(|T| > x)` equals
        ``limit``.

    Notes
    -----
    Hall's transformation removes the :math:`n^{-1/2}` term; what is left is
    of order :math:`n^{-1}`, about :math:`\varepsilon_1^2` up to a constant.
    Measured for the worst case, :math:`\gamma = \sqrt 8`, with
    ``benchmarks/skewness_tails.py`` (ratio of the corrected statistic's
    two-sided tail rate to the normal one): 1.09 at :math:`\varepsilon_1 = 0.85`
    (n = 100, x = 2), 1.11 at 2.0 (n = 1000, x = 4), 1.34 at 2.7 (n = 100,
    x = 3), 1.69 at 2.8 (n = 1000, x = 4.5), 2.6 at 6.2 (n = 100, x = 4),
    against 1.40, 3.3, 4.7, 7.1 and 43 without the correction. Below this
    many terms the test's false-alarm rate at ``level`` may be off by more
    than a few tens of percent.
    """
    x = critical_value(1.0 - level, df)
    g = abs(skewness) if math.isfinite(skewness) else 0.0
    return max(2, math.ceil((g * (2.0 * x * x + 1.0) * x / (6.0 * limit)) ** 2))
