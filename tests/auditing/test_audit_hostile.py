"""Hostile candidates under audit: raising, NaN, wrong shapes, printing, hanging, mutating, exiting.

Each is reported as such and the audit goes on where it can; ``--expr``
accepts only arithmetic.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from pathlib import Path

import commands
import numpy as np
import pytest

from mcverify import audit
from mcverify.cli.main import main
from mcverify.errors import AuditError

ROOT = Path(__file__).resolve().parents[2]


def good(mean, std):  # type: ignore[no-untyped-def]
    return 0.5 * (std**2 + mean**2 - 1.0 - np.log(std**2))


def wide(std) -> np.ndarray:  # type: ignore[no-untyped-def]
    return np.asarray(std) > 5.0


def test_raises_on_some_probes() -> None:
    def candidate(mean, std):  # type: ignore[no-untyped-def]
        if np.any(wide(std)):
            raise ValueError("too wide")
        return good(mean, std)

    r = audit(candidate, "prior-std", samples=0)
    status = r.table.set_index("probe")["status"]
    bad = r.table["std"] > 5
    assert r.verdict == "fail" and (status[bad.to_numpy()] == "raised").all()
    assert (status[~bad.to_numpy()] == "ok").all()
    assert r.properties["raised"] == int(bad.sum()) > 0
    assert any("raises at" in p and "ValueError: too wide" in p for p in r.problems)


def test_nan_on_some_probes() -> None:
    r = audit(lambda mean, std: np.where(wide(std), np.nan, good(mean, std)), "prior-std", samples=0)
    assert r.verdict == "fail" and r.properties["nonfinite"] == int((r.table["std"] > 5).sum())
    assert any("non-finite results" in p for p in r.problems)


def test_wrong_shape() -> None:
    with pytest.raises(AuditError, match=r"raised on every probe \(first: returned shape \(3,\) where one number"):
        audit(lambda mean, std: np.zeros(3), "prior-std", samples=0)
    # right one at a time but not batched: called once per probe, and passes
    r = audit(lambda mean, std: good(mean, std) if np.ndim(std) == 0 else np.zeros(5), "prior-std", samples=0)
    assert r.verdict == "pass" and r.calls == "one per probe"


def test_printing_is_captured_and_reported(capsys: pytest.CaptureFixture[str]) -> None:
    def chatty(mean, std):  # type: ignore[no-untyped-def]
        print("computing", np.shape(std))
        return good(mean, std)

    r = audit(chatty, "prior-std", samples=0)
    assert capsys.readouterr() == ("", "")
    assert r.verdict == "pass" and r.properties["printing_calls"] >= 1
    assert any("prints while computing" in w and "first line: 'computing (" in w for w in r.warnings)


def test_sleeping_past_the_timeout_on_some_probes() -> None:
    def slow_when_wide(mean, std):  # type: ignore[no-untyped-def]
        if np.any(wide(std)):
            time.sleep(1.0)
        return good(mean, std)

    t0 = time.monotonic()
    r = audit(slow_when_wide, "prior-std", samples=0, timeout=0.1)
    assert time.monotonic() - t0 < 10
    t = r.table
    assert r.verdict == "fail" and r.properties["timed_out"] > 0
    assert set(t["status"][t["std"] > 5]) == {"timeout"}
    # the others pass, but for those not called once ten calls had timed out
    narrow = t[t["std"] <= 5]
    not_called = narrow["message"].str.contains("not called: the candidate already timed out 10 times")
    assert set(narrow["status"][~not_called]) == {"ok"} and (~not_called).sum() > 40
    assert set(narrow["status"][not_called]) <= {"timeout"}
    assert any("no result in time" in p and "0.1 s" in p for p in r.problems)
    assert any("stopped calling the candidate after 10 timeouts" in n for n in r.notes)


def test_a_batched_call_may_take_three_per_call_timeouts() -> None:
    # A batched call does the work of many calls (and JAX compiles each batch shape): it gets
    # BATCH_TIMEOUTS per-call timeouts before the audit falls back to one call per probe.
    from mcverify.auditing.registry import BATCH_TIMEOUTS

    assert BATCH_TIMEOUTS == 3

    release = threading.Event()  # ends the abandoned batched call: no thread outlives the test

    def slow_batches(pause: float):  # type: ignore[no-untyped-def]
        def candidate(mean, std):  # type: ignore[no-untyped-def]
            if np.ndim(std) > 0:
                release.wait(pause)
            return good(mean, std)

        return candidate

    r = audit(slow_batches(0.6), "prior-std", samples=0, timeout=0.4)  # 0.4 < 0.6 < 1.2 s
    assert r.verdict == "pass" and r.calls == "batched" and r.properties["timed_out"] == 0
    try:
        r = audit(slow_batches(30.0), "prior-std", samples=0, timeout=0.4)
    finally:
        release.set()
    assert r.verdict == "pass" and r.calls == "one per probe"
    assert any("no result within 1.2 s (a batched call's timeout)" in n for n in r.notes), r.notes


def test_hanging_everywhere_stops_after_three_timeouts() -> None:
    t0 = time.monotonic()
    with pytest.raises(AuditError, match="CandidateTimeout"):
        audit(lambda mean, std: time.sleep(2.0), "prior-std", samples=0, timeout=0.1)
    assert time.monotonic() - t0 < 1.5  # three timeouts, then no more calls


def test_mutating_inputs_is_reported_and_harmless() -> None:
    def mutates(mean, std):  # type: ignore[no-untyped-def]
        value = good(mean, std)
        if np.ndim(std):
            std *= 2.0
        return value

    r = audit(mutates, "prior-std", samples=0)
    assert r.verdict == "pass" and r.properties["mutating_calls"] >= 1
    assert any(w.startswith("writes into its arguments: std") for w in r.warnings)
    again = audit(good, "prior-std", samples=0)  # the cached probes are intact
    assert again.verdict == "pass" and not any("writes into" in w for w in again.warnings)


def test_sys_exit_does_not_end_the_audit() -> None:
    def exits(mean, std):  # type: ignore[no-untyped-def]
        if np.any(wide(std)):
            sys.exit(3)
        return good(mean, std)

    r = audit(exits, "prior-std", samples=0)
    assert r.verdict == "fail" and r.properties["raised"] > 0
    assert any("CandidateExit: called sys.exit(3)" in p for p in r.problems)


def test_timeout_argument_is_checked() -> None:
    for bad in (-1.0, float("nan"), float("inf"), "10", True):
        with pytest.raises(AuditError, match="timeout must be"):
            audit(good, "prior-std", samples=0, timeout=bad)  # type: ignore[arg-type]
    assert audit(good, "prior-std", samples=0, timeout=0).verdict == "pass"  # no limit


CANDIDATES = """
import os, sys, time
import numpy as np

def chatty(mean, std):
    print("python-level output")
    sys.stdout.flush()
    os.write(1, b"C-level output\\n")
    return 0.5 * (std**2 + mean**2 - 1.0 - np.log(std**2))

def hangs(mean, std):
    time.sleep(60)
"""


def cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return commands.mcverify(*args, cwd=cwd, timeout=120)


def test_json_stays_parseable_when_the_candidate_prints(tmp_path: Path) -> None:
    (tmp_path / "cands.py").write_text(CANDIDATES)
    proc = cli("audit", "cands.py:chatty", "-c", "prior-std", "--samples", "0", "--json", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    # Both writes are captured in the child (descriptor 1 as well): none reaches the terminal.
    assert report["verdict"] == "pass" and proc.stderr == ""
    assert any("prints while computing" in w for w in report["warnings"])
    calls = report["properties"]["printing_calls"]
    assert calls >= 1 and report["output"]["lines"] == 2 * calls
    assert report["output"]["head"].startswith("python-level output\nC-level output\n")


def test_cli_timeout(tmp_path: Path) -> None:
    (tmp_path / "cands.py").write_text(CANDIDATES)
    t0 = time.monotonic()
    proc = cli("audit", "cands.py:hangs", "-c", "prior-std", "--timeout", "0.2", cwd=tmp_path)
    assert time.monotonic() - t0 < 30
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1
    assert "CandidateTimeout: no result within 0.2 s" in proc.stderr
    for bad in ("-1", "abc", "inf"):
        code = main(["audit", "--expr", "std", "-c", "prior-std", "--timeout", bad])
        assert code == 2
    assert main(["audit", "--expr", "std", "-c", "prior-std", "--samples", str(10**13)]) == 2


HOSTILE_EXPRESSIONS = [
    "__import__('os').system('touch pwned')",
    "std.__class__.__mro__",
    "open('pwned', 'w')",
    "exec('1')",
    "eval('std')",
    "globals()",
    "(lambda: std)()",
    "[x for x in (1,)]",
    "std if std else 1",
    "f'{std}'",
    "'text'",
    "b'bytes'",
    "std[0]",
    "std == 1",
    "not std",
    "~std",
    "std // 2",
    "std % 2",
    "std << 1",
    "std and mean",
    "{}",
    "...",
    "None",
    "True",
    "1j",
    "log(std, 2)",
    "log(x=std)",
    "log(*[std])",
    "pi.real",
    "(std := 2)",
    "std; 1",
    "import os",
    "std\n__import__('os')",
    "std\x00",
    "1" + "0" * 400 + " * std",
    "-" * 100 + "std",
    "std" + "+std" * 700,
    "",
]


@pytest.mark.parametrize("expr", HOSTILE_EXPRESSIONS, ids=range(len(HOSTILE_EXPRESSIONS)))
def test_expr_accepts_only_arithmetic(
    expr: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(["audit", f"--expr={expr}", "-c", "prior-std"]) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err.count("\n") == 1 and "Traceback" not in captured.err
    assert captured.err.startswith("mcverify: error: ")
    assert list(tmp_path.iterdir()) == []  # nothing ran


def test_audit_output_file_is_never_overwritten_unless_asked(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "report.json"
    out.write_text("keep me\n")
    args = ["audit", "--expr", "0.5*(std**2 + mean**2 - 1 - log(std**2))", "-c", "prior-std", "--samples", "0"]
    assert main([*args, "-o", str(out)]) == 0
    err = capsys.readouterr().err
    assert f"{out} exists: wrote {tmp_path / 'report-2.json'} (--overwrite replaces it)" in err
    assert out.read_text() == "keep me\n" and json.loads((tmp_path / "report-2.json").read_text())["verdict"] == "pass"
    assert main([*args, "-o", str(out), "--overwrite"]) == 0
    assert capsys.readouterr().err == "" and json.loads(out.read_text())["verdict"] == "pass"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report-2.json", "report.json"]
    assert main([*args, "-o", str(tmp_path)]) == 2
    assert "is a folder" in capsys.readouterr().err
