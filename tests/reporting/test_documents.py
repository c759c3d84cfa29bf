"""Report documents: Markdown and LaTeX parse as tables and carry the summary."""

from __future__ import annotations

import re

import pytest
from tabletext import latex_tabulars, pipe_tables

from mcverify.reporting.documents import methods_table, report_blocks, to_latex, to_markdown
from mcverify.reporting.html import render_html
from mcverify.reporting.summary import summarize
from mcverify.tables.readers import read_results
from tests.reporting.test_report import audit_table


def blocks(folder, **kwargs):  # type: ignore[no-untyped-def]
    res = read_results(folder / "small.csv")
    return res, report_blocks(
        res.frame, summarize(res.frame), title="small", source=res.path, provenance=res.provenance, **kwargs
    )


def test_markdown_report(small_run):
    folder, _ = small_run
    res, b = blocks(folder)
    text = to_markdown(b)
    assert text.startswith("# small\n\n**35 cases: 35 pass, 0 fail.")
    assert "- seed: 3" in text and "- samples: 20000" in text and "- config_hash: `" in text
    headings = re.findall(r"^## (.*)$", text, re.M)
    assert headings == [
        "Worst errors per method",
        "By dimension",
        "By group",
        "By parameter p.std",
        "By parameter p.mean",
        "All 35 cases",
    ]
    tables = pipe_tables(text)
    assert len(tables) == 6
    methods, *_, full = tables
    assert methods[0][:3] == ["method", "cases", "fail"] and [r[0] for r in methods[1]] == [
        "Monte Carlo",
        "quadrature",
        "direct quadrature",
    ]
    z = res.frame["mc_z"].abs()
    assert methods[1][0][methods[0].index("max |z|")] == f"{z.max():.3g} at {res.frame.at[z.idxmax(), 'name']}"
    assert full[0] == list(res.frame.columns) and len(full[1]) == len(res.frame)


def test_latex_report(small_run):
    folder, _ = small_run
    res, b = blocks(folder, columns=["name", "dim", "kl_closed", "kl_mc", "mc_z", "verdict"])
    text = to_latex(b)
    tabulars = latex_tabulars(text)
    assert len(tabulars) == 6
    spec, header, rows = tabulars[-1]
    assert spec == "lrrrrl" and header == ["name", "dim", r"kl\_closed", r"kl\_mc", r"mc\_z", "verdict"]
    assert len(rows) == len(res.frame)
    assert text.count("\\begin{") == text.count("\\end{") and text.count("{") == text.count("}")
    assert "\\section*{small}" in text and "\\subsection*{Worst errors per method}" in text
    assert "\\begin{longtable}" in text and "\\item[seed] \\texttt{3}" in text


def test_audit_report_with_findings():
    table = audit_table()
    meta = {
        "verdict": "fail",
        "candidate": "expr",
        "convention": "prior-std",
        "diagnoses": [["log10"]],
        "diagnosis_meanings": {"log10": "log in base 10 instead of the natural log"},
        "problems": ["along std (mean = 0): negative for std in (0.3703, 1)"],
        "evidence": [
            {
                "reason": "largest error",
                "label": "mean = 0, std = 10",
                "candidate": 48.5,
                "truth": 47.2,
                "mc_estimate": 47.19,
                "mc_stderr": 0.2,
                "z_candidate": 6.5,
                "z_truth": -0.05,
                "quad_value": None,
                "samples": 100000,
            }
        ],
    }
    text = to_markdown(report_blocks(table, summarize(table), title="audit", meta=meta))
    assert "**expr (prior-std): FAIL**" in text
    assert "Diagnosis: log10 (log in base 10 instead of the natural log)" in text
    assert "- along std (mean = 0): negative for std in (0.3703, 1)" in text
    evidence = next(t for t in pipe_tables(text) if t[0][0] == "reason")
    assert evidence[1][0][:3] == ["largest error", "mean = 0, std = 10", "48.5"]
    failures = next(t for t in pipe_tables(text) if t[0][:2] == ["case", "status"])
    assert len(failures[1]) == 9


def test_methods_table_joins_values_and_cases(small_run):
    _, frame = small_run
    shown = methods_table(summarize(frame).methods)
    assert list(shown.columns) == [
        "method",
        "cases",
        "fail",
        "unreliable",
        "max |z|",
        "max error / tolerance",
        "max rel error",
        "max abs error",
    ]
    assert shown.loc[0, "max error / tolerance"] == ""  # Monte Carlo has no tolerance, only a z-score
    assert shown.loc[1, "max |z|"] == "" and " at " in shown.loc[1, "max rel error"]


def test_missing_tabulate_names_the_extra(monkeypatch, small_run):
    import sys

    folder, _ = small_run
    _, b = blocks(folder)
    monkeypatch.setitem(sys.modules, "tabulate", None)
    with pytest.raises(ImportError, match=r"a Markdown report needs tabulate: pip install 'mcverify\[markdown\]'"):
        to_markdown(b)


@pytest.mark.slow
@pytest.mark.skipif(__import__("shutil").which("pdflatex") is None, reason="pdflatex is not installed")
def test_latex_report_compiles(small_run, tmp_path):
    import subprocess

    from mcverify.cli.main import main

    folder, _ = small_run
    assert (
        main(
            [
                "report",
                str(folder / "small.csv"),
                "--format",
                "latex",
                "-o",
                str(tmp_path / "r.tex"),
                "--plots",
                str(tmp_path / "plots"),
                "-q",
            ]
        )
        == 0
    )
    (tmp_path / "doc.tex").write_text(
        "\\documentclass{article}\n\\usepackage[T1]{fontenc}\n\\usepackage{booktabs,longtable,graphicx}\n"
        "\\begin{document}\n\\input{r.tex}\n\\end{document}\n"
    )
    proc = subprocess.run(
        ["pdflatex", "-interaction=nonstopmode", "-halt-on-error", "doc.tex"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert (tmp_path / "doc.pdf").stat().st_size > 10_000 and "! " not in proc.stdout


def test_audit_report_shows_what_the_candidate_wrote():
    table = audit_table()
    steps = "".join(f"step {k}\n" for k in range(30))
    meta = {
        "verdict": "pass",
        "candidate": "chatty.py:kl",
        "convention": "prior-std",
        "output": {"bytes": len(steps), "lines": 30, "head": steps, "tail": "", "omitted_bytes": 0},
    }
    text = to_markdown(report_blocks(table, summarize(table), title="audit", meta=meta))
    assert f"Output of the candidate: 30 lines, {len(steps)} bytes on stdout/stderr; the last 10:" in text
    assert "\n".join(f"- step {k}" for k in range(20, 30)) in text and "- step 19" not in text
    html = render_html(report_blocks(table, summarize(table), title="audit", meta=meta), title="audit")
    assert "<p>Output of the candidate: 30 lines, " in html and "<li>step 29</li>" in html
    silent = dict(meta, output={"bytes": 0, "lines": 0, "head": "", "tail": "", "omitted_bytes": 0})
    assert "Output of the candidate" not in to_markdown(
        report_blocks(table, summarize(table), title="audit", meta=silent)
    )
