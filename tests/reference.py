"""High-precision reference values of the Gaussian KL divergence.

The functions here evaluate the textbook formula in :mod:`mpmath` at many
digits, treating every float input as the exact binary number it is.  They
are slow and obviously correct: the oracle against which the fast closed
form (:mod:`mcverify.numerics.closed_form`) is tested, not a replacement for it.

:mod:`mpmath` is an optional dependency (the ``test`` extra); it is imported
only when a reference value is asked for.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from mcverify.numerics.gaussian import Gaussian

if TYPE_CHECKING:  # pragma: no cover
    import mpmath

__all__ = ["kl_mpmath", "kl_mpmath_float"]

_MISSING_MPMATH = "mpmath is needed for the high-precision reference: pip install 'mcverify[test]'"


def _import_mpmath() -> Any:
    try:
        import mpmath
    except ImportError as exc:
        raise ImportError(_MISSING_MPMATH) from exc
    return mpmath


def kl_mpmath(p: Gaussian, q: Gaussian, dps: int = 80) -> mpmath.mpf:
    r"""KL(p || q) evaluated in mpmath at ``dps`` significant digits.

    Parameters
    ----------
    p, q : Gaussian
        Distributions of the same dimension; any mix of univariate, diagonal
        and full covariance.  Their numbers are used exactly as given
        (``std``, ``var`` or ``cov``), each float converted exactly.
    dps : int, default 80
        Decimal digits of working precision.

    Returns
    -------
    mpmath.mpf
        The divergence in nats, carrying about ``dps`` digits (fewer only
        when the inputs are extremely ill-conditioned).

    Raises
    ------
    ImportError
        If mpmath is not installed.
    ValueError
        If the dimensions differ or ``dps`` is not positive.

    Notes
    -----
    When both sides are univariate or diagonal, with variances
    :math:`v_{p,i}, v_{q,i}` (a standard deviation :math:`s` enters as
    :math:`s^2`, squared in mpmath) and :math:`\delta = \mu_p - \mu_q`,

    .. math::

        KL(p \| q) = \sum_{i=1}^d \left[ \tfrac12 \log\frac{v_{q,i}}{v_{p,i}}
            + \frac{v_{p,i} + \delta_i^2}{2 v_{q,i}} - \tfrac12 \right].

    Otherwise (either side full; a diagonal side becomes a diagonal matrix)

    .. math::

        KL(p \| q) = \tfrac12 \left[ \operatorname{tr}(\Sigma_q^{-1}\Sigma_p)
            + \delta^T \Sigma_q^{-1} \delta - d
            + \log\det\Sigma_q - \log\det\Sigma_p \right],

    computed with Cholesky factors :math:`\Sigma = L L^T`:
    :math:`\operatorname{tr}(\Sigma_q^{-1}\Sigma_p) = \|L_q^{-1} L_p\|_F^2`,
    :math:`\delta^T \Sigma_q^{-1} \delta = \|L_q^{-1}\delta\|^2` and
    :math:`\log\det\Sigma = 2 \sum_i \log L_{ii}`.

    Because the inputs are exact and the arithmetic carries ``dps`` digits,
    cancellation between the terms (p close to q) costs digits out of the
    working precision rather than out of the result: at the default 80
    digits a KL as small as 1e-30 still has about 50 correct digits.

    References
    ----------
    S. Kullback, *Information Theory and Statistics*, Wiley, 1959.
    F. Johansson et al., *mpmath: a Python library for arbitrary-precision
    floating-point arithmetic*, https://mpmath.org/.

    Examples
    --------
    >>> float(kl_mpmath(Gaussian(0.0, var=4.0), Gaussian(0.0, var=1.0)))  # (4 - 1 - ln 4)/2
    0.8068528194400547
    """
    mpmath = _import_mpmath()
    if p.dim != q.dim:
        raise ValueError(f"p has dimension {p.dim} but q has {q.dim}: dimensions must match")
    if int(dps) < 1:
        raise ValueError(f"dps must be a positive integer, got {dps!r}")
    mp = mpmath.mp
    with mp.workdps(int(dps)):
        if p.is_diagonal and q.is_diagonal:
            value = _kl_diagonal(mpmath, p, q)
        else:
            value = _kl_full(mpmath, p, q)
        return +value  # unary plus rounds to the working precision


def kl_mpmath_float(p: Gaussian, q: Gaussian, dps: int = 80) -> float:
    """KL(p || q) from :func:`kl_mpmath`, correctly rounded to a float.

    Parameters
    ----------
    p, q : Gaussian
        Distributions of the same dimension.
    dps : int, default 80
        Decimal digits of working precision.

    Returns
    -------
    float
        The nearest double to the high-precision value.

    Raises
    ------
    ImportError
        If mpmath is not installed.
    ValueError
        If the dimensions differ.
    """
    return float(kl_mpmath(p, q, dps=dps))


# --------------------------------------------------------------------- helpers
def _mp_vector(mpmath: Any, values: Any) -> list[Any]:
    """Exact mpf conversions of a 1-d float array."""
    mpf = mpmath.mpf
    return [mpf(float(v)) for v in values]


def _mp_variances(mpmath: Any, g: Gaussian) -> list[Any]:
    """Variances of a univariate/diagonal Gaussian, squared in mpmath if given as std."""
    if g.std is not None:
        return [s * s for s in _mp_vector(mpmath, g.std)]
    assert g.var is not None
    return _mp_vector(mpmath, g.var)


def _mp_cov(mpmath: Any, g: Gaussian) -> Any:
    """The covariance as an mpmath matrix, exact in the given representation."""
    d = g.dim
    if g.cov is not None:
        c = g.cov
        return mpmath.matrix([[mpmath.mpf(float(c[i, j])) for j in range(d)] for i in range(d)])
    m = mpmath.zeros(d, d)
    for i, v in enumerate(_mp_variances(mpmath, g)):
        m[i, i] = v
    return m


def _kl_diagonal(mpmath: Any, p: Gaussian, q: Gaussian) -> Any:
    vp = _mp_variances(mpmath, p)
    vq = _mp_variances(mpmath, q)
    mp_ = _mp_vector(mpmath, p.mean)
    mq = _mp_vector(mpmath, q.mean)
    log = mpmath.log
    half = mpmath.mpf(1) / 2
    terms = []
    for a, b, x, y in zip(vp, vq, mp_, mq):
        delta = x - y
        terms.append(half * log(b / a) + (a + delta * delta) / (2 * b) - half)
    return mpmath.fsum(terms)


def _forward_substitute(mpmath: Any, lower: Any, rhs: list[Any]) -> list[Any]:
    """Solve ``lower @ x = rhs`` for lower-triangular ``lower``."""
    n = len(rhs)
    x: list[Any] = [None] * n
    for i in range(n):
        acc = mpmath.fsum(lower[i, k] * x[k] for k in range(i))
        x[i] = (rhs[i] - acc) / lower[i, i]
    return x


def _cholesky(mpmath: Any, a: Any, name: str) -> Any:
    # mpmath's default tolerance is absolute (machine epsilon of the context),
    # which rejects covariances scaled by 1e-100; positivity is all we need.
    try:
        return mpmath.cholesky(a, tol=0)
    except (ValueError, ZeroDivisionError):
        raise ValueError(f"covariance of {name} is not positive definite") from None


def _kl_full(mpmath: Any, p: Gaussian, q: Gaussian) -> Any:
    d = p.dim
    sp = _mp_cov(mpmath, p)
    sq = _mp_cov(mpmath, q)
    lp = _cholesky(mpmath, sp, "p")
    lq = _cholesky(mpmath, sq, "q")
    # tr(Sq^-1 Sp) = ||Lq^-1 Lp||_F^2, one column of Lp at a time.
    squares = []
    for j in range(d):
        col = [lp[i, j] for i in range(d)]
        squares.extend(v * v for v in _forward_substitute(mpmath, lq, col))
    trace = mpmath.fsum(squares)
    delta = [a - b for a, b in zip(_mp_vector(mpmath, p.mean), _mp_vector(mpmath, q.mean))]
    maha = mpmath.fsum(v * v for v in _forward_substitute(mpmath, lq, delta))
    log = mpmath.log
    logdet_q = 2 * mpmath.fsum(log(lq[i, i]) for i in range(d))
    logdet_p = 2 * mpmath.fsum(log(lp[i, i]) for i in range(d))
    return (trace + maha - d + (logdet_q - logdet_p)) / 2
