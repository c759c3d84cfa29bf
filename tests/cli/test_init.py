"""``mcverify init``: the shipped example configs, written where the user stands."""

from __future__ import annotations

import subprocess
import tomllib
from pathlib import Path

import commands
import pytest

from mcverify.cli.main import main
from mcverify.config.examples import DEFAULT_EXAMPLES, EXAMPLES, example_text
from mcverify.config.loader import load_config

ROOT = Path(__file__).resolve().parents[2]


def mcverify(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return commands.mcverify(*args, cwd=cwd)


def test_init_writes_the_verification_configs_that_run(tmp_path):
    proc = mcverify("init", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == sorted(f"{n}.toml" for n in DEFAULT_EXAMPLES)
    for n in DEFAULT_EXAMPLES:  # byte for byte the repository's configs/, and valid configs
        assert (tmp_path / f"{n}.toml").read_bytes() == (ROOT / "configs" / EXAMPLES[n]).read_bytes()
        assert len(load_config(tmp_path / f"{n}.toml").cases) > 0
    assert proc.stdout.splitlines()[-1] == "next: mcverify run example.toml"


def test_init_writes_a_named_study_config_into_a_folder(tmp_path, capsys):
    (tmp_path / "out").mkdir()
    assert main(["init", "converge", "example", "-o", str(tmp_path / "out"), "-q"]) == 0
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["converge.toml", "example.toml"]
    assert (tmp_path / "out" / "converge.toml").read_text() == (ROOT / "configs/studies/converge.toml").read_text()
    assert capsys.readouterr().out == ""


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["init", "nope"], "mcverify: error: init: no example config named 'nope'; choose from: example,"),
        (["init", "example", "../example"], "mcverify: error: init: no example config named '../example'"),
        (["init", "-o", "missing"], "mcverify: error: init: missing: not a folder"),
    ],
)
def test_bad_names_and_folders_exit_2_in_one_line_writing_nothing(tmp_path, monkeypatch, capsys, args, message):
    monkeypatch.chdir(tmp_path)
    assert main(args) == 2
    err = capsys.readouterr().err
    assert err.startswith(message) and err.count("\n") == 1, err
    assert list(tmp_path.iterdir()) == []


def test_a_bad_name_as_the_user_types_it(tmp_path):
    proc = mcverify("init", "nope", cwd=tmp_path)
    assert proc.returncode == 2 and proc.stdout == ""
    assert (
        proc.stderr.startswith("mcverify: error: init: no example config named 'nope'")
        and "Traceback" not in proc.stderr
    )


def test_an_existing_file_is_never_replaced_without_overwrite(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "extreme.toml").write_text("# mine\n")
    assert main(["init"]) == 2
    assert capsys.readouterr().err == "mcverify: error: init: extreme.toml exists; pass --overwrite to replace it\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["extreme.toml"]  # nothing written, not even the others
    assert (tmp_path / "extreme.toml").read_text() == "# mine\n"
    assert main(["init", "extreme", "--overwrite", "-q"]) == 0
    assert (tmp_path / "extreme.toml").read_text() == example_text("extreme")


def test_the_repository_configs_folder_is_the_package_data_itself():
    # One copy: configs/ links to mcverify/config/examples/, which the wheel ships.
    assert (ROOT / "configs").is_symlink()
    assert (ROOT / "configs").resolve() == (ROOT / "mcverify" / "config" / "examples").resolve()
    shipped = {str(p.relative_to(ROOT / "configs")) for p in (ROOT / "configs").rglob("*.toml")}
    assert shipped == set(EXAMPLES.values())
    globs = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]["mcverify"]
    assert {"config/examples/*.toml", "config/examples/studies/*.toml"} <= set(globs)


def test_example_text_refuses_unknown_names():
    with pytest.raises(ValueError, match="no example config named 'x'"):
        example_text("x")
