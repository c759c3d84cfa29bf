"""Reports of results tables: summaries, documents (Markdown, LaTeX, HTML) and plots.

Layer rule: imports :mod:`mcverify.tables` (and :mod:`mcverify.stats`); never
the engine or the CLI.

Public names (everything else is internal to the layer):
:mod:`~mcverify.reporting.summary`: ``Summary``, ``summarize``,
:mod:`~mcverify.reporting.plots`: ``plot_kl_sweep``, ``save_figure``,
:mod:`~mcverify.reporting.publish`: ``build_report``, ``render_report``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from mcverify.lazy import lazy_names

if TYPE_CHECKING:
    from mcverify.reporting.plots import plot_kl_sweep, save_figure
    from mcverify.reporting.publish import build_report, render_report
    from mcverify.reporting.summary import Summary, summarize

__all__ = [
    "Summary",
    "build_report",
    "plot_kl_sweep",
    "render_report",
    "save_figure",
    "summarize",
]

#: Where each public name lives (module: names); imported on first use, so that importing one
#: module of this layer does not import them all (numpy, scipy and pandas among them).
__getattr__ = lazy_names(
    __name__,
    {
        "summary": ("Summary", "summarize"),
        "plots": ("plot_kl_sweep", "save_figure"),
        "publish": ("build_report", "render_report"),
    },
)
