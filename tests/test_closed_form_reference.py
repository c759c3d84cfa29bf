"""The closed form against the 80-digit reference grid.

tests/data/kl_reference.json (written by tests/reference_grid.py) holds hard
Gaussian pairs and KL(p || q) computed by mcverify.reference.kl_mpmath at 80
digits with the float inputs taken as exact.  The closed form must return
exactly 0.0 where the divergence is exactly zero, and otherwise match to a
relative error of 1e-12 (univariate, diagonal) or 1e-9 (full covariance), with
one allowance for full covariances, explained below.

Each case also records its ``sensitivity``: the largest relative change of
the exact KL seen when every input float (mean entries, standard deviations,
variances, covariance entries) is multiplied by ``1 +- 2**-53``, i.e. moved by
one rounding error.  That is the backward error of a good floating-point
algorithm: a backward-stable one computes the exact answer for inputs moved
by about one rounding each, so its forward error is about the problem's
sensitivity, however the arithmetic is arranged.  A target tighter than the
sensitivity asks for more than the inputs determine.

The full-covariance path is such an algorithm: it factors the covariances
with a floating-point Cholesky, which is backward stable and no better.  So
for full cases the tolerance is ``max(1e-9, sensitivity)``.  Five cases need
this (condition number 1e8 with a mean gap; q.cov = p.cov * (1 + 1e-6) at
condition numbers 1e4 to 1e6): there the KL itself moves by more than 1e-9
when the inputs move by one rounding.

Univariate and diagonal pairs get no allowance.  Their closed form never
rounds an input: it takes the standard deviations or variances exactly as
given (squares in double-double arithmetic, ``log1p`` of exact differences),
so it computes the KL *of the stored floats* to full relative accuracy even
where the sensitivity is huge (ratio 1 + 1e-12: 4e-4; std 0.3 against
var 0.09: about 100, a tolerance that would accept 0.0).  Those are exactly
the cases the grid is there to test, so they stay at 1e-12.

test_relaxation_is_the_exception checks that the allowance stays narrow:
well-conditioned cases have a negligible sensitivity, the previously failing
full cases do need it, and at least 90% of all cases are held to the plain
target.
"""

from __future__ import annotations

import json
import math
from fractions import Fraction
from pathlib import Path

import pytest

from mcverify.gaussian import Gaussian

closed_form = pytest.importorskip("mcverify.closed_form")

GRID = Path(__file__).resolve().parent / "data" / "kl_reference.json"
RTOL = {"univariate": 1e-12, "diagonal": 1e-12, "full": 1e-9}
#: Kinds whose closed form is backward stable only, so that the tolerance is
#: raised to the case's sensitivity (see the module docstring).
SENSITIVITY_BOUND_KINDS = frozenset({"full"})
#: Fraction of the grid that must stay at the plain target.
MIN_STRICT_FRACTION = 0.9

with GRID.open() as _fh:
    CASES = json.load(_fh)["cases"]


def relative_error(value: float, reference: str) -> float:
    """|value - reference| / |reference|, exact up to the 40 stored digits."""
    ref = Fraction(reference)
    return float(abs(Fraction(value) - ref) / abs(ref))


def tolerance(case: dict) -> float:
    """The relative tolerance for ``case``: its kind's target, or its sensitivity if larger."""
    target = RTOL[case["kind"]]
    if case["kind"] in SENSITIVITY_BOUND_KINDS:
        return max(target, float(case["sensitivity"]))
    return target


@pytest.mark.parametrize("case", CASES, ids=[c["id"] for c in CASES])
def test_closed_form_matches_reference(case: dict) -> None:
    p, q = Gaussian(**case["p"]), Gaussian(**case["q"])
    value = closed_form.kl_divergence(p, q)
    assert isinstance(value, float)
    assert math.isfinite(value), f"closed form gave {value!r}, reference {case['kl']}"
    if Fraction(case["kl"]) == 0:
        assert value == 0.0, f"KL is exactly 0, closed form gave {value!r}"
        return
    err = relative_error(value, case["kl"])
    tol = tolerance(case)
    assert err <= tol, (
        f"relative error {err:.3g} > {tol:g} (target {RTOL[case['kind']]:g}, "
        f"sensitivity {case['sensitivity']}): closed form {value!r}, reference {case['kl']}"
    )


# Families whose inputs are deliberately ill-conditioned: near-equal scales
# (the KL is a small difference of the inputs), and a mean gap of 1 at 1e8.
ILL_CONDITIONED = ("/ratio-1+", "/ratio-1-", "near-equal", "+1e-10*randn", "times-1+", "location-1e8")


def test_relaxation_is_the_exception() -> None:
    by_id = {c["id"]: c for c in CASES}
    sens = {c["id"]: float(c["sensitivity"]) for c in CASES}
    # The sensitivity of a well-conditioned case is a few rounding errors.
    for c in CASES:
        well_conditioned = not any(tag in c["id"] for tag in ILL_CONDITIONED)
        if c["kind"] in ("univariate", "diagonal") and well_conditioned:
            assert sens[c["id"]] < 1e-13, c["id"]
        if "/cond-1e1/" in c["id"] and well_conditioned:
            assert sens[c["id"]] < 1e-13, c["id"]
        if Fraction(c["kl"]) == 0:
            assert sens[c["id"]] == 0, c["id"]
    # ... and that of an ill-conditioned one is not (the estimate does see it).
    assert sens["uni/ratio-1+1e-12/p-std-1/q-std-1+1e-12"] > 1e-5
    assert sens["uni/mean-gap-1/location-1e8"] > 1e-8
    # The full cases that fail the plain 1e-9 do so because the problem is that sensitive.
    for case_id in (
        "full/d2/cond-1e8/full-vs-full/mean-gap",
        "full/d3/cond-1e8/full-vs-full/mean-gap",
        "full/d5/cond-1e4/near-equal/q-cov-is-p-cov-times-1+1e-6",
        "full/d20/cond-1e4/near-equal/q-cov-is-p-cov-times-1+1e-6",
        "full/d5/cond-1e6/near-equal/q-cov-is-p-cov-times-1+1e-6",
    ):
        assert by_id[case_id]["kind"] == "full"
        assert sens[case_id] > RTOL["full"], case_id
    # The allowance cannot silently swallow the grid.
    relaxed = [c["id"] for c in CASES if tolerance(c) > RTOL[c["kind"]]]
    strict_fraction = 1 - len(relaxed) / len(CASES)
    assert strict_fraction >= MIN_STRICT_FRACTION, (
        f"only {strict_fraction:.0%} of the cases are held to the plain target; relaxed: {relaxed}"
    )
