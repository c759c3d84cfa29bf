"""Tails of the Monte Carlo z-statistic for the most skewed log-likelihood ratio.

Run: python benchmarks/skewness_tails.py [--samples 100 1000 10000] [--replicates N]

For p = N(0, 10^2) and q = N(0, 1) the log ratio is 49.5 z^2 + const, an
affine function of a chi-square with one degree of freedom: skewness
sqrt(8) = 2.83, the largest any pair of Gaussians can give (adding a mean
shift or more dimensions only lowers it). Every pair with equal means and
a std ratio other than 1 gives the same law of |T| up to sign, so one
simulation covers them all.

For each sample size n it draws ``replicates`` samples of n standard normals
(numpy SFC64, seed 1, in blocks of 2e6 numbers), forms the studentised mean
T = (mean - E) / (S / sqrt n) of 49.5 z^2 and Hall's corrected statistic
g(T) (:func:`mcverify.stats.intervals.hall_transform` with the sample skewness),
and prints how often each exceeds x = 2, 3, 4, 4.5, 5 in absolute value and
in each tail, as a ratio to the normal law's rate. This is the measurement
behind mcverify's skewness correction and :func:`mcverify.stats.intervals.minimum_terms`.
Counts are small in the far tails: a ratio from k exceedances has a
relative standard error of about 1 / sqrt(k).
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from scipy.special import ndtr

from mcverify.stats.intervals import hall_transform

A = 49.5  # (10^2 - 1) / 2: the coefficient of z^2
XS = (2.0, 3.0, 4.0, 4.5, 5.0)


def statistics(n: int, replicates: int) -> tuple[np.ndarray, np.ndarray]:
    """Raw studentised means and Hall's corrected ones for ``replicates`` samples of size n."""
    rng = np.random.Generator(np.random.SFC64(1))
    block = max(1, 2_000_000 // n)
    raw, corrected = [], []
    hall = np.frompyfunc(hall_transform, 3, 1)
    for start in range(0, replicates, block):
        k = min(block, replicates - start)
        z = rng.standard_normal((k, n))
        y = A * z * z
        m = y.mean(1)
        d = y - m[:, None]
        m2 = (d * d).mean(1)
        skew = (d * d * d).mean(1) / m2**1.5
        t = (m - A) / np.sqrt((d * d).sum(1) / (n - 1) / n)
        raw.append(t)
        corrected.append(hall(t, skew, n).astype(np.float64))
    return np.concatenate(raw), np.concatenate(corrected)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--samples", type=int, nargs="+", default=[100, 1000, 10_000])
    parser.add_argument("--replicates", type=int, default=2_000_000)
    args = parser.parse_args()
    for n in args.samples:
        t0 = time.perf_counter()
        raw, corrected = statistics(n, args.replicates)
        print(f"n = {n:,}, {args.replicates:,} replicates ({time.perf_counter() - t0:.0f} s)")
        print(
            f"  {'x':>4} {'normal P(|Z|>x)':>16} {'raw: two-sided':>15} {'lower':>6} {'upper':>6}"
            f" {'Hall: two-sided':>16} {'lower':>6} {'upper':>6}"
        )
        for x in XS:
            tail = ndtr(-x)
            cells = []
            for s in (raw, corrected):
                lo, hi = np.mean(s < -x), np.mean(s > x)
                cells += [(lo + hi) / (2 * tail), lo / tail, hi / tail]
            print(
                f"  {x:>4} {2 * tail:>16.3g} {cells[0]:>15.2f} {cells[1]:>6.2f} {cells[2]:>6.2f}"
                f" {cells[3]:>16.2f} {cells[4]:>6.2f} {cells[5]:>6.2f}"
            )
        print(
            f"  (exceedances of x = 4: raw {int(np.sum(np.abs(raw) > 4))}, Hall {int(np.sum(np.abs(corrected) > 4))};"
            f" normal expects {2 * ndtr(-4.0) * args.replicates:.0f})"
        )


if __name__ == "__main__":
    main()
