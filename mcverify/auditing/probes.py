"""Deterministic probe pairs (p, q) for auditing a KL function.

Each convention family gets a fixed set of probes that covers typical values
and hard but valid ones: scales from 1e-4 to 1e4, and out to 1e-9 and 1e9
along the scale sweeps (log-variances to +-41.4, beyond the clamps training
code puts on them), scales within 1e-8 of 1, large mean gaps, p = q exactly,
d > 1 for diagonal and full covariance, and ill-conditioned covariances
(condition number 1e8). Diagonal families use two dimensions only (1 and 4),
so that a candidate compiled per array shape (JAX) compiles few programs. Parameters are stored in
the user's own parameterisation (``logvar`` for a ``*-logvar`` convention),
rounded to 12 significant digits (6 for log scales, 4 for pseudo-random
values) so that tables are readable; the distributions audited are exactly
those these numbers describe.

Some probes lie on *sweeps*: lines along which one user parameter varies
while the others stay fixed. The audit describes failing regions along them
and can place new probes on them (to locate a zero crossing, say).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import cache
from typing import Any, Literal

import numpy as np
from numpy.typing import NDArray

from mcverify.auditing.conventions import Convention, get_convention, log_var, std_to_scale, to_var
from mcverify.formatting import exact_or_more, significant
from mcverify.numerics.closed_form import kl_divergence
from mcverify.numerics.gaussian import Gaussian
from mcverify.numerics.stable import expm1_minus

__all__ = ["Probe", "ProbeSet", "ProbeSweep", "make_probe", "probe_set", "true_kl"]

Fill = Literal["scalar", "vector", "identity"]

#: Standard deviations of the main scale sweep: 1e-4 to 1e4, dense near the
#: classic trouble spots (0.37, where s^2 - 1 = log10 s^2) and near 1.
STD_SWEEP = (
    1e-4,
    1e-3,
    0.01,
    0.05,
    0.1,
    0.2,
    0.3,
    0.4,
    0.5,
    0.6,
    0.7,
    0.8,
    0.9,
    0.99,
    0.9999,
    1 - 1e-6,
    1 - 1e-8,
    1.0,
    1 + 1e-8,
    1 + 1e-6,
    1.0001,
    1.01,
    1.1,
    1.25,
    1.5,
    2.0,
    3.0,
    5.0,
    10.0,
    100.0,
    1e3,
    1e4,
)
#: A shorter scale sweep for vector families and for q's scale.
STD_SWEEP_SHORT = (
    1e-4,
    0.01,
    0.1,
    0.3,
    0.5,
    0.7,
    0.9,
    0.9999,
    1 - 1e-8,
    1.0,
    1 + 1e-8,
    1.0001,
    1.1,
    1.5,
    2.0,
    5.0,
    100.0,
    1e4,
)
#: Standard deviations added at the ends of every scale sweep: log-variances
#: -41.4, -27.6, 27.6 and 41.4, beyond the clamps of training code
#: (``clamp(logvar, -30, 20)``). Added after the other probes, so that the
#: indices of those stay as they were.
WIDE_STDS = (1e-9, 1e-6, 1e6, 1e9)
MEAN_SWEEP = (-1e3, -100.0, -10.0, -3.0, -1.0, -0.5, -0.01, -1e-6, 0.0, 1e-6, 0.01, 0.5, 1.0, 3.0, 10.0, 100.0, 1e3)
MEAN_SWEEP_SHORT = (-100.0, -1.0, -0.01, 0.0, 0.01, 0.5, 1.0, 3.0, 100.0)
#: Root seed of the pseudo-random "typical" probes (fixed: probes never change).
PROBE_SEED = 20240521


def nice(x: float, digits: int = 12) -> float:
    """``x`` rounded to 12 (or ``digits``) significant digits: short to print, exact to use."""
    return float(f"{x:.{digits}g}")


def short(x: Any) -> Any:
    """Pseudo-random parameters rounded to 4 significant digits, for readable reports."""
    a = np.asarray(x, dtype=np.float64)
    vals = [nice(float(v), 4) for v in a.ravel()]
    return vals[0] if a.ndim == 0 else np.array(vals).reshape(a.shape)


@dataclass(frozen=True, eq=False)
class Probe:
    """One pair (p, q) in the user's parameterisation and in natural form.

    Attributes
    ----------
    index : int
        Position in the probe set.
    group : str
        The kind of probe: ``"p = q"``, ``"scale sweep"``, ``"typical"``...
    params : dict
        Argument name -> value as the candidate receives it (float for
        univariate conventions, arrays otherwise).
    d : int
        Dimension.
    same : bool
        True when p and q are the same distribution (KL = 0 exactly).
    sweeps : tuple of (str, float)
        ProbeSweep keys this probe lies on, with its coordinate on each.
    mean_p, mean_q : ndarray, shape (d,)
    var_p, var_q, logvar_p, logvar_q : ndarray, shape (d,), or None
        Variances and their exact natural logs (diagonal families).
    cov_p, cov_q : ndarray, shape (d, d), or None
        Covariances (``mvn``).
    """

    index: int
    group: str
    params: dict[str, Any]
    d: int
    same: bool
    mean_p: NDArray[np.float64]
    mean_q: NDArray[np.float64]
    var_p: NDArray[np.float64] | None = None
    var_q: NDArray[np.float64] | None = None
    logvar_p: NDArray[np.float64] | None = None
    logvar_q: NDArray[np.float64] | None = None
    cov_p: NDArray[np.float64] | None = None
    cov_q: NDArray[np.float64] | None = None
    sweeps: tuple[tuple[str, float], ...] = ()

    def args(self) -> tuple[NDArray[np.float64], ...]:
        """The candidate's arguments in calling order, as float64 arrays."""
        return tuple(np.asarray(v, dtype=np.float64) for v in self.params.values())

    def gaussians(self) -> tuple[Gaussian, Gaussian]:
        """p and q as :class:`~mcverify.Gaussian` objects."""
        if self.cov_p is not None:
            return Gaussian(self.mean_p, cov=self.cov_p), Gaussian(self.mean_q, cov=self.cov_q)
        assert self.var_p is not None and self.var_q is not None
        if self.d == 1 and np.ndim(next(iter(self.params.values()))) == 0:
            return (
                Gaussian(float(self.mean_p[0]), var=float(self.var_p[0])),
                Gaussian(float(self.mean_q[0]), var=float(self.var_q[0])),
            )
        return Gaussian(self.mean_p, var=self.var_p), Gaussian(self.mean_q, var=self.var_q)

    def label(self) -> str:
        """``"mean = 0, std = 0.6"``: the parameters as a user reads them."""
        return ", ".join(f"{k} = {show_value(v)}" for k, v in self.params.items())

    def plain_params(self) -> dict[str, Any]:
        """The parameters as plain Python floats and (nested) lists."""
        return {k: (float(v) if np.ndim(v) == 0 else np.asarray(v).tolist()) for k, v in self.params.items()}


def show_number(x: float) -> str:
    """6 significant digits, or 12 when a probe value (a round number) needs them (``1.00000001``)."""
    return exact_or_more(x) if nice(x) == x else significant(x)


def show_value(v: Any) -> str:
    """A compact text form of a parameter value."""
    a = np.asarray(v, dtype=np.float64)
    if a.ndim == 0:
        return show_number(float(a))
    if a.ndim == 1:
        if a.size > 1 and np.all(a == a[0]):
            return f"{show_number(float(a[0]))} (every dim)"
        return "[" + ", ".join(f"{x:.4g}" for x in a[:8]) + (", ..." if a.size > 8 else "") + "]"
    d = a.shape[0]
    off = a - np.diag(np.diag(a))
    if not np.any(off):
        diag = np.diag(a)
        if np.all(diag == diag[0]):
            return f"{show_number(float(diag[0]))} * I{d}"
        return "diag(" + show_value(diag) + ")"
    if d <= 2:
        return "[" + ", ".join(show_value(row) for row in a) + "]"
    w = np.linalg.eigvalsh(a)
    return f"{d}x{d} matrix (eigenvalues {w[0]:.3g} to {w[-1]:.3g})"


@dataclass(frozen=True)
class ProbeSweep:
    """A line in parameter space: one argument varies, the others are fixed.

    Attributes
    ----------
    key : str
        Identifier, unique within a probe set.
    axis : str
        The argument that varies (``"std"``, ``"logvar_p"``, ``"cov_p"``).
    fill : {"scalar", "vector", "identity"}
        How a coordinate ``x`` becomes the argument: ``x`` itself, ``x`` in
        every dimension, or ``x`` times the identity matrix.
    fixed : dict
        The other arguments.
    d : int
        Dimension.
    group : str
        Group name of the probes on it.
    """

    key: str
    axis: str
    fill: Fill
    fixed: dict[str, Any]
    d: int
    group: str

    def value(self, x: float) -> Any:
        if self.fill == "scalar":
            return float(x)
        if self.fill == "vector":
            return np.full(self.d, float(x))
        return float(x) * np.eye(self.d)

    @property
    def axis_label(self) -> str:
        """``"std"``, ``"std_p (every dim)"`` or ``"cov_p = x * I"``."""
        if self.fill == "scalar":
            return self.axis
        if self.fill == "vector":
            return f"{self.axis} (every dim)"
        return f"{self.axis} = x * I{self.d}, x"

    @property
    def where(self) -> str:
        """The fixed arguments, as text: ``"mean = 0"``."""
        return ", ".join(f"{k} = {show_value(v)}" for k, v in self.fixed.items())


@dataclass(frozen=True)
class ProbeSet:
    """The probes of one convention, with the sweeps they lie on."""

    convention: Convention
    probes: tuple[Probe, ...]
    sweeps: dict[str, ProbeSweep] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.probes)

    def batches(self) -> list[list[int]]:
        """Probe indices grouped by dimension, so each group stacks into arrays."""
        by_d: dict[int, list[int]] = {}
        for pr in self.probes:
            by_d.setdefault(pr.d, []).append(pr.index)
        return [by_d[d] for d in sorted(by_d)]

    def on_sweep(self, key: str) -> list[tuple[float, Probe]]:
        """The probes on a sweep, sorted by coordinate."""
        out = [(c, pr) for pr in self.probes for k, c in pr.sweeps if k == key]
        return sorted(out, key=lambda t: t[0])


# ---------------------------------------------------------------- building
def make_probe(
    convention: Convention | str,
    params: dict[str, Any],
    *,
    index: int = -1,
    group: str = "",
    sweeps: tuple[tuple[str, float], ...] = (),
) -> Probe:
    """A probe from the candidate's arguments (by name) in ``convention``.

    For conventions without q (``prior-*``, ``diag-prior-*``) q is the
    standard normal. Raises ``ValueError`` for invalid parameters.
    """
    conv = get_convention(convention)
    names = conv.params
    if set(params) != set(names):
        raise ValueError(f"{conv.name} takes {', '.join(names)}; got {', '.join(params)}")
    ordered = {k: params[k] for k in names}
    if conv.univariate:
        ordered = {k: float(v) for k, v in ordered.items()}
    else:
        ordered = {k: np.asarray(v, dtype=np.float64) for k, v in ordered.items()}
    mean_p = np.atleast_1d(np.asarray(ordered[names[0]], dtype=np.float64))
    d = int(mean_p.shape[0])
    if conv.has_q:
        sp, mean_q_raw, sq = ordered[names[1]], ordered[names[2]], ordered[names[3]]
        mean_q = np.atleast_1d(np.asarray(mean_q_raw, dtype=np.float64))
    else:
        sp = ordered[names[1]]
        mean_q = np.zeros(d)
        sq = np.zeros(d) if conv.log_scale else np.ones(d)
    if conv.family == "mvn":
        cov_p = np.asarray(sp, dtype=np.float64)
        cov_q = np.asarray(sq, dtype=np.float64)
        Gaussian(mean_p, cov=cov_p), Gaussian(mean_q, cov=cov_q)  # validates
        same = bool(np.array_equal(mean_p, mean_q) and np.array_equal(cov_p, cov_q))
        return Probe(index, group, ordered, d, same, mean_p, mean_q, cov_p=cov_p, cov_q=cov_q, sweeps=sweeps)
    sp = np.atleast_1d(np.asarray(sp, dtype=np.float64))
    sq = np.broadcast_to(np.atleast_1d(np.asarray(sq, dtype=np.float64)), sp.shape).copy()
    scales_ok: bool | np.bool_ = np.all(np.isfinite(sp)) and np.all(np.isfinite(sq))
    if conv.scale in ("std", "var"):
        scales_ok = scales_ok and bool(np.all(sp > 0) and np.all(sq > 0))
    if not scales_ok or not (np.all(np.isfinite(mean_p)) and np.all(np.isfinite(mean_q))):
        raise ValueError(f"invalid parameters for {conv.name}: {params}")
    var_p, var_q = to_var(conv.scale, sp), to_var(conv.scale, sq)
    if not (np.all(np.isfinite(var_p)) and np.all(var_p > 0) and np.all(np.isfinite(var_q)) and np.all(var_q > 0)):
        raise ValueError(f"invalid scale in probe {params}")
    same = bool(np.array_equal(mean_p, mean_q) and np.array_equal(sp, sq))
    return Probe(
        index,
        group,
        ordered,
        d,
        same,
        mean_p,
        mean_q,
        var_p=var_p,
        var_q=var_q,
        logvar_p=log_var(conv.scale, sp),
        logvar_q=log_var(conv.scale, sq),
        sweeps=sweeps,
    )


def true_kl(probe: Probe, convention: Convention | str) -> float:
    """KL(p || q) of the distributions the probe's numbers describe.

    Standard deviations, variances and covariances go to
    :func:`mcverify.kl_divergence` unchanged. For log-scale parameters the
    variance ratio is never formed: with ``a = logvar_p - logvar_q`` (an
    exact two-term sum), each coordinate contributes
    ``(exp(a) - 1 - a) / 2 + (mean_p - mean_q)^2 exp(-logvar_q) / 2``, the
    first term by :func:`mcverify.numerics.stable.expm1_minus`, so the value keeps
    full relative accuracy near p = q as the closed form does.
    """
    conv = get_convention(convention)
    if probe.cov_p is not None:
        return kl_divergence(*probe.gaussians())
    if conv.scale in ("std", "var"):
        names = conv.params
        sp = probe.params[names[1]]
        sq = probe.params[names[3]] if conv.has_q else (1.0 if conv.univariate else np.ones(probe.d))
        mq = probe.params[names[2]] if conv.has_q else (0.0 if conv.univariate else np.zeros(probe.d))
        p = Gaussian(probe.params[names[0]], **{conv.scale: sp})
        q = Gaussian(mq, **{conv.scale: sq})
        return kl_divergence(p, q)
    assert probe.logvar_p is not None and probe.logvar_q is not None
    hi = probe.logvar_p - probe.logvar_q
    bb = hi - probe.logvar_p
    lo = (probe.logvar_p - (hi - bb)) + (-probe.logvar_q - bb)
    with np.errstate(over="ignore"):
        h = expm1_minus(hi) + np.expm1(hi) * lo
        delta = probe.mean_p - probe.mean_q
        t2 = delta * delta * np.exp(-probe.logvar_q)
    return math.fsum((0.5 * np.concatenate([h, t2])).tolist())


# ------------------------------------------------------------ probe sets
class _Builder:
    def __init__(self, conv: Convention) -> None:
        self.conv = conv
        self.entries: list[dict[str, Any]] = []
        self.sweeps: dict[str, ProbeSweep] = {}

    def scale(self, std: Any, brief: bool = False) -> Any:
        """The user's scale parameter(s) for standard deviation(s) ``std``.

        ``brief=True`` (sweeps, typical values) keeps 6 digits of a log scale,
        enough for 1 + 1e-8 (logvar 2e-08); probes near p = q at other scales
        keep 12.
        """
        s = np.asarray(std, dtype=np.float64)
        digits = 6 if brief and self.conv.log_scale else 12
        vals = [nice(std_to_scale(self.conv.scale, float(x)), digits) for x in s.ravel()]
        return vals[0] if s.ndim == 0 else np.array(vals).reshape(s.shape)

    def add(self, group: str, params: dict[str, Any], sweep: tuple[str, float] | None = None) -> None:
        key = _key(params)
        for e in self.entries:
            if e["key"] == key:
                if sweep is not None:
                    e["sweeps"].append(sweep)
                return
        self.entries.append({"key": key, "group": group, "params": params, "sweeps": [sweep] if sweep else []})

    def sweep(self, key: str, axis: str, fill: Fill, fixed: dict[str, Any], d: int, group: str, coords: Any) -> None:
        sw = ProbeSweep(key, axis, fill, fixed, d, group)
        self.sweeps[key] = sw
        for x in coords:
            params = dict(fixed)
            params[axis] = sw.value(x)
            self.add(group, params, (key, float(x)))

    def build(self) -> ProbeSet:
        probes = []
        for i, e in enumerate(self.entries):
            probes.append(make_probe(self.conv, e["params"], index=i, group=e["group"], sweeps=tuple(e["sweeps"])))
        return ProbeSet(self.conv, tuple(probes), self.sweeps)


def _key(params: dict[str, Any]) -> tuple[Any, ...]:
    return tuple((k, np.asarray(v, dtype=np.float64).tobytes()) for k, v in sorted(params.items()))


@cache
def probe_set(convention: Convention | str) -> ProbeSet:
    """The fixed probe set of a convention (cached; identical on every call)."""
    conv = get_convention(convention)
    b = _Builder(conv)
    rng = np.random.default_rng(PROBE_SEED)
    if conv.family == "prior":
        _prior(b, rng)
    elif conv.family == "pair":
        _pair(b, rng)
    elif conv.family == "diag-prior":
        _diag_prior(b, rng)
    elif conv.family == "diag-pair":
        _diag_pair(b, rng)
    else:
        _mvn(b, rng)
    return b.build()


def _prior(b: _Builder, rng: np.random.Generator) -> None:
    s = b.conv.scale
    b.add("p = q", {"mean": 0.0, s: b.scale(1.0)})
    b.sweep("scale", s, "scalar", {"mean": 0.0}, 1, "scale sweep", [b.scale(x, True) for x in STD_SWEEP])
    b.sweep("mean", "mean", "scalar", {s: b.scale(1.0)}, 1, "mean sweep", MEAN_SWEEP)
    for m in (-3.0, 0.5, 2.0, 50.0):
        for sd in (1e-3, 0.2, 0.9, 1.1, 4.0, 300.0):
            b.add("grid", {"mean": m, s: b.scale(sd, True)})
    for _ in range(12):
        b.add("typical", {"mean": short(rng.normal(0, 2)), s: b.scale(short(math.exp(rng.uniform(-3, 3))), True)})
    _wide(b, "scale")


def _pair(b: _Builder, rng: np.random.Generator) -> None:
    s = b.conv.scale
    sp, sq = f"{s}_p", f"{s}_q"

    def add(group: str, mp: float, stdp: float, mq: float, stdq: float) -> None:
        brief = group in ("typical", "grid")
        b.add(group, {"mean_p": mp, sp: b.scale(stdp, brief), "mean_q": mq, sq: b.scale(stdq, brief)})

    for m, sd in ((0.0, 1.0), (1.5, 0.3), (-2.0, 1e-4), (0.0, 1e4), (1e3, 5.0), (0.25, 1 + 1e-8)):
        add("p = q", m, sd, m, sd)
    one = b.scale(1.0)
    b.sweep(
        "scale_p",
        sp,
        "scalar",
        {"mean_p": 0.0, "mean_q": 0.0, sq: one},
        1,
        "scale sweep (p)",
        [b.scale(x, True) for x in STD_SWEEP],
    )
    b.sweep(
        "scale_q",
        sq,
        "scalar",
        {"mean_p": 0.0, sp: one, "mean_q": 0.0},
        1,
        "scale sweep (q)",
        [b.scale(x, True) for x in STD_SWEEP_SHORT],
    )
    b.sweep("mean_p", "mean_p", "scalar", {sp: one, "mean_q": 0.0, sq: one}, 1, "mean sweep", MEAN_SWEEP)
    add("near p = q", 3.0, 1e-3 * (1 + 1e-7), 3.0, 1e-3)
    add("near p = q", 3.0, 1e-3 * (1 - 1e-7), 3.0, 1e-3)
    add("near p = q", -1.0, 1e3 * (1 + 1e-9), -1.0, 1e3)
    add("near p = q", -1.0 + 1e-6, 1e3, -1.0, 1e3)
    for mq, stdq in ((1.0, 0.5), (-2.0, 3.0), (0.0, 1e-2)):
        for mp, stdp in ((0.0, 0.2), (0.5, 1.0), (-1.0, 4.0), (2.0, 1e-2)):
            add("grid", mp, stdp, mq, stdq)
    add("extreme", 1e3, 1e-4, 0.0, 1e4)
    add("extreme", 0.0, 1e4, 1e3, 1e-4)
    add("extreme", -1e3, 1e-4, 1e3, 1e-4)
    for _ in range(16):
        mp, mq = short(rng.normal(0, 2, 2))
        stdp, stdq = short(np.exp(rng.uniform(-3, 3, 2)))
        add("typical", mp, float(stdp), mq, float(stdq))
    _wide(b, "scale_p")
    _wide(b, "scale_q")


#: Dimensions of the diagonal families' probes: each is one batched call (one
#: compiled program for JAX), so there are few. Probes whose interesting
#: coordinates are fewer are padded with coordinates where p = q.
DIMS = (1, 4)
#: Dimension of the diagonal sweeps and the hand-made probes.
DIAG_D = 4


def _wide(b: _Builder, key: str) -> None:
    """Extend a scale sweep to :data:`WIDE_STDS` (its other arguments as they were)."""
    sw = b.sweeps[key]
    b.sweep(key, sw.axis, sw.fill, sw.fixed, sw.d, sw.group, [b.scale(x, True) for x in WIDE_STDS])


def _diag_prior(b: _Builder, rng: np.random.Generator) -> None:
    s = b.conv.scale
    d = DIAG_D
    b.add("p = q", {"mean": np.zeros(d), s: b.scale(np.ones(d))})
    b.sweep("scale", s, "vector", {"mean": np.zeros(d)}, d, "scale sweep", [b.scale(x, True) for x in STD_SWEEP_SHORT])
    b.sweep("mean", "mean", "vector", {s: b.scale(np.ones(d))}, d, "mean sweep", MEAN_SWEEP_SHORT)
    b.add("mixed", {"mean": np.zeros(d), s: b.scale([0.37, 1.0, 1.0, 1.0])})
    b.add("mixed", {"mean": np.array([0.0, 1e3, 0.0, 0.0]), s: b.scale([1e-4, 1.0, 1e4, 1.0])})
    b.add("mixed", {"mean": np.array([0.0, 0.0, 0.0, 0.5]), s: b.scale([1.0, 1.0, 1.0, 2.0])})
    b.add("near p = q", {"mean": np.zeros(d), s: b.scale(1.0 + 1e-9 * np.arange(1, d + 1))})
    b.add("near p = q", {"mean": np.full(d, 1e-7), s: b.scale(np.ones(d))})
    for i in range(16):
        dd = DIMS[i % len(DIMS)]
        b.add(
            "typical",
            {"mean": short(rng.normal(0, 1.5, dd)), s: b.scale(short(np.exp(rng.uniform(-2.5, 2.5, dd))), True)},
        )
    _wide(b, "scale")


def _diag_pair(b: _Builder, rng: np.random.Generator) -> None:
    s = b.conv.scale
    sp, sq = f"{s}_p", f"{s}_q"
    d = DIAG_D

    def add(group: str, mp: Any, stdp: Any, mq: Any, stdq: Any) -> None:
        brief = group == "typical"
        b.add(group, {"mean_p": _nice(mp), sp: b.scale(stdp, brief), "mean_q": _nice(mq), sq: b.scale(stdq, brief)})

    for dd in DIMS:
        m, sd = short(rng.normal(0, 1, dd)), short(np.exp(rng.uniform(-2, 2, dd)))
        add("p = q", m, sd, m, sd)
    add("p = q", [0.0, 1e3, -5.0, 0.0], [1e-4, 1.0, 1e4, 1.0], [0.0, 1e3, -5.0, 0.0], [1e-4, 1.0, 1e4, 1.0])
    zeros, ones = np.zeros(d), np.ones(d)
    b.sweep(
        "scale_p",
        sp,
        "vector",
        {"mean_p": zeros, "mean_q": zeros, sq: b.scale(ones)},
        d,
        "scale sweep (p)",
        [b.scale(x, True) for x in STD_SWEEP_SHORT],
    )
    b.sweep(
        "scale_q",
        sq,
        "vector",
        {"mean_p": zeros, sp: b.scale(ones), "mean_q": zeros},
        d,
        "scale sweep (q)",
        [b.scale(x, True) for x in (1e-4, 0.1, 0.5, 0.9999, 1.0, 1.0001, 2.0, 10.0, 1e4)],
    )
    b.sweep(
        "mean_p",
        "mean_p",
        "vector",
        {sp: b.scale(ones), "mean_q": zeros, sq: b.scale(ones)},
        d,
        "mean sweep",
        MEAN_SWEEP_SHORT,
    )
    base = np.array([0.5, 2.0, 1e-2, 30.0])
    add("near p = q", np.zeros(4), base * (1 + 1e-9 * np.array([1, 2, -3, 4])), np.zeros(4), base)
    add("near p = q", np.full(4, 1e-6), base, np.zeros(4), base)
    add("mixed", [0.0, 0.0, 0.0, 0.0], [0.37, 1.0, 1.0, 1.0], [0.0] * 4, [1.0] * 4)
    add("mixed", [1e3, 0.0, -1e3, 0.0], [1e-4, 1.0, 1e4, 1.0], [0.0] * 4, [1e4, 1.0, 1e-4, 1.0])
    add("mixed", [1.0, 2.0, 3.0, 4.0], [1.0] * 4, [0.0] * 4, [2.0] * 4)
    for i in range(16):
        dd = DIMS[i % len(DIMS)]
        add(
            "typical",
            short(rng.normal(0, 1.5, dd)),
            short(np.exp(rng.uniform(-2.5, 2.5, dd))),
            short(rng.normal(0, 1.5, dd)),
            short(np.exp(rng.uniform(-2.5, 2.5, dd))),
        )
    _wide(b, "scale_p")
    _wide(b, "scale_q")


def _nice(x: Any) -> NDArray[np.float64]:
    return np.array([nice(float(v)) for v in np.atleast_1d(np.asarray(x, dtype=np.float64))])


def _spd(rng: np.random.Generator, d: int, cond: float, scale: float = 1.0) -> NDArray[np.float64]:
    """A random SPD matrix with the given condition number, entries to 12 digits."""
    q, r = np.linalg.qr(rng.standard_normal((d, d)))
    q *= np.sign(np.diag(r))
    a = (q * (scale * np.logspace(0.0, -math.log10(cond), d))) @ q.T
    a = 0.5 * (a + a.T)
    out = np.vectorize(nice)(a)
    out = 0.5 * (out + out.T)
    np.linalg.cholesky(out)
    return out


def _mvn(b: _Builder, rng: np.random.Generator) -> None:
    def add(group: str, mp: Any, cp: Any, mq: Any, cq: Any) -> None:
        b.add(
            group,
            {
                "mean_p": _nice(mp),
                "cov_p": np.asarray(cp, dtype=np.float64),
                "mean_q": _nice(mq),
                "cov_q": np.asarray(cq, dtype=np.float64),
            },
        )

    for d, cond in ((2, 10.0), (3, 1e4), (5, 1e6)):
        m, c = short(rng.normal(0, 1, d)), _spd(rng, d, cond)
        add("p = q", m, c, m, c)
    d = 3
    eye, zeros = np.eye(d), np.zeros(d)
    b.sweep(
        "cov_p",
        "cov_p",
        "identity",
        {"mean_p": zeros, "mean_q": zeros, "cov_q": eye},
        d,
        "scale sweep (p)",
        [nice(x * x) for x in STD_SWEEP_SHORT],
    )
    b.sweep(
        "mean_p", "mean_p", "vector", {"cov_p": eye, "mean_q": zeros, "cov_q": eye}, d, "mean sweep", MEAN_SWEEP_SHORT
    )
    for dd in (2, 3, 5):
        for cond in (1.0, 10.0, 1e3):
            add(
                "typical",
                short(rng.normal(0, 1, dd)),
                _spd(rng, dd, cond, math.exp(rng.uniform(-1, 1))),
                short(rng.normal(0, 1, dd)),
                _spd(rng, dd, cond, math.exp(rng.uniform(-1, 1))),
            )
    add("ill-conditioned", zeros, _spd(rng, d, 10.0), np.ones(d), _spd(rng, d, 1e8))
    add("ill-conditioned", np.ones(d), _spd(rng, d, 1e8), zeros, eye)
    cq = _spd(rng, d, 1e8)
    add("ill-conditioned", zeros, np.vectorize(nice)(cq * (1 + 1e-6)), zeros, cq)
    r2 = _spd(rng, 2, 10.0)
    add("extreme scale", [0.0, 1.0], np.vectorize(nice)(1e-8 * r2), [0.0, 0.0], r2)
    r5 = _spd(rng, 5, 10.0)
    add("extreme scale", np.zeros(5), np.vectorize(nice)(1e8 * r5), np.zeros(5), np.vectorize(nice)(1e-8 * r5))
    cq3 = _spd(rng, d, 100.0)
    add("near p = q", zeros, np.vectorize(nice)(cq3 * (1 + 1e-9)), zeros, cq3)
    add("near p = q", np.full(d, 1e-6), cq3, zeros, cq3)
    add("mean gap", np.full(d, 1e3), _spd(rng, d, 10.0, 1e-2), zeros, _spd(rng, d, 10.0, 1e-2))
