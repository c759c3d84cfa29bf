"""Tests of mcverify.config.sweeps: parsing generators and expanding sweeps."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sweep_oracle import expand_sweep

from mcverify.config.sweeps import (
    SEED_TAG,
    Field,
    Fixed,
    Grid,
    Random,
    SpecError,
    Sweep,
    Vector,
    draw_seed,
    parse_field,
    random_spd,
    resolve_dims,
    sweep_size,
    validate_sweep,
)
from mcverify.formatting import format_values


def make_sweep(p: dict, q: dict, count: int = 1) -> Sweep:
    fields = [parse_field(side, k, v, f"sweep[1].{side}.{k}") for side, t in (("p", p), ("q", q)) for k, v in t.items()]
    sweep = resolve_dims(Sweep(tuple(fields), count), "sweep[1]")
    validate_sweep(sweep, "sweep[1]")
    return sweep


def points(p: dict, q: dict, count: int = 1, seed: int = 0, number: int = 0) -> list:
    return list(expand_sweep(make_sweep(p, q, count), seed, number))


# ------------------------------------------------------------------ grids
def test_linspace_values_and_count() -> None:
    pts = points({"mean": 0.0, "std": {"linspace": [0.5, 2.0, 4]}}, {"mean": 0.0, "std": 1.0})
    assert [pt.values["p"]["std"] for pt in pts] == list(np.linspace(0.5, 2.0, 4))
    assert [pt.params for pt in pts] == [(("p.std", v),) for v in np.linspace(0.5, 2.0, 4)]
    assert [pt.label for pt in pts] == ["p.std=0.5", "p.std=1", "p.std=1.5", "p.std=2"]


def test_logspace_is_base_10() -> None:
    pts = points({"mean": 0.0, "std": {"logspace": [-2, 2, 41]}}, {"mean": 0.0, "std": 1.0})
    got = np.array([pt.values["p"]["std"] for pt in pts])
    np.testing.assert_array_equal(got, np.logspace(-2, 2, 41))
    assert got[0] == pytest.approx(0.01) and got[-1] == pytest.approx(100.0)


def test_values_keep_their_order() -> None:
    pts = points({"mean": {"values": [3, -1, 2.5]}, "std": 1}, {"mean": 0, "std": 1})
    assert [pt.values["p"]["mean"] for pt in pts] == [3.0, -1.0, 2.5]
    assert all(isinstance(pt.values["p"]["mean"], float) for pt in pts)


def test_single_point_linspace() -> None:
    pts = points({"mean": {"linspace": [1.5, 1.5, 1]}, "std": 1}, {"mean": 0, "std": 1})
    assert [pt.params for pt in pts] == [(("p.mean", 1.5),)]


def test_cartesian_order_last_field_fastest() -> None:
    pts = points(
        {"mean": {"values": [0, 1]}, "std": {"values": [1, 2]}},
        {"mean": {"values": [5, 6, 7]}, "std": 1},
    )
    assert len(pts) == 12
    expected = [
        (("p.mean", a), ("p.std", b), ("q.mean", c)) for a in (0.0, 1.0) for b in (1.0, 2.0) for c in (5.0, 6.0, 7.0)
    ]
    assert [pt.params for pt in pts] == expected


def test_field_order_follows_the_table() -> None:
    # std written before mean: std is the outer axis
    pts = points({"std": {"values": [1, 2]}, "mean": {"values": [0, 1]}}, {"mean": 0, "std": 1})
    assert tuple(k for k, _ in pts[0].params) == ("p.std", "p.mean")
    assert [pt.params[0][1] for pt in pts] == [1.0, 1.0, 2.0, 2.0]


def test_vector_entry_sweep() -> None:
    pts = points({"mean": [0.0, {"values": [1, 2]}], "std": [1.0, 2.0]}, {"mean": [0, 0], "std": 1})
    assert [pt.params for pt in pts] == [(("p.mean[2]", 1.0),), (("p.mean[2]", 2.0),)]
    np.testing.assert_array_equal(pts[1].values["p"]["mean"], [0.0, 2.0])
    assert pts[0].label == "p.mean[2]=1"


def test_sweep_size_matches_expansion() -> None:
    sweep = make_sweep(
        {"mean": {"random": "normal", "dim": 2}, "std": {"logspace": [0, 1, 3]}},
        {"mean": [0.0, {"linspace": [0, 1, 4]}], "std": 1.0},
        count=5,
    )
    assert sweep_size(sweep) == 3 * 4 * 5 == len(list(expand_sweep(sweep, 1, 0)))


@settings(max_examples=25, deadline=None)
@given(st.lists(st.integers(1, 4), min_size=1, max_size=3), st.integers(1, 3))
def test_size_is_product_of_axes(sizes: list[int], count: int) -> None:
    # one axis on p.std, the others on entries of q.mean; p.mean random with dim inferred
    q_mean = [{"linspace": [0, 1, n]} for n in sizes[1:]] or [0.0]
    p = {"mean": {"random": "normal"}, "std": {"linspace": [1, 2, sizes[0]]}}
    pts = points(p, {"mean": q_mean, "std": 1.0}, count=count)
    assert len(pts) == int(np.prod(sizes)) * count
    assert len({pt.label for pt in pts}) == len(pts)
    assert all(pt.values["p"]["mean"].shape == (len(q_mean),) for pt in pts)


# ----------------------------------------------------------------- random
RANDOM_P = {
    "mean": {"random": "normal", "dim": 3, "loc": 1.0, "scale": 2.0},
    "std": {"random": "loguniform", "low": 0.1, "high": 10},
}
RANDOM_Q = {"mean": {"random": "uniform", "low": -1, "high": 1}, "cov": {"random": "spd", "cond": 50.0}}


def _stack(pts: list, side: str, key: str) -> np.ndarray:
    return np.array([pt.values[side][key] for pt in pts])


def test_random_reproducible_with_same_seed() -> None:
    a = points(RANDOM_P, RANDOM_Q, count=4, seed=7)
    b = points(RANDOM_P, RANDOM_Q, count=4, seed=7)
    for side, key in (("p", "mean"), ("p", "std"), ("q", "mean"), ("q", "cov")):
        np.testing.assert_array_equal(_stack(a, side, key), _stack(b, side, key))


def test_random_differs_with_seed_sweep_number_and_draw() -> None:
    a = points(RANDOM_P, RANDOM_Q, count=2, seed=7)
    b = points(RANDOM_P, RANDOM_Q, count=2, seed=8)
    c = points(RANDOM_P, RANDOM_Q, count=2, seed=7, number=1)
    for key, side in (("mean", "p"), ("cov", "q")):
        assert not np.array_equal(_stack(a, side, key), _stack(b, side, key))
        assert not np.array_equal(_stack(a, side, key), _stack(c, side, key))
        assert not np.array_equal(a[0].values[side][key], a[1].values[side][key])


def test_random_shapes_and_ranges() -> None:
    pts = points(RANDOM_P, RANDOM_Q, count=20, seed=3)
    assert _stack(pts, "p", "mean").shape == (20, 3)
    std = _stack(pts, "p", "std")
    assert std.shape == (20, 3) and np.all((std >= 0.1) & (std <= 10))
    qm = _stack(pts, "q", "mean")
    assert np.all((qm >= -1) & (qm <= 1))
    assert _stack(pts, "q", "cov").shape == (20, 3, 3)
    assert abs(_stack(pts, "p", "mean").mean() - 1.0) < 1.0  # loc 1, scale 2, 60 draws


def test_fields_have_independent_streams() -> None:
    # adding a random field does not change the draws of another
    a = points({"mean": {"random": "normal", "dim": 2}, "std": 1}, {"mean": 0, "std": [1, 1]}, count=3, seed=5)
    b = points(
        {"mean": {"random": "normal", "dim": 2}, "std": 1},
        {"mean": {"random": "normal"}, "std": [1, 1]},
        count=3,
        seed=5,
    )
    np.testing.assert_array_equal(_stack(a, "p", "mean"), _stack(b, "p", "mean"))


def test_draws_innermost_and_shared_across_grid_points() -> None:
    pts = points(
        {"mean": {"random": "normal", "dim": 2}, "std": {"values": [1, 2]}}, {"mean": 0, "std": [1, 1]}, count=3
    )
    assert [pt.params for pt in pts] == [(("p.std", s), ("draw", k)) for s in (1.0, 2.0) for k in range(3)]
    assert pts[1].label == "p.std=1, draw=1"
    for k in range(3):
        np.testing.assert_array_equal(pts[k].values["p"]["mean"], pts[3 + k].values["p"]["mean"])


def test_draw_seed_is_tagged_and_distinct_from_case_seeds() -> None:
    ss = draw_seed(12345, 0, 0, 0)
    assert ss.spawn_key == (SEED_TAG, 0, 0, 0) and ss.entropy == 12345
    case_states = {tuple(np.random.SeedSequence(12345, spawn_key=(i, 0)).generate_state(4)) for i in range(64)}
    case_states.add(tuple(np.random.SeedSequence(12345, spawn_key=(SEED_TAG, 0)).generate_state(4)))
    ours = {tuple(draw_seed(12345, s, k, f).generate_state(4)) for s in range(2) for k in range(4) for f in range(8)}
    assert len(ours) == 64 and not ours & case_states


def test_random_spd_condition_number() -> None:
    rng = np.random.default_rng(0)
    for dim, cond, scale in ((2, 10.0, 1.0), (5, 1e3, 0.5), (10, 1e8, 1e-4), (30, 1e6, 3.0)):
        c = random_spd(dim, cond, scale, rng)
        assert np.array_equal(c, c.T)
        ev = np.linalg.eigvalsh(c)
        assert ev[0] == pytest.approx(scale, rel=1e-6)
        assert ev[-1] == pytest.approx(scale * cond, rel=1e-6)
        assert ev[-1] / ev[0] == pytest.approx(cond, rel=1e-6)
        np.testing.assert_allclose(ev, scale * np.geomspace(1, cond, dim), rtol=1e-6)


def test_random_spd_rotation_is_not_trivial() -> None:
    c = random_spd(4, 100.0, 1.0, np.random.default_rng(1))
    assert np.max(np.abs(c - np.diag(np.diag(c)))) > 1e-3


def test_spd_dim_one_with_cond_one() -> None:
    pts = points({"mean": 0.0, "cov": {"random": "spd", "dim": 1, "cond": 1}}, {"mean": 0, "std": 1})
    assert pts[0].values["p"]["cov"].shape == (1, 1)


# --------------------------------------------------------------- dims
def test_dim_inferred_from_fixed_vector() -> None:
    sweep = make_sweep({"mean": {"random": "normal"}, "std": [1, 2, 3]}, {"mean": 0, "std": 1})
    spec = sweep.fields[0].spec
    assert isinstance(spec, Random) and spec.dim == 3


def test_dim_inferred_from_other_random_field() -> None:
    sweep = make_sweep(
        {"mean": {"random": "normal"}, "cov": {"random": "spd", "dim": 4, "cond": 2}}, {"mean": 0, "std": [1] * 4}
    )
    assert sweep.fields[0].spec.dim == 4  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("p", "q", "field", "fragment"),
    [
        ({"mean": {"random": "normal"}, "std": 1}, {"mean": 0, "std": 1}, "sweep[1].p.mean", "dim is required"),
        ({"mean": [0, 0], "std": 1}, {"mean": [0, 0, 0], "std": 1}, "sweep[1].q.mean", "mismatched dimensions"),
        (
            {"mean": 0, "cov": {"random": "spd", "dim": 3, "cond": 2}},
            {"mean": 0, "std": [1, 1]},
            "sweep[1].q.std",
            "mismatched",
        ),
        (
            {"mean": 0, "cov": {"random": "spd", "dim": 1, "cond": 2}},
            {"mean": 0, "std": 1},
            "sweep[1].p.cov.cond",
            "condition number 1",
        ),
        (
            {"mean": 0, "std": {"linspace": [0, 1, 3]}},
            {"mean": 0, "std": 1},
            "sweep[1].p.std.linspace",
            "must be positive",
        ),
        ({"mean": 0, "std": {"values": [1, 2, 1]}}, {"mean": 0, "std": 1}, "sweep[1].p.std.values", "more than once"),
        ({"mean": 0, "std": {"logspace": [0, 400, 3]}}, {"mean": 0, "std": 1}, "sweep[1].p.std.logspace", "finite"),
    ],
)
def test_sweep_errors(p: dict, q: dict, field: str, fragment: str) -> None:
    with pytest.raises(SpecError, match=fragment) as info:
        make_sweep(p, q)
    assert info.value.field == field


@pytest.mark.parametrize(
    ("key", "raw", "field", "fragment"),
    [
        ("std", {"linspace": [1, 2]}, "x.linspace", "3 items"),
        ("std", {"linspace": [1, 2, 0]}, "x.linspace[3]", ">= 1"),
        ("std", {"linspace": [1, 2, 2.5]}, "x.linspace[3]", "expected an integer"),
        ("std", {"logspace": "1, 2, 3"}, "x.logspace", "expected an array"),
        ("std", {"values": []}, "x.values", "must not be empty"),
        ("std", {"values": [1, "a"]}, "x.values[2]", "got string 'a'"),
        ("mean", {"values": [[1, 2]]}, "x.values[1]", "sweep its entries"),
        ("std", {"linspase": [1, 2, 3]}, "x.linspase", "did you mean 'linspace'"),
        ("std", {}, "x", "needs one of values"),
        ("std", {"values": [1], "linspace": [1, 2, 2]}, "x", "only one of"),
        ("std", {"linspace": [1, 2, 3], "n": 3}, "x.n", "unknown key 'n'"),
        ("mean", {"random": "gauss"}, "x.random", "unknown random family"),
        ("mean", {"random": "normal", "scael": 1}, "x.scael", "did you mean 'scale'"),
        ("mean", {"random": "normal", "scale": 0}, "x.scale", "positive"),
        ("std", {"random": "normal"}, "x.random", "generates mean"),
        ("cov", {"random": "uniform", "low": 1, "high": 2}, "x.random", "not cov"),
        ("std", {"random": "uniform", "low": -1, "high": 2}, "x.low", "positive"),
        ("mean", {"random": "uniform", "low": 2, "high": 1}, "x", "less than high"),
        ("mean", {"random": "loguniform", "low": 0, "high": 1}, "x.low", "positive"),
        ("cov", {"random": "spd", "dim": 3}, "x", "needs 'cond'"),
        ("cov", {"random": "spd", "dim": 3, "cond": 0.5}, "x.cond", ">= 1"),
        ("cov", {"random": "spd", "dim": 0, "cond": 2}, "x.dim", ">= 1"),
        ("mean", [0.0, {"random": "normal"}], "x[2]", "only be swept by values"),
        ("mean", float("nan"), "x", "finite"),
        ("std", True, "x", "got boolean true"),
        ("cov", [[1, 0], [0]], "x[2]", "2 entries in every row"),
    ],
)
def test_parse_field_errors(key: str, raw: object, field: str, fragment: str) -> None:
    with pytest.raises(SpecError, match=fragment) as info:
        parse_field("p", key, raw, "x")
    assert info.value.field == field
    assert "\n" not in str(info.value)


def test_parse_field_kinds() -> None:
    assert isinstance(parse_field("p", "mean", 1, "x").spec, Fixed)
    assert isinstance(parse_field("p", "std", {"values": [1]}, "x").spec, Grid)
    assert isinstance(parse_field("p", "mean", [1, {"values": [1]}], "x").spec, Vector)
    f = parse_field("q", "cov", {"random": "spd", "cond": 3}, "x")
    assert isinstance(f, Field) and isinstance(f.spec, Random) and f.path == "q.cov" and f.code == 7


# ------------------------------------------------------------- labels
def test_format_values_short_and_unique() -> None:
    assert format_values([0.01, 1e-8, 2.0, 123456789.0]) == ["0.01", "1e-08", "2", "1.23457e+08"]
    labels = format_values([1.0, 1.0000001, 1.00000011])
    assert len(set(labels)) == 3 and labels[0] == "1"
    assert format_values([0.1 + 0.2, 0.3]) == ["0.30000000000000004", "0.3"]


def test_labels_unique_for_close_linspace_values() -> None:
    pts = points({"mean": 0, "std": {"linspace": [1.0, 1.000001, 11]}}, {"mean": 0, "std": 1})
    assert len({pt.label for pt in pts}) == 11
