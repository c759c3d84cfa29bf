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
from typing import Any

import numpy as np
from scipy import special

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


def _out(x: Any) -> Any:
    """A float for a 0-d result, the array otherwise."""
    x = np.asarray(x)
    return float(x) if x.ndim == 0 else x


def _coefficients(skewness: Any, terms: Any) -> tuple[Any, Any]:
    """``a = g / (3 sqrt n)`` and ``b = g / (6 sqrt n)``, 0 where ``g`` is not finite or ``n <= 0``."""
    g = np.asarray(skewness, dtype=np.float64)
    n = np.asarray(terms, dtype=np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        ok = np.isfinite(g) & (n > 0)
        root = np.sqrt(np.where(n > 0, n, 1.0))
        a = np.where(ok, g / (3.0 * root), 0.0)
        b = np.where(ok, g / (6.0 * root), 0.0)
    return a, b


def hall_transform(t: Any, skewness: Any, terms: Any) -> Any:
    r"""Hall's skewness-removing transformation :math:`g(T)` of a studentised mean.

    Parameters
    ----------
    t : float or array_like
        The studentised mean :math:`T = (\bar Y - \mu) / (S / \sqrt n)`.
    skewness : float or array_like
        Sample skewness :math:`\hat\gamma` of the averaged terms.
    terms : float or array_like
        Number ``n`` of independent terms averaged.

    Returns
    -------
    float or ndarray
        :math:`g(T) = T + aT^2 + a^2T^3/3 + b` (see the module notes), standard
        normal up to :math:`O(n^{-1})`; ``t`` itself where it is not finite.
    """
    t = np.asarray(t, dtype=np.float64)
    a, b = _coefficients(skewness, terms)
    with np.errstate(invalid="ignore", over="ignore"):
        at = a * t
        g = t * (1.0 + at + at * at / 3.0) + b
    return _out(np.where(np.isfinite(t), g, t))


def hall_inverse(x: Any, skewness: Any, terms: Any) -> Any:
    r"""The inverse of :func:`hall_transform` in ``t``: the ``T`` with :math:`g(T) = x`.

    Written as :math:`3(x - b) / (c^2 + c + 1)` with
    :math:`c = \sqrt[3]{1 + 3a(x - b)}`, which equals
    :math:`(c - 1)/a` without cancellation as :math:`a \to 0`.
    """
    a, b = _coefficients(skewness, terms)
    u = np.asarray(x, dtype=np.float64) - b
    c = np.cbrt(1.0 + 3.0 * a * u)
    return _out(3.0 * u / (c * c + c + 1.0))


def _upper_quantile(tail: float, df: float) -> float:
    """The normal (``df = inf``) or Student-t quantile with ``tail`` above it, accurate for tiny ``tail``."""
    if math.isinf(df):
        return -float(special.ndtri(tail))
    from scipy import stats  # 0.5 s to import; only Student-t intervals (randomised QMC) need it

    return float(stats.t.isf(tail, df))


def critical_value(confidence: float, df: float = math.inf) -> float:
    """Two-sided critical value: the normal or Student-t quantile at ``(1 + confidence) / 2``."""
    level = 0.5 + confidence / 2.0
    if level == 1.0:  # confidence within 1.1e-16 of 1: from the upper tail (1 - confidence) / 2, exact
        return _upper_quantile((1.0 - confidence) / 2.0, df)
    if math.isinf(df):
        return float(special.ndtri(level))
    from scipy import stats  # 0.5 s to import; only Student-t intervals (randomised QMC) need it

    return float(stats.t.ppf(level, df))


def confidence_interval(
    estimate: Any,
    stderr: Any,
    confidence: float,
    *,
    skewness: Any = 0.0,
    terms: Any = math.inf,
    df: float = math.inf,
) -> tuple[Any, Any]:
    """Two-sided confidence interval for a mean (floats, or arrays of many means).

    Parameters
    ----------
    estimate, stderr : float or array_like
        Sample mean and its standard error :math:`S/\\sqrt n`.
    confidence : float
        Level, in (0, 1).
    skewness : float or array_like
        Sample skewness of the averaged terms; 0 gives the normal-theory interval.
    terms : float or array_like
        Number of independent terms averaged (``n``).
    df : float
        Degrees of freedom of the reference law: ``inf`` for the normal,
        finite for Student's t.

    Returns
    -------
    (float, float) or (ndarray, ndarray)
        Hall's skewness-corrected interval (module notes) with normal or
        Student-t critical values; ``estimate -+ z * stderr`` when
        ``skewness`` is 0.
    """
    z = critical_value(confidence, df)
    estimate = np.asarray(estimate, dtype=np.float64)
    stderr = np.asarray(stderr, dtype=np.float64)
    upper_t = hall_inverse(z, skewness, terms)
    lower_t = hall_inverse(-z, skewness, terms)
    return _out(estimate - upper_t * stderr), _out(estimate - lower_t * stderr)


def two_sided_p_value(t: Any, *, skewness: Any = 0.0, terms: Any = math.inf, df: float = math.inf) -> Any:
    """Two-sided p-value of a studentised mean ``t`` under the null hypothesis (floats or arrays).

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
    s = np.abs(np.asarray(hall_transform(t, skewness, terms), dtype=np.float64))
    if not math.isinf(df):
        from scipy import stats  # 0.5 s to import; only Student-t tests (randomised QMC) need it

        return _out(2.0 * stats.t.sf(s, df))
    return _out(special.erfc(s / math.sqrt(2.0)))


def minimum_terms(skewness: Any, level: float, limit: float = SKEW_TERM_LIMIT, df: float = math.inf) -> Any:
    r"""Fewest terms for which the skewness-corrected test is calibrated at ``level``.

    Parameters
    ----------
    skewness : float
        Skewness :math:`\gamma` of one term (the log ratio's is at most
        :math:`\sqrt 8`, the value for a chi-square with one degree of freedom).
    level : float
        Two-sided level of the test (for a run, the per-case level of
        :func:`mcverify.stats.power.per_case_level`); its critical value is
        :math:`x = \Phi^{-1}(1 - \text{level}/2)`.
    limit : float
        Largest tolerated first-order term, 2 by default.
    df : float
        Degrees of freedom of the reference law (``inf``: normal); the
        critical value ``x`` is then Student's.

    Returns
    -------
    int or ndarray of int
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
    # 1 - level rounds to 1 below level 1.1e-16: the quantile then comes from the tail level / 2.
    x = critical_value(1.0 - level, df) if 1.0 - level < 1.0 else _upper_quantile(level / 2.0, df)
    g = np.asarray(skewness, dtype=np.float64)
    g = np.where(np.isfinite(g), np.abs(g), 0.0)
    n = np.maximum(2.0, np.ceil((g * (2.0 * x * x + 1.0) * x / (6.0 * limit)) ** 2))
    return int(n) if n.ndim == 0 else n.astype(np.int64)
