"""The cases of a run as a lazy sequence: built on demand, never all at once.

A config's ``[[pair]]`` entries hold their Gaussians; a ``[[sweep]]`` holds
only its grids and random families.  :class:`CaseList` numbers all cases in
the documented order (pairs in file order, then sweeps; within a sweep grid
points in product order, last axis fastest, draws innermost; a reverse case
right after its forward case) and builds case ``i`` from ``i`` alone by
mixed-radix arithmetic, so a sweep of 10^6 cases costs a few kilobytes
until it is evaluated, and any block of cases can be built in any worker.

Random draws are recomputed from their own seeds
(:func:`mcverify.config.sweeps.draw_seed`) when needed, with a small cache.
:meth:`CaseList.records` yields light :class:`CaseRecord` objects that keep
the parameters as the config gave them, which lets the runner evaluate
univariate pairs in bulk without building a :class:`~mcverify.Gaussian`
for each.
"""

from __future__ import annotations

import bisect
import itertools
import threading
from collections import OrderedDict
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, overload

import numpy as np
from numpy.typing import NDArray

from mcverify.config.cases import Case, Direction
from mcverify.config.sweeps import (
    Fixed,
    Grid,
    Random,
    Sweep,
    Vector,
    draw_random,
    draw_seed,
    sweep_axes,
    sweep_size,
)
from mcverify.formatting import format_values
from mcverify.numerics.gaussian import Gaussian

__all__ = ["CaseList", "CaseRecord", "PairEntry", "SweepEntry", "UnivariateSegment"]

#: Random draws kept per sweep (each is a few vectors or matrices).
_DRAW_CACHE = 256

Univariate = tuple[float, float, bool, float, float, bool]


@dataclass(frozen=True)
class PairEntry:
    """A ``[[pair]]``: its name, Gaussians and direction (forward, reverse or both)."""

    name: str
    p: Gaussian
    q: Gaussian
    direction: str

    @property
    def size(self) -> int:
        return 2 if self.direction == "both" else 1


@dataclass(frozen=True)
class SweepEntry:
    """A ``[[sweep]]`` with resolved dimensions, its position among the sweeps and the run seed."""

    name: str
    sweep: Sweep
    number: int
    direction: str
    run_seed: int

    @property
    def size(self) -> int:
        return sweep_size(self.sweep) * (2 if self.direction == "both" else 1)


@dataclass(frozen=True)
class CaseRecord:
    """A case before its Gaussians are built.

    ``p`` and ``q`` are either :class:`~mcverify.Gaussian` objects (pairs)
    or the keyword arguments that build them (sweeps), already swapped for
    a reverse case.
    """

    index: int
    name: str
    group: str
    direction: Direction
    params: tuple[tuple[str, float], ...]
    p: Gaussian | Mapping[str, Any]
    q: Gaussian | Mapping[str, Any]

    def case(self) -> Case:
        """The :class:`~mcverify.config.cases.Case`, Gaussians built."""
        return Case(
            self.index, self.name, self.group, _gaussian(self.p), _gaussian(self.q), self.direction, self.params
        )

    def univariate(self) -> Univariate | None:
        """``(mean_p, scale_p, p_is_var, mean_q, scale_q, q_is_var)`` for a univariate pair, else None."""
        p, q = _scalar(self.p), _scalar(self.q)
        if p is None or q is None:
            return None
        return (*p, *q)


def _gaussian(g: Gaussian | Mapping[str, Any]) -> Gaussian:
    return g if isinstance(g, Gaussian) else Gaussian(**g)


def _scalar(g: Gaussian | Mapping[str, Any]) -> tuple[float, float, bool] | None:
    """``(mean, scale, is_var)`` of a univariate Gaussian (as it would be built), else None."""
    if isinstance(g, Gaussian):
        if g.kind != "univariate":
            return None
        if g.var is not None:
            return (float(g.mean[0]), float(g.var[0]), True)
        assert g.std is not None  # a univariate Gaussian has std or var
        return (float(g.mean[0]), float(g.std[0]), False)
    mean: Any = g.get("mean")
    if "cov" in g or not _is_scalar(mean):
        return None
    if "std" in g and _is_scalar(g["std"]):
        return float(mean), float(g["std"]), False
    if "var" in g and _is_scalar(g["var"]):
        return float(mean), float(g["var"]), True
    return None


def _is_scalar(x: Any) -> bool:
    return (isinstance(x, (int, float)) and not isinstance(x, bool)) or (isinstance(x, np.ndarray) and x.ndim == 0)


@dataclass(frozen=True)
class UnivariateSegment:
    """Consecutive cases of a univariate sweep, as arrays (see :meth:`CaseList.univariate_segment`)."""

    index: NDArray[np.int64]
    names: list[str]
    group: str
    directions: list[str]
    params: dict[str, NDArray[np.float64]]
    pairs: tuple[
        NDArray[np.float64],
        NDArray[np.float64],
        NDArray[np.bool_],
        NDArray[np.float64],
        NDArray[np.float64],
        NDArray[np.bool_],
    ]


@dataclass
class _SweepIndex:
    """Precomputed axes, labels and a draw cache of one sweep (per process)."""

    axes: list[tuple[str, Grid]]
    grids: list[NDArray[np.float64]]
    labels: list[list[str]]
    sizes: list[int]
    randoms: list[Any]
    n_draws: int
    fixed: dict[str, Gaussian | None] = field(default_factory=dict)
    draws: OrderedDict[int, dict[str, NDArray[np.float64]]] = field(default_factory=OrderedDict)


class CaseList(Sequence[Case]):
    """All cases of a run, in order, built on demand.

    Parameters
    ----------
    entries : sequence of PairEntry or SweepEntry
        Pairs first, then sweeps, in file order (as the config loader gives them).

    Notes
    -----
    ``cases[i]`` builds case ``i`` (its Gaussians validated on construction);
    ``len(cases)`` is known without building any.  Slices return lists.
    The object pickles to its entries, so it travels cheaply to worker
    processes.
    """

    def __init__(self, entries: Sequence[PairEntry | SweepEntry]) -> None:
        self.entries = tuple(entries)
        self._starts = list(itertools.accumulate((e.size for e in self.entries), initial=0))
        self._index: dict[int, _SweepIndex] = {}
        self._lock = threading.Lock()  # the caches may be shared by threads of one executor

    # ------------------------------------------------------------ sequence
    def __len__(self) -> int:
        return self._starts[-1]

    @overload
    def __getitem__(self, i: int) -> Case: ...
    @overload
    def __getitem__(self, i: slice) -> list[Case]: ...
    def __getitem__(self, i: int | slice) -> Case | list[Case]:
        if isinstance(i, slice):
            return [self.record(k).case() for k in range(*i.indices(len(self)))]
        n = len(self)
        k = int(i)
        if k < 0:
            k += n
        if not 0 <= k < n:
            raise IndexError(f"case index {i} out of range for {n} cases")
        return self.record(k).case()

    def __iter__(self) -> Iterator[Case]:
        for rec in self.records(0, len(self)):
            yield rec.case()

    def __repr__(self) -> str:
        return f"CaseList({len(self)} cases in {len(self.entries)} entries)"

    def __getstate__(self) -> dict[str, Any]:
        return {"entries": self.entries}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["entries"])  # type: ignore[misc]  # unpickling: rebuild from the entries, as the constructor does

    # ------------------------------------------------------------- records
    def record(self, i: int) -> CaseRecord:
        """The record of case ``i`` (``0 <= i < len(self)``)."""
        e = bisect.bisect_right(self._starts, i) - 1
        return self._record(e, i - self._starts[e], i)

    def records(self, start: int, stop: int) -> Iterator[CaseRecord]:
        """Records of cases ``start .. stop-1``, in order."""
        stop = min(stop, len(self))
        i = start
        while i < stop:
            e = bisect.bisect_right(self._starts, i) - 1
            end = min(stop, self._starts[e + 1])
            for k in range(i, end):
                yield self._record(e, k - self._starts[e], k)
            i = end

    def entry_of(self, i: int) -> tuple[int, int]:
        """``(entry number, local index)`` of case ``i``."""
        e = bisect.bisect_right(self._starts, i) - 1
        return e, i - self._starts[e]

    def entry_start(self, e: int) -> int:
        """Index of the first case of entry ``e``."""
        return self._starts[e]

    def _record(self, e: int, local: int, index: int) -> CaseRecord:
        entry = self.entries[e]
        both = entry.direction == "both"
        point, rev = divmod(local, 2) if both else (local, entry.direction == "reverse")
        direction: Direction = "reverse" if rev else "forward"
        p: Gaussian | Mapping[str, Any]
        q: Gaussian | Mapping[str, Any]
        params: tuple[tuple[str, float], ...]
        if isinstance(entry, PairEntry):
            p, q, name, params = entry.p, entry.q, entry.name, ()
        else:
            values, params, label = self.point(e, point)
            p, q = values["p"], values["q"]
            name = f"{entry.name}[{label}]" if label else entry.name
        if rev:
            p, q = q, p
            if both:
                name += "/reverse"
        return CaseRecord(index, name, entry.name, direction, params, p, q)

    # --------------------------------------------------------------- sweeps
    def _sweep_index(self, e: int) -> _SweepIndex:
        with self._lock:
            return self._sweep_index_locked(e)

    def _sweep_index_locked(self, e: int) -> _SweepIndex:
        idx = self._index.get(e)
        if idx is None:
            entry = self.entries[e]
            assert isinstance(entry, SweepEntry)
            axes = sweep_axes(entry.sweep)
            grids = [g.values() for _, g in axes]
            randoms = [f for f in entry.sweep.fields if isinstance(f.spec, Random)]
            idx = self._index[e] = _SweepIndex(
                axes,
                grids,
                [format_values(v) for v in grids],
                [v.size for v in grids],
                randoms,
                entry.sweep.count if randoms else 1,
            )
        return idx

    def _draw(self, e: int, idx: _SweepIndex, k: int) -> dict[str, NDArray[np.float64]]:
        with self._lock:
            return self._draw_locked(e, idx, k)

    def _draw_locked(self, e: int, idx: _SweepIndex, k: int) -> dict[str, NDArray[np.float64]]:
        drawn = idx.draws.get(k)
        if drawn is None:
            entry = self.entries[e]
            assert isinstance(entry, SweepEntry)
            drawn = {}
            for f in idx.randoms:
                rng = np.random.default_rng(draw_seed(entry.run_seed, entry.number, k, f.code))
                drawn[f.path] = draw_random(f.spec, rng)
            idx.draws[k] = drawn
            if len(idx.draws) > _DRAW_CACHE:
                idx.draws.popitem(last=False)
        else:
            idx.draws.move_to_end(k)
        return drawn

    def point(self, e: int, point: int) -> tuple[dict[str, dict[str, Any]], tuple[tuple[str, float], ...], str]:
        """Values, params and label of point ``point`` of sweep entry ``e``.

        The same as the ``point``-th item of the eager expansion of the tests (``tests/sweep_oracle.py``).
        """
        entry = self.entries[e]
        assert isinstance(entry, SweepEntry)
        idx = self._sweep_index(e)
        grid_flat, k = divmod(point, idx.n_draws)
        pos = []
        for size in reversed(idx.sizes):
            grid_flat, i = divmod(grid_flat, size)
            pos.append(i)
        pos.reverse()
        at = {path: float(idx.grids[a][i]) for a, ((path, _), i) in enumerate(zip(idx.axes, pos))}
        params = tuple((path, at[path]) for path, _ in idx.axes)
        label = [f"{path}={idx.labels[a][i]}" for a, ((path, _), i) in enumerate(zip(idx.axes, pos))]
        draws = self._draw(e, idx, k) if idx.randoms else {}
        values: dict[str, dict[str, Any]] = {"p": {}, "q": {}}
        for f in entry.sweep.fields:
            spec = f.spec
            if isinstance(spec, Fixed):
                v: Any = spec.value
            elif isinstance(spec, Grid):
                v = at[f.path]
            elif isinstance(spec, Vector):
                v = np.array(
                    [at[f"{f.path}[{i}]"] if isinstance(item, Grid) else item for i, item in enumerate(spec.items, 1)],
                    dtype=np.float64,
                )
            else:
                v = draws[f.path]
            values[f.side][f.key] = v
        if idx.randoms:
            return values, (*params, ("draw", k)), ", ".join([*label, f"draw={k}"])
        return values, params, ", ".join(label)

    def univariate_segment(self, e: int, lo: int, hi: int) -> UnivariateSegment | None:
        """Cases ``lo .. hi-1`` (local numbers) of sweep entry ``e`` as arrays, if it is univariate.

        A sweep whose fields are all scalars (fixed numbers or grids of
        ``mean``, ``std`` and ``var``; no ``cov``, vectors or random
        families) describes univariate pairs only; their parameters, names
        and params come out as arrays and lists without building a record
        per case.  Returns None for any other entry.
        """
        entry = self.entries[e]
        if not isinstance(entry, SweepEntry):
            return None
        fields = entry.sweep.fields
        for f in fields:
            if f.key == "cov" or not (
                isinstance(f.spec, Grid) or (isinstance(f.spec, Fixed) and _is_scalar(f.spec.value))
            ):
                return None
        idx = self._sweep_index(e)
        local = np.arange(lo, hi, dtype=np.int64)
        both = entry.direction == "both"
        if both:
            point, rev = np.divmod(local, 2)
            rev = rev.astype(bool)
        else:
            point, rev = local, np.full(local.shape, entry.direction == "reverse")
        pos = np.unravel_index(point, idx.sizes) if idx.sizes else ()
        axis_of = {path: a for a, (path, _) in enumerate(idx.axes)}
        side_values: dict[str, dict[str, NDArray[np.float64]]] = {"p": {}, "q": {}}
        for f in fields:
            if isinstance(f.spec, Grid):
                a = axis_of[f.path]
                v = idx.grids[a][pos[a]]
            else:
                assert isinstance(f.spec, Fixed)  # checked above: grids and scalar fixed values only
                v = np.full(local.shape, float(f.spec.value))
            side_values[f.side][f.key] = v

        def side(name: str) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.bool_]]:
            vals = side_values[name]
            is_var = "var" in vals
            scale = vals["var"] if is_var else vals["std"]
            return vals["mean"], scale, np.full(local.shape, is_var)

        pm, ps, pv = side("p")
        qm, qs, qv = side("q")
        pairs = (
            np.where(rev, qm, pm),
            np.where(rev, qs, ps),
            np.where(rev, qv, pv),
            np.where(rev, pm, qm),
            np.where(rev, ps, qs),
            np.where(rev, pv, qv),
        )
        if idx.axes:
            pieces = [[f"{path}={lab}" for lab in idx.labels[a]] for a, (path, _) in enumerate(idx.axes)]
            cols = [[pieces[a][i] for i in pos[a].tolist()] for a in range(len(idx.axes))]
            base = [f"{entry.name}[{', '.join(parts)}]" for parts in zip(*cols)]
        else:
            base = [entry.name] * local.size
        names = [b + "/reverse" if r and both else b for b, r in zip(base, rev.tolist())]
        directions = ["reverse" if r else "forward" for r in rev.tolist()]
        params = {path: idx.grids[a][pos[a]] for a, (path, _) in enumerate(idx.axes)}
        start = self._starts[e]
        return UnivariateSegment(local + start, names, entry.name, directions, params, pairs)

    def segments(self, start: int, stop: int) -> Iterator[tuple[int, int, int]]:
        """``(entry, local_lo, local_hi)`` pieces of the cases ``start .. stop-1``."""
        i = start
        while i < stop:
            e = bisect.bisect_right(self._starts, i) - 1
            end = min(stop, self._starts[e + 1])
            yield e, i - self._starts[e], end - self._starts[e]
            i = end

    def validation_points(self, e: int) -> list[int]:
        """Local point numbers of sweep entry ``e`` that together use every value.

        A Gaussian's validity depends on each of its fields separately
        (finite, positive, positive definite; the dimensions are resolved
        beforehand), so building the Gaussians of these points checks every
        grid value and every random draw: the first grid point with each
        draw, and each value of each axis with the other axes at their first
        value.  Sorted, so the first failure is the first failing case.
        """
        idx = self._sweep_index(e)
        points = set(range(idx.n_draws))
        stride = idx.n_draws
        for a in reversed(range(len(idx.sizes))):
            points.update(i * stride for i in range(idx.sizes[a]))
            stride *= idx.sizes[a]
        return sorted(points)

    def param_paths(self) -> list[str]:
        """Every ``param:`` key the cases carry, in order of first appearance."""
        seen: dict[str, None] = {}
        for entry in self.entries:
            if isinstance(entry, SweepEntry):
                for path, _ in sweep_axes(entry.sweep):
                    seen.setdefault(path, None)
                if entry.sweep.has_random:
                    seen.setdefault("draw", None)
        return list(seen)
