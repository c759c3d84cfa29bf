"""The probed domain: which parameter ranges an audit covers, on the user's terms.

Every verdict holds only where it was probed. :func:`coverage` gives the
ranges a probe set spans, in the candidate's own parameters (``mean``,
``logvar``...), and :func:`describe` the sentence a report prints with its
verdict ("mean -1000..1000, logvar -41.4465..41.4465 (std 1e-09..1e+09)").

A user may restrict or widen that domain with bounds such as
``logvar=-30..20``: :func:`parse_domain` reads them from text (the command
line's ``--domain``), :func:`as_bounds` from the API's ``domain=`` mapping,
and :func:`within` turns a probe set into the probes inside the bounds, plus
new points on the sweeps that reach out to a bound beyond the default range.
A bound names a parameter stem (``mean``, ``std``, ``var``, ``logvar``,
``logstd``: both distributions' parameters of that kind) or one parameter
(``logvar_q``); a scale bound in another scale than the convention's is
converted (``std=1e-3..1e3`` is ``logvar=-13.8..13.8``).
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from functools import cache
from typing import Any

import numpy as np

from mcverify.auditing.conventions import Convention, convert_scale, std_to_scale
from mcverify.auditing.probes import Probe, ProbeSet, make_probe, probe_set
from mcverify.formatting import significant

__all__ = ["Bound", "as_bounds", "coverage", "describe", "parse_domain", "probes_within", "within"]

#: Parameter stems a bound may name.
STEMS = ("mean", "std", "var", "logvar", "logstd")
#: New sweep points between the default range and a wider bound: at most this
#: factor apart in standard deviation (log-variance steps of 2 ln 1000 = 13.8).
SCALE_STEP = 1e3


@dataclass(frozen=True)
class Bound:
    """A closed range ``[lo, hi]`` for one parameter stem or one parameter.

    Attributes
    ----------
    name : str
        ``"mean"``, ``"std"``, ``"var"``, ``"logvar"``, ``"logstd"``, or one
        of them with ``_p`` or ``_q`` for one distribution only.
    lo, hi : float
        The bounds, in the named quantity; infinite for no bound.
    """

    name: str
    lo: float
    hi: float

    @property
    def stem(self) -> str:
        return self.name.removesuffix("_p").removesuffix("_q")

    @property
    def text(self) -> str:
        return f"{self.name}={_num(self.lo)}..{_num(self.hi)}"


_RANGE = re.compile(r"^\s*([A-Za-z_]+)\s*=\s*(\S+?)\s*\.\.\s*(\S+)\s*$")


def parse_domain(texts: str | Iterable[str]) -> tuple[Bound, ...]:
    """Bounds from text: ``"logvar=-30..20"``, several comma separated or given one by one.

    Raises
    ------
    ValueError
        One line naming the part that is wrong.
    """
    parts = [texts] if isinstance(texts, str) else list(texts)
    out = []
    for text in parts:
        for item in text.split(","):
            if not item.strip():
                continue
            m = _RANGE.match(item)
            if m is None:
                raise ValueError(f"{item.strip()!r}: write NAME=LO..HI, e.g. logvar=-30..20")
            name, lo, hi = m.groups()
            out.append(_bound(name, _float(name, lo), _float(name, hi)))
    if not out:
        raise ValueError("no bounds given: write NAME=LO..HI, e.g. logvar=-30..20")
    return _unique(out)


def as_bounds(domain: Mapping[str, Any] | Iterable[Bound] | None) -> tuple[Bound, ...]:
    """Bounds from the API's ``domain=``: a mapping name -> (lo, hi), or Bound objects."""
    if domain is None:
        return ()
    if isinstance(domain, Mapping):
        out = []
        for name, pair in domain.items():
            try:
                lo, hi = pair
                out.append(_bound(str(name), float(lo), float(hi)))
            except (TypeError, ValueError) as exc:
                if isinstance(exc, ValueError) and str(exc).startswith(str(name)):
                    raise
                raise ValueError(f"{name}: give the range as (lo, hi), got {pair!r}") from None
        return _unique(out)
    items = list(domain)
    if not all(isinstance(b, Bound) for b in items):
        raise ValueError("domain: give a mapping name -> (lo, hi), e.g. {'logvar': (-30, 20)}")
    return _unique([_bound(b.name, b.lo, b.hi) for b in items])


def _float(name: str, text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise ValueError(f"{name}: {text!r} is not a number") from None


def _bound(name: str, lo: float, hi: float) -> Bound:
    stem = name.removesuffix("_p").removesuffix("_q")
    if stem not in STEMS:
        raise ValueError(f"{name}: unknown parameter; bounds name one of {', '.join(STEMS)} (or with _p, _q)")
    if math.isnan(lo) or math.isnan(hi) or not lo < hi:
        raise ValueError(f"{name}: the range must have LO < HI, got {_num(lo)}..{_num(hi)}")
    if stem in ("std", "var") and lo < 0:
        raise ValueError(f"{name}: a {stem} is positive; LO must be >= 0, got {_num(lo)}")
    return Bound(name, lo, hi)


def _unique(bounds: list[Bound]) -> tuple[Bound, ...]:
    names = [b.name for b in bounds]
    for n in names:
        if names.count(n) > 1:
            raise ValueError(f"{n}: given twice")
    return tuple(sorted(bounds, key=lambda b: b.name))


def _num(x: float) -> str:
    return significant(x, 6)


# ------------------------------------------------------------- applying
def _targets(bound: Bound, conv: Convention) -> list[str]:
    """The convention's parameters a bound constrains (``ValueError`` if none)."""
    names = conv.params
    if bound.stem == "mean":
        pool = [n for n in names if n.startswith("mean")]
    elif conv.family == "mvn":
        raise ValueError(f"{bound.name}: mvn takes covariances; only mean bounds apply to it")
    else:
        pool = [n for n in names if not n.startswith("mean")]
    if bound.name.endswith(("_p", "_q")):
        suffix = bound.name[-2:]
        pool = [n for n in pool if n.endswith(suffix)]
        if not pool:
            raise ValueError(f"{bound.name}: {conv.name} takes {', '.join(names)}")
    return pool


def _inside(probe: Probe, bounds: tuple[Bound, ...], conv: Convention) -> bool:
    for b in bounds:
        for name in _targets(b, conv):
            with np.errstate(over="ignore", divide="ignore"):
                x = np.asarray(probe.params[name], dtype=np.float64)
                v = x if b.stem == "mean" else convert_scale(conv.scale, b.stem, x)
            if np.any(v < b.lo) or np.any(v > b.hi):
                return False
    return True


def _outward(start: float, end: float, step: float, log: bool) -> list[float]:
    """Points from ``start`` (excluded) out to ``end`` (included), at most ``step`` apart (a factor if ``log``)."""
    out = []
    x = start
    while True:
        x = x * step if log else x + math.copysign(step, end - start)
        if (end > start and x >= end) or (end < start and x <= end):
            out.append(end)
            return out
        out.append(x)


def within(ps: ProbeSet, bounds: tuple[Bound, ...]) -> ProbeSet:
    """The probes of ``ps`` inside ``bounds``, with sweeps extended to a bound beyond them.

    A scale sweep whose bound lies beyond its last point gets new points out
    to the bound, at most a factor :data:`SCALE_STEP` apart in standard
    deviation; a mean sweep gets points a factor 10 apart. Probes are
    renumbered. Raises ``ValueError`` when no probe is left, or when a bound
    asks for a scale float64 cannot hold.
    """
    if not bounds:
        return ps
    conv = ps.convention
    for b in bounds:
        _targets(b, conv)  # names that do not apply fail before anything else
    extra: list[Probe] = []
    for key, sw in ps.sweeps.items():
        on = ps.on_sweep(key)
        if not on:
            continue
        for b in bounds:
            if sw.axis not in _targets(b, conv):
                continue
            for edge, bound, upper in ((on[0][0], b.lo, False), (on[-1][0], b.hi, True)):
                if not math.isfinite(bound):
                    continue
                coords = _new_coords(conv, b, edge, bound, upper)
                for x in coords:
                    params = dict(sw.fixed)
                    params[sw.axis] = sw.value(x)
                    try:
                        with np.errstate(over="ignore"):
                            extra.append(make_probe(conv, params, group=sw.group, sweeps=((key, x),)))
                    except ValueError:
                        raise ValueError(
                            f"{b.name}: {_num(bound)} is beyond what float64 holds for {sw.axis}"
                        ) from None
    kept = [p for p in (*ps.probes, *extra) if _inside(p, bounds, conv)]
    if not kept:
        raise ValueError(f"the domain {', '.join(b.text for b in bounds)} leaves no probe of {conv.name}")
    probes = tuple(replace(p, index=i) for i, p in enumerate(kept))
    return ProbeSet(conv, probes, dict(ps.sweeps))


def _new_coords(conv: Convention, b: Bound, edge: float, bound: float, upper: bool) -> list[float]:
    """Sweep coordinates beyond ``edge`` out to ``bound`` (none when ``bound`` is not beyond it)."""
    if (upper and bound <= edge) or (not upper and bound >= edge):
        return []
    if b.stem == "mean":
        if edge != 0 and (edge > 0) == (bound > 0):
            return _outward(edge, bound, 10.0, log=True)
        return [bound]
    edge_std = convert_scale(conv.scale, "std", edge)
    bound_std = 0.0 if (b.stem in ("std", "var") and bound == 0) else convert_scale(b.stem, "std", bound)
    if (upper and bound_std <= edge_std) or (not upper and bound_std >= edge_std) or bound_std == 0:
        return []
    coords = []
    for s in _outward(edge_std, bound_std, SCALE_STEP if upper else 1.0 / SCALE_STEP, log=True):
        coords.append(bound if s == bound_std and b.stem == conv.scale else std_to_scale(conv.scale, s))
    return coords


@cache
def probes_within(convention: str, bounds: tuple[Bound, ...]) -> ProbeSet:
    """The probe set of ``convention`` restricted or widened to ``bounds`` (cached)."""
    return within(probe_set(convention), bounds)


# ------------------------------------------------------------- coverage
def coverage(ps: ProbeSet) -> dict[str, tuple[float, float]]:
    """The ranges the probes span, by parameter stem of the convention.

    ``{"mean": (lo, hi), "logvar": (lo, hi), "std": (lo, hi)}``: means of
    both distributions, the convention's own scale parameter and, when that
    is not ``std``, the standard deviations it describes; for ``mvn`` the
    eigenvalues of the covariances (``"cov eigenvalues"``).
    """
    conv = ps.convention
    means: list[float] = []
    scales: list[float] = []
    for p in ps.probes:
        for name in conv.params:
            v = np.asarray(p.params[name], dtype=np.float64)
            if name.startswith("mean"):
                means += v.ravel().tolist()
            elif conv.family == "mvn":
                scales += np.linalg.eigvalsh(v).tolist()
            else:
                scales += v.ravel().tolist()
    out: dict[str, tuple[float, float]] = {"mean": (min(means), max(means))}
    if conv.family == "mvn":
        out["cov eigenvalues"] = (min(scales), max(scales))
        return out
    out[conv.scale] = (min(scales), max(scales))
    if conv.scale != "std":
        out["std"] = (convert_scale(conv.scale, "std", min(scales)), convert_scale(conv.scale, "std", max(scales)))
    return out


def describe(cov: Mapping[str, tuple[float, float]]) -> str:
    """``"mean -1000..1000, logvar -41.4465..41.4465 (std 1e-09..1e+09)"``.

    The standard deviations that a log or variance scale describes (the
    range ``"std"`` after another scale's) are shown in parentheses after
    that scale, to 3 digits; other ranges (``"cov eigenvalues"``) follow.
    """
    parts: list[str] = []
    for i, (name, (lo, hi)) in enumerate(cov.items()):
        if name == "std" and i >= 2 and "mean" in cov:  # derived: 3 digits say it (1e-09, not 1.00002e-09)
            parts[-1] += f" (std {significant(lo, 3)}..{significant(hi, 3)})"
        else:
            parts.append(f"{name} {_num(lo)}..{_num(hi)}")
    return ", ".join(parts)
