"""Monte Carlo KL of many univariate pairs at once, each from its own stream.

:func:`monte_carlo` draws each case's normals from the case's own stream
(:mod:`mcverify.sampling.seeding`) through the same chunked power sums as
:func:`mcverify.monte_carlo_kl`: bit-identical to
``monte_carlo_kl(p, q, samples, seed=seed)``.  A sweep of 10^5 univariate
cases at 10^4 samples spends ~100 µs per case drawing normals; computed
one case at a time, the per-case set-up costs as much again.

Pure numerics: arrays in, arrays out.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from mcverify.numerics.univariate_pairs import UnivariatePairs
from mcverify.sampling.log_ratio import whitened_diagonal
from mcverify.sampling.power_sums import (
    UNIVARIATE_CHUNK,
    PowerSumBuffers,
    _chunk_sums,
    _power_sums,
    _univariate_moments,
)
from mcverify.sampling.seeding import StreamPool, sfc64_states
from mcverify.stats.intervals import confidence_interval

__all__ = ["MonteCarloColumns", "monte_carlo"]

Array = NDArray[np.float64]


@dataclass(frozen=True)
class MonteCarloColumns:
    """Monte Carlo results of many pairs, one entry per pair."""

    estimate: Array
    stderr: Array
    ci_low: Array
    ci_high: Array
    seconds: Array
    skewness: Array
    std: Array


def monte_carlo(
    pairs: UnivariatePairs, samples: int, seeds: NDArray[np.uint64], confidence: float = 0.95
) -> MonteCarloColumns:
    """Monte Carlo KL of every pair, each from its own seed.

    Entry ``i`` is bit-identical to
    ``monte_carlo_kl(p_i, q_i, samples, seed=int(seeds[i]), confidence=confidence)``:
    the same SFC64 stream (:func:`mcverify.sampling.seeding.sfc64_states`), the same
    chunked power sums and the same arithmetic; only the per-case set-up is
    shared.  ``seconds`` is each case's wall time.
    """
    n = len(pairs)
    r = np.empty(n)
    c = np.empty(n)
    log_r = np.empty(n)
    for sel, p, q in pairs.groups():
        r[sel], c[sel], log_r[sel] = whitened_diagonal(p, q)  # type: ignore[arg-type]  # Side duck-types Gaussian: mean, std, var, stddevs are all this reads
    buffers = PowerSumBuffers()
    out = np.empty((n, 3, 2))  # case i's sums of z^1 .. z^6 in out[i].ravel()
    seconds = np.empty(n)
    clock = time.perf_counter
    streams = StreamPool().each(sfc64_states(seeds))
    one_chunk = samples <= UNIVARIATE_CHUNK
    z, powers, left, right = buffers.views(min(samples, UNIVARIATE_CHUNK))
    flat = out.reshape(n, 6)
    t0 = clock()
    for i, rng in enumerate(streams):  # the only per-case loop: each case's own stream
        if one_chunk:  # _power_sums on one chunk, its set-up hoisted out of the loop
            rng.standard_normal(out=z)
            _chunk_sums(powers, left, right, out[i])
        else:
            flat[i] = _power_sums(rng, samples, buffers)
        t1 = clock()
        seconds[i] = t1 - t0
        t0 = t1
    t0 = clock()
    if one_chunk:
        flat += 0.0  # as _power_sums' fsum of one number: -0.0 becomes +0.0
    sums = flat.T
    mean, var, skew, k = _univariate_moments(r, c, log_r, sums, samples)
    estimate, stderr, ci_low, ci_high, std = _interval(mean, var, skew, samples, confidence, k)
    seconds += (clock() - t0) / max(n, 1)
    return MonteCarloColumns(estimate, stderr, ci_low, ci_high, seconds, np.asarray(skew, dtype=np.float64), std)


def _interval(
    mean: Array, var: Array, skew: Array, n: int, confidence: float, exponent: NDArray[np.int64]
) -> tuple[Array, Array, Array, Array, Array]:
    """:func:`mcverify.sampling.monte_carlo.mean_result` on arrays: estimate, stderr, interval and std, bit for bit.

    The moments come from :func:`mcverify.sampling.power_sums._univariate_moments`
    itself (applied to arrays), the interval from
    :func:`mcverify.stats.intervals.confidence_interval`, which is written in numpy
    ufuncs for exactly this. ``var`` is scaled by ``4**-exponent``, as ``mean_result`` takes it.
    """
    with np.errstate(invalid="ignore"):
        std = np.ldexp(
            np.sqrt(np.where(0.0 > var, 0.0, var)), exponent
        )  # max(var, 0.0): keeps nan and -0.0 as Python does
    se = std / math.sqrt(n)
    low, high = confidence_interval(mean, se, confidence, skewness=skew, terms=n)
    return mean, se, np.asarray(low), np.asarray(high), std
