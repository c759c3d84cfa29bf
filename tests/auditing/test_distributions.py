"""Distribution-object conventions (dist-pair, dist-prior): the backend's own objects, kind by kind."""

from __future__ import annotations

import json
import pickle
import subprocess
import sys
from pathlib import Path

import commands
import numpy as np
import pytest
from lazymodules import needs

from mcverify import audit
from mcverify.auditing.backends import BackendUnavailable, get_backend
from mcverify.auditing.distributions import (
    OBJECT_CONVENTIONS,
    adapt,
    describe_kinds,
    get_object_convention,
    is_object_convention,
    whiten,
)
from mcverify.auditing.probes import probe_set
from mcverify.errors import AuditError
from mcverify.numerics.closed_form import kl_divergence
from mcverify.numerics.gaussian import Gaussian

ROOT = Path(__file__).resolve().parents[2]


def cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return commands.mcverify(*args, cwd=cwd)


# ------------------------------------------------------------------ registry
def test_object_conventions_and_their_kinds():
    assert set(OBJECT_CONVENTIONS) == {"dist-pair", "dist-prior"}
    pair, prior = get_object_convention("dist-pair"), get_object_convention("dist-prior")
    assert pair.params == ("p", "q") and prior.params == ("p",)
    assert [(k.name, k.convention) for k in pair.kinds] == [
        ("univariate", "pair-std"),
        ("diagonal", "diag-pair-std"),
        ("full", "mvn"),
    ]
    assert [k.convention for k in prior.kinds] == ["prior-std", "diag-prior-std", "mvn"]
    assert is_object_convention("dist-prior") and not is_object_convention("prior-std")
    with pytest.raises(ValueError, match="dist-pair, dist-prior"):
        get_object_convention("dist")


def test_each_backend_names_its_objects():
    prior = get_object_convention("dist-prior")
    names = describe_kinds(prior, "numpy")
    assert names["univariate"] == "scipy.stats.norm (prior-std probes)"
    assert "p mapped by the affine map that takes q to N(0, I)" in names["full"]
    with pytest.raises(ValueError, match="no distribution objects"):
        describe_kinds(prior, "mxnet")


def test_whiten_leaves_the_kl_unchanged_on_every_mvn_probe():
    # Independent reference: mcverify's closed form on the original pair (p, q)
    # against the whitened p and N(0, I).
    for probe in probe_set("mvn").probes:
        mean, cov = whiten(probe.mean_p, probe.cov_p, probe.mean_q, probe.cov_q)
        assert np.array_equal(cov, cov.T)
        before = kl_divergence(*probe.gaussians())
        d = probe.d
        after = kl_divergence(Gaussian(mean, cov=cov), Gaussian(np.zeros(d), cov=np.eye(d)))
        # condition number of q times the unit roundoff bounds the whitening's relative error
        kappa = np.linalg.cond(probe.cov_q)
        assert after == pytest.approx(before, rel=1e-6, abs=64 * d * kappa * np.finfo(float).eps), probe.label()


def test_whiten_is_exact_when_q_is_standard():
    rng = np.random.default_rng(1)
    a = rng.normal(size=(3, 3))
    cov = a @ a.T + np.eye(3)
    mean = rng.normal(size=3)
    m, c = whiten(mean, cov, np.zeros(3), np.eye(3))
    assert np.array_equal(m, mean) and np.array_equal(c, cov)
    batched_m, batched_c = whiten(
        np.stack([mean, mean]), np.stack([cov, cov]), np.zeros((2, 3)), np.stack([np.eye(3)] * 2)
    )
    assert np.array_equal(batched_m[1], mean) and np.array_equal(batched_c[1], cov)


# ------------------------------------------------------------------ scipy
def scipy_norm_kl(p, q):
    """KL between two frozen scipy.stats.norm distributions (arrays allowed)."""
    m0, s0, m1, s1 = p.mean(), p.std(), q.mean(), q.std()
    return np.log(s1 / s0) + (s0**2 + (m0 - m1) ** 2) / (2 * s1**2) - 0.5


def scipy_mvn_kl(p, q):
    """KL between two frozen scipy.stats.multivariate_normal distributions."""
    d = p.mean.shape[0]
    lq = np.linalg.cholesky(q.cov)
    a = np.linalg.solve(lq, np.linalg.cholesky(p.cov))
    b = np.linalg.solve(lq, q.mean - p.mean)
    return 0.5 * (np.sum(a * a) + b @ b - d - 2 * np.sum(np.log(np.diag(a))))


def test_scipy_norm_candidate_supports_the_univariate_kind_only():
    r = audit(scipy_norm_kl, "dist-pair", samples=0)
    assert r.verdict == "pass", r.summary()
    assert r.kinds == {"univariate": "pass", "diagonal": "unsupported", "full": "unsupported"}
    assert r.calls == "batched"  # norm has batch shapes
    assert set(r.table["kind"]) == {"univariate"}
    assert any("diagonal objects unsupported" in n for n in r.notes)


def test_a_report_over_kinds_pickles_with_its_table():
    # The command line audits a file's function in a child process and sends the report back by pickle.
    r = audit(scipy_norm_kl, "dist-pair", samples=0)
    back = pickle.loads(pickle.dumps(r))
    assert (back.verdict, back.kinds) == (r.verdict, r.kinds)
    assert back.table.equals(r.table) and list(back.table.columns) == list(r.table.columns)


def test_cli_audits_a_files_object_kl_that_supports_some_kinds(tmp_path):
    (tmp_path / "kl_frozen.py").write_text(
        "import numpy as np\n\n\n"
        "def kl(p, q):\n"
        "    return np.log(q.std() / p.std()) + (p.var() + (p.mean() - q.mean()) ** 2) / (2 * q.var()) - 0.5\n"
    )
    proc = cli("audit", "kl_frozen.py:kl", "--convention", "dist-pair", "--samples", "0", cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "kinds of object: univariate pass, diagonal unsupported, full unsupported" in proc.stdout
    assert "internal error" not in proc.stdout + proc.stderr


def test_scipy_multivariate_normal_candidate_supports_diagonal_and_full():
    r = audit(scipy_mvn_kl, "dist-pair", samples=0)
    assert r.verdict == "pass", r.summary()
    assert r.kinds == {"univariate": "unsupported", "diagonal": "pass", "full": "pass"}
    assert "multivariate_normal" in " ".join(r.notes)


def test_scipy_prior_with_the_full_kind_through_whitening():
    def kl_to_standard(p):
        mean, cov = p.mean, p.cov
        d = mean.shape[0]
        return 0.5 * (np.trace(cov) + mean @ mean - d - np.linalg.slogdet(cov)[1])

    r = audit(kl_to_standard, "dist-prior", samples=0)
    assert r.verdict == "pass", r.summary()
    assert r.kinds == {"univariate": "unsupported", "diagonal": "pass", "full": "pass"}


def test_a_candidate_supporting_no_kind_is_an_error():
    def broken(p, q):
        return p.loc - q.loc  # frozen scipy distributions have no .loc

    with pytest.raises(AuditError, match=r"every kind of object.*univariate.*AttributeError"):
        audit(broken, "dist-pair", samples=0)


def test_unknown_backend_is_an_audit_error():
    with pytest.raises(AuditError, match="unknown backend"):
        audit(scipy_norm_kl, "dist-pair", backend="mxnet")


def test_wrong_scipy_candidate_fails_with_a_diagnosis_and_json():
    def reversed_kl(p, q):
        return scipy_norm_kl(q, p)

    r = audit(reversed_kl, "dist-pair", samples=0)
    assert r.verdict == "fail"
    assert r.kinds["univariate"] == "fail"
    assert r.diagnoses[0] == ["reversed"]
    assert all(p.startswith("univariate: ") for p in r.problems)
    d = json.loads(json.dumps(r.as_dict(table=True), allow_nan=False))
    assert d["kinds"] == {"univariate": "fail", "diagonal": "unsupported", "full": "unsupported"}
    assert d["failures"] and set(d["failures"][0]["params"]) == {"mean_p", "std_p", "mean_q", "std_q"}
    assert "kinds of object: univariate fail" in r.summary()


def test_failures_of_the_full_kind_name_its_covariances():
    def reversed_mvn(p, q):
        return scipy_mvn_kl(q, p)

    r = audit(reversed_mvn, "dist-pair", samples=0)
    assert r.kinds == {"univariate": "unsupported", "diagonal": "fail", "full": "fail"}
    assert r.diagnoses[0] == ["reversed"]
    columns = list(r.table.columns)
    assert columns[:4] == ["probe", "kind", "group", "d"]
    assert columns.index("cov_p") < columns.index("candidate")
    full = [f for f in r.as_dict()["failures"] if "cov_p" in f["params"]]
    diagonal = [f for f in r.as_dict()["failures"] if "std_p" in f["params"]]
    assert full or diagonal
    for f in full:
        assert set(f["params"]) == {"mean_p", "cov_p", "mean_q", "cov_q"}
    for f in diagonal:
        assert set(f["params"]) == {"mean_p", "std_p", "mean_q", "std_q"}
    assert r.table["probe"].tolist() == list(range(len(r.table)))


def test_every_probe_builds_scipy_objects():
    be = get_backend("numpy")
    for conv in OBJECT_CONVENTIONS.values():
        for kind in conv.kinds:
            seen = []
            adapted = adapt(lambda *objs, seen=seen: seen.append(objs) or 0.0, conv, kind, be)
            for probe in probe_set(kind.convention).probes:
                adapted(*(be.to_native(a) for a in probe.args()))
            assert len(seen) == len(probe_set(kind.convention)) and adapted.raised == 0


def test_a_missing_backend_names_its_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "tensorflow", None)  # as if not installed
    with pytest.raises(BackendUnavailable, match=r"pip install 'mcverify\[tensorflow\]'"):
        get_backend("tensorflow")


@needs("jax")
def test_a_missing_object_library_names_its_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "numpyro", None)
    monkeypatch.setitem(sys.modules, "numpyro.distributions", None)
    with pytest.raises(BackendUnavailable, match=r"NumPyro: pip install 'mcverify\[numpyro\]'"):
        audit(scipy_norm_kl, "dist-pair", backend="jax")


def test_numeric_conventions_report_no_kinds():
    def kl(mean, std):
        return 0.5 * (std**2 + mean**2 - 1 - np.log(std**2))

    r = audit(kl, "prior-std", samples=0)
    assert r.kinds == {} and "kinds" not in r.as_dict()


# ------------------------------------------------------------------ torch
@needs("torch")
@pytest.mark.slow  # torch or jax, three audits: 5-50 s on a loaded machine
def test_torch_kl_divergence_passes_with_no_glue():
    import torch

    r = audit(torch.distributions.kl_divergence, "dist-pair", backend="torch", samples=0)
    assert r.verdict == "pass", r.summary()
    assert r.kinds == {"univariate": "pass", "diagonal": "pass", "full": "pass"}
    assert r.calls == "batched"
    assert len(r.table) == sum(len(probe_set(c)) for c in ("pair-std", "diag-pair-std", "mvn"))


def loc_scale_reversed(p, q):
    """Hand-written KL over torch Normal objects with p and q swapped (the classic slip)."""
    import torch

    return torch.log(p.scale / q.scale) + (q.scale**2 + (q.loc - p.loc) ** 2) / (2 * p.scale**2) - 0.5


@needs("torch")
def test_torch_hand_written_reversed_kl_is_diagnosed():
    r = audit(loc_scale_reversed, "dist-pair", backend="torch", samples=2000)
    assert r.verdict == "fail"
    # Independent and MultivariateNormal have no .scale: those kinds are unsupported, not failures
    assert r.kinds == {"univariate": "fail", "diagonal": "unsupported", "full": "unsupported"}
    assert r.diagnoses[0] == ["reversed"]
    assert r.evidence and r.evidence[0].label.startswith("univariate: ")


@needs("torch")
def test_torch_prior_candidate():
    import torch
    from torch.distributions import Independent, MultivariateNormal, Normal, kl_divergence

    def kl_to_prior(p):
        """The VAE regulariser as torch code often writes it: a standard normal shaped like p."""
        if isinstance(p, MultivariateNormal):
            eye = torch.eye(p.event_shape[0], dtype=p.loc.dtype)
            return kl_divergence(p, MultivariateNormal(torch.zeros_like(p.loc), covariance_matrix=eye))
        prior = Normal(torch.zeros_like(p.mean), torch.ones_like(p.mean))
        return kl_divergence(p, Independent(prior, 1) if isinstance(p, Independent) else prior)

    r = audit(kl_to_prior, "dist-prior", backend="torch", samples=0)
    assert r.verdict == "pass", r.summary()
    assert r.kinds == {"univariate": "pass", "diagonal": "pass", "full": "pass"}


@needs("torch", here=False)
@pytest.mark.slow  # torch or jax, three audits: 5-50 s on a loaded machine
def test_cli_module_target_passes_and_reports_kinds_in_json(tmp_path):
    done = cli(
        "audit",
        "torch.distributions:kl_divergence",
        "--convention",
        "dist-pair",
        "--backend",
        "torch",
        "--samples",
        "0",
        "--json",
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    d = json.loads(done.stdout)
    assert d["verdict"] == "pass" and d["convention"] == "dist-pair"
    assert d["kinds"] == {"univariate": "pass", "diagonal": "pass", "full": "pass"}


@needs("torch", here=False)
@pytest.mark.slow  # torch or jax, three audits: 5-50 s on a loaded machine
def test_cli_wrong_candidate_exits_1_with_the_diagnosis(tmp_path):
    (tmp_path / "losses.py").write_text(
        "import torch\n\n\n"
        "def kl_normal(p, q):\n"
        "    return torch.log(p.scale / q.scale) + (q.scale**2 + (q.loc - p.loc) ** 2) / (2 * p.scale**2) - 0.5\n"
    )
    done = cli("audit", "losses.py:kl_normal", "-c", "dist-pair", "--backend", "torch", "--samples", "0", cwd=tmp_path)
    assert done.returncode == 1, done.stderr
    assert "kinds of object: univariate fail, diagonal unsupported, full unsupported" in done.stdout
    assert "Diagnosis: reversed" in done.stdout


def test_cli_candidate_supporting_no_kind_exits_2(tmp_path):
    (tmp_path / "kl.py").write_text("def kl(p, q):\n    raise NotImplementedError('only my own Gaussian class')\n")
    done = cli("audit", "kl.py:kl", "-c", "dist-pair", "--samples", "0", cwd=tmp_path)
    assert done.returncode == 2
    assert "every kind of object" in done.stderr and "NotImplementedError" in done.stderr
    assert "Traceback" not in done.stderr


def test_cli_refuses_expr_with_objects(tmp_path):
    done = cli("audit", "--expr", "mean", "-c", "dist-prior", cwd=tmp_path)
    assert done.returncode == 2 and "distribution objects" in done.stderr


# ------------------------------------------------------------------ numpyro
@needs("numpyro")
@pytest.mark.slow  # numpyro compiles its KL for every probe shape: 10 s and more
def test_numpyro_kl_divergence_passes_with_no_glue():
    from numpyro.distributions import kl_divergence as numpyro_kl

    r = audit(numpyro_kl, "dist-pair", backend="jax", samples=0, timeout=None)
    assert r.verdict == "pass", r.summary()
    assert r.kinds == {"univariate": "pass", "diagonal": "pass", "full": "pass"}


@needs("numpyro")
@pytest.mark.slow  # torch or jax, three audits: 5-50 s on a loaded machine
def test_numpyro_unregistered_pairs_are_unsupported_kinds():
    import jax.numpy as jnp
    from numpyro.distributions import Normal

    def normal_only(p, q):
        if not isinstance(p, Normal):  # numpyro's own message when no KL is registered
            raise NotImplementedError(f"Could not find signature for kl_divergence: <{type(p).__name__}>")
        return jnp.log(q.scale / p.scale) + (p.scale**2 + (p.loc - q.loc) ** 2) / (2 * q.scale**2) - 0.5

    r = audit(normal_only, "dist-pair", backend="jax", samples=0)
    assert r.verdict == "pass", r.summary()
    assert r.kinds == {"univariate": "pass", "diagonal": "unsupported", "full": "unsupported"}
    assert any("Could not find signature" in n for n in r.notes)


# ------------------------------------------------------------------ TensorFlow Probability
@needs("tensorflow_probability")
@pytest.mark.slow  # imports TensorFlow (10-20 s)
def test_tfp_kl_divergence_passes_with_no_glue():
    import tensorflow_probability as tfp

    r = audit(tfp.distributions.kl_divergence, "dist-pair", backend="tensorflow", samples=0)
    assert r.verdict == "pass", r.summary()
    assert r.kinds == {"univariate": "pass", "diagonal": "pass", "full": "pass"}
    assert r.calls == "batched"
    assert "MultivariateNormalTriL" in " ".join(r.notes)


def test_cli_target_may_be_an_attribute_of_a_package(tmp_path):
    # TensorFlow Probability's ``distributions`` is such an attribute: loaded lazily, not a module
    (tmp_path / "losses").mkdir()
    (tmp_path / "losses" / "__init__.py").write_text(
        "import types\n\nimport numpy as np\n\n\n"
        "def _kl(p, q):\n"
        "    return np.log(q.std() / p.std()) + (p.var() + (p.mean() - q.mean()) ** 2) / (2 * q.var()) - 0.5\n\n\n"
        "gaussian = types.SimpleNamespace(kl=_kl)\n"
    )
    done = cli("audit", "losses.gaussian:kl", "-c", "dist-pair", "--samples", "0", "--json", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["kinds"]["univariate"] == "pass"
    done = cli("audit", "losses.nothing:kl", "-c", "dist-pair", cwd=tmp_path)
    assert done.returncode == 2 and "No module named 'losses.nothing'" in done.stderr


@needs("tensorflow_probability", here=False)
@pytest.mark.slow  # a fresh interpreter imports TensorFlow (10-30 s)
def test_cli_tfp_kl_divergence_passes_quietly(tmp_path):
    done = cli(
        "audit",
        "tensorflow_probability.distributions:kl_divergence",
        "-c",
        "dist-pair",
        "--backend",
        "tensorflow",
        "--samples",
        "0",
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    assert "kinds of object: univariate pass, diagonal pass, full pass" in done.stdout
    assert done.stderr == ""


def test_assert_kl_correct_takes_object_conventions():
    from mcverify.testing import assert_kl_correct

    report = assert_kl_correct(scipy_norm_kl, "dist-pair", samples=0)
    assert report.kinds["univariate"] == "pass"
    with pytest.raises(AssertionError, match="reversed"):
        assert_kl_correct(lambda p, q: scipy_norm_kl(q, p), "dist-pair", samples=0)
