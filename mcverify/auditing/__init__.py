"""Auditing a user's KL code: conventions and calling, backends, sandbox, probes, mistakes,
regions, evidence, expressions.

Layer rule: imports :mod:`mcverify.sampling`, :mod:`mcverify.quadrature`,
:mod:`mcverify.stats` and :mod:`mcverify.numerics` for the truth and the
evidence; never the engine, the CLI or the reports.
"""
