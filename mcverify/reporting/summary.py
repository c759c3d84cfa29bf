"""Summaries of results tables: counts, worst errors per method, breakdowns.

Pure functions over a DataFrame that return plain values and small frames;
the renderers (:mod:`mcverify.reporting.documents`, :mod:`mcverify.reporting.html`) and
the CLI turn them into text. Any table is handled by its columns:

- a ``run`` table (``kl_closed`` and ``verdict``): Monte Carlo, quadrature
  and direct quadrature against the closed form;
- an ``audit`` probe table (``candidate``, ``truth``, ``status``): the
  candidate against the truth;
- any other table: a ``verdict`` or ``status`` column is counted, and every
  ``kl_<method>`` column is compared with ``kl_closed`` when both exist.

For a method with value :math:`v_i` and reference :math:`r_i` at case
:math:`i`, the absolute error is :math:`|v_i - r_i|`, the relative error
:math:`|v_i - r_i| / |r_i|` (undefined where :math:`r_i = 0`), and, where the
method has a tolerance :math:`t_i`, the error in tolerances
:math:`|v_i - r_i| / t_i` (a case fails the method when it exceeds 1).
Monte Carlo also has its z-score and fails when its multiplicity-adjusted
p-value is at most the run's ``alpha``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from typing import Any, SupportsFloat, cast

import numpy as np
import pandas as pd

from mcverify.formatting import exact_or_more
from mcverify.stats.rates import fit_rate
from mcverify.tables.textformats import jsonable

__all__ = [
    "Method",
    "Summary",
    "breakdown",
    "case_labels",
    "convergence_slope",
    "dimension_column",
    "methods_for",
    "parameter_columns",
    "parameter_label",
    "summarize",
    "sweep_axes",
    "table_kind",
    "zero_crossings",
]

#: Family-wise level assumed for Monte Carlo when the provenance does not say.
DEFAULT_ALPHA = 0.01
#: Parameters with at most this many distinct values get a row per value.
MAX_LEVELS = 12
#: Otherwise their range is cut into this many bins.
BINS = 8


def table_kind(frame: pd.DataFrame) -> str:
    """``"run"``, ``"audit"`` or ``"table"`` (anything else), from the columns."""
    cols = set(frame.columns)
    if {"kl_closed", "kl_mc", "verdict"} <= cols:
        return "run"
    if {"candidate", "truth", "status"} <= cols:
        return "audit"
    return "table"


@dataclass(frozen=True)
class Method:
    """How to judge one method of a table against its reference.

    Attributes
    ----------
    label : str
        How reports name it: ``"Monte Carlo"``, ``"quadrature"``...
    value, reference : str
        Columns of its values and of the reference values.
    tolerance : callable or None
        ``frame -> Series`` of allowed absolute errors; a case fails the
        method when its error exceeds it.
    z : str or None
        Column of z-scores (Monte Carlo).
    p_adjusted : str or None
        Column of multiplicity-adjusted p-values; a case fails when it is at
        most alpha.
    reliable : str or None
        Column telling whether the method vouches for its value.
    """

    label: str
    value: str
    reference: str
    tolerance: Callable[[pd.DataFrame], pd.Series] | None = None
    z: str | None = None
    p_adjusted: str | None = None
    reliable: str | None = None

    def present(self, frame: pd.DataFrame) -> bool | np.bool_:
        """Whether the table has this method's values for at least one case."""
        return self.value in frame and self.reference in frame and frame[self.value].notna().any()

    def errors(self, frame: pd.DataFrame) -> pd.DataFrame:
        """Per case: ``abs``, ``rel``, ``tol_ratio``, ``abs_z`` and ``fail`` (NaN where undefined)."""
        v = pd.to_numeric(frame[self.value], errors="coerce").astype(float)
        r = pd.to_numeric(frame[self.reference], errors="coerce").astype(float)
        with np.errstate(divide="ignore", invalid="ignore"):
            err = (v - r).abs()
            rel = err / r.abs()
        rel[(r == 0) | ~np.isfinite(r)] = np.nan  # a relative error of a zero reference is undefined
        out = pd.DataFrame({"abs": err, "rel": rel}, index=frame.index)
        fail = pd.Series(False, index=frame.index)
        if self.tolerance is not None:
            tol = self.tolerance(frame).astype(float)
            with np.errstate(divide="ignore", invalid="ignore"):
                out["tol_ratio"] = err / tol
            fail |= v.notna() & ~(err <= tol)
        if self.z is not None and self.z in frame:
            out["abs_z"] = pd.to_numeric(frame[self.z], errors="coerce").astype(float).abs()
        out["fail"] = fail
        return out


def _closed_tolerance(frame: pd.DataFrame) -> pd.Series:
    """The closed form's own accuracy: quad_tolerance minus quad's error estimate."""
    return (frame["quad_tolerance"] - frame["quad_error"]).clip(lower=0.0)


def methods_for(frame: pd.DataFrame) -> list[Method]:
    """The methods a table holds, in report order."""
    kind = table_kind(frame)
    if kind == "audit":
        tol = (lambda f: f["tolerance"]) if "tolerance" in frame else None
        return [Method("candidate", "candidate", "truth", tolerance=tol)]
    out: list[Method] = []
    if "kl_closed" not in frame:
        return out
    if "kl_mc" in frame:
        out.append(
            Method(
                "Monte Carlo",
                "kl_mc",
                "kl_closed",
                z="mc_z",
                p_adjusted="mc_p_adjusted" if "mc_p_adjusted" in frame else None,
            )
        )
    if "kl_quad" in frame:
        tol = (lambda f: f["quad_tolerance"]) if "quad_tolerance" in frame else None
        out.append(
            Method(
                "quadrature",
                "kl_quad",
                "kl_closed",
                tolerance=tol,
                reliable="quad_reliable" if "quad_reliable" in frame else None,
            )
        )
    if "kl_quad_direct" in frame:
        tol = None
        if {"quad_direct_error", "quad_tolerance", "quad_error"} <= set(frame.columns):

            def tol(f: pd.DataFrame) -> pd.Series:
                return f["quad_direct_error"] + _closed_tolerance(f)

        out.append(
            Method(
                "direct quadrature",
                "kl_quad_direct",
                "kl_closed",
                tolerance=tol,
                reliable="quad_direct_reliable" if "quad_direct_reliable" in frame else None,
            )
        )
    known = {"kl_closed", "kl_mc", "kl_quad", "kl_quad_direct"}
    for col in frame.columns:  # kl_<method> columns of tables mcverify does not know yet
        if (
            isinstance(col, str)
            and col.startswith("kl_")
            and col not in known
            and pd.api.types.is_numeric_dtype(frame[col])
        ):
            out.append(Method(col[3:].replace("_", " "), col, "kl_closed"))
    return out


def dimension_column(frame: pd.DataFrame) -> str | None:
    """``dim`` (run tables) or ``d`` (audit tables), if there is one."""
    for c in ("dim", "d"):
        if c in frame:
            return c
    return None


def parameter_columns(frame: pd.DataFrame) -> list[str]:
    """The swept or probed parameters: ``param:*`` columns, or an audit's arguments.

    An audit table lists the candidate's arguments between ``d`` and
    ``candidate``; only those holding numbers (not vectors) count here.
    """
    params = [c for c in frame.columns if isinstance(c, str) and c.startswith("param:")]
    if params or table_kind(frame) != "audit":
        return params
    cols = list(frame.columns)
    start = cols.index("d") + 1 if "d" in cols else 0
    out = []
    for c in cols[start : cols.index("candidate")]:
        if c in ("probe", "group") or not pd.api.types.is_numeric_dtype(frame[c]):
            continue
        out.append(c)
    return out


def parameter_label(column: str) -> str:
    """``param:p.std`` -> ``p.std``."""
    return column[6:] if column.startswith("param:") else column


def case_labels(frame: pd.DataFrame) -> pd.Series:
    """A readable label per row: ``name``, or an audit probe's arguments."""
    if "name" in frame:
        return frame["name"].astype(str)
    params = parameter_columns(frame)
    if params:

        def label(row: pd.Series) -> str:
            return ", ".join(f"{parameter_label(c)} = {_num(row[c])}" for c in params)

        prefix = frame["probe"].astype(str) + ": " if "probe" in frame else ""
        return prefix + frame.apply(label, axis=1)
    return pd.Series([f"row {i}" for i in range(len(frame))], index=frame.index)


def _num(x: Any) -> str:
    """6 significant digits, or 12 when a value needs them to be told apart (``1.00000001``)."""
    try:
        v = float(x)
    except (TypeError, ValueError):
        return str(x)
    return exact_or_more(v)


def _status(frame: pd.DataFrame) -> tuple[str | None, pd.Series | None]:
    """The verdict column and a boolean Series 'passes' (None when the table has neither)."""
    if "verdict" in frame:
        return "verdict", frame["verdict"].astype(str).str.lower().eq("pass")
    if "status" in frame:
        return "status", frame["status"].astype(str).str.lower().isin(["ok", "pass"])
    return None, None


def _method_fail(method: Method, frame: pd.DataFrame, errs: pd.DataFrame, alpha: float) -> pd.Series:
    fail = errs["fail"].copy()
    if method.p_adjusted is not None:
        fail |= pd.to_numeric(frame[method.p_adjusted], errors="coerce") <= alpha
    return fail


def _worst(values: pd.Series, labels: pd.Series) -> tuple[float, str]:
    finite = values.replace([np.inf, -np.inf], np.nan)
    if values.isin([np.inf]).any():
        i = values[values == np.inf].index[0]
        return math.inf, str(labels[i])
    if finite.notna().any():
        i = finite.idxmax()
        return float(finite[i]), str(labels[i])  # type: ignore[call-overload]  # pandas-stubs: idxmax gives a Hashable, [] takes a Scalar
    return math.nan, ""


@dataclass(frozen=True)
class Summary:
    """What a results table says, in numbers.

    Attributes
    ----------
    kind : {"run", "audit", "table"}
    rows : int
        Cases (run), probes (audit) or rows.
    status_column : str or None
        ``verdict`` or ``status``, when the table has one.
    passed, failed : int or None
        Rows that pass and that do not (None without a status column).
    counts : dict
        Rows per value of the status column (``{"pass": 119, "fail": 1}``).
    alpha : float
        Family-wise level the Monte Carlo failures are counted at.
    methods : pandas.DataFrame
        One row per method: ``method``, ``cases``, ``fail``, ``unreliable``,
        the largest absolute error, relative error, error in tolerances and
        |z|, each with the case where it occurs (``... at``).
    by_dimension, by_group : pandas.DataFrame or None
        :func:`breakdown` by ``dim`` and by ``group`` (and direction).
    by_parameter : dict of str -> pandas.DataFrame
        :func:`breakdown` by each swept or probed parameter.
    failures : pandas.DataFrame
        The failing rows: ``case`` and ``reason`` (or ``status`` and
        ``message``), at most ``max_failures``.
    more_failures : int
        Failing rows left out of ``failures``.
    seconds : float or None
        Total of the ``seconds`` column (run tables).
    numeric : pandas.DataFrame or None
        For tables of other kinds: ``column, count, min, median, max`` of
        every numeric column.
    """

    kind: str
    rows: int
    status_column: str | None
    passed: int | None
    failed: int | None
    counts: dict[str, int]
    alpha: float
    methods: pd.DataFrame
    by_dimension: pd.DataFrame | None
    by_group: pd.DataFrame | None
    by_parameter: dict[str, pd.DataFrame] = field(default_factory=dict)
    failures: pd.DataFrame = field(default_factory=pd.DataFrame)
    more_failures: int = 0
    seconds: float | None = None
    numeric: pd.DataFrame | None = None

    def headline(self) -> str:
        """``"120 cases: 119 pass, 1 fail"``."""
        what = {"run": "case", "audit": "probe"}.get(self.kind, "row")
        text = f"{self.rows} {what}{'s' * (self.rows != 1)}"
        if self.passed is not None:
            text += f": {self.passed} pass, {self.failed} fail"
        return text

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready: frames become lists of records (see :func:`mcverify.tables.writers.jsonable`)."""

        def records(f: pd.DataFrame | None) -> list[dict[Hashable, Any]] | None:
            return None if f is None else f.to_dict(orient="records")

        return jsonable(
            {
                "kind": self.kind,
                "rows": self.rows,
                "status_column": self.status_column,
                "passed": self.passed,
                "failed": self.failed,
                "counts": self.counts,
                "alpha": self.alpha,
                "seconds": self.seconds,
                "methods": records(self.methods),
                "by_dimension": records(self.by_dimension),
                "by_group": records(self.by_group),
                "by_parameter": {k: records(v) for k, v in self.by_parameter.items()},
                "failures": records(self.failures),
                "more_failures": self.more_failures,
                "numeric": records(self.numeric),
            }
        )


def summarize(frame: pd.DataFrame, *, alpha: float | None = None, max_failures: int = 20) -> Summary:
    """Summarize a results table.

    Parameters
    ----------
    frame : pandas.DataFrame
        A run, audit or other results table.
    alpha : float, optional
        Family-wise level of the run's Monte Carlo tests (from its
        provenance); default 0.01, the run's own default.
    max_failures : int
        How many failing rows to list.

    Returns
    -------
    Summary
    """
    alpha = DEFAULT_ALPHA if alpha is None else float(alpha)
    kind = table_kind(frame)
    labels = case_labels(frame)
    status_col, passes = _status(frame)
    counts = {str(k): int(v) for k, v in frame[status_col].value_counts(sort=False).items()} if status_col else {}

    rows = []
    for m in methods_for(frame):
        if not m.present(frame):
            continue
        errs = m.errors(frame)
        has = frame[m.value].notna()
        row: dict[str, Any] = {
            "method": m.label,
            "cases": int(has.sum()),
            "fail": int(_method_fail(m, frame, errs, alpha)[has].sum()),
        }
        if m.reliable is not None:
            rel = frame[m.reliable]
            row["unreliable"] = int((rel.notna() & (rel == False)).sum())  # noqa: E712 - nullable booleans
        else:
            row["unreliable"] = math.nan
        for key, title in (
            ("abs", "max abs error"),
            ("rel", "max rel error"),
            ("tol_ratio", "max error / tolerance"),
            ("abs_z", "max |z|"),
        ):
            if key in errs:
                value, at = _worst(errs[key][has], labels[has])
            else:
                value, at = math.nan, ""
            row[title], row[f"{title} at"] = value, at
        rows.append(row)
    methods = pd.DataFrame(rows)

    dim = dimension_column(frame)
    by_dimension = breakdown(frame, dim, alpha=alpha) if dim else None
    by_group = None
    if "group" in frame:
        group_key = frame["group"].astype(str)
        if "direction" in frame and frame["direction"].nunique() > 1:
            group_key = group_key + frame["direction"].map(lambda d: "" if d == "forward" else f" ({d})")
        by_group = breakdown(frame.assign(_group=group_key), "_group", alpha=alpha).rename(columns={"_group": "group"})
    by_parameter = {}
    for col in parameter_columns(frame):
        b = breakdown(frame, col, alpha=alpha)
        if len(b):
            by_parameter[col] = b

    failures = pd.DataFrame(columns=["case", "reason"])
    more = 0
    if passes is not None:
        bad = frame[~passes]
        more = max(0, len(bad) - max_failures)
        bad = bad.head(max_failures)
        reason = "reason" if "reason" in frame else "message" if "message" in frame else None
        failures = pd.DataFrame({"case": labels[bad.index].to_numpy()})
        if status_col == "status":
            failures["status"] = bad["status"].to_numpy()
            for col in ("candidate", "truth", "error"):
                if col in frame:
                    failures[col] = bad[col].to_numpy()
        if reason is not None and (bad[reason].astype(str) != "").any():
            failures["reason"] = bad[reason].astype(str).to_numpy()
    seconds = float(frame["seconds"].sum()) if "seconds" in frame and kind == "run" else None
    numeric = None
    if kind == "table":
        cols = [
            c
            for c in frame.columns
            if pd.api.types.is_numeric_dtype(frame[c]) and not pd.api.types.is_bool_dtype(frame[c])
        ]
        numeric = pd.DataFrame(
            [
                {
                    "column": c,
                    "count": int(frame[c].notna().sum()),
                    "min": float(frame[c].min()),
                    "median": float(frame[c].median()),
                    "max": float(frame[c].max()),
                }
                for c in cols
            ]
        )
    return Summary(
        kind=kind,
        rows=len(frame),
        status_column=status_col,
        passed=None if passes is None else int(passes.sum()),
        failed=None if passes is None else int((~passes).sum()),
        counts=counts,
        alpha=alpha,
        methods=methods,
        by_dimension=by_dimension,
        by_group=by_group,
        by_parameter=by_parameter,
        failures=failures,
        more_failures=more,
        seconds=seconds,
        numeric=numeric,
    )


def _bins(values: pd.Series) -> tuple[pd.Series, list[str]]:
    """Bin labels per row (NaN rows excluded) and the labels in order."""
    v = values.dropna().astype(float)
    levels = np.sort(v.unique())
    if len(levels) <= MAX_LEVELS:
        if pd.api.types.is_integer_dtype(values.dtype):  # dimensions, draws: keep the numbers
            return values.dropna(), list(np.sort(values.dropna().unique()))
        names = {x: _num(x) for x in levels}
        return v.map(names), [names[x] for x in levels]
    lo, hi = float(levels[0]), float(levels[-1])
    logscale = lo > 0 and hi / lo > 100
    t = np.log10(v) if logscale else v
    edges = np.linspace(float(t.min()), float(t.max()), BINS + 1)
    bin_of = np.clip(np.searchsorted(edges, t, side="right") - 1, 0, BINS - 1)
    idx = pd.Series(bin_of, index=v.index)
    names = {}
    for k in sorted(idx.unique()):
        members = v[idx == k]
        a, b = float(members.min()), float(members.max())
        names[k] = _num(a) if a == b else f"[{_num(a)}, {_num(b)}]"
    return idx.map(names), [names[k] for k in sorted(names)]


def breakdown(frame: pd.DataFrame, column: str, *, alpha: float = DEFAULT_ALPHA) -> pd.DataFrame:
    """Cases, failures and the worst error of each method, per value of ``column``.

    A numeric column with more than :data:`MAX_LEVELS` distinct values is
    cut into :data:`BINS` equal bins (in log10 when its values are positive
    and span more than two decades), labelled by the range of the values
    that fall in each. Rows where ``column`` is missing are left out.

    Returns
    -------
    pandas.DataFrame
        Columns: ``column``, ``cases``, ``fail`` (when the table has a
        status), then per method its largest |z| (Monte Carlo), relative
        error, or error in tolerances.
    """
    present = frame[frame[column].notna()]
    if present.empty:
        return pd.DataFrame(columns=[column, "cases"])
    if pd.api.types.is_numeric_dtype(present[column]) and not pd.api.types.is_bool_dtype(present[column]):
        keys, order = _bins(present[column])
    else:
        keys = present[column].astype(str)
        order = list(dict.fromkeys(keys))
    _, passes = _status(present)
    methods = [(m, m.errors(present)) for m in methods_for(present) if m.present(present)]
    rows = []
    for key in order:
        idx = keys.index[keys == key]
        row: dict[str, Any] = {column: key, "cases": len(idx)}
        if passes is not None:
            row["fail"] = int((~passes[idx]).sum())
        for m, errs in methods:
            e = errs.loc[idx]
            for key, title in _headline(m, e):
                row[f"{m.label} {title}"] = _max(e[key])
        rows.append(row)
    return pd.DataFrame(rows)


def _headline(m: Method, errs: pd.DataFrame) -> list[tuple[str, str]]:
    """The one or two numbers a breakdown shows for a method."""
    if "abs_z" in errs:  # Monte Carlo: the error in standard errors (a relative error means little at p = q)
        return [("abs_z", "max |z|")]
    if m.label == "candidate":
        return [("abs", "max abs error")] + ([("tol_ratio", "max error / tolerance")] if "tol_ratio" in errs else [])
    if "tol_ratio" in errs:
        return [("tol_ratio", "max error / tolerance")]
    return [("rel", "max rel error")]


def _max(s: pd.Series) -> float:
    s = s.dropna()
    return float(s.max()) if len(s) else math.nan


def sweep_axes(frame: pd.DataFrame, *, min_points: int = 3) -> list[dict[str, Any]]:
    """The one- and two-parameter sweeps of a table, for plotting.

    Within each group (and direction), the ``param:*`` columns that vary are
    the sweep's axes; random draws (``param:draw``) are not an axis. For an
    audit table, each probe group in which exactly one argument varies is a
    sweep along it.

    Returns
    -------
    list of dict
        ``{"group", "direction", "axes": [columns], "rows": index}`` for
        every sweep with one or two axes and at least ``min_points`` rows.
    """
    out: list[dict[str, Any]] = []
    if "group" not in frame:
        return out
    keys = ["group"] + (["direction"] if "direction" in frame else [])
    params = [c for c in parameter_columns(frame) if c != "param:draw"]
    for key, sub in frame.groupby(keys, sort=False):
        key = key if isinstance(key, tuple) else (key,)
        varying = [c for c in params if sub[c].notna().all() and sub[c].nunique() > 1]
        # In the config's order: the last parameter varies fastest from row to row.
        varying.sort(key=lambda c: int((sub[c].to_numpy()[1:] != sub[c].to_numpy()[:-1]).sum()))
        fixed_draws = "param:draw" not in sub or sub["param:draw"].nunique() <= 1
        if len(varying) == 2:  # a heat map needs a full grid
            grid = sub[varying[0]].nunique() * sub[varying[1]].nunique()
            if grid != len(sub) or sub.duplicated(varying).any():
                continue
        if 1 <= len(varying) <= 2 and len(sub) >= min_points and fixed_draws:
            out.append(
                {
                    "group": key[0],
                    "direction": key[1] if len(key) > 1 else None,
                    "axes": varying,
                    "rows": sub.index,
                }
            )
    return out


def zero_crossings(x: np.ndarray | pd.Series, y: np.ndarray | pd.Series) -> list[float]:
    """Where the piecewise-linear interpolant of ``y(x)`` changes sign (or touches 0).

    For adjacent points with :math:`y_i y_{i+1} < 0` the crossing is
    :math:`x_i - y_i (x_{i+1} - x_i) / (y_{i+1} - y_i)`; points with
    :math:`y_i = 0` are crossings themselves. ``x`` must be increasing.
    """
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    out: list[float] = []
    for i in range(len(x)):
        if y[i] == 0.0:
            out.append(float(x[i]))
        elif i + 1 < len(x) and np.isfinite(y[i]) and np.isfinite(y[i + 1]) and y[i] * y[i + 1] < 0:
            out.append(float(x[i] - y[i] * (x[i + 1] - x[i]) / (y[i + 1] - y[i])))
    return out


_STATISTICS: dict[str, Callable[[pd.Series], float]] = {
    "median": lambda s: float(s.median()),
    "mean": lambda s: float(s.mean()),
    "rms": lambda s: float(np.sqrt(np.mean(np.square(s)))),
}


def convergence_slope(
    frame: pd.DataFrame, *, x: str = "samples", y: str = "rel_err_mc", statistic: str = "median"
) -> dict[str, Any]:
    r"""Fit :math:`\log_{10} e(n) = a + b \log_{10} n` to an error statistic per sample size.

    Parameters
    ----------
    frame : pandas.DataFrame
        Rows at several sample sizes ``x`` with an error column ``y``;
        non-finite and non-positive errors are left out.
    statistic : {"median", "mean", "rms"}
        How the errors of the cases at one sample size are combined.

    Returns
    -------
    dict
        ``x`` and ``y`` (the sample sizes and the statistic at each),
        ``slope`` :math:`b`, ``intercept`` :math:`a`, and ``slope_stderr``,
        the ordinary least-squares standard error of :math:`b` (NaN with
        fewer than three sizes), from :func:`mcverify.stats.rates.fit_rate`.

    Notes
    -----
    A Monte Carlo mean of :math:`n` draws has standard error
    :math:`\sigma / \sqrt{n}`, so any fixed quantile of its absolute error
    scales as :math:`n^{-1/2}`: a slope near :math:`-1/2` confirms the
    estimator converges at the Monte Carlo rate (Robert and Casella, *Monte
    Carlo Statistical Methods*, 2004, sec. 3.2).
    """
    if statistic not in _STATISTICS:
        raise ValueError(f"unknown statistic {statistic!r}: use one of {', '.join(_STATISTICS)}")
    f = frame[[x, y]].replace([np.inf, -np.inf], np.nan).dropna()
    f = f[(f[x] > 0) & (f[y] > 0)]
    stat = _STATISTICS[statistic]
    groups = [(float(cast(SupportsFloat, n)), stat(g[y])) for n, g in f.groupby(x, sort=True)]  # x: a numeric column
    xs = np.array([g[0] for g in groups])
    ys = np.array([g[1] for g in groups])
    fit = fit_rate(xs, ys)
    return {
        "x": xs.tolist(),
        "y": ys.tolist(),
        "slope": fit.slope,
        "intercept": fit.intercept / math.log(10.0),  # log10 of the error at n = 1
        "slope_stderr": fit.stderr,
        "statistic": statistic,
    }
