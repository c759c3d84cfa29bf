"""What an audit can be asked for, by name, and its defaults: defined once, with no numpy.

The calling conventions (:data:`CONVENTIONS`, what a candidate receives and
returns) and the distribution-object conventions (:data:`OBJECT_CONVENTIONS`),
the array backends (:data:`BACKENDS`), the training dtypes (:data:`DTYPES`) and
the defaults of :func:`mcverify.auditing.auditor.audit` (evidence draws, root
seed, per-call timeout). Standard library only: ``mcverify audit --help``
states these choices and defaults without importing the audit's machinery.
The modules that use them (:mod:`~mcverify.auditing.conventions`,
:mod:`~mcverify.auditing.distributions`, :mod:`~mcverify.auditing.backends`,
:mod:`~mcverify.auditing.autodiff`, :mod:`~mcverify.auditing.report`,
:mod:`~mcverify.auditing.sandbox`) import them from here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

__all__ = [
    "BACKENDS",
    "BATCH_TIMEOUTS",
    "CONVENTIONS",
    "DEFAULT_SAMPLES",
    "DEFAULT_SEED",
    "DEFAULT_TIMEOUT",
    "DTYPES",
    "OBJECT_CONVENTIONS",
    "SCALES",
    "Convention",
    "Kind",
    "ObjectConvention",
]

#: Names accepted by :func:`mcverify.auditing.backends.get_backend`.
BACKENDS = ("numpy", "torch", "jax", "tensorflow")
#: Training dtypes an audit can hand the candidate, widest first.
DTYPES = ("float64", "float32", "bfloat16", "float16")
#: Monte Carlo draws per evidence point.
DEFAULT_SAMPLES = 100_000
#: Root seed of the evidence; each point draws from
#: ``SeedSequence(seed, spawn_key=(probe index,))``.
DEFAULT_SEED = 20240607
#: Default per-call timeout of an audit, in seconds.
DEFAULT_TIMEOUT = 10.0
#: Per-call timeouts a batched call (several probes at once) may take: it does the work of
#: many calls, and JAX compiles it anew for each batch shape (a numpyro MultivariateNormal
#: batch took over 2 s on a loaded 2-core machine where one probe took milliseconds).
BATCH_TIMEOUTS = 3

Family = Literal["pair", "prior", "diag-pair", "diag-prior", "mvn"]
ScaleName = Literal["std", "var", "logvar", "logstd", "cov"]

SCALES: tuple[ScaleName, ...] = ("std", "var", "logvar", "logstd")


@dataclass(frozen=True)
class Convention:
    """One calling convention.

    Attributes
    ----------
    name : str
        The registry name, e.g. ``"diag-prior-logvar"``.
    family : {"pair", "prior", "diag-pair", "diag-prior", "mvn"}
        ``pair``: univariate p and q; ``prior``: univariate p against
        N(0, 1); ``diag-*``: the same over a last axis of dimensions, summed;
        ``mvn``: full covariances.
    scale : {"std", "var", "logvar", "logstd", "cov"}
        How the candidate receives the spread of each distribution.
    """

    name: str
    family: Family
    scale: ScaleName

    @property
    def has_q(self) -> bool:
        """True when the candidate receives q's parameters too."""
        return self.family in ("pair", "diag-pair", "mvn")

    @property
    def vector(self) -> bool:
        """True when parameters carry a last axis of dimensions."""
        return self.family in ("diag-pair", "diag-prior", "mvn")

    @property
    def univariate(self) -> bool:
        return self.family in ("pair", "prior")

    @property
    def log_scale(self) -> bool:
        return self.scale in ("logvar", "logstd")

    @property
    def params(self) -> tuple[str, ...]:
        """Argument names in calling order, as used in reports and ``--expr``."""
        if self.has_q:
            return ("mean_p", f"{self.scale}_p", "mean_q", f"{self.scale}_q")
        return ("mean", self.scale)

    @property
    def signature(self) -> str:
        """``f(mean, std) -> KL(N(mean, std^2) || N(0, 1))`` and the like."""
        args = ", ".join(self.params)
        if self.family == "mvn":
            return f"f({args}) -> KL(N(mean_p, cov_p) || N(mean_q, cov_q)), last axes (d,) and (d, d)"

        def spread(sfx: str) -> str:
            return {
                "std": f"std{sfx}^2",
                "var": f"var{sfx}",
                "logvar": f"exp(logvar{sfx})",
                "logstd": f"exp(2 logstd{sfx})",
            }[self.scale]

        if self.has_q:
            body = f"KL(N(mean_p, {spread('_p')}) || N(mean_q, {spread('_q')}))"
        else:
            body = f"KL(N(mean, {spread('')}) || N(0, 1))"
        if self.vector:
            body += ", summed over the last axis"
        return f"f({args}) -> {body}"


def _build() -> dict[str, Convention]:
    out: dict[str, Convention] = {}
    family: Family
    for family in ("pair", "prior"):
        for scale in SCALES:
            out[f"{family}-{scale}"] = Convention(f"{family}-{scale}", family, scale)
    for family in ("diag-pair", "diag-prior"):
        for scale in SCALES:
            out[f"{family}-{scale}"] = Convention(f"{family}-{scale}", family, scale)
    out["mvn"] = Convention("mvn", "mvn", "cov")
    return out


#: Every supported convention by name.
CONVENTIONS: dict[str, Convention] = _build()


KindName = Literal["univariate", "diagonal", "full"]


@dataclass(frozen=True)
class Kind:
    """One kind of distribution object and the numeric convention whose probes it uses.

    Attributes
    ----------
    name : {"univariate", "diagonal", "full"}
    convention : str
        ``pair-std``, ``diag-pair-std``, ``mvn``, ``prior-std`` or ``diag-prior-std``.
    whiten : bool
        True for the full kind of ``dist-prior``: each ``mvn`` probe (p, q) is
        handed over as p mapped by the affine map that takes q to N(0, I).
    """

    name: KindName
    convention: str
    whiten: bool = False


@dataclass(frozen=True)
class ObjectConvention:
    """A convention whose candidate receives distribution objects.

    Attributes
    ----------
    name : {"dist-pair", "dist-prior"}
    has_q : bool
        True when the candidate receives q too.
    kinds : tuple of Kind
    """

    name: str
    has_q: bool
    kinds: tuple[Kind, ...]

    @property
    def params(self) -> tuple[str, ...]:
        return ("p", "q") if self.has_q else ("p",)

    @property
    def signature(self) -> str:
        if self.has_q:
            return "f(p, q) -> KL(p || q), p and q the backend's distribution objects"
        return "f(p) -> KL(p || N(0, I)), p the backend's distribution object"


#: The distribution-object conventions by name.
OBJECT_CONVENTIONS: dict[str, ObjectConvention] = {
    "dist-pair": ObjectConvention(
        "dist-pair",
        True,
        (Kind("univariate", "pair-std"), Kind("diagonal", "diag-pair-std"), Kind("full", "mvn")),
    ),
    "dist-prior": ObjectConvention(
        "dist-prior",
        False,
        (Kind("univariate", "prior-std"), Kind("diagonal", "diag-prior-std"), Kind("full", "mvn", whiten=True)),
    ),
}
