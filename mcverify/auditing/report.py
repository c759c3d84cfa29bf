"""The audit's results: :class:`AuditReport` and the :class:`Evidence` behind it.

Frozen value objects with ``as_dict()`` (JSON-ready: NaN becomes ``None``,
infinities the strings ``"inf"``/``"-inf"``) and ``summary()`` text; no
computation beyond formatting.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any

import numpy as np

from mcverify._version import __version__
from mcverify.auditing.conventions import Convention, get_convention
from mcverify.auditing.domain import describe
from mcverify.auditing.gradients import GradientAudit
from mcverify.auditing.mistakes import Fit, meaning
from mcverify.auditing.precision import PrecisionAudit
from mcverify.auditing.regions import SweepFinding
from mcverify.auditing.registry import DEFAULT_SAMPLES, DEFAULT_SEED
from mcverify.auditing.sandbox import CandidateOutput
from mcverify.formatting import significant

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["DEFAULT_SAMPLES", "DEFAULT_SEED", "AuditReport", "Evidence", "fit_details"]


@dataclass(frozen=True)
class Evidence:
    """Independent checks at one point where the candidate disagrees.

    Attributes
    ----------
    reason : str
        Why this point: ``"clearest disagreement"`` (most Monte Carlo
        standard errors away), ``"most negative"``, ``"largest error"``,
        ``"clear disagreement"`` or ``"zero crossing"``.
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
    mc_detectable : float
        The smallest error in a tested value that this Monte Carlo check
        detects with 80% power at the two-sided level ``1 - confidence``
        (:func:`mcverify.stats.power.detectable_difference`, the machinery behind
        the run table's ``mc_detectable``): how fine the evidence is.
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
    mc_detectable: float = float("nan")

    def as_dict(self) -> dict[str, Any]:
        return _jsonable(asdict(self))

    def line(self, quad_notes: bool = True) -> str:
        """One line of text; ``quad_notes=False`` omits why quadrature is missing."""
        quad = (
            f", quadrature {significant(self.quad_value, 6)}"
            if self.quad_value is not None
            else f", no quadrature ({self.quad_message})"
            if self.quad_message and quad_notes
            else ""
        )
        return (
            f"{self.reason} at {self.label}: candidate {significant(self.candidate, 6)}, "
            f"true KL {significant(self.truth, 6)}, Monte Carlo {significant(self.mc_estimate, 6)} "
            f"+- {significant(self.mc_stderr, 2)} (candidate z = {significant(self.z_candidate, 3)}, "
            f"true KL z = {significant(self.z_truth, 2)}; detects errors >= {significant(self.mc_detectable, 2)} "
            f"with 80% power){quad}"
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
        message``.  Built by ``make_table`` on first use (a passing
        ``assert_kl_correct`` never imports pandas).
    properties : dict
        Counts: ``negative``, ``nonzero_at_equal``, ``nonfinite``, ``raised``,
        ``timed_out``, ``wrong_type`` (results that are not real numbers).
    calls : str
        ``"batched"``, ``"one per probe"``, ``"batches of one"`` (one probe
        at a time with a leading batch axis of length 1) or ``"mixed"``.
    notes : list of str
        How the candidate was called, and remarks on the diagnosis.
    samples, seed : int
        Monte Carlo settings of the evidence.
    domain : dict of str to (float, float)
        The ranges the probes span, in the candidate's parameters (and the
        standard deviations they describe): what the verdict covers. See
        :func:`mcverify.auditing.domain.coverage`.
    diagnosis_details : list of dict
        One per diagnosis, in the same order: ``ids``, ``meaning`` (the
        parts in words, modifiers with their estimated parameters:
        "returns -KL; clips the variances to [1e-06, 1e+06]"),
        ``modifiers`` (kind, quantity, whose, bounds or constant, text) and
        ``explains`` (which part explains how many probes, and the
        sentence "sign explains 82 of 84 probes; clip (...) explains the
        other 2"), ``modifier_probes`` (the indices of the probes only the
        modifier explains); see :func:`fit_details`.
    gradient : GradientAudit or None
        The gradient part (:mod:`mcverify.auditing.gradients`); None reads as not checked.
    precision : PrecisionAudit or None
        The training-dtype part (:mod:`mcverify.auditing.precision`); None or
        ``not-checked`` for float64.
    dtype : str
        The dtype of the inputs the candidate received in the dtype part.
    kinds : dict
        For the distribution-object conventions (``dist-pair``,
        ``dist-prior``): each kind of object (``univariate``, ``diagonal``,
        ``full``) -> ``"pass"``, ``"fail"`` or ``"unsupported"``; the verdict
        is over the supported kinds. Empty for the other conventions.
    reduction : {"none", "sum", "mean"}
        What the candidate does with a batch: one value per sample
        (``"none"``, also when it takes no batch), or one number, the sum or
        the mean of the per-sample KL over the batch. The verdict is always
        on the per-sample KL (see :mod:`mcverify.auditing.reductions`).
    output : CandidateOutput
        What the candidate wrote to stdout and stderr (byte and line counts,
        the first and last few KiB); captured, never shown as it is written.
        A warning summarises it when it wrote something; ``as_dict()`` has it
        under ``output``.
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
    make_table: Callable[[], pd.DataFrame] = field(repr=False)
    properties: dict[str, int]
    calls: str
    notes: list[str] = field(default_factory=list)
    samples: int = DEFAULT_SAMPLES
    seed: int = DEFAULT_SEED
    domain: dict[str, tuple[float, float]] = field(default_factory=dict)
    diagnosis_details: list[dict[str, Any]] = field(default_factory=list)

    @property
    def domain_text(self) -> str:
        """The probed ranges as text: ``"mean -1000..1000, std 1e-09..1e+09"``."""
        return describe(self.domain)

    gradient: GradientAudit | None = None
    precision: PrecisionAudit | None = None
    dtype: str = "float64"
    kinds: dict[str, str] = field(default_factory=dict)
    reduction: str = "none"
    output: CandidateOutput = field(default_factory=CandidateOutput)

    @cached_property
    def table(self) -> pd.DataFrame:
        return self.make_table()

    @property
    def passed(self) -> bool:
        return self.verdict == "pass"

    @property
    def value_verdict(self) -> str:
        """``"pass"`` when every probe's value is within tolerance, else ``"fail"``."""
        return "pass" if bool((self.table["status"] == "ok").all()) else "fail"

    @property
    def gradient_verdict(self) -> str:
        """``"pass"``, ``"fail"`` or ``"not-checked"`` (numpy candidates, or ``gradients=False``)."""
        return "not-checked" if self.gradient is None else self.gradient.verdict

    @property
    def gradient_problems(self) -> list[str]:
        """Gradient problem ids found: ``nan``, ``inf``, ``zero``, ``wrong``."""
        return [] if self.gradient is None else list(self.gradient.problems)

    @property
    def precision_problems(self) -> list[str]:
        """Training-dtype problem ids found: ``overflow``, ``underflow``, ``cancellation``, ``negative``..."""
        return [] if self.precision is None else list(self.precision.problems)

    @property
    def precision_verdict(self) -> str:
        """``"pass"``, ``"fail"`` or ``"not-checked"`` (float64)."""
        return "not-checked" if self.precision is None else self.precision.verdict

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
            rec["params"] = {k: row[k] for k in self._param_columns if _present(row[k])}
            if row["message"]:
                rec["message"] = row["message"]
            ev = by_probe.get(int(row["probe"]))
            if ev is not None:
                rec["evidence"] = ev.as_dict()
            out.append(rec)
        return _jsonable(out)

    @property
    def _param_columns(self) -> tuple[str, ...]:
        if self.kinds:  # distribution objects: the arguments of each kind's numeric convention
            columns = list(self.table.columns)
            return tuple(columns[columns.index("d") + 1 : columns.index("candidate")])
        return get_convention(self.convention).params

    def as_dict(self, *, table: bool = False) -> dict[str, Any]:
        """A JSON-ready dict; ``table=True`` adds every probe as a record."""
        out: dict[str, Any] = {
            "verdict": self.verdict,
            "convention": self.convention,
            "backend": self.backend,
            "candidate": self.name,
            "diagnoses": [list(d) for d in self.diagnoses],
            "diagnosis_meanings": {i: meaning(i) for d in self.diagnoses for i in d},
            "diagnosis_details": list(self.diagnosis_details),
            "problems": list(self.problems),
            "warnings": list(self.warnings),
            "regions": [r.as_dict() for r in self.regions],
            "failures": self.failures,
            "evidence": [e.as_dict() for e in self.evidence],
            "properties": dict(self.properties),
            "probes": len(self.table),
            "failing_probes": int((self.table["status"] != "ok").sum()),
            "calls": self.calls,
            **({"kinds": dict(self.kinds)} if self.kinds else {}),
            "reduction": self.reduction,
            "notes": list(self.notes),
            "samples": self.samples,
            "seed": self.seed,
            "domain": {k: [lo, hi] for k, (lo, hi) in self.domain.items()},
            "domain_text": self.domain_text,
            "mcverify_version": __version__,
            "value_verdict": self.value_verdict,
            "gradient_verdict": self.gradient_verdict,
            "gradient_problems": self.gradient_problems,
            "gradients": None if self.gradient is None else self.gradient.as_dict(),
            "dtype": self.dtype,
            "precision_verdict": self.precision_verdict,
            "precision_problems": self.precision_problems,
            "precision": None if self.precision is None else self.precision.as_dict(),
            "output": self.output.as_dict(),
        }
        if table:
            out["table"] = _jsonable(self.table.to_dict(orient="records"))
            if self.gradient is not None and self.gradient.table:
                out["gradient_table"] = _jsonable(self.gradient.table)
        return _jsonable(out)

    def summary(self) -> str:
        """The report as text for a terminal or an assertion message."""
        n = len(self.table)
        n_bad = int((self.table["status"] != "ok").sum())
        lines = [f"mcverify audit of {self.name} ({self.convention}, {self.backend} backend): {self.verdict.upper()}"]
        on = f" on {self.domain_text}" if self.domain else ""
        reduced = self._reduction_text()
        if self.value_verdict == "pass":
            lines.append(
                f"  {n} probes{on}, all within the rounding tolerance of a correct formula{reduced}; "
                f"called {self.calls}"
            )
        else:
            lines.append(f"  {n} probes{on}, {n_bad} fail{reduced}; called {self.calls}")
        if self.kinds:
            lines.append("  kinds of object: " + ", ".join(f"{k} {v}" for k, v in self.kinds.items()))
        if self.value_verdict != "pass":
            lines.append("Diagnosis: " + self._diagnosis_text())
            lines.append("Where it goes wrong:")
            lines += [f"  - {p}" for p in self.problems]
            if self.evidence:
                e0 = self.evidence[0]
                some = any(e.quad_value is not None for e in self.evidence)
                quad = "; quadrature" if some else f"; no quadrature: {e0.quad_message}"
                lines.append(f"Evidence (Monte Carlo, {e0.samples} draws from p, seed {e0.seed}{quad}):")
                lines += [f"  - {e.line(quad_notes=some)}" for e in self.evidence]
        lines += self._gradient_lines()
        lines += self._precision_lines()
        lines.append("Warnings:" + ("" if self.warnings else " none"))
        lines += [f"  - {w}" for w in self.warnings]
        lines += [f"Note: {x}" for x in self.notes]
        return "\n".join(lines)

    def _gradient_lines(self) -> list[str]:
        g = self.gradient
        if g is None:
            return []
        if g.verdict == "not-checked":
            if self.backend == "numpy":  # nothing to differentiate: no line, as before gradients were audited
                return []
            return [f"Gradients: not checked ({'; '.join(g.notes)})"]
        if g.verdict == "pass":
            head = "Gradients: PASS, with respect to every input at every probe, within rounding of the exact gradient"
            return [head] + [f"  note: {n}" for n in g.notes]
        out = [f"Gradients: FAIL ({', '.join(g.problems)})"]
        out += [f"  - {f.text}" for f in g.findings]
        out += [f"  note: {n}" for n in g.notes]
        if g.evidence:
            e0 = g.evidence[0]
            out.append(f"  Gradient evidence (pathwise Monte Carlo, {e0.samples} draws, seed {e0.seed}):")
            out += [f"    - {e.line()}" for e in g.evidence]
        return out

    def _precision_lines(self) -> list[str]:
        pr = self.precision
        if pr is None or pr.verdict == "not-checked":
            return []
        if pr.verdict == "pass":
            out = [f"Training dtype {pr.dtype}: PASS, every result within the {pr.dtype} rounding bound"]
        else:
            out = [f"Training dtype {pr.dtype}: FAIL ({', '.join(pr.problems)})"]
            out += [f"  - {f}" for f in pr.findings]
        return out + [f"  note: {n}" for n in pr.notes]

    def _reduction_text(self) -> str:
        if self.reduction == "none":
            return ""
        return f" (per sample: the function returns the {self.reduction} over the batch)"

    def _diagnosis_text(self) -> str:
        if not self.diagnoses:
            return "no known mistake explains this"
        first = self.diagnoses[0]
        detail = self.diagnosis_details[0] if self.diagnosis_details else {}
        text = " + ".join(first) + " (" + (detail.get("meaning") or "; ".join(meaning(i) for i in first)) + ")"
        if detail.get("modifiers"):
            text += "\n  " + detail["explains_text"]
        if len(self.diagnoses) > 1:
            others = ", ".join(" + ".join(d) for d in self.diagnoses[1:])
            text += f"\n  also consistent with: {others}"
        return text

    def __repr__(self) -> str:
        diag = self.diagnoses[0] if self.diagnoses else []
        return f"AuditReport(verdict={self.verdict!r}, convention={self.convention!r}, diagnoses[0]={diag!r})"


def fit_details(fit: Fit, conv: Convention) -> dict[str, Any]:
    """A diagnosis as a JSON-ready dict: its parts in words and which probes each explains."""
    mods = {m.id: m for m in fit.modifiers}
    words = [mods[i].text(conv) if i in mods else meaning(i) for i in fit.ids]
    out: dict[str, Any] = {
        "ids": list(fit.ids),
        "meaning": "; ".join(words),
        "modifiers": [m.as_dict(conv) for m in fit.modifiers],
        "explains": [[name, n] for name, n in fit.parts],
        "explains_text": "",
        "modifier_probes": list(fit.modified),
    }
    if fit.parts:
        (base, n_base), *rest = fit.parts
        total = n_base + sum(n for _, n in rest)
        said = [f"{'the correct formula' if base == 'correct' else base} explains {n_base} of {total} probes"]
        said += [f"{i} ({mods[i].short(conv)}) explains the other {n}" for i, n in rest]
        out["explains_text"] = "; ".join(said)
    return _jsonable(out)


def _present(value: Any) -> bool:
    """False for the NaN that fills a parameter column of another kind of object."""
    return not (isinstance(value, float) and math.isnan(value))


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
