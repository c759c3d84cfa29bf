"""Calling conventions of candidate KL functions, and how to call them.

A *convention* says what a user's KL function receives and what it returns:
``pair-std`` is ``f(mean_p, std_p, mean_q, std_q) -> KL(p || q)`` for
univariate p and q, ``diag-prior-logvar`` is the VAE regulariser
``f(mean, logvar) -> KL(N(mean, exp(logvar)) || N(0, I))`` summed over the
last axis, ``mvn`` takes full covariances.  This module holds the registry,
the scale transforms (std, variance, log-variance, log-std) and the caller
that evaluates a candidate on many probes: batched when the candidate
accepts arrays, one call per probe when it does not.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from mcverify.auditing.backends import Backend, ResultTypeError
from mcverify.auditing.reductions import Reduction, classify, pick_pair, with_batch_axis
from mcverify.auditing.registry import CONVENTIONS, Convention, ScaleName
from mcverify.auditing.sandbox import CandidateTimeout, changed_arguments, guarded_call
from mcverify.auditing.sandbox import current as current_session

__all__ = [
    "CONVENTIONS",
    "CallOutcome",
    "Convention",
    "call_candidate",
    "call_one",
    "convert_scale",
    "get_convention",
    "log_var",
    "std_to_scale",
    "to_var",
]


def get_convention(name: str | Convention) -> Convention:
    """Look a convention up by name; ``ValueError`` names the valid ones."""
    if isinstance(name, Convention):
        return name
    try:
        return CONVENTIONS[name]
    except (KeyError, TypeError):
        raise ValueError(f"unknown convention {name!r}: choose from {', '.join(CONVENTIONS)}") from None


# ---------------------------------------------------------------- scales
def std_to_scale(scale: ScaleName, std: float) -> float:
    """The scale parameter of the given kind for standard deviation ``std``."""
    if scale == "std":
        return float(std)
    if scale == "var":
        return float(std) * float(std)
    if scale == "logvar":
        return 2.0 * math.log(std)
    if scale == "logstd":
        return math.log(std)
    raise ValueError(f"no scalar scale for {scale!r}")


def to_var(scale: ScaleName, x: NDArray[np.float64]) -> NDArray[np.float64]:
    """Variances described by scale parameters ``x`` (rounded once at most)."""
    x = np.asarray(x, dtype=np.float64)
    if scale == "std":
        return x * x
    if scale == "var":
        return x
    if scale == "logvar":
        return np.exp(x)
    if scale == "logstd":
        return np.exp(2.0 * x)
    raise ValueError(f"no variance transform for {scale!r}")


def log_var(scale: ScaleName, x: NDArray[np.float64]) -> NDArray[np.float64]:
    """Natural log of the variances described by ``x``: exact for log scales."""
    x = np.asarray(x, dtype=np.float64)
    if scale == "std":
        return 2.0 * np.log(x)
    if scale == "var":
        return np.log(x)
    if scale == "logvar":
        return x
    if scale == "logstd":
        return 2.0 * x
    raise ValueError(f"no log-variance for {scale!r}")


def convert_scale(src: str, dst: str, x: Any) -> Any:
    """Scale values of kind ``src`` as kind ``dst`` (``std``, ``var``, ``logvar``, ``logstd``).

    Exact when ``src == dst``; std and variance convert by squaring or a
    square root, the rest through the natural log of the variance. Arrays
    in, arrays out; a Python float in, a float out.
    """
    scalar = isinstance(x, (int, float))
    a = np.asarray(x, dtype=np.float64)
    if src == dst:
        out = a
    elif src == "std" and dst == "var":
        out = a * a
    elif src == "var" and dst == "std":
        out = np.sqrt(a)
    else:
        lv = log_var(src, a)  # type: ignore[arg-type]
        if dst == "logvar":
            out = lv
        elif dst == "logstd":
            out = 0.5 * lv
        else:
            out = np.exp(lv) if dst == "var" else np.exp(0.5 * lv)
    return float(out) if scalar else out


# ---------------------------------------------------------------- calling
@dataclass(frozen=True)
class CallOutcome:
    """What a candidate returned on a list of argument tuples.

    Attributes
    ----------
    values : ndarray
        One float per probe; NaN where the call raised.
    errors : list of str or None
        ``"TypeError: ..."`` where the call for that probe raised.
    mode : {"batched", "one per probe", "batches of one", "mixed"}
        How the candidate was called: all probes of a group at once, one
        probe at a time, or one probe at a time with a leading batch axis of
        length 1 (a function that reduces over the batch).
    notes : list of str
        Why batching was abandoned, or a batched/single disagreement.
    reduction : {"none", "sum", "mean"}
        What the candidate does with a batch (:mod:`mcverify.auditing.reductions`).
    batch_of_one : bool
        True when single probes are best passed as a batch of one (the
        candidate reduces over the batch, or needs a batch axis).
    """

    values: NDArray[np.float64]
    errors: list[str | None]
    mode: str
    notes: list[str]
    reduction: Reduction = "none"
    batch_of_one: bool = False


def _describe(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    first = text[0] if text else ""
    if len(first) > 160:
        first = first[:157] + "..."
    return f"{type(exc).__name__}: {first}" if first else type(exc).__name__


def _invoke(func: Callable[..., Any], args: Sequence[Any], backend: Backend, probes: int = 1) -> NDArray[np.float64]:
    # Guarded (mcverify.auditing.sandbox): per-call timeout (times the number of probes
    # a batched call evaluates), output captured, sys.exit reported; the candidate gets
    # fresh copies, and writing into them is noted.
    def call() -> tuple[NDArray[np.float64], list[int]]:
        with backend.scope(), np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            native = [backend.to_native(a) for a in args]
            out = backend.to_numpy(func(*native))
            return out, changed_arguments(args, native, backend.to_numpy)

    out, changed = guarded_call(call, probes)
    sess = current_session()
    if changed and sess is not None:
        sess.record_mutation(changed)
    return out


def call_candidate(
    func: Callable[..., Any],
    groups: Sequence[Sequence[tuple[NDArray[np.float64], ...]]],
    backend: Backend,
    *,
    tolerances: Sequence[Sequence[float]] | None = None,
    cross_checks: int = 3,
) -> CallOutcome:
    """Evaluate ``func`` on every argument tuple, batched per group when possible.

    Parameters
    ----------
    func : callable
        The candidate.
    groups : sequence of sequences of argument tuples
        Probes whose arguments share shapes (same dimension), so that each
        group can be stacked along a new leading batch axis.
    backend : Backend
        Converts numpy arrays to the candidate's array type and back.
    tolerances : sequence of sequences of float, optional
        Per-probe absolute tolerance, used to cross-check a few batched
        results against one-at-a-time calls.
    cross_checks : int
        How many batched results per group to recompute one at a time.

    Returns
    -------
    CallOutcome
        Values in the order of the flattened groups.

    Notes
    -----
    A batched call is accepted when it neither raises nor returns a result
    of the wrong size (one value per probe, trailing singleton axes
    allowed). A batched call that returns one number for several probes is
    a reduction over the batch: each probe is then evaluated as a batch of
    one and the reduction named (:mod:`mcverify.auditing.reductions`).
    Otherwise that group falls back to one call per probe; a probe whose
    call raises or returns the wrong size is retried as a batch of one (a
    function that indexes ``axis=1``); the notes say what the batched call
    returned. A batched result that disagrees with the
    single calls beyond tolerance (a function that mixes batch entries) is
    discarded in favour of the single calls, with a note.
    """
    values: list[float] = []
    errors: list[str | None] = []
    notes: list[str] = []
    modes: set[str] = set()
    found: list[Reduction] = []
    batch_of_one = False
    for g, group in enumerate(groups):
        n = len(group)
        if n == 0:
            continue
        tol = None if tolerances is None else np.asarray(tolerances[g], dtype=np.float64)
        batch = _try_batch(func, group, backend, notes)
        if batch is not None and batch.shape != (n,):  # one number for the whole batch
            vals, errs, reduced = _reduced(func, group, backend, tol, batch.shape, notes)
            modes.add("batches of one")
            batch_of_one = True
            found += [reduced] if reduced != "none" else []
            values.extend(vals)
            errors.extend(errs)
            continue
        if batch is not None and tol is not None:
            batch = _cross_check(func, group, backend, batch, tol, cross_checks, notes)
        if batch is not None:
            modes.add("batched" if n > 1 else "batched (one probe)")
            values.extend(batch.tolist())
            errors.extend([None] * n)
            continue
        modes.add("one per probe")
        for args in group:
            v, err, as_batch = _single_either(func, args, backend, False)
            batch_of_one |= as_batch
            values.append(v)
            errors.append(err)
    if "batched (one probe)" in modes:  # a batch of one probe: as batched, or as the batches of one beside it
        modes.discard("batched (one probe)")
        modes.add("batches of one" if found else "batched")
    mode = modes.pop() if len(modes) == 1 else ("mixed" if modes else "none")
    reduction: Reduction = found[0] if found else "none"
    if len(set(found)) > 1:
        notes.append(f"reduces some batches by sum and others by mean; reported as {reduction}")
    return CallOutcome(np.asarray(values, dtype=np.float64), errors, mode, _summarise(notes), reduction, batch_of_one)


def _summarise(notes: list[str]) -> list[str]:
    """One note for all groups that could not be batched, one per disagreement."""
    fallback = [n for n in notes if n.startswith("a batched call")]
    other = [n for n in notes if not n.startswith("a batched call")]
    if not fallback:
        return other
    text = fallback[0]
    if len(fallback) > 1:
        text += f" (and {len(fallback) - 1} more groups alike)"
    return [text + "; called once per probe instead", *other]


def _try_batch(
    func: Callable[..., Any],
    group: Sequence[tuple[NDArray[np.float64], ...]],
    backend: Backend,
    notes: list[str],
) -> NDArray[np.float64] | None:
    """The batched result: shape ``(n,)``, or one number in its raw shape for ``n > 1``; None on failure."""
    n = len(group)
    stacked = [np.stack([np.asarray(args[k], dtype=np.float64) for args in group]) for k in range(len(group[0]))]
    try:
        out = _invoke(func, stacked, backend, n)
    except Exception as exc:
        _note(notes, f"a batched call raised {_describe(exc)}")
        return None
    shape = out.shape
    if out.size == 1:  # one number: a reduction over the batch, or the value of a batch of one probe
        return out.astype(np.float64) if n > 1 else out.reshape(1).astype(np.float64)
    while out.ndim > 1 and out.shape[-1] == 1:
        out = out[..., 0]
    if out.shape != (n,):
        _note(notes, f"a batched call returned shape {shape} for {n} probes")
        return None
    return out.astype(np.float64)


def _reduced(
    func: Callable[..., Any],
    group: Sequence[tuple[NDArray[np.float64], ...]],
    backend: Backend,
    tol: NDArray[np.float64] | None,
    shape: tuple[int, ...],
    notes: list[str],
) -> tuple[list[float], list[str | None], Reduction]:
    """Per-sample values (batches of one) of a function that returns one number per batch, and its reduction."""
    vals: list[float] = []
    errs: list[str | None] = []
    for args in group:
        v, err, _ = _single_either(func, args, backend, True)
        vals.append(v)
        errs.append(err)
    pair = pick_pair(np.asarray(vals))
    reduction: Reduction | None = None
    if pair is not None:
        a, b = pair
        try:
            r_aa = _invoke(func, [np.stack([x, x]) for x in group[a]], backend, 2)
            r_ab = _invoke(func, [np.stack([x, y]) for x, y in zip(group[a], group[b])], backend, 2)
        except Exception:
            r_aa = r_ab = np.full(2, math.nan)
        if r_aa.size == 1 and r_ab.size == 1:
            ta, tb = (0.0, 0.0) if tol is None else (float(tol[a]), float(tol[b]))
            reduction = classify(vals[a], vals[b], float(r_aa.ravel()[0]), float(r_ab.ravel()[0]), ta, tb)
    if pair is None:
        _note(
            notes,
            f"returns one number for a batch (shape {shape}); no single probe gave a finite non-zero value "
            "that would tell a sum from a mean",
        )
        return vals, errs, "none"
    if reduction is None:
        _note(
            notes,
            f"returns one number for a batch (shape {shape}) that differs from both the sum and the mean "
            "of its per-sample values; audited one probe at a time as a batch of one",
        )
        return vals, errs, "none"
    how = "the sum" if reduction == "sum" else "the mean"
    _note(
        notes,
        f"reduces over the batch: returns {how} of the per-sample KL (a batched call returned shape {shape}); "
        "audited per sample, one probe at a time as a batch of one",
    )
    return vals, errs, reduction


def _note(notes: list[str], text: str) -> None:
    if text not in notes:
        notes.append(text)


def call_one(
    func: Callable[..., Any],
    args: tuple[NDArray[np.float64], ...],
    backend: Backend,
    *,
    batch_of_one: bool = False,
) -> tuple[float, str | None]:
    """Call ``func`` on one probe's arguments: ``(value, None)`` or ``(nan, "Error: ...")``.

    ``batch_of_one=True`` passes the arguments with a leading batch axis of
    length 1 first; either way the other form is tried when the first
    raises or returns more than one number.
    """
    value, err, _ = _single_either(func, args, backend, batch_of_one)
    return value, err


def _single_either(
    func: Callable[..., Any],
    args: tuple[NDArray[np.float64], ...],
    backend: Backend,
    batch_first: bool,
) -> tuple[float, str | None, bool]:
    """One probe, as given or as a batch of one (``batch_first`` says which first): value, error, batch of one used."""
    first, second = (True, False) if batch_first else (False, True)
    v, err = _single(func, args, backend, first)
    if err is None:
        return v, None, first
    if err.startswith((CandidateTimeout.__name__, ResultTypeError.__name__)):
        return v, err, first  # retrying would not help: out of time, or not a real number
    v2, err2 = _single(func, args, backend, second)
    if err2 is None:
        return v2, None, second
    return math.nan, err, first  # the error of the usual form; the notes say what a batch did


def _single(
    func: Callable[..., Any], args: tuple[NDArray[np.float64], ...], backend: Backend, batch: bool = False
) -> tuple[float, str | None]:
    if batch:
        call_args: list[Any] = with_batch_axis(args)
    else:
        call_args = [a[()] if np.ndim(a) == 0 else a for a in (np.asarray(x, dtype=np.float64) for x in args)]
    try:
        out = _invoke(func, call_args, backend)
    except Exception as exc:
        return math.nan, _describe(exc)
    if out.size != 1:
        return math.nan, f"returned shape {out.shape} where one number was expected"
    return float(out.reshape(())), None


def _cross_check(
    func: Callable[..., Any],
    group: Sequence[tuple[NDArray[np.float64], ...]],
    backend: Backend,
    batch: NDArray[np.float64],
    tol: NDArray[np.float64],
    k: int,
    notes: list[str],
) -> NDArray[np.float64] | None:
    n = len(group)
    picks = sorted({int(i) for i in np.linspace(0, n - 1, num=min(k, n)).round()})
    for i in picks:
        single, err, _ = _single_either(func, group[i], backend, False)
        if err is not None:
            continue
        b = batch[i]
        same = (b == single) or (math.isnan(b) and math.isnan(single)) or abs(b - single) <= tol[i]
        if not same:
            _note(
                notes,
                f"batched result {b:.6g} differs from a single call {single:.6g} for the same probe; "
                "called once per probe instead",
            )
            return None
    return batch
