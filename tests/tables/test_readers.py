"""Reading results tables back: every data format returns the table that was written."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pandas as pd
import pytest

from mcverify.tables.readers import ResultsError, read_results, restore_dtypes
from mcverify.tables.result_files import write_results
from mcverify.tables.writers import column_types

TIMING = ["seconds_closed", "seconds_mc", "seconds_quad", "seconds"]


@pytest.mark.parametrize("fmt", ["csv", "json", "parquet"])
def test_run_table_round_trips_bit_for_bit(small_run, fmt):
    # Written by `mcverify run`, read back: same columns, dtypes and every bit
    # of every float (timings differ between the two runs, nothing else).
    folder, frame = small_run
    got = read_results(folder / f"small.{fmt}")
    assert got.format == fmt and got.provenance["seed"] == 3
    pd.testing.assert_frame_equal(got.frame.drop(columns=TIMING), frame.drop(columns=TIMING), check_exact=True)
    # The awkward columns really are exercised: missing booleans, empty text, infinities.
    assert got.frame["quad_direct_reliable"].isna().any() and got.frame["quad_direct_reliable"].dtype == "boolean"
    assert (got.frame["reason"] == "").any() and (got.frame["quad_message"] == "").all()
    assert (got.frame["kl_closed"] == 0.0).sum() == 3  # p == q: p.std = 1 both ways, and in the grid
    assert got.frame["seed"].max() > 2**53  # 63-bit seeds survive (no detour through doubles)


@pytest.mark.parametrize("fmt", ["csv", "json"])
def test_round_trip_without_the_provenance_sidecar(small_run, tmp_path, fmt):
    folder, frame = small_run
    shutil.copy(folder / f"small.{fmt}", tmp_path / f"small.{fmt}")
    got = read_results(tmp_path / f"small.{fmt}")
    assert got.provenance is None
    pd.testing.assert_frame_equal(got.frame.drop(columns=TIMING), frame.drop(columns=TIMING), check_exact=True)


def test_any_table_round_trips_through_each_format(tmp_path):
    frame = pd.DataFrame(
        {
            "x": [0.1 + 0.2, np.inf, -np.inf, np.nan, 5e-324, -0.0],
            "n": np.array([1, 2**62, -3, 0, 7, 9], dtype=np.int64),
            "ok": [True, False, True, True, False, True],
            "maybe": pd.array([True, None, False, None, True, False], dtype="boolean"),
            "text": ["a|b", "", "NA", "x,y", 'quote "q"', "naïve\nline"],
        }
    )
    write_results(frame, tmp_path, "t", ["csv", "json", "parquet"], {"dtypes": column_types(frame)})
    for fmt in ("csv", "json", "parquet"):
        got = read_results(tmp_path / f"t.{fmt}").frame
        pd.testing.assert_frame_equal(got, frame, check_exact=True, obj=fmt)
        assert np.signbit(got["x"].iloc[5])  # -0.0 stays negative


def test_json_is_standard_json_with_exact_floats(small_run):
    folder, frame = small_run
    text = (folder / "small.json").read_text()
    records = json.loads(text, parse_constant=lambda c: pytest.fail(f"non-standard JSON constant {c}"))
    assert [r["name"] for r in records] == list(frame["name"])
    assert [r["kl_mc"] for r in records] == list(frame["kl_mc"])  # exact, not 15 digits
    assert all(isinstance(r["mc_p_value"], float) for r in records)


def test_audit_json_and_report_json_hold_a_table(tmp_path):
    audit = {
        "verdict": "fail",
        "convention": "prior-std",
        "regions": [{"axis": "std", "negative": [[0.37, 1.0]]}],
        "table": [
            {
                "probe": 0,
                "group": "p = q",
                "d": 1,
                "mean": 0.0,
                "std": 1.0,
                "candidate": 0.0,
                "truth": 0.0,
                "error": 0.0,
                "tolerance": 1e-15,
                "relative_error": None,
                "status": "ok",
                "message": "",
            },
            {
                "probe": 1,
                "group": "scale sweep",
                "d": 1,
                "mean": 0.0,
                "std": 0.5,
                "candidate": -0.07,
                "truth": 0.318,
                "error": -0.388,
                "tolerance": 3e-13,
                "relative_error": 1.23,
                "status": "fail",
                "message": "",
            },
        ],
    }
    path = tmp_path / "audit.json"
    path.write_text(json.dumps(audit))
    got = read_results(path)
    assert got.meta["verdict"] == "fail" and got.meta["regions"][0]["axis"] == "std"
    assert list(got.frame.columns) == list(audit["table"][0])
    assert got.frame["relative_error"].dtype == np.float64 and np.isnan(got.frame["relative_error"].iloc[0])
    assert got.frame["probe"].dtype == np.int64 and list(got.frame["status"]) == ["ok", "fail"]


@pytest.mark.parametrize(
    "name, content, words",
    [
        ("t.xlsx", "x", "unknown table format '.xlsx'"),
        ("t.json", '{"rows": []}', "needs a 'table' list"),
        ("t.json", "[1, 2]", "list of records"),
        ("t.json", "{not json", "cannot read it as JSON"),
        ("t.parquet", "not parquet", "cannot read it as Parquet"),
        ("t.csv", "", "cannot read it as CSV"),
    ],
)
def test_unreadable_files_name_the_file(tmp_path, name, content, words):
    path = tmp_path / name
    path.write_text(content)
    with pytest.raises(ResultsError) as err:
        read_results(path)
    assert str(path) in str(err.value) and words in str(err.value) and "\n" not in str(err.value)


def test_missing_file_and_broken_sidecar(tmp_path):
    with pytest.raises(ResultsError, match="no such file"):
        read_results(tmp_path / "none.csv")
    (tmp_path / "t.csv").write_text("a\n1\n")
    (tmp_path / "t.provenance.json").write_text("{oops")
    with pytest.raises(ResultsError, match=r"t\.provenance\.json: the provenance sidecar is not valid JSON"):
        read_results(tmp_path / "t.csv")


def test_stale_dtypes_fall_back_to_inference():
    frame = pd.DataFrame({"a": ["1.5", "x"], "b": [1.0, np.nan]})
    got = restore_dtypes(frame, {"a": "float64", "b": "int64"})  # neither fits: inferred instead
    assert list(got["a"]) == ["1.5", "x"] and got["b"].dtype == np.float64
