"""The catalog's schema versions: one Alembic history (`storage/migrations`) for SQLite and
PostgreSQL, run from code (no alembic.ini in the user's folder).

Opening a catalog (`ensure_schema`) checks its revision:

- an empty database is brought to the newest revision;
- a catalog made by 0.1.0 (its tables, no `alembic_version`) is brought to the baseline (its
  DDL is `IF NOT EXISTS`) and on;
- an older revision is upgraded on SQLite (the embedded default: one user, and 0.1.0 already
  applied its schema whenever a catalog was opened), but on PostgreSQL, a database that many
  workers and readers share, it is an error that says to run `markwatch catalog migrate`
  (one operator, once, before the new release's workers start);
- a revision this release does not know (a newer markwatch made it) is an error.

Each check runs in one write transaction (SQLite `BEGIN IMMEDIATE`, PostgreSQL an advisory
lock), so processes opening a new catalog at once migrate it once.
"""

from __future__ import annotations

import atexit
import functools
import shutil
import tempfile
import threading
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect
from sqlalchemy.engine import Connection, Engine

from crawler.exceptions import ConfigError
from storage.db import transaction

BASELINE = "0001_baseline_0_1_0"
"""The revision of the schema markwatch 0.1.0 made (unversioned)."""

_LOCK_KEY = 0x6D61726B  # "mark": the advisory lock migrations take on PostgreSQL
_checked: set[int] = set()
_checked_lock = threading.Lock()


class SchemaError(ConfigError):
    """The catalog's schema is not the one this release needs."""


def _config(conn: Connection | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(_script_location()))
    if conn is not None:
        config.attributes["connection"] = conn
    return config


def _script_location() -> Path:
    """The folder of the history: beside this module, or unpacked from a zipped package."""
    here = Path(__file__).with_name("migrations")
    return here if here.is_dir() else _unpacked()


@functools.cache
def _unpacked() -> Path:
    """The history copied out of a zipped package (a Scrapyd egg imports from a zip, and
    Alembic reads its scripts from a folder); removed when the process exits."""
    root = Path(tempfile.mkdtemp(prefix="markwatch-migrations-"))
    atexit.register(shutil.rmtree, root, True)
    _copy(resources.files("storage") / "migrations", root / "migrations")
    return root / "migrations"


def _copy(source: Traversable, target: Path) -> None:
    target.mkdir()
    for entry in source.iterdir():
        if entry.is_dir():
            if entry.name != "__pycache__":
                _copy(entry, target / entry.name)
        elif entry.name.endswith((".py", ".mako")):
            (target / entry.name).write_bytes(entry.read_bytes())


@functools.cache
def head() -> str:
    """The newest revision this release knows."""
    return str(ScriptDirectory.from_config(_config()).get_current_head())


@functools.cache
def revisions() -> tuple[str, ...]:
    """Every revision, oldest first."""
    script = ScriptDirectory.from_config(_config())
    return tuple(r.revision for r in reversed(list(script.walk_revisions())))


def _lock(conn: Connection) -> None:
    if conn.dialect.name == "postgresql":
        conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({_LOCK_KEY})")


def current(conn: Connection) -> str | None:
    """The catalog's revision; BASELINE for an unversioned 0.1.0 catalog; None when empty."""
    revision = MigrationContext.configure(conn).get_current_revision()
    if revision is None and inspect(conn).has_table("captures"):
        return BASELINE + "?"  # made by 0.1.0, not stamped yet
    return revision


def ensure_schema(engine: Engine, *, migrate: bool | None = None) -> None:
    """Make the catalog's schema the newest, or say why not (see the module docstring).
    `migrate` None: upgrade on SQLite, refuse on PostgreSQL."""
    with _checked_lock:
        if id(engine) in _checked:
            return
    if migrate is None:
        migrate = engine.dialect.name == "sqlite"
    newest = head()
    with transaction(engine, write=False) as tx:
        up_to_date = current(tx.conn) == newest
    if not up_to_date:
        _check_and_migrate(engine, newest, migrate)
    if engine.dialect.name == "postgresql":  # shared engines: checked once per process
        with _checked_lock:
            _checked.add(id(engine))


def _check_and_migrate(engine: Engine, newest: str, migrate: bool) -> None:
    with transaction(engine) as tx:
        _lock(tx.conn)
        found = current(tx.conn)
        if found != newest:
            if found is not None and found.rstrip("?") not in revisions():
                raise SchemaError(
                    f"the catalog's schema is at revision {found}, which this markwatch does "
                    "not know (a newer release made it); upgrade markwatch")
            if found is not None and not migrate:
                raise SchemaError(
                    f"the catalog's schema is at revision {found.rstrip('?')}; this release "
                    f"needs {newest}: run `markwatch catalog migrate --catalog URI` first")
            command.upgrade(_config(tx.conn), "head")


def upgrade(engine: Engine, to: str = "head") -> tuple[str | None, str | None]:
    """Upgrade the catalog to revision `to`; returns (before, after)."""
    return _move(engine, to, up=True)


def downgrade(engine: Engine, to: str) -> tuple[str | None, str | None]:
    """Downgrade the catalog to revision `to` (`base` drops every table)."""
    return _move(engine, to, up=False)


def _move(engine: Engine, to: str, *, up: bool) -> tuple[str | None, str | None]:
    with transaction(engine) as tx:
        _lock(tx.conn)
        before = current(tx.conn)
        if up:
            command.upgrade(_config(tx.conn), to)
        else:
            if before is not None and before.endswith("?"):
                command.stamp(_config(tx.conn), BASELINE)
            command.downgrade(_config(tx.conn), to)
        after = current(tx.conn)
    with _checked_lock:
        _checked.discard(id(engine))
    return before, after


def status(engine: Engine) -> dict[str, str | None]:
    """The catalog's revision and the newest this release knows."""
    with transaction(engine, write=False) as tx:
        return {"current": current(tx.conn), "head": head()}
