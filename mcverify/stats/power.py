r"""Power: the smallest error a test of a sampled estimate would detect.

A pass from a Monte Carlo z-test proves only that the tested value is
within a few standard errors of the truth. These functions turn a standard
error into the size of error the test would have caught, so that a pass
says how much it proves: "had the formula been wrong by at least
``detectable_difference(...)`` nats, this check would have failed with
probability 0.8".

Public API, used by the run's table (``mc_detectable``) and meant for any
other check built on the same z-tests (such as the audit's Monte Carlo
evidence).
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import optimize, special

__all__ = ["DEFAULT_POWER", "detectable_difference", "detection_multiplier", "per_case_level"]

#: The conventional target power.
DEFAULT_POWER = 0.8
#: Below this, ``1 - p`` rounds to 1 (half the spacing of doubles below 1): tail quantiles are taken from ``p``.
_EPS_HALF = 2.0**-54


def per_case_level(alpha: float, cases: int, control: str = "holm") -> float:
    """The per-case significance level a run's error control applies to one wrong case.

    Parameters
    ----------
    alpha : float
        The run's level (family-wise for Holm, false discovery rate for BH).
    cases : int
        Number of cases tested together (``m``).
    control : {"holm", "bh", "none"}
        The multiplicity procedure of :func:`mcverify.stats.verdicts.adjust_p_values`.

    Returns
    -------
    float
        ``alpha / m`` for ``"holm"`` and ``"bh"``, ``alpha`` for ``"none"``.

    Notes
    -----
    When a single case among ``m`` is wrong and the others are right, both
    procedures reject it exactly when its p-value is at most ``alpha / m``
    (its p-value then ranks first: Holm compares it with ``alpha / m``, and
    BH rejects nothing unless the smallest p-value is at most ``alpha / m``,
    up to the chance that true cases also have tiny p-values). With several
    wrong cases the later steps are more lenient, so ``alpha / m`` is
    conservative: the error detectable at this level is an upper bound.
    """
    if cases < 1:
        raise ValueError(f"cases must be >= 1, got {cases!r}")
    if not 0.0 < alpha < 1.0:
        raise ValueError(f"alpha must be in (0, 1), got {alpha!r}")
    if control in ("holm", "bh"):
        return alpha / cases
    if control == "none":
        return alpha
    raise ValueError(f"unknown error control {control!r}: use 'holm', 'bh' or 'none'")


@lru_cache(maxsize=256)
def detection_multiplier(level: float, power: float = DEFAULT_POWER, df: float = math.inf) -> float:
    r"""Offset, in standard errors, that a two-sided test at ``level`` detects with ``power``.

    Parameters
    ----------
    level : float
        Two-sided significance level of the test, in (0, 1).
    power : float
        Target probability of rejection, in (level, 1).
    df : float
        ``inf`` for a z-test, else the degrees of freedom of a t-test.

    Returns
    -------
    float
        The :math:`\lambda` solving, for a z-test,
        :math:`\Phi(\lambda - z_c) + \Phi(-\lambda - z_c) = \text{power}`
        with :math:`z_c = \Phi^{-1}(1 - \text{level}/2)`, and for a t-test the
        same with the noncentral t law of noncentrality :math:`\lambda`
        and critical value :math:`t_{df, 1 - \text{level}/2}`. For a z-test it
        is close to the textbook :math:`z_{1-\text{level}/2} + z_{\text{power}}`
        (the far tail adds at most ``level / 2`` to the power).

    References
    ----------
    J. Cohen, *Statistical Power Analysis for the Behavioral Sciences*,
    2nd ed., 1988, ch. 2.
    """
    if not 0.0 < level < 1.0:
        raise ValueError(f"level must be in (0, 1), got {level!r}")
    if not level < power < 1.0:
        raise ValueError(f"power must be in (level, 1) = ({level:g}, 1), got {power!r}")
    if not df > 0:
        raise ValueError(f"df must be positive, got {df!r}")
    if math.isinf(df):
        # Phi^-1(1 - level/2), as -Phi^-1(level/2) where 1 - level/2 rounds to 1 (level < 2.2e-16).
        zc = float(special.ndtri(1.0 - level / 2.0)) if level / 2.0 > _EPS_HALF else -float(special.ndtri(level / 2.0))

        def achieved(lam: float) -> float:
            return float(special.ndtr(lam - zc) + special.ndtr(-lam - zc))

        start = zc + float(special.ndtri(power))
    else:
        from scipy import stats  # 0.5 s to import; only Student-t power needs it

        tc = (
            float(stats.t.ppf(1.0 - level / 2.0, df))
            if level / 2.0 > _EPS_HALF
            else float(stats.t.isf(level / 2.0, df))
        )

        def achieved(lam: float) -> float:
            # The far tail P(T' < -t_c) is below level / 2; scipy's nct returns
            # NaN for it at some noncentralities, where it is negligible.
            far = float(stats.nct.sf(tc, df, -lam))
            return float(stats.nct.sf(tc, df, lam)) + (far if math.isfinite(far) else 0.0)

        start = tc + float(special.ndtri(power))
    hi = max(start, 1.0)
    while achieved(hi) < power:
        hi *= 2.0
    return float(optimize.brentq(lambda lam: achieved(lam) - power, 0.0, hi, xtol=1e-12, rtol=1e-12))


def detectable_difference(
    stderr: ArrayLike,
    level: float,
    *,
    power: float = DEFAULT_POWER,
    df: float = math.inf,
) -> float | NDArray[np.float64]:
    r"""The smallest error in the tested value that a test would detect with ``power``.

    Parameters
    ----------
    stderr : float or array_like
        Standard error(s) of the estimate(s).
    level : float
        Two-sided significance level the test actually uses for one case
        (for a run, :func:`per_case_level`).
    power : float
        Target power, 0.8 by default.
    df : float
        ``inf`` for a z-test (plain and antithetic Monte Carlo), ``R - 1`` for
        the t-test of randomised quasi-Monte Carlo with ``R`` randomisations.

    Returns
    -------
    float or ndarray
        ``detection_multiplier(level, power, df) * stderr``: if the value
        being checked (a closed form, a user's formula) were off by this
        much or more, the test would reject with probability at least
        ``power``. A pass therefore shows the error is, with that
        confidence, below this bound.

    Notes
    -----
    Normal theory: the skewness correction of :mod:`mcverify.stats.intervals`
    moves the critical values by :math:`O(n^{-1/2})` standard errors, and
    the bound uses the estimated standard error in place of the true one.

    Examples
    --------
    >>> round(detectable_difference(0.01, 0.05), 5)  # (1.96 + 0.8416) * 0.01
    0.02802
    """
    lam = detection_multiplier(float(level), float(power), float(df))
    out = lam * np.asarray(stderr, dtype=np.float64)
    return float(out) if out.ndim == 0 else out
