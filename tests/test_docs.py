"""The docs held to the code: every module path and command-line option they name exists.

Module paths (``kerakit/.../x.py``) are looked up on disk. Commands and their
options (``kerakit train --epochs``) are looked up in the parser the command
line builds, ``kerakit.cli.build_parser()``, in code spans and code blocks of
README.md and docs/**/*.md.
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCS = sorted([ROOT / "README.md", *(ROOT / "docs").rglob("*.md")])

MODULE_PATH = re.compile(r"(?<![\w/.-])kerakit/[\w/]+\.py\b")
CODE = re.compile(r"```[^\n]*\n(.*?)```|`([^`\n]+)`", re.S)
# a shell command line: at the start of a line (after a `$ ` prompt) or after `&&`, `;`, `|`
COMMAND = re.compile(r"(?:^|&&|;|\|)\s*(?:\$\s+)?kerakit((?:\s+--?[a-z][\w-]*)*)"
                     r"(?:\s+([a-z][a-z-]*))?(.*)")
OPTION = re.compile(r"(?<![\w-])--[a-z][a-z0-9-]*")

#: (command, option) -> the plugin package whose docs name it. Such options are added to
#: the parser only when the plugin is installed, so they are not looked up in the bare
#: parser; instead the plugin's own source must define them (see the last test).
PLUGIN_OPTIONS = {
    ("tune", "--storage"): "kerakit-optuna",
    ("tune", "--study"): "kerakit-optuna",
    ("tune", "--pruner"): "kerakit-optuna",
}


def commands_in(text: str) -> list[tuple[str, list[str]]]:
    """``(command, [--option, ...])`` for each ``kerakit ...`` command line in code."""
    found = []
    for block, span in CODE.findall(text):
        code = (block or span).replace("\\\n", " ")  # a shell line continued
        for line in code.splitlines():
            line = line.split(" #", 1)[0]
            for match in COMMAND.finditer(line):
                before, command, rest = match.groups()
                options = OPTION.findall(before)
                if command:
                    found.append((command, OPTION.findall(rest)))
                if options:
                    found.append(("", options))
    return found


def subparsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def option_strings(parser: argparse.ArgumentParser) -> set[str]:
    return {s for action in parser._actions for s in action.option_strings}


@pytest.fixture(scope="module")
def parser() -> argparse.ArgumentParser:
    from kerakit.cli import build_parser

    return build_parser()


def doc_id(path: Path) -> str:
    return path.relative_to(ROOT).as_posix()


@pytest.mark.parametrize("doc", DOCS, ids=doc_id)
def test_every_module_path_named_exists(doc: Path):
    missing = sorted({m for m in MODULE_PATH.findall(doc.read_text())
                      if not (ROOT / m).is_file()})
    assert not missing, f"{doc_id(doc)} names modules that do not exist: {missing}"


@pytest.mark.parametrize("doc", DOCS, ids=doc_id)
def test_every_command_and_option_named_exists(doc: Path, parser: argparse.ArgumentParser):
    commands = subparsers(parser)
    wrong = []
    for command, options in commands_in(doc.read_text()):
        if command and command not in commands:
            wrong.append(f"kerakit {command}: no such command")
            continue
        known = option_strings(commands[command] if command else parser)
        wrong += [f"kerakit {command} {option}".replace("  ", " ") for option in options
                  if option not in known and (command, option) not in PLUGIN_OPTIONS]
    assert not wrong, f"{doc_id(doc)} names what the command line lacks:\n" + \
        "\n".join(sorted(set(wrong)))


@pytest.mark.parametrize(("command", "option"), sorted(PLUGIN_OPTIONS))
def test_options_left_to_a_plugin_are_the_plugins(command: str, option: str):
    package = ROOT / "plugins" / PLUGIN_OPTIONS[command, option]
    sources = "".join(p.read_text() for p in package.rglob("*.py"))
    assert f'"{option}"' in sources, f"{package.name} does not define {option}"


def test_the_scanner_finds_commands_and_options():
    text = ("Run `kerakit train --epochs 3` or\n\n```bash\nkerakit --debug tune r.py \\\n"
            "    --max-trials 4  # not --this\n```\n")
    assert commands_in(text) == [("train", ["--epochs"]), ("tune", ["--max-trials"]),
                                 ("", ["--debug"])]
    assert MODULE_PATH.findall("see kerakit/cli/failures.py, not plugins/kerakit/x.py") == \
        ["kerakit/cli/failures.py"]
