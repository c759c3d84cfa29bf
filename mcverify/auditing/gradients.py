r"""The gradient audit: what an optimiser sees when the candidate is a loss.

At every probe the candidate is differentiated by its own backend
(:mod:`mcverify.auditing.autodiff`) and each input's gradient is compared
with the exact gradient of KL in the convention's own parameters
(:mod:`mcverify.numerics.kl_gradients`). For ``mvn`` the covariance
gradients are compared by their symmetric parts, :math:`(G + G^T)/2`: the
derivative along symmetric perturbations, the same for code that reads one
triangle of the matrix and code that reads both.

The tolerance is that of the value audit applied to each derivative:
``OP_ERROR * n_ops * u * magnitude * kappa`` (see
:func:`mcverify.auditing.mistakes.rounding_tolerance`), with ``magnitude``
the derivative's terms summed in absolute value (for ``mvn`` the largest
entry of the matrix or vector, as matrix inverses err norm-wise).

Problem ids: ``nan``, ``inf``, ``zero`` (no gradient reaches an input the
KL depends on there; a ``None`` gradient counts as zero) and ``wrong``
(finite but beyond the tolerance). Each comes with a region in the user's
parameters, and the worst probes get independent evidence: a pathwise Monte
Carlo gradient (:mod:`mcverify.sampling.pathwise`; full covariances
included) and a central difference of the quadrature value.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from functools import partial
from typing import Any

import numpy as np
from numpy.random import SeedSequence
from numpy.typing import NDArray

from mcverify.auditing.autodiff import value_and_grad
from mcverify.auditing.backends import Backend
from mcverify.auditing.conventions import Convention, to_var
from mcverify.auditing.mistakes import OP_ERROR, UNIT_ROUNDOFF, n_ops
from mcverify.auditing.probes import Probe, ProbeSet
from mcverify.auditing.probes import show_number as show
from mcverify.auditing.reductions import with_batch_axis
from mcverify.auditing.regions import intervals
from mcverify.auditing.sandbox import guarded_call
from mcverify.formatting import significant
from mcverify.numerics.gaussian import Gaussian
from mcverify.numerics.kl_gradients import KLGradient, diagonal_kl_gradient, mvn_kl_gradient, symmetric_part
from mcverify.quadrature.integration import quadrature_kl
from mcverify.sampling.pathwise import pathwise_kl_gradient, pathwise_mvn_kl_gradient

__all__ = ["GRADIENT_PROBLEMS", "GradientAudit", "GradientEvidence", "GradientFinding", "audit_gradients"]

#: Problem ids, most severe first, with how the report names them.
GRADIENT_PROBLEMS = {
    "nan": "NaN gradient",
    "inf": "infinite gradient",
    "zero": "no gradient (zero or None)",
    "wrong": "wrong gradient",
}


@dataclass(frozen=True)
class GradientFinding:
    """One problem with the gradient of one argument, and where it occurs.

    Attributes
    ----------
    problem : str
        ``nan``, ``inf``, ``zero`` or ``wrong``.
    argument : str
        The candidate's argument (``mean_p``, ``logvar``...).
    probes : list of int
        Probe indices where it occurs.
    where : str
        The region in the user's parameters (``wherever mean_p = mean_q``).
    sweeps : dict
        Sweep key -> failing coordinates along it.
    text : str
        One sentence for the report.
    """

    problem: str
    argument: str
    probes: list[int]
    where: str
    sweeps: dict[str, list[float]]
    text: str

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class GradientEvidence:
    """Independent checks of one gradient component at one probe.

    Attributes
    ----------
    probe : int
    label : str
        The probe's parameters.
    argument : str
        The argument differentiated, with the coordinate for vectors (``mean[2]``).
    candidate, exact : float
        The candidate's derivative and the exact one.
    mc_estimate, mc_stderr : float
        Pathwise Monte Carlo derivative and its standard error.
    z_candidate, z_exact : float
        ``(candidate - mc_estimate) / mc_stderr`` and the same for the exact derivative.
    finite_difference : float or None
        Central difference of the quadrature value (None when quadrature
        failed or the perturbed covariance is not positive definite).
    samples, seed : int
    """

    probe: int
    label: str
    argument: str
    candidate: float
    exact: float
    mc_estimate: float
    mc_stderr: float
    z_candidate: float
    z_exact: float
    finite_difference: float | None
    samples: int
    seed: int

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def line(self) -> str:
        fd = (
            f", finite difference of quadrature {significant(self.finite_difference, 6)}"
            if self.finite_difference is not None
            else ", no finite difference of quadrature (quadrature failed)"
        )
        return (
            f"d KL / d {self.argument} at {self.label}: candidate {significant(self.candidate, 6)}, "
            f"exact {significant(self.exact, 6)}, pathwise Monte Carlo {significant(self.mc_estimate, 6)} "
            f"+- {significant(self.mc_stderr, 2)} (candidate z = {significant(self.z_candidate, 3)}, "
            f"exact z = {significant(self.z_exact, 2)}){fd}"
        )


@dataclass(frozen=True)
class GradientAudit:
    """The gradient part of an audit.

    Attributes
    ----------
    verdict : {"pass", "fail", "not-checked"}
    problems : list of str
        Problem ids found, most severe first.
    findings : list of GradientFinding
    table : list of dict
        One record per probe and argument: ``probe, argument, status,
        error`` (largest absolute error), ``tolerance`` (at that entry),
        ``ratio`` (largest error in tolerances; NaN where not finite).
    evidence : list of GradientEvidence
    notes : list of str
    """

    verdict: str
    problems: list[str] = field(default_factory=list)
    findings: list[GradientFinding] = field(default_factory=list)
    table: list[dict[str, Any]] = field(default_factory=list)
    evidence: list[GradientEvidence] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "verdict": self.verdict,
            "problems": list(self.problems),
            "findings": [f.as_dict() for f in self.findings],
            "evidence": [e.as_dict() for e in self.evidence],
            "notes": list(self.notes),
        }


def not_checked(reason: str) -> GradientAudit:
    """A gradient part that was not run, and why."""
    return GradientAudit("not-checked", notes=[reason])


# ------------------------------------------------------------ exact side
def exact_gradient(probe: Probe, conv: Convention) -> KLGradient:
    """The exact gradient at a probe, in the convention's arguments (calling order)."""
    names = conv.params
    if conv.family == "mvn":
        return mvn_kl_gradient(*(probe.params[n] for n in names))
    mp, sp = np.atleast_1d(probe.params[names[0]]), np.atleast_1d(probe.params[names[1]])
    if conv.has_q:
        mq, sq = np.atleast_1d(probe.params[names[2]]), np.atleast_1d(probe.params[names[3]])
    else:
        mq = np.zeros_like(mp)
        sq = np.zeros_like(sp) if conv.log_scale else np.ones_like(sp)
    g = diagonal_kl_gradient(mp, sp, mq, sq, conv.scale)  # type: ignore[arg-type]
    k = len(names)
    shape = (lambda a: a.reshape(())) if conv.univariate else (lambda a: a)
    return KLGradient(tuple(shape(a) for a in g.grads[:k]), tuple(shape(a) for a in g.magnitudes[:k]))


def gradient_tolerance(
    probe: Probe, conv: Convention, magnitude: NDArray[np.float64], argument: int = 1
) -> NDArray[np.float64]:
    """``OP_ERROR * n_ops * u * magnitude * kappa`` per entry (norm-wise for ``mvn``).

    For a mean (``argument`` 0 or 2) the magnitude is at least
    ``(|mean_p| + |mean_q|) / v_q``: a formula that expands the square of the
    gap, ``mean_p**2 - 2 mean_p mean_q + mean_q**2``, sums terms of that size
    and is correct within its rounding.
    """
    full = conv.family == "mvn"
    mag = np.asarray(magnitude, dtype=np.float64)
    if argument in (0, 2) and not full:
        assert probe.var_q is not None
        spread = (np.abs(probe.mean_p) + np.abs(probe.mean_q)) / probe.var_q
        mag = np.maximum(mag, spread.reshape(mag.shape) if mag.size == spread.size else float(np.max(spread)))
    kappa = 1.0
    if full:
        assert probe.cov_p is not None and probe.cov_q is not None
        kappa = max(float(np.linalg.cond(probe.cov_p)), float(np.linalg.cond(probe.cov_q)))
        mag = np.full_like(mag, float(np.max(mag)))
    ops = float(n_ops(np.asarray(float(probe.d)), full))
    return OP_ERROR * ops * UNIT_ROUNDOFF * mag * kappa


def judge(candidate: NDArray[np.float64] | None, exact: NDArray[np.float64], tol: NDArray[np.float64]) -> str:
    """``ok``, ``nan``, ``inf``, ``zero`` or ``wrong`` for one argument's gradient at one probe."""
    g = np.zeros_like(exact) if candidate is None else np.asarray(candidate, dtype=np.float64)
    if g.shape != exact.shape:
        g = np.broadcast_to(g, exact.shape) if g.size in (1, exact.size) else np.full(exact.shape, np.nan)
    if np.any(np.isnan(g)):
        return "nan"
    if np.any(np.isinf(g)):
        return "inf"
    off = np.abs(g - exact) > tol
    if not off.any():
        return "ok"
    return "zero" if not np.any(g) else "wrong"


# --------------------------------------------------------------- calling
def _gradients_at(
    func: Callable[..., Any], ps: ProbeSet, be: Backend, batched: bool
) -> tuple[list[list[NDArray[np.float64] | None] | None], list[str | None]]:
    """Per probe, the candidate's gradient for each argument (None for the probe if the call failed)."""
    n = len(ps)
    grads: list[list[NDArray[np.float64] | None] | None] = [None] * n
    errors: list[str | None] = [None] * n
    for idx in ps.batches():
        done = False
        if batched and len(idx) > 1:
            stacked = [
                np.stack([np.asarray(a, dtype=np.float64) for a in col])
                for col in zip(*(ps.probes[i].args() for i in idx), strict=True)
            ]
            try:
                _, gs = guarded_call(partial(value_and_grad, func, stacked, be))
                if all(g is None or g.shape == s.shape for g, s in zip(gs, stacked, strict=True)):
                    for row, i in enumerate(idx):
                        grads[i] = [None if g is None else g[row] for g in gs]
                    done = True
            except Exception:
                done = False
        if done:
            continue
        for i in idx:
            args = [a[()] if a.ndim == 0 else a for a in ps.probes[i].args()]
            try:
                _, gs = guarded_call(partial(value_and_grad, func, args, be))
                grads[i] = [None if g is None else np.asarray(g, dtype=np.float64) for g in gs]
            except Exception as exc:
                # A candidate that needs a batch axis (it reduces over it, or indexes axis 1): a
                # batch of one, where the sum and the mean over the batch are the per-sample KL.
                try:
                    _, gs = guarded_call(partial(value_and_grad, func, with_batch_axis(ps.probes[i].args()), be))
                    grads[i] = [None if g is None else np.asarray(g, dtype=np.float64)[0] for g in gs]
                except Exception:
                    errors[i] = f"{type(exc).__name__}: {str(exc).strip().splitlines()[0] if str(exc).strip() else ''}"
    return grads, errors


# ----------------------------------------------------------------- audit
def audit_gradients(
    func: Callable[..., Any],
    ps: ProbeSet,
    be: Backend,
    *,
    batched: bool,
    judged: NDArray[np.bool_],
    samples: int,
    seed: int,
    evidence_points: int = 3,
) -> GradientAudit:
    """Differentiate the candidate at every probe and judge each argument's gradient.

    Parameters
    ----------
    func : callable
    ps : ProbeSet
    be : Backend
        A backend that differentiates (torch, jax, tensorflow).
    batched : bool
        Differentiate all probes of a dimension in one call (the value
        audit's calls were batched); else one call per probe.
    judged : ndarray of bool
        Probes whose value the candidate returned (the others fail already).
    samples, seed : int
        Pathwise Monte Carlo draws (0: no evidence) and root seed.
    evidence_points : int
        How many of the worst probes get evidence.
    """
    conv = ps.convention
    names = conv.params
    grads, errors = _gradients_at(func, ps, be, batched)
    table: list[dict[str, Any]] = []
    status: dict[str, list[str]] = {a: ["skip"] * len(ps) for a in names}
    worst: list[tuple[float, int, int]] = []  # (ratio, probe, argument)
    for p in ps.probes:
        i = p.index
        if not judged[i]:
            continue
        g = grads[i]
        exact = exact_gradient(p, conv)
        for k, arg in enumerate(names):
            ex = np.asarray(exact.grads[k])
            tol = gradient_tolerance(p, conv, exact.magnitudes[k], k)
            if g is None:
                st, cand = "raised", None
            else:
                cand = g[k]
                if cand is not None and conv.family == "mvn" and k in (1, 3) and np.ndim(cand) == 2:
                    cand = symmetric_part(cand)
                st = judge(cand, ex, tol)
            status[arg][i] = st
            err = math.nan
            ratio = math.nan
            if cand is not None or st == "zero":
                c = np.zeros_like(ex) if cand is None else np.broadcast_to(np.asarray(cand, dtype=np.float64), ex.shape)
                with np.errstate(invalid="ignore", over="ignore"):
                    diff = np.abs(c - ex)
                    if np.all(np.isfinite(diff)):
                        j = int(np.argmax(diff / np.maximum(tol, np.finfo(float).tiny)))
                        err = float(diff.ravel()[j])
                        ratio = float(diff.ravel()[j] / max(float(tol.ravel()[j]), np.finfo(float).tiny))
            table.append(
                {
                    "probe": i,
                    "argument": arg,
                    "status": st,
                    "error": err,
                    "tolerance": float(np.max(tol)),
                    "ratio": ratio,
                    "message": errors[i] or "",
                }
            )
            if st in ("wrong", "zero") and math.isfinite(ratio):
                worst.append((ratio, i, k))
    problems = [pid for pid in GRADIENT_PROBLEMS if any(pid in s for s in status.values())]
    findings = [_finding(pid, arg, ps, status[arg], grads) for pid in problems for arg in names if pid in status[arg]]
    notes = []
    raised = [i for i in range(len(ps)) if errors[i] is not None and judged[i]]
    if raised:
        notes.append(f"differentiating the candidate raised at {len(raised)} probes (first: {errors[raised[0]]})")
    evidence: list[GradientEvidence] = []
    if samples and worst:
        worst.sort(key=lambda t: -t[0])
        seen: set[int] = set()
        gather = _mvn_evidence if conv.family == "mvn" else _evidence
        for _, i, k in worst:
            if i in seen or len(evidence) >= evidence_points:
                continue
            seen.add(i)
            g = grads[i]
            assert g is not None
            evidence.append(gather(ps.probes[i], conv, k, g[k], samples, seed))
    verdict = "fail" if problems or raised else "pass"
    return GradientAudit(verdict, problems, findings, table, evidence, notes)


# --------------------------------------------------------------- regions
def _conditions(conv: Convention, p: Probe) -> dict[str, bool]:
    names = conv.params
    if conv.has_q:
        equal_means = bool(np.array_equal(p.params[names[0]], p.params[names[2]]))
        equal_scales = bool(np.array_equal(p.params[names[1]], p.params[names[3]]))
        return {
            f"{names[0]} = {names[2]}": equal_means,
            "p = q": p.same,
            f"{names[1]} = {names[3]}": equal_scales,
        }
    zero_mean = not np.any(p.params[names[0]])
    return {f"{names[0]} = 0": zero_mean, "p = q (the prior)": p.same}


def _finding(
    pid: str, arg: str, ps: ProbeSet, status: list[str], grads: Sequence[list[NDArray[np.float64] | None] | None]
) -> GradientFinding:
    conv = ps.convention
    judged = [i for i, s in enumerate(status) if s != "skip"]
    hit = {i for i in judged if status[i] == pid}
    where = ""
    for cond in _conditions(conv, ps.probes[0]):
        holds = {i for i in judged if _conditions(conv, ps.probes[i])[cond]}
        if holds and hit == holds:
            where = f"wherever {cond}"
            break
        if len(holds) < len(judged) and hit == set(judged) - holds:
            where = f"wherever {cond.replace(' = ', ' != ')}"
            break
    sweeps: dict[str, list[float]] = {}
    spans = []
    for key, sw in ps.sweeps.items():
        on = [(c, pr.index) for c, pr in ps.on_sweep(key) if status[pr.index] != "skip"]
        if not on:
            continue
        coords = [c for c, _ in on]
        flags = [idx in hit for _, idx in on]
        if any(flags):
            sweeps[key] = [c for c, f in zip(coords, flags, strict=True) if f]
            runs = intervals(coords, flags)
            parts = [show(coords[a]) if a == b else f"[{show(coords[a])}, {show(coords[b])}]" for a, b in runs]
            label = sw.axis_label
            spans.append(f"along {label} ({sw.where}): at {label} = {', '.join(parts)}")
    first = min(hit)
    if not where:
        where = f"at {len(hit)} of {len(judged)} probes (first at {ps.probes[first].label()})"
        if spans:
            where += "; " + "; ".join(spans)
    text = f"{GRADIENT_PROBLEMS[pid]} with respect to {arg} {where}"
    if pid in ("nan", "inf") and "wherever" in where:
        text += f" ({len(hit)} probes)"
    return GradientFinding(pid, arg, sorted(hit), where, sweeps, text)


# -------------------------------------------------------------- evidence
#: Index offset of gradient evidence seeds (value evidence uses the probe index itself).
GRADIENT_SEED_OFFSET = 2_000_000


def _coordinate_params(p: Probe, conv: Convention, c: int) -> tuple[float, float, float, float]:
    """One coordinate's (mean_p, std_p, mean_q, std_q)."""
    assert p.var_p is not None and p.var_q is not None
    return (
        float(p.mean_p[c]),
        math.sqrt(float(p.var_p[c])),
        float(p.mean_q[c]),
        math.sqrt(float(p.var_q[c])),
    )


def _dvar(conv: Convention, x: float) -> float:
    """d variance / d scale parameter at ``x``."""
    if conv.scale == "std":
        return 2.0 * x
    if conv.scale == "var":
        return 1.0
    if conv.scale == "logvar":
        return math.exp(x)
    return 2.0 * math.exp(2.0 * x)


def _evidence(
    p: Probe, conv: Convention, k: int, cand: NDArray[np.float64] | None, samples: int, seed: int
) -> GradientEvidence:
    names = conv.params
    exact = np.atleast_1d(np.asarray(exact_gradient(p, conv).grads[k]))
    c_arr = np.zeros_like(exact) if cand is None else np.atleast_1d(np.asarray(cand, dtype=np.float64))
    c_arr = np.broadcast_to(c_arr, exact.shape)
    c = int(np.argmax(np.abs(c_arr - exact)))
    mp, sp, mq, sq = _coordinate_params(p, conv, c)
    est = pathwise_kl_gradient(
        mp, sp, mq, sq, samples=samples, seed=SeedSequence(seed, spawn_key=(GRADIENT_SEED_OFFSET + p.index,))
    )
    scale_arg = np.atleast_1d(p.params[names[1 if k < 2 else 3]])[c] if k in (1, 3) else 0.0
    if k == 0:
        m, s = est.estimate[0], est.stderr[0]
    elif k == 2:
        m, s = est.estimate[2], est.stderr[2]
    elif k == 1:  # d/d scale_p = d/d std_p * d std_p / d var_p * d var_p / d scale_p
        f = _dvar(conv, float(scale_arg)) / (2.0 * sp)
        m, s = est.estimate[1] * f, est.stderr[1] * abs(f)
    else:
        f = _dvar(conv, float(scale_arg))
        m, s = est.estimate[3] * f, est.stderr[3] * abs(f)
    fd = _quadrature_difference(p, conv, k, c)
    cv, ev = float(c_arr.ravel()[c]), float(exact.ravel()[c])
    with np.errstate(divide="ignore", invalid="ignore"):
        zc = (cv - m) / s if s > 0 else (0.0 if cv == m else math.inf)
        ze = (ev - m) / s if s > 0 else (0.0 if ev == m else math.inf)
    arg = names[k] if conv.univariate else f"{names[k]}[{c}]"
    return GradientEvidence(p.index, p.label(), arg, cv, ev, m, s, float(zc), float(ze), fd, samples, seed)


def _quadrature_difference(p: Probe, conv: Convention, k: int, c: int) -> float | None:
    r"""Central difference of the quadrature KL of coordinate ``c`` in argument ``k``.

    Step :math:`h = \epsilon^{1/3} \max(|x|, \text{scale})`, which balances the
    :math:`O(h^2)` truncation against quadrature errors of order
    :math:`10^{-10}` relative, divided by :math:`h`.
    """
    mp, sp, mq, sq = _coordinate_params(p, conv, c)
    names = conv.params
    x0 = float(np.atleast_1d(p.params[names[k]])[c]) if (k < 2 or conv.has_q) else 0.0
    typical = sp if k in (0, 1) else sq
    h = 1e-4 * max(abs(x0), typical if conv.scale in ("std", "var") or k in (0, 2) else 1.0)

    def kl_at(x: float) -> float:
        a = [mp, sp, mq, sq]
        if k in (0, 2):
            a[k] = x
        else:
            a[k] = math.sqrt(float(to_var(conv.scale, np.asarray(x))))
        return float(quadrature_kl(Gaussian(a[0], std=a[1]), Gaussian(a[2], std=a[3])).value)

    try:
        return (kl_at(x0 + h) - kl_at(x0 - h)) / (2.0 * h)
    except Exception:
        return None


def _gap(cand: NDArray[np.float64] | None, exact: NDArray[np.float64], k: int, full: bool) -> NDArray[np.float64]:
    """The candidate's gradient shaped as the exact one (symmetric part for a covariance)."""
    if cand is None:
        return np.zeros_like(exact)
    c = np.asarray(cand, dtype=np.float64)
    if full and k in (1, 3) and c.ndim == 2:
        c = symmetric_part(c)
    return np.broadcast_to(c, exact.shape)


def _mvn_evidence(
    p: Probe, conv: Convention, k: int, cand: NDArray[np.float64] | None, samples: int, seed: int
) -> GradientEvidence:
    """Evidence for one entry of a full-covariance gradient: the entry the candidate misses most."""
    names = conv.params
    exact = np.asarray(exact_gradient(p, conv).grads[k])
    c_arr = _gap(cand, exact, k, True)
    flat = int(np.argmax(np.abs(c_arr - exact)))
    entry = tuple(int(j) for j in np.unravel_index(flat, exact.shape))
    est = pathwise_mvn_kl_gradient(
        *(p.params[n] for n in names),
        samples=samples,
        seed=SeedSequence(seed, spawn_key=(GRADIENT_SEED_OFFSET + p.index,)),
    )
    m, s = float(est.estimate[k][entry]), float(est.stderr[k][entry])
    cv, ev = float(c_arr[entry]), float(exact[entry])
    with np.errstate(divide="ignore", invalid="ignore"):
        zc = (cv - m) / s if s > 0 else (0.0 if cv == m else math.inf)
        ze = (ev - m) / s if s > 0 else (0.0 if ev == m else math.inf)
    fd = _mvn_quadrature_difference(p, conv, k, entry)
    arg = f"{names[k]}[{', '.join(str(j) for j in entry)}]"
    return GradientEvidence(p.index, p.label(), arg, cv, ev, m, s, float(zc), float(ze), fd, samples, seed)


def _mvn_quadrature_difference(p: Probe, conv: Convention, k: int, entry: tuple[int, ...]) -> float | None:
    r"""Central difference of the quadrature KL in one entry of a mean or a covariance.

    A covariance entry :math:`(i, j)` moves symmetrically,
    :math:`\Sigma + h(E_{ij} + E_{ji})/2` (:math:`E_{ii}` on the diagonal),
    so the quotient is the entry of the symmetric gradient
    :math:`(G_{ij} + G_{ji})/2` (the convention of
    :func:`mcverify.numerics.kl_gradients.mvn_kl_gradient`). The step is :math:`10^{-4}` of the
    smallest eigenvalue (the perturbed matrix stays positive definite, and the
    truncation error, relative :math:`(h/\lambda_{min})^2`, stays below
    :math:`10^{-8}`); for a mean, :math:`10^{-4}` of the larger of
    :math:`|x|` and the standard deviation along that coordinate (KL is
    quadratic in the means: no truncation error). Quadrature (the reduced
    method) exists in every dimension; None when it fails.
    """
    names = conv.params
    base = [np.array(p.params[n], dtype=np.float64) for n in names]
    x0 = base[k]
    if k in (0, 2):
        (c,) = entry
        cov = base[1 if k == 0 else 3]
        h = 1e-4 * max(abs(float(x0[c])), math.sqrt(float(cov[c, c])))
        step = np.zeros_like(x0)
        step[c] = 1.0
    else:
        i, j = entry
        h = 1e-4 * float(np.linalg.eigvalsh(x0)[0])
        step = np.zeros_like(x0)
        step[i, j] = step[j, i] = 1.0 if i == j else 0.5

    def kl_at(t: float) -> float:
        a = list(base)
        a[k] = x0 + t * step
        return float(quadrature_kl(Gaussian(a[0], cov=a[1]), Gaussian(a[2], cov=a[3])).value)

    try:
        return (kl_at(h) - kl_at(-h)) / (2.0 * h)
    except Exception:
        return None
