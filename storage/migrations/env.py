"""Alembic's environment for the catalog: always run from code (`storage.migrate`) on a
connection it hands over, inside that connection's transaction."""

from __future__ import annotations

from alembic import context

from storage.schema import load_metadata

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=load_metadata(),
                  render_as_batch=connection.dialect.name == "sqlite",
                  transactional_ddl=True)
with context.begin_transaction():
    context.run_migrations()
