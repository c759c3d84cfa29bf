import ast
import inspect
import math
import tracemalloc

import numpy as np
import pytest
from conftest import random_spd

import mcverify.sampling.monte_carlo as mc_module
import mcverify.sampling.power_sums as power_sums
from mcverify import Gaussian, kl_divergence, monte_carlo_kl, monte_carlo_kl_reference

Z_MAX = 5.0  # |z| beyond 5 has probability 5.7e-7 under a correct estimator


def pairs():
    rng = np.random.default_rng(7)
    yield "wide", Gaussian(0.3, std=2.0), Gaussian(0.0, std=1.0)
    yield "narrow-shifted", Gaussian(0.3, std=1e-3), Gaussian(0.0, std=1.0)
    yield "var-given", Gaussian(-1.0, var=0.5), Gaussian(2.0, var=3.0)
    yield "diag-3", Gaussian([0.0, 1.0, 2.0], std=[1.0, 2.0, 0.5]), Gaussian([1.0, 1.0, 1.0], var=[1.0, 3.0, 1.0])
    yield (
        "diag-1000",
        Gaussian(rng.normal(size=1000) * 0.1, std=np.exp(rng.uniform(-0.2, 0.2, 1000))),
        Gaussian(np.zeros(1000), std=1.0 * np.ones(1000)),
    )
    yield (
        "full-5",
        Gaussian(rng.normal(size=5), cov=random_spd(rng, 5, 30.0)),
        Gaussian(np.zeros(5), std=np.full(5, 1.5)),
    )
    yield (
        "diag-vs-full",
        Gaussian(np.zeros(5), std=np.full(5, 1.5)),
        Gaussian(rng.normal(size=5), cov=random_spd(rng, 5, 30.0)),
    )
    yield (
        "full-50",
        Gaussian(rng.normal(size=50) * 0.2, cov=random_spd(rng, 50, 10.0)),
        Gaussian(np.zeros(50), cov=random_spd(rng, 50, 10.0)),
    )


PAIRS = list(pairs())


@pytest.mark.parametrize("name, p, q", PAIRS, ids=[c[0] for c in PAIRS])
def test_agrees_with_closed_form_within_standard_errors(name, p, q):
    samples = 20_000 if p.dim >= 50 else 200_000
    result = monte_carlo_kl(p, q, samples, seed=12345)
    assert abs(result.z_score(kl_divergence(p, q))) < Z_MAX
    assert result.samples == samples and result.stderr > 0


@pytest.mark.parametrize("name, p, q", PAIRS[:7], ids=[c[0] for c in PAIRS[:7]])
def test_fast_path_matches_direct_scipy_path(name, p, q):
    # Same seed, same draws: only rounding may differ. 70_001 samples span two chunks.
    n = 70_001 if p.dim < 1000 else 300
    fast = monte_carlo_kl(p, q, n, seed=99)
    slow = monte_carlo_kl_reference(p, q, n, seed=99)
    scale = slow.std / np.sqrt(n)  # differences far below one standard error
    assert abs(fast.estimate - slow.estimate) <= 1e-9 * max(abs(slow.estimate), scale)
    assert fast.std == pytest.approx(slow.std, rel=1e-9)


def test_same_seed_is_bit_identical_and_seeds_differ():
    p, q = Gaussian([0.0, 1.0], cov=[[1.0, 0.5], [0.5, 2.0]]), Gaussian([0.0, 0.0], var=[1.0, 1.0])
    a = monte_carlo_kl(p, q, 10_000, seed=np.random.SeedSequence(5, spawn_key=(3, 0)))
    b = monte_carlo_kl(p, q, 10_000, seed=np.random.SeedSequence(5, spawn_key=(3, 0)))
    c = monte_carlo_kl(p, q, 10_000, seed=np.random.SeedSequence(5, spawn_key=(4, 0)))
    assert a == b and a.estimate != c.estimate


def test_interval_is_halls_skewness_corrected_interval():
    r = monte_carlo_kl(Gaussian(0.0, std=2.0), Gaussian(0.0, std=1.0), 10_000, seed=1, confidence=0.9)
    assert r.ci_low < r.estimate < r.ci_high
    assert r.as_dict()["confidence"] == 0.9
    # The llr is 1.5 z^2 + const: right-skewed, so the interval reaches further up.
    assert r.skewness > 2.0 and r.ci_high - r.estimate > r.estimate - r.ci_low
    # Its ends are where Hall's statistic g(T) equals -+1.645 (found by bisection, not by the inverse).
    from scipy.optimize import brentq

    from mcverify.stats.intervals import hall_transform

    def g(mu):
        return hall_transform((r.estimate - mu) / r.stderr, r.skewness, r.samples)

    z = 1.6448536269514722
    lo = brentq(lambda mu: g(mu) - z, r.estimate - 10 * r.stderr, r.estimate)
    hi = brentq(lambda mu: g(mu) + z, r.estimate, r.estimate + 10 * r.stderr)
    assert r.ci_low == pytest.approx(lo, rel=1e-12) and r.ci_high == pytest.approx(hi, rel=1e-12)
    # Half the width stays within 1% of the normal-theory one at this sample size.
    assert (r.ci_high - r.ci_low) / 2 == pytest.approx(z * r.stderr, rel=1e-2)


# Values of monte_carlo_kl before the skewness work (commit 7e427b3): the
# estimate, stderr and std of plain Monte Carlo must stay bit-identical so
# that existing tables reproduce. float.hex of (estimate, stderr, std).
# The univariate entry is from 0.2.0, whose univariate chunk of 10,000 draws
# (8,192 before) moved univariate values above 8,192 samples in the last bit.
# The full-covariance entries are from 0.3.0, which runs the chunk's matrix
# product on one BLAS thread (before, the caller's thread count moved them in
# the last bit; sweeps always ran on one thread, so no table changed).
GOLDEN = {
    "univariate": (
        (Gaussian(0.3, std=2.0), Gaussian(-0.1, std=0.7), 20_001),
        ("0x1.58fb8e6c082c6p+1", "0x1.3444632e625dbp-5", "0x1.54994b1835791p+2"),
    ),
    "diagonal-3": (
        (Gaussian([0.0, 1.0, 2.0], std=[1.0, 2.0, 0.5]), Gaussian([1.0, 1.0, 1.0], var=[1.0, 3.0, 1.0]), 70_001),
        ("0x1.570af39e019a2p+0", "0x1.392e74f011749p-8", "0x1.43ac9eee5992ep+0"),
    ),
    "full-3": (
        (
            Gaussian([0.0, 1.0, -1.0], cov=[[2.0, 0.3, 0.1], [0.3, 1.0, -0.2], [0.1, -0.2, 0.5]]),
            Gaussian([0.5, 0.0, 0.0], cov=[[1.0, 0.2, 0.0], [0.2, 1.5, 0.1], [0.0, 0.1, 2.0]]),
            70_001,
        ),
        ("0x1.68a1291283bf3p+0", "0x1.81e3fff27e0f8p-8", "0x1.8ed1cab0359e5p+0"),
    ),
    "diag-vs-full-2": (
        (Gaussian([0.0, 1.0], var=[1.0, 2.0]), Gaussian([0.0, 0.0], cov=[[1.0, 0.5], [0.5, 2.0]]), 30_000),
        ("0x1.6ecf90e1c6cc8p-2", "0x1.698d189e11446p-8", "0x1.e93cfea1754b5p-1"),
    ),
}


# The sums behind these values run through OpenBLAS (ddot, and dgemm for d > 1), whose
# kernels differ in the order they add: the values above are those of its Haswell,
# Zen and Sandybridge kernels; its AVX-512 kernel (SkylakeX, chosen on CPUs with
# AVX-512) gives these, in the last bit. A table reproduces bit for bit on machines
# whose OpenBLAS runs the same kernel (OPENBLAS_CORETYPE sets it).
GOLDEN_AVX512 = {
    "univariate": ("0x1.58fb8e6c082cap+1", "0x1.3444632e625dap-5", "0x1.54994b1835790p+2"),
}
KERNELS = {"Haswell": {}, "Zen": {}, "Sandybridge": {}, "SkylakeX": GOLDEN_AVX512}


def blas_kernel() -> str:
    from threadpoolctl import threadpool_info

    return next((i.get("architecture", "") for i in threadpool_info() if i["internal_api"] == "openblas"), "")


@pytest.mark.parametrize("name", GOLDEN)
@pytest.mark.parametrize("threads", [1, 2])
def test_plain_monte_carlo_is_bit_identical_to_earlier_versions(name, threads):
    from threadpoolctl import threadpool_limits

    with threadpool_limits(threads):  # the caller's BLAS threads change nothing
        _check_golden(name)


def _check_golden(name: str) -> None:
    (p, q, n), expected = GOLDEN[name]
    r = monte_carlo_kl(p, q, n, seed=np.random.SeedSequence(2024, spawn_key=(3, 0)))
    got = (r.estimate.hex(), r.stderr.hex(), r.std.hex())
    kernel = blas_kernel()
    if kernel in KERNELS:
        assert got == KERNELS[kernel].get(name, expected)
    else:  # a kernel not recorded here: the same values up to the order of the additions
        values = [float.fromhex(h) for h in got]
        assert np.allclose(values, [float.fromhex(h) for h in expected], rtol=16 * np.finfo(float).eps, atol=0), kernel


@pytest.mark.parametrize("name, p, q", PAIRS[:7], ids=[c[0] for c in PAIRS[:7]])
def test_skewness_matches_scipy_on_the_same_draws(name, p, q):
    # The reference computes scipy.stats.skew of the llr values; the fast path
    # gets it from power sums (univariate) or merged third moments (chunks).
    n = 70_001 if p.dim < 1000 else 300
    fast = monte_carlo_kl(p, q, n, seed=5)
    slow = monte_carlo_kl_reference(p, q, n, seed=5)
    assert abs(slow.skewness) > 0.05
    assert fast.skewness == pytest.approx(slow.skewness, rel=1e-8)
    assert fast.ci_low == pytest.approx(slow.ci_low, rel=1e-8, abs=1e-12)
    assert fast.terms == n and fast.df == float("inf") and fast.method == "mc"


def test_p_value_rejects_exactly_outside_the_interval():
    r = monte_carlo_kl(Gaussian(0.0, std=10.0), Gaussian(0.0, std=1.0), 2_000, seed=3, confidence=0.95)
    for edge in (r.ci_low, r.ci_high):
        assert r.p_value(edge) == pytest.approx(0.05, rel=1e-9)
    assert r.p_value(r.estimate) > 0.5
    assert r.p_value(r.ci_low - r.stderr) < 0.05 < r.p_value(r.ci_low + r.stderr)


def test_equal_distributions_give_exactly_zero():
    g = Gaussian([1.0, 2.0], cov=[[2.0, 0.3], [0.3, 1.0]])
    r = monte_carlo_kl(g, g, 1000, seed=0)
    assert abs(r.estimate) < 1e-12 and r.stderr < 1e-12


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"samples": 1}, "samples must be an integer >= 2"),
        ({"samples": 2.5}, "samples must be an integer"),
        ({"samples": 100, "confidence": 1.0}, "confidence must be in"),
    ],
)
def test_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        monte_carlo_kl(Gaussian(0.0, std=1.0), Gaussian(0.0, std=2.0), **kwargs)


def test_dimension_mismatch():
    with pytest.raises(ValueError, match="dimension"):
        monte_carlo_kl(Gaussian([0.0, 0.0], std=1.0), Gaussian(0.0, std=1.0), 100)


@pytest.mark.parametrize("p", [Gaussian(0.0, std=2.0), Gaussian(np.zeros(10), cov=np.eye(10) * 2.0)])
def test_memory_stays_flat(p):
    q = Gaussian(np.zeros(p.dim), std=np.ones(p.dim)) if p.dim > 1 else Gaussian(0.0, std=1.0)
    monte_carlo_kl(p, q, 1000, seed=0)  # warm caches
    tracemalloc.start()
    monte_carlo_kl(p, q, 4_000_000, seed=0)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    # Materialising 4e6 draws would need 32 MB per buffer; chunks need ~1 MB.
    assert peak < 4 * mc_module.CHUNK * 8 + 200_000


def test_monte_carlo_never_uses_the_closed_form():
    tree = ast.parse(inspect.getsource(mc_module))
    imported = {node.module or "" for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)} | {
        alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names
    }
    assert not any("closed_form" in name or "quadrature" in name for name in imported)
    assert "kl_divergence" not in inspect.getsource(mc_module)


@pytest.mark.parametrize("n", [2, 9_999, 10_000, 10_001, 45_678])
def test_power_sums_are_the_sums_of_the_drawn_powers(monkeypatch, n):
    z = np.random.Generator(np.random.SFC64(8)).standard_normal(n)
    exact = [math.fsum(z**k) for k in range(1, 7)]
    lists = power_sums._power_sums(np.random.Generator(np.random.SFC64(8)), n)
    # the same draws within each chunk's BLAS rounding (10,000 terms, 16 digits)
    assert lists == pytest.approx(exact, rel=1e-12, abs=1e-12 * math.sqrt(n))
    # runs beyond 4096 chunks keep compensated partial sums (ExactSum): same bits
    monkeypatch.setattr(power_sums, "_SHORT_RUN", power_sums.UNIVARIATE_CHUNK)
    assert power_sums._power_sums(np.random.Generator(np.random.SFC64(8)), n) == lists
