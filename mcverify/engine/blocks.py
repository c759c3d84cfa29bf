"""Blocks of consecutive cases: the unit of work, of parallelism and of checkpoints.

A run's cases are cut into blocks by :class:`Layout`, a function of the
run alone (never of the workers), and :func:`evaluate_block` computes one
block into :mod:`columns <mcverify.tables.columns>`.  Inside a block the
univariate pairs go through the batched paths (:mod:`mcverify.numerics.univariate_pairs`,
:mod:`mcverify.sampling.univariate_batch`, :mod:`mcverify.quadrature.univariate_batch`) all at once;
every other case through :func:`mcverify.engine.case.evaluate_case` (and every
case, when the settings ask for another sampling method, extra estimators or
methods of one's own: :attr:`Settings.batched <mcverify.engine.case.Settings.batched>`).  Each
case's numbers depend only on the case (its seed is keyed by its index),
and a block's composition only on the run, so a table is the same whether
one process computes it or a cluster does.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from mcverify.config.case_list import CaseList, CaseRecord, UnivariateSegment
from mcverify.config.cases import Case
from mcverify.engine.case import Settings, evaluate_case
from mcverify.numerics.univariate_pairs import UnivariatePairs, closed_form
from mcverify.quadrature.integration import quadrature_kl
from mcverify.quadrature.univariate_batch import quadrature as batched_quadrature
from mcverify.sampling.seeding import case_seeds
from mcverify.sampling.univariate_batch import monte_carlo as batched_monte_carlo
from mcverify.stats.intervals import two_sided_p_value
from mcverify.stats.verdicts import rounding_allowance
from mcverify.tables.columns import Columns, empty, set_row

__all__ = ["Layout", "evaluate_block", "records"]

#: A block holds about this many Monte Carlo draws (~0.1-0.2 s of work) ...
BLOCK_DRAWS = 20_000_000
#: ... and at most this many cases; a run has at least ~64 blocks when it
#: has that many cases, so that work spreads over many workers.
MAX_BLOCK = 4096
MIN_BLOCKS = 64


@dataclass(frozen=True)
class Layout:
    """How a run of ``n_cases`` is cut into blocks of ``block_size`` consecutive cases."""

    n_cases: int
    block_size: int

    @classmethod
    def for_run(cls, n_cases: int, samples: int) -> Layout:
        """The layout of a run: it depends on the case count and sample count only.

        ``block_size = max(1, min(BLOCK_DRAWS // samples, MAX_BLOCK, ceil(n_cases / MIN_BLOCKS)))``.
        """
        size = min(max(1, BLOCK_DRAWS // max(samples, 1)), MAX_BLOCK, max(1, math.ceil(n_cases / MIN_BLOCKS)))
        return cls(n_cases, max(1, size))

    @property
    def n_blocks(self) -> int:
        """Number of blocks."""
        return math.ceil(self.n_cases / self.block_size)

    def bounds(self, block: int) -> tuple[int, int]:
        """``(start, stop)`` case indices of ``block``."""
        if not 0 <= block < self.n_blocks:
            raise IndexError(f"block {block} out of range for {self.n_blocks} blocks")
        start = block * self.block_size
        return start, min(start + self.block_size, self.n_cases)


def records(cases: Sequence[Case], start: int, stop: int) -> list[CaseRecord]:
    """Records of cases ``start .. stop-1`` of a :class:`CaseList` or any sequence of cases."""
    if isinstance(cases, CaseList):
        return list(cases.records(start, stop))
    out = []
    for c in cases[start:stop]:
        out.append(CaseRecord(c.index, c.name, c.group, c.direction, c.params, c.p, c.q))
    return out


@dataclass
class _Bulk:
    """Univariate pairs of a block gathered for bulk evaluation."""

    at: list[np.ndarray]
    index: list[np.ndarray]
    names: list[list[str]]
    groups: list[list[str]]
    directions: list[list[str]]
    params: list[tuple[np.ndarray, dict[str, np.ndarray]]]
    pairs: list[tuple[np.ndarray, ...]]

    @classmethod
    def new(cls) -> _Bulk:
        return cls([], [], [], [], [], [], [])

    def add_record(self, k: int, rec: CaseRecord, values: tuple) -> None:
        self.at.append(np.array([k]))
        self.index.append(np.array([rec.index]))
        self.names.append([rec.name])
        self.groups.append([rec.group])
        self.directions.append([rec.direction])
        self.params.append((np.array([k]), {key: np.array([v], dtype=float) for key, v in rec.params}))
        self.pairs.append(tuple(np.array([v]) for v in values))

    def add_segment(self, k0: int, seg: UnivariateSegment) -> None:
        n = len(seg.names)
        at = np.arange(k0, k0 + n)
        self.at.append(at)
        self.index.append(seg.index)
        self.names.append(seg.names)
        self.groups.append([seg.group] * n)
        self.directions.append(seg.directions)
        self.params.append((at, seg.params))
        self.pairs.append(seg.pairs)


def evaluate_block(cases: Sequence[Case], start: int, stop: int, settings: Settings, params: dict[str, str]) -> Columns:
    """Closed form, Monte Carlo and quadrature for cases ``start .. stop-1``.

    Parameters
    ----------
    cases : CaseList or sequence of Case
    start, stop : int
    settings : mcverify.engine.case.Settings
    params : dict
        Storage kinds of the ``param:`` columns (:func:`mcverify.tables.columns.param_dtypes`).

    Returns
    -------
    Columns
        One entry per case, the columns of :func:`mcverify.engine.case.evaluate_case`.
        For univariate pairs ``seconds_closed`` and ``seconds_quad`` are the
        bulk computation's time divided among its cases.
    """
    cols = empty(stop - start, params)
    bulk = _Bulk.new()
    allowed = settings.batched
    if isinstance(cases, CaseList):
        pieces: list[tuple[int, int, int]] = list(cases.segments(start, stop))
    else:
        pieces = [(-1, start, stop)]
    k = 0
    for e, lo, hi in pieces:
        # e >= 0 only in the pieces of a CaseList; isinstance() says so to the type checker.
        seg = cases.univariate_segment(e, lo, hi) if e >= 0 and allowed and isinstance(cases, CaseList) else None
        if seg is not None:
            bulk.add_segment(k, seg)
            k += hi - lo
            continue
        first = lo + (cases.entry_start(e) if e >= 0 and isinstance(cases, CaseList) else 0)
        for rec in records(cases, first, first + hi - lo):
            v = rec.univariate() if allowed else None
            if v is None:
                set_row(cols, k, evaluate_case(rec.case(), settings))
            else:
                bulk.add_record(k, rec, v)
            k += 1
    if bulk.at:
        _univariate_rows(cols, bulk, settings)
    return cols


def _univariate_rows(cols: Columns, bulk: _Bulk, settings: Settings) -> None:
    samples: int = settings.samples
    at = np.concatenate(bulk.at)
    index = np.concatenate(bulk.index)
    pairs = UnivariatePairs(*(np.concatenate([p[j] for p in bulk.pairs]) for j in range(6)))
    n = len(pairs)
    clock = time.perf_counter
    t0 = clock()
    closed = closed_form(pairs)
    t1 = clock()
    seeds = case_seeds(settings.seed, index)
    mc = batched_monte_carlo(pairs, samples, seeds, settings.confidence)
    t2 = clock()
    quad = batched_quadrature(pairs, settings.quad_rtol, quadrature_kl)
    t3 = clock()
    red, direct = quad["reduced"], quad["direct"]
    # As MonteCarloResult.z_score and .p_value with the verdicts' rounding floor.
    se = np.maximum(mc.stderr, rounding_allowance(closed, mc.estimate, False))
    with np.errstate(divide="ignore", invalid="ignore"):
        z = (mc.estimate - closed) / se
        z = np.where(se == 0.0, np.where(closed == mc.estimate, 0.0, np.copysign(np.inf, mc.estimate - closed)), z)
    p_value = two_sided_p_value(z, skewness=mc.skewness, terms=samples)
    for pos, names, groups, dirs in zip(bulk.at, bulk.names, bulk.groups, bulk.directions):
        _put_strings(cols["name"], pos, names)
        _put_strings(cols["group"], pos, groups)
        _put_strings(cols["direction"], pos, dirs)
    for pos, values in bulk.params:
        for key, arr in values.items():
            cols[f"param:{key}"][pos] = arr
    put = {
        "index": index,
        "dim": 1,
        "kl_closed": closed,
        "kl_mc": mc.estimate,
        "mc_stderr": mc.stderr,
        "mc_skewness": mc.skewness,
        "mc_df": np.inf,
        "mc_ci_low": mc.ci_low,
        "mc_ci_high": mc.ci_high,
        "mc_z": z,
        "mc_p_value": p_value,
        "kl_quad": red.value,
        "quad_error": red.error,
        "quad_reliable": red.reliable,
        "kl_quad_direct": direct.value,
        "quad_direct_error": direct.error,
        "quad_direct_reliable": direct.reliable.astype(np.int8),
        "samples": samples,
        "seed": seeds.astype(np.int64),
        "seconds_closed": (t1 - t0) / n,
        "seconds_mc": mc.seconds,
        "seconds_quad": (t3 - t2) / n,
    }
    for key, value in put.items():
        cols[key][at] = value
    cols["seconds"][at] = cols["seconds_closed"][at] + cols["seconds_mc"][at] + cols["seconds_quad"][at]
    _put_strings(cols["method"], at, ["mc"] * n)
    _put_strings(cols["p_kind"], at, ["univariate"] * n)
    _put_strings(cols["q_kind"], at, ["univariate"] * n)
    _put_strings(cols["quad_message"], at, red.message)
    for tag, value in (("mc", mc.estimate), ("quad", red.value)):
        err = np.abs(value - closed)
        with np.errstate(divide="ignore", invalid="ignore"):
            rel = np.where(closed != 0.0, err / np.abs(closed), np.where(err == 0.0, 0.0, np.inf))
        cols[f"abs_err_{tag}"][at] = err
        cols[f"rel_err_{tag}"][at] = rel


def _put_strings(column: list[str], at: np.ndarray, values: list[str]) -> None:
    """``column[at[j]] = values[j]``, by one slice assignment when ``at`` is a run of positions."""
    if len(at) and int(at[-1]) - int(at[0]) == len(at) - 1:
        column[int(at[0]) : int(at[-1]) + 1] = values
    else:
        for j, k in enumerate(at.tolist()):
            column[k] = values[j]
