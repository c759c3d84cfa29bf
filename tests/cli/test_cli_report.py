"""`mcverify report` and `mcverify run --format ...` as a user calls them."""

from __future__ import annotations

import json
import sys

import pandas as pd
import pytest
from tabletext import latex_tabulars, pipe_tables

from mcverify.cli.main import main
from mcverify.tables.readers import read_results
from tests.cli.test_cli import in_process, mcverify

TIMING = ["seconds_closed", "seconds_mc", "seconds_quad", "seconds"]


def test_markdown_to_standard_output(small_run, capsys):
    folder, frame = small_run
    proc = in_process(capsys, "report", str(folder / "small.csv"))  # test_terminal.py pipes it from a subprocess
    assert proc.returncode == 0 and proc.stderr == ""
    assert proc.stdout.startswith("# mcverify report: small\n")
    tables = pipe_tables(proc.stdout)
    assert tables[-1][0] == list(frame.columns) and len(tables[-1][1]) == len(frame)


@pytest.mark.parametrize("fmt", ["csv", "parquet", "json"])
def test_conversions_read_back_exactly(small_run, tmp_path, capsys, fmt):
    folder, frame = small_run
    src = "json" if fmt == "csv" else "csv"  # convert from another format
    out = tmp_path / f"converted.{fmt}"
    args = ("report", str(folder / f"small.{src}"), "-o", str(out))
    proc = mcverify(*args) if fmt == "parquet" else in_process(capsys, *args)  # one as the user calls it
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines()[0] == f"{folder / f'small.{src}'}: 35 cases: 35 pass, 0 fail"
    assert proc.stdout.splitlines()[-1] == f"wrote {out}"
    got = read_results(out)
    pd.testing.assert_frame_equal(got.frame.drop(columns=TIMING), frame.drop(columns=TIMING), check_exact=True)
    if fmt == "json":  # the JSON report carries the summary and the provenance too
        data = json.loads(out.read_text())
        assert data["report"]["summary"]["passed"] == 35 and data["provenance"]["seed"] == 3
        assert data["report"]["summary"]["methods"][0]["method"] == "Monte Carlo"


def test_latex_with_selected_columns(small_run, tmp_path):
    folder, frame = small_run
    out = tmp_path / "r.tex"
    assert main(["report", str(folder / "small.csv"), "-o", str(out), "--columns", "name,kl_closed,verdict", "-q"]) == 0
    spec, header, rows = latex_tabulars(out.read_text())[-1]
    assert spec == "lrl" and header == ["name", r"kl\_closed", "verdict"] and len(rows) == len(frame)


def test_plots_saved_and_linked_from_markdown(small_run, tmp_path, capsys):
    pytest.importorskip("matplotlib")
    folder, _ = small_run
    out = tmp_path / "r.md"
    # in this process: test_several_tables_as_a_subprocess_with_plots saves plots from a subprocess
    proc = in_process(capsys, "report", str(folder / "small.csv"), "-o", str(out), "--plots", str(tmp_path / "plots"))
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines()[-1] == f"wrote {out} and 12 plot files in {tmp_path / 'plots'}"
    pngs = sorted(p.name for p in (tmp_path / "plots").glob("*.png"))
    assert len(pngs) == 6 and len(list((tmp_path / "plots").glob("*.svg"))) == 6
    links = [line.split("](")[1].rstrip(")") for line in out.read_text().splitlines() if line.startswith("![")]
    assert sorted(links) == sorted(f"plots/{p}" for p in pngs)  # relative to the report


@pytest.mark.parametrize(
    "args, words",
    [
        (["report", "missing.csv"], "missing.csv: no such file"),
        (["report", "CSV", "--format", "xls"], "unknown report format 'xls'"),
        (["report", "CSV", "-o", "out.xls"], "cannot tell the format from 'out.xls'"),
        (["report", "CSV", "--format", "parquet"], "Parquet is binary: give -o FILE"),
        (["report", "CSV", "--columns", "name,nope"], "has no column 'nope'"),
        (["report", "CSV", "-o", "no/such/dir/r.md"], "the folder no/such/dir does not exist"),
        (["report", "CSV", "--plots", "p", "--no-plots"], "contradict"),
        (["report", "BAD"], "cannot read it as CSV"),
        (["report"], "report: the following arguments are required: TABLE"),
        (["report", "CSV", "CSV", "--format", "csv"], "several tables make one document: choose md, latex, html"),
        (["report", "CSV", "missing.csv", "-o", "r.md"], "missing.csv: no such file"),
    ],
)
def test_bad_input_exit_2_one_line(small_run, tmp_path, monkeypatch, capsys, args, words):
    folder, _ = small_run
    (tmp_path / "bad.csv").write_text('a,b\n1,"unclosed\n')
    args = [str(folder / "small.csv") if a == "CSV" else str(tmp_path / "bad.csv") if a == "BAD" else a for a in args]
    monkeypatch.chdir(tmp_path)
    assert main(args) == 2
    out, err = capsys.readouterr()
    assert out == "" and len(err.strip().splitlines()) == 1 and words in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.csv"]  # nothing written


def test_several_tables_make_one_document(small_run, tmp_path, capsys):
    """A combined summary (a row per table), then a section per table with its whole table."""
    folder, frame = small_run
    sources = [folder / "small.csv", folder / "small.json"]
    out = tmp_path / "both.md"
    assert main(["report", *map(str, sources), "-o", str(out)]) == 0
    text = out.read_text()
    assert text.startswith("# mcverify report: 2 tables\n")
    assert "**2 tables, 70 rows; of the 70 judged: 0 fail.**" in text
    tables = pipe_tables(text)
    header, rows = tables[0]
    assert header[:5] == ["table", "kind", "rows", "pass", "fail"]
    assert [r[:5] for r in rows] == [[str(s), "run", "35", "35", "0"] for s in sources]
    sections = [line[3:] for line in text.splitlines() if line.startswith("## ")]
    assert sections == [str(s) for s in sources]
    full = [t for t in tables if t[0] == list(frame.columns)]
    assert len(full) == 2 and all(len(t[1]) == len(frame) for t in full)
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == f"{sources[0]}: 35 cases: 35 pass, 0 fail" and lines[-1] == f"wrote {out}"
    assert sum(line.startswith(str(folder)) for line in lines) == 2


@pytest.mark.slow  # 12 figures drawn
def test_several_tables_with_plots_a_folder_each(small_run, tmp_path, capsys):
    pytest.importorskip("matplotlib")
    folder, _ = small_run
    out, plots = tmp_path / "both.html", tmp_path / "plots"
    sources = [str(folder / "small.csv"), str(folder / "small.json")]
    proc = in_process(capsys, "report", *sources, "-o", str(out), "--plots", str(plots))
    assert proc.returncode == 0, proc.stderr
    assert sorted(p.name for p in plots.iterdir()) == ["small", "small-2"]  # a folder per table, twins numbered
    assert len(list((plots / "small").glob("*.png"))) == len(list((plots / "small-2").glob("*.png"))) == 6
    html = out.read_text()
    assert html.count("<h2") >= 2 and "2 tables, 70 rows" in html and html.count("<img ") == 12


def test_several_tables_as_a_subprocess(small_run):
    folder, _ = small_run
    proc = mcverify("report", str(folder / "small.csv"), str(folder / "small.json"), "--max-rows", "3")
    assert proc.returncode == 0 and proc.stderr == "", proc.stderr
    assert proc.stdout.startswith("# mcverify report: 2 tables\n")
    assert [line[3:] for line in proc.stdout.splitlines() if line.startswith("## ")] == [
        str(folder / "small.csv"),
        str(folder / "small.json"),
    ]


def test_bad_input_as_a_subprocess(tmp_path):
    (tmp_path / "t.xlsx").write_text("x")
    proc = mcverify("report", str(tmp_path / "t.xlsx"))
    assert proc.returncode == 2 and proc.stdout == "" and "Traceback" not in proc.stderr
    assert (
        proc.stderr
        == f"mcverify: error: {tmp_path / 't.xlsx'}: unknown table format '.xlsx': use .csv, .json or .parquet\n"
    )


@pytest.mark.parametrize(
    "module, args, extra",
    [
        ("tabulate", ["--format", "md"], "markdown"),
        ("jinja2", ["--format", "latex"], "latex"),
        ("matplotlib", ["--format", "html", "-o", "r.html"], "plots"),
    ],
)
def test_missing_extra_exit_2_naming_it(small_run, tmp_path, monkeypatch, capsys, module, args, extra):
    folder, _ = small_run
    monkeypatch.setitem(sys.modules, module, None)  # as if it were not installed
    monkeypatch.chdir(tmp_path)
    assert main(["report", str(folder / "small.csv"), *args]) == 2
    err = capsys.readouterr().err
    assert f"pip install 'mcverify[{extra}]'" in err and len(err.strip().splitlines()) == 1
    if module == "matplotlib":
        assert "--no-plots" in err
        assert main(["report", str(folder / "small.csv"), *args, "--no-plots", "-q"]) == 0
        assert "<img" not in (tmp_path / "r.html").read_text()


def test_run_writes_every_format_at_once(small_run, tmp_path):
    folder, frame = small_run
    proc = mcverify(
        "run", str(folder / "small.toml"), "-o", str(tmp_path), "--format", "csv,parquet,json,md,latex,html"
    )
    assert proc.returncode == 0, proc.stderr
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == [
        "small.csv",
        "small.html",
        "small.json",
        "small.md",
        "small.parquet",
        "small.provenance.json",
        "small.tex",
    ]
    assert len(pipe_tables((tmp_path / "small.md").read_text())[0][1]) == len(frame)
    assert len(latex_tabulars((tmp_path / "small.tex").read_text())[0][2]) == len(frame)
    assert json.loads((tmp_path / "small.provenance.json").read_text())["dtypes"]["quad_direct_reliable"] == "boolean"
    for fmt in ("csv", "parquet", "json"):
        got = read_results(tmp_path / f"small.{fmt}").frame
        pd.testing.assert_frame_equal(got.drop(columns=TIMING), frame.drop(columns=TIMING), check_exact=True)


def test_documents_cap_the_rows_but_summarize_all(small_run, tmp_path):
    folder, _frame = small_run
    out = tmp_path / "r.md"
    assert main(["report", str(folder / "small.csv"), "-o", str(out), "--max-rows", "10", "-q"]) == 0
    text = out.read_text()
    assert "## The first 10 of 35 cases" in text and "**35 cases: 35 pass, 0 fail." in text
    assert len(pipe_tables(text)[-1][1]) == 10
    assert main(["report", str(folder / "small.csv"), "-o", str(out), "--max-rows", "0", "-q", "--overwrite"]) == 0
    assert len(pipe_tables(out.read_text())[-1][1]) == 35
