"""Monte Carlo speed: mcverify against the naive approach and the machine's limit.

Run: python benchmarks/bench_monte_carlo.py [--quick]

Every figure is measured in this run on this machine (best of --repeat rounds,
each round running every approach, warmed up, once):
- raw: numpy's standard_normal filling a preallocated buffer with the
  generator mcverify uses (SFC64), the limit of any estimator that draws
  x ~ p; "raw PCG64" is the same with numpy's default generator;
- matmul: a plain (n x d) @ (d x d) product, the limit of one linear map per draw;
- naive: what a user writes: draw with rng.normal / multivariate_normal, then
  two scipy.stats logpdf calls and a mean;
- mcverify: monte_carlo_kl.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import numpy as np
from scipy import stats

from mcverify import Gaussian, monte_carlo_kl
from mcverify.sampling.monte_carlo import CHUNK


def best(fns: dict[str, Callable[[], object]], repeat: int) -> dict[str, float]:
    """Best time of each function over ``repeat`` rounds.

    Each round runs every function, so a burst of noise on the machine cannot
    favour one of them; each is run once untimed first, so that none is timed
    in the memory state the previous one left (the naive approaches allocate
    hundreds of MB).
    """
    times: dict[str, float] = {}
    for _ in range(repeat):
        for name, fn in fns.items():
            fn()
            t0 = time.perf_counter()
            fn()
            times[name] = min(times.get(name, float("inf")), time.perf_counter() - t0)
    return times


def raw_generation(n: int, width: int, rng: np.random.Generator) -> Callable[[], None]:
    """Fill a (rows x width) buffer with standard normals until n * width are drawn."""
    rows = max(1, CHUNK // width)
    buf = np.empty((rows, width))

    def raw() -> None:
        for start in range(0, n, rows):
            rng.standard_normal(out=buf[: min(rows, n - start)])

    return raw


def univariate(n: int, repeat: int) -> dict[str, float]:
    p, q = Gaussian(0.3, std=2.0), Gaussian(0.0, std=1.0)
    rng = np.random.default_rng(0)  # PCG64, what a user gets

    def naive() -> None:
        x = rng.normal(0.3, 2.0, n)
        llr = stats.norm.logpdf(x, 0.3, 2.0) - stats.norm.logpdf(x, 0.0, 1.0)
        llr.mean(), llr.std(ddof=1)

    times = best(
        {
            "raw": raw_generation(n, 1, np.random.Generator(np.random.SFC64(0))),
            "raw PCG64": raw_generation(n, 1, rng),
            "naive": naive,
            "mcverify": lambda: monte_carlo_kl(p, q, n, seed=0),
        },
        repeat,
    )
    return {k: t / n * 1e9 for k, t in times.items()}


def multivariate(n: int, d: int, repeat: int) -> dict[str, float]:
    rng = np.random.default_rng(1)
    a = rng.standard_normal((d, d))
    cov_p = a @ a.T / d + np.eye(d)
    cov_q = np.diag(np.linspace(0.5, 2.0, d))
    mean_p = rng.normal(size=d) * 0.1
    p, q = Gaussian(mean_p, cov=0.5 * (cov_p + cov_p.T)), Gaussian(np.zeros(d), cov=cov_q)
    rows = max(1, CHUNK // d)
    z = rng.standard_normal((rows, d))
    out = np.empty((rows, d))

    def matmul() -> None:
        for start in range(0, n, rows):
            m = min(rows, n - start)
            np.matmul(z[:m], a, out=out[:m])

    def naive() -> None:
        x = rng.multivariate_normal(p.mean, p.cov, size=n)
        llr = stats.multivariate_normal.logpdf(x, p.mean, p.cov) - stats.multivariate_normal.logpdf(x, q.mean, q.cov)
        llr.mean(), llr.std(ddof=1)

    times = best(
        {
            "raw": raw_generation(n, d, np.random.Generator(np.random.SFC64(0))),
            "raw PCG64": raw_generation(n, d, rng),
            "matmul": matmul,
            "naive": naive,
            "mcverify": lambda: monte_carlo_kl(p, q, n, seed=0),
        },
        repeat,
    )
    return {k: t / n * 1e9 for k, t in times.items()}


def report(title: str, ns: dict[str, float], target_raw: float, target_naive: float) -> None:
    print(title)
    for key, value in ns.items():
        print(f"  {key:>10}: {value:10.1f} ns/sample")
    print(
        f"  mcverify / raw generation: {ns['mcverify'] / ns['raw']:.2f}x"
        + (f" (target <= {target_raw}x)" if target_raw else "")
    )
    if "matmul" in ns:
        print(f"  mcverify / (raw + matmul): {ns['mcverify'] / (ns['raw'] + ns['matmul']):.2f}x")
    print(f"  naive / mcverify: {ns['naive'] / ns['mcverify']:.1f}x faster (target >= {target_naive}x)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="10x fewer samples")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    scale = 10 if args.quick else 1
    n1 = 10_000_000 // scale
    report(f"univariate, {n1:.0e} samples", univariate(n1, args.repeat), 1.3, 5)
    n100 = 100_000 // scale
    report(f"d = 100 full covariance, {n100:.0e} samples", multivariate(n100, 100, args.repeat), 0, 2.5)


if __name__ == "__main__":
    main()
