"""Helpers for users' own test suites.

>>> from mcverify.testing import assert_kl_correct
>>> def test_my_kl():
...     assert_kl_correct(my_kl, "diag-prior-logvar")

With mcverify installed, pytest also offers it as the fixture
``assert_kl_correct`` (the plugin :mod:`mcverify.pytest_plugin`, registered
under the ``pytest11`` entry point).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from mcverify.auditing.auditor import AuditReport, audit

__all__ = ["assert_kl_correct"]


def assert_kl_correct(
    func: Callable[..., Any],
    convention: str,
    *,
    dtype: str = "float64",
    gradients: bool = True,
    reduction: str | None = None,
    **kw: Any,
) -> AuditReport:
    """Audit ``func`` and raise ``AssertionError`` with the report's summary if it fails.

    Parameters
    ----------
    func : callable
        The KL implementation under test.
    convention : str
        Its calling convention (``"prior-logvar"``, ``"mvn"``...).
    dtype : {"float64", "float32", "bfloat16", "float16"}
        Also hand ``func`` inputs of this training dtype and require its
        results to be right at that precision (no overflow, underflow,
        cancellation or negative values).
    gradients : bool
        Require the gradient with respect to every input to be right too
        (default; checked when the backend differentiates: torch, jax).
    reduction : {"none", "sum", "mean"}, optional
        Also require this reduction over the batch (see
        :attr:`mcverify.AuditReport.reduction`): ``"mean"`` for a loss that
        averages the per-sample KL over the batch.
    **kw
        Passed to :func:`mcverify.audit` (``backend``, ``samples``, ``seed``...).
        Evidence is skipped unless ``samples`` is given, to keep tests fast.

    Returns
    -------
    AuditReport
        The report of a passing audit (its warnings may still interest you).
    """
    __tracebackhide__ = True
    kw.setdefault("samples", 0)
    report = audit(func, convention, dtype=dtype, gradients=gradients, **kw)
    if not report.passed:
        raise AssertionError(report.summary())
    if reduction is not None and report.reduction != reduction:
        raise AssertionError(
            f"{report.name}: reduces the batch by {report.reduction!r}, expected {reduction!r}\n{report.summary()}"
        )
    return report
