"""mcverify.config.case_list: the lazy sequence of a run's cases."""

from __future__ import annotations

import pickle
import time
import tracemalloc
from pathlib import Path

import pytest
from sweep_oracle import expand_sweep

from mcverify.config.case_list import CaseList, PairEntry
from mcverify.config.loader import load_config
from mcverify.errors import ConfigError
from mcverify.numerics.gaussian import Gaussian

CONFIGS = Path(__file__).resolve().parents[2] / "configs"

MIXED = """
[run]
seed = 4
[[pair]]
name = "a"
p = { mean = 0.5, var = 2.0 }
q = { mean = 0.0, std = 1.0 }
direction = "both"
[[pair]]
name = "r"
p = { mean = [0.0, 1.0], cov = [[1.0, 0.5], [0.5, 2.0]] }
q = { mean = [0.0, 0.0], var = [1.0, 1.0] }
direction = "reverse"
[[sweep]]
name = "both"
p = { mean = { values = [0.0, 0.5] }, var = { logspace = [-1, 1, 3] } }
q = { mean = 0.25, std = 1.5 }
direction = "both"
[[sweep]]
name = "rev"
p = { mean = 0.1, std = 2.0 }
q = { mean = { linspace = [-1, 1, 3] }, var = 0.5 }
direction = "reverse"
[[sweep]]
name = "single"
p = { mean = 0.1, std = 2.0 }
q = { mean = 0.0, std = 1.0 }
[[sweep]]
name = "rand"
p = { mean = { random = "normal", dim = 2 }, std = { values = [0.5, 2.0] } }
q = { mean = [0.0, { values = [0.0, 1.0] }], std = 1.0 }
count = 3
direction = "both"
"""


def eager(cases: CaseList):
    """The cases as the eager expansion (expand_sweep) describes them: (name, direction, params, p, q)."""
    out = []
    for entry in cases.entries:
        if isinstance(entry, PairEntry):
            items = [(entry.name, (), entry.p, entry.q)]
        else:
            items = []
            for pt in expand_sweep(entry.sweep, entry.run_seed, entry.number):
                name = f"{entry.name}[{pt.label}]" if pt.label else entry.name
                items.append((name, pt.params, Gaussian(**pt.values["p"]), Gaussian(**pt.values["q"])))
        for name, params, p, q in items:
            if entry.direction == "reverse":
                out.append((name, "reverse", params, q, p))
                continue
            out.append((name, "forward", params, p, q))
            if entry.direction == "both":
                out.append((name + "/reverse", "reverse", params, q, p))
    return out


def same_case(case, expected) -> bool:
    name, direction, params, p, q = expected
    return (case.name, case.direction, case.params, case.p.to_dict(), case.q.to_dict()) == (
        name,
        direction,
        params,
        p.to_dict(),
        q.to_dict(),
    )


@pytest.fixture
def mixed(tmp_path):
    path = tmp_path / "mixed.toml"
    path.write_text(MIXED)
    return load_config(path)


@pytest.mark.parametrize("config", ["example.toml", "classic-std.toml", "extreme.toml", "mixed"])
def test_lazy_cases_equal_the_eager_expansion(config, mixed):
    spec = mixed if config == "mixed" else load_config(CONFIGS / config)
    cases = spec.cases
    assert isinstance(cases, CaseList)
    expected = eager(cases)
    assert len(cases) == len(expected)
    for i, (case, exp) in enumerate(zip(cases, expected)):
        assert case.index == i and same_case(case, exp), (i, case)
        assert same_case(cases[i], exp) and same_case(cases[i - len(cases)], exp)
    assert len({c.name for c in cases}) == len(cases)


def test_indexing_slicing_and_pickling(mixed):
    cases = mixed.cases
    n = len(cases)
    assert [c.index for c in cases[3:9:2]] == [3, 5, 7]
    assert [c.index for c in cases[-2:]] == [n - 2, n - 1]
    with pytest.raises(IndexError):
        cases[n]
    with pytest.raises(IndexError):
        cases[-n - 1]
    again = pickle.loads(pickle.dumps(cases))
    assert len(again) == n and all(
        same_case(a, (b.name, b.direction, b.params, b.p, b.q)) for a, b in zip(again, cases)
    )
    assert len(pickle.dumps(cases)) < 20_000
    recs = list(cases.records(2, n - 1))
    assert [r.index for r in recs] == list(range(2, n - 1))


def test_univariate_segments_match_records(mixed):
    cases = mixed.cases
    for e, entry in enumerate(cases.entries):
        size = entry.size
        for lo, hi in [(0, size), (1, size), (0, max(1, size - 1)), (size // 2, size)]:
            seg = cases.univariate_segment(e, lo, hi)
            if isinstance(entry, PairEntry) or entry.name == "rand":
                assert seg is None
                continue
            start = cases.entry_start(e)
            recs = list(cases.records(start + lo, start + hi))
            assert seg.index.tolist() == [r.index for r in recs]
            assert seg.names == [r.name for r in recs] and seg.directions == [r.direction for r in recs]
            assert list(zip(*(a.tolist() for a in seg.pairs))) == [r.univariate() for r in recs]
            for key, values in seg.params.items():
                assert values.tolist() == [dict(r.params)[key] for r in recs]


def test_a_million_cases_stay_lazy(tmp_path):
    path = tmp_path / "big.toml"
    path.write_text(
        "[run]\nmax_cases = 2_000_000\n[[sweep]]\nname = 'g'\n"
        "p = { mean = { linspace = [-1, 1, 1000] }, std = { logspace = [-1, 1, 1000] } }\n"
        "q = { mean = 0.0, var = 1.0 }\n"
    )
    tracemalloc.start()
    t0 = time.perf_counter()
    spec = load_config(path)
    elapsed = time.perf_counter() - t0
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert len(spec.cases) == 10**6
    assert peak < 20e6, peak  # nothing per case is held
    last = spec.cases[-1]
    assert last.name == "g[p.mean=1, p.std=10]" and last.index == 10**6 - 1
    assert float(last.p.std[0]) == 10.0 and float(last.q.var[0]) == 1.0
    assert elapsed < 30  # loose: loading must not build a million Gaussians (~60 s)


def test_validation_reports_the_first_failing_case(tmp_path):
    # A random SPD covariance that is not positive definite in floating point.
    path = tmp_path / "bad.toml"
    path.write_text(
        "[[sweep]]\nname = 's'\n"
        "p = { mean = { linspace = [0, 1, 4] }, std = { values = [1.0, 2.0] } }\n"
        "q = { mean = 0.0, std = { values = [1.0, 3.0] } }\n"
        "[[sweep]]\nname = 'spd'\n"
        "p = { mean = 0.0, cov = { random = 'spd', dim = 30, cond = 1e30 } }\n"
        "q = { mean = 0.0, std = 1.0 }\ncount = 5\n"
    )
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert "sweep[2].p.cov" in str(info.value) and "(in case 'spd[draw=0]')" in str(info.value)


def test_entries_sizes():
    g = Gaussian(0.0, std=1.0)
    assert PairEntry("a", g, g, "both").size == 2 and PairEntry("a", g, g, "reverse").size == 1
    assert len(CaseList([])) == 0
