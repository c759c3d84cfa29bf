"""Hypothesis strategies: valid Gaussian pairs and valid configs (to be broken by the tests).

Gaussian pairs
    Any dimension from 1 to 50 (small dimensions drawn more often, as they
    are where structure changes: univariate, 1x1, 2x2), each side
    independently univariate (d = 1), isotropic (scalar std, vector mean),
    diagonal (std or var) or full; condition numbers of each covariance up
    to 1e6, overall scales 1e-2..1e2 apart, mean offsets up to 10 standard
    deviations.  Hypothesis draws the structure, dimension, spectra
    exponents and offsets; a seed it also draws fixes the random rotations
    and directions, so every example is reproducible.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import numpy as np
from hypothesis import strategies as st

from mcverify import Gaussian

MAX_DIM = 50
MAX_LOG10_COND = 6.0

#: Small dimensions half of the time, any dimension up to 50 otherwise.
dims = st.one_of(st.integers(1, 3), st.integers(1, MAX_DIM))


def rotation(rng: np.random.Generator, d: int) -> np.ndarray:
    """A Haar-random orthogonal matrix (QR of a Gaussian matrix, signs fixed)."""
    q, r = np.linalg.qr(rng.standard_normal((d, d)))
    return q * np.where(np.diag(r) < 0, -1.0, 1.0)


@dataclass(frozen=True)
class Side:
    """How one Gaussian of a pair is built."""

    structure: str  # "univariate", "isotropic", "std", "var", "full"
    log_scale: float  # log10 of the typical standard deviation
    log_cond: float  # log10 of the covariance's condition number


@st.composite
def sides(draw: st.DrawFn, d: int) -> Side:
    structures = ["univariate", "std", "var", "full"] if d == 1 else ["isotropic", "std", "var", "full"]
    structure = draw(st.sampled_from(structures))
    log_cond = 0.0 if structure in ("univariate", "isotropic") else draw(st.floats(0.0, MAX_LOG10_COND))
    return Side(structure, draw(st.floats(-1.0, 1.0)), log_cond)


def build(side: Side, d: int, mean: np.ndarray, rng: np.random.Generator) -> Gaussian:
    """The Gaussian ``side`` describes, with the given mean."""
    s = 10.0**side.log_scale
    if side.structure == "univariate":
        return Gaussian(float(mean[0]), std=s)
    if side.structure == "isotropic":
        return Gaussian(mean, std=s)
    # variances from s**2 to s**2 * cond, log-uniform, both ends present when d > 1
    ends = np.array([0.0, 1.0]) if d > 1 else np.array([0.0])
    u = np.concatenate([ends, rng.uniform(0.0, 1.0, d - ends.size)])[:d]
    var = s * s * 10.0 ** (side.log_cond * rng.permutation(u))
    if side.structure == "std":
        return Gaussian(mean, std=np.sqrt(var))
    if side.structure == "var":
        return Gaussian(mean, var=var)
    r = rotation(rng, d)
    cov = (r * var) @ r.T
    return Gaussian(mean, cov=0.5 * (cov + cov.T))


@dataclass(frozen=True)
class Pair:
    p: Gaussian
    q: Gaussian
    seed: int  # derived from the example: seeds Monte Carlo reproducibly

    def __repr__(self) -> str:
        return f"Pair(p={self.p!r}, q={self.q!r}, seed={self.seed})"


@st.composite
def gaussian_pairs(draw: st.DrawFn, max_dim: int = MAX_DIM) -> Pair:
    """Two valid Gaussians of the same dimension (see the module docstring)."""
    d = draw(dims.filter(lambda n: n <= max_dim))
    side_p, side_q = draw(sides(d)), draw(sides(d))
    shift = draw(st.floats(0.0, 10.0))  # mean offset, in q's typical standard deviations
    seed = draw(st.integers(0, 2**63 - 1))
    rng = np.random.default_rng(seed)
    centre = rng.normal(0.0, 3.0, d) * 10.0**side_q.log_scale
    direction = rng.standard_normal(d)
    direction /= np.linalg.norm(direction)
    p = build(side_p, d, centre + shift * 10.0**side_q.log_scale * direction, rng)
    q = build(side_q, d, centre, rng)
    return Pair(p, q, seed)


# ------------------------------------------------------------------ configs


@st.composite
def distributions(draw: st.DrawFn, d: int, sweep: bool) -> dict[str, Any]:
    """A valid ``p``/``q`` table of dimension ``d`` (scalar mean broadcast, or a vector)."""
    mean: Any = draw(st.floats(-5, 5)) if draw(st.booleans()) else [draw(st.floats(-5, 5)) for _ in range(d)]
    kind = draw(st.sampled_from(["std", "var", "cov"]))
    table: dict[str, Any] = {"mean": mean}
    if kind == "cov":
        if sweep and draw(st.booleans()):
            table["cov"] = {"random": "spd", "dim": d, "cond": draw(st.floats(1.0, 1e3)) if d > 1 else 1.0}
        else:
            v = [draw(st.floats(0.5, 4.0)) for _ in range(d)]
            c = draw(st.floats(-0.4, 0.4))  # off-diagonal rows sum below min(v): diagonally dominant, SPD
            cov = [[v[i] if i == j else c * min(v) / max(d - 1, 1) for j in range(d)] for i in range(d)]
            table["cov"] = cov
        if not isinstance(mean, list) and not isinstance(table["cov"], dict):
            table["mean"] = [mean] * d  # cov fixes d; a scalar mean would be fine too, but vary it
    else:
        if sweep and d == 1 and draw(st.booleans()):
            lo = draw(st.floats(0.1, 1.0))
            table[kind] = draw(
                st.sampled_from(
                    [
                        {"values": sorted({lo, lo * 2, lo * 3})},
                        {"linspace": [lo, lo * 4, draw(st.integers(1, 4))]},
                        {"logspace": [-1, 1, draw(st.integers(1, 4))]},
                    ]
                )
            )
        elif d == 1 and not isinstance(mean, list):
            table[kind] = draw(st.floats(0.1, 10))
        else:
            table[kind] = [draw(st.floats(0.1, 10)) for _ in range(d)]
            table["mean"] = mean if isinstance(mean, list) else [mean] * d
    if sweep and d == 1 and isinstance(table["mean"], float) and draw(st.booleans()):
        table["mean"] = {"linspace": [-1.0, 1.0, draw(st.integers(1, 3))]}
    return table


@st.composite
def valid_configs(draw: st.DrawFn) -> dict[str, Any]:
    """A small valid config: maybe a [run] table, 1-2 pairs and 0-2 sweeps of dimension 1-3."""
    tag = draw(st.sampled_from(["a", "run-1", "x_y", "Ünï", "case 7"]))  # names are free text
    names = [f"{tag}{i}" for i in range(5)]
    data: dict[str, Any] = {}
    if draw(st.booleans()):
        data["run"] = {"samples": draw(st.integers(2, 1000)), "seed": draw(st.integers(0, 2**40))}
        if draw(st.booleans()):
            data["run"]["alpha"] = draw(st.floats(0.001, 0.2))
    n_pairs, n_sweeps = draw(st.integers(1, 2)), draw(st.integers(0, 2))
    for i in range(n_pairs):
        d = draw(st.integers(1, 3))
        entry = {"name": names[i], "p": draw(distributions(d, False)), "q": draw(distributions(d, False))}
        if draw(st.booleans()):
            entry["direction"] = draw(st.sampled_from(["forward", "reverse", "both"]))
        data.setdefault("pair", []).append(entry)
    for j in range(n_sweeps):
        d = draw(st.integers(1, 2))
        p, q = draw(distributions(d, True)), draw(distributions(d, True))
        if d == 1 and not any(isinstance(v, dict) for v in (*p.values(), *q.values())):
            p["mean"] = {"values": [0.0, 1.0]}
            p.pop("cov", None)
            if not any(k in p for k in ("std", "var")):
                p["std"] = 1.0
        entry = {"name": names[3 + j], "p": p, "q": q}
        if any(isinstance(v, dict) and "random" in v for v in (*p.values(), *q.values())):
            entry["count"] = draw(st.integers(1, 3))
        data.setdefault("sweep", []).append(entry)
    return data


POISON_NUMBERS = [float("nan"), float("inf"), float("-inf"), "text", True, dt.date(2020, 2, 2), {}]


def paths(data: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[tuple[Any, ...], str]]:
    """Every place a mutation can go, with what is there: ``"number"``, ``"string"``, ``"table"``, ``"vector"``."""
    out: list[tuple[tuple[Any, ...], str]] = []
    if isinstance(data, dict):
        if prefix:
            out.append((prefix, "table"))
        for k, v in data.items():
            out.extend(paths(v, (*prefix, k)))
    elif isinstance(data, list):
        if data and all(isinstance(x, dict) for x in data):  # [[pair]] / [[sweep]]
            for i, x in enumerate(data):
                out.extend(paths(x, (*prefix, i)))
        elif data and all(isinstance(x, list) for x in data):  # a matrix: its entries
            for i, row in enumerate(data):
                for j, _x in enumerate(row):
                    out.append(((*prefix, i, j), "number"))
        else:
            out.append((prefix, "vector"))
            out.extend(((*prefix, i), "number") for i, x in enumerate(data) if not isinstance(x, (list, dict)))
    elif isinstance(data, str):
        out.append((prefix, "string"))
    else:
        out.append((prefix, "number"))
    return out
