"""The README stays true: its example commands print what it shows, and every command is documented."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

from click.testing import CliRunner

from interactions.cli import cli

README = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")


def test_readme_examples_print_what_the_readme_shows():
    examples = re.findall(r"```\n\$ interactions (.+?)\n(.*?)```", README, re.S)
    assert examples
    for command, expected in examples:
        result = CliRunner().invoke(cli, shlex.split(command))
        assert result.stdout == expected, command


def test_every_command_is_documented():
    for name, command in cli.commands.items():
        subcommands = getattr(command, "commands", None)
        names = [f"{name} {sub}" for sub in subcommands] if subcommands else [name]
        for full in names:
            assert f"interactions {full}" in README, full
