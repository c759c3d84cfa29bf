"""mcverify.tables.columns: rows <-> columns <-> npz, without loss."""

from __future__ import annotations

import io
import math

import numpy as np

from mcverify.tables.columns import concat, from_rows, load_npz_arrays, npz_arrays, param_dtypes, to_rows
from tests.stats.test_verdict_columns import rows_with_every_outcome


def same(a, b):
    return a == b or (isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b))


def test_rows_columns_npz_round_trip():
    rows = rows_with_every_outcome(40)
    for i, row in enumerate(rows):
        if i % 2:
            row["param:p.std"] = 0.5 * i
        if i % 3:
            row["param:draw"] = i // 3
    params = param_dtypes(["p.std", "draw"])
    cols = from_rows(rows, params)
    buf = io.BytesIO()
    np.savez(buf, **npz_arrays(cols))
    buf.seek(0)
    with np.load(buf, allow_pickle=False) as data:
        back = load_npz_arrays({k: data[k] for k in data.files})
    again = to_rows(concat([{k: v[:15] for k, v in back.items()}, {k: v[15:] for k, v in back.items()}]), params)
    assert len(again) == len(rows)
    for a, b in zip(again, rows):
        assert set(a) == set(b)
        assert all(same(a[k], b[k]) for k in b), [k for k in b if not same(a[k], b[k])]
        assert type(a["quad_direct_reliable"]) is type(b["quad_direct_reliable"])


def test_draw_is_an_integer_when_every_case_has_one():
    assert param_dtypes(["p.std", "draw"], always=["draw"]) == {"param:p.std": "f", "param:draw": "i"}
    assert param_dtypes(["draw"]) == {"param:draw": "f"}
