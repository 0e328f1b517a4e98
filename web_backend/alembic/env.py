"""Alembic environment: runs migrations online against the URL the backend configured."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine, pool

from web_backend.app.models import Base

config = context.config
target_metadata = Base.metadata


def run_migrations_online() -> None:
    """Runs migrations in one connection, batch mode so SQLite can alter tables."""
    url = config.get_main_option("sqlalchemy.url")
    assert url, "sqlalchemy.url is not set"
    connectable = create_engine(url, poolclass=pool.NullPool)
    with connectable.connect() as connection:
        context.configure(
            connection=connection,
            target_metadata=target_metadata,
            render_as_batch=connection.dialect.name == "sqlite",
        )
        with context.begin_transaction():
            context.run_migrations()


if context.is_offline_mode():
    raise SystemExit("offline migrations are not supported; run against a database")
run_migrations_online()
