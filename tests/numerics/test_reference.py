"""Tests of the high-precision reference (mcverify.reference) against facts
that do not come from it: values worked out by hand, a second mpmath
formula, symmetries, and the stored grid (tests/data/kl_reference.json,
written by tests/reference_grid.py)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

from mcverify.numerics.gaussian import Gaussian

mpmath = pytest.importorskip("mpmath")

from reference import kl_mpmath, kl_mpmath_float  # noqa: E402

GRID = Path(__file__).resolve().parents[1] / "data" / "kl_reference.json"
DPS = 80


def mpf(x: float) -> mpmath.mpf:
    return mpmath.mpf(x)


def assert_close(a: mpmath.mpf, b: mpmath.mpf, digits: int) -> None:
    """``a`` and ``b`` agree to ``digits`` significant digits (at DPS working digits)."""
    with mpmath.workdps(DPS + 20):
        a, b = mpmath.mpf(a), mpmath.mpf(b)
        tol = mpmath.mpf(10) ** -digits * max(abs(a), abs(b))
        assert abs(a - b) <= tol, f"{mpmath.nstr(a, 30)} != {mpmath.nstr(b, 30)} to {digits} digits"


def random_spd(rng: np.random.Generator, d: int, cond: float) -> np.ndarray:
    q, _ = np.linalg.qr(rng.standard_normal((d, d)))
    a = (q * np.logspace(0.0, np.log10(cond), d)) @ q.T
    return 0.5 * (a + a.T)


# ------------------------------------------------------------------ exact zero
@pytest.mark.parametrize(
    "g",
    [
        Gaussian(0.0, std=1.0),
        Gaussian(0.3, var=0.1),
        Gaussian(1e150, std=1e-150),
        Gaussian([0.1, -2.0, 3.0], std=[0.3, 1e-8, 1e8]),
        Gaussian([0.1, -2.0, 3.0], var=[0.3, 1e-8, 1e8]),
        Gaussian([0.5, -1.5], cov=[[2.0, 0.3], [0.3, 0.1]]),
        Gaussian(np.arange(6.0), cov=random_spd(np.random.default_rng(1), 6, 1e8)),
    ],
    ids=["uni-std", "uni-var", "uni-extreme", "diag-std", "diag-var", "full-2", "full-6-cond1e8"],
)
def test_kl_of_a_gaussian_with_itself_is_exactly_zero(g: Gaussian) -> None:
    assert kl_mpmath(g, g) == 0
    assert kl_mpmath_float(g, g) == 0.0


def test_equal_distributions_in_different_representations_give_zero() -> None:
    # 2**2 == 4 exactly, so std=2 and var=4 are the same distribution.
    assert kl_mpmath(Gaussian(1.0, std=2.0), Gaussian(1.0, var=4.0)) == 0
    v = [0.5, 2.0, 3.0]
    assert kl_mpmath(Gaussian([0.0, 1.0, 2.0], var=v), Gaussian([0.0, 1.0, 2.0], cov=np.diag(v))) == 0


# ------------------------------------------------------------ hand-made values
def test_variance_ratio_four() -> None:
    # KL(N(0, 4) || N(0, 1)) = (4 - 1 - ln 4) / 2
    with mpmath.workdps(DPS):
        expected = (mpf(4) - 1 - mpmath.log(4)) / 2
    assert_close(kl_mpmath(Gaussian(0.0, var=4.0), Gaussian(0.0, var=1.0)), expected, 78)
    assert_close(kl_mpmath(Gaussian(0.0, std=2.0), Gaussian(0.0, std=1.0)), expected, 78)


def test_variance_ratio_one_quarter() -> None:
    # KL(N(0, 1) || N(0, 4)) = (1/4 - 1 + ln 4) / 2
    with mpmath.workdps(DPS):
        expected = (mpf(1) / 4 - 1 + mpmath.log(4)) / 2
    assert_close(kl_mpmath(Gaussian(0.0, std=1.0), Gaussian(0.0, var=4.0)), expected, 78)


def test_mean_shift_is_exact_rational() -> None:
    # Equal scales: KL = (mu_p - mu_q)**2 / (2 s**2) = 9 / 8 for a gap of 3 and s = 2.
    value = kl_mpmath(Gaussian(1.0, std=2.0), Gaussian(-2.0, std=2.0))
    assert value == mpf(9) / 8
    assert kl_mpmath(Gaussian(1e8, std=1.0), Gaussian(1e8 + 1.0, std=1.0)) == mpf(1) / 2


def test_inputs_are_taken_as_exact_binary_numbers() -> None:
    # 0.1**2 (exact, 106 bits) differs from the double 0.01: the KL is tiny but not zero.
    value = kl_mpmath(Gaussian(0.0, std=0.1), Gaussian(0.0, var=0.01))
    with mpmath.workdps(DPS):
        r = mpf(0.1) ** 2 / mpf(0.01)
        expected = (r - 1 - mpmath.log(r)) / 2
    assert value > 0
    assert_close(value, expected, 40)
    assert mpmath.mpf(1e-34) < value < mpmath.mpf(1e-32)


def test_two_dimensional_full_covariance_by_hand() -> None:
    sigma = [[2.0, 1.0], [1.0, 2.0]]  # det 3, inverse [[2, -1], [-1, 2]] / 3
    with mpmath.workdps(DPS):
        ln3 = mpmath.log(3)
        forward = (mpf(4) - 2 - ln3) / 2  # tr = 4, log det Sq = 0, log det Sp = ln 3
        backward = (mpf(4) / 3 + mpf(2) / 3 - 2 + ln3) / 2  # tr = 4/3, dm = (1, 0) gives 2/3
    p = Gaussian([0.0, 0.0], cov=sigma)
    assert_close(kl_mpmath(p, Gaussian([0.0, 0.0], var=[1.0, 1.0])), forward, 78)
    assert_close(kl_mpmath(Gaussian([1.0, 0.0], std=[1.0, 1.0]), Gaussian([0.0, 0.0], cov=sigma)), backward, 78)


# ------------------------------------------------------ agreement of the paths
def test_full_path_agrees_with_diagonal_path_for_diagonal_inputs() -> None:
    rng = np.random.default_rng(7)
    d = 12
    mp_, mq = rng.standard_normal(d), rng.standard_normal(d)
    vp, vq = 10.0 ** rng.uniform(-3, 3, d), 10.0 ** rng.uniform(-3, 3, d)
    sp = np.sqrt(vp)
    diagonal = kl_mpmath(Gaussian(mp_, var=vp), Gaussian(mq, var=vq))
    full = kl_mpmath(Gaussian(mp_, cov=np.diag(vp)), Gaussian(mq, cov=np.diag(vq)))
    assert_close(full, diagonal, 70)
    # A std-given side is squared in mpmath on both paths, exactly.
    diagonal = kl_mpmath(Gaussian(mp_, std=sp), Gaussian(mq, var=vq))
    mixed = kl_mpmath(Gaussian(mp_, std=sp), Gaussian(mq, cov=np.diag(vq)))
    assert_close(mixed, diagonal, 70)


def test_full_path_agrees_with_inverse_and_determinant_formula() -> None:
    rng = np.random.default_rng(11)
    d = 6
    sp, sq = random_spd(rng, d, 1e4), random_spd(rng, d, 1e6)
    mp_, mq = rng.standard_normal(d), rng.standard_normal(d)
    with mpmath.workdps(DPS + 40):
        Sp = mpmath.matrix([[mpf(x) for x in row] for row in sp.tolist()])
        Sq = mpmath.matrix([[mpf(x) for x in row] for row in sq.tolist()])
        dm = mpmath.matrix([mpf(a) - mpf(b) for a, b in zip(mp_.tolist(), mq.tolist())])
        inv = mpmath.inverse(Sq)
        trace = sum((inv * Sp)[i, i] for i in range(d))
        maha = (dm.T * inv * dm)[0, 0]
        expected = (trace + maha - d + mpmath.log(mpmath.det(Sq) / mpmath.det(Sp))) / 2
    assert_close(kl_mpmath(Gaussian(mp_, cov=sp), Gaussian(mq, cov=sq)), expected, 65)


def test_full_path_is_invariant_under_coordinate_permutation() -> None:
    rng = np.random.default_rng(3)
    d = 7
    sp, sq = random_spd(rng, d, 1e8), random_spd(rng, d, 1e3)
    mp_, mq = rng.standard_normal(d), rng.standard_normal(d)
    perm = rng.permutation(d)
    a = kl_mpmath(Gaussian(mp_, cov=sp), Gaussian(mq, cov=sq))
    b = kl_mpmath(Gaussian(mp_[perm], cov=sp[np.ix_(perm, perm)]), Gaussian(mq[perm], cov=sq[np.ix_(perm, perm)]))
    assert_close(a, b, 65)


def test_value_is_stable_in_the_working_precision() -> None:
    rng = np.random.default_rng(5)
    sp, sq = random_spd(rng, 10, 1e8), random_spd(rng, 10, 1e8)
    p, q = Gaussian(np.zeros(10), cov=sp), Gaussian(np.ones(10), cov=sq)
    assert_close(kl_mpmath(p, q, dps=80), kl_mpmath(p, q, dps=140), 60)


def test_float_version_is_the_rounded_high_precision_value() -> None:
    p, q = Gaussian(0.1, std=0.3), Gaussian(0.3, std=0.1)
    value = kl_mpmath_float(p, q)
    assert isinstance(value, float)
    assert value == float(kl_mpmath(p, q))


def test_dimension_mismatch_is_rejected() -> None:
    with pytest.raises(ValueError, match="dimension"):
        kl_mpmath(Gaussian([0.0, 0.0], std=1.0), Gaussian([0.0, 0.0, 0.0], std=1.0))


def test_diagonal_d1000_is_fast() -> None:
    import time

    rng = np.random.default_rng(0)
    d = 1000
    p = Gaussian(rng.standard_normal(d), std=10.0 ** rng.uniform(-3, 3, d))
    q = Gaussian(rng.standard_normal(d), var=10.0 ** rng.uniform(-3, 3, d))
    start = time.perf_counter()
    kl_mpmath(p, q)
    assert time.perf_counter() - start < 5.0


def test_missing_mpmath_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "mpmath", None)
    with pytest.raises(ImportError, match=r"pip install 'mcverify\[test\]'"):
        kl_mpmath(Gaussian(0.0, std=1.0), Gaussian(0.0, std=2.0))


# ----------------------------------------------------------------- the grid
@pytest.fixture(scope="module")
def grid() -> dict:
    with GRID.open() as fh:
        return json.load(fh)


def gaussian_from(spec: dict) -> Gaussian:
    return Gaussian(**spec)


def test_grid_has_provenance_and_well_formed_cases(grid: dict) -> None:
    source = grid["source"]
    assert source["script"] == "tests/reference_grid.py"
    assert source["dps"] == DPS
    assert "mpmath_version" in source
    cases = grid["cases"]
    assert len(cases) >= 100
    ids = [c["id"] for c in cases]
    assert len(set(ids)) == len(ids)
    kinds = {c["kind"] for c in cases}
    assert kinds == {"univariate", "diagonal", "full"}
    for c in cases:
        assert set(c) == {"id", "kind", "p", "q", "kl", "sensitivity", "dps"}, c["id"]
        assert c["dps"] == DPS
        p, q = gaussian_from(c["p"]), gaussian_from(c["q"])
        # Floats round-trip: the rebuilt specs give back exactly what is stored.
        assert p.to_dict() == c["p"] and q.to_dict() == c["q"], c["id"]
        expected_kind = (
            "full" if "full" in {p.kind, q.kind} else ("diagonal" if "diagonal" in {p.kind, q.kind} else "univariate")
        )
        assert c["kind"] == expected_kind, c["id"]
        value = mpmath.mpf(c["kl"])
        assert value >= 0, c["id"]
        if value != 0:
            mantissa = c["kl"].split("e")[0].replace(".", "").lstrip("0")
            assert len(mantissa) == 40, c["id"]
        sensitivity = mpmath.mpf(c["sensitivity"])
        assert sensitivity >= 0, c["id"]
        if value == 0:
            assert sensitivity == 0, c["id"]
        elif sensitivity != 0:
            mantissa = c["sensitivity"].split("e")[0].replace(".", "").lstrip("0")
            assert len(mantissa) == 3, c["id"]


def _sample_ids(cases: list[dict]) -> list[str]:
    ids = [c["id"] for c in cases]
    wanted = [
        "uni/ratio-1+1e-12/p-std-1/q-std-1+1e-12",
        "uni/near-equal/std-0.1-vs-var-0.01",
        "uni/scale-1e150/std-ratio-1e8",
        "uni/equal/std-2-vs-var-4/kl-0",
        "diag/d1000/std-1e-3..1e3/random-means",
        "diag/d10/std-1e-150-vs-1e150/huge-ratio",
        "full/d20/cond-1e8/full-vs-full/mean-gap",
        "full/d5/cond-1e6/near-equal/q-cov-is-p-cov-times-1+1e-6",
        "full/d5/diag-as-cov-vs-var/equal/kl-0",
    ]
    return [i for i in wanted if i in ids] + ids[::23]


def test_grid_values_are_recomputed_identically(grid: dict) -> None:
    cases = {c["id"]: c for c in grid["cases"]}
    sample = _sample_ids(grid["cases"])
    assert len(sample) >= 10
    for case_id in sample:
        c = cases[case_id]
        value = kl_mpmath(gaussian_from(c["p"]), gaussian_from(c["q"]), dps=c["dps"])
        # Same formatting as tests/reference_grid.py (format_kl).
        text = mpmath.nstr(value, 40, strip_zeros=False, min_fixed=1, max_fixed=0)
        assert text == c["kl"], case_id


def _reference_grid_module():
    import importlib.util

    path = Path(__file__).resolve().parents[1] / "reference_grid.py"
    spec = importlib.util.spec_from_file_location("_reference_grid", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_grid_sensitivities_are_recomputed_identically(grid: dict) -> None:
    reference_grid = _reference_grid_module()
    cases = {c["id"]: c for c in grid["cases"]}
    for case_id in _sample_ids(grid["cases"]):
        c = cases[case_id]
        p, q = gaussian_from(c["p"]), gaussian_from(c["q"])
        value = kl_mpmath(p, q, dps=c["dps"])
        s = reference_grid.sensitivity(case_id, p, q, value)
        assert reference_grid.format_sensitivity(s) == c["sensitivity"], case_id


def test_sensitivity_of_a_mean_gap_at_a_large_location_by_hand() -> None:
    # KL = (mu_p - mu_q)**2 / 2 = 1/2 with the gap 1 at location 1e8.  Moving
    # each mean by one rounding changes the gap by at most (2e8 + 1) * 2**-53,
    # hence the KL by twice that relative; the stds add at most 2 * 2**-53
    # more (to first order only q's does).  So 0 < sensitivity <~ 4.44e-8.
    reference_grid = _reference_grid_module()
    p, q = Gaussian(1e8, std=1.0), Gaussian(1e8 + 1.0, std=1.0)
    s = reference_grid.sensitivity("by-hand", p, q, kl_mpmath(p, q))
    bound = (4e8 + 1 + 4) * 2.0**-53
    assert 0 < s <= bound * (1 + 1e-6)
    # A KL of exactly zero has sensitivity zero by definition.
    assert reference_grid.sensitivity("zero", p, p, kl_mpmath(p, p)) == 0
