"""The catalog of classic KL mistakes, as mutations of one formula.

Every Gaussian KL the audit knows is an instance of one formula,

.. math::

    \\mathrm{KL} = s \\cdot h \\cdot R\\Big[ \\tfrac{c}{\\ln b}\\,(\\log|\\Sigma_q'| - \\log|\\Sigma_p'|)
        + \\operatorname{tr}(\\Sigma_q'^{-1}\\Sigma_p') + m\\, \\delta^T \\Sigma'^{-1} \\delta - k\\, d \\Big],

whose knobs form a small frozen :class:`Formula` state: the base ``b`` of the
logarithm and a coefficient ``c`` on the log term, the overall factor ``h``
(1/2), the constant ``k`` (on or off), the mean term ``m`` (on or off) and
whose variance scales it (q's, or p's by mistake), how a scale argument is
read (as given, or as its square root or square), the direction (KL(p||q),
KL(q||p) or their sum), the reduction ``R`` over dimensions (sum or mean)
and the sign ``s``. The correct formula is the default state; each
:class:`Mistake` changes one or two knobs, and two mistakes that change
different knobs compose into a combination.

The formula is evaluated from per-probe sufficient statistics
(:class:`Terms`), vectorised over probes, together with the sum of the
magnitudes of its terms, from which :func:`rounding_tolerance` derives how
far a naive floating-point evaluation of it may stray.

Safety code (a variance clipped to a range, a small constant added to it) is
not a knob of the formula but a change of its arguments: a
:class:`~mcverify.auditing.modifiers.Modifier` with a parameter the
diagnosis estimates. When no explanation reproduces every probe,
:func:`diagnose` tries the explanations that reproduce most of them (and the
correct formula) with a modifier estimated from the probes they leave out,
and keeps those that then reproduce every probe.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from itertools import combinations
from typing import Any, Literal

import numpy as np
from numpy.typing import NDArray
from scipy.linalg import solve_triangular

from mcverify.auditing.conventions import Convention, get_convention
from mcverify.auditing.modifiers import MODIFIER_MEANINGS, NEAR, Modifier, estimates
from mcverify.auditing.probes import Probe, ProbeSet, make_probe
from mcverify.numerics.cholesky import refined_cholesky

__all__ = [
    "CATALOG",
    "Explanation",
    "Fit",
    "Formula",
    "Mistake",
    "Prediction",
    "Terms",
    "apply",
    "diagnose",
    "distinct_predictions",
    "distinguishable",
    "evaluate",
    "explanations",
    "meaning",
    "mistake",
    "predict",
    "predict_modified",
    "probe_terms",
    "rounding_tolerance",
    "terms_for",
]

Variance = Literal["as-is", "sqrt", "square"]
Direction = Literal["forward", "reversed", "symmetric"]

#: Unit roundoff of binary64, u = 2**-53.
UNIT_ROUNDOFF = 2.0**-53
#: Error of one elementary operation in units of u: 2, because library
#: log/exp/sqrt are accurate to 1 ulp = 2u rather than correctly rounded.
OP_ERROR = 2.0
#: Rounded operations per coordinate in a naive evaluation of the formula:
#: converting the scale argument to a variance (2), two logs or a ratio and a
#: log (3), the variance ratio (1), the mean term (difference, square,
#: division: 3) and adding four terms (3).
OPS_PER_TERM = 12


@dataclass(frozen=True)
class Formula:
    """The state of the KL formula; the default is the correct one.

    Attributes
    ----------
    log_base : float
        Base of the logarithm in the log-determinant term (e for correct).
    log_coeff : float
        Extra coefficient on the log term (0.5 when log std is used where
        log variance belongs).
    half : bool
        Whether the overall factor 1/2 is there.
    constant : bool
        Whether the constant ``-d`` (inside the 1/2) is there.
    mean_term : bool
        Whether the mean-difference term is there.
    mean_scale : {"q", "p"}
        Whose covariance scales the mean difference.
    variance : {"as-is", "sqrt", "square"}
        How a scale argument becomes the variance used: as it should, its
        square root (a std used as a variance) or its square.
    direction : {"forward", "reversed", "symmetric"}
        KL(p || q), KL(q || p) or their sum.
    reduction : {"sum", "mean"}
        Over the dimensions.
    sign : int
        +1 or -1.
    """

    log_base: float = math.e
    log_coeff: float = 1.0
    half: bool = True
    constant: bool = True
    mean_term: bool = True
    mean_scale: Literal["q", "p"] = "q"
    variance: Variance = "as-is"
    direction: Direction = "forward"
    reduction: Literal["sum", "mean"] = "sum"
    sign: int = 1


@dataclass(frozen=True)
class Mistake:
    """A classic mistake: a named mutation of the :class:`Formula` state.

    Attributes
    ----------
    id : str
        Stable identifier (``"log10"``, ``"missing-mean"``...).
    meaning : str
        One line a user understands.
    fields : frozenset of str
        The Formula fields it changes; mistakes changing the same field do
        not combine.
    where : str
        The conventions it applies to, in words.
    applies : callable
        Convention -> bool.
    mutate : callable
        (Formula, Convention) -> Formula.
    """

    id: str
    meaning: str
    fields: frozenset[str]
    where: str
    applies: Callable[[Convention], bool]
    mutate: Callable[[Formula, Convention], Formula]


def _set(**changes: Any) -> Callable[[Formula, Convention], Formula]:
    return lambda f, c: replace(f, **changes)


def _swap_logs(f: Formula, c: Convention) -> Formula:
    return replace(f, variance="square" if c.scale == "logvar" else "sqrt")


def _always(c: Convention) -> bool:
    return True


#: The catalog, in the order explanations are listed when they tie.
CATALOG: tuple[Mistake, ...] = (
    Mistake(
        "log10",
        "log in base 10 instead of the natural log",
        frozenset({"log_base"}),
        "all",
        _always,
        _set(log_base=10.0),
    ),
    Mistake(
        "log2", "log in base 2 instead of the natural log", frozenset({"log_base"}), "all", _always, _set(log_base=2.0)
    ),
    Mistake(
        "reversed",
        "computes KL(q || p) instead of KL(p || q)",
        frozenset({"direction"}),
        "all",
        _always,
        _set(direction="reversed"),
    ),
    Mistake(
        "std-as-var",
        "a standard deviation used where a variance belongs",
        frozenset({"variance"}),
        "*-std",
        lambda c: c.scale == "std",
        _set(variance="sqrt"),
    ),
    Mistake(
        "var-as-std",
        "a variance used where a standard deviation belongs (squared again)",
        frozenset({"variance"}),
        "*-var",
        lambda c: c.scale == "var",
        _set(variance="square"),
    ),
    Mistake(
        "logvar-logstd-swap",
        "log-variance read as log-std, or log-std as log-variance",
        frozenset({"variance"}),
        "*-logvar, *-logstd",
        lambda c: c.log_scale,
        _swap_logs,
    ),
    Mistake("missing-half", "no overall factor 1/2", frozenset({"half"}), "all", _always, _set(half=False)),
    Mistake(
        "missing-constant",
        "drops the constant -1/2 (-d/2)",
        frozenset({"constant"}),
        "all",
        _always,
        _set(constant=False),
    ),
    Mistake(
        "missing-mean",
        "drops the mean-difference term",
        frozenset({"mean_term"}),
        "all",
        _always,
        _set(mean_term=False),
    ),
    Mistake("sign", "returns -KL", frozenset({"sign"}), "all", _always, _set(sign=-1)),
    Mistake(
        "mean-over-dims",
        "averages over dimensions instead of summing",
        frozenset({"reduction"}),
        "diag-*, mvn",
        lambda c: c.vector,
        _set(reduction="mean"),
    ),
    Mistake(
        "symmetric",
        "returns KL(p || q) + KL(q || p)",
        frozenset({"direction"}),
        "all",
        _always,
        _set(direction="symmetric"),
    ),
    Mistake(
        "half-log",
        "log std where log variance belongs: the log term is halved",
        frozenset({"log_coeff"}),
        "all",
        _always,
        _set(log_coeff=0.5),
    ),
    Mistake(
        "mean-scaled-by-p",
        "the mean difference is scaled by p's variance instead of q's",
        frozenset({"mean_scale"}),
        "pair-*, diag-pair-*, mvn",
        lambda c: c.has_q,
        _set(mean_scale="p"),
    ),
)

_BY_ID = {m.id: m for m in CATALOG}


def mistake(mistake_id: str) -> Mistake:
    """The catalog entry with this id (``KeyError`` names the known ids)."""
    try:
        return _BY_ID[mistake_id]
    except KeyError:
        raise KeyError(f"unknown mistake {mistake_id!r}: known ids are {', '.join(_BY_ID)}") from None


def meaning(part_id: str) -> str:
    """What a catalog mistake or a modifier (``"clip"``, ``"epsilon"``) means, in general."""
    if part_id in MODIFIER_MEANINGS:
        return MODIFIER_MEANINGS[part_id]
    return mistake(part_id).meaning


def apply(ids: Sequence[str], convention: Convention | str) -> Formula:
    """The formula with the given mistakes planted."""
    conv = get_convention(convention)
    f = Formula()
    for i in ids:
        f = mistake(i).mutate(f, conv)
    return f


@dataclass(frozen=True)
class Explanation:
    """A single mistake or a combination of two, in one convention."""

    ids: tuple[str, ...]
    formula: Formula

    @property
    def meaning(self) -> str:
        return "; ".join(mistake(i).meaning for i in self.ids)


def explanations(convention: Convention | str) -> list[Explanation]:
    """Every single mistake that applies to ``convention``, then every valid pair.

    Two mistakes combine when both apply and they change different fields.
    Combinations that no probe can tell apart from one of their parts are
    removed by :func:`mcverify.audit` (see :func:`distinct_predictions`).
    """
    conv = get_convention(convention)
    singles = [m for m in CATALOG if m.applies(conv)]
    out = [Explanation((m.id,), m.mutate(Formula(), conv)) for m in singles]
    for a, b in combinations(singles, 2):
        if a.fields & b.fields:
            continue
        out.append(Explanation((a.id, b.id), b.mutate(a.mutate(Formula(), conv), conv)))
    return out


# ---------------------------------------------------------------- terms
@dataclass(frozen=True)
class Terms:
    """Per-probe sufficient statistics of one reading of the scale arguments.

    All arrays have one entry per probe. ``tr_f = tr(S_q^-1 S_p)``,
    ``tr_r = tr(S_p^-1 S_q)``, ``maha_q = delta' S_q^-1 delta``,
    ``maha_p = delta' S_p^-1 delta``, ``ld_p, ld_q`` the log-determinants,
    ``abs_ld`` the sum of the absolute log-variances (or |log det|) of both,
    ``kappa`` the larger condition number of the two covariances (1 for
    diagonal ones), ``d`` the dimension, and ``exp_f``, ``exp_r`` the
    variance ratios weighted by ``|log var_p| + |log var_q|``: the error of a
    ratio computed as ``exp(logvar_p - logvar_q)``, whose rounded argument
    exp amplifies by its own size (0 for full covariances).
    """

    d: NDArray[np.float64]
    tr_f: NDArray[np.float64]
    tr_r: NDArray[np.float64]
    maha_q: NDArray[np.float64]
    maha_p: NDArray[np.float64]
    ld_p: NDArray[np.float64]
    ld_q: NDArray[np.float64]
    abs_ld: NDArray[np.float64]
    kappa: NDArray[np.float64]
    exp_f: NDArray[np.float64]
    exp_r: NDArray[np.float64]
    full: bool


def probe_terms(probes: Sequence[Probe], variance: Variance = "as-is") -> Terms:
    """Sufficient statistics of every probe with scale arguments read as ``variance``."""
    rows = [_diag_terms(p, variance) if p.cov_p is None else _full_terms(p) for p in probes]
    cols = np.array(rows, dtype=np.float64).reshape(len(rows), 11)
    full = bool(probes) and probes[0].cov_p is not None
    return Terms(
        d=cols[:, 0],
        tr_f=cols[:, 1],
        tr_r=cols[:, 2],
        maha_q=cols[:, 3],
        maha_p=cols[:, 4],
        ld_p=cols[:, 5],
        ld_q=cols[:, 6],
        abs_ld=cols[:, 7],
        kappa=cols[:, 8],
        exp_f=cols[:, 9],
        exp_r=cols[:, 10],
        full=full,
    )


def _diag_terms(p: Probe, variance: Variance) -> tuple[float, ...]:
    assert p.var_p is not None and p.var_q is not None
    assert p.logvar_p is not None and p.logvar_q is not None
    k = {"as-is": 1.0, "sqrt": 0.5, "square": 2.0}[variance]
    # Variances as read, from the variances themselves (a few ulps), never
    # as exp of a rounded log: exp amplifies the log's rounding by |log|.
    readers: dict[str, Callable[[NDArray[np.float64]], NDArray[np.float64]]] = {
        "as-is": lambda v: v,
        "sqrt": np.sqrt,
        "square": np.square,
    }
    read = readers[variance]
    lp, lq = k * p.logvar_p, k * p.logvar_q
    with np.errstate(over="ignore"):
        vp, vq = read(p.var_p), read(p.var_q)
        delta2 = (p.mean_p - p.mean_q) ** 2
        spread = np.abs(lp) + np.abs(lq)
        return (
            float(p.d),
            math.fsum((vp / vq).tolist()),
            math.fsum((vq / vp).tolist()),
            math.fsum((delta2 / vq).tolist()),
            math.fsum((delta2 / vp).tolist()),
            math.fsum(lp.tolist()),
            math.fsum(lq.tolist()),
            math.fsum(spread.tolist()),
            1.0,
            math.fsum((vp / vq * spread).tolist()),
            math.fsum((vq / vp * spread).tolist()),
        )


def _full_terms(p: Probe) -> tuple[float, ...]:
    assert p.cov_p is not None and p.cov_q is not None
    lp = refined_cholesky(np.asarray(p.cov_p, dtype=np.float64))[0]  # as the closed form does
    lq = refined_cholesky(np.asarray(p.cov_q, dtype=np.float64))[0]
    delta = p.mean_p - p.mean_q
    m_f = solve_triangular(lq, lp, lower=True)
    m_r = solve_triangular(lp, lq, lower=True)
    b_q = solve_triangular(lq, delta, lower=True)
    b_p = solve_triangular(lp, delta, lower=True)
    ld_p = 2.0 * math.fsum(np.log(np.diag(lp)).tolist())
    ld_q = 2.0 * math.fsum(np.log(np.diag(lq)).tolist())
    kappa = max(np.linalg.cond(p.cov_p), np.linalg.cond(p.cov_q))
    return (
        float(p.d),
        float(np.sum(m_f * m_f)),
        float(np.sum(m_r * m_r)),
        float(b_q @ b_q),
        float(b_p @ b_p),
        ld_p,
        ld_q,
        abs(ld_p) + abs(ld_q),
        float(kappa),
        0.0,
        0.0,
    )


# ------------------------------------------------------------- evaluation
def evaluate(formula: Formula, t: Terms) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Value of ``formula`` on every probe, and the sum of its terms' magnitudes.

    ``t`` must be the terms for ``formula.variance``. The magnitude is
    ``h * R[ |c / ln b| (|log S_p| + |log S_q|) + trace + mean term + k d
    + exp / n_ops]``, summed over both directions for a symmetric formula:
    the scale of the numbers a naive evaluation adds up, plus the
    amplification of a variance ratio computed by ``exp`` of a difference of
    logs (``exp`` is divided by ``n_ops`` because :func:`rounding_tolerance`
    multiplies by it, and that error is not multiplied by the operation
    count).
    """
    c = formula.log_coeff / math.log(formula.log_base)
    mean_on = 1.0 if formula.mean_term else 0.0
    const = 1.0 if formula.constant else 0.0
    maha_fwd, maha_rev = (t.maha_q, t.maha_p) if formula.mean_scale == "q" else (t.maha_p, t.maha_q)
    fwd = c * (t.ld_q - t.ld_p) + t.tr_f + mean_on * maha_fwd - const * t.d
    rev = c * (t.ld_p - t.ld_q) + t.tr_r + mean_on * maha_rev - const * t.d
    mag_f = abs(c) * t.abs_ld + t.tr_f + mean_on * maha_fwd + const * t.d + t.exp_f / _ops(t)
    mag_r = abs(c) * t.abs_ld + t.tr_r + mean_on * maha_rev + const * t.d + t.exp_r / _ops(t)
    if formula.direction == "forward":
        value, mag = fwd, mag_f
    elif formula.direction == "reversed":
        value, mag = rev, mag_r
    else:
        value, mag = fwd + rev, mag_f + mag_r
    factor = (0.5 if formula.half else 1.0) * formula.sign
    value, mag = factor * value, abs(factor) * mag
    if formula.reduction == "mean":
        value, mag = value / t.d, mag / t.d
    return value, mag


def _ops(t: Terms) -> NDArray[np.float64]:
    return n_ops(t.d, t.full)


def n_ops(d: NDArray[np.float64], full: bool) -> NDArray[np.float64]:
    """Rounded operations of a naive evaluation: per coordinate, then summing d of them.

    With full covariances an explicit inverse, a determinant and the
    matrix products add inner products of length d to every term.
    """
    return OPS_PER_TERM + (4.0 * d if full else d)


def rounding_tolerance(magnitude: NDArray[np.float64], t: Terms) -> NDArray[np.float64]:
    """How far a naive floating-point evaluation may stray from the exact value.

    ``OP_ERROR * n_ops * u * magnitude * kappa``: the standard bound
    ``gamma_n * sum |terms|`` for a sum of terms each computed with ``n``
    rounded operations (Higham, *Accuracy and Stability of Numerical
    Algorithms*, 2nd ed., 2002, sec. 3.1 and 4.2), times the condition
    number of the covariances for an explicit inverse and determinant
    (backward stability of LU: the computed inverse and determinant are
    exact for a matrix perturbed by ``O(d u)`` relative to its norm).
    """
    return OP_ERROR * n_ops(t.d, t.full) * UNIT_ROUNDOFF * magnitude * t.kappa


# -------------------------------------------------------------- diagnosis
@dataclass(frozen=True)
class Prediction:
    """An explanation's values and rounding tolerances on a probe set."""

    explanation: Explanation
    value: NDArray[np.float64]
    tol: NDArray[np.float64]


def predict(explanation: Explanation, terms: dict[str, Terms]) -> Prediction:
    """Evaluate an explanation on probes whose terms are given per variance reading."""
    t = terms[explanation.formula.variance]
    value, mag = evaluate(explanation.formula, t)
    return Prediction(explanation, value, rounding_tolerance(mag, t))


def terms_for(probes: Sequence[Probe], convention: Convention | str) -> dict[str, Terms]:
    """Terms of the probes under every variance reading the convention's mistakes use."""
    conv = get_convention(convention)
    readings: list[Variance] = ["as-is"] if conv.family == "mvn" else ["as-is", "sqrt", "square"]
    return {v: probe_terms(probes, v) for v in readings}


def distinguishable(a: Prediction, b: Prediction) -> bool:
    """True when some probe tells the two apart beyond both tolerances."""
    with np.errstate(invalid="ignore"):
        return bool(np.any(np.abs(a.value - b.value) > a.tol + b.tol))


def distinct_predictions(predictions: Sequence[Prediction], correct: Prediction) -> list[Prediction]:
    """Drop combinations that the probes cannot tell apart from one of their parts.

    ``missing-mean`` with ``mean-scaled-by-p`` is ``missing-mean`` again, and
    must not be offered as a second explanation of the same behaviour.
    """
    singles = {p.explanation.ids[0]: p for p in predictions if len(p.explanation.ids) == 1}
    out = []
    for p in predictions:
        ids = p.explanation.ids
        if len(ids) > 1 and not (distinguishable(p, correct) and all(distinguishable(p, singles[i]) for i in ids)):
            continue
        out.append(p)
    return out


@dataclass(frozen=True)
class Fit:
    """An explanation that reproduces the candidate on every finite probe.

    ``residual`` is the largest ``|candidate - prediction| / tolerance``.
    ``ids`` lists the catalog mistakes, then the modifiers' ids (``"sign",
    "clip"``); ``modifiers`` holds the modifiers with their estimated
    parameters, and ``parts`` how many finite probes each part explains:
    the mistakes (or the correct formula, ``"correct"``) without the
    modifiers, then the modifiers the rest (empty without modifiers);
    ``modified`` lists those probes, the ones only the modifiers explain.
    """

    ids: tuple[str, ...]
    residual: float
    modifiers: tuple[Modifier, ...] = ()
    parts: tuple[tuple[str, int], ...] = ()
    modified: tuple[int, ...] = ()


def diagnose(
    values: NDArray[np.float64],
    predictions: Sequence[Prediction],
    probes: ProbeSet | None = None,
    correct: Prediction | None = None,
) -> list[Fit]:
    """Every explanation that reproduces ``values`` within tolerance, simplest first.

    Only probes where the candidate returned a finite number count. Order:
    single mistakes before pairs, then by residual, then catalog order.
    When none fits and ``probes`` is given, explanations with a modifier
    (:func:`modified_fits`) are tried: ``correct`` is the correct formula's
    prediction, the first of those bases.
    """
    ok = np.isfinite(values)
    fits = []
    for rank, p in enumerate(predictions):
        worst = _worst(values, p, ok)
        if worst <= 1.0:
            fits.append((len(p.explanation.ids), worst, rank, Fit(p.explanation.ids, worst)))
    fits.sort(key=lambda t: t[:3])
    if fits or probes is None:
        return [t[3] for t in fits]
    bases = ([correct] if correct is not None else []) + list(predictions)
    return modified_fits(values, bases, probes)


def _worst(values: NDArray[np.float64], p: Prediction, ok: NDArray[np.bool_]) -> float:
    with np.errstate(invalid="ignore", divide="ignore"):
        r = np.abs(values[ok] - p.value[ok]) / p.tol[ok]
    r = np.where(np.isnan(r), np.inf, r)
    return float(np.max(r)) if r.size else math.inf


#: An explanation is a base for a modifier when it reproduces at least this
#: share of the finite probes by itself, to a relative ``NEAR`` (a clip acts
#: at the extremes only, an epsilon is small next to most variances).
BASE_SHARE = 0.5
#: How many bases (most probes explained first) get a modifier estimated.
MAX_BASES = 4


def modified_fits(values: NDArray[np.float64], bases: Sequence[Prediction], probes: ProbeSet) -> list[Fit]:
    """Explanations made whole by one modifier, fewest mistakes first.

    A base (the correct formula or a catalog explanation) that reproduces
    between :data:`BASE_SHARE` and all but one of the finite probes gets
    modifiers estimated from those it leaves out
    (:func:`mcverify.auditing.modifiers.estimates`); the first estimate
    with which the base reproduces every finite probe is kept. An
    explanation thus leaves out probes only where its modifier explains
    them.
    """
    conv = probes.convention
    ok = np.isfinite(values)
    n_ok = int(ok.sum())
    scored = []
    for rank, p in enumerate(bases):
        with np.errstate(invalid="ignore"):
            gap = np.abs(values - p.value)
            within = ok & (gap <= p.tol)
            near = ok & (gap <= p.tol + NEAR * np.abs(p.value))
        count = int(within.sum())
        if BASE_SHARE * n_ok <= int(near.sum()) and count < n_ok:
            scored.append((-int(near.sum()), -count, len(p.explanation.ids), rank, p, within, near))
    scored.sort(key=lambda t: t[:4])
    fits = []
    for _, neg_count, _, rank, base, within, near in scored[:MAX_BASES]:
        formula = base.explanation.formula

        def value_at(params: dict[str, Any], formula: Formula = formula) -> float:
            t = probe_terms([make_probe(conv, params)], formula.variance)
            return float(evaluate(formula, t)[0][0])

        for mod in estimates(values, within, near, probes, value_at):
            worst = _modified_residual(values, ok, base, mod, probes)
            if worst <= 1.0:
                ids = base.explanation.ids
                parts = ((" + ".join(ids) or "correct", -neg_count), (mod.id, n_ok + neg_count))
                modified = tuple(int(i) for i in np.flatnonzero(ok & ~within))
                fits.append((len(ids), worst, rank, Fit((*ids, mod.id), worst, (mod,), parts, modified)))
                break
    fits.sort(key=lambda t: t[:3])
    return [t[3] for t in fits]


#: Probes checked first when a modifier is verified: one that fails there is
#: dropped before the other probes are computed.
FIRST_CHECKS = 8


def _modified_residual(
    values: NDArray[np.float64], ok: NDArray[np.bool_], base: Prediction, mod: Modifier, probes: ProbeSet
) -> float:
    """The worst residual of ``base`` with ``mod`` (inf when a probe is not reproduced).

    Only probes whose arguments the modifier changes are evaluated again (a
    clip leaves most unchanged: there the base's prediction stands), a few
    spread-out ones first; :func:`predict_modified` is the plain version.
    """
    conv = probes.convention
    changed: list[int] = []
    new_params: list[dict[str, Any]] = []
    for p in probes.probes:
        params = mod.transform(p.params, conv)
        if any(not np.array_equal(params[k], p.params[k]) for k in params):
            changed.append(p.index)
            new_params.append(params)
    picks = sorted({int(i) for i in np.linspace(0, len(changed) - 1, min(FIRST_CHECKS, len(changed))).round()})
    rest = [k for k in range(len(changed)) if k not in set(picks)]
    value, tol = base.value.copy(), base.tol.copy()
    formula = base.explanation.formula
    for chunk in (picks, rest):
        if not chunk:
            continue
        idx = [changed[k] for k in chunk]
        try:
            t = probe_terms([make_probe(conv, new_params[k]) for k in chunk], formula.variance)
        except ValueError:  # the modifier makes a scale invalid
            return math.inf
        v, mag = evaluate(formula, t)
        value[idx], tol[idx] = v, rounding_tolerance(mag, t)
        mask = np.zeros(len(values), dtype=bool)
        mask[idx] = True
        if _worst(values, Prediction(base.explanation, value, tol), ok & mask) > 1.0:
            return math.inf
    return _worst(values, Prediction(base.explanation, value, tol), ok)


def predict_modified(explanation: Explanation, modifiers: Sequence[Modifier], probes: ProbeSet) -> Prediction:
    """An explanation's values on probes whose arguments the modifiers change first.

    Raises ``ValueError`` when a modifier makes a probe invalid (a scale
    clipped to zero).
    """
    conv = probes.convention
    changed = []
    for p in probes.probes:
        params = p.params
        for m in modifiers:
            params = m.transform(params, conv)
        changed.append(make_probe(conv, params, index=p.index))
    t = probe_terms(changed, explanation.formula.variance)
    value, mag = evaluate(explanation.formula, t)
    return Prediction(explanation, value, rounding_tolerance(mag, t))
