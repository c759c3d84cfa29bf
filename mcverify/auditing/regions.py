"""Where a candidate goes wrong, in the user's own parameters.

Pure functions over the probes of one sweep (a line along which one argument
varies): runs of failing coordinates become intervals, sign changes of the
candidate become zero crossings (located by root finding on the candidate
when a callable is given), and the result is a :class:`SweepFinding` with a
sentence a user can read: "along std (mean = 0): fails for every std except
std = 1; negative for std in (0.3696, 1), where the true KL is positive".
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray
from scipy.optimize import brentq

from mcverify.auditing.probes import show_number as show
from mcverify.formatting import significant, significant_pair

__all__ = ["SweepFinding", "describe_sweep", "intervals"]


@dataclass(frozen=True)
class SweepFinding:
    """What goes wrong along one sweep.

    Attributes
    ----------
    sweep : str
        The sweep's key.
    axis : str
        The varying argument, as a user reads it.
    where : str
        The fixed arguments.
    failing : list of [float, float]
        Closed intervals of probe coordinates where the candidate fails.
    passing : list of float
        Coordinates where it passes.
    negative : list of [float, float]
        Intervals where the candidate is negative while the true KL is
        positive; ends located by root finding when possible.
    zeros : list of [float, float]
        Zero crossings of the candidate where the true KL is positive:
        ``[coordinate, true KL there]``.
    worst : dict
        The coordinate with the largest error: ``coord``, ``error``,
        ``candidate``, ``truth``.
    text : str
        All of the above as one sentence.
    """

    sweep: str
    axis: str
    where: str
    failing: list[list[float]]
    passing: list[float]
    negative: list[list[float]]
    zeros: list[list[float]]
    worst: dict[str, float]
    text: str

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def intervals(coords: Sequence[float], flags: Sequence[bool]) -> list[tuple[int, int]]:
    """Index ranges ``(i, j)`` (inclusive) of consecutive True flags."""
    out: list[tuple[int, int]] = []
    start = None
    for k, f in enumerate(flags):
        if f and start is None:
            start = k
        if not f and start is not None:
            out.append((start, k - 1))
            start = None
    if start is not None:
        out.append((start, len(flags) - 1))
    return out


def _root(g: Callable[[float], float] | None, a: float, b: float, fa: float, fb: float) -> float | None:
    """A zero of ``g`` between a and b (``g(a)``, ``g(b)`` of opposite signs or zero)."""
    if fa == 0:
        return a
    if fb == 0:
        return b
    if g is None or not (math.isfinite(fa) and math.isfinite(fb)) or (fa > 0) == (fb > 0):
        return None
    try:
        return float(brentq(g, a, b, xtol=1e-12 * max(abs(a), abs(b), 1e-300), rtol=1e-10, maxiter=200))
    except (ValueError, RuntimeError, ArithmeticError):
        return None


def describe_sweep(
    key: str,
    axis: str,
    where: str,
    coords: Sequence[float],
    bad: Sequence[bool],
    candidate: Sequence[float] | NDArray[np.float64],
    truth: Sequence[float] | NDArray[np.float64],
    tol: Sequence[float] | NDArray[np.float64],
    *,
    evaluate: Callable[[float], float] | None = None,
    truth_at: Callable[[float], float] | None = None,
    unavailable: Sequence[str] | None = None,
) -> SweepFinding | None:
    """Describe the failures along one sweep; ``None`` when it has none.

    Parameters
    ----------
    key, axis, where : str
        The sweep's key, its varying argument and its fixed arguments.
    coords : sequence of float
        Probe coordinates, increasing.
    bad : sequence of bool
        Whether the candidate fails at each probe.
    candidate, truth, tol : sequence of float or ndarray
        Candidate values, true KL and tolerances at each probe.
    evaluate : callable, optional
        The candidate as a function of the coordinate, to locate zero
        crossings between probes; without it crossings are not refined.
    truth_at : callable, optional
        The true KL as a function of the coordinate.
    unavailable : sequence of str, optional
        For each probe, what the candidate did instead of returning a value
        (``"raises"``), or ``""`` where it returned one: the text for a worst
        probe that has no value, which would otherwise read "returns nan".
    """
    c = np.asarray(coords, dtype=np.float64)
    b = np.asarray(bad, dtype=bool)
    f = np.asarray(candidate, dtype=np.float64)
    t = np.asarray(truth, dtype=np.float64)
    tl = np.asarray(tol, dtype=np.float64)
    if not b.any():
        return None
    runs = intervals(c.tolist(), b.tolist())
    failing = [[float(c[i]), float(c[j])] for i, j in runs]
    passing = [float(x) for x in c[~b]]
    parts = []
    if not passing:
        parts.append(f"fails at every {axis} probed ({show(c[0])} to {show(c[-1])})")
    elif len(passing) <= 3:
        shown = [show(x) for x in passing]
        listed = shown[0] if len(shown) == 1 else ", ".join(shown[:-1]) + " and " + shown[-1]
        parts.append(f"fails for every {axis} except {axis} = {listed}")
    else:
        points = [show(lo) for lo, hi in failing if lo == hi]
        ranges = [f"[{show(lo)}, {show(hi)}]" for lo, hi in failing if lo != hi]
        said = []
        if ranges:
            said.append(f"for {axis} in " + " and ".join(ranges))
        if points:
            said.append(f"at {axis} = " + ", ".join(points))
        parts.append("fails " + " and ".join(said) + f"; passes at the other {len(passing)} values")

    # Negative where the truth is positive, and zero crossings.
    neg_flags = (f < -tl) & (t > 0)
    negative: list[list[float]] = []
    zeros: list[list[float]] = []
    for i, j in intervals(c.tolist(), neg_flags.tolist()):
        lo, hi = float(c[i]), float(c[j])
        if i > 0 and math.isfinite(f[i - 1]) and f[i - 1] >= 0:
            r = _root(evaluate, float(c[i - 1]), lo, float(f[i - 1]), float(f[i]))
            lo = r if r is not None else 0.5 * (float(c[i - 1]) + lo)
            if r is not None:
                _add_zero(zeros, r, truth_at, float(t[i - 1]), float(t[i]), float(tl[i]))
        if j + 1 < len(c) and math.isfinite(f[j + 1]) and f[j + 1] >= 0:
            r = _root(evaluate, hi, float(c[j + 1]), float(f[j]), float(f[j + 1]))
            hi = r if r is not None else 0.5 * (hi + float(c[j + 1]))
            if r is not None:
                _add_zero(zeros, r, truth_at, float(t[j]), float(t[j + 1]), float(tl[j]))
        negative.append([lo, hi])
    if negative:
        spans = [f"({significant(lo, 4)}, {significant(hi, 4)})" for lo, hi in negative]
        parts.append(f"negative for {axis} in " + " and ".join(spans) + ", where the true KL is positive")
    if zeros:
        parts.append(
            "; ".join(
                f"zero at {axis} = {significant(x, 4)}, where the true KL is {significant(kl, 4)}" for x, kl in zeros
            )
        )

    err = np.where(np.isfinite(f), np.abs(f - t), np.inf)
    k = int(np.argmax(np.where(b, err, -1.0)))
    worst = {"coord": float(c[k]), "error": float(f[k] - t[k]), "candidate": float(f[k]), "truth": float(t[k])}
    if math.isfinite(f[k]):
        fc, ft = significant_pair(float(f[k]), float(t[k]))
        parts.append(
            f"wrong by up to {significant(abs(f[k] - t[k]), 3)} at {axis} = {show(c[k])} (candidate {fc}, true KL {ft})"
        )
    elif unavailable is not None and unavailable[k]:
        parts.append(f"{unavailable[k]} at {axis} = {show(c[k])}")
    else:
        parts.append(f"returns {f[k]} at {axis} = {show(c[k])}")
    text = f"along {axis} ({where}): " + "; ".join(parts) if where else f"along {axis}: " + "; ".join(parts)
    return SweepFinding(key, axis, where, failing, passing, negative, zeros, worst, text)


def _add_zero(
    zeros: list[list[float]],
    x: float,
    truth_at: Callable[[float], float] | None,
    t_left: float,
    t_right: float,
    tol: float,
) -> None:
    kl = truth_at(x) if truth_at is not None else 0.5 * (t_left + t_right)
    if kl > tol and not any(abs(x - z) <= 1e-9 * max(abs(x), 1.0) for z, _ in zeros):
        zeros.append([x, kl])
