"""Auditing a user's KL code: conventions and calling, backends, distribution objects, sandbox,
probes, mistakes, regions, evidence, expressions, and what training sees: gradients
(:mod:`~mcverify.auditing.gradients`), training dtypes (:mod:`~mcverify.auditing.precision`), and
the per-backend differentiation and casts they use (:mod:`~mcverify.auditing.autodiff`).

Layer rule: imports :mod:`mcverify.sampling`, :mod:`mcverify.quadrature`,
:mod:`mcverify.stats` and :mod:`mcverify.numerics` for the truth and the
evidence; never the engine, the CLI or the reports.

Public names (everything else is internal to the layer):
:mod:`~mcverify.auditing.auditor`: ``audit``,
:mod:`~mcverify.auditing.report`: ``AuditReport``, ``Evidence``,
:mod:`~mcverify.auditing.conventions`: ``CONVENTIONS``,
:mod:`~mcverify.auditing.distributions`: ``OBJECT_CONVENTIONS``,
:mod:`~mcverify.auditing.expressions`: ``compile_expr``,
:mod:`~mcverify.auditing.backends`: ``BACKENDS``.
"""

from __future__ import annotations

from mcverify.auditing.auditor import audit
from mcverify.auditing.backends import BACKENDS
from mcverify.auditing.conventions import CONVENTIONS
from mcverify.auditing.distributions import OBJECT_CONVENTIONS
from mcverify.auditing.expressions import compile_expr
from mcverify.auditing.report import AuditReport, Evidence

__all__ = [
    "BACKENDS",
    "CONVENTIONS",
    "OBJECT_CONVENTIONS",
    "AuditReport",
    "Evidence",
    "audit",
    "compile_expr",
]
