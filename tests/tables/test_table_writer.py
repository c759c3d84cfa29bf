"""mcverify.tables.block_writer: a table written block by block equals the table written at once."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from mcverify.config.loader import load_config
from mcverify.engine.runner import run
from mcverify.tables.block_writer import TableWriter, block_from_frame
from mcverify.tables.result_files import write_results
from mcverify.tables.schema import to_frame
from mcverify.tables.writers import provenance

CONFIGS = Path(__file__).resolve().parents[2] / "configs"


@pytest.fixture(scope="module")
def frame():
    spec = load_config(CONFIGS / "example.toml", samples=2000)
    return to_frame(run(spec), "example")


@pytest.mark.parametrize("sizes", [[53], [1, 52], [10, 10, 10, 23], [40, 13]])
def test_streamed_files_equal_whole_table(tmp_path, frame, sizes):
    formats = ["csv", "json", "parquet", "md", "html"]
    whole = write_results(frame, tmp_path, "whole", formats, provenance())[:-1]  # the tables, not the provenance
    writer = TableWriter(tmp_path / "streamed", formats)
    start = 0
    for size in sizes:
        writer.add(block_from_frame(frame.iloc[start : start + size].reset_index(drop=True)))
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
    writer.add(block_from_frame(frame.iloc[:5]))
    writer.abort()
    assert list(tmp_path.iterdir()) == []


def test_csv_formatting_is_pandas_formatting(tmp_path):
    frame = pd.DataFrame(
        {
            "x": [1.0, float("nan"), float("inf"), 1e-5, -0.0, 1 / 3, 1e22, 5e-324],
            "ok": [True, False, True, True, False, True, False, True],
            "maybe": [None, True, False, None, True, None, None, False],
            "s": ["x", "a,b", 'q"t', "", " sp", "line\nbreak", "é", "plain"],
            "i": list(range(8)),
        }
    )
    writer = TableWriter(tmp_path / "t", ["csv"])
    writer.add(block_from_frame(frame.iloc[:3]))
    writer.add(block_from_frame(frame.iloc[3:]))
    (path,) = writer.close()
    assert path.read_text(encoding="utf-8") == frame.to_csv(index=False)


def test_command_output_equals_the_reference_path(tmp_path):
    """mcverify run (blocks, bulk verdicts, streamed writers) against rows + apply_verdicts + write_results."""
    from mcverify.cli.main import main
    from mcverify.engine.checkpoint import Checkpoint
    from mcverify.engine.parallel import run_params
    from mcverify.stats.verdicts import apply_verdicts
    from mcverify.tables.columns import to_rows

    cfg = CONFIGS / "example.toml"
    out = tmp_path / "out"
    assert (
        main(
            ["run", str(cfg), "-o", str(out), "-q", "--samples", "3000", "--keep-checkpoint", "--format", "csv,json,md"]
        )
        == 0
    )
    spec = load_config(cfg, samples=3000)
    ck = Checkpoint(out / ".example.checkpoint")
    rows = []
    for b in sorted(ck.completed()):
        rows.extend(to_rows(ck.read(b), run_params(spec)))
    expected = write_results(
        to_frame(apply_verdicts(rows, alpha=spec.alpha), "example"),
        tmp_path,
        "ref",
        ["csv", "json", "md"],
        provenance(),
    )[:-1]
    for path in expected:
        assert (out / f"example{path.suffix}").read_bytes() == path.read_bytes(), path.suffix
    assert oct((out / "example.csv").stat().st_mode & 0o777) == oct(0o666 & ~_umask())


def _umask():
    import os

    mask = os.umask(0)
    os.umask(mask)
    return mask
