"""Opening the project's SQLite databases the same way everywhere: WAL, a busy timeout,
autocommit, rows as mappings, one connection shared by threads behind the caller's lock."""

from __future__ import annotations

import sqlite3
from pathlib import Path


def open_db(path: str | Path, schema: str) -> sqlite3.Connection:
    """Connect to (and create, with `schema`) the database at `path`."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
    db.row_factory = sqlite3.Row
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA busy_timeout=10000")
    db.executescript(schema)
    return db
