"""The tensorflow backend: TensorFlow and Keras losses audited as written, on float64 eager tensors."""

from __future__ import annotations

import json
import os
from pathlib import Path

import commands
import pytest
from lazymodules import LazyModule, needs

from mcverify import audit
from mcverify.auditing.backends import BACKENDS, get_backend, import_tensorflow, quiet_native_logs

pytestmark = needs("tensorflow")
tf = LazyModule("tensorflow", import_tensorflow)  # quietly: mcverify's own import, when a test first uses it

ROOT = Path(__file__).resolve().parents[2]
TF_JSON = ("--backend", "tensorflow", "--samples", "0", "--json")


# Candidates in the styles of Keras VAE tutorials and TF code.
def keras_vae_kl(z_mean, z_log_var):
    """Keras' VAE example: KL summed over the latent axis, one value per sample."""
    kl = -0.5 * (1 + z_log_var - tf.square(z_mean) - tf.exp(z_log_var))
    return tf.reduce_sum(kl, axis=-1)


def prior_kl(mean, logvar):
    return 0.5 * (tf.exp(logvar) + tf.square(mean) - 1.0 - logvar)


def pair_std_kl(mu_p, sigma_p, mu_q, sigma_q):
    return (
        tf.math.log(sigma_q / sigma_p)
        + (tf.square(sigma_p) + tf.square(mu_p - mu_q)) / (2.0 * tf.square(sigma_q))
        - 0.5
    )


def mvn_kl(mean_p, cov_p, mean_q, cov_q):
    """Full-covariance KL with Cholesky factors and triangular solves, batched over leading axes."""
    lq = tf.linalg.cholesky(cov_q)
    lp = tf.linalg.cholesky(cov_p)
    a = tf.linalg.triangular_solve(lq, lp, lower=True)
    b = tf.linalg.triangular_solve(lq, (mean_q - mean_p)[..., None], lower=True)[..., 0]
    d = tf.cast(tf.shape(mean_p)[-1], tf.float64)
    logdet = tf.reduce_sum(tf.math.log(tf.linalg.diag_part(a)), axis=-1)
    return 0.5 * (tf.reduce_sum(tf.square(a), axis=[-2, -1]) + tf.reduce_sum(tf.square(b), axis=-1) - d) - logdet


def test_tensorflow_is_a_backend():
    assert "tensorflow" in BACKENDS
    be = get_backend("tensorflow")
    x = be.to_native([1.0, 2.0])
    assert isinstance(x, tf.Tensor) and x.dtype == tf.float64
    assert be.to_numpy(tf.constant([0.5], tf.float64)).tolist() == [0.5]
    assert be.to_numpy(tf.Variable(2.0, dtype=tf.float64)) == 2.0
    assert be.to_numpy([tf.constant(1.0, tf.float64), tf.constant(2.0, tf.float64)]).tolist() == [1.0, 2.0]


@pytest.mark.parametrize(
    ("func", "convention"),
    [(prior_kl, "prior-logvar"), (keras_vae_kl, "diag-prior-logvar"), (pair_std_kl, "pair-std"), (mvn_kl, "mvn")],
)
def test_tf_style_candidates_pass(func, convention):
    r = audit(func, convention, backend="tensorflow", samples=0)
    assert r.verdict == "pass", r.summary()
    assert r.backend == "tensorflow" and r.calls == "batched"


def test_candidate_receives_float64_eager_tensors():
    seen = []

    def spy(mean, logvar):
        seen.append((type(mean), mean.dtype, tf.executing_eagerly()))
        return keras_vae_kl(mean, logvar)

    assert audit(spy, "diag-prior-logvar", backend="tensorflow", samples=0).passed
    assert seen and all(issubclass(t, tf.Tensor) and d == tf.float64 and eager for t, d, eager in seen)


def test_tf_function_passes():
    assert audit(tf.function(keras_vae_kl), "diag-prior-logvar", backend="tensorflow", samples=0).passed


def test_tf_mistakes_are_diagnosed():
    def mean_over_dims(z_mean, z_log_var):  # the common slip: reduce_mean over the latent axis
        return -0.5 * tf.reduce_mean(1 + z_log_var - tf.square(z_mean) - tf.exp(z_log_var), axis=-1)

    def reversed_pair(mu_p, sigma_p, mu_q, sigma_q):
        return pair_std_kl(mu_q, sigma_q, mu_p, sigma_p)

    r = audit(mean_over_dims, "diag-prior-logvar", backend="tensorflow", samples=2000)
    assert r.verdict == "fail" and r.diagnoses[0] == ["mean-over-dims"] and r.evidence
    assert audit(reversed_pair, "pair-std", backend="tensorflow", samples=0).diagnoses[0] == ["reversed"]


def test_float32_keras_loss_fails():
    def float32(z_mean, z_log_var):
        m, lv = tf.cast(z_mean, tf.float32), tf.cast(z_log_var, tf.float32)
        return -0.5 * tf.reduce_sum(1 + lv - tf.square(m) - tf.exp(lv), axis=-1)

    r = audit(float32, "diag-prior-logvar", backend="tensorflow", samples=0)
    assert r.verdict == "fail"


@pytest.mark.parametrize("preset", [None, "1"])
def test_quiet_native_logs_restores_the_environment_and_stderr(capfd, monkeypatch, preset):
    if preset is None:
        monkeypatch.delenv("TF_CPP_MIN_LOG_LEVEL", raising=False)
    else:
        monkeypatch.setenv("TF_CPP_MIN_LOG_LEVEL", preset)
    with quiet_native_logs():
        assert os.environ["TF_CPP_MIN_LOG_LEVEL"] == "3"
        os.write(2, b"I0000 port.cc:153] oneDNN custom operations are on\n")  # as native code writes it
    os.write(2, b"after\n")
    assert os.environ.get("TF_CPP_MIN_LOG_LEVEL") == preset
    err = capfd.readouterr().err
    assert "oneDNN" not in err and "after" in err


@pytest.mark.slow  # a fresh interpreter imports TensorFlow: 10-30 s
def test_cli_keras_file_json_and_quiet_stderr(tmp_path):
    (tmp_path / "vae.py").write_text(
        "import tensorflow as tf\n\n\n"
        "def kl_loss(z_mean, z_log_var):\n"
        "    kl = -0.5 * (1 + z_log_var - tf.square(z_mean) - tf.exp(z_log_var))\n"
        "    return tf.reduce_sum(kl, axis=-1)\n"
    )
    env = {k: v for k, v in commands.environment().items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    done = commands.mcverify("audit", "vae.py:kl_loss", "-c", "diag-prior-logvar", *TF_JSON, cwd=tmp_path, env=env)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["backend"] == "tensorflow"
    # TensorFlow's start-up lines (oneDNN, CUDA, absl) are kept out of the audit's output
    assert "oneDNN" not in done.stderr and "absl" not in done.stderr and "cuda" not in done.stderr.lower()
