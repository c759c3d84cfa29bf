"""Safety code in a KL: a scale clipped to a range, a small constant added to it.

Training code guards its KL: ``logvar = torch.clamp(logvar, -30, 20)``,
``var = std**2 + 1e-8``. Such a *modifier* changes the candidate's scale
arguments before any formula sees them, so a formula that is right (or has a
catalog mistake) inside the guarded range is wrong only where the guard
acts. Two kinds, each with a parameter:

- ``clip``: a standard deviation, variance, log-variance or log-std clamped
  to ``[lo, hi]`` (either end may be open);
- ``epsilon``: a constant added to a variance or a standard deviation, of p,
  of q or of both.

:class:`Modifier` holds one and applies it to a probe's parameters
(:meth:`Modifier.transform`). :func:`estimates` reads candidate modifiers off
the probe sweeps: where a formula explains the candidate in the middle of a
scale sweep and not at its ends, the candidate's value at an end is the
formula's value at some other scale, found by root finding (Brent's method
on the log-variance): for a clip that scale is the bound, for an epsilon the
scale plus the constant. Bounds and constants are offered rounded to 1-4
significant digits first (code writes ``1e-6``, not ``1.0000003e-6``); the
diagnosis (:func:`mcverify.auditing.mistakes.diagnose`) keeps an estimate
only if the whole explanation reproduces every probe within tolerance.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from typing import Any, Literal

import numpy as np
from numpy.typing import NDArray
from scipy.optimize import brentq

from mcverify.auditing.conventions import Convention, convert_scale, log_var
from mcverify.auditing.probes import ProbeSet
from mcverify.formatting import significant

__all__ = ["MODIFIER_MEANINGS", "NEAR", "Modifier", "estimates"]

Kind = Literal["clip", "epsilon"]
Quantity = Literal["std", "var", "logvar", "logstd"]
Party = Literal["p", "q", "both"]

#: What each modifier id means, in general (a report gives the parameters).
MODIFIER_MEANINGS = {
    "clip": "clamps a standard deviation, variance or log-variance to a range",
    "epsilon": "adds a small constant to a variance or standard deviation",
}
_NOUNS = {"std": "standard deviation", "var": "variance", "logvar": "log-variance", "logstd": "log-std"}
#: A formula "nearly" reproduces a probe to this relative accuracy: there an
#: epsilon is below a thousandth of the variances, and the formula's mistakes
#: (factors, terms of order one) are far beyond it.
NEAR = 1e-3
#: Significant digits tried for a bound or a constant, before the raw estimate.
ROUND_DIGITS = (1, 2, 3, 4)
#: A rounded parameter is tried only this close (relative) to the estimate:
#: the estimates come from root finding on smooth, well-conditioned
#: functions of the log-variance, good to about 1e-12.
ROUND_CLOSE = 1e-6


@dataclass(frozen=True)
class Modifier:
    """A clip or an epsilon on the scale arguments.

    Attributes
    ----------
    kind : {"clip", "epsilon"}
    quantity : {"std", "var", "logvar", "logstd"}
        What is clipped, or what the constant is added to (``"var"`` or
        ``"std"`` for an epsilon).
    of : {"p", "q", "both"}
        Whose scale ("both" for conventions without q's parameters).
    lo, hi : float
        Clip bounds in ``quantity`` (infinite for an open end).
    value : float
        The constant of an epsilon.
    """

    kind: Kind
    quantity: Quantity
    of: Party = "both"
    lo: float = -math.inf
    hi: float = math.inf
    value: float = 0.0

    @property
    def id(self) -> str:
        return self.kind

    def _whose(self, conv: Convention, plural: bool = False) -> str:
        noun = _NOUNS[self.quantity]
        if not conv.has_q:
            return f"the {noun}"
        if self.of == "both":
            return f"both {noun}s" if plural else f"the {noun}s"
        return f"{self.of}'s {noun}"

    def text(self, conv: Convention) -> str:
        """``"clips the variances to [1e-06, 1e+06]"``, ``"adds 1e-08 to q's variance"``."""
        if self.kind == "epsilon":
            return f"adds {_num(self.value)} to {self._whose(conv, plural=True)}"
        return f"clips {self._whose(conv)} to {self.range_text}"

    def short(self, conv: Convention) -> str:
        """``"variance to [1e-06, 1e+06]"``, ``"1e-08 on q's variance"``: for lists of parts."""
        if self.kind == "epsilon":
            return f"{_num(self.value)} on {self._whose(conv, plural=True)}"
        return f"{self._whose(conv).removeprefix('the ')} to {self.range_text}"

    @property
    def range_text(self) -> str:
        if math.isinf(self.lo):
            return f"at most {_num(self.hi)}"
        if math.isinf(self.hi):
            return f"at least {_num(self.lo)}"
        return f"[{_num(self.lo)}, {_num(self.hi)}]"

    def as_dict(self, conv: Convention) -> dict[str, Any]:
        out = asdict(self)
        out["id"] = self.id
        out["text"] = self.text(conv)
        return out

    # ----------------------------------------------------------- applying
    def transform(self, params: dict[str, Any], conv: Convention) -> dict[str, Any]:
        """The candidate's arguments as the guarded code sees them."""
        names = conv.params
        targets = (
            [names[1]] if not conv.has_q else {"p": [names[1]], "q": [names[3]]}.get(self.of, [names[1], names[3]])
        )
        out = dict(params)
        for name in targets:
            x = np.asarray(params[name], dtype=np.float64)
            with np.errstate(all="ignore"):
                y = self._apply(x, conv)
            out[name] = float(y) if conv.univariate else y
        return out

    def _apply(self, x: NDArray[np.float64], conv: Convention) -> NDArray[np.float64]:
        scale = conv.scale
        if self.kind == "clip":
            y = convert_scale(scale, self.quantity, x)
            lo: Any = convert_scale(self.quantity, scale, self.lo) if math.isfinite(self.lo) else x
            hi: Any = convert_scale(self.quantity, scale, self.hi) if math.isfinite(self.hi) else x
            return np.where(y < self.lo, lo, np.where(y > self.hi, hi, x))
        if self.quantity == scale:
            return x + self.value
        return convert_scale(self.quantity, scale, convert_scale(scale, self.quantity, x) + self.value)


def _num(x: float) -> str:
    return significant(x, 6)


# ----------------------------------------------------------- estimating
def estimates(
    values: NDArray[np.float64],
    explained: NDArray[np.bool_],
    near: NDArray[np.bool_],
    ps: ProbeSet,
    value_at: Callable[[dict[str, Any]], float],
) -> Iterator[Modifier]:
    """Modifiers that could explain the probes a formula leaves out, most plausible first.

    Parameters
    ----------
    values : ndarray
        The candidate's value at every probe (NaN where it gave none).
    explained : ndarray of bool
        Probes the formula reproduces without a modifier (within tolerance).
    near : ndarray of bool
        Probes it reproduces to a relative :data:`NEAR`: where an epsilon is
        small next to the variances.
    ps : ProbeSet
    value_at : callable
        The formula's value at the candidate's arguments (a dict).

    Yields
    ------
    Modifier
        Clips from the ends of each scale sweep that the formula leaves out,
        then epsilons from the smallest scale of each sweep (solved between
        it and the first scale the formula nearly reproduces); each first with its parameter
        rounded to 1, 2, 3, 4 significant digits (in each scale quantity),
        then as estimated. Nothing for ``mvn``.
    """
    conv = ps.convention
    if conv.family == "mvn":
        return
    clips: list[tuple[Party, Quantity, float | None, float | None]] = []
    eps: list[tuple[Party, float, float]] = []
    for key, sw in ps.sweeps.items():
        if sw.axis not in conv.params[1::2]:
            continue
        party: Party = "both" if not conv.has_q else ("p" if sw.axis == conv.params[1] else "q")
        on = ps.on_sweep(key)
        coords = np.array([c for c, _ in on])
        idx = [p.index for _, p in on]
        ok = np.array([bool(explained[i]) for i in idx])
        close = np.array([bool(near[i]) for i in idx])
        finite = np.array([bool(np.isfinite(values[i])) for i in idx])
        lv = log_var(conv.scale, coords)

        def at(t: float, sw: Any = sw) -> float:
            params = dict(sw.fixed)
            params[sw.axis] = sw.value(float(convert_scale("logvar", conv.scale, t)))
            return value_at(params)

        j = int(np.argmax(close))
        if close.any() and j > 0 and finite[:j].any():
            k = int(np.argmax(finite[:j]))  # the smallest scale with a value: the clearest epsilon
            v_eff = _solve(at, values[idx[k]], lv[k], lv[j])
            if v_eff is not None:
                eps.append((party, math.exp(v_eff) - math.exp(lv[k]), math.exp(0.5 * v_eff) - math.exp(0.5 * lv[k])))
        if ok.all() or not ok.any():
            continue
        first, last = int(np.argmax(ok)), len(ok) - 1 - int(np.argmax(ok[::-1]))
        lo_lv = hi_lv = None
        if first > 0 and finite[first - 1]:
            lo_lv = _solve(at, values[idx[first - 1]], lv[first - 1], lv[first])
        if last < len(ok) - 1 and finite[last + 1]:
            hi_lv = _solve(at, values[idx[last + 1]], lv[last], lv[last + 1])
        if lo_lv is not None or hi_lv is not None:
            clips.append((party, "logvar", lo_lv, hi_lv))
    seen: set[Modifier] = set()
    for party, _, lo_lv, hi_lv in clips:
        for m in _clip_forms(conv, party, lo_lv, hi_lv):
            if m not in seen:
                seen.add(m)
                yield m
    for party, e_var, e_std in eps:
        for m in _epsilon_forms(conv, party, e_var, e_std):
            if m not in seen:
                seen.add(m)
                yield m


def _solve(f: Callable[[float], float], target: float, a: float, b: float) -> float | None:
    """The log-variance in [a, b] where ``f`` equals ``target``; None without a sign change."""
    try:
        fa, fb = f(a) - target, f(b) - target
        if not (np.isfinite(fa) and np.isfinite(fb)) or fa * fb > 0:
            return None
        if fa == 0:
            return a
        if fb == 0:
            return b
        return float(brentq(lambda t: f(t) - target, a, b, xtol=1e-14, rtol=4 * np.finfo(float).eps))
    except (ValueError, RuntimeError, ArithmeticError):
        return None


def _rounded(x: float) -> list[tuple[int, float]]:
    """``(digits, value)``: ``x`` to 1, 2, 3, 4 significant digits (those within
    :data:`ROUND_CLOSE` of it), then ``x`` itself (ranked last)."""
    out: list[tuple[int, float]] = []
    for k in ROUND_DIGITS:
        r = float(f"{x:.{k - 1}e}")
        if r not in [v for _, v in out] and abs(r - x) <= ROUND_CLOSE * abs(x):
            out.append((k, r))
    if x not in [v for _, v in out]:
        out.append((ROUND_DIGITS[-1] + 1, x))
    return out


def _parties(conv: Convention, party: Party) -> list[Party]:
    return ["both"] if not conv.has_q else ["both", party] if party != "both" else ["both"]


def _quantities(conv: Convention) -> list[Quantity]:
    order: list[Quantity] = ["var", conv.scale, "std", "logvar", "logstd"]  # type: ignore[list-item]
    return list(dict.fromkeys(order))


def _clip_forms(conv: Convention, party: Party, lo_lv: float | None, hi_lv: float | None) -> Iterator[Modifier]:
    """The clip with these log-variance bounds, in every quantity and rounding, roundest first."""
    forms: list[tuple[int, int, Modifier]] = []
    for qi, q in enumerate(_quantities(conv)):
        los = [(0, -math.inf)] if lo_lv is None else _rounded(float(convert_scale("logvar", q, lo_lv)))
        his = [(0, math.inf)] if hi_lv is None else _rounded(float(convert_scale("logvar", q, hi_lv)))
        for i, lo in los:
            for j, hi in his:
                if lo < hi:
                    for who in _parties(conv, party):
                        forms.append((max(i, j), qi, Modifier("clip", q, who, lo=lo, hi=hi)))
    forms.sort(key=lambda t: t[:2])
    for *_, m in forms:
        yield m


def _epsilon_forms(conv: Convention, party: Party, e_var: float, e_std: float) -> Iterator[Modifier]:
    forms: list[tuple[int, int, Modifier]] = []
    for qi, (q, e) in enumerate((("var", e_var), ("std", e_std))):
        if not (e > 0 and math.isfinite(e)):
            continue
        for i, value in _rounded(e):
            for who in _parties(conv, party):
                forms.append((i, qi, Modifier("epsilon", q, who, value=value)))  # type: ignore[arg-type]
    forms.sort(key=lambda t: t[:2])
    for *_, m in forms:
        yield m
