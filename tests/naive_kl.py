"""Naive, textbook KL implementations with mistakes planted: the audit's test subjects.

Written the way people write them (explicit ratios, ``np.log10``, explicit
inverse and determinant), independently of :mod:`mcverify.auditing.mistakes`' own
evaluation of a formula state, which only supplies the knobs to turn.
"""

from __future__ import annotations

import numpy as np
from numpy.linalg import det, inv

from mcverify.auditing.conventions import get_convention
from mcverify.auditing.mistakes import Formula, apply

LOGS = {np.e: np.log, 10.0: np.log10, 2.0: np.log2}


def _variance(scale: str, reading: str, x):
    """The variance a (possibly mistaken) implementation derives from its scale argument."""
    if reading == "as-is":
        return {"std": lambda: x**2, "var": lambda: x, "logvar": lambda: np.exp(x), "logstd": lambda: np.exp(2 * x)}[
            scale
        ]()
    if reading == "sqrt":  # std used as a variance, or log-std read as log-variance
        return {"std": lambda: x, "logstd": lambda: np.exp(x)}[scale]()
    # square: variance used as a std, or log-variance read as log-std
    return {"var": lambda: x**2, "logvar": lambda: np.exp(2 * x)}[scale]()


def _one_way(f: Formula, mp, vp, mq, vq):
    log = LOGS[f.log_base]
    mean_var = vq if f.mean_scale == "q" else vp
    inner = f.log_coeff * log(vq / vp) + vp / vq
    if f.mean_term:
        inner = inner + (mp - mq) ** 2 / mean_var
    if f.constant:
        inner = inner - 1
    return inner


def _directed(f: Formula, one_way, p, q):
    if f.direction == "forward":
        out = one_way(*p, *q)
    elif f.direction == "reversed":
        out = one_way(*q, *p)
    else:
        out = one_way(*p, *q) + one_way(*q, *p)
    return (0.5 * out if f.half else out) * f.sign


def build(convention: str, ids=(), formula: Formula | None = None):
    """A naive numpy implementation of ``convention`` with mistakes ``ids`` planted."""
    conv = get_convention(convention)
    f = formula if formula is not None else apply(ids, conv)

    if conv.family == "mvn":

        def one_way(mp, cp, mq, cq):
            log = LOGS[f.log_base]
            d = mp.shape[-1]
            iq = inv(cq)
            dm = mp - mq
            s = iq if f.mean_scale == "q" else inv(cp)
            inner = f.log_coeff * log(det(cq) / det(cp)) + np.trace(iq @ cp)
            if f.mean_term:
                inner = inner + dm @ s @ dm
            if f.constant:
                inner = inner - d
            return inner

        def kl(mean_p, cov_p, mean_q, cov_q):
            out = _directed(f, one_way, (mean_p, cov_p), (mean_q, cov_q))
            return out / mean_p.shape[-1] if f.reduction == "mean" else out

        return kl

    def univariate(mp, sp, mq, sq):
        vp, vq = _variance(conv.scale, f.variance, sp), _variance(conv.scale, f.variance, sq)
        return _directed(f, lambda a, b, c, e: _one_way(f, a, b, c, e), (mp, vp), (mq, vq))

    reduce = np.mean if f.reduction == "mean" else np.sum
    one = {"std": 1.0, "var": 1.0, "logvar": 0.0, "logstd": 0.0}[conv.scale]
    if conv.family == "pair":
        return lambda mean_p, sp, mean_q, sq: univariate(mean_p, sp, mean_q, sq)
    if conv.family == "prior":
        return lambda mean, s: univariate(mean, s, 0.0, one)
    if conv.family == "diag-pair":
        return lambda mean_p, sp, mean_q, sq: reduce(univariate(mean_p, sp, mean_q, sq), axis=-1)
    return lambda mean, s: reduce(univariate(mean, s, np.zeros_like(mean), np.full_like(s, one)), axis=-1)
