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

import importlib
from typing import TYPE_CHECKING, Any

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

#: Where each public name lives; imported on first use, so that importing one module
#: of this layer does not import them all (pandas among them).
_WHERE = {
    "Methods": "mcverify.engine.case",
    "Settings": "mcverify.engine.case",
    "evaluate_case": "mcverify.engine.case",
    "run": "mcverify.engine.runner",
    "RunOptions": "mcverify.engine.pipeline",
    "execute": "mcverify.engine.pipeline",
}


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        return getattr(importlib.import_module(_WHERE[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
