"""`mcverify audit` on guarded KL code: clips and epsilons diagnosed, the probed domain, --domain.

The exit codes 1, 0 and 2 are checked as a user sees them, from a subprocess; the other
outputs come from ``main(argv)`` in this process (:func:`tests.cli.test_cli.in_process`), the
same parser, handler and report without a second of start-up each.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import commands
import pytest

from tests.cli.test_cli import in_process

ROOT = Path(__file__).resolve().parents[2]

GUARDED = textwrap.dedent(
    """
    import numpy as np

    def vae_loss_kl(mu, logvar):
        logvar = np.clip(logvar, -30.0, 20.0)  # as torch.clamp in the training loop
        return -0.5 * np.sum(1 + logvar - mu**2 - np.exp(logvar), axis=-1)

    def neg_kl(mean, std):
        var = np.clip(std**2, 1e-6, 1e6)
        return -0.5 * (var + mean**2 - 1 - np.log(var))

    def kl_eps(mean_p, logvar_p, mean_q, logvar_q):
        var_q = np.exp(logvar_q) + 1e-8
        return 0.5 * np.sum(
            np.log(var_q) - logvar_p + (np.exp(logvar_p) + (mean_p - mean_q) ** 2) / var_q - 1, axis=-1
        )
    """
)


def run(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return commands.mcverify("audit", *args, cwd=cwd, timeout=120)


@pytest.fixture
def code(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / "guarded.py").write_text(GUARDED)
    monkeypatch.setattr(sys, "path", [*sys.path])  # an audit in this process appends the target's folder
    return tmp_path


@pytest.fixture
def audit(code: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch):
    """``mcverify audit ARGS`` in ``code``, in this process: a CompletedProcess as :func:`run` returns."""
    return lambda *args: in_process(capsys, "audit", *args, cwd=code, monkeypatch=monkeypatch)


def test_clamped_vae_loss_fails_with_the_clip_and_passes_on_its_domain(code):
    out = run("guarded.py:vae_loss_kl", "-c", "diag-prior-logvar", "--samples", "0", "--json", cwd=code)
    assert out.returncode == 1, out.stderr
    report = json.loads(out.stdout)
    assert report["diagnoses"][0] == ["clip"]
    detail = report["diagnosis_details"][0]
    assert detail["meaning"] == "clips the log-variance to [-30, 20]"
    assert detail["modifiers"][0]["lo"] == -30.0 and detail["modifiers"][0]["hi"] == 20.0
    assert report["domain"]["logvar"] == [-41.4465, 41.4465]
    assert report["domain_text"].startswith("mean -100..1000, logvar -41.4465..41.4465")

    out = run(
        "guarded.py:vae_loss_kl", "-c", "diag-prior-logvar", "--samples", "0", "--domain", "logvar=-30..20", cwd=code
    )
    assert out.returncode == 0, out.stdout + out.stderr
    assert "PASS" in out.stdout and "probes on mean -100..1000, logvar -27.631..18.4207" in out.stdout


def test_sign_and_clip_in_text(audit):
    out = audit("guarded.py:neg_kl", "-c", "prior-std", "--samples", "0")
    assert out.returncode == 1, out.stderr
    assert "Diagnosis: sign + clip (returns -KL; clips the variance to [1e-06, 1e+06])" in out.stdout
    assert "sign explains 82 of 88 probes; clip (variance to [1e-06, 1e+06]) explains the other 6" in out.stdout
    assert "88 probes on mean -1000..1000, std 1e-09..1e+09, " in out.stdout


def test_epsilon_in_json(audit):
    out = audit("guarded.py:kl_eps", "-c", "diag-pair-logvar", "--samples", "0", "--json")
    assert out.returncode == 1, out.stderr
    report = json.loads(out.stdout)
    assert report["diagnoses"][0] == ["epsilon"]
    assert report["diagnosis_details"][0]["meaning"] == "adds 1e-08 to q's variance"


def test_domain_repeated_and_comma_separated(audit):
    a = audit(
        "guarded.py:vae_loss_kl", "-c", "diag-prior-logvar", "--samples", "0", "--json",
        "--domain", "logvar=-30..20", "--domain", "mean=-10..10",
    )  # fmt: skip
    b = audit(
        "guarded.py:vae_loss_kl", "-c", "diag-prior-logvar", "--samples", "0", "--json",
        "--domain", "mean=-10..10,logvar=-30..20",
    )  # fmt: skip
    assert a.returncode == b.returncode == 0, a.stderr + b.stderr
    da, db = json.loads(a.stdout), json.loads(b.stdout)
    assert da["domain"] == db["domain"] and da["probes"] == db["probes"]
    assert -10 <= da["domain"]["mean"][0] and da["domain"]["mean"][1] <= 10


@pytest.mark.parametrize(
    "domain,message",
    [
        ("logvar=-30", "--domain: 'logvar=-30': write NAME=LO..HI, e.g. logvar=-30..20"),
        ("size=1..2", "--domain: size: unknown parameter"),
        ("logvar=20..-30", "--domain: logvar: the range must have LO < HI, got 20..-30"),
        ("logvar=x..2", "--domain: logvar: 'x' is not a number"),
        ("std_q=1..2", "--domain: std_q: diag-prior-logvar takes mean, logvar"),
        ("logvar=-1..900", "--domain: logvar: 900 is beyond what float64 holds for logvar"),
    ],
)
def test_bad_domain_exits_2_with_one_line(code, audit, domain, message):
    args = ("guarded.py:vae_loss_kl", "-c", "diag-prior-logvar", "--samples", "0", "--domain", domain)
    as_subprocess = domain == "logvar=-30"  # one as users see it; the others' point is the message
    out = run(*args, cwd=code) if as_subprocess else audit(*args)
    assert out.returncode == 2
    assert out.stdout == ""
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], out.stderr
    assert "Traceback" not in out.stderr
