"""What the quadratures share: their result, their tolerances and the scale ratio of diagonal pairs.

Private to :mod:`mcverify.quadrature`: :mod:`~mcverify.quadrature.integration`
(one pair with :func:`scipy.integrate.quad`) and
:mod:`~mcverify.quadrature.univariate_batch` (many univariate pairs on fixed
panels) import it, so that both judge reliability by one rule.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

import numpy as np
from numpy.typing import NDArray

from mcverify.errors import QuadratureError
from mcverify.numerics.gaussian import Gaussian
from mcverify.numerics.stable import two_square

QuadratureMethod = Literal["reduced", "direct"]

_EPS = float(np.finfo(np.float64).eps)
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)
_LOG_SQRT_2PI = 0.5 * math.log(2.0 * math.pi)

#: Half-width of the integration range in ``t`` for the reduced method.  The
#: N(0, 1) density underflows to exactly 0 for ``|t| > 38.6``, so nothing of
#: ``p`` lies beyond 40 in binary64.
_HALF_WIDTH = 40.0
#: Inner breakpoint: ``[-40, -8], [-8, 0], [0, 8], [8, 40]``.  The two core
#: pieces hold all but ``2e-15`` of p's mass and are integrated first; the
#: tails then get an absolute budget relative to the core.
_CORE = 8.0
#: Half-width of the box of the direct method.  Outside ``|t_i| <= 12`` p has
#: mass below ``d * erfc(12/sqrt 2) = d * 3.6e-33``; the neglected part is
#: bounded by Cauchy-Schwarz (see :func:`_direct`) and added to the error.
_DIRECT_HALF_WIDTH = 12.0
#: Subinterval limit handed to quad (its default, 50, is tight for the
#: 1e-10 tolerances used here on the long tail pieces).
_LIMIT = 200
#: Absolute floor of the trust test ``error <= rtol * |value| + floor``.
#: Our integrands are products with the N(0, 1) density and their values are
#: binary64 numbers: below the normal range (2.2e-308) they are subnormal and
#: carry fewer than 53 bits, so no relative accuracy can be certified for a
#: divergence that small, and one below 1e-300 is 0 for every practical
#: purpose.  The floor is deliberately *not* tied to the integrand's
#: magnitude ``int |f|``: that would accept a value destroyed by cancellation,
#: which is precisely what the test must catch.
_ABS_FLOOR = 1e-300
#: ``e**a - 1 - a`` is summed as a series below this ``|a|`` (see
#: :func:`_expm1_minus`): first omitted term ``0.7**19 / 19! < 1e-19`` of the
#: sum; above it the direct form loses at most a factor 10 to cancellation.
_SERIES_LIMIT = 0.7
#: Taylor coefficients ``1/k!``, ``k = 2..18``, of ``(e**a - 1 - a)``, highest first.
_SERIES = tuple(1.0 / math.factorial(k) for k in range(18, 1, -1))
#: The non-negative integrand is used when ``p`` and ``q`` are close in the
#: sense ``1/2 <= s_p/s_q <= 2`` and ``|m_p - m_q| <= s_q`` (see
#: :func:`_kl_1d`); elsewhere the plain form loses at most a factor ~4.
_CLOSE_RATIO = (0.5, 2.0)
_CLOSE_SHIFT = 1.0
#: Full covariances up to this dimension get a refined Cholesky factor
#: (:func:`_factor`) and the Jacobi SVD (:func:`_svd`); both are O(d^3) with
#: large constants (~0.7 s per call at d = 256, ~3 s for the SVD at 1000).
#: Above it, LAPACK's plain factor and SVD, and error bounds to match.
_REFINE_MAX_DIM = 256
#: Gauss-Hermite nodes per dimension for the direct method's a-priori
#: magnitudes (exact for polynomials of degree < 2 * 24 in t).
_HERMITE_NODES = 24


@dataclass(frozen=True)
class QuadratureResult:
    """Outcome of :func:`quadrature_kl`.

    Attributes
    ----------
    value : float
        The estimate of KL(p || q) in nats.
    error : float
        Absolute error estimate: quad's own estimates, summed over the
        one-dimensional pieces (``math.fsum``), plus, where the inputs pass
        through linear algebra (a full covariance, or ``method="direct"``),
        first-order bounds on the rounding of the Cholesky factors, the SVD
        and the log-density difference, and the direct method's truncated
        box.  For two diagonal Gaussians with ``method="reduced"`` it is
        quad's estimate alone.
    method : str
        ``"reduced"`` or ``"direct"``.
    evaluations : int
        Integrand evaluations in total.
    reliable : bool
        False when quad warned, or ``error > rtol * |value| + 1e-300``, or the
        value is not finite.
    message : str
        Empty, or why the value cannot be trusted.
    """

    value: float
    error: float
    method: str
    evaluations: int
    reliable: bool
    message: str

    def as_dict(self) -> dict[str, Any]:
        """The fields as a plain dict, one row of a results table."""
        return asdict(self)


@dataclass
class _Tally:
    """Accumulates values, errors, evaluation counts and warnings of quad calls."""

    values: list[float] = field(default_factory=list)
    errors: list[float] = field(default_factory=list)
    evaluations: int = 0
    #: (where, what) of every quad warning
    problems: list[tuple[str, str]] = field(default_factory=list)

    def add(self, value: float, error: float, evaluations: int, problem: tuple[str, str] | None = None) -> None:
        self.values.append(value)
        self.errors.append(error)
        self.evaluations += evaluations
        if problem:
            self.problems.append(problem)


def _verdict(tally: _Tally, method: str, rtol: float, strict: bool) -> QuadratureResult:
    value = math.fsum(tally.values)
    error = math.fsum(tally.errors)
    problems: list[str] = []
    if not (math.isfinite(value) and math.isfinite(error)):
        problems.append(f"value {value!r} or error {error!r} is not finite (overflow)")
    elif error > rtol * abs(value) + _ABS_FLOOR:
        problems.append(
            f"error estimate {error:.3g} exceeds rtol*|value| + {_ABS_FLOOR:g} "
            f"= {rtol * abs(value) + _ABS_FLOOR:.3g} (value {value:.6g}, rtol {rtol:g})"
        )
    if tally.problems:
        where, what = tally.problems[0]
        n = len(tally.problems)
        pieces = "1 piece" if n == 1 else f"{n} pieces"
        problems.append(f"quad warned on {pieces} (first {where}): {what}")
    message = "; ".join(problems)
    if message and strict:
        raise QuadratureError(f"quadrature KL ({method}) not reliable: {message}")
    return QuadratureResult(
        value=value,
        error=error,
        method=method,
        evaluations=tally.evaluations,
        reliable=not message,
        message=message,
    )


def _piece_rtol(rtol: float) -> float:
    """Relative tolerance asked of each quad call.

    A fraction of ``rtol``, because the pieces of one integral may partly
    cancel (by at most a factor ~4 in the plain form), but no less than
    ``64 eps``: quad's error estimate never drops below ``50 eps int |f|``,
    and asking for less only buys roundoff warnings.
    """
    return max(rtol / 8.0, 64.0 * _EPS)


def _log_ratio(r: NDArray[np.float64], rm1: NDArray[np.float64], fallback: NDArray[np.float64]) -> NDArray[np.float64]:
    """``log r``: ``log1p(r - 1)`` near 1, ``fallback`` where ``r`` under/overflowed."""
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        out = np.where(np.abs(rm1) < 0.5, np.log1p(np.where(rm1 > -1.0, rm1, 0.0)), np.log(np.where(r > 0.0, r, 1.0)))
    bad = ~(np.isfinite(r) & (r >= np.finfo(np.float64).tiny))
    return np.where(bad, fallback, out)


def _scale_ratio(p: Gaussian, q: Gaussian) -> tuple[NDArray[np.float64], ...]:
    """Per-coordinate ``r = s_p/s_q``, ``r - 1`` and ``log r`` for diagonal pairs.

    ``r - 1`` keeps full relative accuracy when ``r`` is near 1: from the
    difference of the standard deviations when both were given, otherwise
    from the variance difference ``w - 1 = (v_p - v_q)/v_q`` (squares of
    given standard deviations taken exactly as double-doubles) and
    ``r - 1 = (w - 1)/(1 + sqrt(w))``.  Scales are first multiplied by the
    power of two that brings ``s_q`` near 1 (exact), so no square of a raw
    scale under- or overflows.
    """
    sp, sq = p.stddevs, q.stddevs
    with np.errstate(over="ignore", under="ignore", divide="ignore", invalid="ignore"):
        log_fallback = np.log(sp) - np.log(sq)
        r = sp / sq
        if p.std is not None and q.std is not None:
            rm1 = (sp - sq) / sq
            return r, rm1, _log_ratio(r, rm1, log_fallback)
        # Scale both by the power of two that brings s_q near 1: exact, and
        # it keeps the squares and their Dekker low parts in the normal range.
        e = np.frexp(sq)[1]
        if p.var is not None:
            ah, al = np.ldexp(p.var, -2 * e), np.zeros_like(p.var)
        else:
            ah, al = two_square(np.ldexp(sp, -e))
        if q.var is not None:
            bh, bl = np.ldexp(q.var, -2 * e), np.zeros_like(q.var)
        else:
            bh, bl = two_square(np.ldexp(sq, -e))
        wm1 = ((ah - bh) + (al - bl)) / bh  # s_p^2/s_q^2 - 1
        ok = np.isfinite(wm1) & (np.abs(wm1) < 0.5)
        near = wm1 / (1.0 + np.sqrt(1.0 + np.where(ok, wm1, 0.0)))
        rm1 = np.where(ok, near, r - 1.0)
        r = np.where(ok, 1.0 + rm1, r)
    return r, rm1, _log_ratio(r, rm1, log_fallback)
