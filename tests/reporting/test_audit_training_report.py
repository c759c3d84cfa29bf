"""The HTML report of an audit shows the gradient and dtype parts, with the gradient-error plot."""

from __future__ import annotations

import json

import numpy as np
import pytest
from lazymodules import LazyModule, needs

from mcverify import audit
from mcverify.cli.main import main

pytestmark = needs("torch", "matplotlib")
torch = LazyModule("torch")


def nan_gradient_kl(mean_p, std_p, mean_q, std_q):
    gap = torch.sqrt((mean_p - mean_q) ** 2) ** 2
    return torch.log(std_q / std_p) + (std_p**2 + gap) / (2 * std_q**2) - 0.5


@pytest.mark.slow  # every sweep's plots
def test_html_report_has_gradient_and_dtype_sections_and_plot(tmp_path):
    r = audit(nan_gradient_kl, "pair-std", backend="torch", samples=0, dtype="float32")
    data = r.as_dict(table=True)
    assert data["gradient_table"] and {row["status"] for row in data["gradient_table"]} >= {"ok", "nan"}
    src = tmp_path / "audit.json"
    src.write_text(json.dumps(data, allow_nan=False))
    out = tmp_path / "audit.html"
    assert main(["report", str(src), "-o", str(out), "-q"]) == 0
    html = out.read_text()
    assert "Gradients: FAIL" in html and "NaN gradient with respect to mean_p wherever mean_p = mean_q" in html
    assert "Training dtype float32: PASS" in html
    assert "the candidate&#x27;s gradient along" in html or "the candidate's gradient along" in html


def test_gradient_plot_draws_every_argument():
    from mcverify.reporting.plots import plot_gradient_errors

    r = audit(nan_gradient_kl, "pair-std", backend="torch", samples=0)
    t = r.table
    table = t[(t["std_p"] == 1) & (t["std_q"] == 1) & (t["mean_q"] == 0)]  # the mean_p sweep, p = q included
    ax = plot_gradient_errors(table, r.gradient.table, "mean_p")
    labels = {t.get_text() for t in ax.get_legend().get_texts()}
    assert {"mean_p: fails", "mean_q: fails", "std_p: passes", "tolerance"} <= labels
    assert np.isfinite(ax.get_ylim()).all()
