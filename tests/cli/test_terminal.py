"""The command at a terminal: usage, the one error prefix, a reader that closes the pipe early."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from mcverify.cli.main import main
from mcverify.cli.terminal import ClosablePipe
from tests.cli.test_cli import ROOT, mcverify

WRONG = "0.5*(var + mean**2 - 1 - log10(var))"  # the classic log10 mistake: the audit fails, exit 1
RIGHT = "0.5*(var + mean**2 - 1 - log(var))"  # exit 0


def test_no_arguments_prints_usage_and_exits_2():
    proc = mcverify()
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr.startswith("usage: mcverify ")
    for command in ("run", "audit", "calibrate", "converge", "report", "validate"):
        assert f"\n    {command} " in proc.stderr


@pytest.mark.parametrize(
    ("args", "line"),
    [
        (["audit"], "mcverify: error: audit: the following arguments are required: --convention/-c"),
        (["run"], "mcverify: error: run: the following arguments are required: config"),
        (["frobnicate"], "mcverify: error: argument command: invalid choice: 'frobnicate'"),
        (["report", "--max-rows", "x", "t.csv"], "mcverify: error: report: argument --max-rows: expected"),
    ],
)
def test_the_error_prefix_appears_once(args, line, capsys):
    assert main(args) == 2
    err = capsys.readouterr().err
    assert err.startswith(line) and err.count("mcverify") == 1 and err.count("\n") == 1


def test_the_error_prefix_appears_once_as_a_subprocess():
    proc = mcverify("audit")
    assert proc.returncode == 2
    assert proc.stderr == "mcverify: error: audit: the following arguments are required: --convention/-c\n"


def test_closable_pipe_swallows_a_closed_reader():
    read_end, write_end = os.pipe()
    with os.fdopen(write_end, "w") as stream:
        pipe = ClosablePipe(stream)
        pipe.write("first\n")
        pipe.flush()
        os.close(read_end)
        pipe.write("x" * 100_000)  # more than a pipe holds: the write itself meets the closed end
        pipe.flush()
        pipe.write("after\n")
        pipe.flush()
        assert pipe.closed_by_reader and pipe.fileno() == stream.fileno()


def _audit_closed_early(out: Path, expr: str, read: int) -> subprocess.Popen[bytes]:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    args = ["audit", "--expr", expr, "--convention", "prior-var", "--samples", "0", "-o", str(out)]
    proc = subprocess.Popen(
        [sys.executable, "-m", "mcverify", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env
    )
    assert proc.stdout is not None
    if read:
        proc.stdout.read(read)
    proc.stdout.close()  # the reader goes away, as `| head -c N` does
    return proc


@pytest.mark.slow
def test_a_closed_pipe_never_costs_the_file_nor_changes_the_exit_status(tmp_path):
    """`mcverify audit ... -o p.json | head`: the file is written and the status is the verdict's, every time."""
    runs = [
        (expr, read, tmp_path / f"{name}-{read}-{i}.json", expected)
        for expr, name, expected in ((WRONG, "wrong", 1), (RIGHT, "right", 0))
        for read in (0, 16)
        for i in range(2 if expected else 1)
    ]
    assert len(runs) == 6
    procs = [_audit_closed_early(out, expr, read) for expr, read, out, _ in runs]  # concurrently: races show
    for proc, (_, _, out, expected) in zip(procs, runs, strict=True):
        err = proc.communicate(timeout=300)[1].decode()
        assert proc.returncode == expected, err
        assert "Traceback" not in err and "Error" not in err
        assert out.read_text().startswith("{")


def test_report_to_a_pipe_closed_after_a_few_bytes_exits_0(small_run):
    folder, _ = small_run
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    cmd = [sys.executable, "-m", "mcverify", "report", str(folder / "small.csv"), "--max-rows", "0"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    assert proc.stdout is not None
    assert proc.stdout.read(10) == b"# mcverify"
    time.sleep(0.05)
    proc.stdout.close()
    err = proc.communicate(timeout=300)[1].decode()
    assert proc.returncode == 0 and err == ""
