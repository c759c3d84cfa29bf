"""Write errors at every write primitive: the file named, the errno's meaning said, nothing left behind.

A full disk, a quota, a read-only file system or a refused permission is
injected as the ``OSError`` the kernel gives (``write``/``fsync`` name no
file); what reaches the caller is one :class:`~mcverify.errors.OutputError`
naming the final file, with no temporary file left and the old file intact.
"""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest

import mcverify.tables.atomic as atomic
from mcverify.engine.checkpoint import _atomic_write
from mcverify.errors import OutputError
from mcverify.tables.atomic import atomic_write, check_target, check_writable, stage, write_new
from mcverify.tables.block_writer import TableWriter

ERRORS = [errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES]


def fail_fsync(monkeypatch: pytest.MonkeyPatch, code: int) -> None:
    def fsync(fd: int) -> None:
        raise OSError(code, os.strerror(code))

    monkeypatch.setattr(atomic.os, "fsync", fsync)  # the os module: every writer's fsync


def only(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


@pytest.mark.parametrize("code", ERRORS)
def test_write_new_names_the_file_and_keeps_the_old_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, code: int
) -> None:
    target = tmp_path / "report.json"
    target.write_text("old")
    fail_fsync(monkeypatch, code)
    with pytest.raises(OutputError) as info:
        write_new(target, "new", overwrite=True)
    assert str(info.value) == f"{target}: cannot write the file: {os.strerror(code)}"
    assert isinstance(info.value.__cause__, OSError) and info.value.__cause__.errno == code
    assert target.read_text() == "old"
    assert only(tmp_path) == ["report.json"]


@pytest.mark.parametrize("code", ERRORS)
def test_atomic_write_names_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, code: int) -> None:
    target = tmp_path / "figure.png"
    fail_fsync(monkeypatch, code)
    with pytest.raises(OutputError, match=f"^{target}: cannot write the file: {os.strerror(code)}$"):
        with atomic_write(target, "wb") as fh:
            fh.write(b"png")
    assert only(tmp_path) == []


def test_a_write_that_fails_midway_names_the_file(tmp_path: Path) -> None:
    """ENOSPC from write() itself (not only fsync), raised in the body of atomic_write."""
    target = tmp_path / "t.csv"
    with pytest.raises(OutputError, match=r"t\.csv: cannot write the file: No space left on device"):
        with atomic_write(target) as fh:
            fh.write("a,b\n")
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
    assert only(tmp_path) == []


def test_file_exists_still_passes_through(tmp_path: Path) -> None:
    """The no-overwrite moves rely on FileExistsError: it is not turned into a write error."""
    (tmp_path / "a.csv").write_text("old")
    staged = stage(tmp_path / "a.csv", "new")
    with pytest.raises(FileExistsError):
        staged.commit(overwrite=False)
    staged.discard()
    assert (tmp_path / "a.csv").read_text() == "old"


@pytest.mark.parametrize("code", ERRORS)
def test_streamed_table_names_the_table(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, code: int) -> None:
    writer = TableWriter(tmp_path / "run", ["csv", "json"])
    writer.add(None, 1, {"csv_header": "a\n", "csv": "1\n", "json": '{"a": 1}'})
    fail_fsync(monkeypatch, code)
    with pytest.raises(OutputError, match=f"^{tmp_path / 'run.csv'}: cannot write the file: {os.strerror(code)}$"):
        writer.close_staged()
    assert only(tmp_path) == []


def test_streamed_table_write_error_while_adding(tmp_path: Path) -> None:
    writer = TableWriter(tmp_path / "run", ["csv"])

    class Full:
        def write(self, text: str) -> int:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    tmp, fh = writer._tmp["csv"]
    fh.close()
    writer._tmp["csv"] = (tmp, Full())  # type: ignore[assignment]
    with pytest.raises(OutputError, match=r"run\.csv: cannot write the file: No space left on device"):
        writer.add(None, 1, {"csv_header": "a\n", "csv": "1\n"})
    writer.abort()
    assert only(tmp_path) == []


@pytest.mark.parametrize("code", ERRORS)
def test_checkpoint_file_names_itself(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, code: int) -> None:
    target = tmp_path / "manifest.json"
    fail_fsync(monkeypatch, code)
    with pytest.raises(OutputError, match=f"^{target}: cannot write the file: {os.strerror(code)}$"):
        _atomic_write(target, b"{}")
    assert only(tmp_path) == []


def test_check_writable_finds_what_os_access_does_not(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    check_writable(tmp_path)
    assert only(tmp_path) == []  # the probe is gone
    real = atomic.os.open

    def read_only(path: object, flags: int, *args: object) -> int:
        if flags & os.O_CREAT:
            raise OSError(errno.EROFS, os.strerror(errno.EROFS))
        return real(path, flags, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(atomic.os, "open", read_only)
    with pytest.raises(OutputError, match=f"^{tmp_path}: cannot write in the folder: Read-only file system$"):
        check_writable(tmp_path)


def test_check_target(tmp_path: Path) -> None:
    check_target(tmp_path / "new.csv")
    (tmp_path / "file.csv").write_text("x")
    check_target(tmp_path / "file.csv")  # a file is replaced, or the output goes beside it
    (tmp_path / "dir.csv").mkdir()
    with pytest.raises(OutputError, match=r"dir\.csv: a folder is in the way"):
        check_target(tmp_path / "dir.csv")
    with pytest.raises(OutputError, match="too long"):
        check_target(tmp_path / ("n" * 220 + ".csv"))
