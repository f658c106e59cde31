"""`markwatch keys init|show` and `markwatch seal --pending`."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click

from crawler.cli.options import resolve_store
from crawler.cli.text import safe
from crawler.exceptions import ConfigError, SealError
from crawler.seal.config import DEFAULT_KEY_PATH, SealConfig


def project_seal_config() -> SealConfig:
    """`SEAL_*` from the environment over the project's Scrapy settings."""
    from scrapy.settings import Settings

    settings = Settings()
    settings.setmodule("crawler.settings", priority="project")
    return SealConfig.from_settings(settings)


def _key_path(path: Path | None) -> Path:
    if path is not None:
        return path.expanduser()
    env = os.environ.get("MARKWATCH_SEAL_KEY")
    return Path(env).expanduser() if env else DEFAULT_KEY_PATH.expanduser()


@click.group()
def keys() -> None:
    """Ed25519 signing keys for run seals."""


@keys.command("init")
@click.option("--path", type=click.Path(dir_okay=False, path_type=Path),
              help="Where to write the key (default $MARKWATCH_SEAL_KEY, else "
                   f"{DEFAULT_KEY_PATH}).")
def keys_init(path: Path | None) -> None:
    """Create a new signing key (mode 0600) and print its fingerprint; never overwrites."""
    from crawler.seal.keys import init_key

    target = _key_path(path)
    signer = init_key(target)  # SealError if the file exists: exit 1
    click.echo(f"created signing key {target} (mode 0600)")
    click.echo(f"fingerprint {signer.fingerprint}")
    click.echo(f"seal with it: export MARKWATCH_SEAL_KEY={target}")
    click.echo("give the fingerprint to whoever verifies (verify.py --trust-key, "
               "SEAL_TRUSTED_KEYS); keep the key file secret and backed up")


@keys.command("show")
@click.option("--path", type=click.Path(dir_okay=False, path_type=Path),
              help="The key (default $MARKWATCH_SEAL_KEY).")
def keys_show(path: Path | None) -> None:
    """Print the fingerprint of a signing key."""
    from crawler.seal.keys import load_signer

    target = _key_path(path)
    click.echo(f"{target}: {load_signer(target).fingerprint}")


@click.command("seal")
@click.option("--pending", is_flag=True, help="Seal every run record that has no seal yet.")
@click.option("--store", help="Evidence store URI.")
def seal(pending: bool, store: str | None) -> None:
    """Seal run records that could not be sealed when they ran (TSA down, key unreadable).

    The seal records the time of sealing (`sealed_at`) and the TSA's time: now, not the time
    of the run. Exit 0 when every pending run was sealed, 1 otherwise.
    """
    from crawler.clock import SystemClock
    from crawler.seal.runs import RunSealer
    from storage.uri import open_store

    if not pending:
        raise click.UsageError("give --pending")
    config = project_seal_config()
    if not config.configured:
        raise ConfigError("nothing to seal with: set MARKWATCH_SEAL_KEY and/or "
                          "MARKWATCH_SEAL_TSAS (see README, Settings)")
    try:
        config.signer()
    except SealError as exc:
        raise ConfigError(str(exc)) from exc
    target = open_store(resolve_store(store))
    try:
        outcomes = RunSealer(target, config, SystemClock()).seal_pending()
    finally:
        target.close()
    if not outcomes:
        click.echo("no pending run records: everything is sealed")
    for outcome in outcomes:
        click.echo(safe(outcome.describe()))
        for problem in outcome.problems:
            click.echo(f"  error: {safe(problem)}")
    failed = [o for o in outcomes if o.status == "pending" or o.problems]
    sealed = sum(o.status == "sealed" for o in outcomes)
    click.echo(f"{sealed} of {len(outcomes)} pending run records sealed")
    sys.exit(1 if failed else 0)
