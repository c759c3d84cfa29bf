"""Hostile inputs beyond the fuzz corpus: missing files, bad output folders, odd bytes, huge requests, bugs."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import commands
import pytest

import mcverify.engine.pipeline as pipeline  # the execute `mcverify run` imports when it runs
from mcverify.cli.main import main
from mcverify.config.loader import MAX_PARAMETER_BYTES, load_config
from mcverify.config.sweeps import MAX_DIM
from mcverify.errors import ConfigError

ROOT = Path(__file__).resolve().parents[2]

GOOD = """
[run]
samples = 1000
[[pair]]
name = "a"
p = { mean = 0.0, std = 2.0 }
q = { mean = 0.0, std = 1.0 }
"""


def write(tmp_path: Path, text: str | bytes, name: str = "cfg.toml") -> Path:
    path = tmp_path / name
    path.write_bytes(text.encode() if isinstance(text, str) else text)
    return path


def one_error_line(capsys: pytest.CaptureFixture[str]) -> str:
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.count("\n") == 1 and "Traceback" not in captured.err, captured.err
    assert captured.err.startswith("mcverify: error: ")
    return captured.err.rstrip("\n")


def test_missing_config_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "nope.toml"
    assert main(["run", str(missing), "-o", str(tmp_path / "out")]) == 2
    line = one_error_line(capsys)
    assert f"{missing}: cannot read the config file: No such file or directory" in line
    assert not (tmp_path / "out").exists()


def test_config_is_a_directory(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", str(tmp_path), "-o", str(tmp_path / "out")]) == 2
    assert one_error_line(capsys) == f"mcverify: error: {tmp_path}: not a regular file (a folder)"


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root reads any file")
def test_unreadable_config_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cfg = write(tmp_path, GOOD)
    cfg.chmod(0)
    try:
        assert main(["run", str(cfg), "-o", str(tmp_path / "out")]) == 2
    finally:
        cfg.chmod(stat.S_IRUSR | stat.S_IWUSR)
    assert "Permission denied" in one_error_line(capsys)


def test_output_folder_is_a_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cfg = write(tmp_path, GOOD)
    blocker = write(tmp_path, "keep me", "results")
    assert main(["run", str(cfg), "-o", str(blocker)]) == 2
    line = one_error_line(capsys)
    assert f"{blocker}: " in line and "not a folder" in line
    assert blocker.read_text() == "keep me"


def test_output_folder_cannot_be_created(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cfg = write(tmp_path, GOOD)
    out = Path("/proc/mcverify-cannot-exist/out")  # /proc refuses new folders, even to root
    assert main(["run", str(cfg), "-o", str(out)]) == 2
    assert f"{out}: cannot create the output folder" in one_error_line(capsys)


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root writes anywhere")
def test_output_folder_not_writable(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cfg = write(tmp_path, GOOD)
    out = tmp_path / "ro"
    out.mkdir()
    out.chmod(stat.S_IRUSR | stat.S_IXUSR)
    try:
        assert main(["run", str(cfg), "-o", str(out)]) == 2
    finally:
        out.chmod(stat.S_IRWXU)
    assert "not writable" in one_error_line(capsys)
    assert list(out.iterdir()) == []


def test_byte_order_mark_is_accepted(tmp_path: Path) -> None:
    cfg = write(tmp_path, b"\xef\xbb\xbf" + GOOD.encode())
    assert len(load_config(cfg).cases) == 1


@pytest.mark.parametrize(
    ("text", "field", "shown"),
    [
        ('[run]\n"sam\\nples" = 1\n' + GOOD.split("[run]", 1)[1].split("\n", 2)[2], "run.sam\\nples", "'sam\\nples'"),
        ('[run]\n"\\u2028" = 1\n', "run.\\u2028", "unknown key"),
        ('[[pair]]\nname = "a\\u0085b"\n', "pair[1].name", "must be printable"),
    ],
    ids=["newline-in-key", "line-separator-key", "next-line-in-name"],
)
def test_line_breaks_in_keys_and_names_stay_on_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str, field: str, shown: str
) -> None:
    cfg = write(tmp_path, text)
    assert main(["run", str(cfg), "-o", str(tmp_path / "out")]) == 2
    line = one_error_line(capsys)
    assert line.isprintable()
    assert f"{cfg}: {field}: " in line and shown in line


def test_long_values_are_clipped(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    name = "x" * 5000 + "]"
    cfg = write(tmp_path, GOOD.replace('"a"', f'"{name}"').replace("samples = 1000", "samples = " + "9" * 400))
    assert main(["run", str(cfg), "-o", str(tmp_path / "out")]) == 2
    line = one_error_line(capsys)
    assert "run.samples: must be between 2 and 1e+12, got 9,999," in line and "characters)" in line
    assert len(line) < len(str(cfg)) + 200


def test_absurd_random_dimension(tmp_path: Path) -> None:
    cfg = write(
        tmp_path,
        f"""
[[sweep]]
name = "s"
p = {{ mean = 0.0, cov = {{ random = "spd", dim = {MAX_DIM + 1}, cond = 2.0 }} }}
q = {{ mean = 0.0, std = 1.0 }}
""",
    )
    with pytest.raises(ConfigError) as info:
        load_config(cfg, force=True)
    assert info.value.field == "sweep[1].p.cov.dim" and f"at most {MAX_DIM:,}" in info.value.message


def test_sweep_too_big_for_memory_needs_force(tmp_path: Path) -> None:
    # Cases are built one block at a time, so what must fit is one case: a
    # 12,000-d full covariance (and its factor) is ~2.1 GiB on its own.
    text = """
[[sweep]]
name = "big"
p = { mean = { random = "normal", dim = 12_000 }, cov = { random = "spd", cond = 10.0 } }
q = { mean = 0.0, std = 1.0 }
count = 2
"""
    cfg = write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_config(cfg)
    err = info.value
    assert err.field == "sweep[1]" and "GiB of parameters per case (dimension 12,000)" in err.message
    assert f"more than {MAX_PARAMETER_BYTES / 2**30:g} GiB" in err.message and "force" in err.message


def test_internal_error_is_one_line_with_exit_3(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: object, **kwargs: object) -> None:
        raise ZeroDivisionError("a bug")

    monkeypatch.setattr(pipeline, "execute", broken)
    cfg = write(tmp_path, GOOD)
    assert main(["run", str(cfg), "-o", str(tmp_path / "out")]) == 3
    err = capsys.readouterr().err
    assert err == "mcverify: internal error: ZeroDivisionError: a bug (run with --debug for the traceback)\n"
    assert main(["run", str(cfg), "-o", str(tmp_path / "out"), "--debug"]) == 3
    assert "Traceback" in capsys.readouterr().err


def test_out_of_memory_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    def hungry(*args: object, **kwargs: object) -> None:
        raise MemoryError

    monkeypatch.setattr(pipeline, "execute", hungry)
    assert main(["run", str(write(tmp_path, GOOD)), "-o", str(tmp_path / "out")]) == 2
    assert "out of memory" in one_error_line(capsys)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="needs /dev/full")
def test_disk_full_while_writing_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import mcverify.tables.atomic as atomic

    real = atomic.os.fsync

    def full(fd: int) -> None:  # the disk fills up once the checkpoint is written: at the tables
        if ".checkpoint" in os.readlink(f"/proc/self/fd/{fd}"):
            return real(fd)
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(atomic.os, "fsync", full)
    out = tmp_path / "out"
    assert main(["run", str(write(tmp_path, GOOD)), "-o", str(out)]) == 2
    assert "No space left on device" in one_error_line(capsys)
    monkeypatch.setattr(atomic.os, "fsync", real)
    # No partial table, no temporary file: only the checkpoint, kept for --resume.
    assert [p.name for p in out.iterdir()] == [".cfg.checkpoint"]


@pytest.mark.skipif(not Path("/dev/zero").exists(), reason="needs /dev/zero")
def test_endless_config_stream_is_refused(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    assert main(["run", "/dev/zero", "-o", str(tmp_path / "out")]) == 2
    assert one_error_line(capsys) == "mcverify: error: /dev/zero: not a regular file (a character device)"
    assert not (tmp_path / "out").exists()


@pytest.mark.skipif(os.name != "posix", reason="needs a named pipe")
def test_config_from_a_pipe_is_refused_without_reading(tmp_path: Path) -> None:
    """A FIFO is refused before it is opened, even with a writer waiting (process substitution is not read)."""
    fifo = tmp_path / "cfg.toml"
    os.mkfifo(fifo)
    with pytest.raises(ConfigError) as info:
        load_config(fifo)
    assert str(info.value) == f"{fifo}: not a regular file (a FIFO)"


# ------------------------------------------------ through the command line, as a subprocess
def cli(*args: str | bytes, cwd: Path | None = None) -> subprocess.CompletedProcess[bytes]:
    """``python -m mcverify ARGS``: bytes in and out, so that any path the OS accepts can be passed."""
    return commands.mcverify(*args, cwd=cwd, timeout=60, text=False)


def refused(done: subprocess.CompletedProcess[bytes]) -> str:
    """The one stderr line of a run refused with exit 2 (no traceback, nothing on stdout)."""
    err = done.stderr.decode("utf-8", "backslashreplace")
    assert done.returncode == 2, (done.returncode, err)
    assert done.stdout == b""
    assert err.count("\n") == 1 and "Traceback" not in err, err
    assert err.startswith("mcverify: error: ") and err.rstrip("\n").isprintable(), err
    return err.rstrip("\n")


needs_fifo = pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs named pipes")


@needs_fifo
@pytest.mark.parametrize("command", [["run"], ["validate", "--no-plots"], ["calibrate"], ["converge"]])
def test_fifo_config_is_refused_without_hanging(tmp_path: Path, command: list[str]) -> None:
    """Regression: a FIFO as the config blocked for ever, waiting for a writer."""
    fifo = tmp_path / "cfg.toml"
    os.mkfifo(fifo)
    out = tmp_path / "out"
    line = refused(cli(command[0], str(fifo), *command[1:], "-o", str(out)))
    assert line == f"mcverify: error: {fifo}: not a regular file (a FIFO)"
    assert not out.exists()


def test_folder_as_config_is_refused(tmp_path: Path) -> None:
    folder = tmp_path / "configs.toml"
    folder.mkdir()
    line = refused(cli("run", str(folder), "-o", str(tmp_path / "out")))
    assert line == f"mcverify: error: {folder}: not a regular file (a folder)"
    assert not (tmp_path / "out").exists()


@pytest.mark.skipif(not Path(os.devnull).exists() or os.devnull != "/dev/null", reason="needs /dev/null")
def test_character_device_as_config_is_refused(tmp_path: Path) -> None:
    line = refused(cli("run", "/dev/null", "-o", str(tmp_path / "out")))
    assert line == "mcverify: error: /dev/null: not a regular file (a character device)"
    assert not (tmp_path / "out").exists()


@needs_fifo
def test_fifo_results_table_is_refused_without_hanging(tmp_path: Path) -> None:
    fifo = tmp_path / "results.csv"
    os.mkfifo(fifo)
    out = tmp_path / "out"
    out.mkdir()
    line = refused(cli("report", str(fifo), "-o", str(out / "report.md")))
    assert line == f"mcverify: error: {fifo}: not a regular file (a FIFO)"
    assert list(out.iterdir()) == []


def bytes_path(folder: Path, name: bytes) -> bytes:
    """``folder/name`` as bytes, created by the caller; skips where the file system refuses the name."""
    return os.fsencode(folder) + b"/" + name


def test_config_name_that_is_not_utf8_works(tmp_path: Path) -> None:
    """Regression: a config named b"bad\xff.toml" crashed with UnicodeEncodeError (exit 3) writing its table."""
    cfg = bytes_path(tmp_path, b"bad\xff.toml")
    try:
        with open(cfg, "wb") as fh:
            fh.write(GOOD.encode())
    except OSError as exc:
        pytest.skip(f"the file system refuses the name: {exc}")
    out = tmp_path / "out"
    done = cli("run", cfg, "-o", str(out), "-q")
    assert done.returncode == 0, done.stderr.decode("utf-8", "backslashreplace")
    assert done.stderr == b"" and b"Traceback" not in done.stdout
    # Named as the messages name it: the byte that is not UTF-8 written as \xff.
    assert sorted(p.name for p in out.iterdir()) == ["bad\\xff.csv", "bad\\xff.provenance.json"]
    assert (out / "bad\\xff.csv").read_text(encoding="utf-8").splitlines()[1].startswith("bad\\xff,")


def test_missing_config_name_that_is_not_utf8_is_one_printable_line(tmp_path: Path) -> None:
    cfg = bytes_path(tmp_path, b"nope\xff.toml")
    line = refused(cli("run", cfg, "-o", str(tmp_path / "out")))
    assert line == f"mcverify: error: {tmp_path}/nope\\xff.toml: cannot read the config file: No such file or directory"
    assert not (tmp_path / "out").exists()
