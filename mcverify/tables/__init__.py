"""Results tables: the one row schema, atomic files, writers, readers, provenance, text formats.

Layer rule: imports numpy, pandas and :mod:`mcverify.errors`; knows nothing of
how the numbers were computed.  Never prints.
"""
