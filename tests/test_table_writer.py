"""mcverify.table_writer: a table written block by block equals the table written at once."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from mcverify.config import load_config
from mcverify.runner import run
from mcverify.table import to_frame
from mcverify.table_writer import TableWriter
from mcverify.writers import write_table

CONFIGS = Path(__file__).resolve().parents[1] / "configs"


@pytest.fixture(scope="module")
def frame():
    spec = load_config(CONFIGS / "example.toml", samples=2000)
    return to_frame(run(spec), "example")


@pytest.mark.parametrize("sizes", [[53], [1, 52], [10, 10, 10, 23], [40, 13]])
def test_streamed_files_equal_whole_table(tmp_path, frame, sizes):
    formats = ["csv", "json", "parquet", "md", "html"]
    whole = write_table(frame, tmp_path / "whole", formats)
    writer = TableWriter(tmp_path / "streamed", formats)
    start = 0
    for size in sizes:
        writer.add(frame.iloc[start:start + size].reset_index(drop=True))
        start += size
    streamed = writer.close()
    assert [p.suffix for p in streamed] == [p.suffix for p in whole]
    for a, b in zip(whole, streamed):
        if a.suffix == ".parquet":
            pd.testing.assert_frame_equal(pd.read_parquet(a), pd.read_parquet(b))
        else:
            assert a.read_bytes() == b.read_bytes(), a.suffix
    assert not list(tmp_path.glob(".*"))


def test_abort_publishes_nothing(tmp_path, frame):
    writer = TableWriter(tmp_path / "x", ["csv", "json", "parquet"])
    writer.add(frame.iloc[:5])
    writer.abort()
    assert list(tmp_path.iterdir()) == []
