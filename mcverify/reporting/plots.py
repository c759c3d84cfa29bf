"""Plots of results tables, on :class:`matplotlib.figure.Figure` (never pyplot).

Every plotting function takes a DataFrame and ``ax=None`` and returns the
Axes it drew on: pass an Axes to draw into your own figure, or leave it out
to get a new Figure (no global state, safe in threads and servers).
:func:`save_figure` writes a figure as PNG and SVG, and
:func:`standard_figures` picks the plots that suit a table.

matplotlib is an optional dependency: ``pip install 'mcverify[plots]'``.
Importing this module does not need it; calling a plot does.
"""

from __future__ import annotations

import io
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import numpy as np
import pandas as pd

from mcverify.extras import require_extra
from mcverify.reporting.summary import (
    DEFAULT_ALPHA,
    convergence_slope,
    parameter_label,
    sweep_axes,
    table_kind,
    zero_crossings,
)
from mcverify.tables.writers import atomic_write

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = [
    "FigureItem",
    "figure_bytes",
    "kl_yscale",
    "legend_below",
    "new_axes",
    "plot_audit_errors",
    "plot_audit_sweep",
    "plot_convergence",
    "plot_errors",
    "plot_gradient_errors",
    "plot_heatmap",
    "plot_kl_sweep",
    "plot_mc_difference",
    "plot_probes",
    "plot_z_histogram",
    "plot_zscores",
    "save_figure",
    "standard_figures",
    "symlog_axis",
]

#: Colours of the methods, the same in every plot.
COLORS = {
    "closed form": "#1f77b4",
    "Monte Carlo": "#2ca02c",
    "quadrature": "#ff7f0e",
    "direct quadrature": "#9467bd",
    "candidate": "#d62728",
    "truth": "#1f77b4",
}
#: Errors of exactly zero are drawn at this height on log axes.
ZERO_FLOOR = 1e-17
KL_LABEL = r"$\mathrm{KL}(p\,\|\,q)$ [nats]"


def _require() -> None:

    require_extra("plots", "plotting")


def new_axes(ax: Axes | None = None, *, figsize: tuple[float, float] = (7.0, 4.2)) -> Axes:
    """``ax`` itself, or the Axes of a new constrained-layout Figure."""
    _require()
    if ax is not None:
        return ax
    from matplotlib.figure import Figure

    fig = Figure(figsize=figsize, layout="constrained")
    return fig.add_subplot()


def _log_span(values: pd.Series | np.ndarray, decades: float = 2.0) -> bool:
    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v)]
    return bool(v.size) and bool(np.all(v > 0)) and float(v.max() / v.min()) > 10**decades


def _offset(xs: np.ndarray) -> float:
    """A round centre to subtract when every value hugs it over several decades of distance
    (standard deviations 1 +- 1e-10 ... 1 +- 1e-4), else 0: such an axis shows ``x - centre``."""
    v = np.asarray(xs, dtype=float)
    v = v[np.isfinite(v)]
    if v.size < 3:
        return 0.0
    c = float(f"{float(np.median(v)):.3g}")
    d = np.abs(v - c)
    d = d[d > 0]
    if c == 0 or not d.size or d.max() / abs(c) > 1e-2 or d.max() / d.min() < 100:
        return 0.0
    return c


def _xlabel(label: str, centre: float) -> str:
    return f"{label} - {centre:g}" if centre else label


#: Most decades labelled on each side of a symmetric-log axis (more would overlap).
SYMLOG_LABELS = 4


def symlog_axis(ax: Axes, which: str, values: np.ndarray, *, linthresh: float | None = None) -> None:
    """A symmetric-logarithmic ``which`` ("x" or "y") axis with ticks that do not overlap.

    Linear within ``linthresh`` of 0 (default: the smallest nonzero magnitude,
    rounded down to a power of 10), logarithmic beyond: zero and negative values
    stay on the axis, as a log axis would drop them. Ticks sit at 0 and at
    every ``k``-th power of 10 on each side that has values, ``k`` chosen so that
    no side labels more than :data:`SYMLOG_LABELS` decades; minor ticks are off.
    """
    from matplotlib.ticker import FixedFormatter, FixedLocator, NullLocator

    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v)]
    mags = np.abs(v[v != 0])
    if linthresh is None:
        linthresh = float(10 ** np.floor(np.log10(mags.min()))) if mags.size else 1.0
    (ax.set_xscale if which == "x" else ax.set_yscale)("symlog", linthresh=linthresh)
    lo_k = int(np.floor(np.log10(linthresh)))
    ticks, labels = [0.0], ["0"]
    for sign, side in ((1.0, v[v > 0]), (-1.0, -v[v < 0])):
        if not side.size or side.max() < linthresh:
            continue
        hi_k = int(np.floor(np.log10(side.max())))  # the outermost decade inside the data
        step = max(1, int(np.ceil((hi_k - lo_k + 1) / SYMLOG_LABELS)))
        for k in range(hi_k, lo_k - 1, -step):  # from the outermost decade inwards, so it is always labelled
            ticks.append(sign * 10.0**k)
            labels.append(("-" if sign < 0 else "") + f"$10^{{{k}}}$")
    order = np.argsort(ticks)
    axis = ax.xaxis if which == "x" else ax.yaxis
    axis.set_major_locator(FixedLocator([ticks[i] for i in order]))
    axis.set_major_formatter(FixedFormatter([labels[i] for i in order]))
    axis.set_minor_locator(NullLocator())


def _set_xscale(ax: Axes, xs: np.ndarray) -> None:
    """Logarithmic x for positive values over more than two decades; symmetric-log when they
    also reach zero or below (a mean swept from -1000 to 1000 through 1e-6)."""
    v = np.asarray(xs, dtype=float)
    v = v[np.isfinite(v)]
    if _log_span(v):
        ax.set_xscale("log")
        return
    nonzero = np.abs(v[v != 0])
    if nonzero.size and nonzero.max() / nonzero.min() > 100:
        symlog_axis(ax, "x", v, linthresh=float(nonzero.min()))


def kl_yscale(*frames: pd.DataFrame) -> str:
    """``"symlog"`` when a few KL values dwarf the rest (the largest over 100 times the median
    of the positive ones) in any of ``frames``, else ``"linear"``: one choice for the two
    directions of a sweep, so that they read alike."""
    for f in frames:
        kl = f["kl_closed"].to_numpy(dtype=float)
        positive = kl[np.isfinite(kl) & (kl > 0)]
        if positive.size and positive.max() / np.median(positive) > 100:
            return "symlog"
    return "linear"


def _sorted(frame: pd.DataFrame, x: str) -> pd.DataFrame:
    return frame[frame[x].notna()].sort_values(x, kind="stable")


def _floor(values: pd.Series) -> np.ndarray:
    v = np.asarray(values, dtype=float)
    return np.where(v == 0.0, ZERO_FLOOR, v)


def plot_kl_sweep(
    frame: pd.DataFrame,
    x: str,
    *,
    ax: Axes | None = None,
    candidate: Sequence[float] | pd.Series | str | None = None,
    candidate_label: str = "candidate",
    negative: Sequence[Sequence[float]] | None = None,
    xlabel: str | None = None,
    title: str | None = None,
    confidence: float | None = None,
    yscale: str | None = None,
) -> Axes:
    r"""KL against a swept parameter: closed form, Monte Carlo, quadrature, a candidate.

    Parameters
    ----------
    frame : pandas.DataFrame
        Rows of a run table along one sweep (one group and direction), with
        ``x``, ``kl_closed`` and any of ``kl_mc``/``mc_ci_low``/``mc_ci_high``,
        ``kl_quad``, ``kl_quad_direct``.
    x : str
        The swept column (``"param:p.std"``).
    ax : matplotlib.axes.Axes, optional
    candidate : column name or values aligned with ``frame``, optional
        A formula under test, drawn as a dashed line; where it is negative
        while the true KL is positive the region is shaded and its ends
        (linear interpolation between grid points) are written in the legend.
    candidate_label : str
    negative : list of (float, float), optional
        The intervals to shade where the candidate is negative, when known
        more precisely than the grid tells (an audit's root-found
        ``SweepFinding.negative``); by default they are interpolated.
    xlabel, title : str, optional
    confidence : float, optional
        Level of the Monte Carlo intervals, for the legend.
    yscale : {"linear", "symlog"}, optional
        The KL axis (default: :func:`kl_yscale` of ``frame``). Pass the same
        for the two directions of a sweep.

    Returns
    -------
    matplotlib.axes.Axes

    Notes
    -----
    The closed form is a line, Monte Carlo estimates are points with their
    confidence intervals as error bars, quadrature values are crosses. The
    x axis is logarithmic when the parameter is positive and spans more than
    two decades. A KL axis over many decades is symmetric-logarithmic
    (:func:`symlog_axis`), never logarithmic: KL = 0 (at p = q) and a negative
    candidate stay on it. The Monte Carlo intervals are mostly far narrower
    than the markers at this scale: :func:`plot_mc_difference` shows them.
    """
    ax = new_axes(ax)
    f = frame.copy()
    if candidate is not None:
        f["_candidate"] = f[candidate] if isinstance(candidate, str) else np.asarray(candidate, dtype=float)
    f = _sorted(f, x)
    centre = _offset(f[x].to_numpy(dtype=float))
    xs = f[x].to_numpy(dtype=float) - centre
    kl = f["kl_closed"].to_numpy(dtype=float)
    ax.plot(xs, kl, "-", color=COLORS["closed form"], lw=1.8, label="closed form", zorder=3)
    if "kl_mc" in f and f["kl_mc"].notna().any():
        mc = f["kl_mc"].to_numpy(dtype=float)
        if {"mc_ci_low", "mc_ci_high"} <= set(f.columns):
            yerr = np.vstack([mc - f["mc_ci_low"].to_numpy(dtype=float), f["mc_ci_high"].to_numpy(dtype=float) - mc])
            level = f" {confidence:.0%} CI" if confidence else " with CI"
            ax.errorbar(
                xs,
                mc,
                yerr=np.clip(yerr, 0, None),
                fmt="o",
                ms=6,
                mfc="none",
                mew=1.2,
                capsize=2,
                lw=1,
                color=COLORS["Monte Carlo"],
                label=f"Monte Carlo{level}",
                zorder=4,
            )
        else:
            ax.plot(xs, mc, "o", ms=6, mfc="none", mew=1.2, color=COLORS["Monte Carlo"], label="Monte Carlo", zorder=4)
    for col, name, marker in (("kl_quad", "quadrature", "x"), ("kl_quad_direct", "direct quadrature", "+")):
        if col in f and f[col].notna().any():
            ax.plot(xs, f[col].to_numpy(dtype=float), marker, ms=6, ls="none", color=COLORS[name], label=name, zorder=5)
    if candidate is not None:
        cand = f["_candidate"].to_numpy(dtype=float)
        ax.plot(xs, cand, "--", color=COLORS["candidate"], lw=1.8, label=candidate_label, zorder=6)
        name = xlabel or parameter_label(x)
        spans = (
            _negative_spans(xs, cand, kl)
            if negative is None
            else [(float(lo) - centre, float(hi) - centre) for lo, hi in negative]
        )
        for lo, hi in spans:
            ax.axvspan(
                lo,
                hi,
                color=COLORS["candidate"],
                alpha=0.12,
                lw=0,
                label=f"candidate < 0 < KL: {name} in ({lo + centre:.4g}, {hi + centre:.4g})",
            )
        ax.axhline(0.0, color="0.4", lw=0.8, zorder=1)
    _set_xscale(ax, xs)
    if (yscale or kl_yscale(f)) == "symlog":  # a few values dwarf the rest; 0 and negatives stay on the axis
        finite = kl[np.isfinite(kl) & (kl > 0)]
        drawn = np.concatenate([kl, f["_candidate"].to_numpy(dtype=float)]) if candidate is not None else kl
        symlog_axis(ax, "y", drawn, linthresh=float(10 ** np.floor(np.log10(max(float(finite.min()), 1e-3)))))
    ax.set_xlabel(_xlabel(xlabel or parameter_label(x), centre))
    ax.set_ylabel(KL_LABEL)
    if title:
        ax.set_title(title)
    ax.grid(True, which="major", alpha=0.3)
    ax.legend(fontsize="small")
    return ax


def plot_mc_difference(
    frame: pd.DataFrame,
    x: str,
    *,
    ax: Axes | None = None,
    xlabel: str | None = None,
    title: str | None = None,
    confidence: float | None = None,
) -> Axes:
    r"""Monte Carlo minus the closed form along a sweep, with the Monte Carlo confidence intervals.

    Draws :math:`\hat{\mathrm{KL}}_{MC} - \mathrm{KL}` with the interval
    ``[mc_ci_low - KL, mc_ci_high - KL]`` as an error bar, and the line at 0:
    an interval that misses the line is a miss. At this scale the intervals
    are visible, where on the KL axis they hide under the markers. The y axis
    is symmetric-logarithmic when the half-widths span more than two decades.
    """
    ax = new_axes(ax)
    f = _sorted(frame, x)
    f = f[f["kl_mc"].notna()] if "kl_mc" in f else f.iloc[:0]
    centre = _offset(f[x].to_numpy(dtype=float))
    xs = f[x].to_numpy(dtype=float) - centre
    kl = f["kl_closed"].to_numpy(dtype=float)
    diff = f["kl_mc"].to_numpy(dtype=float) - kl
    ax.axhline(0.0, color=COLORS["closed form"], lw=1.5, label="closed form (difference 0)", zorder=2)
    if {"mc_ci_low", "mc_ci_high"} <= set(f.columns):
        low, high = f["mc_ci_low"].to_numpy(dtype=float) - kl, f["mc_ci_high"].to_numpy(dtype=float) - kl
        miss = (low > 0) | (high < 0)
        level = f"{confidence:.0%} interval" if confidence else "interval"
        for sel, colour, what in ((~miss, COLORS["Monte Carlo"], "covers"), (miss, COLORS["candidate"], "misses")):
            if sel.any():
                ax.errorbar(
                    xs[sel],
                    diff[sel],
                    yerr=np.clip(np.vstack([diff[sel] - low[sel], high[sel] - diff[sel]]), 0, None),
                    fmt="o",
                    ms=3,
                    capsize=2.5,
                    lw=1.2,
                    color=colour,
                    label=f"Monte Carlo - closed form, {level} {what} 0 ({int(sel.sum())})",
                    zorder=4,
                )
        half = 0.5 * (high - low)
        half = half[np.isfinite(half) & (half > 0)]
        if half.size and half.max() / half.min() > 100:
            symlog_axis(ax, "y", np.concatenate([low, high]), linthresh=float(10 ** np.floor(np.log10(half.min()))))
    else:
        ax.plot(xs, diff, "o", ms=3, color=COLORS["Monte Carlo"], label="Monte Carlo - closed form", zorder=4)
    _set_xscale(ax, xs)
    ax.set_xlabel(_xlabel(xlabel or parameter_label(x), centre))
    ax.set_ylabel("Monte Carlo - closed form [nats]")
    if title:
        ax.set_title(title)
    ax.grid(True, which="major", alpha=0.3)
    ax.legend(fontsize="small")
    return ax


def plot_probes(
    ax: Axes,
    x: Sequence[float] | np.ndarray | pd.Series,
    y: Sequence[float] | np.ndarray | pd.Series,
    failed: Sequence[bool] | np.ndarray | pd.Series,
    *,
    label: str = "audit probes",
) -> Axes:
    """An audit's probes on a KL plot: passing ones small and grey, failing ones as large red crosses on top.

    Parameters
    ----------
    ax : matplotlib.axes.Axes
    x, y : array_like
        Where each probe sits and the candidate's value there.
    failed : array_like of bool
        Which probes fail.
    label : str
        The legend names ``"<label>: N pass"`` and ``"<label>: N fail"``.
    """
    xs, ys, bad = np.asarray(x, dtype=float), np.asarray(y, dtype=float), np.asarray(failed, dtype=bool)
    if (~bad).any():
        ax.plot(xs[~bad], ys[~bad], "o", ms=3.5, color="0.45", ls="none", label=f"{label}: {int((~bad).sum())} pass")
    if bad.any():
        ax.plot(
            xs[bad],
            ys[bad],
            "X",
            ms=8,
            mec="white",
            mew=0.6,
            color=COLORS["candidate"],
            ls="none",
            zorder=7,
            label=f"{label}: {int(bad.sum())} fail",
        )
    return ax


def legend_below(ax: Axes, *, columns: int = 2, fontsize: str = "small") -> None:
    """The axes' legend under the plot, in ``columns`` columns: it covers nothing."""
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.16), ncols=columns, fontsize=fontsize, frameon=False)


def _negative_spans(xs: np.ndarray, cand: np.ndarray, truth: np.ndarray) -> list[tuple[float, float]]:
    """x-intervals where the candidate is negative and the truth positive (ends interpolated)."""
    bad = (cand < 0) & (truth > 0)
    spans = []
    i = 0
    n = len(xs)
    while i < n:
        if not bad[i]:
            i += 1
            continue
        j = i
        while j + 1 < n and bad[j + 1]:
            j += 1
        lo = zero_crossings(xs[i - 1 : i + 1], cand[i - 1 : i + 1])[0] if i > 0 and cand[i - 1] >= 0 else xs[i]
        hi = zero_crossings(xs[j : j + 2], cand[j : j + 2])[0] if j + 1 < n and cand[j + 1] >= 0 else xs[j]
        spans.append((float(lo), float(hi)))
        i = j + 1
    return spans


def plot_errors(
    frame: pd.DataFrame, x: str, *, ax: Axes | None = None, xlabel: str | None = None, title: str | None = None
) -> Axes:
    r"""Relative error of each method against the closed form, along a sweep (log scale).

    Draws :math:`|v - \mathrm{KL}| / \mathrm{KL}` for Monte Carlo and the
    quadratures, with Monte Carlo's relative standard error and quadrature's
    relative tolerance as lines for scale. Errors of exactly zero sit on a
    dotted line at :data:`ZERO_FLOOR`; cases with KL = 0 have no relative
    error and are left out.
    """
    ax = new_axes(ax)
    f = _sorted(frame, x)
    kl = f["kl_closed"].to_numpy(dtype=float)
    keep = np.isfinite(kl) & (kl != 0)
    f, kl = f[keep], np.abs(kl[keep])
    centre = _offset(f[x].to_numpy(dtype=float))
    xs = f[x].to_numpy(dtype=float) - centre
    drew_zero = False
    for col, name, marker in (
        ("kl_mc", "Monte Carlo", "o"),
        ("kl_quad", "quadrature", "x"),
        ("kl_quad_direct", "direct quadrature", "+"),
    ):
        if col not in f or not f[col].notna().any():
            continue
        rel = np.abs(f[col].to_numpy(dtype=float) - f["kl_closed"].to_numpy(dtype=float)) / kl
        drew_zero |= bool(np.any(rel == 0))
        ax.plot(
            xs,
            _floor(rel),
            marker,
            ms=4 if marker == "o" else 6,
            ls="none",
            color=COLORS[name],
            label=f"{name} relative error",
        )
    if "mc_stderr" in f:
        ax.plot(
            xs,
            f["mc_stderr"].to_numpy(dtype=float) / kl,
            "-",
            color=COLORS["Monte Carlo"],
            lw=1,
            alpha=0.7,
            label="Monte Carlo standard error / KL",
        )
    if "quad_tolerance" in f:
        ax.plot(
            xs,
            _floor(f["quad_tolerance"].to_numpy(dtype=float) / kl),
            "--",
            color=COLORS["quadrature"],
            lw=1,
            alpha=0.8,
            label="quadrature tolerance / KL",
        )
    if drew_zero:
        ax.axhline(ZERO_FLOOR, color="0.5", ls=":", lw=1, label=f"exactly 0 (drawn at {ZERO_FLOOR:g})")
    ax.set_yscale("log")
    _set_xscale(ax, xs)
    ax.set_xlabel(_xlabel(xlabel or parameter_label(x), centre))
    ax.set_ylabel("relative error")
    if title:
        ax.set_title(title)
    ax.grid(True, which="major", alpha=0.3)
    ax.legend(fontsize="x-small")
    return ax


def _z_threshold(n: int, alpha: float) -> float:
    """Two-sided Bonferroni threshold: Holm's first, strictest, step."""
    from scipy.stats import norm

    return float(norm.isf(alpha / (2 * max(n, 1))))


def plot_zscores(
    frame: pd.DataFrame,
    x: str,
    *,
    ax: Axes | None = None,
    alpha: float = DEFAULT_ALPHA,
    cases: int | None = None,
    xlabel: str | None = None,
    title: str | None = None,
) -> Axes:
    r"""Monte Carlo z-scores :math:`(\hat{\mathrm{KL}} - \mathrm{KL}) / \mathrm{se}` along a sweep.

    A shaded band marks :math:`|z| < 1.96` (95% of correct cases), dashed
    lines the family-wise threshold :math:`\Phi^{-1}(1 - \alpha / 2n)` of
    Holm's first step for the ``cases`` of the run (default: the rows given).
    """
    ax = new_axes(ax)
    f = _sorted(frame, x)
    centre = _offset(f[x].to_numpy(dtype=float))
    xs = f[x].to_numpy(dtype=float) - centre
    z = f["mc_z"].to_numpy(dtype=float)
    n = len(frame) if cases is None else cases
    t = _z_threshold(n, alpha)
    ax.axhspan(-1.959964, 1.959964, color="0.85", lw=0, label=r"$|z| < 1.96$")
    ax.axhline(t, color="0.3", ls="--", lw=1, label=f"Holm threshold ±{t:.2f} (alpha {alpha:g}, {n} cases)")
    ax.axhline(-t, color="0.3", ls="--", lw=1)
    ax.plot(xs, z, "o", ms=4, color=COLORS["Monte Carlo"], label="Monte Carlo z-score")
    _set_xscale(ax, xs)
    lim = max(t * 1.15, float(np.nanmax(np.abs(z))) * 1.1 if np.isfinite(z).any() else 0.0)
    ax.set_ylim(-lim, lim)
    ax.set_xlabel(_xlabel(xlabel or parameter_label(x), centre))
    ax.set_ylabel("z = (Monte Carlo - closed form) / stderr")
    if title:
        ax.set_title(title)
    ax.grid(True, which="major", alpha=0.3)
    ax.legend(fontsize="x-small", loc="lower right")
    return ax


def plot_z_histogram(
    frame: pd.DataFrame, *, ax: Axes | None = None, alpha: float = DEFAULT_ALPHA, title: str | None = None
) -> Axes:
    """Histogram of every case's Monte Carlo z-score against the standard normal density.

    For a correct closed form and a correct estimator the z-scores are
    draws of N(0, 1); dashed lines mark the run's family-wise threshold.
    """
    from scipy.stats import norm

    ax = new_axes(ax)
    z = frame["mc_z"].to_numpy(dtype=float)
    z = z[np.isfinite(z)]
    t = _z_threshold(len(z), alpha)
    lim = max(4.0, t * 1.1, float(np.max(np.abs(z))) * 1.05 if z.size else 0.0)
    bins = np.linspace(-lim, lim, int(np.clip(np.sqrt(max(z.size, 1)) * 2, 10, 60)) + 1)
    ax.hist(z, bins=bins, density=True, color=COLORS["Monte Carlo"], alpha=0.6, label=f"{z.size} cases")  # type: ignore[arg-type]  # matplotlib's stubs want Sequence[float]; hist takes array edges
    grid = np.linspace(-lim, lim, 400)
    ax.plot(grid, norm.pdf(grid), "-", color="k", lw=1.5, label="N(0, 1)")
    for s in (-t, t):
        ax.axvline(s, color="0.3", ls="--", lw=1)
    ax.plot([], [], color="0.3", ls="--", lw=1, label=f"Holm threshold ±{t:.2f}")
    ax.set_xlabel("z = (Monte Carlo - closed form) / stderr")
    ax.set_ylabel("density")
    if title:
        ax.set_title(title)
    ax.legend(fontsize="small")
    return ax


def plot_convergence(
    frame: pd.DataFrame,
    *,
    x: str = "samples",
    y: str = "rel_err_mc",
    statistic: str = "median",
    ax: Axes | None = None,
    expected: float | None = -0.5,
    ylabel: str | None = None,
    title: str | None = None,
) -> Axes:
    r"""Error against sample size on log-log axes, with the fitted slope.

    Each case's error is a faint point; the ``statistic`` (median, mean or
    rms) over cases at each sample size is a line, and the least-squares
    line through their logarithms gives the slope (see
    :func:`mcverify.reporting.summary.convergence_slope`). A Monte Carlo error shrinks
    like :math:`n^{-1/2}`: ``expected`` draws that slope for reference
    through the same middle point.
    """
    ax = new_axes(ax)
    fit = convergence_slope(frame, x=x, y=y, statistic=statistic)
    f = frame[[x, y]].replace([np.inf, -np.inf], np.nan).dropna()
    f = f[(f[x] > 0) & (f[y] > 0)]
    ax.plot(f[x], f[y], ".", color=COLORS["Monte Carlo"], alpha=0.25, ms=4, label="cases")
    n, agg = np.asarray(fit["x"]), np.asarray(fit["y"])
    ax.plot(n, agg, "o-", color="k", ms=5, lw=1.5, label=f"{statistic} over cases")
    if np.isfinite(fit["slope"]):
        xx = np.array([n.min(), n.max()], dtype=float)
        ax.plot(
            xx,
            10 ** (fit["intercept"] + fit["slope"] * np.log10(xx)),
            "-",
            color=COLORS["candidate"],
            lw=1.5,
            label=f"fit: slope {fit['slope']:.3f} ± {fit['slope_stderr']:.2g}",
        )
        if expected is not None:
            mid_x = float(np.exp(np.mean(np.log(n))))
            mid_y = float(10 ** (fit["intercept"] + fit["slope"] * np.log10(mid_x)))
            ax.plot(
                xx,
                mid_y * (xx / mid_x) ** expected,
                ":",
                color="0.3",
                lw=1.5,
                label=f"slope {expected:g} (Monte Carlo theory)",
            )
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("Monte Carlo samples" if x == "samples" else x)
    ax.set_ylabel(ylabel or y.replace("_", " "))
    if title:
        ax.set_title(title)
    ax.grid(True, which="both", alpha=0.25)
    ax.legend(fontsize="small")
    return ax


def _edges(centers: np.ndarray, log: bool) -> np.ndarray:
    c = np.log10(centers) if log else centers.astype(float)
    if c.size == 1:
        e = np.array([c[0] - 0.5, c[0] + 0.5])
    else:
        mid = 0.5 * (c[1:] + c[:-1])
        e = np.concatenate([[c[0] - (mid[0] - c[0])], mid, [c[-1] + (c[-1] - mid[-1])]])
    return 10**e if log else e


def plot_heatmap(
    frame: pd.DataFrame,
    x: str,
    y: str,
    value: str,
    *,
    ax: Axes | None = None,
    log: bool | None = None,
    symmetric: bool = False,
    limit: float | None = None,
    label: str | None = None,
    title: str | None = None,
) -> Axes:
    """A quantity over two swept parameters, as coloured cells with a colour bar.

    Parameters
    ----------
    frame : pandas.DataFrame
        One row per grid point (a full grid of ``x`` by ``y``).
    x, y, value : str
        Columns of the two parameters and of the quantity.
    log : bool, optional
        Logarithmic colour scale (default: when the values are positive and
        span more than two decades). Zeros are drawn grey.
    symmetric : bool
        A diverging scale centred on 0 (for z-scores).
    limit : float, optional
        With ``symmetric``: the scale spans at least ``-limit .. limit`` (a
        z-score threshold, so that only values beyond it look extreme).
    label, title : str, optional
        Colour bar label (default: ``value``) and title.
    """
    from matplotlib.colors import LogNorm, Normalize

    ax = new_axes(ax)
    grid = frame.pivot_table(index=y, columns=x, values=value, aggfunc="first")
    xs = grid.columns.to_numpy(dtype=float)
    ys = grid.index.to_numpy(dtype=float)
    z = np.ma.masked_invalid(grid.to_numpy(dtype=float))
    logx, logy = _log_span(xs, 1.0), _log_span(ys, 1.0)
    values = z.compressed()
    positive = values[values > 0]
    if log is None:
        log = (
            bool(positive.size)
            and not symmetric
            and bool(np.all(values >= 0))
            and positive.max() / positive.min() > 100
        )
    import matplotlib as mpl

    if symmetric:
        lim = max(float(np.max(np.abs(values))) if values.size else 1.0, limit or 0.0)
        norm, cmap = Normalize(-lim, lim), mpl.colormaps["RdBu_r"].copy()
    elif log:
        z = np.ma.masked_less_equal(z, 0)
        norm, cmap = LogNorm(positive.min(), positive.max()), mpl.colormaps["viridis"].copy()
    else:
        norm, cmap = Normalize(), mpl.colormaps["viridis"].copy()
    cmap = cmap.with_extremes(bad="0.8")
    mesh = ax.pcolormesh(_edges(xs, logx), _edges(ys, logy), z, norm=norm, cmap=cmap, shading="flat")
    ax.figure.colorbar(mesh, ax=ax, label=label or value)
    if logx:
        ax.set_xscale("log")
    if logy:
        ax.set_yscale("log")
    ax.set_xlabel(parameter_label(x))
    ax.set_ylabel(parameter_label(y))
    if title:
        ax.set_title(title)
    return ax


def plot_audit_sweep(
    table: pd.DataFrame,
    x: str,
    *,
    ax: Axes | None = None,
    regions: Sequence[dict[str, Any]] | None = None,
    title: str | None = None,
) -> Axes:
    """An audited candidate against the true KL along one probe sweep, failures marked.

    Parameters
    ----------
    table : pandas.DataFrame
        Rows of an audit's probe table along one sweep (one argument ``x``
        varies): ``candidate``, ``truth``, ``status``.
    x : str
        The varying argument (``"std"``).
    regions : list of dict, optional
        The audit's failing regions (``AuditReport.as_dict()["regions"]``);
        the one along ``x`` shades where the candidate is negative while the
        KL is positive, with its root-found ends. Without it the negative
        stretches are interpolated between probes.
    """
    ax = new_axes(ax)
    f = _sorted(table, x)
    xs = f[x].to_numpy(dtype=float)
    truth = f["truth"].to_numpy(dtype=float)
    cand = f["candidate"].to_numpy(dtype=float)
    ax.plot(xs, truth, "-", color=COLORS["truth"], lw=1.8, label="true KL", zorder=3)
    ax.plot(xs, cand, "--o", color=COLORS["candidate"], ms=3, lw=1.5, label="candidate", zorder=4)
    bad = (f["status"].astype(str) != "ok").to_numpy()
    if bad.any():
        ax.plot(
            xs[bad],
            np.where(np.isfinite(cand[bad]), cand[bad], np.nan),
            "x",
            color="k",
            ms=7,
            label=f"fails ({int(bad.sum())} of {len(xs)} probes)",
            zorder=5,
        )
    spans = None
    for r in regions or []:
        if r.get("axis") == x:
            spans = [tuple(s) for s in r.get("negative", [])]
            break
    if spans is None:
        spans = _negative_spans(xs, cand, truth)
    for lo, hi in spans:
        ax.axvspan(
            lo,
            hi,
            color=COLORS["candidate"],
            alpha=0.12,
            lw=0,
            label=f"candidate < 0 < KL for {x} in ({lo:.4g}, {hi:.4g})",
        )
    ax.axhline(0.0, color="0.4", lw=0.8, zorder=1)
    _set_xscale(ax, xs)
    both = np.concatenate([truth, cand])
    both = both[np.isfinite(both)]
    mags = np.abs(both[both != 0])
    if mags.size and mags.max() / mags.min() > 1e3:
        symlog_axis(ax, "y", both, linthresh=0.1)
        lo, hi = min(float(both.min()), 0.0), float(both.max())
        # symlog pads symmetrically; keep the axis to the data (3x beyond it, or 0.1 into the linear part)
        ax.set_ylim(lo * 3 if lo < -0.1 else lo - 0.1, hi * 3 if hi > 0.1 else hi + 0.1)
    ax.set_xlabel(x)
    ax.set_ylabel(KL_LABEL)
    if title:
        ax.set_title(title)
    ax.grid(True, which="major", alpha=0.3)
    ax.legend(fontsize="x-small")
    return ax


def plot_audit_errors(table: pd.DataFrame, x: str, *, ax: Axes | None = None, title: str | None = None) -> Axes:
    """The candidate's error in tolerances, |candidate - truth| / tolerance, along a sweep.

    A probe fails above the line at 1: the rounding error a correct formula
    can make there.
    """
    ax = new_axes(ax)
    f = _sorted(table, x)
    xs = f[x].to_numpy(dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.abs(f["candidate"].to_numpy(dtype=float) - f["truth"].to_numpy(dtype=float)) / f[
            "tolerance"
        ].to_numpy(dtype=float)
    bad = (f["status"].astype(str) != "ok").to_numpy()
    if (~bad).any():
        ax.plot(xs[~bad], _floor(ratio[~bad]), "o", ms=4, color=COLORS["truth"], label="passes")
    if bad.any():
        ax.plot(xs[bad], _floor(ratio[bad]), "x", ms=6, color=COLORS["candidate"], label="fails")
    ax.axhline(1.0, color="k", ls="--", lw=1, label="tolerance")
    ax.set_yscale("log")
    _set_xscale(ax, xs)
    ax.set_xlabel(x)
    ax.set_ylabel("|candidate - true KL| / tolerance")
    if title:
        ax.set_title(title)
    ax.grid(True, which="major", alpha=0.3)
    ax.legend(fontsize="small")
    return ax


def plot_gradient_errors(
    table: pd.DataFrame,
    gradients: Sequence[dict[str, Any]],
    x: str,
    *,
    ax: Axes | None = None,
    title: str | None = None,
) -> Axes:
    """The candidate's gradient error in tolerances along a sweep, one series per argument.

    ``gradients`` are the audit's gradient records (``probe``, ``argument``,
    ``status``, ``ratio``: the largest |candidate - exact| / tolerance over
    the argument's entries). A probe fails above the line at 1; NaN and
    infinite gradients, which have no finite ratio, are drawn at the top.
    """
    ax = new_axes(ax)
    f = _sorted(table, x)
    at = dict(zip(f["probe"].astype(int), f[x].astype(float), strict=True))
    args = sorted({str(r["argument"]) for r in gradients if int(r["probe"]) in at})
    top = 1.0
    finite = [float(r["ratio"]) for r in gradients if r.get("ratio") is not None and int(r["probe"]) in at]
    finite = [v for v in finite if np.isfinite(v)]
    if finite:
        top = max(top, max(finite))
    xs_all: list[float] = []
    for k, arg in enumerate(args):
        rows = [r for r in gradients if r["argument"] == arg and int(r["probe"]) in at and r["status"] != "skip"]
        xs = np.array([at[int(r["probe"])] for r in rows])
        xs_all += xs.tolist()
        ratio = np.array([np.nan if r.get("ratio") is None else float(r["ratio"]) for r in rows])
        bad = np.array([r["status"] != "ok" for r in rows])
        shown = np.where(np.isfinite(ratio), ratio, 10.0 * top)
        marker = "o" if k % 2 == 0 else "s"
        if (~bad).any():
            ax.plot(xs[~bad], _floor(shown[~bad]), marker, ms=4, alpha=0.6, label=f"{arg}: passes")
        if bad.any():
            ax.plot(xs[bad], _floor(shown[bad]), "x", ms=7, label=f"{arg}: fails")
    ax.axhline(1.0, color="k", ls="--", lw=1, label="tolerance")
    ax.set_yscale("log")
    if xs_all:
        _set_xscale(ax, np.asarray(xs_all))
    ax.set_xlabel(x)
    ax.set_ylabel("|gradient - exact| / tolerance")
    if title:
        ax.set_title(title)
    ax.grid(True, which="major", alpha=0.3)
    ax.legend(fontsize="x-small")
    return ax


# ------------------------------------------------------------------ output
_SAVE_META = {"png": {"Software": None}, "svg": {"Date": None, "Creator": None}}


def figure_bytes(fig: Figure, fmt: str = "png", *, dpi: float = 100, compact: bool = False) -> bytes:
    """The figure encoded as ``png`` or ``svg``, byte-identical for the same figure.

    ``compact=True`` reduces a PNG to a 256-colour palette (about a third of
    the size, indistinguishable for line plots), for embedding in HTML.
    """
    import matplotlib as mpl

    buf = io.BytesIO()
    with mpl.rc_context({"svg.hashsalt": "mcverify", "svg.fonttype": "path"}):
        fig.savefig(buf, format=fmt, dpi=dpi, metadata=_SAVE_META.get(fmt))
    if compact and fmt == "png":
        from PIL import Image  # a dependency of matplotlib

        image = Image.open(io.BytesIO(buf.getvalue())).convert("RGB")
        out = io.BytesIO()
        image.quantize(colors=256, method=Image.Quantize.MEDIANCUT).save(out, "PNG", optimize=True)
        return out.getvalue()
    return buf.getvalue()


def save_figure(
    fig: Figure, stem: str | os.PathLike[str], formats: Sequence[str] = ("png", "svg"), *, dpi: float = 150
) -> list[Path]:
    """Write ``<stem>.png`` and ``<stem>.svg`` (or ``formats``), each atomically."""

    out = []
    for fmt in formats:
        path = Path(f"{os.fspath(stem)}.{fmt}")
        data = figure_bytes(fig, fmt, dpi=dpi)
        with atomic_write(path, "wb") as fh:
            fh.write(data)
        out.append(path)
    return out


@dataclass(frozen=True, eq=False)
class FigureItem:
    """One figure of a report: a file-name ``key``, a ``title``, a ``caption`` and the Figure."""

    key: str
    title: str
    caption: str
    figure: Figure


def _slug(text: str) -> str:
    out = "".join(ch if ch.isalnum() else "-" for ch in text.lower())
    while "--" in out:
        out = out.replace("--", "-")
    return out.strip("-") or "figure"


def _stacked(figsize: tuple[float, float] = (7.5, 6.4)) -> Figure:
    """A figure of two axes above each other sharing x: the quantity (taller) and its difference."""
    _require()
    from matplotlib.figure import Figure

    fig = Figure(figsize=figsize, layout="constrained")
    fig.subplots(2, 1, sharex=True, height_ratios=(3, 2))
    return fig


def _two_panels(figsize: tuple[float, float] = (11.0, 4.0)) -> tuple[Figure, Axes, Axes]:
    _require()
    from matplotlib.figure import Figure

    fig = Figure(figsize=figsize, layout="constrained")
    a, b = fig.subplots(1, 2)
    return fig, a, b


def standard_figures(
    frame: pd.DataFrame,
    *,
    meta: dict[str, Any] | None = None,
    alpha: float = DEFAULT_ALPHA,
    confidence: float | None = None,
    convergence: pd.DataFrame | None = None,
    name: str = "",
) -> list[FigureItem]:
    """The plots that suit a table, in report order.

    A run table gets, per one-parameter sweep, KL against the parameter and
    its errors and z-scores; per two-parameter grid, heat maps of the KL,
    the z-score and the quadrature's error; and a histogram of every case's
    z-score. ``convergence`` (a table with several sample sizes) adds the
    convergence plot. An audit table gets, per probe sweep, the candidate
    against the truth with its failing region (``meta["regions"]``) and its
    error in tolerances.
    """
    _require()
    kind = table_kind(frame)
    items: list[FigureItem] = []
    prefix = f"{name}: " if name else ""
    if kind == "run":
        sweeps = sweep_axes(frame)
        rows: dict[str, list[pd.DataFrame]] = {}  # both directions of a group share the KL axis's scale
        for sw in sweeps:
            rows.setdefault(sw["group"], []).append(frame.loc[sw["rows"]])
        for sw in sweeps:
            sub = frame.loc[sw["rows"]]
            where = sw["group"] + ("" if sw["direction"] in (None, "forward") else f" ({sw['direction']})")
            if len(sw["axes"]) == 1:
                x = sw["axes"][0]
                label = parameter_label(x)
                fig = _stacked()
                top, bottom = fig.axes
                plot_kl_sweep(
                    sub,
                    x,
                    ax=top,
                    title=f"{prefix}{where}",
                    confidence=confidence,
                    yscale=kl_yscale(*rows[sw["group"]]),
                )
                top.set_xlabel("")
                plot_mc_difference(sub, x, ax=bottom, confidence=confidence)
                items.append(
                    FigureItem(
                        _slug(f"{name}-{where}-kl"),
                        f"{where}: KL against {label}",
                        f"Top: closed form (line), Monte Carlo (points) and quadrature (crosses) along {label}, "
                        f"{len(sub)} cases. Bottom: Monte Carlo minus the closed form with its confidence "
                        "interval, red where the interval misses 0.",
                        fig,
                    )
                )
                fig, a, b = _two_panels()
                plot_errors(sub, x, ax=a, title=f"{where}: relative errors")
                plot_zscores(sub, x, ax=b, alpha=alpha, cases=len(frame), title=f"{where}: z-scores")
                items.append(
                    FigureItem(
                        _slug(f"{name}-{where}-errors"),
                        f"{where}: errors and z-scores against {label}",
                        "Left: each method's relative error against the closed form, with Monte Carlo's "
                        "relative standard error and quadrature's relative tolerance for scale. Right: Monte "
                        "Carlo z-scores with the run's family-wise threshold.",
                        fig,
                    )
                )
            else:
                x, y = sw["axes"]
                _require()
                from matplotlib.figure import Figure

                fig = Figure(figsize=(16.0, 5.4), layout="constrained")
                a, b, c = fig.subplots(1, 3)
                zero = bool((sub["kl_closed"] == 0).any())
                plot_heatmap(
                    sub, x, y, "kl_closed", ax=a, label="closed-form KL", title="KL" + (" (grey: 0)" if zero else "")
                )
                threshold = _z_threshold(len(frame), alpha)
                plot_heatmap(
                    sub,
                    x,
                    y,
                    "mc_z",
                    ax=b,
                    symmetric=True,
                    limit=threshold,
                    label=f"Monte Carlo z (scale: the threshold, ±{threshold:.2f})",
                    title="z-score",
                )
                plot_heatmap(
                    sub,
                    x,
                    y,
                    "rel_err_quad",
                    ax=c,
                    log=True,
                    label="quadrature relative error",
                    title="quadrature error (grey: exact)",
                )
                items.append(
                    FigureItem(
                        _slug(f"{name}-{where}-heatmap"),
                        f"{where}: over {parameter_label(x)} and {parameter_label(y)}",
                        f"The closed-form KL, the Monte Carlo z-score and the quadrature's relative error over "
                        f"the {len(sub)}-point grid.",
                        fig,
                    )
                )
        if "mc_z" in frame and frame["mc_z"].notna().sum() >= 10:
            ax = plot_z_histogram(frame, alpha=alpha, title=f"{prefix}all Monte Carlo z-scores")
            items.append(
                FigureItem(
                    _slug(f"{name}-z-histogram"),
                    "Monte Carlo z-scores of every case",
                    "If the closed form and the estimator are right, the z-scores are draws of N(0, 1).",
                    cast("Figure", ax.figure),  # new_axes made it: a Figure, not a SubFigure
                )
            )
    elif kind == "audit":
        regions = (meta or {}).get("regions") or []
        for sw in sweep_axes(frame):
            if len(sw["axes"]) != 1:
                continue
            x = sw["axes"][0]
            sub = frame.loc[sw["rows"]]
            fig, a, b = _two_panels()
            plot_audit_sweep(sub, x, ax=a, regions=regions, title=f"{prefix}{sw['group']}")
            plot_audit_errors(sub, x, ax=b, title="error in tolerances")
            n_bad = int((sub["status"].astype(str) != "ok").sum())
            items.append(
                FigureItem(
                    _slug(f"{name}-{sw['group']}-audit"),
                    f"{sw['group']}: the candidate along {x}",
                    f"Left: the candidate (dashed) and the true KL along {x}; crosses mark the {n_bad} failing "
                    f"probes of {len(sub)}, shading where the candidate is negative although the KL is "
                    "positive. Right: its error divided by the rounding tolerance of a correct formula.",
                    fig,
                )
            )
            grads = [r for r in (meta or {}).get("gradient_table") or [] if isinstance(r, dict)]
            on = set(sub["probe"].astype(int)) if "probe" in sub else set()
            if any(int(r["probe"]) in on and r["status"] not in ("ok", "skip") for r in grads):
                ax = plot_gradient_errors(sub, grads, x, title=f"{prefix}{sw['group']}: gradients")
                items.append(
                    FigureItem(
                        _slug(f"{name}-{sw['group']}-gradients"),
                        f"{sw['group']}: the candidate's gradient along {x}",
                        "Each argument's largest gradient error divided by the rounding tolerance of the "
                        "exact gradient; crosses fail, NaN or infinite gradients are drawn above the rest.",
                        cast("Figure", ax.figure),  # new_axes made it: a Figure, not a SubFigure
                    )
                )
    if convergence is None and {"samples", "rel_err_mc"} <= set(frame.columns) and frame["samples"].nunique() >= 3:
        convergence = frame  # a table at several sample sizes (mcverify validate's convergence.csv)
    if convergence is not None and len(convergence) and convergence["samples"].nunique() >= 3:
        ax = plot_convergence(convergence, title=f"{prefix}Monte Carlo convergence")
        items.append(
            FigureItem(
                _slug(f"{name}-convergence"),
                "Monte Carlo error against sample size",
                "Each case's relative error at each sample size (faint), their median, and the least-squares "
                "slope of log(median error) against log(samples); theory says -1/2.",
                cast("Figure", ax.figure),  # new_axes made it: a Figure, not a SubFigure
            )
        )
    return items
