"""Independent evidence at the points where a candidate disagrees.

Monte Carlo (draws of p, never the closed-form algebra) and quadrature at the
worst probes and at the candidate's zero crossings, so that a verdict does
not rest on mcverify's closed form alone. Seeds are keyed by probe, never by
order of evaluation.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from numpy.typing import NDArray

from mcverify.auditing.conventions import Convention
from mcverify.auditing.probes import Probe, ProbeSet, make_probe, true_kl
from mcverify.auditing.regions import SweepFinding
from mcverify.auditing.report import Evidence
from mcverify.quadrature.integration import quadrature_kl
from mcverify.sampling.monte_carlo import monte_carlo_kl
from mcverify.stats.power import detectable_difference

__all__ = ["gather_evidence", "llr_std"]

#: Index offset of evidence seeds for points between probes (zero crossings).
OFF_PROBE = 1_000_000
#: Expected |z| from which Monte Carlo resolves a disagreement.
RESOLVABLE = 5.0


def llr_std(probe: Probe) -> float:
    r"""Exact standard deviation of ``log p(x) - log q(x)`` for ``x ~ p``.

    With :math:`M = L_q^{-1} L_p`, :math:`b = L_q^{-1}(\mu_p - \mu_q)` and
    :math:`z \sim N(0, I)`, the log ratio is a constant plus
    :math:`\tfrac12 z^T (M^T M - I) z + b^T M z`, whose variance is
    :math:`\tfrac12 \|M^T M - I\|_F^2 + \|M^T b\|^2`. The Monte Carlo
    standard error of n draws is this over :math:`\sqrt n`.
    """
    p, q = probe.gaussians()
    if p.is_diagonal and q.is_diagonal:
        r = p.stddevs / q.stddevs
        c = (p.mean - q.mean) / q.stddevs
        var = 0.5 * np.sum(((r - 1.0) * (r + 1.0)) ** 2) + np.sum((r * c) ** 2)
    else:
        lq = q.cholesky
        m = np.linalg.solve(lq, p.cholesky)
        b = np.linalg.solve(lq, p.mean - q.mean)
        a = m.T @ m - np.eye(p.dim)
        var = 0.5 * np.sum(a * a) + np.sum((m.T @ b) ** 2)
    return float(np.sqrt(var))


def gather_evidence(
    ps: ProbeSet,
    conv: Convention,
    values: NDArray[np.float64],
    truth: NDArray[np.float64],
    status: NDArray[np.str_],
    regions: list[SweepFinding],
    evaluate_at: Callable[[dict[str, Any]], float],
    samples: int,
    seed: int,
    k: int,
) -> list[Evidence]:
    """Monte Carlo and quadrature at up to ``k`` of the worst failing probes and
    at the first zero crossing of up to two sweeps.

    "Worst" is measured in Monte Carlo standard errors, ``|candidate - KL|``
    over the exact standard deviation of the log-likelihood ratio divided by
    ``sqrt(samples)``, so that the evidence can resolve the disagreement: a
    relative error of 1e-7 at KL = 5e7 is real but no sample average shows
    it. The picks are the clearest disagreement, the most negative value
    (where the true KL is positive), the largest absolute error if Monte
    Carlo can resolve it, then the next clearest.
    """
    finite_bad = status == "fail"
    if not finite_bad.any():
        return []
    err = np.where(finite_bad, np.abs(values - truth), -1.0)
    se = np.array([llr_std(p) if finite_bad[p.index] else np.inf for p in ps.probes]) / np.sqrt(samples)
    # At p = q the log ratio is identically 0 and Monte Carlo returns exactly
    # 0 +- 0: conclusive but degenerate, so such points rank as merely
    # resolvable and informative ones come first.
    with np.errstate(divide="ignore", invalid="ignore"):
        z = np.where(finite_bad, np.where(se > 0, err / se, RESOLVABLE), -1.0)
    picks: list[tuple[str, int]] = []

    def pick(reason: str, i: int) -> None:
        if i not in [j for _, j in picks] and len(picks) < k:
            picks.append((reason, i))

    pick("clearest disagreement", int(np.argmax(z)))
    neg = finite_bad & (values < 0) & (truth > 0)
    if neg.any():
        pick("most negative", int(np.argmin(np.where(neg, values, np.inf))))
    i = int(np.argmax(err))
    if z[i] >= RESOLVABLE:
        pick("largest error", i)
    for i in np.argsort(-z, kind="stable"):
        if z[i] < 0:
            break
        pick("clear disagreement", int(i))
    out = [
        _check(ps.probes[i], conv, reason, float(values[i]), float(truth[i]), samples, seed, i) for reason, i in picks
    ]
    j = 0
    for r in regions:
        sw = ps.sweeps[r.sweep]
        for x, _ in r.zeros[:1]:
            params = dict(sw.fixed)
            params[sw.axis] = sw.value(x)
            probe = make_probe(conv, params)
            out.append(
                _check(
                    probe,
                    conv,
                    "zero crossing",
                    evaluate_at(params),
                    true_kl(probe, conv),
                    samples,
                    seed,
                    OFF_PROBE + j,
                    index=None,
                )
            )
            j += 1
        if j >= 2:
            break
    return out


def _check(
    probe: Probe,
    conv: Convention,
    reason: str,
    value: float,
    truth: float,
    samples: int,
    seed: int,
    key: int,
    index: int | None = -1,
) -> Evidence:
    p, q = probe.gaussians()
    mc = monte_carlo_kl(p, q, samples, seed=np.random.SeedSequence(seed, spawn_key=(key,)))
    quad = _quadrature(p, q)
    return Evidence(
        reason,
        probe.index if index == -1 else index,
        probe.plain_params(),
        probe.label(),
        value,
        truth,
        mc.estimate,
        mc.stderr,
        mc.ci_low,
        mc.ci_high,
        mc.samples,
        seed,
        mc.z_score(value),
        mc.z_score(truth),
        *quad,
        mc_detectable=float(detectable_difference(mc.stderr, 1.0 - mc.confidence)),
    )


def _quadrature(p: Any, q: Any) -> tuple[float | None, float | None, bool | None, str]:
    """quad's value, error estimate and trust; never raises (evidence is best effort)."""
    try:
        r = quadrature_kl(p, q)
    except (ValueError, ArithmeticError) as exc:
        return None, None, None, f"{type(exc).__name__}: {exc}"
    return float(r.value), float(r.error), bool(r.reliable), str(r.message or "")
