"""mcverify.engine.blocks: layout and bulk evaluation against the one-case runner."""

from __future__ import annotations

import itertools
import math
from pathlib import Path

import numpy as np
import pytest

from mcverify.config.loader import load_config
from mcverify.engine.blocks import Layout, evaluate_block
from mcverify.engine.case import Methods, Settings, evaluate_case
from mcverify.engine.parallel import run_params
from mcverify.tables.columns import to_rows

CONFIGS = Path(__file__).resolve().parents[2] / "configs"
QUAD = {
    "kl_quad",
    "quad_error",
    "quad_reliable",
    "quad_message",
    "kl_quad_direct",
    "quad_direct_error",
    "quad_direct_reliable",
    "abs_err_quad",
    "rel_err_quad",
}


@pytest.mark.parametrize("n, samples", [(1, 10**9), (53, 200_000), (2000, 10_000), (10**5, 10_000), (10**6, 100)])
def test_layout_covers_every_case_once(n, samples):
    layout = Layout.for_run(n, samples)
    assert 1 <= layout.block_size <= 4096
    covered = [layout.bounds(b) for b in range(layout.n_blocks)]
    assert covered[0][0] == 0 and covered[-1][1] == n
    assert all(a[1] == b[0] for a, b in itertools.pairwise(covered))
    assert layout == Layout.for_run(n, samples)  # a function of the run alone
    if n >= 64:
        assert layout.block_size <= math.ceil(n / 64)
    with pytest.raises(IndexError):
        layout.bounds(layout.n_blocks)


def same(a, b):
    return a == b or (isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b))


@pytest.mark.parametrize("config", ["example.toml", "extreme.toml"])
def test_block_rows_equal_evaluate_case(config):
    spec = load_config(CONFIGS / config, samples=3000)
    settings = Settings(spec.samples, spec.seed, spec.confidence)
    params = run_params(spec)
    n = len(spec.cases)
    rows = to_rows(evaluate_block(spec.cases, 0, n, settings, params), params)
    for row, case in zip(rows, spec.cases):
        one = evaluate_case(case, settings)
        assert set(row) == set(one)
        for key in one:
            if key.startswith("seconds") or (key in QUAD and case.dim == 1 and case.p.kind == "univariate"):
                continue
            assert same(row[key], one[key]), (case.name, key, row[key], one[key])
        if case.p.kind == "univariate" == case.q.kind:
            # bulk quadrature: a different rule, the same honesty
            assert abs(row["kl_quad"] - one["kl_quad"]) <= row["quad_error"] + one["quad_error"]
            assert row["quad_reliable"] or not one["quad_reliable"]


def test_blocks_do_not_depend_on_where_they_are_cut():
    spec = load_config(CONFIGS / "example.toml", samples=1000)
    settings = Settings(spec.samples, spec.seed, spec.confidence)
    params = run_params(spec)
    n = len(spec.cases)
    whole = evaluate_block(spec.cases, 0, n, settings, params)
    cuts = [0, 1, 5, 17, 30, n]
    parts = [evaluate_block(spec.cases, a, b, settings, params) for a, b in itertools.pairwise(cuts)]
    for key, col in whole.items():
        if key.startswith("seconds"):
            continue
        joined = [v for p in parts for v in (p[key] if isinstance(p[key], list) else p[key].tolist())]
        ref = col if isinstance(col, list) else col.tolist()
        assert all(same(a, b) for a, b in zip(joined, ref)), key
    # tuples of Case (no CaseList) go through the record path: same numbers
    tup = evaluate_block(tuple(spec.cases), 0, n, settings, params)
    for key in whole:
        if not key.startswith("seconds"):
            a, b = whole[key], tup[key]
            assert (a == b) if isinstance(a, list) else np.array_equal(a, b, equal_nan=True), key


def test_a_replaced_method_is_used_for_every_case():
    from mcverify import kl_divergence

    spec = load_config(CONFIGS / "classic-std.toml", samples=500)
    settings = Settings.from_spec(spec, methods=Methods(closed_form=lambda p, q: kl_divergence(p, q) + 0.25))
    assert not settings.batched and Settings.from_spec(spec).batched
    cols = evaluate_block(spec.cases, 0, 10, settings, run_params(spec))
    expected = [kl_divergence(c.p, c.q) + 0.25 for c in spec.cases[:10]]
    assert cols["kl_closed"].tolist() == expected
