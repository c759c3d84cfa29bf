"""`mcverify audit` on training code: batch reductions, --call templates, methods, keyword-only arguments."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest
from lazymodules import needs
from test_cli_audit import run  # the CLI as a subprocess, as users run it

from mcverify.cli.main import main

TRAINING_CODE = textwrap.dedent(
    """
    import numpy as np

    def loss_function(recon_x, x, mu, logvar):
        # Reconstruction + KL divergence, summed over elements and batch (the PyTorch VAE example, in numpy)
        eps = 1e-12
        bce = -np.sum(x * np.log(recon_x + eps) + (1 - x) * np.log(1 - recon_x + eps))
        kld = -0.5 * np.sum(1 + logvar - mu**2 - np.exp(logvar))
        return bce + kld

    def elbo_terms(recon_x, x, mu, logvar, beta=1.0):
        rec = np.sum((recon_x - x) ** 2) / max(len(x), 1)
        kld = np.mean(-0.5 * np.sum(1 + logvar - mu**2 - np.exp(logvar), axis=1))
        return rec + beta * kld, rec, kld

    def kl_batch_mean(mu, logvar):
        return np.mean(-0.5 * np.sum(1 + logvar - mu**2 - np.exp(logvar), axis=1))

    def kl_kwonly(*, mu, log_var):
        return -0.5 * np.sum(1 + log_var - mu**2 - np.exp(log_var), axis=-1)

    class VAE:
        def __init__(self, latent_dim=16):
            self.latent_dim = latent_dim

        def kl(self, mu, logvar):
            return -0.5 * np.sum(1 + logvar - mu**2 - np.exp(logvar), axis=-1)

    class Encoder:
        def __init__(self, input_dim, latent_dim):
            self.latent_dim = latent_dim

        def kl_loss(self, mu, logvar):  # the sign is wrong
            return 0.5 * np.sum(1 + logvar - mu**2 - np.exp(logvar), axis=-1)
    """
)


@pytest.fixture
def code(tmp_path: Path) -> Path:
    (tmp_path / "train.py").write_text(TRAINING_CODE)
    return tmp_path


def test_fused_loss_through_call_as_a_user_runs_it(code):
    out = run(
        "train.py:loss_function",
        "-c",
        "diag-prior-logvar",
        "--call",
        "loss_function(empty(0, 784), empty(0, 784), mean, logvar)",
        "--samples",
        "0",
        "--json",
        cwd=code,
    )
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout)
    assert report["verdict"] == "pass" and report["reduction"] == "sum"
    assert (
        report["candidate"]
        == "train.py:loss_function called as loss_function(empty(0, 784), empty(0, 784), mean, logvar)"
    )


def test_batch_mean_text_names_the_reduction(code):
    out = run("train.py:kl_batch_mean", "-c", "diag-prior-logvar", "--samples", "0", cwd=code)
    assert out.returncode == 0, out.stderr
    assert "per sample: the function returns the mean over the batch" in out.stdout.splitlines()[1]


def test_bad_template_is_one_line_exit_2(code):
    out = run("train.py", "-c", "diag-prior-logvar", "--call", "los_function(mean, logvar)", cwd=code)
    assert out.returncode == 2 and out.stdout == "" and "Traceback" not in out.stderr
    (line,) = out.stderr.splitlines()
    assert line.startswith("mcverify: error: --call: unknown name 'los_function'")


@pytest.mark.parametrize(
    ("args", "verdict", "check"),
    [
        (["train.py", "--call", "elbo_terms(zeros(0, 5), zeros(0, 5), mean, logvar, beta=1.0)[2]"], "pass", "mean"),
        (["train.py:VAE", "--call", "VAE(latent_dim=8).kl(mean, logvar)"], "pass", "none"),
        (["train.py", "--call", "Encoder(784, 16).kl_loss(mean, logvar)"], "fail", "sign"),
        (["train.py:VAE.kl"], "pass", "on VAE(), built with no arguments"),
        (["train.py:kl_kwonly"], "pass", "called by keyword: mu=mean, log_var=logvar"),
    ],
)
def test_training_code_shapes_in_process(code, monkeypatch, capsys, args, verdict, check):
    monkeypatch.chdir(code)
    rc = main(["audit", *args, "-c", "diag-prior-logvar", "--samples", "0", "--json"])
    report = json.loads(capsys.readouterr().out)
    assert rc == (0 if verdict == "pass" else 1) and report["verdict"] == verdict
    text = json.dumps(report)
    assert check in (report["reduction"], *(d[0] for d in report["diagnoses"])) or check in text


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["train.py:Encoder.kl_loss"], "building Encoder() with no arguments raised TypeError"),
        (["train.py:Encoder.kl_loss"], 'build it yourself with --call "Encoder(...).kl_loss(mean, logvar)"'),
        (["train.py", "--call", "loss_function(mean,"], "--call: invalid syntax at column"),
        (["train.py", "--call", "loss_function(1, 2, 3, 4)"], "--call: the template uses none of the arguments"),
        (["train.py:nothing", "--call", "VAE().kl(mean, logvar)"], "has no name 'nothing'"),
        (["--expr", "mean", "--call", "VAE().kl(mean, logvar)"], "give one of them"),
        (["train.py"], "TARGET must be"),
    ],
)
def test_bad_calls_exit_2_with_one_line(code, monkeypatch, capsys, args, message):
    monkeypatch.chdir(code)
    assert main(["audit", *args, "-c", "diag-prior-logvar", "--samples", "0"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    (line,) = captured.err.strip().splitlines()
    assert message in line


@needs("torch", here=False)
@pytest.mark.slow  # a subprocess that imports torch: about 10 s on a loaded machine
def test_torch_fused_loss_through_call(tmp_path):
    (tmp_path / "vae.py").write_text(
        textwrap.dedent(
            """
            import torch
            from torch.nn import functional as F

            def loss_function(recon_x, x, mu, logvar):
                BCE = F.binary_cross_entropy(recon_x, x.view(-1, 784), reduction="sum")
                KLD = -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp())
                return BCE + KLD
            """
        )
    )
    out = run(
        "vae.py:loss_function",
        "-c",
        "diag-prior-logvar",
        "--backend",
        "torch",
        "--call",
        "loss_function(empty(0, 784), empty(0, 784), mean, logvar)",
        "--samples",
        "0",
        "--json",
        cwd=tmp_path,
    )
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout)
    assert report["verdict"] == "pass" and report["reduction"] == "sum" and report["backend"] == "torch"
