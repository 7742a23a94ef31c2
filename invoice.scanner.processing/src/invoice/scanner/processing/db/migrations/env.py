from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine, pool

from invoice.scanner.processing.config import get_settings

config = context.config


def _url() -> str:
    url = config.attributes.get("database_url") or get_settings().database_url
    # SQLAlchemy's dialect for psycopg 3, the driver the rest of the code uses.
    return url.replace("postgresql://", "postgresql+psycopg://", 1) if url.startswith("postgresql://") else url


def run_migrations_offline() -> None:
    context.configure(url=_url(), literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    engine = create_engine(_url(), poolclass=pool.NullPool)
    with engine.connect() as connection:
        context.configure(connection=connection)
        with context.begin_transaction():
            # Several processes may start at once (API replicas, workers): one migrates, the others wait.
            connection.exec_driver_sql("SELECT pg_advisory_xact_lock(724201)")
            context.run_migrations()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
