"""Apply the schema: `python -m invoice.scanner.processing.db.migrate` (or `invoice-scanner-admin migrate`)."""
from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config

from invoice.scanner.processing.config import get_settings

HERE = Path(__file__).resolve().parent


def alembic_config(database_url: str | None = None) -> Config:
    cfg = Config(str(HERE / "alembic.ini"))
    cfg.set_main_option("script_location", str(HERE / "migrations"))
    cfg.attributes["database_url"] = database_url or get_settings().database_url
    return cfg


def ensure_database(database_url: str) -> None:
    """Create the database named in the URL if the server does not have it yet."""
    import psycopg
    from psycopg import sql
    from psycopg.conninfo import conninfo_to_dict, make_conninfo

    name = conninfo_to_dict(database_url).get("dbname")
    if not name:
        return
    with psycopg.connect(make_conninfo(database_url, dbname="postgres"), autocommit=True) as conn:
        if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone() is None:
            try:
                conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
            except psycopg.errors.DuplicateDatabase:
                pass  # created by a process that started at the same time


def upgrade(database_url: str | None = None) -> None:
    url = database_url or get_settings().database_url
    ensure_database(url)
    command.upgrade(alembic_config(url), "head")


if __name__ == "__main__":
    upgrade()
