"""The standing attack corpus: hostile configs, outputs, checkpoints, candidates and paths, through the CLI.

Each case builds its files in a fresh folder, runs ``mcverify`` as a user
would (``main(argv)`` in this process; the candidates and paths, whose point
is what a real process sees, as a process of their own: a fork of the suite's
command server, ``tests/commands.py``; every case as a fresh interpreter when
``MCVERIFY_CORPUS_SUBPROCESS=1``, as ``.ci/run`` runs them), and
checks the exit code, that an error is one line naming what is wrong with
no traceback, that nothing is left in the output folder when the case is
refused, and that no case hangs (each subprocess has a timeout).  Groups and
counts are listed by :func:`test_corpus_counts`.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from commands import mcverify

from mcverify.cli.main import main

ROOT = Path(__file__).resolve().parents[2]
GOOD = '[run]\nsamples = 1000\n[[pair]]\nname = "a"\np = { mean = 0.0, std = 2.0 }\nq = { mean = 0.0, std = 1.0 }\n'
CANDIDATE = (
    "import numpy as np\n"
    "def kl(mean_p, std_p, mean_q, std_q):\n"
    "    return np.log(std_q / std_p) + (std_p**2 + (mean_p - mean_q) ** 2) / (2 * std_q**2) - 0.5\n"
)


@dataclass(frozen=True)
class Case:
    """One hostile input: the files to make, the command, and what must come out."""

    group: str
    name: str
    files: dict[str, str]
    argv: list[str]
    code: int
    says: str = ""  # a piece of the one error line (exit 2) or of stderr
    setup: Callable[[Path], None] | None = None
    json_out: bool = False  # stdout must be exactly one JSON object
    # With json_out: the report's count of lines the candidate wrote (that many at import, plus
    # lines_per_call per call that printed), and nothing on stderr: the candidate's output is captured.
    output_lines: int | None = None
    lines_per_call: int = 0
    extra: dict[str, str] = field(default_factory=dict)


def pair(p: str, q: str) -> dict[str, str]:
    return {"cfg.toml": f'[run]\nsamples = 1000\n[[pair]]\nname = "a"\ndirection = "both"\np = {p}\nq = {q}\n'}


def sweep(p: str, q: str = "{ mean = 0.0, std = 1.0 }") -> dict[str, str]:
    return {"cfg.toml": f'[run]\nsamples = 1000\n[[sweep]]\nname = "s"\np = {p}\nq = {q}\n'}


def candidate(body: str) -> dict[str, str]:
    return {"cand.py": "import os, sys, threading, time\nimport numpy as np\n" + body}


RUN = ["run", "cfg.toml", "-o", "out", "--jobs", "1", "-q"]
AUDIT = ["audit", "cand.py:kl", "-c", "pair-std", "--samples", "0"]
KL_BODY = "    return np.log(s2 / s1) + (s1**2 + (m1 - m2) ** 2) / (2 * s2**2) - 0.5\n"


def writes(name: str, at_import: str, in_call: str, lines: tuple[int, int]) -> Case:
    """A correct candidate that writes at import and in each call, audited with ``--json``.

    ``lines``: the lines it writes at import, and in each call.
    """
    files = candidate(at_import + "def kl(m1, s1, m2, s2):\n" + in_call + KL_BODY)
    return Case(
        "candidates",
        name + ", with --json",
        files,
        [*AUDIT, "--json"],
        0,
        json_out=True,
        output_lines=lines[0],
        lines_per_call=lines[1],
    )


def _mkfifo(name: str) -> Callable[[Path], None]:
    def make(folder: Path) -> None:
        os.makedirs(folder / Path(name).parent, exist_ok=True)
        os.mkfifo(folder / name)

    return make


def _mkdir(name: str) -> Callable[[Path], None]:
    return lambda folder: (folder / name).mkdir(parents=True)


def _symlinked_checkpoint(folder: Path) -> None:
    (folder / "precious").mkdir()
    (folder / "precious" / "keep.txt").write_text("mine")
    (folder / "out").mkdir()
    (folder / "out" / ".cfg.checkpoint").symlink_to(folder / "precious", target_is_directory=True)


def _garbage_manifest(folder: Path) -> None:
    (folder / "out" / ".cfg.checkpoint").mkdir(parents=True)
    (folder / "out" / ".cfg.checkpoint" / "manifest.json").write_text("{not json")


CASES = [
    # ---------------------------------------------------------------- numbers beyond float64, levels
    Case(
        "numbers",
        "std 1e308",
        pair("{ mean = 0.0, std = 1e308 }", "{ mean = 0.0, std = 1.0 }"),
        RUN,
        2,
        "pair[1]: KL(p || q) = inf is beyond 1e+300",
    ),
    Case(
        "numbers",
        "means +-1e308",
        pair("{ mean = 1e308, std = 1.0 }", "{ mean = -1e308, std = 1.0 }"),
        RUN,
        2,
        "pair[1].p.mean: |mean| / std = 1e+308",
    ),
    Case(
        "numbers",
        "2-d mean 1e200",
        pair("{ mean = [1e200, 0.0], cov = [[1.0, 0.0], [0.0, 1.0]] }", "{ mean = [0.0, 0.0], std = 1.0 }"),
        RUN,
        2,
        "pair[1].p.mean",
    ),
    Case(
        "numbers",
        "denormal covariance",
        pair("{ mean = [0.0, 0.0], cov = [[1e-310, 5e-311], [5e-311, 1e-310]] }", "{ mean = [0.0, 0.0], std = 1.0 }"),
        RUN,
        2,
        "KL(q || p) = inf",
    ),
    Case(
        "numbers",
        "std 1e180 (warnings before)",
        pair("{ mean = 0.0, std = 1e180 }", "{ mean = 0.0, std = 1.0 }"),
        RUN,
        2,
        "KL(p || q) = inf",
    ),
    Case(
        "numbers",
        "std 1e308 in a values grid",
        sweep("{ mean = 0.0, std = { values = [1.0, 1e308] } }"),
        RUN,
        2,
        "sweep[1]: KL(p || q) = inf",
    ),
    Case(
        "numbers",
        "logspace to 1e300",
        sweep("{ mean = 0.0, std = { logspace = [0, 300, 4] } }"),
        RUN,
        2,
        "sweep[1]: KL(p || q) = inf is beyond 1e+300",
    ),
    Case(
        "numbers",
        "random SPD cond 1e16",
        sweep(
            '{ mean = 0.0, cov = { random = "spd", dim = 3, cond = 1e16 } }', "{ mean = [0.0, 0.0, 0.0], std = 1.0 }"
        ),
        RUN,
        2,
        "sweep[1].p.cov: condition number",
    ),
    Case(
        "numbers",
        "random SPD dim 5000",
        sweep('{ mean = 0.0, cov = { random = "spd", dim = 5000, cond = 10.0 } }'),
        RUN,
        2,
        "full covariances of dimension 5,000",
    ),
    Case(
        "numbers",
        "alpha 0.9 with one case",
        {"cfg.toml": GOOD.replace("[run]", "[run]\nalpha = 0.9")},
        RUN,
        2,
        "run.alpha: must be below 0.8",
    ),
    Case("numbers", "--alpha 0.8", {"cfg.toml": GOOD}, [*RUN, "--alpha", "0.8"], 2, "alpha: must be below 0.8"),
    Case("numbers", "alpha 1e-300 runs", {"cfg.toml": GOOD.replace("[run]", "[run]\nalpha = 1e-300")}, RUN, 0),
    Case(
        "numbers",
        "confidence 1 - 1e-16 runs",
        {"cfg.toml": GOOD.replace("[run]", "[run]\nconfidence = 0.9999999999999999")},
        RUN,
        0,
    ),
    Case("numbers", "KL 5e97 runs", pair("{ mean = 0.0, std = 1.0 }", "{ mean = 1e49, std = 1.0 }"), RUN, 0),
    Case("numbers", "KL 9.8e299 runs", pair("{ mean = 0.0, std = 1.4e150 }", "{ mean = 0.0, std = 1.0 }"), RUN, 0),
    Case(
        "numbers",
        "KL 1e200 full covariance runs by qmc",
        pair("{ mean = [0.0, 1.0], cov = [[1e200, 5e199], [5e199, 1e200]] }", "{ mean = [0.0, 0.0], std = 1.0 }"),
        [*RUN, "--method", "qmc"],
        0,
    ),
    Case(
        "numbers",
        "KL 1.01e300 (just above)",
        pair("{ mean = 0.0, std = 1.42e150 }", "{ mean = 0.0, std = 1.0 }"),
        RUN,
        2,
        "pair[1]: KL(p || q) = 1.01e+300 is beyond 1e+300, the largest KL mcverify verifies",
    ),
    Case(
        "numbers",
        "k2 at KL 5e199",
        pair("{ mean = 0.0, std = 1.0 }", "{ mean = 1e100, std = 1.0 }"),
        [*RUN, "--estimators", "k2"],
        2,
        "pair[1]: KL(p || q) = 5e+199 is beyond 1e+150, where the k2 estimator",
    ),
    # ---------------------------------------------------------------- outputs
    Case(
        "outputs",
        "stem of 236 bytes",
        {"x" * 236 + ".toml": GOOD},
        ["run", "x" * 236 + ".toml", "-o", "out", "-q"],
        2,
        "the file name is too long for the file system",
    ),
    Case(
        "outputs",
        "x.provenance.toml as JSON",
        {"x.provenance.toml": GOOD},
        ["run", "x.provenance.toml", "-o", "out", "--format", "json"],
        2,
        "would take the name of the provenance file",
    ),
    Case(
        "outputs",
        "--format csv,csv",
        {"cfg.toml": GOOD},
        [*RUN, "--format", "csv,csv"],
        2,
        "two outputs of the run would be written to this file",
    ),
    Case(
        "outputs",
        "folder at the table's name",
        {"cfg.toml": GOOD},
        RUN,
        2,
        "a folder is in the way",
        setup=_mkdir("out/cfg.csv"),
    ),
    Case(
        "outputs",
        "FIFO at the provenance's name",
        {"cfg.toml": GOOD},
        RUN,
        2,
        "a special file (FIFO",
        setup=_mkfifo("out/cfg.provenance.json"),
    ),
    Case(
        "outputs",
        "-o under a regular file",
        {"cfg.toml": GOOD, "file": "x"},
        ["run", "cfg.toml", "-o", "file/out", "-q"],
        2,
        "Not a directory",
    ),
    Case(
        "outputs",
        "-o in /sys (EACCES for root too)",
        {"cfg.toml": GOOD},
        ["run", "cfg.toml", "-o", "/sys", "-q"],
        2,
        "/sys: cannot write in the folder: Permission denied",
    ),
    Case(
        "outputs",
        "report -o in /sys",
        {"t.csv": "config,name\n"},
        ["report", "t.csv", "-o", "/sys/r.md"],
        2,
        "/sys: cannot write in the folder",
    ),
    Case("outputs", "audit -o a folder", {"cand.py": CANDIDATE}, [*AUDIT, "-o", "."], 2, "is a folder"),
    Case(
        "outputs", "audit -o name too long", {"cand.py": CANDIDATE}, [*AUDIT, "-o", "r" * 240 + ".json"], 2, "too long"
    ),
    # ---------------------------------------------------------------- inputs that are not regular files
    Case("inputs", "FIFO as config", {}, RUN, 2, "not a regular file", setup=_mkfifo("cfg.toml")),
    Case("inputs", "folder as config", {}, RUN, 2, "not a regular file", setup=_mkdir("cfg.toml")),
    Case("inputs", "missing config", {}, RUN, 2, "No such file or directory"),
    Case("inputs", "binary garbage", {"cfg.toml": "\x00\x01\x02\xff"}, RUN, 2, "cfg.toml"),
    Case("inputs", "empty config", {"cfg.toml": ""}, RUN, 2, "nothing to verify"),
    # ---------------------------------------------------------------- checkpoints
    Case(
        "checkpoints",
        "symlinked checkpoint folder",
        {"cfg.toml": GOOD},
        RUN,
        2,
        "cfg.checkpoint",
        setup=_symlinked_checkpoint,
    ),
    Case(
        "checkpoints",
        "garbage manifest",
        {"cfg.toml": GOOD},
        RUN,
        2,
        "unreadable checkpoint manifest",
        setup=_garbage_manifest,
    ),
    Case(
        "checkpoints",
        "garbage manifest, --restart runs",
        {"cfg.toml": GOOD},
        [*RUN, "--restart"],
        0,
        setup=_garbage_manifest,
    ),
    # ---------------------------------------------------------------- candidates
    Case("candidates", "sys.exit at import", candidate("sys.exit(0)\n"), AUDIT, 2, "no audit was made"),
    Case(
        "candidates",
        "os._exit in a call",
        candidate("def kl(m1, s1, m2, s2):\n    os._exit(0)\n"),
        AUDIT,
        1,
        "ended the audit's process (exit status 0)",
    ),
    Case(
        "candidates",
        "holds the GIL past the timeout",
        candidate("def kl(m1, s1, m2, s2):\n    return sum(range(10**10))\n"),
        [*AUDIT, "--timeout", "0.5"],
        1,
        "killed: a call ran",
    ),
    Case(
        "candidates",
        "forks a child that keeps the pipes",
        candidate("if os.fork() == 0:\n    time.sleep(120)\n    os._exit(0)\ndef kl(m1, s1, m2, s2):\n" + KL_BODY),
        AUDIT,
        0,
    ),
    # A recursion limit too low for mcverify's own code is the candidate's to set in its process,
    # not the audit's: the audit still passes a correct formula, with one JSON object.
    Case(
        "candidates",
        "sys.setrecursionlimit(60) at import",
        candidate("sys.setrecursionlimit(60)\ndef kl(m1, s1, m2, s2):\n" + KL_BODY),
        [*AUDIT, "--json"],
        0,
        json_out=True,
    ),
    Case(
        "candidates",
        "sys.setrecursionlimit(40) in a call",
        candidate("def kl(m1, s1, m2, s2):\n    sys.setrecursionlimit(40)\n" + KL_BODY),
        AUDIT,
        0,
    ),
    Case(
        "candidates",
        "thread writing to fd 1 with --json",
        candidate(
            "threading.Thread(target=lambda: [os.write(1, b'noise\\n') or time.sleep(0.01) for _ in range(50)],"
            " daemon=True).start()\nprint('import-time print')\ndef kl(m1, s1, m2, s2):\n"
            "    os.write(1, b'call noise\\n')\n" + KL_BODY
        ),
        [*AUDIT, "--json"],
        0,
        json_out=True,
    ),
    writes(
        "writes to fd 1 and fd 2 at import and in every call",
        "os.write(1, b'import fd 1\\n')\nos.write(2, b'import fd 2\\n')\n",
        "    os.write(1, b'call fd 1\\n')\n    os.write(2, b'call fd 2\\n')\n",
        (2, 2),
    ),
    writes(
        "prints at import, to stderr, and from a thread",
        "print('import print')\nprint('import stderr', file=sys.stderr)\n"
        "t = threading.Thread(target=lambda: print('thread print')); t.start(); t.join()\n",
        "",
        (3, 0),
    ),
    writes(
        "C-level printf and fflush through ctypes, at import and in every call",
        "import ctypes\nlibc = ctypes.CDLL(None)\nlibc.printf(b'C flushed\\n')\nlibc.fflush(None)\n",
        "    libc.printf(b'C in a call\\n')\n    libc.fflush(None)\n",
        (1, 1),
    ),
    Case(
        "candidates",
        "crash in a call after printing: its last output follows the error line",
        candidate(
            "import ctypes\ndef kl(m1, s1, m2, s2):\n    print('step 1')\n"
            "    os.write(2, b'last words\\n')\n    ctypes.string_at(0)\n"
        ),
        AUDIT,
        1,
        "(signal SIGSEGV) before the audit finished\n  the candidate wrote 2 lines, 18 bytes to stdout/stderr:\n"
        "  | step 1\n  | last words\n",
    ),
    Case(
        "candidates",
        "memory blow-up in every call",
        candidate("def kl(m1, s1, m2, s2):\n    return bytearray(1 << 44)\n"),
        AUDIT,
        2,
        "MemoryError",
    ),
    Case(
        "candidates",
        "complex result fails, not converted",
        candidate("def kl(m1, s1, m2, s2):\n" + KL_BODY.replace("- 0.5", "- 0.5 + 5j")),
        AUDIT,
        1,
        "",
    ),
    Case(
        "candidates",
        "shadowing pandas.py beside it",
        {
            "sub/cand.py": candidate("def kl(m1, s1, m2, s2):\n" + KL_BODY)["cand.py"],
            "sub/pandas.py": "raise SystemExit('shadowed')\n",
        },
        ["audit", "sub/cand.py:kl", "-c", "pair-std", "--samples", "0"],
        0,
    ),
    # ---------------------------------------------------------------- paths
    Case(
        "paths",
        "config name not UTF-8",
        {},
        ["run", "cf\udcffg.toml", "-o", "out", "-q"],
        0,
        setup=lambda folder: (folder / os.fsdecode(b"cf\xffg.toml")).write_text(GOOD),
    ),
    Case(
        "paths",
        "missing config name not UTF-8",
        {},
        ["run", "cf\udcffg.toml", "-o", "out"],
        2,
        "cf\\xffg.toml: cannot read the config file",
    ),
]


def build(case: Case, folder: Path) -> None:
    for name, text in case.files.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text(text)
    if case.setup is not None:
        case.setup(folder)


def check(case: Case, code: int, out: str, err: str, folder: Path) -> None:
    assert code == case.code, (case.name, code, out, err)
    assert "Traceback" not in err, (case.name, err)
    if case.code == 2:
        assert err.count("\n") == 1 and err.startswith("mcverify: error: "), (case.name, err)
        assert case.says in err, (case.name, case.says, err)
        assert out == ""
        refused = folder / "out"
        if refused.is_dir() and case.group in ("numbers", "outputs", "inputs"):
            # nothing written: at most what the case itself put there
            made = {p.name for p in refused.iterdir()}
            assert made <= {"cfg.csv", "cfg.provenance.json"}, (case.name, made)
    elif case.says:
        assert case.says in err, (case.name, case.says, err)
    if case.json_out:
        report = json.loads(out)  # exactly one JSON object: nothing else on stdout
        if case.output_lines is not None:
            assert err == "", (case.name, err)  # the candidate's output reached neither stdout nor stderr
            calls = report["properties"]["printing_calls"]
            assert (calls > 0) == (case.lines_per_call > 0), (case.name, calls)
            assert report["output"]["lines"] == case.output_lines + case.lines_per_call * calls, (case.name, report)


def _skip_unless_possible(case: Case) -> None:
    if "/sys" in " ".join(case.argv) and not _sys_refuses_files():
        pytest.skip("needs a /sys that refuses new files")
    if case.setup is _mkfifo and not hasattr(os, "mkfifo"):  # pragma: no cover
        pytest.skip("needs FIFOs")


def _sys_refuses_files() -> bool:
    try:
        os.close(os.open("/sys/mcverify-probe", os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    except OSError:
        return True
    os.unlink("/sys/mcverify-probe")  # pragma: no cover
    return False  # pragma: no cover


def _needs_subprocess(case: Case) -> bool:
    """Cases whose point is what a real process sees: pipes held open, fd 1, a forked grandchild."""
    return case.group == "candidates" or case.group == "paths"


SUBPROCESS_ALL = os.environ.get("MCVERIFY_CORPUS_SUBPROCESS") == "1"


@pytest.mark.parametrize(
    "case",
    [pytest.param(c, marks=pytest.mark.slow) if _needs_subprocess(c) and not SUBPROCESS_ALL else c for c in CASES],
    ids=[f"{c.group}:{c.name}" for c in CASES],
)
def test_case(case: Case, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    _skip_unless_possible(case)
    build(case, tmp_path)
    if SUBPROCESS_ALL or _needs_subprocess(case):
        argv = [os.fsencode(a) for a in case.argv]
        if SUBPROCESS_ALL:  # a fresh interpreter per case (.ci/run)
            done = subprocess.run(
                [os.fsencode(sys.executable), b"-m", b"mcverify", *argv],
                capture_output=True,
                cwd=tmp_path,
                env=dict(os.environ, PYTHONPATH=str(ROOT), OMP_NUM_THREADS="1"),
                timeout=120,  # a case that hangs (a pipe held open) fails here
            )
        else:  # a process of its own, forked from the suite's command server (tests/commands.py)
            done = mcverify(*argv, cwd=tmp_path, timeout=120, text=False)
        out = done.stdout.decode("utf-8", "backslashreplace")
        err = done.stderr.decode("utf-8", "backslashreplace")
        check(case, done.returncode, out, err, tmp_path)
        return
    monkeypatch.chdir(tmp_path)
    code = main(case.argv)
    captured = capsys.readouterr()
    check(case, code, captured.out, captured.err, tmp_path)


def test_corpus_counts() -> None:
    """The corpus by group (the release notes quote these counts)."""
    counts = Counter(c.group for c in CASES)
    assert counts == {"numbers": 18, "outputs": 10, "inputs": 5, "checkpoints": 3, "candidates": 14, "paths": 2}
    assert len({(c.group, c.name) for c in CASES}) == len(CASES)
