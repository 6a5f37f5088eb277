"""Alembic environment of the decision audit schema (run by :func:`training.decisions.migrate`)."""

from __future__ import annotations

from alembic import context

from training.decisions_schema import VERSION_TABLE, metadata, open_engine

config = context.config
connection = config.attributes.get("connection")
if connection is None:  # `alembic -x url=... upgrade head` from a shell
    url = context.get_x_argument(as_dictionary=True).get("url") or config.get_main_option("sqlalchemy.url")
    connection = open_engine(url).connect()
context.configure(connection=connection, target_metadata=metadata, version_table=VERSION_TABLE)
with context.begin_transaction():
    context.run_migrations()
