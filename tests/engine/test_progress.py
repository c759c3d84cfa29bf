"""The progress bar: on terminals only, on standard error only, never with --quiet."""

from __future__ import annotations

import fcntl
import io
import os
import pty
import select
import struct
import subprocess
import sys
import termios
from pathlib import Path

import pytest

from mcverify.engine.progress import NoBar, progress_bar

ROOT = Path(__file__).resolve().parents[2]

CONFIG = """
[run]
samples = 200_000
[[sweep]]
name = "g"
p = { mean = 0.0, std = { logspace = [-1, 1, 200] } }
q = { mean = 0.0, std = 1.0 }
"""


class FakeTerminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_bar_only_on_terminals():
    pytest.importorskip("tqdm")
    pipe = io.StringIO()
    with progress_bar(10, file=pipe) as bar:
        bar.update(10)
    assert pipe.getvalue() == ""
    term = FakeTerminal()
    bar = progress_bar(1000, initial=200, file=term)
    bar.update(300)
    bar.refresh()
    text = term.getvalue()
    bar.close()
    assert "500/1000" in text and "case" in text
    assert isinstance(progress_bar(10, quiet=True, file=term), NoBar)


def test_no_bar_without_tqdm(monkeypatch):
    monkeypatch.setitem(sys.modules, "tqdm", None)  # import fails as if not installed
    bar = progress_bar(10, file=FakeTerminal())
    assert isinstance(bar, NoBar)
    bar.update(3)
    bar.close()


def run_on_terminal(tmp_path: Path, *extra: str) -> tuple[int, str, str]:
    """Run mcverify with stderr on a pseudo-terminal and stdout on a pipe."""
    cfg = tmp_path / "p.toml"
    cfg.write_text(CONFIG)
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))  # a 100-column terminal
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.Popen(
        [sys.executable, "-m", "mcverify", "run", str(cfg), "-o", str(tmp_path / "out"), "--jobs", "1", *extra],
        stdout=subprocess.PIPE,
        stderr=slave,
        env=env,
        text=True,
    )
    os.close(slave)
    chunks = []
    while True:
        ready, _, _ = select.select([master], [], [], 60)
        if not ready:
            break
        try:
            data = os.read(master, 4096)
        except OSError:  # the terminal closed
            break
        if not data:
            break
        chunks.append(data)
    os.close(master)
    out = proc.stdout.read()  # type: ignore[union-attr]
    proc.wait(timeout=60)
    return proc.returncode, out, b"".join(chunks).decode(errors="replace")


@pytest.mark.slow
def test_command_draws_the_bar_on_a_terminal_stderr_only(tmp_path):
    pytest.importorskip("tqdm")
    code, out, term = run_on_terminal(tmp_path)
    assert code == 0
    assert "/200" in term and "case" in term  # cases done, of the total, with a rate
    assert "200 cases: 200 pass" in out and "\r" not in out and "case/s" not in out
    code, out, term = run_on_terminal(tmp_path, "--quiet")
    assert code == 0 and term == "" and out == ""
