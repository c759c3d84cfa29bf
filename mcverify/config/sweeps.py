"""Expansion of parameter sweeps into concrete values (pure: no I/O).

A ``[[sweep]]`` entry gives each field of ``p`` and ``q`` (``mean``, ``std``,
``var``, ``cov``) either a fixed value or a *generator*:

Grid generators (each contributes one axis to a Cartesian product)
    ``{ values = [a, b, ...] }``
        the listed numbers, in order (non-empty, no duplicates);
    ``{ linspace = [a, b, n] }``
        ``numpy.linspace(a, b, n)``: ``n`` evenly spaced numbers, both ends
        included (``n`` an integer >= 1);
    ``{ logspace = [a, b, n] }``
        ``numpy.logspace(a, b, n)``: ``10**a`` to ``10**b``, ``n`` numbers
        evenly spaced in the exponent.

    A grid produces scalars.  To sweep one entry of a vector, put the
    generator in that entry: ``mean = [0.0, { linspace = [-1, 1, 5] }]``
    (axis path ``"p.mean[2]"``; vector entries count from 1, as in every
    field path of a config).

Random families (a fresh vector or matrix for each of the sweep's ``count`` draws)
    ``{ random = "normal", dim = D, loc = 0.0, scale = 1.0 }``
        ``D`` independent ``N(loc, scale**2)`` numbers (``mean`` only);
    ``{ random = "uniform", dim = D, low = a, high = b }``
        ``D`` independent ``U(a, b)`` numbers (``mean``; ``std`` and ``var``
        when ``a > 0``);
    ``{ random = "loguniform", dim = D, low = a, high = b }``
        ``exp(U(log a, log b))``, ``0 < a < b`` (``mean``, ``std``, ``var``);
    ``{ random = "spd", dim = D, cond = C, scale = 1.0 }``
        a symmetric positive definite ``D x D`` covariance (``cov`` only) with
        eigenvalues ``scale * geomspace(1, C, D)``: the smallest is ``scale``,
        the largest ``scale * C``, so its condition number is ``C`` (``C = 1``
        is required when ``D = 1``).  See :func:`random_spd`.

    ``dim`` may be left out when another field of ``p`` or ``q`` fixes the
    dimension (a fixed vector or matrix, a vector with swept entries, or a
    random family with an explicit ``dim``); it is an error when nothing
    does or when fields disagree.

Order of the expanded points
    The grid axes form a Cartesian product in the order the fields appear
    (``p``'s fields, then ``q``'s, each in the order written; swept vector
    entries in entry order), the last axis varying fastest.  For each grid
    point the ``count`` random draws follow, ``draw = 0 .. count-1``: grid
    points outermost, draws innermost.  Draw ``k`` is the same at every grid
    point (common random numbers), so a grid axis is compared on equal terms.

Seeds
    The random field ``f`` of draw ``k`` of sweep number ``s`` (its position
    among the config's ``[[sweep]]`` entries, from 0) draws from::

        SeedSequence(run_seed, spawn_key=(0x5EED, s, k, code(f)))

    where ``code(f) = 4 * side + key`` with ``side`` 0 for ``p`` and 1 for
    ``q`` and ``key`` the position of the field in ``(mean, std, var, cov)``.
    Each field has its own stream, so adding or reordering fields does not
    change the others' draws.  Monte Carlo case seeds use two-element keys
    ``(case_index, replicate)``; sweep keys have four elements, so the two
    can never be the same seed sequence.
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, Literal

import numpy as np
from numpy.typing import NDArray

__all__ = [
    "FAMILIES",
    "GRID_KINDS",
    "MAX_DIM",
    "SEED_TAG",
    "Field",
    "Fixed",
    "Grid",
    "Random",
    "SpecError",
    "Sweep",
    "Vector",
    "clip",
    "describe",
    "draw_random",
    "draw_seed",
    "parse_field",
    "parse_fixed",
    "random_spd",
    "resolve_dims",
    "show_key",
    "sweep_axes",
    "sweep_dim",
    "sweep_size",
    "unknown_key",
    "validate_sweep",
]

#: First element of every spawn key used for sweep draws.
SEED_TAG = 0x5EED
#: The fields of a distribution table, in the order used for seed codes.
FIELD_KEYS = ("mean", "std", "var", "cov")
SIDES = ("p", "q")
GridKind = Literal["values", "linspace", "logspace"]
GRID_KINDS: tuple[GridKind, ...] = ("values", "linspace", "logspace")
FAMILIES = ("normal", "uniform", "loguniform", "spd")

#: Keys a random family accepts (besides ``random``), with their defaults;
#: ``None`` marks a required key, ``"dim"`` is always optional.
_FAMILY_KEYS: dict[str, dict[str, float | None]] = {
    "normal": {"dim": None, "loc": 0.0, "scale": 1.0},
    "uniform": {"dim": None, "low": None, "high": None},
    "loguniform": {"dim": None, "low": None, "high": None},
    "spd": {"dim": None, "cond": None, "scale": 1.0},
}
#: Largest ``dim`` of a random family: beyond it a single draw would not fit in memory.
MAX_DIM = 100_000
#: Which fields each family may generate.
_FAMILY_FIELDS = {
    "normal": ("mean",),
    "uniform": ("mean", "std", "var"),
    "loguniform": ("mean", "std", "var"),
    "spd": ("cov",),
}
_POSITIVE = ("std", "var")


class SpecError(ValueError):
    """A sweep specification is invalid.

    The config loader turns it into a :class:`~mcverify.errors.ConfigError`
    naming the file.

    Parameters
    ----------
    field : str
        Key path of the offending value, e.g. ``"sweep[2].p.std.logspace"``.
    message : str
        What is wrong.
    """

    def __init__(self, field: str, message: str) -> None:
        self.field = field
        self.message = message
        super().__init__(f"{field}: {message}" if field else message)


# --------------------------------------------------------------- specs
@dataclass(frozen=True)
class Fixed:
    """A value that does not vary: a float, a vector or a matrix."""

    value: float | NDArray[np.float64]


@dataclass(frozen=True)
class Grid:
    """A list of scalars, one axis of the sweep's Cartesian product.

    ``args`` holds the listed values for ``kind="values"`` and
    ``(start, stop, n)`` for ``linspace`` and ``logspace``; the values
    themselves are only computed by :meth:`values`, after the sweep's size
    has been checked.
    """

    kind: GridKind
    args: tuple[float, ...]

    @property
    def size(self) -> int:
        """Number of values."""
        return len(self.args) if self.kind == "values" else int(self.args[2])

    def values(self) -> NDArray[np.float64]:
        """The values, in order."""
        if self.kind == "values":
            return np.array(self.args, dtype=np.float64)
        start, stop, n = self.args
        if self.kind == "linspace":
            return np.linspace(start, stop, int(n))
        with np.errstate(over="ignore", under="ignore"):
            return np.logspace(start, stop, int(n))


@dataclass(frozen=True)
class Random:
    """A random family, drawn afresh for each draw of the sweep."""

    family: Literal["normal", "uniform", "loguniform", "spd"]
    dim: int | None = None
    loc: float = 0.0
    scale: float = 1.0
    low: float = math.nan
    high: float = math.nan
    cond: float = 1.0


@dataclass(frozen=True)
class Vector:
    """A vector some of whose entries are grids (the others are floats)."""

    items: tuple[float | Grid, ...]


FieldSpec = Fixed | Grid | Random | Vector


@dataclass(frozen=True)
class Field:
    """One field of a sweep: ``side`` (``"p"``/``"q"``), ``key`` and its spec."""

    side: str
    key: str
    spec: FieldSpec

    @property
    def path(self) -> str:
        """``"p.std"`` and the like."""
        return f"{self.side}.{self.key}"

    @property
    def code(self) -> int:
        """Stable number of the field, used in its random seed."""
        return 4 * SIDES.index(self.side) + FIELD_KEYS.index(self.key)


@dataclass(frozen=True)
class Sweep:
    """The fields of a sweep (in config order) and its number of draws."""

    fields: tuple[Field, ...]
    count: int = 1

    @property
    def has_random(self) -> bool:
        """Whether any field is a random family."""
        return any(isinstance(f.spec, Random) for f in self.fields)


def clip(text: str, limit: int = 60) -> str:
    """``text``, cut short with its length when longer than ``limit`` (error messages stay readable)."""
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text):,} characters)"


def show_key(key: str) -> str:
    """A key as it goes into a field path: printable (escaped if need be) and clipped."""
    return clip(key if key.isprintable() else repr(key)[1:-1])


def describe(value: Any) -> str:
    """Describe a TOML value for an error message: ``"string 'abc'"``."""
    if isinstance(value, bool):
        return f"boolean {'true' if value else 'false'}"
    if isinstance(value, (int, float)):
        return f"number {clip(repr(value))}"
    if isinstance(value, str):
        return f"string {clip(repr(value))}"
    if isinstance(value, list):
        return f"an array of {len(value)} item{'s' if len(value) != 1 else ''}"
    if isinstance(value, dict):
        return "a table"
    if hasattr(value, "isoformat"):
        return f"date/time {value.isoformat()}"
    return f"{type(value).__name__} {value!r}"


def unknown_key(key: str, allowed: Sequence[str]) -> str:
    """Message for an unknown key, with a ``did you mean`` hint if one is close."""
    close = difflib.get_close_matches(key, list(allowed), n=1, cutoff=0.6)
    if close:
        return f"unknown key '{show_key(key)}'; did you mean '{close[0]}'?"
    return f"unknown key '{show_key(key)}' (expected one of: {', '.join(allowed)})"


def _check_keys(table: Mapping[str, Any], allowed: Sequence[str], where: str) -> None:
    for key in table:
        if key not in allowed:
            raise SpecError(f"{where}.{show_key(key)}", unknown_key(key, allowed))


def _number(value: Any, where: str) -> float:
    """A finite float from a TOML number (integers are fine)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise SpecError(where, f"expected a number, got {describe(value)}")
    try:
        x = float(value)
    except OverflowError:
        raise SpecError(where, f"number {clip(str(value))} is too large for a float") from None
    if not math.isfinite(x):
        raise SpecError(where, f"must be finite, got {value!r}")
    return x


def _scale_number(key: str, value: Any, where: str) -> float:
    """A number for field ``key``; positive when ``key`` is ``std`` or ``var``."""
    x = _number(value, where)
    if key in _POSITIVE and x <= 0:
        raise SpecError(where, f"{key} must be positive, got {x!r}")
    return x


def _integer(value: Any, where: str, *, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise SpecError(where, f"expected an integer, got {describe(value)}")
    if value < minimum:
        raise SpecError(where, f"must be an integer >= {minimum}, got {clip(str(value))}")
    return value


def _generator_hint(key: str) -> str:
    return (
        "expected a number or an array of numbers, got a table; generators "
        "({ linspace = [a, b, n] }, { random = ... }) are only allowed in [[sweep]] entries"
        if key != "cov"
        else "expected a number or a matrix (array of rows), got a table; "
        "generators are only allowed in [[sweep]] entries"
    )


# ------------------------------------------------------------- parsing
def parse_fixed(key: str, raw: Any, where: str) -> float | NDArray[np.float64]:
    """Validate a fixed field value and return it as a float or an array.

    ``mean``, ``std`` and ``var`` take a number or a non-empty array of
    numbers (positive for ``std`` and ``var``); ``cov`` a number or a square
    matrix given as an array of rows.  Positive definiteness and matching
    dimensions are left to :class:`~mcverify.numerics.gaussian.Gaussian`.

    Raises
    ------
    SpecError
        For a wrong type, a non-finite number or a malformed array.
    """
    if isinstance(raw, dict):
        raise SpecError(where, _generator_hint(key))
    if not isinstance(raw, list):
        return _scale_number(key, raw, where)
    if key != "cov":
        if not raw:
            raise SpecError(where, "must not be an empty array")
        out = []
        for i, x in enumerate(raw, 1):
            if isinstance(x, dict):
                raise SpecError(f"{where}[{i}]", _generator_hint(key))
            out.append(_scale_number(key, x, f"{where}[{i}]"))
        return np.array(out, dtype=np.float64)
    if not raw or not all(isinstance(row, list) for row in raw):
        raise SpecError(where, "expected a square matrix given as an array of rows, e.g. [[1.0, 0.5], [0.5, 2.0]]")
    n = len(raw)
    for i, row in enumerate(raw, 1):
        if len(row) != n:
            raise SpecError(f"{where}[{i}]", f"a {n}x{n} matrix needs {n} entries in every row, row {i} has {len(row)}")
    return np.array(
        [[_number(x, f"{where}[{i}][{j}]") for j, x in enumerate(row, 1)] for i, row in enumerate(raw, 1)],
        dtype=np.float64,
    )


def parse_field(side: str, key: str, raw: Any, where: str) -> Field:
    """Parse one field of a sweep's ``p`` or ``q`` table.

    Parameters
    ----------
    side : {"p", "q"}
    key : {"mean", "std", "var", "cov"}
    raw : object
        The TOML value: a fixed value, a generator table, or (``mean``,
        ``std``, ``var``) an array whose entries may be grid generators.
    where : str
        Field path of the value, for error messages (``"sweep[1].p.std"``).

    Raises
    ------
    SpecError
        If the value is malformed.
    """
    if isinstance(raw, dict):
        return Field(side, key, _parse_generator(key, raw, where))
    if isinstance(raw, list) and key != "cov" and any(isinstance(x, dict) for x in raw):
        items: list[float | Grid] = []
        for i, x in enumerate(raw, 1):
            w = f"{where}[{i}]"
            if isinstance(x, dict):
                spec = _parse_generator(key, x, w)
                if not isinstance(spec, Grid):
                    raise SpecError(
                        w,
                        "a vector entry can only be swept by values, linspace or logspace; "
                        "use a random family for the whole field instead",
                    )
                items.append(spec)
            else:
                items.append(_scale_number(key, x, w))
        return Field(side, key, Vector(tuple(items)))
    return Field(side, key, Fixed(parse_fixed(key, raw, where)))


def _parse_generator(key: str, table: Mapping[str, Any], where: str) -> Grid | Random:
    choices: tuple[GridKind | Literal["random"], ...] = (*GRID_KINDS, "random")
    kinds = [k for k in choices if k in table]
    if not kinds:
        for k in table:
            close = difflib.get_close_matches(k, [*GRID_KINDS, "random"], n=1, cutoff=0.6)
            if close:
                raise SpecError(f"{where}.{show_key(k)}", unknown_key(k, [*GRID_KINDS, "random"]))
        raise SpecError(
            where,
            "a generator table needs one of values, linspace, logspace or random"
            + (f" (got {clip(', '.join(map(show_key, table)))})" if table else " (got an empty table)"),
        )
    if len(kinds) > 1:
        raise SpecError(where, f"give only one of values, linspace, logspace or random (got {' and '.join(kinds)})")
    kind = kinds[0]
    if kind == "random":
        return _parse_random(key, table, where)
    _check_keys(table, (kind,), where)
    raw = table[kind]
    w = f"{where}.{kind}"
    if not isinstance(raw, list):
        form = "[a, b, ...]" if kind == "values" else "[a, b, n]"
        raise SpecError(w, f"expected an array {form}, got {describe(raw)}")
    if kind == "values":
        if not raw:
            raise SpecError(w, "must not be empty")
        vals = []
        for i, x in enumerate(raw, 1):
            if isinstance(x, list):
                raise SpecError(
                    f"{w}[{i}]",
                    "values must be numbers; to sweep a vector, sweep its entries: [0.0, { values = [...] }]",
                )
            vals.append(_number(x, f"{w}[{i}]"))
        return Grid("values", tuple(vals))
    if len(raw) != 3:
        raise SpecError(w, f"expected [start, stop, n] (3 items), got {len(raw)} item{'s' if len(raw) != 1 else ''}")
    start = _number(raw[0], f"{w}[1]")
    stop = _number(raw[1], f"{w}[2]")
    n = _integer(raw[2], f"{w}[3]", minimum=1)
    return Grid(kind, (start, stop, n))


def _parse_random(key: str, table: Mapping[str, Any], where: str) -> Random:
    family = table["random"]
    w = f"{where}.random"
    if not isinstance(family, str):
        raise SpecError(w, f"expected a family name ({', '.join(FAMILIES)}), got {describe(family)}")
    if family not in FAMILIES:
        close = difflib.get_close_matches(family, FAMILIES, n=1)
        hint = f"; did you mean '{close[0]}'?" if close else f" (expected one of: {', '.join(FAMILIES)})"
        raise SpecError(w, f"unknown random family '{show_key(family)}'{hint}")
    if key not in _FAMILY_FIELDS[family]:
        allowed = " or ".join(_FAMILY_FIELDS[family])
        raise SpecError(w, f'random = "{family}" generates {allowed}, not {key}')
    spec_keys = _FAMILY_KEYS[family]
    _check_keys(table, ("random", *spec_keys), where)
    values: dict[str, Any] = {"family": family}
    for name, default in spec_keys.items():
        if name == "dim":
            if "dim" in table:
                values["dim"] = _integer(table["dim"], f"{where}.dim", minimum=1)
                if values["dim"] > MAX_DIM:
                    raise SpecError(f"{where}.dim", f"must be at most {MAX_DIM:,}, got {values['dim']:,}")
            continue
        if name not in table:
            if default is None:
                raise SpecError(where, f"random = \"{family}\" needs '{name}'")
            continue
        values[name] = _number(table[name], f"{where}.{name}")
    if family in ("normal", "spd") and values.get("scale", 1.0) <= 0:
        raise SpecError(f"{where}.scale", f"must be positive, got {values['scale']!r}")
    if family in ("uniform", "loguniform"):
        low, high = values["low"], values["high"]
        if not low < high:
            raise SpecError(where, f"low must be less than high, got low = {low!r}, high = {high!r}")
        if (family == "loguniform" or key in _POSITIVE) and low <= 0:
            what = "loguniform" if family == "loguniform" else f"a uniform {key}"
            raise SpecError(f"{where}.low", f"must be positive for {what}, got {low!r}")
    if family == "spd":
        cond = values["cond"]
        if cond < 1:
            raise SpecError(f"{where}.cond", f"a condition number is >= 1, got {cond!r}")
        if not math.isfinite(cond * values.get("scale", 1.0)):
            raise SpecError(where, f"the largest eigenvalue scale * cond overflows (cond = {cond!r})")
    return Random(**values)


# ----------------------------------------------------------- dimensions
def _implied_dim(field: Field) -> tuple[int, str] | None:
    spec = field.spec
    if isinstance(spec, Fixed):
        v = spec.value
        if isinstance(v, np.ndarray):
            d = v.shape[0]
            return d, (f"{field.path} is {d}x{d}" if v.ndim == 2 else f"{field.path} has {d} entries")
        if field.key == "cov":
            return 1, f"{field.path} is 1x1"
        return None
    if isinstance(spec, Vector):
        return len(spec.items), f"{field.path} has {len(spec.items)} entries"
    if isinstance(spec, Random) and spec.dim is not None:
        return spec.dim, f"{field.path} has dim = {spec.dim}"
    if isinstance(spec, Grid) and field.key == "cov":
        return 1, f"{field.path} is 1x1"
    return None


def resolve_dims(sweep: Sweep, where: str) -> Sweep:
    """Check that the fields agree on the dimension and fill in missing ``dim``.

    Parameters
    ----------
    sweep : Sweep
    where : str
        Field path of the sweep (``"sweep[1]"``), for error messages.

    Returns
    -------
    Sweep
        The sweep with every random family's ``dim`` set.

    Raises
    ------
    SpecError
        If two fields imply different dimensions, a ``dim`` cannot be
        inferred, or an ``spd`` family with ``dim = 1`` asks for ``cond != 1``.
    """
    implied = [(f, r) for f in sweep.fields if (r := _implied_dim(f)) is not None]
    if implied:
        _f0, (d0, why0) = implied[0]
        for f, (d, why) in implied[1:]:
            if d != d0:
                raise SpecError(f"{where}.{f.path}", f"mismatched dimensions: {why0} but {why}")
    fields = []
    for f in sweep.fields:
        spec = f.spec
        if isinstance(spec, Random):
            if spec.dim is None:
                if not implied:
                    raise SpecError(
                        f"{where}.{f.path}",
                        "dim is required: no other field of p or q fixes the dimension",
                    )
                spec = replace(spec, dim=implied[0][1][0])
                f = replace(f, spec=spec)
            if spec.family == "spd" and spec.dim == 1 and spec.cond != 1:
                raise SpecError(
                    f"{where}.{f.path}.cond",
                    f"a 1x1 covariance has condition number 1, got cond = {spec.cond!r}",
                )
        fields.append(f)
    return replace(sweep, fields=tuple(fields))


def sweep_dim(sweep: Sweep) -> int:
    """The dimension of every point of a sweep whose dimensions agree (1 when nothing fixes it)."""
    for f in sweep.fields:
        implied = _implied_dim(f)
        if implied is not None:
            return implied[0]
    return 1


# ------------------------------------------------------------ expansion
def sweep_axes(sweep: Sweep) -> list[tuple[str, Grid]]:
    """The grid axes of a sweep, ``(path, grid)``, in Cartesian order."""
    axes: list[tuple[str, Grid]] = []
    for f in sweep.fields:
        if isinstance(f.spec, Grid):
            axes.append((f.path, f.spec))
        elif isinstance(f.spec, Vector):
            axes.extend((f"{f.path}[{i}]", item) for i, item in enumerate(f.spec.items, 1) if isinstance(item, Grid))
    return axes


def sweep_size(sweep: Sweep) -> int:
    """Number of points the eager expansion of the tests (``tests/sweep_oracle.py``) yields (without computing them)."""
    return math.prod(g.size for _, g in sweep_axes(sweep)) * sweep.count


def validate_sweep(sweep: Sweep, where: str) -> None:
    """Check the values of every grid: finite, distinct, positive for std/var.

    Computes the grids, so call it after :func:`sweep_size` has been checked.

    Raises
    ------
    SpecError
    """
    for f in sweep.fields:
        grids: list[tuple[str, Grid]] = []
        if isinstance(f.spec, Grid):
            grids.append((f"{where}.{f.path}", f.spec))
        elif isinstance(f.spec, Vector):
            grids.extend((f"{where}.{f.path}[{i}]", g) for i, g in enumerate(f.spec.items, 1) if isinstance(g, Grid))
        for path, grid in grids:
            w = f"{path}.{grid.kind}"
            vals = grid.values()
            if not np.all(np.isfinite(vals)):
                i = int(np.flatnonzero(~np.isfinite(vals))[0])
                raise SpecError(w, f"value {i + 1} of {vals.size} is {float(vals[i])!r}: not a finite float")
            if f.key in ("std", "var", "cov") and np.any(vals <= 0):
                i = int(np.flatnonzero(vals <= 0)[0])
                raise SpecError(w, f"{f.key} must be positive, got {float(vals[i])!r} (value {i + 1} of {vals.size})")
            uniq, counts = np.unique(vals, return_counts=True)
            if uniq.size != vals.size:
                dup = float(uniq[np.argmax(counts > 1)])
                raise SpecError(w, f"the value {dup!r} occurs more than once; case names would clash")


def draw_seed(run_seed: int, sweep_number: int, draw: int, field_code: int) -> np.random.SeedSequence:
    """Seed sequence of one random field of one draw of one sweep.

    ``SeedSequence(run_seed, spawn_key=(SEED_TAG, sweep_number, draw,
    field_code))``; see the module docstring.
    """
    return np.random.SeedSequence(run_seed, spawn_key=(SEED_TAG, sweep_number, draw, field_code))


def random_spd(dim: int, cond: float, scale: float, rng: np.random.Generator) -> NDArray[np.float64]:
    """A random symmetric positive definite matrix of given condition number.

    Returns ``Q diag(lam) Q^T`` with ``lam = scale * geomspace(1, cond, dim)``
    (smallest eigenvalue ``scale``, largest ``scale * cond``) and ``Q``
    Haar-distributed on the orthogonal group, symmetrised exactly as
    ``(A + A^T) / 2``.

    Notes
    -----
    ``Q`` comes from the QR decomposition of a matrix of standard normals
    with the signs of ``R``'s diagonal moved into ``Q``, which makes ``Q``
    Haar-distributed (Mezzadri, "How to generate random matrices from the
    classical compact groups", Notices of the AMS 54, 2007).
    """
    z = rng.standard_normal((dim, dim))
    q, r = np.linalg.qr(z)
    q = q * np.where(np.diag(r) < 0, -1.0, 1.0)
    lam = scale * np.geomspace(1.0, cond, dim)
    a = (q * lam) @ q.T
    return 0.5 * (a + a.T)


def draw_random(spec: Random, rng: np.random.Generator) -> NDArray[np.float64]:
    """One draw of a random family (``spec.dim`` must be set)."""
    if spec.dim is None:
        raise ValueError("the random family's dim is not set; call resolve_dims first")
    d = spec.dim
    if spec.family == "normal":
        return spec.loc + spec.scale * rng.standard_normal(d)
    if spec.family == "uniform":
        return rng.uniform(spec.low, spec.high, d)
    if spec.family == "loguniform":
        return np.exp(rng.uniform(math.log(spec.low), math.log(spec.high), d))
    return random_spd(d, spec.cond, spec.scale, rng)
