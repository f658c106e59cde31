"""The catalog's database engines: SQLite (the embedded default) or PostgreSQL, one code path.

Every catalog module declares its tables on the one `METADATA` (SQLAlchemy Core); this module
makes engines from catalog URIs, runs statements and upserts through them, and hides the
differences that matter here:

- `sqlite:///PATH` runs on the stdlib driver in WAL mode (synchronous NORMAL: a power cut may
  lose the last commits of this rebuildable index, never corrupt it) with a 30 s busy timeout;
  SQLAlchemy is told not to let the driver manage transactions, and a write transaction starts
  with `BEGIN IMMEDIATE` (it takes the write lock at once, so two writers queue on the busy
  timeout instead of failing when a read lock cannot be upgraded).
- `postgresql://` and `postgres://` run on psycopg 3 with a connection pool.
- SQL text is written with `?` placeholders (portable SQL, no engine's own functions); for
  psycopg they become `%s`. Upserts are built with the dialect's
  `insert().on_conflict_do_update` / `on_conflict_do_nothing`.

Passwords in URIs are never logged or shown: use `redact`.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from sqlalchemy import MetaData, Table, create_engine, event
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Engine, make_url

from crawler.exceptions import ConfigError

METADATA = MetaData()
"""Every catalog table, declared by the module that owns it."""

SQLITE = "sqlite:///"
POSTGRES = ("postgresql://", "postgres://")

BUSY_TIMEOUT = 30.0
"""Seconds a SQLite writer waits for the write lock (SQLite's waiting is not first come, first
served: several busy writers on a loaded machine need more than a few seconds)."""

_engines: dict[str, Engine] = {}
_engines_lock = threading.Lock()


def is_postgres(uri: str) -> bool:
    return uri.startswith(POSTGRES)


def catalog_url(target: str | Path) -> str:
    """The SQLAlchemy URL of a catalog URI (`sqlite:///`, `postgresql://`, `postgres://`) or
    of a plain SQLite file path."""
    if isinstance(target, Path):
        return f"sqlite:///{target.expanduser().resolve()}"
    if target.startswith(SQLITE):
        return f"sqlite:///{Path(unquote(target[len(SQLITE):])).expanduser().resolve()}"
    if is_postgres(target):
        return "postgresql+psycopg://" + target.split("://", 1)[1]
    if "://" in target:
        raise ConfigError(f"unsupported catalog URI {redact(target)!r}: use sqlite:///PATH or "
                          "postgresql://USER@HOST:PORT/DB")
    return f"sqlite:///{Path(target).expanduser().resolve()}"


def redact(uri: str | Path) -> str:
    """A catalog URI fit to show: its password replaced by `***`."""
    text = str(uri)
    if "://" not in text or "@" not in text:
        return text
    scheme, rest = text.split("://", 1)
    creds, _, host = rest.rpartition("@")
    user = creds.split(":", 1)[0]
    return f"{scheme}://{user}:***@{host}" if ":" in creds else f"{scheme}://{user}@{host}"


def engine_for(target: str | Path) -> Engine:
    """The engine of a catalog: one per PostgreSQL database, shared by the process (its
    pool); a new one for each SQLite catalog opened (disposed when the catalog is closed, so
    a file removed and made again is never read through a stale connection)."""
    url = catalog_url(target)
    if url.startswith("sqlite"):
        return _new_engine(url)
    with _engines_lock:
        engine = _engines.get(url)
        if engine is None:
            engine = _new_engine(url)
            _engines[url] = engine
        return engine


def dispose_all() -> None:
    """Close every pooled connection (tests; before a fork)."""
    with _engines_lock:
        for engine in _engines.values():
            engine.dispose()
        _engines.clear()


def _new_engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        path = Path(make_url(url).database or "")
        path.parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"check_same_thread": False,
                                                  "timeout": BUSY_TIMEOUT},
                               pool_size=8, max_overflow=16)
        event.listen(engine, "connect", _sqlite_connect)
        event.listen(engine, "begin", _sqlite_begin)
        return engine
    return create_engine(url, pool_size=5, max_overflow=10, pool_pre_ping=True,
                         pool_recycle=1800, hide_parameters=True)


def _sqlite_connect(dbapi_conn: Any, _record: Any) -> None:
    dbapi_conn.isolation_level = None  # transactions are ours (see _sqlite_begin)
    dbapi_conn.execute(f"PRAGMA busy_timeout={int(BUSY_TIMEOUT * 1000)}")
    dbapi_conn.execute("PRAGMA journal_mode=WAL")
    dbapi_conn.execute("PRAGMA synchronous=NORMAL")  # WAL: no fsync per commit; still safe


def _sqlite_begin(conn: Connection) -> None:
    write = conn.get_execution_options().get("markwatch_write", False)
    conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")


def _driver_sql(conn: Connection, sql: str) -> str:
    """`?` placeholders for the connection's driver (psycopg: `%s`, `%` doubled)."""
    if conn.dialect.name == "sqlite":
        return sql
    out, quoted = [], False
    for ch in sql:
        if ch == "'":
            quoted = not quoted
        if ch == "%":
            out.append("%%")
        elif ch == "?" and not quoted:
            out.append("%s")
        else:
            out.append(ch)
    return "".join(out)


class Tx:
    """Statements on one connection inside one transaction."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    @property
    def dialect(self) -> str:
        return self.conn.dialect.name

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        """Rows of one statement (`?` placeholders), as dicts."""
        result = self.conn.exec_driver_sql(_driver_sql(self.conn, sql), tuple(params))
        if not result.returns_rows:
            return []
        return [dict(r) for r in result.mappings()]

    def execute(self, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        return self.query(sql, params)

    def rowcount(self, sql: str, params: Sequence[Any] = ()) -> int:
        """How many rows one statement changed."""
        return int(self.conn.exec_driver_sql(_driver_sql(self.conn, sql), tuple(params))
                   .rowcount)

    def write(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        """One statement for each row."""
        rows = [tuple(r) for r in rows]
        if rows:
            self.conn.exec_driver_sql(_driver_sql(self.conn, sql), rows)

    def upsert(self, table: Table, rows: Sequence[Sequence[Any] | dict[str, Any]], *,
               replace: bool = True, unless_newer: str | None = None) -> None:
        """Insert rows (tuples in the table's column order, or dicts); on a primary key
        already there, replace the row (`replace`) or keep it. `unless_newer` names a column:
        a row already there with a greater value in it is kept (one atomic statement, so
        concurrent writers never put an older row over a newer one)."""
        if not rows:
            return
        from storage.index_bounds import bound_row

        names = [c.name for c in table.columns]
        values = [bound_row(table, r if isinstance(r, dict) else dict(zip(names, r, strict=True)))
                  for r in rows]  # indexed text bounded: storage/index_bounds.py
        if len(values) > 1:  # one statement may not touch a row twice (PostgreSQL refuses)
            keys = [c.name for c in table.primary_key.columns]
            unique: dict[tuple[Any, ...], dict[str, Any]] = {}
            for value in values:
                pk = tuple(value[k] for k in keys)
                if replace or pk not in unique:
                    unique[pk] = value
            values = list(unique.values())
        stmt = _upsert_statement(self.dialect, table, replace, unless_newer)
        self.conn.execute(stmt, values)


@functools.lru_cache(maxsize=256)
def _upsert_statement(dialect: str, table: Table, replace: bool,
                      unless_newer: str | None) -> Any:
    """The upsert of a table, built once (building one costs more than running it)."""
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    stmt = insert(table)
    keys = [c.name for c in table.primary_key.columns]
    others = [c.name for c in table.columns if c.name not in keys]
    if replace and others:
        where = (None if unless_newer is None
                 else stmt.excluded[unless_newer] >= table.c[unless_newer])
        return stmt.on_conflict_do_update(
            index_elements=keys, set_={n: stmt.excluded[n] for n in others}, where=where)
    return stmt.on_conflict_do_nothing(index_elements=keys)


@contextmanager
def transaction(engine: Engine, *, write: bool = True) -> Iterator[Tx]:
    """A transaction on a pooled connection, committed at the end, rolled back on error. A
    read on PostgreSQL runs in autocommit (no BEGIN and COMMIT round trips; each statement
    sees committed data)."""
    with engine.connect() as conn:
        if not write and conn.dialect.name == "postgresql":
            conn = conn.execution_options(isolation_level="AUTOCOMMIT")
        conn = conn.execution_options(markwatch_write=write)
        with conn.begin():
            yield Tx(conn)


def catalog_file(uri: str | Path) -> Path | None:
    """The file of a SQLite catalog; None for PostgreSQL."""
    url = catalog_url(uri)
    return Path(url[len(SQLITE):]) if url.startswith(SQLITE) else None


def catalog_exists(uri: str | Path) -> bool:
    """Whether there is a catalog to open (a PostgreSQL server is asked when opened)."""
    path = catalog_file(uri)
    return path is None or path.exists()


def local_state_dir(catalog_uri: str | Path, store_uri: str) -> Path:
    """Where files kept beside the catalog live (the portal's users, `portal.db`): the SQLite
    catalog's folder; for PostgreSQL the local store's folder, else ./markwatch-data."""
    path = catalog_file(catalog_uri)
    if path is not None:
        return path.parent
    if store_uri.startswith("file://"):
        from storage.uri import local_path

        return local_path(store_uri)
    return Path("markwatch-data")
