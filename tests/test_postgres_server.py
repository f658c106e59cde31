"""The test PostgreSQL itself: a fresh cluster on 127.0.0.1, password required over TCP, one
fresh database per test."""

from __future__ import annotations

import psycopg
import pytest

from tests.servers.postgres import PASSWORD, PostgresServer

pytest_plugins = ["tests.servers"]


def test_a_fresh_database_per_test(postgres_server: PostgresServer, pg_database: str) -> None:
    assert pg_database.startswith("postgresql://") and "@127.0.0.1:" in pg_database
    with psycopg.connect(pg_database) as conn:
        conn.execute("CREATE TABLE t (x INTEGER)")
        conn.execute("INSERT INTO t VALUES (1)")
        row = conn.execute("SELECT count(*), current_setting('listen_addresses'), "
                           "current_setting('fsync') FROM t").fetchone()
    assert row == (1, "127.0.0.1", "off")
    other = postgres_server.new_database()
    with psycopg.connect(other) as conn, pytest.raises(psycopg.errors.UndefinedTable):
        conn.execute("SELECT * FROM t")


def test_a_wrong_password_is_refused(postgres_server: PostgresServer) -> None:
    bad = postgres_server.uri().replace(PASSWORD, "wrong")
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(bad, connect_timeout=5)
