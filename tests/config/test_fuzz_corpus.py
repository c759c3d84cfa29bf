"""Every malformed config of the fuzz corpus: exit 2, one line naming the file and key path, nothing written.

The corpus (``tests/fuzz/configs/``, made by ``tests/fuzz/make_corpus.py``)
holds systematic mutations of the shipped configs; each file's first line
says which key path the error must name and a piece of text it must
contain.  All of them go through ``main([...])`` in-process, and a spread
sample through real ``python -m mcverify`` subprocesses.
"""

from __future__ import annotations

import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import commands
import pytest

from mcverify.cli.main import main
from tests.fuzz import make_corpus
from tests.fuzz.make_corpus import parse_header

ROOT = Path(__file__).resolve().parents[2]
CORPUS = sorted(make_corpus.CORPUS.glob("*.toml"))
# A spread sample through real processes (each costs an interpreter start and
# mcverify's imports, about a second); the in-process test covers every file.
SUBPROCESS_SAMPLE = CORPUS[:: max(1, len(CORPUS) // 12)][:12]


def expectation(path: Path) -> tuple[str, str, str]:
    first = path.read_bytes().split(b"\n", 1)[0].decode("ascii")
    return parse_header(first)


def check_error(path: Path, code: int, stdout: str, stderr: str, out: Path) -> None:
    field, what, match = expectation(path)
    assert code == 2, f"{path.name} ({what}): exit {code}, stderr {stderr!r}"
    assert stdout == "", f"{path.name}: printed {stdout!r}"
    assert stderr.endswith("\n") and stderr.count("\n") == 1, f"{path.name}: not one line: {stderr!r}"
    assert "Traceback" not in stderr
    assert "np." not in stderr and "array(" not in stderr, f"{path.name}: numpy repr in {stderr!r}"
    prefix = f"mcverify: error: {path}: {field}: " if field else f"mcverify: error: {path}: "
    assert stderr.startswith(prefix), f"{path.name} ({what}): expected {prefix!r}..., got {stderr!r}"
    if not field:  # a file-level problem must not look like a key path
        assert not stderr[len(prefix) :].startswith(("run", "pair", "sweep")), stderr
    assert match in stderr, f"{path.name} ({what}): {match!r} not in {stderr!r}"
    assert not out.exists(), f"{path.name}: the output folder was created"


def test_corpus_is_large_and_current() -> None:
    assert len(CORPUS) >= 200
    assert make_corpus.stale(make_corpus.build()) == [], "run python tests/fuzz/make_corpus.py"
    fields = {expectation(p)[0] for p in CORPUS}
    # the corpus reaches every part of a config, not just the first keys
    for part in ("run.", "pair[3].", "sweep[2].", "sweep[3].", ".cov", "[2][1]", ".logspace", ".dim", ".count"):
        assert any(part in f for f in fields), part
    assert "" in fields  # and whole-file problems


@pytest.fixture(scope="module")
def out_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("fuzz-out")


@pytest.mark.parametrize("path", CORPUS, ids=[p.stem for p in CORPUS])
def test_malformed_config_in_process(path: Path, out_root: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = out_root / path.stem
    code = main(["run", str(path), "-o", str(out)])
    captured = capsys.readouterr()
    check_error(path, code, captured.out, captured.err, out)


@pytest.mark.slow
def test_malformed_configs_as_subprocesses(tmp_path: Path) -> None:
    def run(path: Path) -> tuple[Path, subprocess.CompletedProcess[str], Path]:
        out = tmp_path / path.stem
        return path, commands.mcverify("run", str(path), "-o", str(out), timeout=120), out

    assert len(SUBPROCESS_SAMPLE) == 12
    with ThreadPoolExecutor(2) as pool:
        for path, proc, out in pool.map(run, SUBPROCESS_SAMPLE):
            check_error(path, proc.returncode, proc.stdout, proc.stderr, out)


def test_debug_shows_the_traceback(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    path = next(p for p in CORPUS if p.stem == "example-deep-nesting")
    assert main(["--debug", "run", str(path), "-o", str(tmp_path / "a")]) == 2
    err = capsys.readouterr().err
    assert "Traceback" in err and err.rstrip().splitlines()[-1].startswith("mcverify: error: ")
    assert main(["run", str(path), "-o", str(tmp_path / "b"), "--debug"]) == 2
    assert "Traceback" in capsys.readouterr().err
