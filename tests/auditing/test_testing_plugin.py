"""assert_kl_correct and the pytest plugin that offers it as a fixture."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import tomllib
from importlib import metadata
from pathlib import Path

import numpy as np
import pytest

from mcverify.testing import assert_kl_correct

ROOT = Path(__file__).resolve().parents[2]


def vae_kl(mean, logvar):
    return -0.5 * np.sum(1 + logvar - mean**2 - np.exp(logvar), axis=-1)


def test_passes_and_returns_the_report():
    report = assert_kl_correct(vae_kl, "diag-prior-logvar")
    assert report.verdict == "pass" and report.evidence == []


def test_raises_assertion_error_with_the_summary():
    wrong = lambda mean, logvar: -0.5 * np.mean(1 + logvar - mean**2 - np.exp(logvar), axis=-1)  # noqa: E731
    with pytest.raises(AssertionError) as info:
        assert_kl_correct(wrong, "diag-prior-logvar")
    text = str(info.value)
    assert "FAIL" in text and "Diagnosis: mean-over-dims" in text


def test_keyword_arguments_reach_the_audit():
    report = assert_kl_correct(vae_kl, "diag-prior-logvar", samples=1000, seed=3)
    assert report.samples == 1000 and report.seed == 3


def test_entry_point_is_declared():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert project["project"]["entry-points"]["pytest11"] == {"mcverify": "mcverify.pytest_plugin"}


def _installed_entry_point() -> bool:
    return any(ep.value == "mcverify.pytest_plugin" for ep in metadata.entry_points(group="pytest11"))


def test_fixture_in_a_users_test_suite(tmp_path):
    (tmp_path / "test_user.py").write_text(
        textwrap.dedent(
            """
        import numpy as np

        def kl(mean, std):
            return 0.5 * (std**2 + mean**2 - 1 - np.log(std**2))

        def kl_log10(mean, std):
            return 0.5 * (std**2 - 1 - np.log10(std**2))

        def test_right(assert_kl_correct):
            assert_kl_correct(kl, "prior-std")

        def test_wrong(assert_kl_correct):
            assert_kl_correct(kl_log10, "prior-std")
        """
        )
    )
    # Loaded through the pytest11 entry point once mcverify is installed from
    # this checkout; until then, by name.
    plugin = [] if _installed_entry_point() else ["-p", "mcverify.pytest_plugin"]
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    out = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *plugin, str(tmp_path)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
        timeout=120,
    )
    assert "1 failed, 1 passed" in out.stdout, out.stdout + out.stderr
    assert "Diagnosis: log10 + missing-mean" in out.stdout
