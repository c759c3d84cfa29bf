"""The Gaussian specification shared by every method.

A :class:`Gaussian` holds a mean and exactly one covariance structure, kept
in the form the user gave it (standard deviations, variances or a full
covariance matrix), so that the closed form can work with the exact input
numbers.  It is validated on construction and immutable afterwards.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Literal, cast

import numpy as np
from numpy.typing import ArrayLike, NDArray

__all__ = ["Gaussian"]

Kind = Literal["univariate", "diagonal", "full"]
Scale = Literal["std", "var", "cov"]

#: Largest tolerated asymmetry of a covariance matrix, relative to its
#: largest entry: a few rounding errors of a product such as ``A @ A.T``.
_SYMMETRY_RTOL = 1e-12


def _as_float_array(value: Any, what: str) -> NDArray[np.float64]:
    try:
        arr = np.array(value, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{what} must be a number or an array of numbers, got {value!r}") from exc
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{what} must be finite, got {_show(arr)}")
    return arr


def _show(arr: NDArray[np.float64]) -> str:
    return np.array2string(np.asarray(arr), threshold=8, precision=6)


def _frozen(arr: NDArray[np.float64]) -> NDArray[np.float64]:
    arr = np.ascontiguousarray(arr, dtype=np.float64)
    arr.setflags(write=False)
    return arr


@dataclass(frozen=True, eq=False, repr=False)
class Gaussian:
    """A univariate, diagonal or full-covariance Gaussian distribution.

    Parameters
    ----------
    mean : float or array_like
        The mean: a scalar for a univariate Gaussian or a vector of length
        ``d``.  A scalar mean is broadcast to the dimension of a vector scale.
    std : float or array_like, optional
        Standard deviation(s): a scalar (univariate, or isotropic when the
        mean is a vector) or a vector (diagonal covariance).
    var : float or array_like, optional
        Variance(s), shaped like ``std``.
    cov : array_like, optional
        A symmetric positive definite ``d x d`` covariance matrix. Exactly
        one of ``std``, ``var`` and ``cov`` must be given.

    Raises
    ------
    ValueError
        If a value is not finite, a scale is not positive, the covariance is
        not symmetric positive definite (the message gives its smallest
        eigenvalue) or the dimensions do not match.

    Examples
    --------
    >>> Gaussian(0.0, std=2.0).kind
    'univariate'
    >>> Gaussian([0.0, 1.0], var=[1.0, 4.0]).dim
    2
    >>> Gaussian([0.0, 0.0], cov=[[1.0, 0.5], [0.5, 2.0]]).kind
    'full'
    """

    mean: NDArray[np.float64]
    std: NDArray[np.float64] | None = None
    var: NDArray[np.float64] | None = None
    cov: NDArray[np.float64] | None = None
    kind: Kind = field(init=False)

    def __init__(
        self,
        mean: ArrayLike,
        std: ArrayLike | None = None,
        var: ArrayLike | None = None,
        cov: ArrayLike | None = None,
    ) -> None:
        given = [name for name, v in (("std", std), ("var", var), ("cov", cov)) if v is not None]
        if len(given) != 1:
            raise ValueError(
                "give exactly one of std, var or cov" + (f" (got {', '.join(given)})" if given else " (got none)")
            )
        m = _as_float_array(mean, "mean")
        if m.ndim > 1:
            raise ValueError(f"mean must be a scalar or a vector, got shape {m.shape}")
        if m.ndim == 1 and m.size == 0:
            raise ValueError("mean must not be empty")
        set_ = object.__setattr__
        if cov is not None:
            c = _validated_cov(cov, m)
            d = c.shape[0]
            if m.ndim == 0:
                m = np.full(d, float(m))
            set_(self, "cov", _frozen(c))
            set_(self, "kind", "full")
        else:
            name = given[0]
            s = _as_float_array(std if std is not None else var, name)
            if s.ndim > 1:
                raise ValueError(f"{name} must be a scalar or a vector, got shape {s.shape}")
            if s.ndim == 1 and s.size == 0:
                raise ValueError(f"{name} must not be empty")
            if np.any(s <= 0):
                bad = np.flatnonzero(np.atleast_1d(s) <= 0)
                where = "" if s.ndim == 0 else f" at index {int(bad[0])}"
                raise ValueError(f"{name} must be positive, got {float(np.atleast_1d(s)[bad[0]])!r}{where}")
            if m.ndim == 1 and s.ndim == 1 and m.size != s.size:
                raise ValueError(f"mean has {m.size} entries but {name} has {s.size}: dimensions must match")
            univariate = m.ndim == 0 and s.ndim == 0
            d = max(m.size, s.size)
            m = np.broadcast_to(m, (d,)).copy()
            s = np.broadcast_to(s, (d,)).copy()
            set_(self, name, _frozen(s))
            set_(self, "kind", "univariate" if univariate else "diagonal")
        set_(self, "mean", _frozen(np.atleast_1d(m)))

    # ------------------------------------------------------------------ shape
    @property
    def dim(self) -> int:
        """Dimension ``d`` of the distribution."""
        return int(self.mean.shape[0])

    @property
    def scale_name(self) -> Scale:
        """Which scale parameter was given: ``"std"``, ``"var"`` or ``"cov"``."""
        if self.cov is not None:
            return "cov"
        return "std" if self.std is not None else "var"

    @property
    def is_diagonal(self) -> bool:
        """True for univariate and diagonal Gaussians."""
        return self.kind != "full"

    # ------------------------------------------------------- derived scales
    @cached_property
    def stddevs(self) -> NDArray[np.float64]:
        """Marginal standard deviations, shape ``(d,)``."""
        if self.std is not None:
            return self.std
        return _frozen(np.sqrt(self.variances))

    @cached_property
    def variances(self) -> NDArray[np.float64]:
        """Marginal variances, shape ``(d,)``."""
        if self.var is not None:
            return self.var
        if self.std is not None:
            return _frozen(self.std * self.std)
        assert self.cov is not None
        return _frozen(np.diag(self.cov).copy())

    @cached_property
    def covariance(self) -> NDArray[np.float64]:
        """The covariance as a dense ``d x d`` matrix."""
        if self.cov is not None:
            return self.cov
        return _frozen(np.diag(self.variances))

    @cached_property
    def cholesky(self) -> NDArray[np.float64]:
        """Lower Cholesky factor ``L`` of the covariance, ``L @ L.T = cov``."""
        if self.cov is None:
            return _frozen(np.diag(self.stddevs))
        # numpy's stubs type cholesky's result as floating[Any]; it is float64 for float64 input.
        return _frozen(cast("NDArray[np.float64]", np.linalg.cholesky(self.cov)))

    @cached_property
    def log_det(self) -> float:
        """Natural logarithm of the covariance determinant."""
        if self.std is not None:
            return float(2.0 * np.sum(np.log(self.std)))
        if self.var is not None:
            return float(np.sum(np.log(self.var)))
        return float(2.0 * np.sum(np.log(np.diag(self.cholesky))))

    # --------------------------------------------------------- conversions
    def as_full(self) -> Gaussian:
        """The same distribution with its covariance given as a full matrix."""
        if self.cov is not None:
            return self
        return Gaussian(self.mean, cov=self.covariance)

    def to_dict(self) -> dict[str, Any]:
        """The parameters as given, as plain Python numbers and lists."""
        scalar = self.kind == "univariate"
        out: dict[str, Any] = {"mean": float(self.mean[0]) if scalar else self.mean.tolist()}
        value = {"std": self.std, "var": self.var, "cov": self.cov}[self.scale_name]
        assert value is not None
        out[self.scale_name] = float(value[0]) if scalar else value.tolist()
        return out

    def __repr__(self) -> str:
        parts = ", ".join(f"{k}={v!r}" for k, v in self.to_dict().items())
        if len(parts) > 120:
            parts = f"dim={self.dim}, {self.scale_name}=..."
        return f"Gaussian({parts})"

    def __reduce__(self) -> tuple[Any, ...]:
        args = {"std": self.std, "var": self.var, "cov": self.cov}
        mean: Any = self.mean[0] if self.kind == "univariate" else self.mean
        scale = args[self.scale_name]
        assert scale is not None
        if self.kind == "univariate":
            scale = scale[0]
        return (_rebuild, (mean, self.scale_name, scale))


def _rebuild(mean: Any, name: str, scale: Any) -> Gaussian:
    return Gaussian(mean, **{name: scale})


def _validated_cov(cov: ArrayLike, mean: NDArray[np.float64]) -> NDArray[np.float64]:
    c = _as_float_array(cov, "cov")
    if c.ndim == 0 or (c.ndim == 1 and c.size == 1):
        c = c.reshape(1, 1)
    if c.ndim != 2 or c.shape[0] != c.shape[1]:
        raise ValueError(f"cov must be a square matrix, got shape {c.shape}")
    d = c.shape[0]
    if mean.ndim == 1 and mean.size != d:
        raise ValueError(f"mean has {mean.size} entries but cov is {d}x{d}: dimensions must match")
    scale = float(np.max(np.abs(c)))
    asym = float(np.max(np.abs(c - c.T)))
    if asym > _SYMMETRY_RTOL * scale:
        i, j = np.unravel_index(int(np.argmax(np.abs(c - c.T))), c.shape)
        raise ValueError(
            f"cov must be symmetric: cov[{i},{j}] = {float(c[i, j])!r} but cov[{j},{i}] = {float(c[j, i])!r}"
        )
    c = 0.5 * (c + c.T)
    if np.any(np.diag(c) <= 0):
        k = int(np.flatnonzero(np.diag(c) <= 0)[0])
        raise ValueError(f"cov must be positive definite: diagonal entry cov[{k},{k}] = {float(c[k, k])!r}")
    try:
        np.linalg.cholesky(c)
    except np.linalg.LinAlgError:
        eig = np.linalg.eigvalsh(c)
        raise ValueError(
            f"cov must be positive definite: smallest eigenvalue {eig[0]:.6g} (largest {eig[-1]:.6g})"
        ) from None
    return c
