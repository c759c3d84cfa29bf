"""The ``[run]`` table's defaults and allowed values, defined once.

Standard library only (and the estimator names of :mod:`mcverify.sampling.methods`,
which import nothing): the command line's parsers state these defaults and
choices in their help without importing the config reader
(:mod:`mcverify.config.loader`, which imports them from here) or numpy.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from mcverify.sampling.methods import DEFAULT_RANDOMIZATIONS

__all__ = ["DEFAULTS", "ERROR_CONTROLS"]

#: Defaults of the ``[run]`` table.
DEFAULTS: Mapping[str, Any] = {
    "samples": 100_000,
    "seed": 0,
    "confidence": 0.95,
    "alpha": 0.01,
    "error_control": "holm",
    "method": "mc",
    "randomizations": DEFAULT_RANDOMIZATIONS,
    "estimators": (),
}
#: Allowed values of ``[run] error_control`` (``method`` and ``estimators``: :mod:`mcverify.sampling.methods`).
ERROR_CONTROLS = ("holm", "bh")
