"""The README's command table says what the `markwatch` command takes: every command, flag and
listed choice in it exists in the CLI as written (read from click, nothing run), so the page a
new user starts from cannot drift from the tool."""

from __future__ import annotations

import re
from pathlib import Path

import click

from crawler.cli.main import cli

README = Path(__file__).resolve().parent.parent / "README.md"
FLAG = re.compile(r"(?<![\w-])(--?[a-z][a-z0-9-]*)"
                  r"(?:[ =]([a-z0-9][a-z0-9-]*(?:\\?\|[a-z0-9-]+)+))?")
"""A flag, and the choices listed after it (`--format table\\|json\\|csv`)."""


def table_commands() -> list[str]:
    """Each usage in the table's first column (alternatives split at ` / `)."""
    out = []
    for line in README.read_text(encoding="utf-8").splitlines():
        if not line.startswith("| `markwatch "):
            continue
        first = line.split(" | ", 1)[0].lstrip("| ")
        for usage in re.findall(r"`([^`]+)`", first):
            out.append(usage.removeprefix("markwatch "))
    return out


def resolve(usage: str) -> list[tuple[click.Command, str]]:
    """The commands a usage names (`users add\\|list` names two), with the rest of it."""
    words = usage.split()
    commands: list[tuple[click.Command, list[str]]] = [(cli, words)]
    done = []
    while commands:
        command, rest = commands.pop()
        if isinstance(command, click.Group) and rest and not rest[0].startswith(("-", "[")):
            names = rest[0].replace("\\|", "|").split("|")
            found = [command.get_command(click.Context(command), n) for n in names]
            assert all(found), (usage, names)
            commands.extend((sub, rest[1:]) for sub in found if sub is not None)
            continue
        done.append((command, " ".join(rest)))
    return done


def test_the_table_lists_the_commands() -> None:
    usages = table_commands()
    assert len(usages) >= 40, usages
    named = {u.split()[0] for u in usages}
    assert {"crawl", "verify", "evidence", "takedown", "serve", "schedule"} <= named


def test_every_command_flag_and_choice_in_the_readme_exists() -> None:
    checked = 0
    for usage in table_commands():
        for command, rest in resolve(usage):
            options = {opt: p for p in command.params if isinstance(p, click.Option)
                       for opt in (*p.opts, *p.secondary_opts)}
            for flag, choices in FLAG.findall(rest):
                for name in flag.split("/"):
                    assert name in options, (usage, command.name, name, sorted(options))
                param = options[flag.split("/")[0]]
                if choices and isinstance(param.type, click.Choice):
                    listed = choices.replace("\\|", "|").split("|")
                    assert set(listed) <= set(param.type.choices), (usage, flag, listed)
                checked += 1
    assert checked >= 100, checked
