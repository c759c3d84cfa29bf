"""Studies over many runs: calibration of the intervals, convergence, the validation report.

Layer rule: composes the engine, the tables and the reports; never reads argv.

Public names (everything else is internal to the layer):
:mod:`~mcverify.studies.calibration`: ``calibrate``,
:mod:`~mcverify.studies.convergence`: ``converge``,
:mod:`~mcverify.studies.validation`: ``validate``.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mcverify.studies.calibration import calibrate
    from mcverify.studies.convergence import converge
    from mcverify.studies.validation import validate

__all__ = [
    "calibrate",
    "converge",
    "validate",
]

#: Where each public name lives; imported on first use, so that importing one module
#: of this layer does not import them all (pandas among them).
_WHERE = {
    "calibrate": "mcverify.studies.calibration",
    "converge": "mcverify.studies.convergence",
    "validate": "mcverify.studies.validation",
}


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        return getattr(importlib.import_module(_WHERE[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
