"""Ctrl-C at any moment, the start-up included: one line on stderr and exit code 130.

The start-up window is the time in which the command line's modules import, before
:func:`mcverify.cli.main.main` runs, and then the second or two in which a command imports
its implementation (numpy, scipy, pandas) inside ``main``.
"""

from __future__ import annotations

import importlib
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import mcverify
from mcverify.cli.terminal import exit_interrupted, interrupts_exit

ROOT = Path(__file__).resolve().parents[2]

#: Seconds after mcverify catches the signals (its first act) at which Ctrl-C arrives.
DELAYS = (0.0, 0.02, 0.05, 0.1, 0.2, 0.4, 0.8)

CONFIG = """
[run]
samples = 200_000
seed = 7
[[sweep]]
name = "grid"
p = { mean = 0.0, std = { values = [0.5, 1.0, 2.0, 3.0] } }
q = { mean = 0.0, std = 1.0 }
"""


#: The line before "interrupted" once a run has saved cases (start-up is fast enough that the
#: last delays reach the work; on a busy machine the signal may even land after the last case
#: is saved and before the table is written, which has a line of its own).
SAVED = (
    r"mcverify: ([1-3] of 4 cases are saved in out/\.cfg\.checkpoint; run the same command with --resume"
    r" to continue|all 4 cases are saved in out/\.cfg\.checkpoint; run the same command with --resume to"
    r" write the tables)\n"
)


def _catches_sigterm(pid: int) -> bool:
    """Whether the process has a handler for SIGTERM (``SigCgt`` in /proc): mcverify's first act."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False
    caught = int(next(line.split()[1] for line in status.splitlines() if line.startswith("SigCgt:")), 16)
    return bool(caught & (1 << (signal.SIGTERM - 1)))


def _interrupt(
    args: list[str], delay: float, cwd: Path, signum: int = signal.SIGINT
) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.Popen(
        [sys.executable, "-m", "mcverify", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=cwd,
        env=env,
    )
    # Python's own start-up (before any mcverify code runs) is not mcverify's to handle:
    # wait until mcverify has caught the signals, then sweep the window from there.
    deadline = time.monotonic() + 60
    while not _catches_sigterm(proc.pid) and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.001)
    time.sleep(delay)
    proc.send_signal(signum)
    out, err = proc.communicate(timeout=120)
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


def _python(code: str) -> subprocess.CompletedProcess[str]:
    """``python -c code`` with this checkout first on the path."""
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=60)


needs_proc = pytest.mark.skipif(not Path("/proc/self/status").is_file(), reason="needs /proc (Linux)")


@needs_proc
@pytest.mark.parametrize("delay", DELAYS)
@pytest.mark.parametrize("command", ["run", "--help"])
def test_ctrl_c_at_any_moment_is_one_line_and_130(tmp_path, command, delay):
    if command == "run":
        (tmp_path / "cfg.toml").write_text(CONFIG)
        args = ["run", "cfg.toml", "-o", "out"]
    else:
        args = ["--help"]
    done = _interrupt(args, delay, tmp_path)
    assert "Traceback" not in done.stderr, done.stderr
    assert done.returncode != -signal.SIGINT, "died by the signal"
    if done.returncode == 0:  # finished before the signal arrived
        assert done.stderr == ""
    else:  # one line; or, once the run had saved cases, what it saved and how to resume first
        assert done.returncode == 130
        assert re.fullmatch(f"({SAVED})?" + r"mcverify: interrupted\n", done.stderr), done.stderr
        if command == "run":  # a checkpoint is left exactly when the line says it holds cases
            assert (tmp_path / "out" / ".cfg.checkpoint").exists() == bool(re.match(SAVED, done.stderr))


@needs_proc
@pytest.mark.parametrize("delay", [0.0, 0.1, 0.4])
def test_sigterm_at_start_up_is_one_line_and_130(tmp_path, delay):
    (tmp_path / "cfg.toml").write_text(CONFIG)
    done = _interrupt(["run", "cfg.toml", "-o", "out"], delay, tmp_path, signal.SIGTERM)
    assert (done.returncode, done.stderr) == (130, "mcverify: interrupted\n")
    assert not (tmp_path / "out" / "cfg.csv").exists()


def test_entry_module_imports_nothing_heavy():
    code = (
        "import sys, mcverify.__main__, mcverify.cli\n"
        "heavy = sorted(m for m in sys.modules if m.split('.')[0] in ('numpy', 'scipy', 'pandas'))\n"
        "print(heavy[:5])\n"
    )
    done = _python(code)
    assert (done.returncode, done.stdout, done.stderr) == (0, "[]\n", "")


#: What a command that is importing its implementation sees of Ctrl-C.
CTRL_C_WHILE_IMPORTING = """
import os, signal, time
from mcverify.cli.terminal import interrupts_exit
with interrupts_exit():
    os.kill(os.getpid(), signal.SIGINT)
    time.sleep(30)
print("not reached")
"""


def test_ctrl_c_while_a_command_imports_exits_130_at_once():
    """Around a command's imports, Ctrl-C is one line and exit 130 at once, never a KeyboardInterrupt."""
    done = _python(CTRL_C_WHILE_IMPORTING)
    assert (done.returncode, done.stdout, done.stderr) == (130, "", "mcverify: interrupted\n")


def test_interrupts_exit_gives_the_handlers_back():
    before = signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)
    with interrupts_exit():
        assert signal.getsignal(signal.SIGINT) is signal.getsignal(signal.SIGTERM) is exit_interrupted
    assert (signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)) == before


def test_run_hands_ctrl_c_back_to_main(monkeypatch, capsys):
    entry = importlib.import_module("mcverify.__main__")
    cli = importlib.import_module("mcverify.cli.main")
    seen = []

    def fake_main() -> int:
        seen.append(signal.getsignal(signal.SIGINT))
        raise KeyboardInterrupt

    monkeypatch.setattr(cli, "main", fake_main)
    previous = signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)
    try:
        assert entry.run() == 130
    finally:
        signal.signal(signal.SIGINT, previous[0])
        signal.signal(signal.SIGTERM, previous[1])
    assert seen == [signal.default_int_handler]
    assert capsys.readouterr().err == "mcverify: interrupted\n"


def test_import_mcverify_is_light_and_every_public_name_resolves():
    code = (
        "import sys, mcverify\n"
        "print(sorted(m for m in ('numpy', 'scipy', 'scipy.stats', 'pandas') if m in sys.modules))\n"
    )
    done = _python(code)
    assert (done.returncode, done.stdout, done.stderr) == (0, "[]\n", "")
    for name in mcverify.__all__:
        assert getattr(mcverify, name) is not None
        assert name in dir(mcverify)
    from mcverify import (  # noqa: F401 (the names users import)
        AuditError,
        AuditReport,
        ConfigError,
        Gaussian,
        MonteCarloResult,
        QuadratureError,
        QuadratureResult,
        audit,
        kl_divergence,
        monte_carlo_kl,
        monte_carlo_kl_reference,
        quadrature_kl,
    )
    from mcverify.auditing.auditor import audit as real_audit

    assert mcverify.audit is real_audit and callable(mcverify.audit)
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        _ = mcverify.nope  # type: ignore[attr-defined]
