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

from typing import TYPE_CHECKING

from mcverify.lazy import lazy_names

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

#: Where each public name lives (module: names); imported on first use, so that importing one
#: module of this layer does not import them all (numpy, scipy and pandas among them).
__getattr__ = lazy_names(
    __name__,
    {
        "schema": ("COLUMNS", "SCHEMA", "to_frame"),
        "readers": ("Results", "ResultsError", "read_results"),
        "writers": ("FORMATS", "provenance"),
        "result_files": ("write_results",),
    },
)
