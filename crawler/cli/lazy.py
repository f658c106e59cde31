"""A click group whose subcommands are imported when first named, not at start-up.

`markwatch evidence list` needs the catalog, not Scrapy, Playwright, the alerts or the portal:
importing every subcommand's module before parsing the command line took about a second of
every invocation (a scheduler's `verify`, a legal team's `evidence list`). Each lazy
subcommand is named `"module:attribute"`; `--help` still lists them all (it imports them to
read their one-line help).
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from typing import Any

import click


class LazyGroup(click.Group):
    """A `click.Group` taking `lazy_subcommands={"name": "package.module:attribute"}`."""

    def __init__(self, *args: Any, lazy_subcommands: Mapping[str, str] | None = None,
                 **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.lazy_subcommands: dict[str, str] = dict(lazy_subcommands or {})

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *self.lazy_subcommands})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self.commands and cmd_name in self.lazy_subcommands:
            self.add_command(self._load(cmd_name), cmd_name)
        return super().get_command(ctx, cmd_name)

    def _load(self, cmd_name: str) -> click.Command:
        module_name, _, attribute = self.lazy_subcommands[cmd_name].partition(":")
        command = getattr(importlib.import_module(module_name), attribute)
        if not isinstance(command, click.Command):
            raise TypeError(f"{module_name}:{attribute} is not a click command")
        if command.name != cmd_name:
            raise TypeError(f"{module_name}:{attribute} is named {command.name!r}, "
                            f"registered as {cmd_name!r}")
        return command
