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
    import psycopg2
    from psycopg2 import sql
    from psycopg2.extensions import parse_dsn, make_dsn

    params = parse_dsn(database_url)
    name = params.get("dbname")
    if not name:
        return
    admin = make_dsn(database_url, dbname="postgres")
    conn = psycopg2.connect(admin)
    try:
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,))
            if cur.fetchone() is None:
                try:
                    cur.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
                except psycopg2.errors.DuplicateDatabase:
                    pass  # created by a process that started at the same time
    finally:
        conn.close()


def upgrade(database_url: str | None = None) -> None:
    url = database_url or get_settings().database_url
    ensure_database(url)
    command.upgrade(alembic_config(url), "head")


if __name__ == "__main__":
    upgrade()
