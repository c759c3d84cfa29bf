"""Studies over many runs: calibration of the intervals, convergence, the validation report.

Layer rule: composes the engine, the tables and the reports; never reads argv.

Public names (everything else is internal to the layer):
:mod:`~mcverify.studies.calibration`: ``calibrate``,
:mod:`~mcverify.studies.convergence`: ``converge``,
:mod:`~mcverify.studies.validation`: ``validate``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from mcverify.lazy import lazy_names

if TYPE_CHECKING:
    from mcverify.studies.calibration import calibrate
    from mcverify.studies.convergence import converge
    from mcverify.studies.validation import validate

__all__ = [
    "calibrate",
    "converge",
    "validate",
]

#: Where each public name lives (module: names); imported on first use, so that importing one
#: module of this layer does not import them all (numpy, scipy and pandas among them).
__getattr__ = lazy_names(
    __name__,
    {
        "calibration": ("calibrate",),
        "convergence": ("converge",),
        "validation": ("validate",),
    },
)
