"""Plots render with Agg and show what they claim: axes, labels, lines, regions."""

from __future__ import annotations

import io
import itertools
import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("matplotlib")
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.collections import QuadMesh
from matplotlib.container import ErrorbarContainer
from PIL import Image
from scipy.stats import norm

from mcverify.reporting.plots import (
    figure_bytes,
    plot_audit_errors,
    plot_audit_sweep,
    plot_convergence,
    plot_errors,
    plot_heatmap,
    plot_kl_sweep,
    plot_z_histogram,
    plot_zscores,
    save_figure,
    standard_figures,
)
from tests.reporting.test_report import audit_table

ROOT = Path(__file__).resolve().parents[2]


def render(ax) -> np.ndarray:  # type: ignore[no-untyped-def]
    """Draw the figure with Agg; the pixels, checked to hold a real picture."""
    canvas = FigureCanvasAgg(ax.figure)
    canvas.draw()
    pixels = np.asarray(canvas.buffer_rgba())
    assert pixels.shape[0] > 100 and len(np.unique(pixels.reshape(-1, 4), axis=0)) > 10
    return pixels


def labels(ax) -> list[str]:  # type: ignore[no-untyped-def]
    return [t.get_text() for t in ax.get_legend().get_texts()]


def sweep(frame: pd.DataFrame, direction: str = "forward") -> pd.DataFrame:
    return frame[(frame["group"] == "std") & (frame["direction"] == direction)]


def test_kl_sweep_with_the_classic_log10_candidate(small_run):
    _, frame = small_run
    fwd = sweep(frame)
    s = fwd["param:p.std"]
    ax = plot_kl_sweep(
        fwd,
        "param:p.std",
        candidate=0.5 * (s**2 - 1 - np.log10(s**2)),
        candidate_label="log10",
        xlabel="s",
        title="classic",
        confidence=0.95,
    )
    render(ax)
    assert ax.get_xlabel() == "s" and "KL" in ax.get_ylabel() and ax.get_title() == "classic"
    lines = {line.get_label(): line for line in ax.get_lines()}
    assert {"closed form", "quadrature", "direct quadrature", "log10"} <= set(lines)
    np.testing.assert_array_equal(lines["closed form"].get_ydata(), fwd.sort_values("param:p.std")["kl_closed"])
    assert min(lines["log10"].get_ydata()) < 0 < min(lines["closed form"].get_ydata()[s.sort_values() != 1])
    [mc] = [c for c in ax.containers if isinstance(c, ErrorbarContainer)]
    assert mc.get_label() == "Monte Carlo 95% CI" and len(mc.lines[0].get_xdata()) == len(fwd)
    # The negative region, from the zero crossing near 0.37 (interpolated on the 0.25 grid) to 1.
    [span] = [p for p in ax.patches if "candidate < 0" in p.get_label()]
    x0, x1 = span.get_x(), span.get_x() + span.get_width()
    assert 0.25 < x0 < 0.5 and x1 == pytest.approx(1.0)
    assert f"candidate < 0 < KL: s in ({x0:.4g}, 1)" in labels(ax)
    assert ax.get_yscale() == "linear" and ax.get_xscale() == "linear"


def test_draws_into_a_given_axes_and_never_imports_pyplot():
    code = (
        "import sys; import numpy as np, pandas as pd\n"
        "from matplotlib.figure import Figure\n"
        "from mcverify.reporting.plots import figure_bytes, plot_kl_sweep\n"
        "f = pd.DataFrame({'x': [1.0, 2.0, 3.0], 'kl_closed': [0.1, 0.2, 0.3]})\n"
        "ax = Figure().add_subplot()\n"
        "assert plot_kl_sweep(f, 'x', ax=ax) is ax\n"
        "assert figure_bytes(ax.figure, 'png', compact=True)[:4] == b'\\x89PNG'\n"
        "assert figure_bytes(ax.figure, 'svg').lstrip().startswith(b'<?xml')\n"
        "assert 'matplotlib.pyplot' not in sys.modules\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env=dict(os.environ, PYTHONPATH=str(ROOT)),
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr


def test_errors_on_log_axes(small_run):
    _, frame = small_run
    rev = sweep(frame, "reverse")
    ax = plot_errors(rev, "param:p.std", title="errors")
    render(ax)
    assert ax.get_yscale() == "log" and ax.get_ylabel() == "relative error"
    names = labels(ax)
    assert names[:3] == ["Monte Carlo relative error", "quadrature relative error", "direct quadrature relative error"]
    assert "Monte Carlo standard error / KL" in names and "quadrature tolerance / KL" in names
    mc = next(line for line in ax.get_lines() if line.get_label() == "Monte Carlo relative error")
    assert len(mc.get_xdata()) == (rev["kl_closed"] != 0).sum()  # KL = 0 has no relative error


def test_zscores_with_the_family_wise_threshold(small_run):
    _, frame = small_run
    ax = plot_zscores(sweep(frame), "param:p.std", alpha=0.01, cases=len(frame))
    render(ax)
    t = norm.isf(0.01 / (2 * len(frame)))
    dashed = [line for line in ax.get_lines() if line.get_linestyle() == "--"]
    assert sorted(line.get_ydata()[0] for line in dashed) == pytest.approx([-t, t])
    points = next(line for line in ax.get_lines() if line.get_label() == "Monte Carlo z-score")
    np.testing.assert_array_equal(np.sort(points.get_ydata()), np.sort(sweep(frame)["mc_z"]))
    assert ax.get_ylim()[1] >= max(t, sweep(frame)["mc_z"].abs().max())


def test_z_histogram(small_run):
    _, frame = small_run
    ax = plot_z_histogram(frame)
    render(ax)
    heights = np.array([p.get_height() for p in ax.patches])
    widths = np.array([p.get_width() for p in ax.patches])
    assert (heights * widths).sum() == pytest.approx(1.0)  # a density
    assert "N(0, 1)" in labels(ax) and ax.get_xlabel().startswith("z =")


def test_convergence_log_log_with_fitted_slope():
    n = np.repeat([100, 1000, 10_000, 100_000], 50)
    rng = np.random.default_rng(5)
    frame = pd.DataFrame({"samples": n, "rel_err_mc": np.abs(rng.standard_normal(n.size)) / np.sqrt(n)})
    ax = plot_convergence(frame, title="conv")
    render(ax)
    assert ax.get_xscale() == ax.get_yscale() == "log" and ax.get_xlabel() == "Monte Carlo samples"
    names = labels(ax)
    assert names[0] == "cases" and names[1] == "median over cases" and names[3] == "slope -0.5 (Monte Carlo theory)"
    slope = float(names[2].split()[2])
    assert -0.6 < slope < -0.4
    assert len(ax.get_lines()) == 4
    median = next(line for line in ax.get_lines() if line.get_label() == "median over cases")
    np.testing.assert_allclose(median.get_ydata(), frame.groupby("samples")["rel_err_mc"].median())


def test_heatmap_over_two_parameters(small_run):
    _, frame = small_run
    grid = frame[frame["group"] == "grid"]
    ax = plot_heatmap(grid, "param:p.mean", "param:p.std", "kl_closed", title="KL")
    render(ax)
    [mesh] = [c for c in ax.collections if isinstance(c, QuadMesh)]
    values = np.ma.getdata(mesh.get_array()).reshape(3, 3)
    expected = grid.pivot_table(index="param:p.std", columns="param:p.mean", values="kl_closed").to_numpy()
    np.testing.assert_array_equal(values, expected)
    assert ax.get_xlabel() == "p.mean" and ax.get_ylabel() == "p.std" and ax.get_title() == "KL"
    assert len(ax.figure.axes) == 2 and ax.figure.axes[1].get_ylabel() == "kl_closed"  # the colour bar
    ax = plot_heatmap(grid, "param:p.mean", "param:p.std", "mc_z", symmetric=True)
    mesh = next(c for c in ax.collections if isinstance(c, QuadMesh))
    assert mesh.norm.vmin == -mesh.norm.vmax == -grid["mc_z"].abs().max()


def test_audit_sweep_shows_the_failing_region():
    table = audit_table()
    regions = [{"axis": "std", "negative": [[0.3703, 1.0]]}]
    ax = plot_audit_sweep(table, "std", regions=regions, title="audit")
    render(ax)
    assert ax.get_xscale() == "log" and ax.get_xlabel() == "std"
    fails = next(line for line in ax.get_lines() if line.get_label().startswith("fails"))
    assert len(fails.get_xdata()) == (table["status"] != "ok").sum() == 9
    assert "candidate < 0 < KL for std in (0.3703, 1)" in labels(ax)
    assert {"true KL", "candidate"} <= set(labels(ax))
    # Without the audit's regions the negative stretch is interpolated between probes.
    ax = plot_audit_sweep(table, "std")
    [span] = [p for p in ax.patches if "candidate < 0" in p.get_label()]
    assert 0.3 < span.get_x() < 0.5 and span.get_x() + span.get_width() == pytest.approx(1.0)


def test_audit_errors_against_the_tolerance():
    table = audit_table()
    ax = plot_audit_errors(table, "std")
    render(ax)
    assert ax.get_yscale() == "log" and labels(ax) == ["passes", "fails", "tolerance"]
    tol = next(line for line in ax.get_lines() if line.get_label() == "tolerance")
    assert list(tol.get_ydata()) == [1.0, 1.0]


def test_save_png_and_svg(tmp_path, small_run):
    _, frame = small_run
    ax = plot_kl_sweep(sweep(frame), "param:p.std")
    paths = save_figure(ax.figure, tmp_path / "kl", dpi=80)
    assert [p.name for p in paths] == ["kl.png", "kl.svg"]
    with Image.open(paths[0]) as img:
        assert img.format == "PNG" and img.size == tuple(round(v * 80) for v in ax.figure.get_size_inches())
    root = ET.parse(paths[1]).getroot()
    assert root.tag.endswith("svg") and root.find(".//{http://www.w3.org/2000/svg}path") is not None
    again = save_figure(ax.figure, tmp_path / "kl2", dpi=80)
    assert [p.read_bytes() for p in paths] == [p.read_bytes() for p in again]  # reproducible files
    small = figure_bytes(ax.figure, "png", dpi=80, compact=True)
    with Image.open(io.BytesIO(small)) as img:
        assert img.mode == "P" and len(small) < paths[0].stat().st_size


def test_standard_figures_for_run_and_audit_tables(small_run):
    _, frame = small_run
    items = standard_figures(frame, name="small")
    assert [i.key for i in items] == [
        "small-std-kl",
        "small-std-errors",
        "small-std-reverse-kl",
        "small-std-reverse-errors",
        "small-grid-heatmap",
        "small-z-histogram",
    ]
    heat = items[4].figure
    assert len([a for a in heat.axes if a.get_title()]) == 3  # KL, z-score, quadrature error (+ colour bars)
    audit = standard_figures(audit_table(), meta={"regions": []}, name="a")
    assert [i.key for i in audit] == ["a-scale-sweep-audit"] and len(audit[0].figure.axes) == 2


def test_axis_near_one_shows_the_distance():
    # Standard deviations 1 +- 1e-10 ... 1 +- 1e-4: the axis shows p.std - 1 on a symmetric log scale.
    x = 1.0 + np.array([-1e-4, -1e-6, 1e-10, 1e-8, 1e-6, 1e-4])
    frame = pd.DataFrame({"param:p.std": x, "kl_closed": (x - 1) ** 2, "mc_z": 0.0})
    ax = plot_kl_sweep(frame, "param:p.std")
    assert ax.get_xlabel() == "p.std - 1" and ax.get_xscale() == "symlog"
    np.testing.assert_allclose(ax.get_lines()[0].get_xdata(), x - 1.0)
    ax = plot_zscores(frame, "param:p.std")
    assert ax.get_xlabel() == "p.std - 1"
    wide = pd.DataFrame({"param:p.std": [0.5, 1.0, 2.0], "kl_closed": [0.3, 0.0, 0.8]})
    assert plot_kl_sweep(wide, "param:p.std").get_xlabel() == "p.std"  # no offset for ordinary sweeps


# ------------------------------------------------ readable at a glance: axes, ticks, intervals
def tick_boxes(ax, which: str):  # type: ignore[no-untyped-def]
    """The drawn, labelled major ticks of an axis: (label, bounding box in pixels)."""
    render(ax)
    renderer = ax.figure.canvas.get_renderer()
    axis = ax.xaxis if which == "x" else ax.yaxis
    return [
        (t.label1.get_text(), t.label1.get_window_extent(renderer))
        for t in axis.get_major_ticks()
        if t.label1.get_visible() and t.label1.get_text()
    ]


@pytest.mark.parametrize("which", ["x", "y"])
def test_symlog_tick_labels_do_not_overlap(which):
    """Regression: a mean swept -1000 .. 1000 through 1e-6 printed '-10³10²10¹10⁰10⁻...' in one smear."""
    from mcverify.reporting.plots import SYMLOG_LABELS, new_axes, symlog_axis

    values = np.concatenate([-np.logspace(-6, 3, 19), [0.0], np.logspace(-6, 3, 19)])
    ax = new_axes()
    ax.plot(values, values) if which == "x" else ax.plot(np.arange(values.size), values)
    symlog_axis(ax, which, values)
    ticks = tick_boxes(ax, which)
    assert len(ticks) <= 2 * SYMLOG_LABELS + 1 and "0" in [t for t, _ in ticks]
    assert {"$10^{3}$", "-$10^{3}$"} <= {t for t, _ in ticks}  # the outermost decades are labelled
    boxes = [b for _, b in ticks]
    for a, b in itertools.pairwise(boxes):
        assert not a.overlaps(b), (a, b)


def test_both_directions_share_the_kl_axis_and_keep_kl_zero(small_run):
    """Regression: one direction linear, the other log, where KL = 0 at std = 1 silently vanished."""
    _, frame = small_run
    figures = {f.key: f.figure for f in standard_figures(frame, name="small")}
    tops = [figures["small-std-kl"].axes[0], figures["small-std-reverse-kl"].axes[0]]
    scales = {ax.get_yscale() for ax in tops}
    assert len(scales) == 1
    for ax, direction in zip(tops, ("forward", "reverse"), strict=True):
        closed = next(line for line in ax.get_lines() if line.get_label() == "closed form")
        x, y = closed.get_xdata(), closed.get_ydata()
        at_one = np.isclose(np.asarray(x, dtype=float), 1.0)
        assert at_one.sum() == 1 and y[at_one][0] == 0.0
        lo, hi = ax.get_ylim()
        assert lo <= 0.0 <= hi and np.isfinite(ax.transData.transform((1.0, 0.0))).all()
        assert len(sweep(frame, direction)) == len(x)  # every case drawn


def test_monte_carlo_intervals_are_visible_beside_the_markers(small_run):
    """The bottom panel shows Monte Carlo - closed form with its intervals; they stand out of the markers."""
    _, frame = small_run
    fig = next(f.figure for f in standard_figures(frame, name="small") if f.key == "small-std-kl")
    bottom = fig.axes[1]
    render(bottom)
    fwd = sweep(frame).sort_values("param:p.std")
    bars = [c for c in bottom.containers if isinstance(c, ErrorbarContainer)]
    assert bars
    half_pixels, marker_pixels = [], []
    dpi = fig.dpi
    for c in bars:
        line, _, (segments,) = c.lines[0], c.lines[1], c.lines[2]
        marker_pixels.append(line.get_markersize() * dpi / 72)
        for seg in segments.get_segments():
            (_, y0), (_, y1) = bottom.transData.transform(seg)
            half_pixels.append(abs(y1 - y0) / 2)
    assert len(half_pixels) == len(fwd)
    assert np.median(half_pixels) > max(marker_pixels)  # most intervals reach beyond their marker
    # the bars are the intervals, relative to the closed form
    ys = np.sort(np.concatenate([seg[:, 1] for c in bars for seg in c.lines[2][0].get_segments()]))
    want = np.sort(np.concatenate([fwd["mc_ci_low"] - fwd["kl_closed"], fwd["mc_ci_high"] - fwd["kl_closed"]]))
    np.testing.assert_allclose(ys, want, rtol=1e-12, atol=1e-15)


def test_zscore_heat_map_spans_the_threshold(small_run):
    from mcverify.reporting.plots import _z_threshold

    _, frame = small_run
    fig = next(f.figure for f in standard_figures(frame, name="small") if f.key.endswith("heatmap"))
    mesh = next(c for c in fig.axes[1].collections if isinstance(c, QuadMesh))
    limit = _z_threshold(len(frame), 0.01)
    assert mesh.norm.vmin == -mesh.norm.vmax and mesh.norm.vmax >= limit > np.abs(frame["mc_z"]).max()
    assert fig.get_size_inches()[1] >= 5


def test_probes_failing_stand_out_and_the_legend_covers_nothing(small_run):
    from mcverify.reporting.plots import legend_below, plot_probes

    _, frame = small_run
    fwd = sweep(frame)
    s = fwd["param:p.std"].to_numpy()
    cand = 0.5 * (s**2 - 1 - np.log10(s**2))
    ax = plot_kl_sweep(fwd, "param:p.std", candidate=cand)
    failed = np.abs(cand - fwd["kl_closed"].to_numpy()) > 1e-12
    plot_probes(ax, s, cand, failed)
    legend_below(ax)
    render(ax)
    lines = {line.get_label(): line for line in ax.get_lines()}
    bad = lines[f"audit probes: {int(failed.sum())} fail"]
    good = lines[f"audit probes: {int((~failed).sum())} pass"]
    assert bad.get_color() != good.get_color() and bad.get_markersize() > 2 * good.get_markersize()
    assert bad.get_zorder() > max(line.get_zorder() for line in ax.get_lines() if line is not bad)
    renderer = ax.figure.canvas.get_renderer()
    legend, frame_box = ax.get_legend().get_window_extent(renderer), ax.get_window_extent(renderer)
    assert legend.y1 <= frame_box.y0  # below the axes: it covers no data
