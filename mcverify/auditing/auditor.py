"""Audit a user's KL function: verdict, failing region, diagnosis, evidence.

:func:`audit` evaluates a candidate on the fixed probe set of its calling
convention, compares it with the true KL within a tolerance derived from
floating-point error analysis (so a correct but naive formula passes and any
real mistake fails), describes where it goes wrong in the user's own
parameters, finds which classic mistakes (alone or in pairs, and with a clip
or an epsilon on the scales, :mod:`mcverify.auditing.modifiers`) reproduce
its outputs, and backs the verdict with Monte Carlo and quadrature at the
worst probes, so that it does not rest on mcverify's closed form alone. The
report states the domain probed (:mod:`mcverify.auditing.domain`), which the
caller may restrict or widen.

Orchestration only: no files, no printing. The CLI and the pytest helpers
render the :class:`AuditReport`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from functools import cache, partial, wraps
from typing import TYPE_CHECKING, Any, ParamSpec

import numpy as np
from numpy.typing import NDArray

from mcverify.auditing import sandbox
from mcverify.auditing.autodiff import can_differentiate, check_dtype
from mcverify.auditing.backends import Backend, ResultTypeError, get_backend
from mcverify.auditing.conventions import CallOutcome, Convention, call_candidate, call_one, get_convention
from mcverify.auditing.distributions import adapt, describe_kinds, get_object_convention, is_object_convention
from mcverify.auditing.domain import Bound, as_bounds, coverage, probes_within
from mcverify.auditing.evidence import gather_evidence
from mcverify.auditing.gradients import audit_gradients, not_checked
from mcverify.auditing.keywords import by_keyword
from mcverify.auditing.kinds import combine
from mcverify.auditing.mistakes import (
    CATALOG,
    Explanation,
    Formula,
    Prediction,
    diagnose,
    distinct_predictions,
    evaluate,
    explanations,
    predict,
    terms_for,
)
from mcverify.auditing.precision import audit_precision
from mcverify.auditing.probes import ProbeSet, ProbeSweep, make_probe, probe_set, true_kl
from mcverify.auditing.probes import show_number as show
from mcverify.auditing.regions import SweepFinding, describe_sweep
from mcverify.auditing.registry import DEFAULT_SAMPLES, DEFAULT_SEED, DEFAULT_TIMEOUT
from mcverify.auditing.report import AuditReport, Evidence, _count, fit_details
from mcverify.auditing.sandbox import CandidateOutput
from mcverify.errors import AuditError
from mcverify.formatting import significant, significant_pair
from mcverify.stats.verdicts import closed_form_tolerance

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "DEFAULT_SAMPLES",
    "DEFAULT_SEED",
    "DEFAULT_TIMEOUT",
    "AuditReport",
    "Evidence",
    "audit",
    "catalog_predictions",
    "with_candidate_output",
]

P = ParamSpec("P")

#: A correct result whose relative error exceeds sqrt(machine epsilon) has
#: lost more than half of its digits: worth a warning, not a failure.
ACCURACY_WARNING = math.sqrt(np.finfo(np.float64).eps)


# --------------------------------------------------------------- context
@dataclass(frozen=True, eq=False)
class _Context:
    probes: ProbeSet
    truth: NDArray[np.float64]
    tol: NDArray[np.float64]
    correct: Prediction
    predictions: list[Prediction]
    magnitude: NDArray[np.float64]


@cache
def _context(name: str, bounds: tuple[Bound, ...] = ()) -> _Context:
    ps = probes_within(name, bounds) if bounds else probe_set(name)
    conv = ps.convention
    truth = np.array([true_kl(p, conv) for p in ps.probes])
    terms = terms_for(ps.probes, conv)
    correct = predict(Explanation((), Formula()), terms)
    magnitude = evaluate(Formula(), terms["as-is"])[1]
    full = conv.family == "mvn"
    tol = correct.tol + np.array([closed_form_tolerance(t, full) for t in truth])
    correct = Prediction(correct.explanation, truth, tol)
    preds = distinct_predictions([predict(e, terms) for e in explanations(conv)], correct)
    return _Context(ps, truth, tol, correct, preds, magnitude)


def catalog_predictions(convention: Convention | str) -> list[Prediction]:
    """The explanations the audit considers for a convention, with their predictions."""
    return list(_context(get_convention(convention).name).predictions)


# ------------------------------------------------------------------ audit
def _output_captured(audit: Callable[P, AuditReport]) -> Callable[P, AuditReport]:
    """``audit`` with the candidate's output captured, and reported unless a capture was already open.

    When one was (``mcverify audit``'s child process, an audit of
    distribution objects per kind), its owner reports the output, once.
    """

    @wraps(audit)
    def captured(*args: P.args, **kwargs: P.kwargs) -> AuditReport:
        own = sandbox.active_capture() is None
        with sandbox.capturing() as capture:
            report = audit(*args, **kwargs)
            output = capture.output() if own else None
        return report if output is None else with_candidate_output(report, output)

    return captured


@_output_captured
def audit(
    func: Callable[..., Any],
    convention: str | Convention,
    *,
    backend: str = "numpy",
    samples: int = DEFAULT_SAMPLES,
    seed: int = DEFAULT_SEED,
    evidence_points: int = 3,
    name: str | None = None,
    timeout: float | None = DEFAULT_TIMEOUT,
    domain: Mapping[str, tuple[float, float]] | None = None,
    gradients: bool = True,
    dtype: str = "float64",
) -> AuditReport:
    r"""Audit a KL implementation against the truth on a fixed probe set.

    Parameters
    ----------
    func : callable
        The candidate, called as its convention says (see
        :data:`mcverify.auditing.conventions.CONVENTIONS`), by position, or
        by keyword when its signature has keyword-only parameters
        (``def kl(*, mu, logvar)``; accepted names in
        :mod:`mcverify.auditing.keywords`). It is called once with all probes
        of a dimension stacked along a leading batch axis, and once per
        probe if that raises or returns the wrong shape. A candidate that
        returns one number for a batch (the sum or the mean over the batch)
        is audited per sample, one probe at a time as a batch of one, and
        the report names its reduction (:mod:`mcverify.auditing.reductions`).
        Code that fits no convention (a fused loss, a method): wrap it in a
        lambda, ``lambda mean, logvar: loss(empty(0), empty(0), mean, logvar)``.
    convention : str
        ``pair-std``, ``prior-logvar``, ``diag-prior-logvar``, ``mvn``...;
        ``dist-pair`` (``f(p, q) -> KL(p || q)``) and ``dist-prior``
        (``f(p) -> KL(p || N(0, I))``) hand the candidate the backend's
        distribution objects, and the report says which kinds of object
        (univariate, diagonal, full) it supports
        (:mod:`mcverify.auditing.distributions`).
    backend : {"numpy", "torch", "jax", "tensorflow"}
        The array type the candidate receives: float64 numpy arrays, torch
        tensors, jax arrays (JAX's 64-bit mode is on during each call only)
        or TensorFlow eager tensors.
    samples : int
        Monte Carlo draws per evidence point; 0 skips the evidence.
    seed : int
        Root seed of the evidence (reports are reproducible).
    evidence_points : int
        How many of the worst probes get Monte Carlo and quadrature.
    name : str, optional
        How the report names the candidate (default: its ``__name__``).
    timeout : float or None
        Seconds each call of the candidate may take (default 10; a batched
        call of several probes three times that); ``None`` or 0 for no limit. A call that times out counts as a failure at its
        probes. After three timeouts before a first result, or ten in all,
        the candidate is no longer called. The sandbox
        (:mod:`mcverify.auditing.sandbox`) also captures what the candidate prints,
        turns ``sys.exit`` into an ordinary failure and notices a candidate
        that writes into its arguments (it gets copies).
    domain : mapping of str to (float, float), optional
        Restrict or widen the probed domain: ``{"logvar": (-30, 20)}``
        keeps the probes whose log-variances (of p and q) lie in [-30, 20],
        so that a deliberate clamp outside a model's range passes on its
        terms; a bound beyond the default range adds probes out to it.
        Names: ``mean``, ``std``, ``var``, ``logvar``, ``logstd`` (a scale
        in another form than the convention's is converted), or one
        distribution's parameter (``logvar_q``). The report's ``domain``
        states the ranges probed, whatever was asked
        (:mod:`mcverify.auditing.domain`).
    gradients : bool
        Audit the gradient of the candidate with respect to each input as
        well (default), when the backend differentiates (torch, jax, tensorflow); see
        :mod:`mcverify.auditing.gradients`. The numpy backend's report says
        ``gradient_verdict == "not-checked"``.
    dtype : {"float64", "float32", "bfloat16", "float16"}
        The dtype of the inputs handed to the candidate, as in training. Below
        float64 the values are judged against the KL at the rounded inputs
        with a tolerance from error analysis at that precision; see
        :mod:`mcverify.auditing.precision`. bfloat16 with the numpy backend
        needs ``ml_dtypes``.

    Returns
    -------
    AuditReport

    Raises
    ------
    AuditError
        Unknown convention or backend, a candidate that is not callable, one
        with a keyword-only parameter that matches no argument name, or one
        that raises on every probe.
    mcverify.auditing.backends.BackendUnavailable
        When the backend's library is not installed.

    Notes
    -----
    The tolerance at each probe is the forward error bound of a naive
    evaluation of the correct formula,
    :math:`2 n u \sum_k |t_k| \cdot \kappa`, with :math:`u = 2^{-53}`,
    :math:`n` the rounded operations per term plus the dimension,
    :math:`t_k` the terms (log-variances of p and q, variance ratio, mean
    term, constant) and :math:`\kappa` the larger condition number of the
    covariances (1 unless full), plus the documented accuracy of the
    closed form. See :func:`mcverify.auditing.mistakes.rounding_tolerance`.
    """
    if not callable(func):
        raise AuditError(f"the candidate must be callable, got {type(func).__name__}")
    if is_object_convention(convention):
        return _audit_objects(
            func, convention, backend, samples, seed, evidence_points, name, timeout, domain, gradients, dtype
        )
    try:
        conv = get_convention(convention)
        be = get_backend(backend)
        check_dtype(dtype, be.name)
    except ValueError as exc:
        raise AuditError(str(exc)) from None
    try:
        bounds = as_bounds(domain)
        if bounds:
            probes_within(conv.name, bounds)  # names that do not apply, or no probe left
    except ValueError as exc:
        raise AuditError(f"domain: {exc}") from None
    if not isinstance(gradients, bool):
        raise AuditError(f"gradients must be True or False, got {gradients!r}")
    if isinstance(samples, bool) or not isinstance(samples, (int, np.integer)) or samples < 0 or samples == 1:
        raise AuditError(f"samples must be 0 (no evidence) or an integer >= 2, got {samples!r}")
    if timeout is not None and (
        isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not timeout >= 0 or math.isinf(timeout)
    ):
        raise AuditError(f"timeout must be a number of seconds >= 0 (0 for none), got {timeout!r}")
    name = name or getattr(func, "__name__", None) or type(func).__name__
    func, by_name = by_keyword(func, conv)
    with sandbox.session(timeout) as guard:
        report = _audit(func, conv, be, samples, seed, evidence_points, name, bounds)
        report = _training_parts(report, func, conv, be, gradients, dtype, samples, seed, evidence_points, bounds)
    if by_name:
        report = replace(report, notes=[by_name, *report.notes])
    return _with_sandbox_findings(report, guard, conv)


def _audit_objects(
    func: Callable[..., Any],
    convention: Any,
    backend: str,
    samples: int,
    seed: int,
    evidence_points: int,
    name: str | None,
    timeout: float | None,
    domain: Mapping[str, tuple[float, float]] | None,
    gradients: bool,
    dtype: str,
) -> AuditReport:
    """``dist-pair``/``dist-prior``: one audit per kind of object, joined by :func:`mcverify.auditing.kinds.combine`."""
    try:
        be = get_backend(backend)
    except ValueError as exc:
        raise AuditError(str(exc)) from None
    conv = get_object_convention(convention)
    if dtype != "float64":
        raise AuditError(
            f"dtype: {conv.name} is audited in float64 only (mcverify builds the distribution objects); "
            "audit a training dtype through a numeric convention"
        )
    name = name or getattr(func, "__name__", None) or type(func).__name__
    parts: dict[str, AuditReport | str] = {}
    for kind in conv.kinds:
        adapted = adapt(func, conv, kind, be)
        try:
            parts[kind.name] = audit(
                adapted,
                kind.convention,
                backend=backend,
                samples=samples,
                seed=seed,
                evidence_points=evidence_points,
                name=name,
                timeout=timeout,
                domain=domain,
                gradients=False,  # see below
            )
        except AuditError:
            if not adapted.unsupported:
                raise
            parts[kind.name] = adapted.first_error
    report = combine(conv, be.name, str(name), parts, describe_kinds(conv, be.name))
    # The objects are built by mcverify from each probe's parameters (for dist-prior through an
    # affine map), so a gradient with respect to those parameters says nothing of the candidate's.
    why = (
        "distribution objects are built by mcverify from the probes; audit the gradient of your KL "
        "through a numeric convention (or --call)"
    )
    return replace(report, gradient=not_checked(why if gradients else "gradients were not asked for"))


def _audit(
    func: Callable[..., Any],
    conv: Convention,
    be: Any,
    samples: int,
    seed: int,
    evidence_points: int,
    name: str,
    bounds: tuple[Bound, ...] = (),
) -> AuditReport:
    ctx = _context(conv.name, bounds)
    ps = ctx.probes
    values, errors, called = _evaluate(func, ps, ctx.tol, be)
    mode, call_notes = called.mode, called.notes

    raised = np.array([e is not None for e in errors])
    wrong_type = np.array([e is not None and e.startswith(_WRONG_TYPE) for e in errors])
    if raised.all() and not wrong_type.any():
        batched = [n_.split("; called once per probe")[0] for n_ in call_notes if "batch" in n_]
        raise AuditError(
            f"the candidate raised on every probe (first: {errors[0]})"
            + "".join(f"; {n_}" for n_ in batched)
            + f"; convention {conv.name} calls {conv.signature}"
        )
    finite = np.isfinite(values)
    with np.errstate(invalid="ignore"):
        err = values - ctx.truth
        bad_value = finite & ~(np.abs(err) <= ctx.tol)
    timed_out = np.array([e is not None and e.startswith(_TIMEOUT) for e in errors])
    wrong_shape = np.array([e is not None and e.startswith(_WRONG_SHAPE) for e in errors])
    status = np.where(raised, "raised", np.where(~finite, "non-finite", np.where(bad_value, "fail", "ok")))
    status = np.where(timed_out, "timeout", status)
    status = np.where(wrong_shape, "wrong-shape", status)
    status = np.where(wrong_type, "wrong-type", status)
    verdict = "pass" if np.all(status == "ok") else "fail"

    same = np.array([p.same for p in ps.probes])
    properties = {
        "negative": int(np.sum(finite & (values < -ctx.tol))),
        "nonzero_at_equal": int(np.sum(same & finite & (np.abs(values) > ctx.tol))),
        "nonfinite": int(np.sum(~finite & ~raised)),
        "raised": int(np.sum(raised & ~timed_out & ~wrong_type & ~wrong_shape)),
        "timed_out": int(np.sum(timed_out)),
        "wrong_type": int(np.sum(wrong_type)),
        "wrong_shape": int(np.sum(wrong_shape)),
    }
    table = partial(_table, ps, values, ctx.truth, ctx.tol, status, errors)  # built when asked for

    regions: list[SweepFinding] = []
    problems: list[str] = []
    diagnoses: list[list[str]] = []
    details: list[dict[str, Any]] = []
    notes = [n_ for n_ in call_notes if "differs" not in n_]
    warnings = [n_ for n_ in call_notes if "differs" in n_]
    evidence: list[Evidence] = []
    if verdict == "fail":
        evaluate_at = _caller(func, conv, be, called.batch_of_one)
        regions = _regions(ps, conv, status, values, ctx, evaluate_at, errors)
        problems = _problems(ps, values, ctx, status, errors, properties, regions)
        diagnoses, diag_notes, details = _diagnose(values, ctx, status)
        notes += diag_notes
        if samples:
            evidence = gather_evidence(
                ps, conv, values, ctx.truth, status, regions, evaluate_at, samples, seed, evidence_points
            )
    warnings += _warnings(ps, values, ctx, status)
    return AuditReport(
        verdict,
        conv.name,
        be.name,
        str(name),
        diagnoses,
        problems,
        warnings,
        regions,
        evidence,
        table,
        properties,
        mode,
        notes,
        int(samples),
        int(seed),
        domain=coverage(ps),
        diagnosis_details=details,
        reduction=called.reduction,
    )


def _evaluate(
    func: Callable[..., Any], ps: ProbeSet, tol: NDArray[np.float64], be: Any
) -> tuple[NDArray[np.float64], list[str | None], CallOutcome]:
    batches = ps.batches()
    groups = [[ps.probes[i].args() for i in idx] for idx in batches]
    tols = [[float(tol[i]) for i in idx] for idx in batches]
    out = call_candidate(func, groups, be, tolerances=tols)
    order = [i for idx in batches for i in idx]
    values = np.empty(len(ps))
    errors: list[str | None] = [None] * len(ps)
    values[order] = out.values
    for k, i in enumerate(order):
        errors[i] = out.errors[k]
    return values, errors, out


def _caller(
    func: Callable[..., Any], conv: Convention, be: Any, batch_of_one: bool = False
) -> Callable[[dict[str, Any]], float]:
    def at(params: dict[str, Any]) -> float:
        probe = make_probe(conv, params)
        value, _ = call_one(func, probe.args(), be, batch_of_one=batch_of_one)
        return value

    return at


def _table(
    ps: ProbeSet,
    values: NDArray[np.float64],
    truth: NDArray[np.float64],
    tol: NDArray[np.float64],
    status: NDArray[np.str_],
    errors: list[str | None],
) -> pd.DataFrame:
    import pandas as pd  # the table is the only use; keep ``import mcverify`` light

    rows = []
    for p in ps.probes:
        i = p.index
        row: dict[str, Any] = {"probe": i, "group": p.group, "d": p.d}
        row.update(p.plain_params())
        with np.errstate(invalid="ignore", divide="ignore"):
            rel = abs(values[i] - truth[i]) / truth[i] if truth[i] > 0 else math.nan
        row.update(
            candidate=float(values[i]),
            truth=float(truth[i]),
            error=float(values[i] - truth[i]),
            tolerance=float(tol[i]),
            relative_error=float(rel),
            status=str(status[i]),
            message=errors[i] or "",
        )
        rows.append(row)
    return pd.DataFrame(rows)


# ---------------------------------------------------------------- regions
def _axis(sw: ProbeSweep) -> tuple[str, str]:
    """The swept argument as a user names it, and the fixed ones."""
    fixed = sw.where
    if sw.fill == "vector":
        return sw.axis, f"the same {sw.axis} in every dim; {fixed}"
    if sw.fill == "identity":
        return "s", f"{sw.axis} = s * I{sw.d}; {fixed}"
    return sw.axis, fixed


def _regions(
    ps: ProbeSet,
    conv: Convention,
    status: NDArray[np.str_],
    values: NDArray[np.float64],
    ctx: _Context,
    evaluate_at: Callable[[dict[str, Any]], float],
    errors: list[str | None],
) -> list[SweepFinding]:
    out = []
    for key, sw in ps.sweeps.items():
        on = ps.on_sweep(key)
        idx = [p.index for _, p in on]
        coords = [c for c, _ in on]
        axis, where = _axis(sw)

        def params_at(x: float, sw: ProbeSweep = sw) -> dict[str, Any]:
            params = dict(sw.fixed)
            params[sw.axis] = sw.value(x)
            return params

        def candidate_on_axis(x: float, pa: Callable[[float], dict[str, Any]] = params_at) -> float:
            return evaluate_at(pa(x))

        def truth_on_axis(x: float, pa: Callable[[float], dict[str, Any]] = params_at) -> float:
            return true_kl(make_probe(conv, pa(x)), conv)

        finding = describe_sweep(
            key,
            axis,
            where,
            coords,
            [status[i] != "ok" for i in idx],
            values[idx],
            ctx.truth[idx],
            ctx.tol[idx],
            evaluate=candidate_on_axis,
            truth_at=truth_on_axis,
            unavailable=[_no_value(str(status[i]), errors[i]) for i in idx],
        )
        if finding is not None:
            out.append(finding)
    return out


#: What a probe without a value did instead, by status (for the regions' text).
_NO_VALUE = {"raised": "raises", "timeout": "gives no result in time", "wrong-type": "returns no real number"}


def _no_value(status: str, error: str | None) -> str:
    """What a probe without a value did instead: ``"raises"``, ``"returns shape (3,)"``..."""
    if status == "wrong-shape" and error:
        return "returns " + _shape_of(error)
    return _NO_VALUE.get(status, "")


def _shape_of(error: str) -> str:
    """``"shape (3,)"`` from ``"returned shape (3,) where one number was expected..."``."""
    return error[len("returned ") :].split(" where ", 1)[0]


def _problems(
    ps: ProbeSet,
    values: NDArray[np.float64],
    ctx: _Context,
    status: NDArray[np.str_],
    errors: list[str | None],
    properties: dict[str, int],
    regions: list[SweepFinding],
) -> list[str]:
    truth, tol = ctx.truth, ctx.tol
    bad = status != "ok"
    out = []
    with np.errstate(invalid="ignore"):
        err = np.where(np.isfinite(values), np.abs(values - truth), -1.0)
    finite_bad = bad & (err >= 0)
    head = f"fails at {int(bad.sum())} of {len(ps)} probes"
    if finite_bad.any():
        i = int(np.argmax(np.where(finite_bad, err, -1.0)))
        fc, ft = significant_pair(float(values[i]), float(truth[i]))
        head += f"; wrong by up to {significant(err[i], 3)} at {ps.probes[i].label()} (candidate {fc}, true KL {ft})"
    out.append(head)
    out += [r.text for r in regions]
    if properties["negative"]:
        neg = np.isfinite(values) & (values < -tol)
        i = int(np.argmin(np.where(neg, values, np.inf)))
        out.append(
            f"negative values at {_count(properties['negative'], 'probe')} (down to {significant(values[i], 4)} at "
            f"{ps.probes[i].label()}, true KL {significant(truth[i], 4)}); a KL divergence is never negative"
        )
    if properties["nonzero_at_equal"]:
        same = [
            p.index
            for p in ps.probes
            if p.same and np.isfinite(values[p.index]) and abs(values[p.index]) > tol[p.index]
        ]
        i = same[0]
        out.append(
            f"not zero at p = q: {significant(values[i], 4)} at {ps.probes[i].label()} "
            f"({len(same)} of {sum(p.same for p in ps.probes)} such probes)"
        )
    if properties["nonfinite"]:
        idx = [i for i in range(len(ps)) if status[i] == "non-finite"]
        out.append(
            f"non-finite results for valid inputs at {_count(len(idx), 'probe')} "
            f"({values[idx[0]]} at {ps.probes[idx[0]].label()})"
        )
    if properties["raised"]:
        idx = [i for i in range(len(ps)) if status[i] == "raised"]
        out.append(
            f"raises at {_count(len(idx), 'probe')} ({errors[idx[0]]} at {ps.probes[idx[0]].label()}); "
            f"convention {ps.convention.name} calls {ps.convention.signature}"
        )
    if properties.get("wrong_shape"):
        idx = [i for i in range(len(ps)) if status[i] == "wrong-shape"]
        first = errors[idx[0]]
        assert first is not None  # status "wrong-shape" comes from the error's text
        shape = _shape_of(first)
        probe = ps.probes[idx[0]]
        hint = ""
        if ps.convention.family.startswith("diag") and shape == f"shape ({probe.d},)":
            hint = f": one value per dimension (d = {probe.d}); convention {ps.convention.name} wants the sum over the last axis"
        out.append(
            f"returns {shape} where one number was expected at {_count(len(idx), 'probe')} "
            f"(first at {probe.label()}){hint}"
        )
    if properties.get("wrong_type"):
        idx = [i for i in range(len(ps)) if status[i] == "wrong-type"]
        first = errors[idx[0]]
        assert first is not None  # status "wrong-type" comes from the error's text
        out.append(
            f"{first.split(': ', 1)[-1]} at {_count(len(idx), 'probe')} (first at {ps.probes[idx[0]].label()}); "
            "a KL divergence is a real number"
        )
    if properties.get("timed_out"):
        idx = [i for i in range(len(ps)) if status[i] == "timeout"]
        first = errors[idx[0]]
        assert first is not None  # status "timeout" comes from the error's text
        out.append(
            f"no result in time at {_count(len(idx), 'probe')} (first at {ps.probes[idx[0]].label()}: "
            f"{first.split(': ', 1)[-1]})"
        )
    return out


_TIMEOUT = sandbox.CandidateTimeout.__name__
#: A result with more than one number for one probe: see mcverify.auditing.conventions.call_one.
_WRONG_SHAPE = "returned shape "
#: A result that is not real numbers (complex, text): see mcverify.auditing.backends.as_float64.
_WRONG_TYPE = ResultTypeError.__name__


def _with_sandbox_findings(report: AuditReport, guard: sandbox.Session, conv: Convention) -> AuditReport:
    """The report plus what the sandbox saw: calls that printed, writes into the arguments, timeouts."""
    extra: list[str] = []
    notes: list[str] = []
    if guard.mutations:
        args = ", ".join(
            f"{conv.params[k] if k < len(conv.params) else f'argument {k + 1}'} ({_count(n, 'call')})"
            for k, n in sorted(guard.mutations.items())
        )
        extra.append(
            f"writes into its arguments: {args}; a caller's arrays would change under it "
            "(the audit passed copies, so its results are unaffected)"
        )
    if guard.gave_up:
        notes.append(
            f"stopped calling the candidate after {_count(guard.timeouts, 'timeout')} "
            f"({guard.timeout:g} s each); the probes after that count as timed out"
        )
    if guard.stragglers:
        notes.append(
            f"{_count(guard.stragglers, 'timed-out call')} still running in the background "
            "(Python cannot stop a thread; it ends when the call returns or the process exits)"
        )
    props = dict(report.properties)
    props["mutating_calls"] = sum(guard.mutations.values())
    props["printing_calls"] = guard.output_calls
    return replace(report, warnings=[*report.warnings, *extra], notes=[*report.notes, *notes], properties=props)


def with_candidate_output(report: AuditReport, output: CandidateOutput) -> AuditReport:
    """The report plus what the candidate wrote to stdout and stderr: ``output``, and a warning when it wrote something.

    :func:`audit` calls it with the output of its own capture;
    ``mcverify audit`` with the output of the child process, at import too.
    """
    if not output:
        return replace(report, output=output)
    calls = int(report.properties.get("printing_calls", 0))
    where = (
        f"while computing ({_count(calls, 'call')}; " if calls else "outside its calls (at import or from a thread; "
    )
    said = [f"{output.describe()} in all on stdout/stderr"]
    first = output.first_line()
    if first:
        said.append(f"first line: {_clip(first)!r}")
    last = output.last_lines(1)
    if last and output.lines > 1 and last[0] != first:
        said.append(f"last line: {_clip(last[0])!r}")
    warning = f"prints {where}{'; '.join(said)}); the output was captured so that it cannot mix with the report"
    return replace(report, output=output, warnings=[*report.warnings, warning])


def _clip(line: str, width: int = 80) -> str:
    return line if len(line) <= width else line[: width - 3] + "..."


def _diagnose(
    values: NDArray[np.float64], ctx: _Context, status: NDArray[np.str_]
) -> tuple[list[list[str]], list[str], list[dict[str, Any]]]:
    finite = np.isfinite(values)
    if finite.sum() < 0.5 * len(values):
        return [], ["too few finite results to diagnose the formula"], []
    if not np.any(status == "fail"):
        return (
            [],
            [
                "the formula is right wherever it returns a number: the failures are "
                "non-finite results or exceptions, not a wrong formula"
            ],
            [],
        )
    fits = diagnose(values, ctx.predictions, ctx.probes, ctx.correct)
    if fits:
        return [list(f.ids) for f in fits], [], [fit_details(f, ctx.probes.convention) for f in fits]
    notes = [
        f"no known mistake explains this: none of the {len(CATALOG)} catalog mistakes, "
        "alone or in pairs, with or without a clip or an epsilon on the scales, reproduces the candidate's outputs"
    ]
    size = np.abs(values[finite] - ctx.truth[finite]) / ctx.magnitude[finite]
    if size.size and float(np.max(size)) < 1e-4:
        notes.append(
            f"its errors are tiny next to the terms of the formula (at most {significant(float(np.max(size)), 2)} "
            "of their magnitude): a precision problem (float32 arithmetic? an approximation?) "
            "rather than a wrong formula"
        )
    return [], notes, []


def _warnings(ps: ProbeSet, values: NDArray[np.float64], ctx: _Context, status: NDArray[np.str_]) -> list[str]:
    out = []
    truth = ctx.truth
    ok = (status == "ok") & (truth > 0)
    with np.errstate(invalid="ignore", divide="ignore"):
        rel = np.where(ok, np.abs(values - truth) / np.where(truth > 0, truth, 1.0), 0.0)
    lossy = rel > ACCURACY_WARNING
    # Only for a formula that is right wherever it returns a number: next to
    # a wrong formula, "correct within rounding" would mislead.
    if lossy.any() and not np.any(status == "fail"):
        i = int(np.argmax(rel))
        below = float(np.max(truth[lossy]))
        fc, ft = significant_pair(float(values[i]), float(truth[i]))
        along = []
        for key, sw in ps.sweeps.items():
            coords = [c for c, p in ps.on_sweep(key) if lossy[p.index]]
            if coords:
                axis, where = _axis(sw)
                span = (
                    f"{axis} = {show(coords[0])}"
                    if len(coords) == 1
                    else (f"{axis} from {show(coords[0])} to {show(coords[-1])}")
                )
                along.append(f"{span} ({where})")
        out.append(
            f"correct within rounding, but loses relative accuracy where the KL is small: "
            f"relative error up to {significant(rel[i], 2)} at {ps.probes[i].label()} "
            f"(true KL {ft}, candidate {fc}); {_count(int(lossy.sum()), 'probe')}, "
            f"all with true KL at most {significant(below, 2)} (p close to q)"
            + (": " + "; ".join(along) if along else "")
            + "; mcverify.kl_divergence shows a form that keeps the digits"
        )
    tiny_neg = (status == "ok") & (values < 0)
    if tiny_neg.any():
        i = int(np.argmin(np.where(tiny_neg, values, np.inf)))
        out.append(
            f"tiny negative values within rounding at {_count(int(tiny_neg.sum()), 'probe')} (down to "
            f"{significant(values[i], 3)} at {ps.probes[i].label()}); clamp at 0 if a caller needs KL >= 0"
        )
    return out


# ------------------------------------------------- gradients and dtypes
def _training_parts(
    report: AuditReport,
    func: Callable[..., Any],
    conv: Convention,
    be: Backend,
    gradients: bool,
    dtype: str,
    samples: int,
    seed: int,
    evidence_points: int,
    bounds: tuple[Bound, ...] = (),
) -> AuditReport:
    """The report plus what training sees: the gradient audit and the dtype audit."""
    ps = _context(conv.name, bounds).probes
    if not gradients:
        grad = not_checked("gradients were not asked for")
    elif not can_differentiate(be):
        grad = not_checked(f"the {be.name} backend cannot differentiate")
    else:
        judged = (report.table["status"] != "raised").to_numpy() & (report.table["status"] != "timeout").to_numpy()
        grad = audit_gradients(
            func,
            ps,
            be,
            batched=report.calls == "batched",
            judged=judged,
            samples=samples,
            seed=seed,
            evidence_points=evidence_points,
        )
    prec = audit_precision(func, ps, be, dtype)
    failed = "fail" in (report.verdict, grad.verdict, prec.verdict)
    return replace(report, verdict="fail" if failed else "pass", gradient=grad, precision=prec, dtype=dtype)
