"""The results table: stable column names, their meaning and their order."""

from __future__ import annotations

from typing import Any

import pandas as pd

__all__ = ["COLUMNS", "to_frame"]

#: Every column of the results table, in order, with its meaning. Swept
#: parameters follow as ``param:<path>`` columns (``param:p.std``).
COLUMNS: dict[str, str] = {
    "config": "config file stem the case comes from",
    "index": "case position in the run, from 0 (its seed derives from it)",
    "name": "unique case label: entry name, swept values in brackets, '/reverse'",
    "group": "the [[pair]] or [[sweep]] name",
    "direction": "'forward' (as written) or 'reverse' (KL(q || p))",
    "dim": "dimension d",
    "p_kind": "p's covariance structure: univariate, diagonal or full",
    "q_kind": "q's covariance structure",
    "kl_closed": "closed-form KL(p || q) in nats (the reference)",
    "kl_mc": "Monte Carlo estimate: mean of log p(x) - log q(x), x ~ p",
    "mc_stderr": "standard error of kl_mc",
    "mc_ci_low": "lower end of the Monte Carlo confidence interval",
    "mc_ci_high": "upper end of the Monte Carlo confidence interval",
    "mc_z": "(kl_mc - kl_closed) / mc_stderr",
    "mc_p_value": "two-sided normal p-value of mc_z",
    "mc_p_adjusted": "mc_p_value adjusted for the number of cases (Holm by default)",
    "kl_quad": "numerical integral of p log(p/q) (scipy quad, reduced to 1-D pieces)",
    "quad_error": "quad's own absolute error estimate for kl_quad",
    "quad_reliable": "False when quad warned or its error estimate exceeds its tolerance",
    "quad_message": "why kl_quad is unreliable, empty otherwise",
    "kl_quad_direct": "direct 1-D/2-D integration without the reduction (d <= 2, else empty)",
    "quad_direct_error": "quad's error estimate for kl_quad_direct",
    "quad_direct_reliable": "reliability of kl_quad_direct (empty when d > 2)",
    "quad_tolerance": "allowed |kl_quad - kl_closed|: quad_error + closed-form accuracy",
    "abs_err_mc": "|kl_mc - kl_closed|",
    "rel_err_mc": "abs_err_mc / |kl_closed|",
    "abs_err_quad": "|kl_quad - kl_closed|",
    "rel_err_quad": "abs_err_quad / |kl_closed|",
    "samples": "Monte Carlo sample count",
    "seed": "the case's own seed: monte_carlo_kl(p, q, samples, seed=seed) reproduces kl_mc",
    "seconds_closed": "wall time of the closed form",
    "seconds_mc": "wall time of Monte Carlo",
    "seconds_quad": "wall time of the quadratures",
    "seconds": "wall time of the whole case",
    "verdict": "'pass' when every method agrees within its error, else 'fail'",
    "reason": "why a case failed, and caveats (unreliable quadrature) for any case",
}


def to_frame(rows: list[dict[str, Any]], config: str) -> pd.DataFrame:
    """Rows from :func:`mcverify.runner.run` as a DataFrame in the documented column order."""
    frame = pd.DataFrame(rows)
    frame.insert(0, "config", config)
    if "quad_direct_reliable" in frame:  # True/False, or missing when d > 2
        frame["quad_direct_reliable"] = frame["quad_direct_reliable"].astype("boolean")
    params = [c for c in frame.columns if c.startswith("param:")]
    known = [c for c in COLUMNS if c in frame.columns]
    return frame[known[:8] + params + known[8:]]
