"""The eager expansion of a sweep: the oracle the lazy case list is tested against.

:func:`expand_sweep` builds every point of a sweep at once, in the stable
order the config grammar documents (grid points in Cartesian order, last axis
fastest, then draws ``0 .. count-1``); :class:`mcverify.config.case_list.CaseList`
computes the same points one at a time, on demand. The tests check that the
two agree case for case.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from mcverify.config.sweeps import Fixed, Grid, Random, Sweep, Vector, draw_random, draw_seed, sweep_axes
from mcverify.formatting import format_values


@dataclass(frozen=True)
class Point:
    """One expanded point of a sweep.

    Attributes
    ----------
    values : mapping
        ``{"p": {"mean": ..., "std": ...}, "q": {...}}``: keyword arguments
        for :class:`~mcverify.numerics.gaussian.Gaussian`.
    params : tuple of (str, float)
        The swept scalar values by axis path, then ``("draw", k)`` when the
        sweep has random fields.
    label : str
        ``"p.std=0.01, draw=3"``: what goes between the brackets of a case
        name (empty when nothing varies).
    """

    values: Mapping[str, Mapping[str, Any]]
    params: tuple[tuple[str, float], ...]
    label: str


# ------------------------------------------------------- small helpers


def expand_sweep(sweep: Sweep, run_seed: int, sweep_number: int) -> Iterator[Point]:
    """Expand a sweep into its points, in the stable order described above.

    Parameters
    ----------
    sweep : Sweep
        With dimensions resolved (:func:`resolve_dims`).
    run_seed : int
        The run's root seed.
    sweep_number : int
        Position of the sweep among the config's sweeps, from 0.

    Yields
    ------
    Point
        ``sweep_size(sweep)`` points: grid points in Cartesian order (last
        axis fastest), and for each of them draws ``0 .. count-1``.
    """
    axes = sweep_axes(sweep)
    grids = [g.values() for _, g in axes]
    labels = [format_values(v) for v in grids]
    randoms = [f for f in sweep.fields if isinstance(f.spec, Random)]
    n_draws = sweep.count if randoms else 1
    draws: list[dict[str, NDArray[np.float64]]] = []
    if randoms:
        for k in range(n_draws):
            drawn = {}
            for f in randoms:
                assert isinstance(f.spec, Random)
                rng = np.random.default_rng(draw_seed(run_seed, sweep_number, k, f.code))
                drawn[f.path] = draw_random(f.spec, rng)
            draws.append(drawn)
    for idx in itertools.product(*(range(v.size) for v in grids)):
        at = {path: float(grids[a][i]) for a, ((path, _), i) in enumerate(zip(axes, idx))}
        params = tuple((path, at[path]) for path, _ in axes)
        label = [f"{path}={labels[a][i]}" for a, ((path, _), i) in enumerate(zip(axes, idx))]
        for k in range(n_draws):
            values: dict[str, dict[str, Any]] = {"p": {}, "q": {}}
            for f in sweep.fields:
                spec = f.spec
                if isinstance(spec, Fixed):
                    v: Any = spec.value
                elif isinstance(spec, Grid):
                    v = at[f.path]
                elif isinstance(spec, Vector):
                    v = np.array(
                        [
                            at[f"{f.path}[{i}]"] if isinstance(item, Grid) else item
                            for i, item in enumerate(spec.items, 1)
                        ],
                        dtype=np.float64,
                    )
                else:
                    v = draws[k][f.path]
                values[f.side][f.key] = v
            if randoms:
                yield Point(values, (*params, ("draw", k)), ", ".join([*label, f"draw={k}"]))
            else:
                yield Point(values, params, ", ".join(label))
