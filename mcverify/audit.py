"""Audit a user's KL function: verdict, failing region, diagnosis, evidence.

:func:`audit` evaluates a candidate on the fixed probe set of its calling
convention, compares it with the true KL within a tolerance derived from
floating-point error analysis (so a correct but naive formula passes and any
real mistake fails), describes where it goes wrong in the user's own
parameters, finds which classic mistakes (alone or in pairs) reproduce its
outputs, and backs the verdict with Monte Carlo and quadrature at the worst
probes, so that it does not rest on mcverify's closed form alone.

Orchestration only: no files, no printing. The CLI and the pytest helpers
render the :class:`AuditReport`.
"""

from __future__ import annotations

import importlib.util
import math
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from .backends import get_backend
from .conventions import Convention, call_candidate, call_one, get_convention
from .errors import AuditError
from .mistakes import (
    CATALOG,
    Explanation,
    Formula,
    Prediction,
    diagnose,
    distinct_predictions,
    evaluate,
    explanations,
    mistake,
    predict,
    terms_for,
)
from .monte_carlo import monte_carlo_kl
from .probes import Probe, ProbeSet, Sweep, make_probe, probe_set, true_kl
from .regions import SweepFinding, describe_sweep, fmt, fmt_pair
from .verdicts import closed_form_tolerance

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["DEFAULT_SAMPLES", "DEFAULT_SEED", "AuditReport", "Evidence", "audit"]

#: Monte Carlo draws per evidence point.
DEFAULT_SAMPLES = 100_000
#: Root seed of the evidence; each point draws from
#: ``SeedSequence(seed, spawn_key=(probe index,))``.
DEFAULT_SEED = 20240607
#: A correct result whose relative error exceeds sqrt(machine epsilon) has
#: lost more than half of its digits: worth a warning, not a failure.
ACCURACY_WARNING = math.sqrt(np.finfo(np.float64).eps)
#: Index offset of evidence seeds for points between probes (zero crossings).
_OFF_PROBE = 1_000_000


@dataclass(frozen=True)
class Evidence:
    """Independent checks at one point where the candidate disagrees.

    Attributes
    ----------
    reason : str
        Why this point: ``"largest error"``, ``"most negative"``,
        ``"largest relative error"`` or ``"zero crossing"``.
    probe : int or None
        Probe index (None for a point between probes).
    params : dict
        The candidate's arguments there.
    candidate, truth : float
        The candidate's value and the closed-form KL.
    mc_estimate, mc_stderr, mc_ci_low, mc_ci_high : float
        Monte Carlo estimate of KL(p || q) from draws of p, its standard
        error and confidence interval.
    samples, seed : int
        Monte Carlo draws and root seed.
    z_candidate, z_truth : float
        ``(mc_estimate - value) / mc_stderr`` for the candidate and for the
        closed form: the first is huge when the candidate is wrong, the
        second is an ordinary normal deviate when the closed form is right.
    quad_value, quad_error : float or None
        Numerical integral of p log(p/q) and its error estimate (None when
        quadrature is unavailable or failed; see ``quad_message``).
    quad_reliable : bool or None
    quad_message : str
    """

    reason: str
    probe: int | None
    params: dict[str, Any]
    label: str
    candidate: float
    truth: float
    mc_estimate: float
    mc_stderr: float
    mc_ci_low: float
    mc_ci_high: float
    samples: int
    seed: int
    z_candidate: float
    z_truth: float
    quad_value: float | None = None
    quad_error: float | None = None
    quad_reliable: bool | None = None
    quad_message: str = ""

    def as_dict(self) -> dict[str, Any]:
        return _jsonable(asdict(self))

    def line(self, quad_notes: bool = True) -> str:
        """One line of text; ``quad_notes=False`` omits why quadrature is missing."""
        quad = (
            f", quadrature {fmt(self.quad_value, 6)}" if self.quad_value is not None
            else f", no quadrature ({self.quad_message})" if self.quad_message and quad_notes else ""
        )
        return (
            f"{self.reason} at {self.label}: candidate {fmt(self.candidate, 6)}, "
            f"true KL {fmt(self.truth, 6)}, Monte Carlo {fmt(self.mc_estimate, 6)} "
            f"+- {fmt(self.mc_stderr, 2)} (candidate z = {fmt(self.z_candidate, 3)}, "
            f"true KL z = {fmt(self.z_truth, 2)}){quad}"
        )


@dataclass(frozen=True, eq=False)
class AuditReport:
    """The outcome of :func:`audit`.

    Attributes
    ----------
    verdict : {"pass", "fail"}
    convention, backend, name : str
        What was audited and how; ``name`` is the candidate's name.
    diagnoses : list of list of str
        Every single mistake or pair of mistakes (catalog ids) that
        reproduces the candidate on every probe where it returned a number,
        simplest first. Empty when it passes or when no known mistake fits.
    problems : list of str
        Why it fails: the failing region, in the candidate's own parameters,
        and violated properties (negative values, non-zero at p = q,
        non-finite results, exceptions).
    warnings : list of str
        Concerns that are not failures: relative accuracy lost where the KL
        is small, tiny negative values within rounding, batched results that
        disagree with single calls.
    regions : list of SweepFinding
        Structured failing regions along the probe sweeps.
    evidence : list of Evidence
        Monte Carlo and quadrature at the worst points.
    table : pandas.DataFrame
        Every probe: ``probe, group, d``, the candidate's arguments,
        ``candidate, truth, error, tolerance, relative_error, status,
        message``.
    properties : dict
        Counts: ``negative``, ``nonzero_at_equal``, ``nonfinite``, ``raised``.
    calls : str
        ``"batched"``, ``"one per probe"`` or ``"mixed"``.
    notes : list of str
        How the candidate was called, and remarks on the diagnosis.
    samples, seed : int
        Monte Carlo settings of the evidence.
    """

    verdict: str
    convention: str
    backend: str
    name: str
    diagnoses: list[list[str]]
    problems: list[str]
    warnings: list[str]
    regions: list[SweepFinding]
    evidence: list[Evidence]
    table: pd.DataFrame
    properties: dict[str, int]
    calls: str
    notes: list[str] = field(default_factory=list)
    samples: int = DEFAULT_SAMPLES
    seed: int = DEFAULT_SEED

    @property
    def passed(self) -> bool:
        return self.verdict == "pass"

    @property
    def failures(self) -> list[dict[str, Any]]:
        """The worst failing probes, with their evidence where there is some."""
        bad = self.table[self.table["status"] != "ok"]
        if bad.empty:
            return []
        key = bad["error"].abs().fillna(np.inf)
        worst = bad.loc[key.sort_values(ascending=False, kind="stable").index[:5]]
        by_probe = {e.probe: e for e in self.evidence if e.probe is not None}
        out = []
        for _, row in worst.iterrows():
            rec = {k: row[k] for k in ("probe", "group", "d", "candidate", "truth", "error", "tolerance", "status")}
            rec["params"] = {k: row[k] for k in self._param_columns}
            if row["message"]:
                rec["message"] = row["message"]
            ev = by_probe.get(int(row["probe"]))
            if ev is not None:
                rec["evidence"] = ev.as_dict()
            out.append(rec)
        return _jsonable(out)

    @property
    def _param_columns(self) -> tuple[str, ...]:
        return get_convention(self.convention).params

    def as_dict(self, *, table: bool = False) -> dict[str, Any]:
        """A JSON-ready dict; ``table=True`` adds every probe as a record."""
        from . import __version__

        out: dict[str, Any] = {
            "verdict": self.verdict,
            "convention": self.convention,
            "backend": self.backend,
            "candidate": self.name,
            "diagnoses": [list(d) for d in self.diagnoses],
            "diagnosis_meanings": {i: mistake(i).meaning for d in self.diagnoses for i in d},
            "problems": list(self.problems),
            "warnings": list(self.warnings),
            "regions": [r.as_dict() for r in self.regions],
            "failures": self.failures,
            "evidence": [e.as_dict() for e in self.evidence],
            "properties": dict(self.properties),
            "probes": int(len(self.table)),
            "failing_probes": int((self.table["status"] != "ok").sum()),
            "calls": self.calls,
            "notes": list(self.notes),
            "samples": self.samples,
            "seed": self.seed,
            "mcverify_version": __version__,
        }
        if table:
            out["table"] = _jsonable(self.table.to_dict(orient="records"))
        return _jsonable(out)

    def summary(self) -> str:
        """The report as text for a terminal or an assertion message."""
        n = len(self.table)
        n_bad = int((self.table["status"] != "ok").sum())
        lines = [f"mcverify audit of {self.name} ({self.convention}, {self.backend} backend): {self.verdict.upper()}"]
        if self.passed:
            lines.append(f"  {n} probes, all within the rounding tolerance of a correct formula; called {self.calls}")
        else:
            lines.append(f"  {n} probes, {n_bad} fail; called {self.calls}")
            lines.append("Diagnosis: " + self._diagnosis_text())
            lines.append("Where it goes wrong:")
            lines += [f"  - {p}" for p in self.problems]
            if self.evidence:
                e0 = self.evidence[0]
                some = any(e.quad_value is not None for e in self.evidence)
                quad = "; quadrature" if some else f"; no quadrature: {e0.quad_message}"
                lines.append(f"Evidence (Monte Carlo, {e0.samples} draws from p, seed {e0.seed}{quad}):")
                lines += [f"  - {e.line(quad_notes=some)}" for e in self.evidence]
        lines.append("Warnings:" + ("" if self.warnings else " none"))
        lines += [f"  - {w}" for w in self.warnings]
        lines += [f"Note: {x}" for x in self.notes]
        return "\n".join(lines)

    def _diagnosis_text(self) -> str:
        if not self.diagnoses:
            return "no known mistake explains this"
        first = self.diagnoses[0]
        text = " + ".join(first) + " (" + "; ".join(mistake(i).meaning for i in first) + ")"
        if len(self.diagnoses) > 1:
            others = ", ".join(" + ".join(d) for d in self.diagnoses[1:])
            text += f"\n  also consistent with: {others}"
        return text

    def __repr__(self) -> str:
        diag = self.diagnoses[0] if self.diagnoses else []
        return f"AuditReport(verdict={self.verdict!r}, convention={self.convention!r}, diagnoses[0]={diag!r})"


# --------------------------------------------------------------- context
@dataclass(frozen=True, eq=False)
class _Context:
    probes: ProbeSet
    truth: NDArray[np.float64]
    tol: NDArray[np.float64]
    correct: Prediction
    predictions: list[Prediction]
    magnitude: NDArray[np.float64]


@lru_cache(maxsize=None)
def _context(name: str) -> _Context:
    ps = probe_set(name)
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
def audit(
    func: Callable[..., Any],
    convention: str | Convention,
    *,
    backend: str = "numpy",
    samples: int = DEFAULT_SAMPLES,
    seed: int = DEFAULT_SEED,
    evidence_points: int = 3,
    name: str | None = None,
) -> AuditReport:
    r"""Audit a KL implementation against the truth on a fixed probe set.

    Parameters
    ----------
    func : callable
        The candidate, called as its convention says (see
        :data:`mcverify.conventions.CONVENTIONS`). It is called once with
        all probes of a dimension stacked along a leading batch axis, and
        once per probe if that raises or returns the wrong shape.
    convention : str
        ``pair-std``, ``prior-logvar``, ``diag-prior-logvar``, ``mvn``...
    backend : {"numpy", "torch"}
        The array type the candidate receives: float64 numpy arrays or
        float64 torch tensors.
    samples : int
        Monte Carlo draws per evidence point; 0 skips the evidence.
    seed : int
        Root seed of the evidence (reports are reproducible).
    evidence_points : int
        How many of the worst probes get Monte Carlo and quadrature.
    name : str, optional
        How the report names the candidate (default: its ``__name__``).

    Returns
    -------
    AuditReport

    Raises
    ------
    AuditError
        Unknown convention or backend, a candidate that is not callable, or
        one that raises on every probe.
    mcverify.backends.BackendUnavailable
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
    closed form. See :func:`mcverify.mistakes.rounding_tolerance`.
    """
    if not callable(func):
        raise AuditError(f"the candidate must be callable, got {type(func).__name__}")
    try:
        conv = get_convention(convention)
        be = get_backend(backend)
    except ValueError as exc:
        raise AuditError(str(exc)) from None
    if isinstance(samples, bool) or not isinstance(samples, (int, np.integer)) or samples < 0 or samples == 1:
        raise AuditError(f"samples must be 0 (no evidence) or an integer >= 2, got {samples!r}")
    name = name or getattr(func, "__name__", None) or type(func).__name__
    ctx = _context(conv.name)
    ps = ctx.probes
    values, errors, mode, call_notes = _evaluate(func, ps, ctx.tol, be)

    n = len(ps)
    raised = np.array([e is not None for e in errors])
    if raised.all():
        raise AuditError(
            f"the candidate raised on every probe (first: {errors[0]}); "
            f"convention {conv.name} calls {conv.signature}"
        )
    finite = np.isfinite(values)
    with np.errstate(invalid="ignore"):
        err = values - ctx.truth
        bad_value = finite & ~(np.abs(err) <= ctx.tol)
    status = np.where(raised, "raised", np.where(~finite, "non-finite", np.where(bad_value, "fail", "ok")))
    verdict = "pass" if np.all(status == "ok") else "fail"

    same = np.array([p.same for p in ps.probes])
    properties = {
        "negative": int(np.sum(finite & (values < -ctx.tol))),
        "nonzero_at_equal": int(np.sum(same & finite & (np.abs(values) > ctx.tol))),
        "nonfinite": int(np.sum(~finite & ~raised)),
        "raised": int(np.sum(raised)),
    }
    table = _table(ps, values, ctx.truth, ctx.tol, status, errors)

    regions: list[SweepFinding] = []
    problems: list[str] = []
    diagnoses: list[list[str]] = []
    notes = [n_ for n_ in call_notes if "differs" not in n_]
    warnings = [n_ for n_ in call_notes if "differs" in n_]
    evidence: list[Evidence] = []
    if verdict == "fail":
        evaluate_at = _caller(func, conv, be)
        regions = _regions(ps, conv, status, values, ctx, evaluate_at)
        problems = _problems(ps, values, ctx, status, errors, properties, regions)
        diagnoses, diag_notes = _diagnose(values, ctx, status)
        notes += diag_notes
        if samples:
            evidence = _evidence(ps, conv, values, ctx, status, regions, evaluate_at,
                                 samples, seed, evidence_points)
    warnings += _warnings(ps, values, ctx, status)
    return AuditReport(
        verdict, conv.name, be.name, str(name), diagnoses, problems, warnings, regions,
        evidence, table, properties, mode, notes, int(samples), int(seed),
    )


def _evaluate(
    func: Callable[..., Any], ps: ProbeSet, tol: NDArray[np.float64], be: Any
) -> tuple[NDArray[np.float64], list[str | None], str, list[str]]:
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
    return values, errors, out.mode, out.notes


def _caller(func: Callable[..., Any], conv: Convention, be: Any) -> Callable[[dict[str, Any]], float]:
    def at(params: dict[str, Any]) -> float:
        probe = make_probe(conv, params)
        value, _ = call_one(func, probe.args(), be)
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
            candidate=float(values[i]), truth=float(truth[i]), error=float(values[i] - truth[i]),
            tolerance=float(tol[i]), relative_error=float(rel), status=str(status[i]),
            message=errors[i] or "",
        )
        rows.append(row)
    return pd.DataFrame(rows)


# ---------------------------------------------------------------- regions
def _axis(sw: Sweep) -> tuple[str, str]:
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
) -> list[SweepFinding]:
    out = []
    for key, sw in ps.sweeps.items():
        on = ps.on_sweep(key)
        idx = [p.index for _, p in on]
        coords = [c for c, _ in on]
        axis, where = _axis(sw)

        def params_at(x: float, sw: Sweep = sw) -> dict[str, Any]:
            params = dict(sw.fixed)
            params[sw.axis] = sw.value(x)
            return params

        finding = describe_sweep(
            key, axis, where, coords, [status[i] != "ok" for i in idx],
            values[idx], ctx.truth[idx], ctx.tol[idx],
            evaluate=lambda x, pa=params_at: evaluate_at(pa(x)),
            truth_at=lambda x, pa=params_at: true_kl(make_probe(conv, pa(x)), conv),
        )
        if finding is not None:
            out.append(finding)
    return out


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
        fc, ft = fmt_pair(float(values[i]), float(truth[i]))
        head += f"; wrong by up to {fmt(err[i], 3)} at {ps.probes[i].label()} (candidate {fc}, true KL {ft})"
    out.append(head)
    out += [r.text for r in regions]
    if properties["negative"]:
        neg = np.isfinite(values) & (values < -tol)
        i = int(np.argmin(np.where(neg, values, np.inf)))
        out.append(
            f"negative values at {_count(properties['negative'], 'probe')} (down to {fmt(values[i])} at "
            f"{ps.probes[i].label()}, true KL {fmt(truth[i])}); a KL divergence is never negative"
        )
    if properties["nonzero_at_equal"]:
        same = [p.index for p in ps.probes if p.same and np.isfinite(values[p.index]) and abs(values[p.index]) > tol[p.index]]
        i = same[0]
        out.append(
            f"not zero at p = q: {fmt(values[i])} at {ps.probes[i].label()} "
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
    return out


def _diagnose(
    values: NDArray[np.float64], ctx: _Context, status: NDArray[np.str_]
) -> tuple[list[list[str]], list[str]]:
    finite = np.isfinite(values)
    if finite.sum() < 0.5 * len(values):
        return [], ["too few finite results to diagnose the formula"]
    if not np.any(status == "fail"):
        return [], [
            "the formula is right wherever it returns a number: the failures are "
            "non-finite results or exceptions, not a wrong formula"
        ]
    fits = diagnose(values, ctx.predictions)
    if fits:
        return [list(f.ids) for f in fits], []
    notes = [
        f"no known mistake explains this: none of the {len(CATALOG)} catalog mistakes, "
        "alone or in pairs, reproduces the candidate's outputs"
    ]
    size = np.abs(values[finite] - ctx.truth[finite]) / ctx.magnitude[finite]
    if size.size and float(np.max(size)) < 1e-4:
        notes.append(
            f"its errors are tiny next to the terms of the formula (at most {fmt(float(np.max(size)), 2)} "
            "of their magnitude): a precision problem (float32 arithmetic? an approximation?) "
            "rather than a wrong formula"
        )
    return [], notes


def _warnings(
    ps: ProbeSet, values: NDArray[np.float64], ctx: _Context, status: NDArray[np.str_]
) -> list[str]:
    out = []
    truth, tol = ctx.truth, ctx.tol
    ok = (status == "ok") & (truth > 0)
    with np.errstate(invalid="ignore", divide="ignore"):
        rel = np.where(ok, np.abs(values - truth) / np.where(truth > 0, truth, 1.0), 0.0)
    lossy = rel > ACCURACY_WARNING
    if lossy.any():
        i = int(np.argmax(rel))
        below = float(np.max(truth[lossy]))
        fc, ft = fmt_pair(float(values[i]), float(truth[i]))
        out.append(
            f"correct within rounding, but loses relative accuracy where the KL is small: "
            f"relative error up to {fmt(rel[i], 2)} at {ps.probes[i].label()} "
            f"(true KL {ft}, candidate {fc}); {_count(int(lossy.sum()), 'probe')}, "
            f"all with true KL at most {fmt(below, 2)} (p close to q). "
            "Cancellation in log(ratio) + ratio - 1; mcverify.kl_divergence shows a form that keeps the digits"
        )
    tiny_neg = (status == "ok") & (values < 0)
    if tiny_neg.any():
        i = int(np.argmin(np.where(tiny_neg, values, np.inf)))
        out.append(
            f"tiny negative values within rounding at {_count(int(tiny_neg.sum()), 'probe')} (down to "
            f"{fmt(values[i], 3)} at {ps.probes[i].label()}); clamp at 0 if a caller needs KL >= 0"
        )
    return out


# --------------------------------------------------------------- evidence
def _evidence(
    ps: ProbeSet,
    conv: Convention,
    values: NDArray[np.float64],
    ctx: _Context,
    status: NDArray[np.str_],
    regions: list[SweepFinding],
    evaluate_at: Callable[[dict[str, Any]], float],
    samples: int,
    seed: int,
    k: int,
) -> list[Evidence]:
    truth = ctx.truth
    finite_bad = (status == "fail")
    if not finite_bad.any():
        return []
    err = np.where(finite_bad, np.abs(values - truth), -1.0)
    picks: list[tuple[str, int]] = []

    def pick(reason: str, i: int) -> None:
        if i not in [j for _, j in picks] and len(picks) < k:
            picks.append((reason, i))

    pick("largest error", int(np.argmax(err)))
    neg = finite_bad & (values < 0) & (truth > 0)
    if neg.any():
        pick("most negative", int(np.argmin(np.where(neg, values, np.inf))))
    with np.errstate(divide="ignore", invalid="ignore"):
        rel = np.where(finite_bad & (truth > 0), err / np.where(truth > 0, truth, 1.0), -1.0)
    if np.max(rel) > 0:
        pick("largest relative error", int(np.argmax(rel)))
    for i in np.argsort(-err, kind="stable"):
        if err[i] < 0:
            break
        pick("large error", int(i))
    out = [_check(ps.probes[i], conv, reason, float(values[i]), float(truth[i]), samples, seed, i) for reason, i in picks]
    j = 0
    for r in regions:
        sw = ps.sweeps[r.sweep]
        for x, _ in r.zeros[:1]:
            params = dict(sw.fixed)
            params[sw.axis] = sw.value(x)
            probe = make_probe(conv, params)
            out.append(_check(probe, conv, "zero crossing", evaluate_at(params), true_kl(probe, conv),
                              samples, seed, _OFF_PROBE + j, index=None))
            j += 1
        if j >= 2:
            break
    return out


def _check(
    probe: Probe,
    conv: Convention,
    reason: str,
    value: float,
    truth: float,
    samples: int,
    seed: int,
    key: int,
    index: int | None = -1,
) -> Evidence:
    p, q = probe.gaussians()
    mc = monte_carlo_kl(p, q, samples, seed=np.random.SeedSequence(seed, spawn_key=(key,)))
    quad = _quadrature(p, q)
    return Evidence(
        reason, probe.index if index == -1 else index, probe.plain_params(), probe.label(), value, truth,
        mc.estimate, mc.stderr, mc.ci_low, mc.ci_high, mc.samples, seed,
        mc.z_score(value), mc.z_score(truth), *quad,
    )


def _quadrature(p: Any, q: Any) -> tuple[float | None, float | None, bool | None, str]:
    # Only this package's own quadrature module: an editable install of
    # another checkout can otherwise supply a missing submodule from there.
    spec = importlib.util.find_spec(f"{__package__}.quadrature")
    if spec is None or spec.origin is None or Path(spec.origin).parent != Path(__file__).parent:
        return None, None, None, "mcverify.quadrature is not available"
    try:
        from .quadrature import quadrature_kl
    except ImportError:
        return None, None, None, "mcverify.quadrature is not available"
    try:
        r = quadrature_kl(p, q)
    except Exception as exc:  # noqa: BLE001 - evidence is best effort, reported
        return None, None, None, f"{type(exc).__name__}: {exc}"
    return float(r.value), float(r.error), bool(r.reliable), str(getattr(r, "message", "") or "")


def _count(n: int, what: str) -> str:
    return f"{n} {what}{'s' * (n != 1)}"


def _jsonable(obj: Any) -> Any:
    """Plain JSON types: numpy scalars become Python numbers; NaN and inf stay floats."""
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return _jsonable(obj.tolist())
    if isinstance(obj, (np.bool_, bool)):
        return bool(obj)
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, (float, np.floating)):
        x = float(obj)
        if math.isnan(x):
            return None
        return x if math.isfinite(x) else ("inf" if x > 0 else "-inf")
    return obj
