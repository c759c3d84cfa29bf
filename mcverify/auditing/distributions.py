"""Distribution-object conventions: hand the candidate the backend's own distribution objects.

``dist-pair`` audits ``f(p, q) -> KL(p || q)`` and ``dist-prior`` audits
``f(p) -> KL(p || N(0, I))``, where p and q are distribution objects of the
backend's library:

============  =======================  ==================================  ==============================
backend       univariate               diagonal                            full
============  =======================  ==================================  ==============================
numpy         ``scipy.stats.norm``     ``scipy.stats.multivariate_normal``  ``scipy.stats.multivariate_normal``
torch         ``Normal``               ``Independent(Normal, 1)``          ``MultivariateNormal``
jax           numpyro ``Normal``       ``Normal(...).to_event(1)``         numpyro ``MultivariateNormal``
tensorflow    TFP ``Normal``           TFP ``MultivariateNormalDiag``      TFP ``MultivariateNormalTriL``
============  =======================  ==================================  ==============================

Each *kind* (univariate, diagonal, full) is probed with the probe set of a
numeric convention (``pair-std``, ``diag-pair-std``, ``mvn``; for
``dist-prior`` ``prior-std``, ``diag-prior-std`` and the ``mvn`` probes whitened
by q), whose arguments become objects just before each call: batched where
the library has batch shapes, one probe at a time (scipy's
``multivariate_normal``) otherwise. A kind on which every call raises
(``NotImplementedError``: "no KL registered" in torch, numpyro and TFP) is
*unsupported*: information about the candidate, not a failure.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray
from scipy.linalg import solve_triangular

from mcverify.auditing.backends import Backend, BackendUnavailable, quiet_native_logs
from mcverify.auditing.registry import OBJECT_CONVENTIONS, Kind, ObjectConvention

__all__ = [
    "OBJECT_CONVENTIONS",
    "Adapted",
    "Kind",
    "ObjectConvention",
    "adapt",
    "describe_kinds",
    "get_object_convention",
    "is_object_convention",
]


def is_object_convention(name: object) -> bool:
    """True for ``"dist-pair"``, ``"dist-prior"`` and :class:`ObjectConvention` instances."""
    return isinstance(name, ObjectConvention) or (isinstance(name, str) and name in OBJECT_CONVENTIONS)


def get_object_convention(name: str | ObjectConvention) -> ObjectConvention:
    """Look a distribution-object convention up by name; ``ValueError`` names the valid ones."""
    if isinstance(name, ObjectConvention):
        return name
    try:
        return OBJECT_CONVENTIONS[name]
    except KeyError:
        raise ValueError(f"unknown convention {name!r}: choose from {', '.join(OBJECT_CONVENTIONS)}") from None


# ----------------------------------------------------------- object builders
@dataclass(frozen=True)
class _Library:
    """Builds one library's distribution objects from the backend's arrays.

    ``univariate(mean, std)``, ``diagonal(mean, std)`` (std over the last
    axis) and ``full(mean, cov)``; ``batched_full`` is False when the library
    has no batch shapes for vector distributions (scipy), so that a batch is
    handed over one probe at a time.
    """

    name: str
    univariate: Callable[[Any, Any], Any]
    diagonal: Callable[[Any, Any], Any]
    full: Callable[[Any, Any], Any]
    names: dict[str, str] = field(default_factory=dict)
    batched_vectors: bool = True


def _scipy() -> _Library:
    import scipy.stats as st

    def diagonal(mean: Any, std: Any) -> Any:
        # A Covariance object: scipy's eigenvalue test would refuse variances 1e-8 and 1e8 side by side.
        return st.multivariate_normal(mean, cov=st.Covariance.from_diagonal(np.asarray(std) ** 2))

    def full(mean: Any, cov: Any) -> Any:
        return st.multivariate_normal(mean, cov=cov)

    names = {
        "univariate": "scipy.stats.norm",
        "diagonal": "scipy.stats.multivariate_normal with a diagonal Covariance",
        "full": "scipy.stats.multivariate_normal",
    }
    return _Library("scipy.stats", st.norm, diagonal, full, names, batched_vectors=False)


def _torch() -> _Library:
    from torch.distributions import Independent, MultivariateNormal, Normal

    names = {
        "univariate": "torch.distributions.Normal",
        "diagonal": "torch.distributions.Independent(Normal, 1)",
        "full": "torch.distributions.MultivariateNormal",
    }
    return _Library(
        "torch.distributions",
        Normal,
        lambda m, s: Independent(Normal(m, s), 1),
        lambda m, c: MultivariateNormal(m, covariance_matrix=c),
        names,
    )


def _numpyro() -> _Library:
    try:
        import numpyro.distributions as nd
    except ImportError:
        raise BackendUnavailable(
            "distribution objects for the jax backend need NumPyro: pip install 'mcverify[numpyro]'"
        ) from None
    names = {
        "univariate": "numpyro.distributions.Normal",
        "diagonal": "numpyro.distributions.Normal(...).to_event(1) (an Independent)",
        "full": "numpyro.distributions.MultivariateNormal",
    }
    return _Library(
        "numpyro.distributions",
        nd.Normal,
        lambda m, s: nd.Normal(m, s).to_event(1),
        lambda m, c: nd.MultivariateNormal(m, covariance_matrix=c),
        names,
    )


def _tfp() -> _Library:
    try:
        with quiet_native_logs():
            import tensorflow as tf
            import tensorflow_probability as tfp
    except ImportError:
        raise BackendUnavailable(
            "distribution objects for the tensorflow backend need TensorFlow Probability: "
            "pip install 'mcverify[tensorflow]'"
        ) from None
    tfd = tfp.distributions
    names = {
        "univariate": "tfp.distributions.Normal",
        "diagonal": "tfp.distributions.MultivariateNormalDiag",
        "full": "tfp.distributions.MultivariateNormalTriL",
    }
    return _Library(
        "tensorflow_probability.distributions",
        tfd.Normal,
        lambda m, s: tfd.MultivariateNormalDiag(m, scale_diag=s),
        lambda m, c: tfd.MultivariateNormalTriL(m, scale_tril=tf.linalg.cholesky(c)),
        names,
    )


_LIBRARIES: dict[str, Callable[[], _Library]] = {
    "numpy": _scipy,
    "torch": _torch,
    "jax": _numpyro,
    "tensorflow": _tfp,
}


def _library(backend: str) -> _Library:
    try:
        return _LIBRARIES[backend]()
    except KeyError:
        raise ValueError(f"no distribution objects for backend {backend!r}") from None


def describe_kinds(convention: ObjectConvention, backend: str) -> dict[str, str]:
    """Kind -> what the candidate receives and on which probes, for the report's notes.

    ``{"univariate": "torch.distributions.Normal (pair-std probes)", ...}``.
    """
    lib = _library(backend)
    out: dict[str, str] = {}
    for kind in convention.kinds:
        probes = f"{kind.convention} probes"
        if kind.whiten:
            probes += ", p mapped by the affine map that takes q to N(0, I), which leaves KL(p || q) unchanged"
        out[kind.name] = f"{lib.names[kind.name]} ({probes})"
    return out


# ------------------------------------------------------------------ adapting
def whiten(
    mean_p: NDArray[np.float64], cov_p: NDArray[np.float64], mean_q: NDArray[np.float64], cov_q: NDArray[np.float64]
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    r"""p mapped by the affine map that takes q to N(0, I): mean and covariance.

    With :math:`L L^T = \Sigma_q` (Cholesky), :math:`x \mapsto L^{-1}(x - \mu_q)`
    maps q to N(0, I) and p to :math:`N(L^{-1}(\mu_p - \mu_q), L^{-1} \Sigma_p L^{-T})`.
    KL divergence is invariant under invertible maps, so
    :math:`KL(p \| q) = KL(N(L^{-1}(\mu_p - \mu_q), L^{-1} \Sigma_p L^{-T}) \| N(0, I))`.
    Works on a leading batch axis too. Exact (no rounding) when q = N(0, I).
    """
    mp, cp, mq, cq = (np.asarray(a, dtype=np.float64) for a in (mean_p, cov_p, mean_q, cov_q))
    if mp.ndim == 2:
        pairs = [whiten(mp[i], cp[i], mq[i], cq[i]) for i in range(mp.shape[0])]
        return np.stack([m for m, _ in pairs]), np.stack([c for _, c in pairs])
    lower = np.linalg.cholesky(cq)
    mean = solve_triangular(lower, mp - mq, lower=True)
    half = solve_triangular(lower, cp, lower=True)  # L^-1 S_p
    cov = solve_triangular(lower, half.T, lower=True)  # L^-1 (L^-1 S_p)^T = L^-1 S_p L^-T
    return mean, 0.5 * (cov + cov.T)


@dataclass(eq=False)
class Adapted:
    """The candidate behind a numeric convention's signature, with a record of what it raised.

    Call it as the kind's numeric convention calls a candidate (with the
    backend's arrays); it builds the objects and calls the candidate.
    ``calls`` and ``raised`` count the candidate's calls and those that raised;
    ``first_error`` is the first exception, as ``"Type: message"``.
    """

    func: Callable[..., Any]
    kind: Kind
    has_q: bool
    backend: Backend
    library: _Library
    calls: int = 0
    raised: int = 0
    first_error: str = ""

    @property
    def unsupported(self) -> bool:
        """True when every call raised: the candidate does not handle this kind of object."""
        return self.calls > 0 and self.raised == self.calls

    def __call__(self, *args: Any) -> Any:
        kind = self.kind.name
        if kind == "full" and self.kind.whiten:
            mean, cov = whiten(*(self.backend.to_numpy(a) for a in args))
            args = (self.backend.to_native(mean), self.backend.to_native(cov))
        build = getattr(self.library, kind)
        if kind != "univariate" and not self.library.batched_vectors and np.ndim(args[0]) == 2:
            return np.asarray([self._call(build, [a[i] for a in args]) for i in range(np.shape(args[0])[0])])
        return self._call(build, list(args))

    def _call(self, build: Callable[[Any, Any], Any], args: list[Any]) -> Any:
        objects = [build(args[0], args[1])]
        if self.has_q:
            objects.append(build(args[2], args[3]))
        self.calls += 1
        try:
            out = self.func(*objects)
        except Exception as exc:
            self.raised += 1
            if not self.first_error:
                text = str(exc).strip().splitlines()
                first = text[0][:160] if text else ""
                self.first_error = f"{type(exc).__name__}: {first}" if first else type(exc).__name__
            raise
        if not self.library.batched_vectors:  # one probe at a time: convert now, so that the stack is numbers
            return self.backend.to_numpy(out)
        return out


def adapt(func: Callable[..., Any], convention: ObjectConvention, kind: Kind, backend: Backend) -> Adapted:
    """``func`` (over distribution objects) as a candidate of ``kind.convention``.

    Raises
    ------
    BackendUnavailable
        When the backend's distribution library is not installed.
    """
    return Adapted(func, kind, convention.has_q, backend, _library(backend.name))
