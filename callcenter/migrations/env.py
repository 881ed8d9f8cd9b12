"""Alembic environment: runs each package's migration branch against the configured URL."""

import typing

from alembic import context
from sqlalchemy import pool

from callcenter.store import Base, engine_for

config = context.config
url = config.get_main_option("sqlalchemy.url")


def run() -> None:
    if context.is_offline_mode():
        context.configure(url=url, target_metadata=Base.metadata, literal_binds=True)
        with context.begin_transaction():
            context.run_migrations()
        return
    connectable = engine_for(url) if url else None
    if connectable is None:
        from sqlalchemy import create_engine

        connectable = create_engine(typing.cast(str, url), poolclass=pool.NullPool)
    with connectable.connect() as connection:
        context.configure(
            connection=connection,
            target_metadata=Base.metadata,
            render_as_batch=connection.dialect.name == "sqlite",
        )
        with context.begin_transaction():
            context.run_migrations()


run()
