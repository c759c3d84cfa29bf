"""KLs beyond 1e100: the sample-based estimators accumulate their moments scaled by a power of two.

Two kinds of check. Exactness: forcing the scaling on cases that do not need it
(``SAFE_EXPONENT`` patched far down, so every term is scaled by some ``2**-k``)
must give the same bits, since scaling by a power of two is exact away from
subnormals; that is what keeps every case below 1e100 bit-identical. Scale
invariance: a pair whose log ratio is ``a z^2`` (or ``c z`` plus a constant)
has a standardised estimate, standard error and skewness that do not depend on
``a``, so the values at KL 1e300 (scaled) match those at KL 1e80 (not scaled,
the same seed) to rounding.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

import mcverify.numerics.stable as stable
from mcverify.numerics.closed_form import kl_divergence
from mcverify.numerics.gaussian import Gaussian
from mcverify.numerics.gaussian_batch import GaussianBatch
from mcverify.quadrature.integration import quadrature_kl
from mcverify.sampling.antithetic import antithetic_kl
from mcverify.sampling.log_ratio import LogRatio
from mcverify.sampling.monte_carlo import monte_carlo_kl
from mcverify.sampling.qmc import qmc_kl
from mcverify.sampling.ratio_estimators import ratio_estimators

PAIRS = {
    "univariate": (Gaussian(0.3, std=3.0), Gaussian(-0.2, std=1.5)),
    "diagonal": (Gaussian([0.3, 1.0], std=[3.0, 0.5]), Gaussian([0.0, -1.0], std=[1.5, 1.0])),
    "full": (Gaussian([0.3, 1.0], cov=[[4.0, 1.0], [1.0, 2.0]]), Gaussian([0.0, -1.0], std=[1.5, 1.0])),
    "mean shift": (Gaussian([0.0, 0.0], std=1.0), Gaussian([3.0, -1.0], std=1.0)),
}


def _all_estimates(p: Gaussian, q: Gaussian) -> list[float]:
    """Every number the sample-based estimators report for the pair (and direct quadrature's)."""
    out = []
    k = ratio_estimators(p, q, 3000, seed=4)
    results = [
        monte_carlo_kl(p, q, 3000, seed=4),
        antithetic_kl(p, q, 3000, seed=4),
        qmc_kl(p, q, 1024, seed=4, randomizations=8),
        k.k1,
        k.k2,
        k.k3,
    ]
    for r in results:
        out += [r.estimate, r.stderr, r.ci_low, r.ci_high, r.std, r.skewness]
    if p.dim == 1:
        batch = monte_carlo_kl(GaussianBatch([p.mean[0]] * 2, std=[p.stddevs[0]] * 2), q, 3000, seed=4)
        out += [*batch.estimate, *batch.stderr, *batch.ci_low, *batch.skewness]
    if p.dim <= 2:
        direct = quadrature_kl(p, q, method="direct")
        out += [direct.value, direct.error]
    return out


@pytest.mark.parametrize("name", list(PAIRS))
def test_forced_scaling_gives_the_same_bits(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    p, q = PAIRS[name]
    plain = _all_estimates(p, q)
    assert LogRatio.of(p, q).exponent == 0
    monkeypatch.setattr(stable, "SAFE_EXPONENT", -1000)  # every term scaled, by 2**-k with k = -2 .. 5
    assert LogRatio.of(p, q).exponent != 0
    scaled = _all_estimates(p, q)
    assert np.array_equal(np.array(plain), np.array(scaled), equal_nan=True), (plain, scaled)


def _standardised(p: Gaussian, q: Gaussian, method: str, unit: float) -> tuple[float, float, float]:
    estimate = {"mc": monte_carlo_kl, "antithetic": antithetic_kl}[method]
    r = estimate(p, q, 20_000, seed=11)
    return r.estimate / kl_divergence(p, q), r.stderr / unit, r.skewness


@pytest.mark.parametrize("method", ["mc", "antithetic"])
@pytest.mark.parametrize(
    "kind",
    [
        "univariate scale",
        "diagonal scale",
        "full scale",
        "univariate mean",
        "diagonal mean",
    ],
)
def test_kl_1e300_has_the_moments_of_kl_1e80(kind: str, method: str) -> None:
    """Standardised estimate, standard error and skewness at KL ~1e300 equal those at KL ~1e80.

    The log ratio is ``-log r + (r^2 - 1) z^2 / 2`` (scale) or ``c^2/2 + c z`` (mean): at
    ``r = 1.4e40`` and ``1.4e150`` it is ``KL (z^2 + small)`` in both, the small parts
    ``1/r^2`` and ``log r / KL`` below 1e-77 of it, and at ``c`` alike ``c (c/2 + z)``; so the
    estimate over KL, the standard error over KL (scale) or over ``c`` (mean) and the skewness
    agree to rounding, 1e-12 allowing for the sums of 20,000 terms. The 1e300 case needs the scaling (exponent
    996 or more); the 1e80 one does not (exponent 0), so this compares the two paths.
    """
    d = 1 if kind.startswith("univariate") else 2

    def pair(size: float) -> tuple[Gaussian, Gaussian]:
        if kind.endswith("scale"):
            if kind.startswith("full"):
                return Gaussian(np.zeros(2), cov=np.diag([size**2, 1.0])), Gaussian(np.zeros(2), std=1.0)
            return Gaussian(np.zeros(d), std=[size] + [1.0] * (d - 1)), Gaussian(np.zeros(d), std=1.0)
        return Gaussian(np.full(d, 0.5 * size / math.sqrt(d)), std=1.0), Gaussian(
            np.full(d, -0.5 * size / math.sqrt(d)), std=1.0
        )

    small, big = pair(1.4e40), pair(1.4e150)
    assert LogRatio.of(*small).exponent == 0 and LogRatio.of(*big).exponent >= 496
    assert kl_divergence(*big) > 9e299
    unit = kl_divergence if kind.endswith("scale") else (lambda p, q: float(np.linalg.norm(p.mean - q.mean)))
    a, b = _standardised(*small, method, unit(*small)), _standardised(*big, method, unit(*big))
    assert all(math.isfinite(x) for x in b), b
    # A pure mean shift under antithetic pairs: estimated exactly, standard error 0 in both.
    assert b == pytest.approx(a, rel=1e-12, abs=1e-300), (a, b)
