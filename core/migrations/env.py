"""Alembic environment: migrations run against the connection the store hands over, or the URL
in the Alembic config (``alembic -x url=...`` is not needed: set ``ATTAIN_DATABASE_URL``)."""

from __future__ import annotations

from alembic import context
from attain.core.store import default_url, metadata
from sqlalchemy import create_engine

config = context.config
#: the core's version table, or a plugin's (attain.core.store.migrations)
version_table = config.attributes.get("version_table", "alembic_version")
target_metadata = config.attributes.get("metadata", metadata)


def run() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        context.configure(connection=connection, target_metadata=target_metadata,
                          render_as_batch=connection.dialect.name == "sqlite",
                          version_table=version_table)
        with context.begin_transaction():
            context.run_migrations()
        return
    engine = create_engine(config.get_main_option("sqlalchemy.url") or default_url())
    with engine.begin() as conn:
        context.configure(connection=conn, target_metadata=target_metadata,
                          render_as_batch=conn.dialect.name == "sqlite",
                          version_table=version_table)
        with context.begin_transaction():
            context.run_migrations()


run()
