"""``mcverify audit --dtype`` and ``--no-gradients``, run as a user runs them."""

from __future__ import annotations

import json
import subprocess
import textwrap
from pathlib import Path

import commands
import pytest
from lazymodules import needs

ROOT = Path(__file__).resolve().parents[2]

NUMPY_CODE = textwrap.dedent(
    """
    import numpy as np

    def prior_kl(mean, logvar):
        return -0.5 * (1 + logvar - mean**2 - np.exp(logvar))
    """
)

TORCH_CODE = textwrap.dedent(
    """
    import torch

    def pair_kl(mean_p, std_p, mean_q, std_q):
        gap = torch.sqrt((mean_p - mean_q) ** 2) ** 2
        return torch.log(std_q / std_p) + (std_p**2 + gap) / (2 * std_q**2) - 0.5
    """
)


def run(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return commands.mcverify("audit", *args, cwd=cwd)


def test_dtype_float16_fails_with_the_overflow_threshold(tmp_path: Path) -> None:
    (tmp_path / "losses.py").write_text(NUMPY_CODE)
    r = run("losses.py:prior_kl", "-c", "prior-logvar", "--dtype", "float16", "--samples", "0", cwd=tmp_path)
    assert r.returncode == 1, r.stderr
    assert "Training dtype float16: FAIL (overflow)" in r.stdout
    assert "overflows to inf for logvar > 11.09 in float16" in r.stdout
    assert "Gradients" not in r.stdout  # numpy: nothing to differentiate
    ok = run("losses.py:prior_kl", "-c", "prior-logvar", "--samples", "0", "--json", cwd=tmp_path)
    assert ok.returncode == 0
    d = json.loads(ok.stdout)
    assert d["dtype"] == "float64" and d["gradient_verdict"] == "not-checked" and d["precision_problems"] == []


def test_bad_dtype_is_a_usage_error(tmp_path: Path) -> None:
    (tmp_path / "losses.py").write_text(NUMPY_CODE)
    r = run("losses.py:prior_kl", "-c", "prior-logvar", "--dtype", "float8", cwd=tmp_path)
    assert r.returncode == 2 and "Traceback" not in r.stderr and "float8" in r.stderr


@needs("torch", here=False)
@pytest.mark.slow  # two subprocesses importing torch
def test_gradients_on_by_default_and_off_with_no_gradients(tmp_path: Path) -> None:
    (tmp_path / "losses.py").write_text(TORCH_CODE)
    base = ("losses.py:pair_kl", "-c", "pair-std", "--backend", "torch", "--samples", "0")
    r = run(*base, "--json", cwd=tmp_path)
    assert r.returncode == 1, r.stderr
    d = json.loads(r.stdout)
    assert d["verdict"] == "fail" and d["value_verdict"] == "pass"
    assert d["gradient_verdict"] == "fail" and d["gradient_problems"] == ["nan"]
    assert "wherever mean_p = mean_q" in d["gradients"]["findings"][0]["text"]
    off = run(*base, "--no-gradients", cwd=tmp_path)
    assert off.returncode == 0, off.stdout
    assert "Gradients: not checked" in off.stdout


MVN_TORCH_CODE = textwrap.dedent(
    """
    import torch

    def mvn_kl(mean_p, cov_p, mean_q, cov_q):
        iq = torch.cholesky_inverse(torch.linalg.cholesky(cov_q))
        diff = (mean_q - mean_p).unsqueeze(-1)
        trace = (iq * cov_p.detach()).sum((-2, -1))
        maha = (diff.transpose(-1, -2) @ iq @ diff).squeeze(-1).squeeze(-1)
        return 0.5 * (trace + maha - mean_p.shape[-1] + torch.logdet(cov_q) - torch.logdet(cov_p))
    """
)


@needs("torch", here=False)
@pytest.mark.slow  # a subprocess importing torch
def test_mvn_wrong_covariance_gradient_shows_monte_carlo_evidence(tmp_path: Path) -> None:
    (tmp_path / "losses.py").write_text(MVN_TORCH_CODE)
    r = run("losses.py:mvn_kl", "-c", "mvn", "--backend", "torch", "--samples", "2000", cwd=tmp_path)
    assert r.returncode == 1, r.stderr
    assert "Gradients: FAIL (wrong)" in r.stdout
    assert "Gradient evidence (pathwise Monte Carlo, 2000 draws" in r.stdout
    assert "- d KL / d cov_p[0, 0] at " in r.stdout and "finite difference of quadrature" in r.stdout
    assert "no Monte Carlo gradient evidence" not in r.stdout
