"""Tests of mcverify.tables.atomic: complete files or none, no silent overwrite, cleanup after crashes."""

from __future__ import annotations

import errno
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

import mcverify.tables.atomic as atomic
from mcverify.tables.atomic import atomic_write, clean_stale, commit_all, deferred_signals, is_temporary, stage


def listing(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def test_atomic_write_text_and_binary(tmp_path: Path) -> None:
    with atomic_write(tmp_path / "a.txt") as fh:
        fh.write("line\r\nnext\n")
    with atomic_write(tmp_path / "b.bin", "wb") as fh:
        fh.write(b"\x00\xff")
    assert (tmp_path / "a.txt").read_bytes() == b"line\r\nnext\n"  # newlines untranslated
    assert (tmp_path / "b.bin").read_bytes() == b"\x00\xff"
    assert listing(tmp_path) == ["a.txt", "b.bin"]


def test_new_files_get_the_usual_permissions(tmp_path: Path) -> None:
    umask = os.umask(0o022)
    try:
        with atomic_write(tmp_path / "a.txt") as fh:
            fh.write("x")
        staged = stage(tmp_path / "b.txt", "y")
        staged.commit()
    finally:
        os.umask(umask)
    for name in ("a.txt", "b.txt"):  # readable by others, as results should be (not mkstemp's 0o600)
        assert (tmp_path / name).stat().st_mode & 0o777 == 0o644


def test_error_inside_leaves_old_file_and_no_temporary(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    path.write_text("old\n")
    for exc in (RuntimeError("boom"), KeyboardInterrupt()):
        with pytest.raises(type(exc)):
            with atomic_write(path) as fh:
                fh.write("half a ta")
                raise exc
        assert path.read_text() == "old\n" and listing(tmp_path) == ["t.csv"]


def test_overwrite_false_never_replaces(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    path.write_text("old\n")
    with pytest.raises(FileExistsError):
        with atomic_write(path, overwrite=False) as fh:
            fh.write("new\n")
    assert path.read_text() == "old\n" and listing(tmp_path) == ["t.csv"]
    with atomic_write(tmp_path / "u.csv", overwrite=False) as fh:
        fh.write("new\n")
    assert (tmp_path / "u.csv").read_text() == "new\n"
    with atomic_write(path) as fh:  # overwrite=True (the default) replaces
        fh.write("newer\n")
    assert path.read_text() == "newer\n"


def test_overwrite_false_without_hard_links(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def no_links(src: object, dst: object) -> None:
        raise OSError(errno.EPERM, "Operation not permitted")

    monkeypatch.setattr(atomic.os, "link", no_links)
    path = tmp_path / "t.csv"
    with atomic_write(path, overwrite=False) as fh:
        fh.write("a\n")
    with pytest.raises(FileExistsError):
        with atomic_write(path, overwrite=False) as fh:
            fh.write("b\n")
    assert path.read_text() == "a\n" and listing(tmp_path) == ["t.csv"]


def test_temporary_names_are_recognised(tmp_path: Path) -> None:
    staged = stage(tmp_path / "results.csv", "x")
    assert is_temporary(staged.temp) and staged.temp.name.startswith(".results.csv.")
    assert f"-{os.getpid()}." in staged.temp.name and staged.temp.name.endswith(".part")
    assert not is_temporary(tmp_path / "results.csv") and not is_temporary(tmp_path / ".results.csv.abc.part")
    staged.discard()
    assert listing(tmp_path) == []


def test_commit_all_undoes_its_files_when_a_name_is_taken(tmp_path: Path) -> None:
    (tmp_path / "b.csv").write_text("theirs\n")
    staged = [(stage(tmp_path / n, n), tmp_path / n) for n in ("a.csv", "b.csv", "c.csv")]
    with pytest.raises(FileExistsError):
        commit_all(staged, overwrite=False)
    assert (tmp_path / "b.csv").read_text() == "theirs\n"
    assert not (tmp_path / "a.csv").exists() and not (tmp_path / "c.csv").exists()
    # the temporary files are kept for another try elsewhere
    done = commit_all([(s, tmp_path / f"x-{t.name}") for s, t in staged], overwrite=False)
    assert [p.name for p in done] == ["x-a.csv", "x-b.csv", "x-c.csv"]
    assert listing(tmp_path) == ["b.csv", "x-a.csv", "x-b.csv", "x-c.csv"]


def test_deferred_signals_hold_sigint_until_the_end() -> None:
    seen = []
    with pytest.raises(KeyboardInterrupt):
        with deferred_signals():
            signal.raise_signal(signal.SIGINT)
            seen.append("still running")
    assert seen == ["still running"]
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_clean_stale_removes_only_dead_processes_files(tmp_path: Path) -> None:
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    dead_pid = int(dead.stdout)
    mine = stage(tmp_path / "mine.csv", "x")  # this process: alive
    host = mine.temp.name.split(".")[-3].split("-")[0]
    orphan = tmp_path / f".results.csv.{host}-{dead_pid}.0123abcd.part"
    orphan.write_text("half")
    other_host = tmp_path / f".results.csv.ffffffff-{dead_pid}.0123abcd.part"
    other_host.write_text("someone else's")
    unrelated = tmp_path / ".results.csv.part"
    unrelated.write_text("not ours")
    if host == "ffffffff":  # pragma: no cover - one chance in 4 billion
        pytest.skip("this host's tag collides with the test's")
    assert clean_stale(tmp_path) == [orphan]
    assert sorted(listing(tmp_path)) == sorted([mine.temp.name, other_host.name, unrelated.name])
    assert clean_stale(tmp_path / "missing") == []
