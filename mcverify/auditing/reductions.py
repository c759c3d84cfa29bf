r"""Batch reductions: recognise a KL function that returns one number for a whole batch.

Training code rarely returns the KL of each sample: a VAE loss returns the
``mean`` or the ``sum`` over the batch of the per-sample KL (itself summed
over the latent dimensions). The audit recognises three shapes of output
for a batch of :math:`n` probes stacked along a leading axis:

``"none"``
    one value per probe, shape ``(n,)`` (trailing singleton axes allowed);
``"sum"``
    one number, :math:`R = \sum_i \mathrm{KL}_i`;
``"mean"``
    one number, :math:`R = \frac{1}{n} \sum_i \mathrm{KL}_i`.

Design: a reduced function is audited *per sample* by calling it once per
probe with a batch of one (the probe's arguments with a leading axis of
length 1). The sum and the mean of one value are that value, so this needs
no assumption about which reduction it is, costs no accuracy (differencing
batch sums would cancel), and a per-sample error stays at its probe. The
reduction is then named from two more calls on a probe ``a`` whose
per-sample value :math:`v_a` is finite and non-zero, and a second probe
``b``: a batch ``[a, a]`` gives :math:`2 v_a` for a sum and :math:`v_a` for a
mean (whatever the formula, right or wrong), and a batch ``[a, b]`` confirms
that the reduction adds the per-sample values (:math:`v_a + v_b`, or half
of it). A function whose one number is neither is reported as such and
audited one probe at a time.

Pure functions of arrays and numbers; the calls themselves are made by
:func:`mcverify.auditing.conventions.call_candidate`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Literal

import numpy as np
from numpy.typing import NDArray

__all__ = ["REDUCTIONS", "Reduction", "classify", "pick_pair", "with_batch_axis"]

Reduction = Literal["none", "sum", "mean"]

#: The values of :attr:`mcverify.AuditReport.reduction`.
REDUCTIONS: tuple[Reduction, ...] = ("none", "sum", "mean")

_EPS = float(np.finfo(np.float64).eps)


def with_batch_axis(args: Sequence[NDArray[np.float64]]) -> list[NDArray[np.float64]]:
    """The arguments of one probe with a leading batch axis of length 1: a batch of one."""
    return [np.asarray(a, dtype=np.float64)[np.newaxis, ...] for a in args]


def pick_pair(values: NDArray[np.float64]) -> tuple[int, int] | None:
    """Two probes (possibly the same one twice) whose values name a reduction.

    ``a`` is the probe whose value is finite, non-zero and closest to 1 in
    magnitude (least exposed to overflow and underflow); ``b`` the next one,
    or ``a`` again when no other probe qualifies. ``None`` when no value is
    finite and non-zero.
    """
    v = np.asarray(values, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        score = np.where(np.isfinite(v) & (v != 0), np.abs(np.log(np.abs(v))), np.inf)
    order = np.argsort(score, kind="stable")
    usable = [int(i) for i in order if np.isfinite(score[i])]
    if not usable:
        return None
    return usable[0], usable[1] if len(usable) > 1 else usable[0]


def classify(
    v_a: float, v_b: float, r_aa: float, r_ab: float, tol_a: float = 0.0, tol_b: float = 0.0
) -> Reduction | None:
    r"""Which reduction turns per-sample values into the batched results.

    Parameters
    ----------
    v_a, v_b : float
        Per-sample values of probes ``a`` and ``b`` (batches of one).
    r_aa, r_ab : float
        The function's one number for the batches ``[a, a]`` and ``[a, b]``.
    tol_a, tol_b : float
        Absolute tolerances of the per-sample values.

    Returns
    -------
    {"sum", "mean"} or None
        ``"sum"`` when :math:`r_{aa} = 2 v_a` and :math:`r_{ab} = v_a + v_b`,
        ``"mean"`` when :math:`r_{aa} = v_a` and
        :math:`r_{ab} = (v_a + v_b) / 2`, each within
        :math:`t_a + t_b + 8 \epsilon (|v_a| + |v_b|)` (the tolerances plus the
        rounding of a two-term sum); ``None`` when neither (or both) fit.
    """
    slack = tol_a + tol_b + 8 * _EPS * (abs(v_a) + abs(v_b))

    def near(x: float, y: float) -> bool:
        return math.isfinite(x) and abs(x - y) <= slack

    is_sum = near(r_aa, 2 * v_a) and near(r_ab, v_a + v_b)
    is_mean = near(r_aa, v_a) and near(r_ab, 0.5 * (v_a + v_b))
    if is_sum == is_mean:
        return None
    return "sum" if is_sum else "mean"
