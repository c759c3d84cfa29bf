"""The engine: evaluate a case or a block of cases, pools and executors, checkpoints, progress.

Layer rule: composes :mod:`mcverify.config`, :mod:`mcverify.tables`,
:mod:`mcverify.sampling`, :mod:`mcverify.quadrature`, :mod:`mcverify.stats`
and :mod:`mcverify.numerics`; knows nothing of argv.

Public names (everything else is internal to the layer):
:mod:`~mcverify.engine.case`: ``Methods``, ``Settings``, ``evaluate_case``,
:mod:`~mcverify.engine.runner`: ``run``,
:mod:`~mcverify.engine.pipeline`: ``RunOptions``, ``execute``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from mcverify.lazy import lazy_names

if TYPE_CHECKING:
    from mcverify.engine.case import Methods, Settings, evaluate_case
    from mcverify.engine.pipeline import RunOptions, execute
    from mcverify.engine.runner import run

__all__ = [
    "Methods",
    "RunOptions",
    "Settings",
    "evaluate_case",
    "execute",
    "run",
]

#: Where each public name lives (module: names); imported on first use, so that importing one
#: module of this layer does not import them all (numpy, scipy and pandas among them).
__getattr__ = lazy_names(
    __name__,
    {
        "case": ("Methods", "Settings", "evaluate_case"),
        "runner": ("run",),
        "pipeline": ("RunOptions", "execute"),
    },
)
