"""The package's metadata: license, URLs, classifiers, what a base install brings, what the sdist holds.

Building the wheel and sdist, `twine check` and the quickstart from the wheel in a fresh venv are
in `.ci/run` (they take minutes); these checks take milliseconds.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


def test_license_is_an_spdx_expression_with_its_file():
    assert PROJECT["license"] == "MIT"
    assert PROJECT["license-files"] == ["LICENSE"]
    assert (ROOT / "LICENSE").read_text().startswith("MIT License\n")
    # With an SPDX expression, a license classifier is redundant (and refused by recent setuptools).
    assert not [c for c in PROJECT["classifiers"] if c.startswith("License ::")]


def test_project_urls_and_classifiers():
    assert {"Homepage", "Documentation", "Source", "Changelog", "Issues"} <= set(PROJECT["urls"])
    assert all(u.startswith("https://") for u in PROJECT["urls"].values())
    assert "Programming Language :: Python :: 3.11" in PROJECT["classifiers"]
    assert PROJECT["requires-python"] == ">=3.11"


def test_a_base_install_makes_every_default_output():
    # report's default Markdown (tabulate), HTML and validate plots (matplotlib), the progress bar (tqdm).
    names = {re.split(r"[<>=\[ ]", d, maxsplit=1)[0] for d in PROJECT["dependencies"]}
    assert {"numpy", "scipy", "pandas", "matplotlib", "tabulate", "tqdm"} <= names
    assert {"docs", "test", "lint"} <= set(PROJECT["optional-dependencies"])


def test_the_sdist_leaves_the_tests_out():
    manifest = (ROOT / "MANIFEST.in").read_text().splitlines()
    assert "prune tests" in manifest
    assert "include LICENSE CHANGELOG.md CITATION.cff README.md" in manifest


def test_the_long_description_installs_from_pypi():
    readme = (ROOT / "README.md").read_text()
    assert PROJECT["readme"] == "README.md"
    assert "$ pip install mcverify\n" in readme
    assert readme.index("pip install mcverify") < readme.index("pip install -e .")
