"""One case: closed form, Monte Carlo and quadrature for one pair, as one row of the table.

:class:`Settings` is what every case of a run needs (picklable, sent to the
workers); :class:`Methods` names the three methods a case is computed with,
so that a test or a user can plant a method of their own explicitly
(``Settings(..., methods=Methods(closed_form=mine))``) instead of patching a
module.  :func:`evaluate_case` fills the row schema of
:mod:`mcverify.tables.schema` for one case; the batched univariate path of
:mod:`mcverify.engine.blocks` fills the same columns for many.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from mcverify.config.cases import Case, RunSpec
from mcverify.numerics.closed_form import kl_divergence
from mcverify.numerics.gaussian import Gaussian
from mcverify.quadrature.integration import QuadratureResult, quadrature_kl
from mcverify.sampling.estimators import estimate_kl
from mcverify.sampling.monte_carlo import MonteCarloResult
from mcverify.sampling.ratio_estimators import ratio_estimators
from mcverify.sampling.seeding import case_seed
from mcverify.stats.verdicts import rounding_allowance

__all__ = ["Methods", "Settings", "evaluate_case"]


@dataclass(frozen=True)
class Methods:
    """The three methods a case is computed with; mcverify's own by default.

    Attributes
    ----------
    closed_form : callable
        ``closed_form(p, q) -> float``, as :func:`mcverify.kl_divergence`.
    sampled : callable
        As :func:`mcverify.sampling.estimators.estimate_kl`.
    integrated : callable
        As :func:`mcverify.quadrature_kl`.
    """

    closed_form: Callable[[Gaussian, Gaussian], float] = kl_divergence
    sampled: Callable[..., MonteCarloResult] = estimate_kl
    integrated: Callable[..., QuadratureResult] = quadrature_kl

    @property
    def built_in(self) -> bool:
        """Whether these are mcverify's own three methods (the batched path computes exactly those)."""
        return self == Methods()


@dataclass(frozen=True)
class Settings:
    """Per-run settings every case needs (picklable, sent to workers)."""

    samples: int
    seed: int
    confidence: float = 0.95
    quad_rtol: float = 1e-10
    method: str = "mc"
    randomizations: int = 64
    estimators: tuple[str, ...] = ()
    methods: Methods = field(default_factory=Methods)

    @classmethod
    def from_spec(cls, spec: RunSpec, methods: Methods | None = None) -> Settings:
        """The settings of run ``spec``, computed with ``methods`` (mcverify's own by default)."""
        return cls(
            spec.samples,
            spec.seed,
            spec.confidence,
            method=spec.method,
            randomizations=spec.randomizations,
            estimators=tuple(spec.estimators),
            methods=methods or Methods(),
        )

    @property
    def batched(self) -> bool:
        """Whether univariate pairs may go through the batched path.

        It implements mcverify's own methods with plain Monte Carlo and no
        k1/k2/k3 estimators; any other choice computes every case with
        :func:`evaluate_case`, one at a time.
        """
        return self.method == "mc" and not self.estimators and self.methods.built_in


def evaluate_case(case: Case, settings: Settings) -> dict[str, Any]:
    """Closed form, Monte Carlo and quadrature for one case, as a flat row."""
    methods = settings.methods
    t0 = time.perf_counter()
    p, q = case.p, case.q
    closed = methods.closed_form(p, q)
    t1 = time.perf_counter()
    seed = case_seed(settings.seed, case.index)
    mc = methods.sampled(
        p,
        q,
        settings.samples,
        method=settings.method,
        seed=seed,
        confidence=settings.confidence,
        randomizations=settings.randomizations,
    )
    floor = rounding_allowance(closed, mc.estimate, "full" in (p.kind, q.kind))
    t2 = time.perf_counter()
    quad = methods.integrated(p, q, rtol=settings.quad_rtol)
    direct = methods.integrated(p, q, method="direct", rtol=settings.quad_rtol) if p.dim <= 2 else None
    t3 = time.perf_counter()
    row: dict[str, Any] = {
        "index": case.index,
        "name": case.name,
        "group": case.group,
        "direction": case.direction,
        "dim": p.dim,
        "p_kind": p.kind,
        "q_kind": q.kind,
        "kl_closed": closed,
        "method": mc.method,
        "kl_mc": mc.estimate,
        "mc_stderr": mc.stderr,
        "mc_skewness": mc.skewness,
        "mc_df": mc.df,
        "mc_ci_low": mc.ci_low,
        "mc_ci_high": mc.ci_high,
        "mc_z": mc.z_score(closed, floor),
        "mc_p_value": mc.p_value(closed, floor),
        "kl_quad": quad.value,
        "quad_error": quad.error,
        "quad_reliable": quad.reliable,
        "quad_message": quad.message,
        "kl_quad_direct": direct.value if direct else math.nan,
        "quad_direct_error": direct.error if direct else math.nan,
        "quad_direct_reliable": direct.reliable if direct else None,
        "samples": mc.samples,
        "seed": seed,
        "seconds_closed": t1 - t0,
        "seconds_mc": t2 - t1,
        "seconds_quad": t3 - t2,
        "seconds": t3 - t0,
    }
    row.update(_errors(closed, mc.estimate, "mc"))
    row.update(_errors(closed, quad.value, "quad"))
    if settings.estimators:
        row.update(_ratio_columns(case, settings, seed, closed))
        row["seconds"] += row["seconds_estimators"]
    for key, value in case.params:
        row[f"param:{key}"] = value
    return row


def _ratio_columns(case: Case, settings: Settings, seed: int, closed: float) -> dict[str, Any]:
    """The requested k1/k2/k3 columns (same draws as plain Monte Carlo with this seed)."""
    t0 = time.perf_counter()
    k = ratio_estimators(case.p, case.q, settings.samples, seed=seed, confidence=settings.confidence)
    out: dict[str, Any] = {}
    for name in settings.estimators:
        result = getattr(k, name)
        out[f"kl_{name}"] = result.estimate
        out[f"{name}_stderr"] = result.stderr
        if name == "k2":
            out["k2_bias"] = result.estimate - closed
        if name == "k3":
            out["k3_finite_variance"] = k.k3_finite_variance
    out["seconds_estimators"] = time.perf_counter() - t0
    return out


def _errors(truth: float, value: float, tag: str) -> dict[str, float]:
    err = abs(value - truth)
    rel = err / abs(truth) if truth != 0.0 else (0.0 if err == 0.0 else math.inf)
    return {f"abs_err_{tag}": err, f"rel_err_{tag}": rel}
