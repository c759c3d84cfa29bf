r"""The training-dtype audit: the candidate on float32, bfloat16 or float16 inputs.

A model in training hands its KL term arrays of its own dtype. The audit does
the same (:func:`mcverify.auditing.autodiff.in_dtype`) and judges each output
against the KL *at the rounded inputs* (the distributions the candidate was
actually given), within the value audit's rounding bound at the dtype's unit
roundoff :math:`u`:

.. math::

    \text{tol} = 2\,n\,u \sum_k |t_k|\,\kappa,

with the same operation count :math:`n`, terms :math:`t_k` and condition
number :math:`\kappa` as :func:`mcverify.auditing.mistakes.rounding_tolerance`
(float64 there, :math:`u = 2^{-53}`; here :math:`2^{-24}` for float32,
:math:`2^{-8}` for bfloat16, :math:`2^{-11}` for float16). A formula that
computes in a wider type internally is well inside it.

Problem ids, each with its region in the user's parameters:

- ``overflow``: an infinite or NaN result where the KL at the rounded
  inputs is finite and representable in the dtype, and an intermediate of
  the textbook formula (a variance, a ratio, a squared mean gap) exceeds the
  dtype's largest value; along a sweep the threshold is located by
  bisection on the candidate ("overflows to inf for logvar > 11.09 in
  float16");
- ``underflow``: the same where an intermediate falls below the dtype's
  smallest normal number;
- ``cancellation``: a finite result off by more than the tolerance;
- ``negative``: a result below ``-tol`` (a KL is never negative);
- ``raises``: the candidate raises on inputs of this dtype.

Probes whose inputs do not survive the rounding (a variance of 1e-8 is 0 in
float16) and probes whose true KL exceeds the dtype's largest value (no
result of that dtype can hold it) are not judged; the notes count them.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from mcverify.auditing.autodiff import CASTS, in_dtype
from mcverify.auditing.backends import Backend
from mcverify.auditing.conventions import Convention, call_candidate, call_one
from mcverify.auditing.mistakes import UNIT_ROUNDOFF, Formula, evaluate, probe_terms, rounding_tolerance
from mcverify.auditing.probes import Probe, ProbeSet, make_probe, true_kl
from mcverify.auditing.probes import show_number as show
from mcverify.auditing.regions import intervals
from mcverify.formatting import significant

__all__ = ["FORMATS", "PRECISION_PROBLEMS", "FloatFormat", "PrecisionAudit", "audit_precision"]


@dataclass(frozen=True)
class FloatFormat:
    """A binary floating-point format: unit roundoff, largest and smallest normal values."""

    name: str
    unit_roundoff: float
    largest: float
    smallest_normal: float


#: The training dtypes below float64.
FORMATS = {
    "float32": FloatFormat("float32", 2.0**-24, float(np.finfo(np.float32).max), float(np.finfo(np.float32).tiny)),
    "bfloat16": FloatFormat("bfloat16", 2.0**-8, (2.0 - 2.0**-7) * 2.0**127, 2.0**-126),
    "float16": FloatFormat("float16", 2.0**-11, 65504.0, 2.0**-14),
}

#: Problem ids with how the report names them.
PRECISION_PROBLEMS = {
    "overflow": "overflows to inf",
    "underflow": "underflows",
    "cancellation": "loses more accuracy than the dtype allows",
    "negative": "negative",
    "raises": "raises",
}


@dataclass(frozen=True)
class PrecisionAudit:
    """The dtype part of an audit.

    Attributes
    ----------
    dtype : str
    verdict : {"pass", "fail", "not-checked"}
        ``not-checked`` for float64 (the value audit is the float64 audit).
    problems : list of str
        Problem ids found (``overflow``, ``underflow``, ``cancellation``, ``negative``, ``raises``).
    findings : list of str
        One sentence per problem and region.
    table : list of dict
        Per probe: ``probe``, ``candidate``, ``truth`` (KL at the rounded
        inputs), ``error``, ``tolerance``, ``status``.
    notes : list of str
    """

    dtype: str
    verdict: str
    problems: list[str] = field(default_factory=list)
    findings: list[str] = field(default_factory=list)
    table: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out.pop("table")
        return out


def rounded_probe(p: Probe, conv: Convention, be: Backend, dtype: str) -> Probe | None:
    """The probe whose parameters are those the candidate receives in ``dtype``; None if invalid."""
    cast = CASTS[be.name]
    params = {}
    with be.scope():
        for k, v in p.params.items():
            r = np.asarray(be.to_numpy(cast(v, dtype)), dtype=np.float64)
            params[k] = float(r) if conv.univariate else r
    try:
        return make_probe(conv, params, index=p.index, group=p.group, sweeps=p.sweeps)
    except (ValueError, np.linalg.LinAlgError, ArithmeticError):
        return None


def _cause(p: Probe, fmt: FloatFormat) -> str:
    """``overflow`` or ``underflow``: which limit an intermediate of the textbook formula crosses."""
    with np.errstate(all="ignore"):
        if p.cov_p is not None:
            assert p.cov_q is not None
            parts = [np.abs(p.cov_p), np.abs(p.cov_q), np.abs(p.mean_p - p.mean_q) ** 2]
        else:
            assert p.var_p is not None and p.var_q is not None
            d2 = (p.mean_p - p.mean_q) ** 2
            small = [p.var_p, p.var_q, p.var_p / p.var_q, p.var_q / p.var_p]
            parts = [*small, d2 / p.var_q, d2, 1.0 / p.var_p, 1.0 / p.var_q]
            parts += [np.sum(x, keepdims=True) for x in parts]  # a sum over coordinates can overflow too
            flat_small = np.concatenate([np.ravel(x) for x in small])
            if np.any(np.concatenate([np.ravel(x) for x in parts]) > fmt.largest):
                return "overflow"
            if np.any((flat_small > 0) & (flat_small < fmt.smallest_normal)):
                return "underflow"
            return "overflow"
    flat = np.concatenate([np.ravel(x) for x in parts])
    if np.any(flat > fmt.largest):
        return "overflow"
    if np.any((flat > 0) & (flat < fmt.smallest_normal)):
        return "underflow"
    return "overflow"


def audit_precision(func: Callable[..., Any], ps: ProbeSet, be: Backend, dtype: str) -> PrecisionAudit:
    """Run the candidate on inputs of ``dtype`` at every probe and judge its outputs (see the module)."""
    if dtype == "float64":
        return PrecisionAudit(dtype, "not-checked", notes=["float64 is the value audit itself"])
    fmt = FORMATS[dtype]
    conv = ps.convention
    bd = in_dtype(be, dtype)
    rounded = [rounded_probe(p, conv, be, dtype) for p in ps.probes]
    valid = np.array([r is not None for r in rounded])
    batches = ps.batches()
    # The rounded values themselves (exact in the dtype): the cast is then exact, and the
    # sandbox's check for writes into the arguments compares like with like.
    groups = [[(rounded[i] or ps.probes[i]).args() for i in idx] for idx in batches]
    out = call_candidate(func, groups, bd)
    order = [i for idx in batches for i in idx]
    values = np.full(len(ps), np.nan)
    errors: list[str | None] = [None] * len(ps)
    values[order] = out.values
    for k, i in enumerate(order):
        errors[i] = out.errors[k]
    truth = np.full(len(ps), np.nan)
    tol = np.full(len(ps), np.nan)
    ok_probes = [r for r in rounded if r is not None]
    if ok_probes:
        t = probe_terms(ok_probes)
        mag = evaluate(Formula(), t)[1]
        tl = rounding_tolerance(mag, t) * (fmt.unit_roundoff / UNIT_ROUNDOFF)
        for j, rp in enumerate(ok_probes):
            truth[rp.index] = true_kl(rp, conv)
            tol[rp.index] = tl[j]
    status = np.array(["ok"] * len(ps), dtype=object)
    for i, r in enumerate(rounded):
        v = values[i]
        if r is None:
            status[i] = "unrepresentable"
        elif errors[i] is not None:
            status[i] = "raises"
        elif truth[i] > fmt.largest:
            status[i] = "beyond-range"
        elif not math.isfinite(v):
            status[i] = _cause(r, fmt)
        elif v < -tol[i]:
            status[i] = "negative"
        elif abs(v - truth[i]) > tol[i]:
            status[i] = "cancellation"
    table = [
        {
            "probe": p.index,
            "candidate": float(values[p.index]),
            "truth": float(truth[p.index]),
            "error": float(values[p.index] - truth[p.index]),
            "tolerance": float(tol[p.index]),
            "status": str(status[p.index]),
        }
        for p in ps.probes
    ]
    findings: list[str] = []
    found: list[str] = []
    for pid in PRECISION_PROBLEMS:
        hit = [i for i in range(len(ps)) if status[i] == pid]
        if hit:
            found.append(pid)
            findings.append(_describe(pid, hit, ps, values, truth, status, dtype, errors))
    for pid, text in _thresholds(func, ps, conv, be, bd, values, status, fmt):
        if pid not in found:
            found.append(pid)
        findings.append(text)
    notes = []
    n_unrep = int(np.sum(~valid))
    if n_unrep:
        notes.append(f"{n_unrep} probes have inputs that {dtype} cannot hold (rounded to 0 or inf); not judged")
    n_beyond = int(np.sum(status == "beyond-range"))
    if n_beyond:
        notes.append(
            f"{n_beyond} probes have a true KL beyond {dtype}'s largest value ({significant(fmt.largest, 5)}); "
            "not judged"
        )
    order_ids = [pid for pid in PRECISION_PROBLEMS if pid in found]
    return PrecisionAudit(dtype, "fail" if order_ids else "pass", order_ids, findings, table, notes)


def _describe(
    pid: str,
    hit: list[int],
    ps: ProbeSet,
    values: NDArray[np.float64],
    truth: NDArray[np.float64],
    status: NDArray[Any],
    dtype: str,
    errors: list[str | None],
) -> str:
    i0 = hit[0]
    head = f"{PRECISION_PROBLEMS[pid]} in {dtype} at {len(hit)} probes"
    if pid == "raises":
        head += f" ({errors[i0]} at {ps.probes[i0].label()})"
    elif pid in ("cancellation", "negative"):
        j = max(hit, key=lambda i: abs(values[i] - truth[i]))
        head += (
            f", wrong by up to {significant(abs(values[j] - truth[j]), 3)} at {ps.probes[j].label()} "
            f"(candidate {significant(values[j], 6)}, true KL at the rounded inputs {significant(truth[j], 6)})"
        )
    else:
        head += f" (first at {ps.probes[i0].label()}: {values[i0]}, true KL {significant(truth[i0], 4)})"
    spans = []
    judged = {i for i in range(len(ps)) if status[i] not in ("unrepresentable", "beyond-range")}
    for key, sw in ps.sweeps.items():
        on = [(c, pr.index) for c, pr in ps.on_sweep(key) if pr.index in judged]
        flags = [idx in hit for _, idx in on]
        if any(flags):
            coords = [c for c, _ in on]
            runs = intervals(coords, flags)
            parts = [show(coords[a]) if a == b else f"[{show(coords[a])}, {show(coords[b])}]" for a, b in runs]
            spans.append(f"along {sw.axis_label} ({sw.where}): at {', '.join(parts)}")
    return head + ("; " + "; ".join(spans) if spans else "")


def _thresholds(
    func: Callable[..., Any],
    ps: ProbeSet,
    conv: Convention,
    be: Backend,
    bd: Backend,
    values: NDArray[np.float64],
    status: NDArray[Any],
    fmt: FloatFormat,
) -> list[tuple[str, str]]:
    """Where along each sweep the candidate's result turns non-finite, located by bisection.

    Reported when the true KL there is still representable in the dtype:
    the overflow is the formula's, not the result's.
    """
    out = []
    for key, sw in ps.sweeps.items():
        on = ps.on_sweep(key)
        for (ca, pa), (cb, pb) in itertools.pairwise(on):
            fa, fb = math.isfinite(values[pa.index]), math.isfinite(values[pb.index])
            if fa == fb or status[pa.index] == "unrepresentable" or status[pb.index] == "unrepresentable":
                continue
            if status[pa.index] == "raises" or status[pb.index] == "raises":
                continue

            def finite_at(x: float, sw: Any = sw) -> bool | None:
                params = dict(sw.fixed)
                params[sw.axis] = sw.value(x)
                try:
                    probe = rounded_probe(make_probe(conv, params), conv, be, fmt.name)
                except ValueError:
                    return None
                if probe is None:
                    return None
                v, err = call_one(func, probe.args(), bd)
                return None if err is not None else math.isfinite(v)

            lo, hi = (ca, cb)
            finite_lo = fa
            for _ in range(40):
                mid = 0.5 * (lo + hi)
                f = finite_at(mid)
                if f is None:
                    break
                if f == finite_lo:
                    lo = mid
                else:
                    hi = mid
                if abs(hi - lo) <= 1e-5 * max(abs(lo), abs(hi), 1e-12):
                    break
            edge = hi if finite_lo else lo  # first non-finite coordinate side
            params = dict(sw.fixed)
            params[sw.axis] = sw.value(edge)
            r = rounded_probe(make_probe(conv, params), conv, be, fmt.name)
            if r is None:
                continue
            kl = true_kl(r, conv)
            if not kl < fmt.largest:
                continue
            x = show(float(f"{edge:.4g}"))
            side = ">" if finite_lo else "<"
            pid = _cause(r, fmt)
            what = "overflows to inf" if pid == "overflow" else "underflows (the result is not finite)"
            out.append(
                (
                    pid,
                    f"{what} for {sw.axis_label} {side} {x} in {fmt.name} ({sw.where}), "
                    f"where the true KL ({significant(kl, 4)}) is still representable",
                )
            )
    return out
