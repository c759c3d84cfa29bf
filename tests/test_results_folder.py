"""The repository's validation report (results/validation/) and the documentation's classic log10 figure are real and current."""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from tabletext import pipe_tables

from mcverify.tables.readers import read_results

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "results" / "validation"
REGENERATE = "mcverify validate configs/*.toml -o results/validation --overwrite"


def test_results_hold_every_shipped_config_current():
    configs = sorted((ROOT / "configs").glob("*.toml"))
    assert configs
    for cfg in configs:
        table = RESULTS / f"{cfg.stem}.csv"
        assert table.is_file(), f"{table} is missing: run `{REGENERATE}`"
        res = read_results(table)
        digest = hashlib.sha256(cfg.read_bytes()).hexdigest()
        assert res.provenance["config_hash"] == digest, f"{table} is stale (config changed): run `{REGENERATE}`"
        assert len(res.frame) == res.provenance["cases"] and set(res.frame["verdict"]) <= {"pass", "fail"}
    md = (RESULTS / "index.md").read_text()
    overview = pipe_tables(md)[0]
    assert [r[0] for r in overview[1]] == [c.stem for c in configs]
    html = (RESULTS / "index.html").read_text()
    assert "Content-Security-Policy" in html and html.count("<img ") >= 2 * len(configs)
    conv = read_results(RESULTS / "convergence.csv").frame
    assert sorted(set(conv["config"])) == [c.stem for c in configs]


def docs_block(marker: str) -> str:
    text = (ROOT / "docs" / "tutorials" / "report.md").read_text()
    m = re.search(re.escape(marker) + r"\s*```python\n(.*?)```", text, re.S)
    assert m, f"docs/tutorials/report.md has no python block after {marker!r}"
    return m.group(1)


@pytest.mark.slow
def test_readme_classic_log10_figure(tmp_path):
    pytest.importorskip("matplotlib")
    code = docs_block("<!-- classic-log10 figure -->")
    (tmp_path / "results" / "validation").mkdir(parents=True)
    (tmp_path / "docs").mkdir()
    for name in ("classic-std.csv", "classic-std.provenance.json"):
        shutil.copy(RESULTS / name, tmp_path / "results" / "validation" / name)
    check = code + (
        "\nimport json\n"
        "lines = {l.get_label(): l for l in ax.get_lines()}\n"
        "spans = [p.get_label() for p in ax.patches]\n"
        "print(json.dumps({'lines': sorted(lines), 'spans': spans,\n"
        "                  'min_candidate': float(min(lines[f'candidate {formula}'].get_ydata()))}))\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", check],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env=dict(os.environ, PYTHONPATH=str(ROOT), MPLBACKEND="Agg"),
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert {"closed form", "quadrature", "direct quadrature", "candidate 0.5*(std**2 - 1 - log10(std**2))"} <= set(
        out["lines"]
    )
    assert out["spans"] == ["candidate < 0 < KL: s in (0.3703, 1)"]  # the audit's root-found region
    assert out["min_candidate"] < 0
    from PIL import Image

    for suffix in (".png", ".svg"):
        assert (tmp_path / "docs" / f"classic-log10{suffix}").is_file()
    with (
        Image.open(tmp_path / "docs" / "classic-log10.png") as made,
        Image.open(ROOT / "docs" / "classic-log10.png") as shipped,
    ):
        assert made.size == shipped.size  # the documentation's image is this figure
