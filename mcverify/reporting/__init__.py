"""Reports of results tables: summaries, documents (Markdown, LaTeX, HTML) and plots.

Layer rule: imports :mod:`mcverify.tables` (and :mod:`mcverify.stats`); never
the engine or the CLI.

Public names (everything else is internal to the layer):
:mod:`~mcverify.reporting.summary`: ``Summary``, ``summarize``,
:mod:`~mcverify.reporting.plots`: ``plot_kl_sweep``, ``save_figure``,
:mod:`~mcverify.reporting.publish`: ``build_report``, ``render_report``.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

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

#: Where each public name lives; imported on first use, so that importing one module
#: of this layer does not import them all (pandas among them).
_WHERE = {
    "Summary": "mcverify.reporting.summary",
    "summarize": "mcverify.reporting.summary",
    "plot_kl_sweep": "mcverify.reporting.plots",
    "save_figure": "mcverify.reporting.plots",
    "build_report": "mcverify.reporting.publish",
    "render_report": "mcverify.reporting.publish",
}


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        return getattr(importlib.import_module(_WHERE[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
