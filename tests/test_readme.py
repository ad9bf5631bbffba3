"""The README's command list matches --help: every command and every option is there."""

from __future__ import annotations

import argparse
import re
from pathlib import Path

from console.cli import build_parser

README = (Path(__file__).parents[1] / "README.md").read_text(encoding="utf-8")
COMMANDS = README.split("## Command line", 1)[1].split("##", 1)[0]


def subcommands() -> dict[str, argparse.ArgumentParser]:
    parser = build_parser()
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return dict(action.choices)


def test_every_command_is_in_the_readme():
    for name in subcommands():
        assert re.search(rf"canary-console {name}\b", COMMANDS), f"README lacks `canary-console {name}`"


def test_every_option_of_every_command_is_in_the_readme():
    missing = []
    for name, sub in subcommands().items():
        for action in sub._actions:
            for option in action.option_strings:
                if option.startswith("--") and option not in ("--help", "--db") and option not in COMMANDS:
                    missing.append(f"{name} {option}")
    assert not missing, f"README's command list lacks: {', '.join(missing)}"


def test_the_quick_start_is_the_two_make_commands():
    quick = README.split("## Quick start", 1)[1].split("##", 1)[0]
    block = re.search(r"```\n(.*?)```", quick, re.S).group(1).split()
    assert block == ["make", "demo", "make", "test"]
