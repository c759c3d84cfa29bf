"""Tests of mcverify.config.loader: loading TOML configs into RunSpecs."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest

from mcverify.config.cases import RunSpec
from mcverify.config.loader import DEFAULT_MAX_CASES, load_config, parse_config
from mcverify.errors import ConfigError

CONFIGS = Path(__file__).resolve().parents[2] / "configs"

PAIR = """
[[pair]]
name = "a"
p = { mean = 0.0, std = 2.0 }
q = { mean = 0.0, std = 1.0 }
"""


def write(tmp_path: Path, text: str, name: str = "run.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def load_text(tmp_path: Path, text: str, **kwargs: object) -> RunSpec:
    return load_config(write(tmp_path, text), **kwargs)  # type: ignore[arg-type]


# ---------------------------------------------------------- shipped configs
def test_example_config() -> None:
    spec = load_config(CONFIGS / "example.toml")
    assert spec.samples == 200_000 and spec.seed == 12345
    assert spec.confidence == 0.95 and spec.alpha == 0.01
    assert 10 <= len(spec.cases) <= 60
    assert [c.index for c in spec.cases] == list(range(len(spec.cases)))
    assert len({c.name for c in spec.cases}) == len(spec.cases)
    names = [c.name for c in spec.cases]
    assert names[:2] == ["wide-vs-standard", "correlated-2d"]
    assert "std-grid[p.std=0.01]" in names and "std-grid[p.std=100]" in names
    spd = [c for c in spec.cases if c.group == "random-spd-5d"]
    assert [c.params for c in spd] == [(("draw", k),) for k in range(3)]
    for c in spd:
        assert c.dim == 5 and c.p.kind == "full"
        ev = np.linalg.eigvalsh(c.p.cov)
        assert ev[-1] / ev[0] == pytest.approx(100.0, rel=1e-6)


def test_classic_std_config_hits_one_exactly() -> None:
    spec = load_config(CONFIGS / "classic-std.toml")
    assert len(spec.cases) == 120
    forward = [c for c in spec.cases if c.direction == "forward"]
    xs = [dict(c.params)["p.std"] for c in forward]
    assert 1.0 in xs and min(xs) > 0 and max(xs) == 3.0
    one = next(c for c in forward if dict(c.params)["p.std"] == 1.0)
    assert one.name == "std-ratio[p.std=1]" and float(one.p.std[0]) == 1.0
    for fwd, rev in zip(spec.cases[::2], spec.cases[1::2]):
        assert rev.name == fwd.name + "/reverse" and rev.direction == "reverse"
        assert rev.p.to_dict() == fwd.q.to_dict() and rev.q.to_dict() == fwd.p.to_dict()
        assert rev.params == fwd.params


def test_extreme_config() -> None:
    spec = load_config(CONFIGS / "extreme.toml")
    by_name = {c.name: c for c in spec.cases}
    assert by_name["diagonal-50d"].dim == 50
    full = by_name["full-10d-cond-1e8"]
    assert full.dim == 10 and full.p.kind == "full"
    ev = np.linalg.eigvalsh(full.p.cov)
    assert ev[-1] / ev[0] == pytest.approx(1e8, rel=1e-6)
    stds = [dict(c.params)["p.std"] for c in spec.cases if c.group == "std-ratio-extreme"]
    assert min(stds) == pytest.approx(1e-8) and max(stds) == pytest.approx(1e8)
    assert float(by_name["shift-50-sigma"].p.mean[0]) == 50.0


@pytest.mark.parametrize("name", ["example.toml", "classic-std.toml", "extreme.toml"])
def test_shipped_config_hash_and_source(name: str) -> None:
    path = CONFIGS / name
    spec = load_config(str(path))
    assert spec.source == str(path)
    assert spec.config_hash == hashlib.sha256(path.read_bytes()).hexdigest()


# ----------------------------------------------------------------- format
def test_defaults(tmp_path: Path) -> None:
    spec = load_text(tmp_path, PAIR)
    assert (spec.samples, spec.seed, spec.confidence, spec.alpha) == (100_000, 0, 0.95, 0.01)
    (case,) = spec.cases
    assert (case.index, case.name, case.group, case.direction, case.params) == (0, "a", "a", "forward", ())
    assert case.p.kind == "univariate" and float(case.p.std[0]) == 2.0


def test_integers_for_floats_and_float_samples(tmp_path: Path) -> None:
    text = "[run]\nsamples = 1e6\nconfidence = 0.9\n" + PAIR.replace("0.0", "0").replace("2.0", "2")
    spec = load_text(tmp_path, text)
    assert spec.samples == 1_000_000 and isinstance(spec.samples, int)
    assert spec.cases[0].p.mean.dtype == np.float64 and float(spec.cases[0].p.std[0]) == 2.0


def test_overrides_replace_run_values(tmp_path: Path) -> None:
    text = "[run]\nsamples = 10\nseed = 1\nconfidence = 0.9\nalpha = 0.05\n" + PAIR
    spec = load_text(tmp_path, text, samples=500, seed=99, confidence=0.99)
    assert (spec.samples, spec.seed, spec.confidence, spec.alpha) == (500, 99, 0.99, 0.05)


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"samples": 1}, "samples"),
        ({"seed": -3}, "seed"),
        ({"confidence": 1.0}, "confidence"),
        ({"max_cases": 0}, "max_cases"),
    ],
)
def test_bad_override(tmp_path: Path, kwargs: dict, field: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_text(tmp_path, PAIR, **kwargs)
    assert info.value.source == "<command line>" and info.value.field == field


def test_parse_config_from_dict() -> None:
    data = {
        "run": {"samples": 1000},
        "sweep": [{"name": "s", "p": {"mean": 0, "std": {"values": [1, 2]}}, "q": {"mean": 0, "std": 1}}],
        "pair": [{"name": "x", "p": {"mean": [0, 1], "var": [1, 2]}, "q": {"mean": [0, 0], "cov": [[1, 0], [0, 1]]}}],
    }
    spec = parse_config(data, "<dict>", "abc")
    assert spec.source == "<dict>" and spec.config_hash == "abc" and spec.samples == 1000
    assert [c.name for c in spec.cases] == ["x", "s[p.std=1]", "s[p.std=2]"]
    assert spec.cases[1].params == (("p.std", 1.0),) and spec.cases[1].group == "s"


def test_pairs_come_before_sweeps_whatever_the_file_order(tmp_path: Path) -> None:
    text = (
        """
[[sweep]]
name = "s"
p = { mean = { values = [0, 1] }, std = 1 }
q = { mean = 0, std = 1 }
direction = "both"
"""
        + PAIR
        + """
[[pair]]
name = "b"
p = { mean = 0, std = 1 }
q = { mean = 1, std = 1 }
direction = "reverse"
"""
    )
    spec = load_text(tmp_path, text)
    assert [c.name for c in spec.cases] == [
        "a",
        "b",
        "s[p.mean=0]",
        "s[p.mean=0]/reverse",
        "s[p.mean=1]",
        "s[p.mean=1]/reverse",
    ]
    assert [c.index for c in spec.cases] == list(range(6))
    b = spec.cases[1]
    assert b.direction == "reverse" and float(b.p.mean[0]) == 1.0 and float(b.q.mean[0]) == 0.0
    rev = spec.cases[3]
    assert rev.direction == "reverse" and rev.group == "s" and rev.params == (("p.mean", 0.0),)
    assert float(rev.q.mean[0]) == 0.0 and float(rev.p.std[0]) == 1.0


def test_direction_both_on_pair(tmp_path: Path) -> None:
    spec = load_text(tmp_path, PAIR + 'direction = "both"\n')
    fwd, rev = spec.cases
    assert (fwd.name, rev.name) == ("a", "a/reverse")
    assert float(rev.p.std[0]) == 1.0 and float(rev.q.std[0]) == 2.0 and rev.group == "a"


RANDOM_SWEEP = """
[[sweep]]
name = "r"
p = { mean = { random = "normal", dim = 3 }, cov = { random = "spd", cond = 10 } }
q = { mean = 0.0, std = { random = "loguniform", low = 0.5, high = 2 } }
count = 4
"""


def test_random_sweep_reproducible_and_seeded(tmp_path: Path) -> None:
    a = load_text(tmp_path, "[run]\nseed = 3\n" + RANDOM_SWEEP)
    b = load_text(tmp_path, "[run]\nseed = 3\n" + RANDOM_SWEEP)
    c = load_text(tmp_path, "[run]\nseed = 3\n" + RANDOM_SWEEP, seed=4)
    assert [x.name for x in a.cases] == [f"r[draw={k}]" for k in range(4)]
    for x, y, z in zip(a.cases, b.cases, c.cases):
        np.testing.assert_array_equal(x.p.cov, y.p.cov)
        np.testing.assert_array_equal(x.q.std, y.q.std)
        assert not np.array_equal(x.p.cov, z.p.cov)


def test_max_cases_from_file_argument_and_force(tmp_path: Path) -> None:
    text = "[run]\nmax_cases = 5\n" + RANDOM_SWEEP
    with pytest.raises(ConfigError, match="max_cases = 3"):
        load_text(tmp_path, text, max_cases=3)
    assert len(load_text(tmp_path, text).cases) == 4
    assert len(load_text(tmp_path, text, max_cases=3, force=True).cases) == 4
    assert DEFAULT_MAX_CASES == 100_000


def test_too_many_cases_refused_before_expansion(tmp_path: Path) -> None:
    text = """
[[sweep]]
name = "huge"
p = { mean = { linspace = [0, 1, 1000000] }, std = { linspace = [1, 2, 1000000] } }
q = { mean = 0, std = 1 }
"""
    with pytest.raises(ConfigError) as info:
        load_text(tmp_path, text)
    msg = str(info.value)
    assert info.value.field == "sweep[1]" and "1,000,000,000,000 cases" in msg and "force" in msg


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "nope.toml"
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert info.value.source == str(path) and info.value.field == ""
    assert str(info.value).startswith(f"{path}: cannot read the config file")


def test_directory_and_binary_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"not a regular file \(a folder\)"):
        load_config(tmp_path)
    bad = tmp_path / "bin.toml"
    bad.write_bytes(b"\xff\xfe\x00name")
    with pytest.raises(ConfigError, match="UTF-8"):
        load_config(bad)


# ------------------------------------------------------------ bad configs
SWEEP_STD = """
[[sweep]]
name = "s"
p = {{ mean = 0.0, std = {gen} }}
q = {{ mean = 0.0, std = 1.0 }}
"""


def pair_with(p: str, q: str = "{ mean = 0.0, std = 1.0 }", extra: str = "") -> str:
    return f'[[pair]]\nname = "a"\np = {p}\nq = {q}\n{extra}'


BAD = [
    # (id, text, field, fragment)
    ("negative-std", pair_with("{ mean = 0.0, std = -1.0 }"), "pair[1].p.std", "std must be positive"),
    ("zero-var", pair_with("{ mean = 0.0, var = [1.0, 0.0] }"), "pair[1].p.var[2]", "var must be positive, got 0.0"),
    (
        "negative-std-in-sweep-vector",
        SWEEP_STD.format(gen="[1.0, { values = [1, 2] }, -2.0]"),
        "sweep[1].p.std[3]",
        "std must be positive",
    ),
    (
        "non-psd-cov",
        pair_with("{ mean = [0, 0], cov = [[1, 2], [2, 1]] }", "{ mean = [0, 0], std = 1 }"),
        "pair[1].p.cov",
        "positive definite",
    ),
    (
        "asymmetric-cov",
        pair_with("{ mean = [0, 0], cov = [[1, 0.5], [0.4, 1]] }", "{ mean = [0, 0], std = 1 }"),
        "pair[1].p.cov",
        "symmetric",
    ),
    ("ragged-cov", pair_with("{ mean = [0, 0], cov = [[1, 0], [0]] }"), "pair[1].p.cov[2]", "2 entries in every row"),
    ("dims-within", pair_with("{ mean = [0, 0, 0], std = [1, 1] }"), "pair[1].p.mean", "dimensions must match"),
    ("dims-p-vs-q", pair_with("{ mean = [0, 0], std = 1 }"), "pair[1]", "p has dimension 2 but q has dimension 1"),
    ("unknown-run-key", "[run]\nsampels = 10\n" + PAIR, "run.sampels", "did you mean 'samples'?"),
    ("unknown-top-key", "[[pairs]]\nname = 'a'\n", "pairs", "did you mean 'pair'?"),
    ("unknown-pair-key", PAIR + 'directon = "both"\n', "pair[1].directon", "did you mean 'direction'?"),
    ("unknown-dist-key", pair_with("{ mean = 0.0, sdt = 1.0 }"), "pair[1].p.sdt", "did you mean 'std'?"),
    (
        "unknown-sweep-key",
        SWEEP_STD.format(gen="{ values = [1, 2] }") + "cout = 3\n",
        "sweep[1].cout",
        "did you mean 'count'?",
    ),
    (
        "unknown-generator-key",
        SWEEP_STD.format(gen="{ linspce = [1, 2, 3] }"),
        "sweep[1].p.std.linspce",
        "did you mean 'linspace'?",
    ),
    (
        "unknown-random-key",
        SWEEP_STD.format(gen="{ random = 'loguniform', dim = 2, low = 1, hihg = 2 }"),
        "sweep[1].p.std.hihg",
        "did you mean 'high'?",
    ),
    ("malformed-toml", '[[pair]]\nname = "a"\np = { mean = 0.0, std = }\n', "", "invalid TOML"),
    ("unterminated-string", '[[pair]]\nname = "a\n', "", "invalid TOML"),
    ("nan", pair_with("{ mean = 0.0, std = nan }"), "pair[1].p.std", "must be finite, got nan"),
    ("inf-in-vector", pair_with("{ mean = [0.0, inf], std = 1.0 }"), "pair[1].p.mean[2]", "must be finite"),
    (
        "wrong-type-number",
        pair_with("{ mean = 0.0, std = 'abc' }"),
        "pair[1].p.std",
        "expected a number, got string 'abc'",
    ),
    ("wrong-type-samples", '[run]\nsamples = "many"\n' + PAIR, "run.samples", "expected an integer, got string 'many'"),
    ("wrong-type-dist", pair_with("3.0"), "pair[1].p", "expected a table"),
    ("float-seed", "[run]\nseed = 1.5\n" + PAIR, "run.seed", "expected an integer"),
    ("negative-seed", "[run]\nseed = -1\n" + PAIR, "run.seed", ">= 0"),
    ("too-few-samples", "[run]\nsamples = 1\n" + PAIR, "run.samples", "between 2"),
    ("absurd-samples", "[run]\nsamples = 1e13\n" + PAIR, "run.samples", "between 2"),
    ("confidence-out-of-range", "[run]\nconfidence = 1.5\n" + PAIR, "run.confidence", "between 0 and 1"),
    ("alpha-zero", "[run]\nalpha = 0\n" + PAIR, "run.alpha", "between 0 and 1"),
    (
        "missing-name",
        "[[pair]]\np = { mean = 0, std = 1 }\nq = { mean = 0, std = 1 }\n",
        "pair[1]",
        "missing required key 'name'",
    ),
    ("empty-name", PAIR.replace('"a"', '""'), "pair[1].name", "must not be empty"),
    ("bracket-name", PAIR.replace('"a"', '"a[1]"'), "pair[1].name", "'['"),
    (
        "duplicate-names",
        PAIR + SWEEP_STD.format(gen="{ values = [1, 2] }").replace('"s"', '"a"'),
        "sweep[1].name",
        "duplicate name 'a' (already used by pair[1])",
    ),
    ("bad-direction", PAIR + 'direction = "backward"\n', "pair[1].direction", "got 'backward'"),
    ("missing-mean", pair_with("{ std = 1.0 }"), "pair[1].p", "missing required key 'mean'"),
    ("missing-q", '[[pair]]\nname = "a"\np = { mean = 0, std = 1 }\n', "pair[1]", "missing required key 'q'"),
    ("two-scales", pair_with("{ mean = 0.0, std = 1.0, var = 1.0 }"), "pair[1].p", "exactly one of std, var or cov"),
    ("no-scale", pair_with("{ mean = 0.0 }"), "pair[1].p", "needs one of std, var or cov"),
    (
        "generator-in-pair",
        pair_with("{ mean = 0.0, std = { values = [1, 2] } }"),
        "pair[1].p.std",
        "only allowed in [[sweep]]",
    ),
    ("pair-not-array", '[pair]\nname = "a"\n', "pair", "array of tables [[pair]]"),
    ("linspace-arity", SWEEP_STD.format(gen="{ linspace = [1, 2] }"), "sweep[1].p.std.linspace", "(3 items), got 2"),
    ("linspace-n-zero", SWEEP_STD.format(gen="{ linspace = [1, 2, 0] }"), "sweep[1].p.std.linspace[3]", ">= 1"),
    (
        "logspace-n-float",
        SWEEP_STD.format(gen="{ logspace = [1, 2, 3.5] }"),
        "sweep[1].p.std.logspace[3]",
        "expected an integer",
    ),
    ("empty-values", SWEEP_STD.format(gen="{ values = [] }"), "sweep[1].p.std.values", "must not be empty"),
    (
        "swept-std-zero",
        SWEEP_STD.format(gen="{ linspace = [0, 3, 4] }"),
        "sweep[1].p.std.linspace",
        "std must be positive, got 0.0",
    ),
    (
        "count-without-random",
        SWEEP_STD.format(gen="{ values = [1, 2] }") + "count = 3\n",
        "sweep[1].count",
        "no random field",
    ),
    (
        "random-needs-dim",
        SWEEP_STD.format(gen="{ random = 'loguniform', low = 1, high = 2 }"),
        "sweep[1].p.std",
        "dim is required",
    ),
    (
        "random-wrong-field",
        SWEEP_STD.format(gen="{ random = 'spd', dim = 2, cond = 3 }"),
        "sweep[1].p.std.random",
        "generates cov",
    ),
    (
        "sweep-non-psd",
        '[[sweep]]\nname = "s"\np = { mean = { values = [0, 1] }, cov = [[1, 2], [2, 1]] }\nq = { mean = [0, 0], std = 1 }\n',
        "sweep[1].p.cov",
        "in case 's[p.mean=0]'",
    ),
    (
        "too-many-cases",
        "[run]\nmax_cases = 10\n" + SWEEP_STD.format(gen="{ logspace = [-2, 2, 41] }"),
        "sweep[1]",
        "expands to 41 cases, more than max_cases = 10",
    ),
    ("nothing-to-verify", "[run]\nsamples = 10\n", "", "no [[pair]] or [[sweep]] entries"),
]


@pytest.mark.parametrize(("text", "field", "fragment"), [b[1:] for b in BAD], ids=[b[0] for b in BAD])
def test_bad_config(tmp_path: Path, text: str, field: str, fragment: str) -> None:
    path = write(tmp_path, text, "bad.toml")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    err = info.value
    message = str(err)
    assert "\n" not in message, message
    assert err.source == str(path) and err.field == field, message
    assert message.startswith(f"{path}: {field}: " if field else f"{path}: "), message
    assert fragment in err.message, message


def test_bad_config_ids_are_unique() -> None:
    assert len({b[0] for b in BAD}) == len(BAD) >= 30


# ------------------------------------------------- estimators and error control
def test_sampling_and_error_control_keys(tmp_path: Path) -> None:
    spec = load_text(tmp_path, PAIR)
    assert (spec.method, spec.error_control, spec.randomizations, spec.estimators) == ("mc", "holm", 64, ())
    text = '[run]\nmethod = "qmc"\nerror_control = "bh"\nrandomizations = 8\nestimators = ["k3", "k1"]\nalpha = 0.05\n'
    spec = load_text(tmp_path, text + PAIR)
    assert (spec.method, spec.error_control, spec.randomizations, spec.estimators, spec.alpha) == (
        "qmc",
        "bh",
        8,
        ("k1", "k3"),
        0.05,
    )
    spec = load_text(tmp_path, text + PAIR, method="antithetic", error_control="holm", alpha=0.2, estimators=["k2"])
    assert (spec.method, spec.error_control, spec.alpha, spec.estimators) == ("antithetic", "holm", 0.2, ("k2",))


def test_shipped_study_configs() -> None:
    cal = load_config(CONFIGS / "studies" / "calibration.toml")
    stds = {float(c.p.stddevs[0]) for c in cal.cases if c.dim == 1 and c.direction == "forward"}
    assert {10.0, 0.1} <= stds and max(c.dim for c in cal.cases) == 20
    assert {c.p.kind for c in cal.cases} >= {"univariate", "diagonal", "full"}
    assert len(load_config(CONFIGS / "studies" / "false-alarms.toml").cases) == 1000
    conv = load_config(CONFIGS / "studies" / "converge.toml")
    assert sorted({c.dim for c in conv.cases}) == [1, 10]


@pytest.mark.parametrize(
    "run, field, fragment",
    [
        ('method = "mcmc"', "run.method", "must be one of 'mc', 'antithetic', 'qmc'"),
        ('error_control = "bonferroni"', "run.error_control", "must be one of 'holm', 'bh'"),
        ("randomizations = 1", "run.randomizations", "between 2 and 4096"),
        ('estimators = "k1"', "run.estimators", "expected a list"),
        ('estimators = ["k1", "k4"]', "run.estimators[2]", "got 'k4'"),
        ('estimators = ["k1", "k1"]', "run.estimators", "twice"),
        ('method = "qmc"\nsamples = 100', "run.samples", "method 'qmc' needs at least 128 samples"),
        ("alpha = 1.5", "run.alpha", "strictly between 0 and 1"),
    ],
)
def test_bad_sampling_keys(tmp_path: Path, run: str, field: str, fragment: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_text(tmp_path, f"[run]\n{run}\n" + PAIR)
    assert field in str(info.value) and fragment in str(info.value)


def test_bad_sampling_override(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="<command line>: method"):
        load_text(tmp_path, PAIR, method="nope")
    with pytest.raises(ConfigError, match="<command line>: samples: method 'antithetic' needs at least 4"):
        load_text(tmp_path, PAIR, method="antithetic", samples=3)
