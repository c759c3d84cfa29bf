import json

import pandas as pd
import pytest

from mcverify.writers import atomic_write, check_formats, provenance, write_table


def test_atomic_write_replaces_only_on_success(tmp_path):
    target = tmp_path / "t.csv"
    target.write_text("old")
    with pytest.raises(RuntimeError):
        with atomic_write(target) as fh:
            fh.write("new, half written")
            raise RuntimeError("boom")
    assert target.read_text() == "old"
    assert list(tmp_path.iterdir()) == [target]
    with atomic_write(target) as fh:
        fh.write("new")
    assert target.read_text() == "new" and list(tmp_path.iterdir()) == [target]


def test_write_table_csv_and_json_round_trip(tmp_path):
    frame = pd.DataFrame({"name": ["a", "b"], "kl": [0.1, 1 / 3], "ok": [True, False]})
    paths = write_table(frame, tmp_path / "x", ["csv", "json"])
    assert [p.name for p in paths] == ["x.csv", "x.json"]
    pd.testing.assert_frame_equal(pd.read_csv(paths[0]), frame)
    assert json.loads(paths[1].read_text())[1]["kl"] == pytest.approx(1 / 3, rel=1e-15)


def test_unknown_format_and_provenance():
    with pytest.raises(ValueError, match="unknown format 'xls'"):
        check_formats(["csv", "xls"])
    record = provenance(seed=3)
    assert record["seed"] == 3 and "numpy" in record["versions"] and record["time"].endswith("+00:00")
