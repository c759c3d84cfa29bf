"""Many Gaussians of one kind, stacked along a leading batch axis.

A :class:`GaussianBatch` holds ``n`` univariate, diagonal or full-covariance
Gaussians as arrays whose first axis is the batch, validated as
:class:`~mcverify.numerics.gaussian.Gaussian` validates one distribution,
with errors that name the offending batch index.  Entry ``i``
(``batch[i]``) is the :class:`Gaussian` built from row ``i`` of the
arrays, bit for bit the parameters the batched functions use.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, cast

import numpy as np
from numpy.typing import ArrayLike, NDArray

from mcverify.numerics.gaussian import _SYMMETRY_RTOL, Gaussian, Kind, Scale, _frozen, _show

__all__ = ["GaussianBatch", "as_batches"]


def _as_array(value: Any, what: str) -> NDArray[np.float64]:
    try:
        arr = np.array(value, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{what} must be an array of numbers, got {value!r}") from exc
    bad = ~np.isfinite(arr)
    if bad.any():
        i = int(np.argwhere(bad)[0][0]) if arr.ndim else 0
        raise ValueError(f"{what} must be finite, got {_show(arr[i] if arr.ndim else arr)} at batch index {i}")
    return arr


@dataclass(frozen=True, eq=False, repr=False)
class GaussianBatch:
    """``n`` Gaussians of one kind; the leading axis of every array is the batch.

    Parameters
    ----------
    mean : array_like
        Shape ``(n,)`` for univariate Gaussians, ``(n, d)`` otherwise.
    std, var : array_like, optional
        Standard deviations or variances, shaped like ``mean``: ``(n,)``
        gives ``n`` univariate Gaussians, ``(n, d)`` diagonal ones.
    cov : array_like, optional
        Covariance matrices, shape ``(n, d, d)``, each symmetric positive
        definite; ``mean`` is then ``(n, d)``.

    Exactly one of ``std``, ``var`` and ``cov`` must be given.

    Raises
    ------
    ValueError
        As :class:`~mcverify.numerics.gaussian.Gaussian` does, naming the
        batch index of the first offending entry.

    Examples
    --------
    >>> b = GaussianBatch([0.0, 1.0, 2.0], std=[1.0, 2.0, 3.0])
    >>> len(b), b.kind, b.dim
    (3, 'univariate', 1)
    >>> b[1]
    Gaussian(mean=1.0, std=2.0)
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
        m = _as_array(mean, "mean")
        if m.ndim not in (1, 2) or m.shape[0] == 0 or (m.ndim == 2 and m.shape[1] == 0):
            raise ValueError(f"mean must have shape (n,) or (n, d) with n, d >= 1, got shape {m.shape}")
        set_ = object.__setattr__
        name = given[0]
        if cov is not None:
            if m.ndim != 2:
                raise ValueError(f"with cov, mean must have shape (n, d), got shape {m.shape}")
            c = _validated_covs(_as_array(cov, "cov"), m.shape)
            set_(self, "cov", _frozen(c))
            set_(self, "kind", "full")
        else:
            s = _as_array(std if std is not None else var, name)
            if s.shape != m.shape:
                raise ValueError(f"{name} must have the shape of mean {m.shape}, got shape {s.shape}")
            bad = s <= 0
            if bad.any():
                where = tuple(int(k) for k in np.argwhere(bad)[0])
                raise ValueError(f"{name} must be positive, got {float(s[where])!r} at batch index {where[0]}")
            set_(self, name, _frozen(s))
            set_(self, "kind", "univariate" if m.ndim == 1 else "diagonal")
        set_(self, "mean", _frozen(m))

    # ------------------------------------------------------------------ shape
    def __len__(self) -> int:
        return int(self.mean.shape[0])

    @property
    def dim(self) -> int:
        """Dimension ``d`` of every distribution (1 for univariate batches)."""
        return 1 if self.mean.ndim == 1 else int(self.mean.shape[1])

    @property
    def scale_name(self) -> Scale:
        """Which scale parameter was given: ``"std"``, ``"var"`` or ``"cov"``."""
        if self.cov is not None:
            return "cov"
        return "std" if self.std is not None else "var"

    @property
    def is_diagonal(self) -> bool:
        """True for univariate and diagonal batches."""
        return self.kind != "full"

    @property
    def scale(self) -> NDArray[np.float64]:
        """The scale parameter as given (``std``, ``var`` or ``cov``)."""
        return cast("NDArray[np.float64]", {"std": self.std, "var": self.var, "cov": self.cov}[self.scale_name])

    # ------------------------------------------------------------- entries
    def __getitem__(self, i: int) -> Gaussian:
        """Entry ``i`` as a :class:`~mcverify.numerics.gaussian.Gaussian`."""
        n = len(self)
        if not -n <= i < n:
            raise IndexError(f"batch index {i} out of range for a batch of {n}")
        if self.kind == "univariate":
            return Gaussian(float(self.mean[i]), **{self.scale_name: float(self.scale[i])})
        return Gaussian(self.mean[i], **{self.scale_name: self.scale[i]})

    @classmethod
    def repeat(cls, g: Gaussian, n: int) -> GaussianBatch:
        """``n`` copies of ``g``: the batch a single Gaussian broadcasts to."""
        scale = {"std": g.std, "var": g.var, "cov": g.cov}[g.scale_name]
        assert scale is not None
        if g.kind == "univariate":
            return cls(np.full(n, g.mean[0]), **{g.scale_name: np.full(n, scale[0])})
        reps = (n,) + (1,) * scale.ndim
        return cls(np.tile(g.mean, (n, 1)), **{g.scale_name: np.tile(scale, reps)})

    def __repr__(self) -> str:
        return f"GaussianBatch(n={len(self)}, kind={self.kind!r}, dim={self.dim}, scale={self.scale_name!r})"


def _validated_covs(c: NDArray[np.float64], mean_shape: tuple[int, ...]) -> NDArray[np.float64]:
    n, d = mean_shape
    if c.shape != (n, d, d):
        raise ValueError(f"cov must have shape (n, d, d) = {(n, d, d)} for mean of shape {mean_shape}, got {c.shape}")
    scale = np.max(np.abs(c), axis=(1, 2))
    gap = np.abs(c - np.swapaxes(c, 1, 2))
    asym = np.max(gap, axis=(1, 2))
    bad = np.flatnonzero(asym > _SYMMETRY_RTOL * scale)
    if bad.size:
        b = int(bad[0])
        i, j = np.unravel_index(int(np.argmax(gap[b])), (d, d))
        raise ValueError(
            f"cov must be symmetric: cov[{i},{j}] = {float(c[b, i, j])!r} but cov[{j},{i}] = "
            f"{float(c[b, j, i])!r} at batch index {b}"
        )
    c = 0.5 * (c + np.swapaxes(c, 1, 2))
    diag = np.diagonal(c, axis1=1, axis2=2)
    nonpos = np.argwhere(diag <= 0)
    if nonpos.size:
        b, k = (int(v) for v in nonpos[0])
        raise ValueError(
            f"cov must be positive definite: diagonal entry cov[{k},{k}] = {float(c[b, k, k])!r} at batch index {b}"
        )
    try:
        np.linalg.cholesky(c)
    except np.linalg.LinAlgError:
        for b in range(n):
            try:
                np.linalg.cholesky(c[b])
            except np.linalg.LinAlgError:
                eig = np.linalg.eigvalsh(c[b])
                raise ValueError(
                    f"cov must be positive definite: smallest eigenvalue {eig[0]:.6g} (largest {eig[-1]:.6g})"
                    f" at batch index {b}"
                ) from None
    return c


def as_batches(p: Gaussian | GaussianBatch, q: Gaussian | GaussianBatch) -> tuple[GaussianBatch, GaussianBatch]:
    """Two batches of one length: a single Gaussian is repeated to the other's length.

    Raises
    ------
    ValueError
        If the dimensions or the batch lengths differ.
    """
    if p.dim != q.dim:
        raise ValueError(f"p has dimension {p.dim} but q has dimension {q.dim}: they must match")
    if isinstance(p, GaussianBatch) and isinstance(q, GaussianBatch):
        if len(p) != len(q):
            raise ValueError(f"p holds {len(p)} Gaussians but q holds {len(q)}: batch lengths must match")
        return p, q
    if isinstance(p, GaussianBatch):
        assert isinstance(q, Gaussian)
        return p, GaussianBatch.repeat(q, len(p))
    if isinstance(q, GaussianBatch):
        return GaussianBatch.repeat(p, len(q)), q
    raise TypeError("as_batches needs at least one GaussianBatch")
