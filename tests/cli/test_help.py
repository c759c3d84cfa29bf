"""Every subcommand's help follows one pattern: a description with its exit codes, every default
shown, the shared flags spelled alike, and no option that does nothing for that command."""

from __future__ import annotations

import argparse
import re

import pytest

from mcverify.cli.main import _parser, main
from tests.cli.test_cli import mcverify


def commands() -> dict[str, argparse.ArgumentParser]:
    sub = next(a for a in _parser()._actions if isinstance(a, argparse._SubParsersAction))
    return dict(sub.choices)


COMMANDS = commands()
#: The flags every subcommand shares, with their one spelling; --format where a command has formats.
SHARED = {"output": ["-o", "--output"], "quiet": ["-q", "--quiet"], "debug": ["--debug"]}
FORMAT = ["-f", "--format"]
HAS_FORMAT = {"run", "calibrate", "converge", "report"}


def options(parser: argparse.ArgumentParser) -> list[argparse.Action]:
    return [a for a in parser._actions if a.option_strings and not isinstance(a, argparse._HelpAction)]


def test_every_command_is_walked():
    assert set(COMMANDS) == {"run", "audit", "calibrate", "converge", "report", "validate", "init"}


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_description_states_the_exit_codes(name):
    text = COMMANDS[name].description or ""
    assert len(text) > 80, f"{name}: no description"
    assert re.search(r"[Ee]xit 0 when [^.]+, (1 when [^.]+, )?2 on bad input\.$", text), text


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_every_default_is_shown_one_way(name):
    for action in options(COMMANDS[name]):
        if action.nargs == 0 or action.required:  # flags are off unless given; required ones have none
            continue
        assert "(default: " in (action.help or ""), f"{name} {action.option_strings}: no default in its help"
        if action.default not in (None, argparse.SUPPRESS) and not isinstance(action.default, tuple):
            shown = str(action.default) if not isinstance(action.default, float) else f"{action.default:g}"
            assert f"(default: {shown})" in (action.help or ""), f"{name} {action.option_strings}: {action.help}"
    for action in options(COMMANDS[name]):
        assert not re.search(r"\(default \w", action.help or ""), (
            f"{name} {action.option_strings}: 'default' without ':'"
        )


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_shared_flags_are_spelled_alike(name):
    found = {a.dest: a.option_strings for a in options(COMMANDS[name])}
    for dest, spelling in SHARED.items():
        assert found.get(dest) == spelling, f"{name}: {dest} is {found.get(dest)}"
    assert found.get("format") == (FORMAT if name in HAS_FORMAT else None)


def test_converge_offers_no_verdict_options():
    """converge makes no verdicts: --alpha and --error-control would do nothing there."""
    found = {a.dest for a in options(COMMANDS["converge"])}
    assert not found & {"alpha", "error_control"}
    assert {"alpha", "error_control"} <= {a.dest for a in options(COMMANDS["calibrate"])}
    assert {"alpha", "error_control"} <= {a.dest for a in options(COMMANDS["run"])}


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_help_prints_and_exits_0(name, capsys):
    with pytest.raises(SystemExit) as stop:
        main([name, "--help"])
    assert stop.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith(f"usage: mcverify {name} ") and "Exit 0 " in " ".join(out.split())


def test_help_as_a_subprocess():
    proc = mcverify("run", "--help")
    assert proc.returncode == 0 and proc.stderr == ""
    assert "(default: [run] samples, else 100000)" in " ".join(proc.stdout.split())
