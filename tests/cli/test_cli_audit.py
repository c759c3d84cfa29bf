"""`mcverify audit` as users run it: subprocess, JSON, exit codes, output files."""

from __future__ import annotations

import json
import os
import subprocess
import textwrap
from pathlib import Path

import commands
import pytest
from lazymodules import needs

from mcverify.cli.main import main
from tests.cli.test_cli import in_process

ROOT = Path(__file__).resolve().parents[2]
CLASSIC = "0.5*(std**2 - 1 - log10(std**2))"

USER_CODE = textwrap.dedent(
    """
    import math
    import numpy as np

    def vae_kl(mean, logvar):
        return -0.5 * np.sum(1 + logvar - mean**2 - np.exp(logvar), axis=-1)

    def vae_kl_averaged(mean, logvar):
        return -0.5 * np.mean(1 + logvar - mean**2 - np.exp(logvar), axis=-1)

    def broken(mean, logvar):
        raise RuntimeError("not implemented yet")

    NOT_A_FUNCTION = 3
    """
)


def run(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return commands.mcverify("audit", *args, cwd=cwd, timeout=120)


@pytest.fixture
def user_dir(tmp_path: Path) -> Path:
    (tmp_path / "losses.py").write_text(USER_CODE)
    return tmp_path


def test_classic_expr_fails_with_diagnosis_and_evidence(tmp_path):
    out = run("--expr", CLASSIC, "--convention", "prior-std", "--samples", "5000", cwd=tmp_path)
    assert out.returncode == 1, out.stderr
    assert out.stderr == ""
    text = out.stdout
    assert "FAIL" in text.splitlines()[0]
    assert "Diagnosis: log10 + missing-mean" in text
    assert "negative for std in (0.3703, 1), where the true KL is positive" in text
    assert "zero at std = 0.3703" in text
    assert "Monte Carlo" in text and "candidate z =" in text


def test_json_output(tmp_path):
    out = run("--expr", CLASSIC, "-c", "prior-std", "--json", "--samples", "5000", cwd=tmp_path)
    assert out.returncode == 1
    report = json.loads(out.stdout)
    assert report["verdict"] == "fail"
    assert report["convention"] == "prior-std"
    assert report["diagnoses"][0] == ["log10", "missing-mean"]
    assert isinstance(report["warnings"], list)
    worst = report["failures"][0]
    assert worst["params"] == {"mean": -1000.0, "std": 1.0}
    assert worst["evidence"]["z_candidate"] > 100
    scale = next(r for r in report["regions"] if r["sweep"] == "scale")
    assert 0.370 < scale["zeros"][0][0] < 0.371 and scale["negative"][0][1] == 1.0


def test_file_target_passes(user_dir):
    out = run("losses.py:vae_kl", "--convention", "diag-prior-logvar", cwd=user_dir)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "PASS" in out.stdout


def test_module_target_fails_with_diagnosis(user_dir):
    out = run("losses:vae_kl_averaged", "-c", "diag-prior-logvar", "--json", "--samples", "2000", cwd=user_dir)
    assert out.returncode == 1, out.stderr
    assert json.loads(out.stdout)["diagnoses"][0] == ["mean-over-dims"]


BAD_INPUT = [
    (["missing.py:kl", "-c", "prior-std"], "missing.py: no such file"),
    (["losses.py:nope", "-c", "prior-std"], "losses.py has no function 'nope'"),
    (["losses.py:NOT_A_FUNCTION", "-c", "prior-std"], "is not callable"),
    (["nosuchpackage.mod:kl", "-c", "prior-std"], "cannot import 'nosuchpackage.mod'"),
    (["losses.py", "-c", "prior-std"], "TARGET must be"),
    (["losses.py:vae_kl", "-c", "prior-sd"], "invalid choice: 'prior-sd'"),
    (
        ["losses.py:broken", "-c", "diag-prior-logvar"],
        "raised on every probe (first: RuntimeError: not implemented yet)",
    ),
    (["--expr", "__import__('os').system('echo hi')", "-c", "prior-std"], "attribute access .system"),
    (["--expr", "import os", "-c", "prior-std"], "not an arithmetic expression"),
    (["--expr", "std", "losses.py:vae_kl", "-c", "prior-std"], "give either TARGET"),
    (["-c", "prior-std"], "give either TARGET"),
]


@pytest.mark.parametrize("args,message", [BAD_INPUT[i] for i in (0, 5, 6, 7)])
def test_bad_input_exits_2_with_one_line(user_dir, args, message):
    out = run(*args, cwd=user_dir)
    assert out.returncode == 2
    assert out.stdout == ""
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("mcverify: error:")
    assert message in lines[0]


@pytest.mark.parametrize("args,message", BAD_INPUT)
def test_bad_input_in_process(user_dir, monkeypatch, capsys, args, message):
    monkeypatch.chdir(user_dir)
    assert main(["audit", *args]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and message in lines[0]


@pytest.mark.parametrize("suffix", [".json", ".csv", ".txt"])
def test_output_file(tmp_path, suffix, capsys):
    path = tmp_path / f"report{suffix}"
    code = main(["audit", "--expr", CLASSIC, "-c", "prior-std", "--samples", "2000", "-o", str(path)])
    assert code == 1
    assert "Diagnosis" in capsys.readouterr().out
    text = path.read_text()
    if suffix == ".json":
        data = json.loads(text)
        assert data["diagnoses"][0] == ["log10", "missing-mean"] and len(data["table"]) == 88
    elif suffix == ".csv":
        assert text.splitlines()[0].startswith("probe,group,d,mean,std,candidate,truth")
        assert len(text.splitlines()) == 89  # 88 probes and the header
    else:
        assert text.startswith("mcverify audit of expr")


def test_output_folder_must_exist(tmp_path, capsys):
    code = main(["audit", "--expr", CLASSIC, "-c", "prior-std", "-o", str(tmp_path / "no" / "r.json")])
    assert code == 2
    assert "does not exist" in capsys.readouterr().err


def test_expr_rejects_torch_backend(capsys):
    assert main(["audit", "--expr", "std", "-c", "prior-std", "--backend", "torch"]) == 2
    assert "--expr is evaluated with numpy" in capsys.readouterr().err


def test_in_process_pass(capsys):
    code = main(["audit", "--expr", "0.5*(var + mean**2 - 1 - log(var))", "-c", "prior-var", "--json"])
    assert code == 0
    assert json.loads(capsys.readouterr().out)["verdict"] == "pass"


# ------------------------------------- a candidate that ends the process never passes
ENDINGS = textwrap.dedent(
    """
    import os
    import sys
    import numpy as np

    WHEN = os.environ.get("MCV_TEST_END", "")
    if WHEN == "sys.exit at import":
        sys.exit(0)
    if WHEN == "os._exit at import":
        os._exit(0)
    if WHEN == "patch at import":
        import mcverify.auditing.report as r
        r.AuditReport.summary = lambda self: "PASS (patched)"
        r.AuditReport.passed = property(lambda self: True)

    def kl(mean, logvar):
        if WHEN == "os._exit in a call":
            os._exit(0)
        if WHEN == "crash in a call":
            import ctypes
            ctypes.string_at(0)
        return 0.5 * np.sum(np.exp(logvar) + mean**2 - 1 - logvar / np.log(10), axis=-1)  # wrong: log10
    """
)


def run_ending(tmp_path: Path, when: str, *extra: str) -> subprocess.CompletedProcess[str]:
    (tmp_path / "ends.py").write_text(ENDINGS)
    return commands.mcverify(
        "audit",
        "ends.py:kl",
        "-c",
        "diag-prior-logvar",
        "--samples",
        "0",
        *extra,
        cwd=tmp_path,
        runtime_env={"MCV_TEST_END": when},
        timeout=120,
    )


@pytest.mark.parametrize("when", ["sys.exit at import", "os._exit at import"])
def test_candidate_ending_the_process_at_import_is_exit_2(tmp_path, when):
    """Regression: sys.exit(0) / os._exit(0) at import ended the audit with exit 0 and no report."""
    out = run_ending(tmp_path, when)
    assert out.returncode == 2, (out.stdout, out.stderr)
    assert out.stdout == ""
    (line,) = out.stderr.splitlines()
    assert line.startswith("mcverify: error: ends.py") and "no audit was made" in line
    assert ("sys.exit(0)" if "sys.exit" in when else "ended the process (exit status 0)") in line


@pytest.mark.parametrize(
    ("when", "how"), [("os._exit in a call", "exit status 0"), ("crash in a call", "signal SIGSEGV")]
)
def test_candidate_ending_the_process_in_a_call_fails(tmp_path, when, how):
    """Regression: os._exit(0) in a call ended the audit with exit 0 and no report."""
    out = run_ending(tmp_path, when)
    assert out.returncode == 1, (out.stdout, out.stderr)
    (line,) = out.stderr.splitlines()
    assert (
        line
        == f"mcverify: audit: FAIL: ends.py:kl: the candidate ended the audit's process ({how}) before the audit finished"
    )
    report = json.loads(run_ending(tmp_path, when, "--json").stdout)  # one JSON object, a failing verdict
    assert report["verdict"] == "fail" and how in report["problems"][0]


def test_candidate_patching_mcverify_at_import_cannot_turn_a_fail_into_a_pass(tmp_path):
    out = run_ending(tmp_path, "patch at import")
    assert out.returncode == 1, (out.stdout, out.stderr)
    assert out.stdout.splitlines()[0].endswith("FAIL") and "patched" not in out.stdout
    control = run_ending(tmp_path, "")
    assert control.returncode == 1 and control.stdout == out.stdout


# ------------------------------------------------ hostile inputs: files, bytes, result types, shadowing
def one_line_exit_2(out: subprocess.CompletedProcess[str]) -> str:
    assert out.returncode == 2, (out.stdout, out.stderr)
    assert out.stdout == "" and "Traceback" not in out.stderr
    (line,) = out.stderr.splitlines()
    assert line.startswith("mcverify: error: ") and line.isprintable()
    return line


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs named pipes")
def test_fifo_target_is_refused_without_hanging(tmp_path):
    os.mkfifo(tmp_path / "losses.py")
    out_file = tmp_path / "report.json"
    line = one_line_exit_2(run("losses.py:kl", "-c", "prior-std", "-o", str(out_file), cwd=tmp_path))
    assert line == "mcverify: error: losses.py: not a regular file (a FIFO)"
    assert not out_file.exists()


def test_folder_target_is_refused(tmp_path):
    (tmp_path / "losses.py").mkdir()
    line = one_line_exit_2(run("losses.py:kl", "-c", "prior-std", cwd=tmp_path))
    assert line == "mcverify: error: losses.py: not a regular file (a folder)"


@pytest.mark.parametrize("expr", ["std\udcff", "0.5*(std**2 - 1) + \udc80"], ids=["invalid-byte", "lone-surrogate"])
def test_expr_that_is_not_utf8_is_one_line(tmp_path, expr):
    """Regression: an --expr with a byte that is not UTF-8 crashed with UnicodeEncodeError (exit 3)."""
    line = one_line_exit_2(run("--expr", expr, "-c", "prior-std", "-o", str(tmp_path / "r.json"), cwd=tmp_path))
    assert line.startswith("mcverify: error: --expr: not UTF-8 text: '\\udc")
    assert list(tmp_path.iterdir()) == []


def test_target_file_name_that_is_not_utf8_works(tmp_path):
    """A target named b"l\\xffsses.py" is audited; the report names it with the byte written as \\xff."""
    try:
        with open(os.fsencode(tmp_path) + b"/l\xffsses.py", "w") as fh:
            fh.write(USER_CODE)
    except OSError as exc:
        pytest.skip(f"the file system refuses the name: {exc}")
    out = run("l\udcffsses.py:vae_kl", "-c", "diag-prior-logvar", "--samples", "0", cwd=tmp_path)
    assert out.returncode == 0, (out.stdout, out.stderr)
    assert out.stdout.splitlines()[0] == (
        "mcverify audit of l\\xffsses.py:vae_kl (diag-prior-logvar, numpy backend): PASS"
    )


TYPED = textwrap.dedent(
    """
    import numpy as np

    def kl(mean, std):
        return 0.5 * (std**2 + mean**2 - 1 - np.log(std**2))

    def kl_complex(mean, std):
        return kl(mean, std) + 5j

    def kl_zero_imaginary(mean, std):
        return kl(mean, std) + 0j

    def kl_text(mean, std):
        return str(float(kl(mean, std)))

    def kl_object(mean, std):
        return object()
    """
)


@pytest.mark.parametrize(
    ("func", "message", "as_subprocess"),
    [
        ("kl_complex", "returns complex values (5j) at", True),  # the first probe: mean = 0, std = 1, KL = 0
        ("kl_text", "returns text ('0.0') at", False),  # main() in this process: the same audit, in a child too
        ("kl_object", "returns object values", False),
    ],
)
def test_result_that_is_not_real_numbers_fails(tmp_path, capsys, monkeypatch, func, message, as_subprocess):
    """Regression: KL + 5j passed (the imaginary part was dropped), and so did str(KL)."""
    (tmp_path / "typed.py").write_text(TYPED)

    def call(*args: str) -> subprocess.CompletedProcess[str]:
        if as_subprocess:
            return run(*args, cwd=tmp_path)
        return in_process(capsys, "audit", *args, cwd=tmp_path, monkeypatch=monkeypatch)

    out = call(f"typed.py:{func}", "-c", "prior-std", "--samples", "0", "--json")
    assert out.returncode == 1, (out.stdout, out.stderr)
    assert "Traceback" not in out.stderr
    report = json.loads(out.stdout)
    assert report["verdict"] == "fail" and report["properties"]["wrong_type"] == report["probes"]
    problem = next(p for p in report["problems"] if "a KL divergence is a real number" in p)
    assert message in problem, problem
    text = call(f"typed.py:{func}", "-c", "prior-std", "--samples", "0")
    assert text.returncode == 1 and "FAIL" in text.stdout.splitlines()[0] and message in text.stdout


def test_complex_result_with_zero_imaginary_part_is_accepted(tmp_path):
    """Documented choice: a complex result whose imaginary part is exactly zero counts as its real part."""
    (tmp_path / "typed.py").write_text(TYPED)
    out = run("typed.py:kl_zero_imaginary", "-c", "prior-std", "--samples", "0", cwd=tmp_path)
    assert out.returncode == 0, (out.stdout, out.stderr)
    assert "PASS" in out.stdout.splitlines()[0]


def test_modules_beside_the_target_do_not_shadow_libraries(tmp_path):
    """Regression: the target's folder went first on sys.path, so a pandas.py beside it replaced pandas.

    A sibling module the target imports (helper_mod) still imports.
    """
    code = tmp_path / "code"
    code.mkdir()
    for lib in ("pandas", "scipy", "numpy"):
        (code / f"{lib}.py").write_text(f"raise RuntimeError('the {lib}.py beside the target was imported')\n")
    (code / "helper_mod.py").write_text("HALF = 0.5\n")
    (code / "losses.py").write_text(
        "import numpy as np\nimport pandas\nfrom helper_mod import HALF\n\n"
        "def vae_kl(mean, logvar):\n"
        "    return -HALF * np.sum(1 + logvar - mean**2 - np.exp(logvar), axis=-1)\n"
    )
    elsewhere = tmp_path / "elsewhere"  # python -m puts the working folder first itself: run from another
    elsewhere.mkdir()
    report = tmp_path / "report.json"
    out = run(str(code / "losses.py") + ":vae_kl", "-c", "diag-prior-logvar", "-o", str(report), cwd=elsewhere)
    assert out.returncode == 0, (out.stdout, out.stderr)
    assert "PASS" in out.stdout.splitlines()[0] and "beside the target" not in out.stdout + out.stderr
    assert json.loads(report.read_text())["verdict"] == "pass"


@needs("torch", here=False)
def test_torch_py_beside_the_target_does_not_shadow_the_torch_backend(tmp_path):
    """Regression: the backend imported torch after the target's folder went first on sys.path."""
    (tmp_path / "torch.py").write_text("raise RuntimeError('the torch.py beside the target was imported')\n")
    (tmp_path / "losses.py").write_text(
        "def vae_kl(mean, logvar):\n    return -0.5 * (1 + logvar - mean**2 - logvar.exp()).sum(-1)\n"
    )
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    target = str(tmp_path / "losses.py") + ":vae_kl"
    out = run(target, "-c", "diag-prior-logvar", "--backend", "torch", "--samples", "0", cwd=elsewhere)
    assert out.returncode == 0, (out.stdout, out.stderr)
    assert "PASS" in out.stdout.splitlines()[0] and "beside the target" not in out.stdout + out.stderr


# ------------------------------------------------ what the candidate writes: captured, summarised, never on the terminal
#: Each way a candidate writes, once at import ("import") or once per call ("call"): the statement and the line it writes.
WRITERS = {
    "os.write(1)": ("os.write(1, b'fd 1 noise\\n')", "fd 1 noise"),
    "os.write(2)": ("os.write(2, b'fd 2 noise\\n')", "fd 2 noise"),
    "print": ("print('print noise')", "print noise"),
    "print to stderr": ("print('stderr noise', file=sys.stderr)", "stderr noise"),
    "print from a thread": (
        "t = threading.Thread(target=lambda: print('thread noise')); t.start(); t.join()",
        "thread noise",
    ),
    "os.write from a thread": (
        "t = threading.Thread(target=lambda: os.write(2, b'thread fd noise\\n')); t.start(); t.join()",
        "thread fd noise",
    ),
    "C printf and fflush": (
        "libc = ctypes.CDLL(None); libc.printf(b'C noise\\n'); libc.fflush(None)",
        "C noise",
    ),
    "C printf without fflush": ("ctypes.CDLL(None).printf(b'C buffered noise\\n')", "C buffered noise"),
    "sys.stdout.buffer": ("sys.stdout.buffer.write(b'buffer noise\\n'); sys.stdout.flush()", "buffer noise"),
    "print to sys.__stderr__": ("print('dunder noise', file=sys.__stderr__, flush=True)", "dunder noise"),
}


def writing_candidate(statement: str, when: str) -> str:
    body = "    return 0.5 * (std**2 + mean**2 - 1 - np.log(std**2))\n"
    head = "import ctypes, os, sys, threading\nimport numpy as np\n"
    if when == "import":
        return head + statement + "\n\ndef kl(mean, std):\n" + body
    return head + "\ndef kl(mean, std):\n    " + statement + "\n" + body


@pytest.mark.parametrize(
    ("writer", "when"),
    # C's buffer is flushed when the child ends (whether a call wrote depends on the C library's buffering):
    [(w, when) for w in WRITERS for when in ("import", "call") if (w, when) != ("C printf without fflush", "call")],
)
def test_json_is_one_object_whatever_the_candidate_writes(tmp_path, writer, when):
    """Every writer, at import and in every call: stdout is the one JSON object, stderr stays empty,
    and the report counts what was written exactly."""
    statement, line = WRITERS[writer]
    (tmp_path / "cand.py").write_text(writing_candidate(statement, when))
    out = run("cand.py:kl", "-c", "prior-std", "--samples", "0", "--json", cwd=tmp_path)
    assert out.returncode == 0, (out.stdout, out.stderr)
    assert out.stderr == ""  # nothing of the candidate's on the terminal, and mcverify had nothing to say
    report = json.loads(out.stdout)  # the whole of stdout: exactly one JSON object
    assert report["verdict"] == "pass"
    calls = report["properties"]["printing_calls"]
    times = 1 if when == "import" else calls
    assert times >= 1 and (calls == 0) == (when == "import")
    expected = (line + "\n") * times
    assert report["output"] == {
        "bytes": len(expected),
        "lines": times,
        "head": expected,
        "tail": "",
        "omitted_bytes": 0,
    }
    (warning,) = [w for w in report["warnings"] if w.startswith("prints ")]
    counts = f"{times} line{'s' * (times > 1)}, {len(expected)} bytes in all on stdout/stderr"
    assert counts in warning and f"first line: '{line}'" in warning


def test_text_mode_summarises_the_output_instead_of_echoing_it(tmp_path):
    statement, line = WRITERS["os.write(1)"]
    (tmp_path / "cand.py").write_text(writing_candidate(statement, "import"))
    out = run("cand.py:kl", "-c", "prior-std", "--samples", "0", cwd=tmp_path)
    assert out.returncode == 0 and out.stderr == "", (out.stdout, out.stderr)
    assert out.stdout.splitlines()[0].endswith("PASS") and out.stdout.count(line) == 1
    assert (
        "  - prints outside its calls (at import or from a thread; 1 line, 11 bytes in all on stdout/stderr; "
        "first line: 'fd 1 noise'); the output was captured so that it cannot mix with the report"
    ) in out.stdout.splitlines()
    quiet = run("cand.py:kl", "-c", "prior-std", "--samples", "0", "-q", cwd=tmp_path)
    assert (quiet.returncode, quiet.stdout, quiet.stderr) == (0, "", "")


def test_much_output_keeps_its_head_and_tail_with_exact_counts(tmp_path):
    (tmp_path / "cand.py").write_text(
        writing_candidate("for k in range(20000):\n    os.write(1, b'line %d\\n' % k)", "import")
    )
    out = run("cand.py:kl", "-c", "prior-std", "--samples", "0", "--json", cwd=tmp_path)
    assert out.returncode == 0 and out.stderr == "", out.stderr
    output = json.loads(out.stdout)["output"]
    size = sum(len(f"line {k}\n") for k in range(20000))
    assert (output["bytes"], output["lines"]) == (size, 20000)
    assert output["head"].startswith("line 0\nline 1\n") and output["tail"].endswith("line 19998\nline 19999\n")
    assert len(output["head"]) + len(output["tail"]) + output["omitted_bytes"] == size


DIES = textwrap.dedent(
    """
    import ctypes, os, sys
    import numpy as np

    WHEN = os.environ["MCV_TEST_END"]
    print("loading the model")
    if WHEN == "crash at import":
        print("about to crash at import", file=sys.stderr)
        ctypes.string_at(0)

    def kl(mean, std):
        for k in range(30):
            print(f"step {k}")
        os.write(2, b"last words before the crash\\n")
        if WHEN == "crash in a call":
            ctypes.string_at(0)
        os._exit(0)
    """
)


@pytest.mark.parametrize("when", ["crash in a call", "os._exit in a call", "crash at import"])
def test_a_candidate_that_printed_before_dying_shows_its_last_output(tmp_path, when):
    (tmp_path / "dies.py").write_text(DIES)
    argv = ["audit", "dies.py:kl", "-c", "prior-std", "--samples", "0"]

    def call(*extra: str) -> subprocess.CompletedProcess[str]:
        return commands.mcverify(*argv, *extra, cwd=tmp_path, runtime_env={"MCV_TEST_END": when}, timeout=120)

    text = call()
    lines = text.stderr.splitlines()
    assert text.stdout == "" and text.returncode == (2 if when == "crash at import" else 1), text.stderr
    assert lines[0].startswith(
        "mcverify: error: dies.py:kl: importing it ended" if when == "crash at import" else "mcverify: audit: FAIL:"
    )
    if when == "crash at import":
        assert lines[1:] == [
            "  the candidate wrote 2 lines, 43 bytes to stdout/stderr:",
            "  | loading the model",
            "  | about to crash at import",
        ]
    else:
        size = len("loading the model\n") + sum(len(f"step {k}\n") for k in range(30)) + 28
        assert lines[1] == f"  the candidate wrote 32 lines, {size} bytes to stdout/stderr; the last 10:"
        assert lines[2:] == [f"  | step {k}" for k in range(21, 30)] + ["  | last words before the crash"]

    as_json = call("--json")
    assert as_json.returncode == text.returncode
    assert "step" not in as_json.stderr and "loading" not in as_json.stderr  # the terminal gets only mcverify's lines
    if when == "crash at import":
        assert as_json.stdout == ""
        assert as_json.stderr.splitlines()[1:] == [
            "  the candidate wrote 2 lines, 43 bytes to stdout/stderr (not shown with --json)"
        ]
    else:
        report = json.loads(as_json.stdout)  # one JSON object
        assert report["verdict"] == "fail" and report["output"]["lines"] == 32
        assert report["output"]["head"].startswith("loading the model\nstep 0\n")
        assert report["output"]["head"].endswith("step 29\nlast words before the crash\n")


def test_an_import_that_raises_after_printing_shows_the_output_under_the_error_line(tmp_path):
    (tmp_path / "cand.py").write_text("print('loading weights')\nraise ValueError('no weights file')\n")
    out = run("cand.py:kl", "-c", "prior-std", "--samples", "0", cwd=tmp_path)
    assert (out.returncode, out.stdout) == (2, ""), out.stderr
    assert out.stderr.splitlines() == [
        "mcverify: error: cand.py: importing it raised ValueError: no weights file",
        "  the candidate wrote 1 line, 16 bytes to stdout/stderr:",
        "  | loading weights",
    ]
    as_json = run("cand.py:kl", "-c", "prior-std", "--samples", "0", "--json", cwd=tmp_path)
    assert (as_json.returncode, as_json.stdout) == (2, "")
    assert as_json.stderr.splitlines()[1:] == [
        "  the candidate wrote 1 line, 16 bytes to stdout/stderr (not shown with --json)"
    ]
