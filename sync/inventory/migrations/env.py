"""Alembic environment: always run programmatically by ``sync.inventory.migrate`` with a connection."""

from __future__ import annotations

from alembic import context

from sync.inventory.tables import metadata

connection = context.config.attributes.get("connection")
if connection is None:  # pragma: no cover - the CLI path; we always pass a connection
    raise RuntimeError("run migrations through sync.inventory.migrate.upgrade(database_url)")

context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
