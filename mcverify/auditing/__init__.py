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
:mod:`~mcverify.auditing.registry`: ``CONVENTIONS``, ``OBJECT_CONVENTIONS``, ``BACKENDS`` (with the
audit's defaults, in a module that imports no numpy),
:mod:`~mcverify.auditing.expressions`: ``compile_expr``.

The public names are imported on first use, so that importing the registry (what
``mcverify audit --help`` shows) does not import the audit (numpy, scipy, pandas).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from mcverify.lazy import lazy_names

if TYPE_CHECKING:
    from mcverify.auditing.auditor import audit
    from mcverify.auditing.expressions import compile_expr
    from mcverify.auditing.registry import BACKENDS, CONVENTIONS, OBJECT_CONVENTIONS
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

#: Where each public name lives (module: names); imported on first use, so that importing one
#: module of this layer does not import them all (numpy, scipy and pandas among them).
__getattr__ = lazy_names(
    __name__,
    {
        "auditor": ("audit",),
        "report": ("AuditReport", "Evidence"),
        "registry": ("BACKENDS", "CONVENTIONS", "OBJECT_CONVENTIONS"),
        "expressions": ("compile_expr",),
    },
)
