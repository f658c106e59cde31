"""The `markwatch` command imports a subcommand's module only when it is named: reading the
catalog or verifying the store does not load Scrapy's crawler, Playwright or the proxy; every
registered subcommand still loads under its own name and shows in `--help`."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from crawler.cli.lazy import LazyGroup
from crawler.cli.main import SUBCOMMANDS, cli
from tests.helpers import isolated_env

ROOT = Path(__file__).resolve().parent.parent

PROBE = """
import sys
from crawler.cli.main import cli
try:
    cli.main(sys.argv[1:], prog_name="markwatch", standalone_mode=False)
finally:
    heavy = sorted(m for m in ("playwright", "scrapy.crawler", "crawler.recording.proxy",
                               "crawler.alerts.dispatch", "crawler.portal.app")
                   if m in sys.modules)
    print("HEAVY=" + ",".join(heavy), file=sys.stderr)
"""


def _walk(group: click.Group, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    ctx = click.Context(group)
    found = []
    for name in group.list_commands(ctx):
        command = group.get_command(ctx, name)
        assert command is not None and command.name == name, (prefix, name)
        found.append((*prefix, name))
        if isinstance(command, click.Group):
            found.extend(_walk(command, (*prefix, name)))
    return found


def test_every_lazy_subcommand_loads_under_its_name() -> None:
    commands = _walk(cli)
    assert {(name,) for name in SUBCOMMANDS} <= set(commands)
    for nested in (("evidence", "url"), ("evidence", "export"), ("runs", "finalize"),
                   ("takedown", "status"), ("alerts", "list"), ("catalog", "rebuild")):
        assert nested in commands
    listed = CliRunner().invoke(cli, ["--help"], catch_exceptions=False).output
    assert all(f"  {name} " in listed for name in SUBCOMMANDS), listed


@pytest.mark.parametrize("argv", [["evidence", "list"], ["verify", "--all"],
                                  ["runs", "list"], ["takedown", "status"]])
def test_reading_commands_leave_the_crawler_unloaded(tmp_path: Path, argv: list[str]) -> None:
    env = isolated_env()
    env["PYTHONPATH"] = str(ROOT)
    proc = subprocess.run(
        [sys.executable, "-c", PROBE, *argv, "--store", f"file://{tmp_path}/store",
         "--catalog", f"sqlite:///{tmp_path}/catalog.db"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    heavy = next(line for line in proc.stderr.splitlines() if line.startswith("HEAVY="))
    assert heavy == "HEAVY=", (argv, heavy, proc.stderr[-2000:])


def test_a_misregistered_subcommand_is_named() -> None:
    group = LazyGroup(name="g", lazy_subcommands={"lists": "crawler.cli.evidence:evidence"})
    with pytest.raises(TypeError, match="named 'evidence', registered as 'lists'"):
        group.get_command(click.Context(group), "lists")
    assert group.get_command(click.Context(group), "absent") is None
