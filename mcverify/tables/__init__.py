"""Results tables: the one row schema, atomic files, writers, readers, provenance, text formats.

Layer rule: imports numpy, pandas and :mod:`mcverify.errors`; knows nothing of
how the numbers were computed.  Never prints.

Public names (everything else is internal to the layer):
:mod:`~mcverify.tables.schema`: ``COLUMNS``, ``SCHEMA``, ``to_frame``,
:mod:`~mcverify.tables.readers`: ``Results``, ``ResultsError``, ``read_results``,
:mod:`~mcverify.tables.writers`: ``FORMATS``, ``provenance``,
:mod:`~mcverify.tables.result_files`: ``write_results``.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mcverify.tables.readers import Results, ResultsError, read_results
    from mcverify.tables.result_files import write_results
    from mcverify.tables.schema import COLUMNS, SCHEMA, to_frame
    from mcverify.tables.writers import FORMATS, provenance

__all__ = [
    "COLUMNS",
    "FORMATS",
    "SCHEMA",
    "Results",
    "ResultsError",
    "provenance",
    "read_results",
    "to_frame",
    "write_results",
]

#: Where each public name lives; imported on first use, so that importing one module
#: of this layer does not import them all (pandas among them).
_WHERE = {
    "COLUMNS": "mcverify.tables.schema",
    "SCHEMA": "mcverify.tables.schema",
    "to_frame": "mcverify.tables.schema",
    "Results": "mcverify.tables.readers",
    "ResultsError": "mcverify.tables.readers",
    "read_results": "mcverify.tables.readers",
    "FORMATS": "mcverify.tables.writers",
    "provenance": "mcverify.tables.writers",
    "write_results": "mcverify.tables.result_files",
}


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        return getattr(importlib.import_module(_WHERE[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
