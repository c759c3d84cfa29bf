"""Build the high-precision KL reference grid used by the closed-form tests.

Run from the repository root::

    python tests/reference_grid.py            # (re)write tests/data/kl_reference.json
    python tests/reference_grid.py --check    # exit 1 if the stored file is stale

Every case is a pair of :class:`mcverify.Gaussian` specs chosen to be hard for
floating-point closed forms (near-equal scales, extreme ratios, tiny and huge
scales, large mean gaps, ill-conditioned covariances).  The reference value is
:func:`mcverify.reference.kl_mpmath` at 80 digits, with the float inputs taken
as exact, stored as a 40-significant-digit decimal string.  Each value is
recomputed at 120 digits and must agree to 45 digits, so no stored digit is
an artefact of the working precision.

Each case also records ``sensitivity``: how far the exact KL moves, relative
to itself, when every input float is perturbed by one rounding error.  Four
seeded perturbations multiply each mean entry, standard deviation, variance
and covariance entry (the upper triangle, mirrored, so the matrix stays
exactly symmetric) by ``1 + u`` with ``u`` drawn uniformly from
``{-2**-53, +2**-53}``; the perturbed KL is evaluated in mpmath at 80 digits
and ``sensitivity`` is the largest ``|KL(perturbed) - KL| / |KL|`` (0 where KL
is exactly 0), stored with 3 significant digits.  It is the error that a
backward-stable algorithm, one that commits about one rounding per input, can
be expected to make on that case.  It is an estimate of the typical size,
not a bound: the worst choice of signs can move the KL about ten times
further.  tests/numerics/test_closed_form_reference.py raises the full-covariance
tolerance to it (see there why univariate and diagonal cases get no such
allowance).

Random inputs come from ``numpy.random.default_rng`` seeded by a CRC-32 of
the case group's name, so adding a group does not change the others.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import mpmath
import numpy as np
from reference import kl_mpmath

from mcverify.numerics.gaussian import Gaussian

DPS = 80
CHECK_DPS = 120
DIGITS = 40
SENSITIVITY_DIGITS = 3
SENSITIVITY_SAMPLES = 4
UNIT_ROUNDOFF_EXPONENT = -53  # u = 2**-53, one rounding error of a double
HERE = Path(__file__).resolve().parent
OUTPUT = HERE / "data" / "kl_reference.json"

Case = tuple[str, Gaussian, Gaussian]


def _rng(tag: str) -> np.random.Generator:
    return np.random.default_rng(zlib.crc32(tag.encode()))


def _g(mean: Any, **scale: Any) -> Gaussian:
    return Gaussian(mean, **scale)


# ------------------------------------------------------------------ univariate
def univariate_cases() -> Iterator[Case]:
    # Standard-deviation ratio 1 +- eps, in every representation.
    for eps_name, eps in (("1e-12", 1e-12), ("1e-9", 1e-9), ("1e-6", 1e-6), ("1e-3", 1e-3)):
        for sign in ("+", "-"):
            r = 1.0 + eps if sign == "+" else 1.0 - eps
            tag = f"1{sign}{eps_name}"
            yield f"uni/ratio-{tag}/p-std-1/q-std-{tag}", _g(0.0, std=1.0), _g(0.0, std=r)
            yield f"uni/ratio-{tag}/p-var-1/q-var-{tag}", _g(0.0, var=1.0), _g(0.0, var=r)
            yield f"uni/ratio-{tag}/p-std-{tag}/q-var-1", _g(0.0, std=r), _g(0.0, var=1.0)
            yield f"uni/ratio-{tag}/p-var-1/q-std-{tag}", _g(0.0, var=1.0), _g(0.0, std=r)

    # Extreme ratios of p's scale to q's.
    for r_name, r in (("1e-8", 1e-8), ("1e-4", 1e-4), ("1e4", 1e4), ("1e8", 1e8)):
        yield f"uni/std-ratio-{r_name}/p-std-{r_name}/q-std-1", _g(0.0, std=r), _g(0.0, std=1.0)
        yield f"uni/var-ratio-{r_name}/p-var-{r_name}/q-var-1", _g(0.0, var=r), _g(0.0, var=1.0)

    # Tiny and huge scales, alone, with extreme ratios and with mean gaps.
    for s_name, s in (("1e-150", 1e-150), ("1e150", 1e150)):
        yield f"uni/scale-{s_name}/equal/kl-0", _g(0.0, std=s), _g(0.0, std=s)
        yield f"uni/scale-{s_name}/std-1.5x/p-std-{s_name}", _g(0.0, std=s), _g(0.0, std=1.5 * s)
        yield f"uni/scale-{s_name}/var-1.5x/p-var-{s_name}", _g(0.0, var=s), _g(0.0, var=1.5 * s)
        for r_name, r in (("1e-8", 1e-8), ("1e8", 1e8)):
            yield (
                f"uni/scale-{s_name}/std-ratio-{r_name}",
                _g(0.0, std=s * r),
                _g(0.0, std=s),
            )
            yield (
                f"uni/scale-{s_name}/var-ratio-{r_name}",
                _g(0.0, var=s * r),
                _g(0.0, var=s),
            )
        yield f"uni/scale-{s_name}/mean-gap-3sigma", _g(0.0, std=s), _g(3.0 * s, std=s)
        yield f"uni/scale-{s_name}/mean-gap-1e3sigma", _g(0.0, std=s), _g(1e3 * s, std=s)
        yield (
            f"uni/scale-{s_name}/std-ratio-1e-8/mean-gap-2sigma-q",
            _g(s, std=s * 1e-8),
            _g(-s, std=s),
        )

    # Large mean gaps in units of sigma.
    yield "uni/mean-gap-1e3sigma/std-1", _g(0.0, std=1.0), _g(1e3, std=1.0)
    yield "uni/mean-gap-1e8sigma/std-1", _g(0.0, std=1.0), _g(1e8, std=1.0)
    yield "uni/mean-gap-1e3sigma/var-2-vs-std-3", _g(-500.0, var=2.0), _g(500.0, std=3.0)
    yield "uni/mean-gap-1e8sigma/std-1e-3", _g(0.0, std=1e-3), _g(1e5, std=1e-3)
    yield "uni/mean-gap-1/location-1e8", _g(1e8, std=1.0), _g(1e8 + 1.0, std=1.0)

    # KL exactly 0, and nearly 0 because std**2 != var in binary.
    yield "uni/equal/std-1/kl-0", _g(0.0, std=1.0), _g(0.0, std=1.0)
    yield "uni/equal/mean-0.3-var-0.1/kl-0", _g(0.3, var=0.1), _g(0.3, var=0.1)
    yield "uni/equal/std-2-vs-var-4/kl-0", _g(1.0, std=2.0), _g(1.0, var=4.0)
    yield "uni/near-equal/std-0.1-vs-var-0.01", _g(0.0, std=0.1), _g(0.0, var=0.01)
    yield "uni/near-equal/var-0.09-vs-std-0.3", _g(0.0, var=0.09), _g(0.0, std=0.3)

    # Decimal-looking inputs that are not representable in binary.
    yield "uni/decimal/mean-0.1-std-0.3-vs-mean-0.3-std-0.1", _g(0.1, std=0.3), _g(0.3, std=0.1)
    yield "uni/decimal/mean-0.1-var-0.3-vs-mean-0.3-var-0.1", _g(0.1, var=0.3), _g(0.3, var=0.1)
    yield "uni/decimal/mean-0.1-std-0.1-vs-mean-0.2-std-0.3", _g(0.1, std=0.1), _g(0.2, std=0.3)


# -------------------------------------------------------------------- diagonal
def diagonal_cases() -> Iterator[Case]:
    d = 1000
    rng = _rng("diag/d1000/near-1")
    sp = 1.0 + 1e-10 * rng.standard_normal(d)
    sq = 1.0 + 1e-10 * rng.standard_normal(d)
    yield "diag/d1000/std-1+1e-10*randn/same-mean", _g(np.zeros(d), std=sp), _g(np.zeros(d), std=sq)
    yield "diag/d1000/var-1+1e-10*randn/same-mean", _g(np.zeros(d), var=sp), _g(np.zeros(d), var=sq)
    gap = 1e-10 * rng.standard_normal(d)
    yield "diag/d1000/std-1+1e-10*randn/mean-gap-1e-10", _g(np.zeros(d), std=sp), _g(gap, std=sq)

    rng = _rng("diag/d1000/wide")
    sp = 10.0 ** rng.uniform(-3, 3, d)
    sq = 10.0 ** rng.uniform(-3, 3, d)
    mp_ = rng.standard_normal(d) * 10.0
    mq = rng.standard_normal(d) * 10.0
    yield "diag/d1000/std-1e-3..1e3/random-means", _g(mp_, std=sp), _g(mq, std=sq)
    yield "diag/d1000/var-1e-3..1e3/random-means", _g(mp_, var=sp), _g(mq, var=sq)
    yield "diag/d1000/p-std-vs-q-var-1e-3..1e3/random-means", _g(mp_, std=sp), _g(mq, var=sq)

    d = 50
    rng = _rng("diag/d50/near-equal")
    base = 10.0 ** rng.uniform(-1, 1, d)
    mean = rng.standard_normal(d)
    for e_name, e in (("1e-12", 1e-12), ("1e-8", 1e-8)):
        yield (
            f"diag/d50/std-times-1+{e_name}*randn/same-mean",
            _g(mean, std=base),
            _g(mean, std=base * (1.0 + e * rng.standard_normal(d))),
        )
    yield (
        "diag/d50/var-times-1+1e-9*randn/mean-gap-1e-9",
        _g(mean, var=base),
        _g(mean + 1e-9 * rng.standard_normal(d), var=base * (1.0 + 1e-9 * rng.standard_normal(d))),
    )
    yield "diag/d50/equal/kl-0", _g(mean, std=base), _g(mean, std=base)

    d = 10
    rng = _rng("diag/d10/extreme-scales")
    u = rng.uniform(1, 2, d)
    v = rng.uniform(1, 2, d)
    yield "diag/d10/std-1e-150*U(1,2)", _g(np.zeros(d), std=1e-150 * u), _g(np.zeros(d), std=1e-150 * v)
    yield "diag/d10/std-1e150*U(1,2)", _g(np.zeros(d), std=1e150 * u), _g(np.zeros(d), std=1e150 * v)
    yield (
        "diag/d10/var-1e-150*U(1,2)/mean-gap-1sigma",
        _g(np.zeros(d), var=1e-150 * u),
        _g(np.full(d, 1e-75), var=1e-150 * v),
    )
    mixed = np.where(np.arange(d) % 2 == 0, 1e-150, 1e150)
    yield (
        "diag/d10/std-alternating-1e-150-1e150/ratio-U(1,2)",
        _g(np.zeros(d), std=mixed * u),
        _g(np.zeros(d), std=mixed * v),
    )
    yield (
        "diag/d10/std-1e-150-vs-1e150/huge-ratio",
        _g(np.zeros(d), std=np.full(d, 1e-150)),
        _g(np.zeros(d), std=np.full(d, 1e150)),
    )


# ------------------------------------------------------------------------ full
def random_spd(rng: np.random.Generator, d: int, cond: float, scale: float = 1.0) -> np.ndarray:
    """``Q diag(logspace) Q^T``, exactly symmetric, with the given condition number."""
    q, r = np.linalg.qr(rng.standard_normal((d, d)))
    q = q * np.sign(np.diag(r))
    eig = scale * np.logspace(0.0, np.log10(cond), d)
    a = (q * eig) @ q.T
    return 0.5 * (a + a.T)


def full_cases() -> Iterator[Case]:
    conds = (("1e1", 1e1), ("1e4", 1e4), ("1e6", 1e6), ("1e8", 1e8))
    for d in (2, 3, 5, 10, 20):
        for c_name, c in conds:
            tag = f"full/d{d}/cond-{c_name}"
            rng = _rng(tag)
            sp = random_spd(rng, d, c)
            sq = random_spd(rng, d, c)
            mp_ = rng.standard_normal(d)
            mq = mp_ + rng.standard_normal(d)
            yield f"{tag}/full-vs-full/mean-gap", _g(mp_, cov=sp), _g(mq, cov=sq)
            if c_name in ("1e4", "1e8"):
                vq = 10.0 ** rng.uniform(-1, 1, d)
                yield f"{tag}/p-full-vs-q-var/mean-gap", _g(mp_, cov=sp), _g(mq, var=vq)
                yield f"{tag}/p-std-vs-q-full/same-mean", _g(mp_, std=np.sqrt(vq)), _g(mp_, cov=sq)
            if c_name == "1e6":
                yield f"{tag}/full-vs-full/same-mean", _g(mp_, cov=sp), _g(mp_, cov=sq)

    # Near-equal pairs: q's covariance is p's times (1 + 1e-6), computed in floats.
    for d, c_name, c in ((2, "1e1", 1e1), (5, "1e4", 1e4), (10, "1e1", 1e1), (20, "1e4", 1e4), (5, "1e6", 1e6)):
        tag = f"full/d{d}/cond-{c_name}/near-equal"
        rng = _rng(tag)
        sp = random_spd(rng, d, c)
        mean = rng.standard_normal(d)
        yield f"{tag}/q-cov-is-p-cov-times-1+1e-6", _g(mean, cov=sp), _g(mean, cov=sp * (1.0 + 1e-6))
    tag = "full/d5/cond-1e4/near-equal"
    rng = _rng(tag + "/mean")
    sp = random_spd(rng, 5, 1e4)
    mean = rng.standard_normal(5)
    yield (
        f"{tag}/mean-gap-1e-6/same-cov",
        _g(mean, cov=sp),
        _g(mean + 1e-6 * rng.standard_normal(5), cov=sp),
    )

    # KL exactly 0: the same matrix, and a diagonal given as full vs as var.
    rng = _rng("full/equal")
    sp = random_spd(rng, 5, 1e4)
    mean = rng.standard_normal(5)
    yield "full/d5/cond-1e4/equal/kl-0", _g(mean, cov=sp), _g(mean, cov=sp)
    v = 10.0 ** rng.uniform(-2, 2, 5)
    yield "full/d5/diag-as-cov-vs-var/equal/kl-0", _g(mean, cov=np.diag(v)), _g(mean, var=v)

    # Scaled covariances: tiny and huge overall scale, cond 1e4.
    for s_name, s in (("1e-100", 1e-100), ("1e100", 1e100)):
        tag = f"full/d5/cond-1e4/scale-{s_name}"
        rng = _rng(tag)
        sp = random_spd(rng, 5, 1e4, scale=s)
        sq = random_spd(rng, 5, 1e4, scale=s)
        sd = np.sqrt(s)
        yield (
            f"{tag}/full-vs-full/mean-gap-1sigma",
            _g(sd * rng.standard_normal(5), cov=sp),
            _g(sd * rng.standard_normal(5), cov=sq),
        )


def all_cases() -> list[Case]:
    cases = [*univariate_cases(), *diagonal_cases(), *full_cases()]
    ids = [c[0] for c in cases]
    dup = {i for i in ids if ids.count(i) > 1}
    if dup:
        raise RuntimeError(f"duplicate case ids: {sorted(dup)}")
    return cases


# ------------------------------------------------------------------- records
def case_kind(p: Gaussian, q: Gaussian) -> str:
    """``"full"`` if either side is full, else ``"diagonal"`` if either is, else ``"univariate"``."""
    kinds = {p.kind, q.kind}
    for k in ("full", "diagonal"):
        if k in kinds:
            return k
    return "univariate"


def format_kl(value: Any) -> str:
    """The reference as a decimal string with ``DIGITS`` significant digits."""
    return mpmath.nstr(value, DIGITS, strip_zeros=False, min_fixed=1, max_fixed=0)


# ---------------------------------------------------------------- sensitivity
# The perturbed inputs are not floats, so they cannot go through a Gaussian and
# kl_mpmath.  _kl_mp below evaluates the same formulas (see
# mcverify.reference.kl_mpmath) on mpmath inputs; sensitivity() checks that on
# the unperturbed inputs it reproduces kl_mpmath.
MpInputs = tuple[list[Any], str, Any]  # (mean, "var" or "cov", variances or matrix)


def _mp_inputs(g: Gaussian, signs: Any | None) -> MpInputs:
    """``g``'s numbers as exact mpf, each times ``1 + sign * 2**-53`` if ``signs`` is given.

    ``signs`` is a generator of +-1; it is drawn from for the mean entries, then
    the std/var entries or the covariance's upper triangle (row by row).
    """
    mpf = mpmath.mpf
    u = mpmath.ldexp(mpf(1), UNIT_ROUNDOFF_EXPONENT)

    def take(x: float) -> Any:
        v = mpf(float(x))
        return v if signs is None else v * (1 + next(signs) * u)

    d = g.dim
    mean = [take(x) for x in g.mean]
    if g.cov is not None:
        c = mpmath.zeros(d, d)
        for i in range(d):
            for j in range(i, d):
                c[i, j] = c[j, i] = take(g.cov[i, j])
        return mean, "cov", c
    if g.std is not None:
        return mean, "var", [s * s for s in (take(x) for x in g.std)]
    assert g.var is not None
    return mean, "var", [take(x) for x in g.var]


def _as_matrix(x: MpInputs) -> Any:
    _, form, scale = x
    if form == "cov":
        return scale
    m = mpmath.zeros(len(scale), len(scale))
    for i, v in enumerate(scale):
        m[i, i] = v
    return m


def _solve_lower(lower: Any, rhs: list[Any]) -> list[Any]:
    x: list[Any] = []
    for i in range(len(rhs)):
        acc = mpmath.fsum(lower[i, k] * x[k] for k in range(i))
        x.append((rhs[i] - acc) / lower[i, i])
    return x


def _kl_mp(p: MpInputs, q: MpInputs) -> Any:
    """KL(p || q) of mpmath inputs at the current working precision."""
    delta = [a - b for a, b in zip(p[0], q[0])]
    d = len(delta)
    if p[1] == "var" and q[1] == "var":
        half = mpmath.mpf(1) / 2
        return mpmath.fsum(
            half * mpmath.log(b / a) + (a + t * t) / (2 * b) - half for a, b, t in zip(p[2], q[2], delta)
        )
    lp = mpmath.cholesky(_as_matrix(p), tol=0)
    lq = mpmath.cholesky(_as_matrix(q), tol=0)
    squares = []
    for j in range(d):
        squares.extend(v * v for v in _solve_lower(lq, [lp[i, j] for i in range(d)]))
    trace = mpmath.fsum(squares)
    maha = mpmath.fsum(v * v for v in _solve_lower(lq, delta))
    logdet_q = 2 * mpmath.fsum(mpmath.log(lq[i, i]) for i in range(d))
    logdet_p = 2 * mpmath.fsum(mpmath.log(lp[i, i]) for i in range(d))
    return (trace + maha - d + (logdet_q - logdet_p)) / 2


def _signs(rng: np.random.Generator) -> Iterator[int]:
    while True:
        yield from (2 * rng.integers(0, 2, 64) - 1).tolist()


def sensitivity(case_id: str, p: Gaussian, q: Gaussian, value: Any) -> Any:
    """Largest relative change of KL(p || q) = ``value`` under one-rounding input perturbations."""
    with mpmath.mp.workdps(DPS):
        if value == 0:
            return mpmath.mpf(0)
        mine = _kl_mp(_mp_inputs(p, None), _mp_inputs(q, None))
        if abs(mine - value) > mpmath.mpf(10) ** -45 * abs(value):
            raise RuntimeError(f"{case_id}: perturbation code disagrees with kl_mpmath")
        rng = np.random.default_rng(zlib.crc32(("sensitivity/" + case_id).encode()))
        worst = mpmath.mpf(0)
        for _ in range(SENSITIVITY_SAMPLES):
            signs = _signs(rng)
            moved = _kl_mp(_mp_inputs(p, signs), _mp_inputs(q, signs))
            worst = max(worst, abs(moved - value) / abs(value))
        return worst


def format_sensitivity(value: Any) -> str:
    """A sensitivity as a decimal string with ``SENSITIVITY_DIGITS`` significant digits."""
    return mpmath.nstr(value, SENSITIVITY_DIGITS, strip_zeros=False, min_fixed=1, max_fixed=0)


def reference_record(case_id: str, p: Gaussian, q: Gaussian) -> dict[str, Any]:
    value = kl_mpmath(p, q, dps=DPS)
    check = kl_mpmath(p, q, dps=CHECK_DPS)
    with mpmath.mp.workdps(CHECK_DPS):
        if check == 0:
            ok = value == 0
        else:
            ok = abs(value - check) <= mpmath.mpf(10) ** -45 * abs(check)
    if not ok:
        raise RuntimeError(f"{case_id}: {DPS}-digit and {CHECK_DPS}-digit references disagree")
    return {
        "id": case_id,
        "kind": case_kind(p, q),
        "p": p.to_dict(),
        "q": q.to_dict(),
        "kl": format_kl(value),
        "sensitivity": format_sensitivity(sensitivity(case_id, p, q, value)),
        "dps": DPS,
    }


def build() -> dict[str, Any]:
    records = [reference_record(*case) for case in all_cases()]
    return {
        "source": {
            "script": "tests/reference_grid.py",
            "function": "mcverify.reference.kl_mpmath",
            "mpmath_version": mpmath.__version__,
            "numpy_version": np.__version__,
            "dps": DPS,
            "check_dps": CHECK_DPS,
            "digits": DIGITS,
            "sensitivity_samples": SENSITIVITY_SAMPLES,
            "sensitivity_digits": SENSITIVITY_DIGITS,
            "note": "float inputs are exact binary numbers; kl is KL(p || q) in nats",
            "sensitivity_note": (
                "max over seeded perturbations of |KL(x * (1 + u)) - KL(x)| / KL(x), "
                "u = +-2**-53 drawn independently for every input float "
                "(covariance upper triangle, mirrored); 0 where KL is 0"
            ),
        },
        "cases": records,
    }


def dumps(grid: dict[str, Any]) -> str:
    """JSON with the header indented and one line per case (floats round-trip via repr)."""
    head = json.dumps(grid["source"], indent=2)
    cases = ",\n".join(json.dumps(c, allow_nan=False) for c in grid["cases"])
    return '{\n"source": ' + head + ',\n"cases": [\n' + cases + "\n]}\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", type=Path, default=OUTPUT, help="where to write the grid")
    parser.add_argument("--check", action="store_true", help="do not write; exit 1 if the stored file differs")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    text = dumps(build())
    elapsed = time.perf_counter() - start
    if args.check:
        stale = not args.output.exists() or args.output.read_text() != text
        print(f"{args.output}: {'stale' if stale else 'up to date'} ({elapsed:.1f} s)", file=sys.stderr)
        return 1 if stale else 0
    args.output.parent.mkdir(parents=True, exist_ok=True)
    tmp = args.output.with_suffix(".json.tmp")
    tmp.write_text(text)
    tmp.replace(args.output)
    n = text.count('"id":')
    print(f"wrote {n} cases to {args.output} in {elapsed:.1f} s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
