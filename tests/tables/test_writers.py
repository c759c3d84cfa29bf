"""Table formats: Markdown and LaTeX parse as tables, files are written atomically, extras are named."""

from __future__ import annotations

import builtins
import json
import math
import os
import stat

import numpy as np
import pandas as pd
import pytest
from tabletext import latex_tabulars, pipe_tables

from mcverify.extras import MissingExtraError, require_extra
from mcverify.tables.result_files import write_results
from mcverify.tables.textformats import latex_text
from mcverify.tables.writers import (
    atomic_write,
    check_formats,
    provenance,
    render_table,
)

AWKWARD = pd.DataFrame(
    {
        "kl_closed": [0.5, 1e-300, np.nan, np.inf],
        "index": [0, 1, -2, 3],
        "quad_reliable": [True, False, True, True],
        "name": ["a|b", "x_1 & 50% #2", "$\\alpha$ {y} ~^", ""],
    }
)


def test_markdown_is_a_pipe_table_with_every_row_and_column(small_run):
    _, frame = small_run
    [(header, rows)] = pipe_tables(render_table(frame, "md"))
    assert header == list(frame.columns) and len(rows) == len(frame)
    names = [r[header.index("name")] for r in rows]
    assert names == list(frame["name"])
    got = np.array([float(r[header.index("kl_closed")]) for r in rows])
    np.testing.assert_allclose(got, frame["kl_closed"], rtol=5e-6, atol=0)  # 6 significant digits


def test_markdown_escapes_cells():
    [(_header, rows)] = pipe_tables(render_table(AWKWARD, "md"))
    assert [r[3] for r in rows] == list(AWKWARD["name"])  # the pipe survives as \|
    assert [r[0] for r in rows] == ["0.5", "1e-300", "", "inf"]


def test_latex_is_a_booktabs_tabular_with_every_row_and_column(small_run):
    _, frame = small_run
    [(spec, header, rows)] = latex_tabulars(render_table(frame, "latex"))
    assert len(spec) == frame.shape[1] and len(rows) == len(frame)
    assert header == [latex_text(c) for c in frame.columns]
    assert spec[frame.columns.get_loc("kl_closed")] == "r" and spec[frame.columns.get_loc("name")] == "l"


def test_latex_escapes_text_and_typesets_numbers():
    text = render_table(AWKWARD, "latex")
    [(_, _, rows)] = latex_tabulars(text)
    assert rows[1][0] == r"$1\times 10^{-300}$" and rows[3][0] == r"$\infty$" and rows[2][1] == "$-2$"
    assert rows[1][3] == r"x\_1 \& 50\% \#2"
    assert rows[2][3] == r"\$\textbackslash{}alpha\$ \{y\} \textasciitilde{}\textasciicircum{}"


def test_write_results_is_atomic_and_readable_by_others(tmp_path):
    paths = write_results(AWKWARD, tmp_path, "t", ["csv", "md", "latex", "html", "json"], provenance())
    assert [p.suffix for p in paths] == [".csv", ".md", ".tex", ".html", ".json", ".json"]
    assert sorted(os.listdir(tmp_path)) == sorted(p.name for p in paths)  # no temporary files left
    assert all(stat.S_IMODE(p.stat().st_mode) == 0o644 for p in paths)
    with pytest.raises(RuntimeError), atomic_write(tmp_path / "t.csv") as fh:
        fh.write("half")
        raise RuntimeError("boom")
    assert (tmp_path / "t.csv").read_text() == AWKWARD.to_csv(index=False)  # the old file is intact


@pytest.mark.parametrize(
    "fmt, module, extra",
    [("md", "tabulate", "markdown"), ("latex", "jinja2", "latex"), ("parquet", "pyarrow", "parquet")],
)
def test_missing_optional_dependency_names_the_extra(monkeypatch, fmt, module, extra):
    real_import = builtins.__import__

    def fake_import(name, *args, **kwargs):
        if name == module:
            raise ImportError(f"No module named {name!r}")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", fake_import)
    with pytest.raises(MissingExtraError) as err:
        check_formats([fmt])
    assert str(err.value) == f"format {fmt!r} needs {module}: pip install 'mcverify[{extra}]'"
    monkeypatch.setattr(builtins, "__import__", real_import)
    assert check_formats([fmt]) == [fmt]


def test_require_extra_for_plots(monkeypatch):
    monkeypatch.setitem(__import__("sys").modules, "matplotlib", None)  # as if not installed
    with pytest.raises(MissingExtraError, match=r"plotting needs matplotlib: pip install 'mcverify\[plots\]'"):
        require_extra("plots", "plotting")


def test_json_keeps_every_bit():
    x = np.random.default_rng(1).standard_normal(50) * 10.0 ** np.arange(-25, 25)
    frame = pd.DataFrame({"x": x})
    back = [r["x"] for r in json.loads(render_table(frame, "json"))]
    assert back == list(x) and all(isinstance(v, float) and math.isfinite(v) for v in back)


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


def test_write_results_csv_and_json_round_trip(tmp_path):
    frame = pd.DataFrame({"name": ["a", "b"], "kl": [0.1, 1 / 3], "ok": [True, False]})
    paths = write_results(frame, tmp_path, "x", ["csv", "json"], provenance())
    assert [p.name for p in paths] == ["x.csv", "x.json", "x.provenance.json"]
    pd.testing.assert_frame_equal(pd.read_csv(paths[0]), frame)
    assert json.loads(paths[1].read_text())[1]["kl"] == pytest.approx(1 / 3, rel=1e-15)


def test_unknown_format_and_provenance():
    with pytest.raises(ValueError, match="unknown format 'xls'"):
        check_formats(["csv", "xls"])
    record = provenance(seed=3)
    assert record["seed"] == 3 and "numpy" in record["versions"] and record["time"].endswith("+00:00")
