"""The README and the documentation site: every example runs and prints what is shown; the generated tables."""

from __future__ import annotations

import importlib.util
import json
import re
import sys
import tomllib
from pathlib import Path

import pytest
from docexamples import (
    KINDS,
    PAGES,
    ROOT,
    Block,
    _printed,
    blocks,
    command_server,
    commands,
    matches,
    page_imports,
    run_console,
    run_python,
    run_toml,
    shared_modules,
    workdir,
    write_file,
)

from mcverify.studies.calibration import CELL_COLUMNS, FAMILY_COLUMNS
from mcverify.studies.convergence import FIT_COLUMNS, POINT_COLUMNS
from mcverify.tables.schema import COLUMNS, markdown_columns


def _hooks():
    spec = importlib.util.spec_from_file_location("docs_hooks", ROOT / "docs" / "hooks" / "reference.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _page_params():
    for page in PAGES:
        slow = "<!-- docs-test: slow -->" in (ROOT / page).read_text(encoding="utf-8")
        marks = [pytest.mark.slow] if slow else []
        yield pytest.param(page, marks=marks, id=page)


@pytest.mark.parametrize("page", _page_params())
def test_page_examples_run_and_print_what_is_shown(page, tmp_path, monkeypatch):
    page_blocks = blocks(page)
    unknown = [b.line for b in page_blocks if b.kind not in KINDS]
    assert not unknown, f"{page}: fenced blocks without a known kind ({', '.join(KINDS)}) at lines {unknown}"
    tmp = workdir(tmp_path)
    monkeypatch.chdir(tmp)
    monkeypatch.setenv("MPLBACKEND", "Agg")
    namespace: dict = {"__name__": "__docs__"}
    problems: list[str] = []
    missing: set[str] = set()
    with page_imports(tmp), command_server(tmp, shared_modules(page)):
        for block in page_blocks:
            if block.skip:
                continue
            if block.missing():
                missing.update(block.missing())
                continue
            if block.kind == "console":
                problems += run_console(block, tmp)
            elif block.kind == "python" and block.file:
                write_file(block, tmp)
            elif block.kind in ("python", "pycon"):
                problems += run_python(block, namespace, tmp)
            elif block.kind == "toml":
                run_toml(block, tmp)
            else:
                assert not re.search(r"^\$ ", block.text, re.M), (
                    f"{page}:{block.line}: a command in a text block: use console"
                )
    assert not problems, "\n\n".join(problems)
    if missing:  # the blocks that ran passed; say that some could not run here
        pytest.skip(f"{page}: blocks that need {', '.join(sorted(missing))} (not installed) did not run")


def test_skipped_examples_are_few_and_say_why():
    skipped = [(b.page, b.line, b.skip) for p in PAGES for b in blocks(p) if b.skip]
    assert len(skipped) <= 6, skipped


def test_needs_directive_names_modules_and_runs_only_where_they_import(tmp_path, monkeypatch):
    page = tmp_path / "page.md"
    page.write_text(
        "<!-- docs-test: needs json no_such_module_mcverify -->\n```python\nx = 1\n```\n\n"
        "<!-- docs-test: needs json -->\n```python\ny = 2\n```\n\n```python\nz = 3\n```\n"
    )
    monkeypatch.setattr("docexamples.ROOT", tmp_path)
    first, second, third = blocks("page.md")
    assert first.needs == ("json", "no_such_module_mcverify")
    assert first.missing() == ["no_such_module_mcverify"]
    assert second.needs == ("json",) and second.missing() == []
    assert third.needs == () and third.missing() == [] and not third.skip
    page.write_text("<!-- docs-test: needs -->\n```python\nx = 1\n```\n")
    with pytest.raises(AssertionError, match="names the modules"):
        blocks("page.md")


def test_python_blocks_import_the_files_the_page_wrote_and_forget_them(tmp_path):
    namespace: dict = {"__name__": "__docs__"}

    def file_block(text: str) -> Block:
        return Block(page="page.md", line=1, kind="python", text=text, file="docs_helper_mod.py")

    def run(text: str) -> Block:
        return Block(page="page.md", line=2, kind="python", text=text)

    with page_imports(tmp_path):
        write_file(file_block("VALUE = 1\n"), tmp_path)
        assert run_python(run("from docs_helper_mod import VALUE\nfirst = VALUE\n"), namespace, tmp_path) == []
        write_file(file_block("VALUE = 2\n"), tmp_path)  # a page may rewrite a file: the new one is imported
        assert run_python(run("from docs_helper_mod import VALUE\nsecond = VALUE\n"), namespace, tmp_path) == []
    assert (namespace["first"], namespace["second"]) == (1, 2)
    assert str(tmp_path) not in sys.path
    assert "docs_helper_mod" not in sys.modules


def test_console_commands_continue_after_a_backslash():
    text = '$ mcverify audit f.py \\\n    --call "g(mean)"\nPASS\n  continued\n$ echo $?\n0\n'
    block = Block(page="page.md", line=1, kind="console", text=text)
    assert commands(block) == [
        ('mcverify audit f.py \\\n    --call "g(mean)"', ["PASS", "  continued"]),
        ("echo $?", ["0"]),
    ]


def test_echo_status_shows_the_exit_code_of_the_previous_command_of_the_block(tmp_path):
    text = "$ sh -c 'exit 2'\n$ echo $?\n2\n$ true\n$ echo $?\n0\n"
    assert run_console(Block(page="page.md", line=1, kind="console", text=text), tmp_path) == []
    wrong = "$ sh -c 'exit 2'\n$ echo $?\n0\n"
    assert run_console(Block(page="page.md", line=1, kind="console", text=wrong), tmp_path)


_PROBE = """
import json, os, signal, sys

what = sys.argv[1:]
if what[:1] == ["exit"]:
    sys.exit(int(what[1]))
if what[:1] == ["message"]:
    sys.exit("bye: " + what[1])
if what[:1] == ["atexit"]:  # at the end: a thread that is not a daemon, then an atexit function, then the flush
    import atexit, threading, time
    atexit.register(lambda: print("atexit ran", flush=False))
    threading.Thread(target=lambda: (time.sleep(0.2), print("thread done"))).start()
    sys.stdout.write("buffered, no newline ")
    sys.exit(int(what[1]))
if what[:1] == ["kill"]:
    os.kill(os.getpid(), getattr(signal, what[1]))
if what[:1] == ["interleave"]:  # stdout a pipe is block-buffered (unless PYTHONUNBUFFERED); stderr is not
    print("out 1"); print("err 1", file=sys.stderr); print("out 2"); sys.stdout.write("no newline")
    sys.exit(0)

def stream(s):
    b = s.buffer
    raw = getattr(b, "raw", b)
    return [type(b).__name__, raw.name, s.encoding, s.errors, s.line_buffering, s.write_through, s.mode,
            b.seekable(), s.isatty(), s is getattr(sys, "__" + raw.name.strip("<>") + "__")]

env = {k: v for k, v in os.environ.items() if k not in ("PROBE_FRESH", "KMP_DUPLICATE_LIB_OK")}
print(json.dumps({
    "forked": "mcverify.cli.main" in sys.modules,
    "streams": {n: stream(getattr(sys, n)) for n in ("stdin", "stdout", "stderr")},
    "stdin": sys.stdin.read() if what == ["read"] else None,
    "argv": sys.argv, "path0": sys.path[0], "cwd": os.getcwd(), "env": env,
    "main": [__name__, __spec__.name, sys.modules["__main__"].__file__, sys.modules["__main__"] is sys.modules[__name__]],
}, sort_keys=True))
"""


_PYTEST_PROBE = """
import sys

import mcverify.pytest_plugin


def test_passes():
    print("preloaded:", "matplotlib.figure" in sys.modules)  # the server's import: a fork's sign
    print("plugin loaded by:", type(mcverify.pytest_plugin.__loader__).__name__)  # pytest's rewriting hook


def test_fails_with_a_rewritten_assert():
    assert [1, 2] == [1, 3]
"""


def test_commands_run_as_forks_that_a_fresh_process_cannot_tell_apart(tmp_path, monkeypatch):
    # A page's commands run in forks of docserver.py; each must see what `python -m` would give it:
    # its streams as the interpreter makes them, argv, sys.path, __main__, folder and environment;
    # its exit status and death by a signal reach the shell; stdout and stderr interleave as they would.
    monkeypatch.delenv("KMP_DUPLICATE_LIB_OK", raising=False)  # the server's imports set it (threadpoolctl)
    tmp = workdir(tmp_path)
    (tmp / "docs_probe.py").write_text(_PROBE)
    (tmp / "sub").mkdir()
    with command_server(tmp):
        assert _printed("mcverify --version", tmp)[1] == 0  # starts the server
        client = (
            (tmp / ".bin" / "mcverify")
            .read_text()
            .replace(" call ", " run-module ")
            .replace('" "$@"', '" docs_probe "$@"')
        )
        assert client != (tmp / ".bin" / "mcverify").read_text()
        (tmp / ".bin" / "probe").write_text(client)
        (tmp / ".bin" / "probe").chmod(0o755)
        for command in [
            "probe",
            "probe | cat",
            "probe > out.json; cat out.json",
            "probe 2>/dev/null < /dev/null",
            "echo some input | probe read",
            "cd sub && probe a 'b c'",
            "probe interleave 2>&1",
            "probe interleave 2>&1 | cat",
            "probe exit 3; echo $?",
            "probe exit 300; echo $?",
            "probe message x 2>&1; echo $?",
            "probe atexit 0 | cat; echo $?",
            "probe atexit 4 > out.txt; echo $?; cat out.txt",
            "probe kill SIGTERM; echo $?",
            "probe kill SIGPIPE; echo $?",
        ]:
            forked, forked_status = _printed(command, tmp)
            fresh, fresh_status = _printed(command.replace("probe", "PROBE_FRESH=1 probe"), tmp)
            if fresh.startswith("{"):  # the one difference: the fork has the server's imports
                assert '"forked": false' in fresh and '"forked": true' in forked, command
                forked = forked.replace('"forked": true', '"forked": false')
            assert (forked, forked_status) == (fresh, fresh_status), command
        # `python -m pytest` too: mcverify's plugin imported anew (its asserts rewritten), the same report.
        (tmp / "test_probe.py").write_text(_PYTEST_PROBE)
        command = "python -m pytest test_probe.py -p no:cacheprovider -rA"
        forked, forked_status = _printed(command, tmp)
        fresh, fresh_status = _printed(f"PROBE_FRESH=1 {command}", tmp)
        assert "preloaded: True" in forked and "preloaded: False" in fresh, (forked, fresh)
        assert "Warning" not in forked and "assert [1, 2] == [1, 3]" in forked, forked
        assert "plugin loaded by: AssertionRewritingHook" in forked, forked
        masked = [re.sub(r"\d+\.\d+s|preloaded: \w+", "*", out) for out in (forked, fresh)]
        assert (masked[0], forked_status) == (masked[1], fresh_status)
        # A variable read at start-up (here PYTHONHASHSEED) makes the command a fresh process.
        assert not json.loads(_printed("PYTHONHASHSEED=7 probe", tmp)[0])["forked"]
        # One that the server's imports set (threadpoolctl's) forks if the caller has the same value or none.
        assert json.loads(_printed("KMP_DUPLICATE_LIB_OK=True probe", tmp)[0])["forked"]
        assert not json.loads(_printed("KMP_DUPLICATE_LIB_OK=no probe", tmp)[0])["forked"]


def test_output_comparison_masks_durations_and_can_fail():
    assert matches(["53 cases in 1.5 s", "..."], "53 cases in 0.8 s\nwrote x\n")
    assert matches(["1 passed in 7.44s"], "1 passed in 63.87s (0:01:03)\n")  # pytest's run time past a minute
    assert not matches(["1 passed in 7.44s"], "2 passed in 63.87s (0:01:03)\n")
    assert matches(["a", "...", "c"], "a\nb\nb2\nc\n")
    assert not matches(["53 cases"], "52 cases\n")
    assert not matches(["a", "c"], "a\nb\nc\n")
    assert not matches(["a"], "")


def test_every_page_is_in_the_site_nav():
    nav = (ROOT / "mkdocs.yml").read_text()
    for page in PAGES:
        if page.startswith("docs/"):
            assert page.removeprefix("docs/") in nav, f"{page} is not in mkdocs.yml's nav"


@pytest.mark.parametrize(
    ("marker", "columns"),
    [
        ("run", COLUMNS),
        ("calibration", CELL_COLUMNS),
        ("calibration-family", FAMILY_COLUMNS),
        ("convergence", POINT_COLUMNS),
        ("convergence-rates", FIT_COLUMNS),
    ],
)
def test_column_tables_are_generated_from_the_code(marker, columns):
    page = (ROOT / "docs" / "reference" / "columns.md").read_text()
    assert f"<!-- mcverify:columns {marker} -->" in page
    rendered = _hooks().render(page)
    assert markdown_columns(columns) in rendered
    for column, meaning in columns.items():  # a '|' inside a Markdown table cell is written '\|'
        assert f"| `{column}` | {meaning.replace('|', chr(92) + '|')} |" in rendered, column


def test_config_reference_lists_every_run_key_with_its_default():
    from mcverify.config.loader import _RUN_KEYS, DEFAULTS

    page = (ROOT / "docs" / "reference" / "config.md").read_text()
    rendered = _hooks().render(page)
    assert "<!--" not in rendered.split("mcverify:", 1)[-1][:0]  # every marker rendered
    for key in _RUN_KEYS:
        assert f"| `{key}` |" in rendered, key
    assert f"| `samples` | `{DEFAULTS['samples']:_}` |" in rendered


def test_unknown_markers_fail_the_build():
    with pytest.raises(ValueError, match="unknown"):
        _hooks().render("<!-- mcverify:columns nothing -->\n")
    with pytest.raises(ValueError, match="unknown"):
        _hooks().render("<!-- mcverify:nothing -->\n")


def test_readme_is_short_and_its_figure_url_is_a_shipped_file():
    text = (ROOT / "README.md").read_text()
    assert len(text.splitlines()) <= 210
    urls = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["urls"]
    source = urls["Source"].removeprefix("https://github.com/")
    images = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", text)
    assert images, "the README shows the classic log10 figure"
    for url in images:  # absolute, so that the long description on PyPI shows it too
        m = re.fullmatch(rf"https://raw\.githubusercontent\.com/{re.escape(source)}/main/(.+)", url)
        assert m, url
        assert (ROOT / m.group(1)).is_file(), url
    assert "pip install mcverify" in text


def test_citation_version_is_the_package_version():
    from mcverify._version import __version__

    citation = (ROOT / "CITATION.cff").read_text()
    assert re.search(rf"^version: {re.escape(__version__)}$", citation, re.M)


def test_docs_folder_has_no_page_outside_the_site():
    # Pages under docs/ are in the nav (checked above); fragments live in docs/sections/.
    for path in Path(ROOT / "docs").rglob("*.md"):
        rel = path.relative_to(ROOT / "docs")
        assert rel.parts[0] == "sections" or f"docs/{rel}" in PAGES
