"""`markwatch users add|list|disable|passwd|token|grant|revoke`: the portal's users."""

from __future__ import annotations

import secrets
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import click

from crawler.cli.options import resolve_catalog, resolve_store
from crawler.cli.output import emit, format_option
from crawler.cli.text import safe
from crawler.portal.users import ROLES, UserDB, portal_db_path
from storage.db import local_state_dir


@contextmanager
def _db(store: str | None, catalog_uri: str | None, users_db: Path | None) -> Iterator[UserDB]:
    store_uri = resolve_store(store)
    path = users_db or portal_db_path(
        local_state_dir(resolve_catalog(catalog_uri, store_uri), store_uri) / "catalog.db")
    with UserDB(path) as db:
        yield db


def _where(f):  # type: ignore[no-untyped-def]
    f = click.option("--users-db", type=click.Path(dir_okay=False, path_type=Path),
                     help="Users database (default: portal.db next to the catalog).")(f)
    f = click.option("--catalog", "catalog_uri", help="Catalog URI.")(f)
    return click.option("--store", help="Evidence store URI.")(f)


def _password(stdin: bool, generate: bool) -> tuple[str, bool]:
    if generate:
        return secrets.token_urlsafe(15), True
    if stdin:
        return sys.stdin.readline().rstrip("\r\n"), False
    return click.prompt("Password", hide_input=True, confirmation_prompt=True), False


@click.group("users")
def users() -> None:
    """Portal users: roles viewer, investigator, admin; access granted per case."""


@users.command("add")
@click.argument("name")
@click.option("--role", type=click.Choice(ROLES), default="viewer", show_default=True)
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
@click.option("--generate", is_flag=True, help="Make a random password and print it once.")
@_where
def add(name: str, role: str, password_stdin: bool, generate: bool, store: str | None,
        catalog_uri: str | None, users_db: Path | None) -> None:
    """Create a user (the password is prompted for unless --password-stdin or --generate)."""
    password, made = _password(password_stdin, generate)
    with _db(store, catalog_uri, users_db) as db:
        db.add(name, role, password)
    click.echo(f"user {safe(name)} added ({role})")
    if made:
        click.echo(f"one-time password (shown once; change it with `markwatch users passwd`): "
                   f"{password}")


USER_FIELDS = ("name", "role", "disabled", "created_at", "cases")
"""What `users list` shows of a user, in every format: never a password hash or a token."""


@users.command("list")
@format_option("one row per user, the cases granted joined with ' | '. No format shows "
               "passwords or tokens (only their hashes are kept).")
@_where
def list_users(fmt: str, store: str | None, catalog_uri: str | None,
               users_db: Path | None) -> None:
    """Every user, role, state and case grants."""
    with _db(store, catalog_uri, users_db) as db:
        rows = [{field: row[field] for field in USER_FIELDS} for row in db.list()]
    for row in rows:
        row["disabled"] = bool(row["disabled"])
    if emit(rows, USER_FIELDS, fmt):
        return
    if not rows:
        click.echo("no users: `markwatch users add NAME --role admin`")
    for row in rows:
        state = "disabled" if row["disabled"] else "active"
        cases = ", ".join(safe(c) for c in row["cases"]) or "-"
        click.echo(f"{safe(row['name']):24} {row['role']:12} {state:8} cases: {cases}")


@users.command("disable")
@click.argument("name")
@_where
def disable(name: str, store: str | None, catalog_uri: str | None,
            users_db: Path | None) -> None:
    """Disable a user: their sessions and API tokens end at once."""
    with _db(store, catalog_uri, users_db) as db:
        db.disable(name)
    click.echo(f"user {safe(name)} disabled")


@users.command("passwd")
@click.argument("name")
@click.option("--password-stdin", is_flag=True)
@click.option("--generate", is_flag=True)
@_where
def passwd(name: str, password_stdin: bool, generate: bool, store: str | None,
           catalog_uri: str | None, users_db: Path | None) -> None:
    """Set a user's password (their sessions end)."""
    password, made = _password(password_stdin, generate)
    with _db(store, catalog_uri, users_db) as db:
        db.set_password(name, password)
    click.echo(f"password of {safe(name)} changed")
    if made:
        click.echo(f"new password (shown once): {password}")


@users.command("token")
@click.argument("name")
@click.option("--label", default="api", show_default=True)
@_where
def token(name: str, label: str, store: str | None, catalog_uri: str | None,
          users_db: Path | None) -> None:
    """Make an API token for NAME (printed once; only its hash is kept)."""
    with _db(store, catalog_uri, users_db) as db:
        value = db.new_token(name, label)
    click.echo(value)


@users.command("grant")
@click.argument("name")
@click.argument("case")
@_where
def grant(name: str, case: str, store: str | None, catalog_uri: str | None,
          users_db: Path | None) -> None:
    """Let NAME see CASE (`_none` is the captures of watches without a case)."""
    with _db(store, catalog_uri, users_db) as db:
        db.grant(name, case)
    click.echo(f"{safe(name)} may see case {safe(case)}")


@users.command("revoke")
@click.argument("name")
@click.argument("case")
@_where
def revoke(name: str, case: str, store: str | None, catalog_uri: str | None,
           users_db: Path | None) -> None:
    """Take CASE away from NAME."""
    with _db(store, catalog_uri, users_db) as db:
        db.revoke(name, case)
    click.echo(f"{safe(name)} may no longer see case {safe(case)}")
