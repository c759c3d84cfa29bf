"""A fresh clone's first command (the README's) writes where it says and leaves the clone clean."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_first_command_of_a_fresh_clone_leaves_git_status_clean(tmp_path):
    if shutil.which("git") is None or not (ROOT / ".git").exists():
        pytest.skip("needs git and a git checkout")
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "--quiet", str(ROOT), str(clone)], check=True, timeout=120)
    env = dict(os.environ, PYTHONPATH=str(clone), OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1")
    proc = subprocess.run(
        [sys.executable, "-m", "mcverify", "run", "configs/example.toml"],
        cwd=clone,
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr
    # What the README says the first command writes, and nothing else.
    assert proc.stdout.splitlines()[-1] == "wrote results/example.csv, results/example.provenance.json"
    written = sorted(p.name for p in (clone / "results").iterdir() if p.name != "validation")
    assert written == ["example.csv", "example.provenance.json"]
    status = subprocess.run(
        ["git", "status", "--porcelain"], cwd=clone, capture_output=True, text=True, check=True
    ).stdout
    assert status == "", status
    ignored = subprocess.run(
        ["git", "status", "--porcelain", "--ignored"], cwd=clone, capture_output=True, text=True, check=True
    ).stdout
    assert {"!! results/example.csv", "!! results/example.provenance.json"} <= set(ignored.splitlines())
    readme = (ROOT / "README.md").read_text()
    assert "writes `results/example.csv`" in readme.replace("\n", " ")
