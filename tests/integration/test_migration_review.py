"""Migration 0003 (review) on a database that already has users and documents: existing users
become admins, new ones default to the least privilege, and every document gets a version."""
from __future__ import annotations

import uuid

from alembic import command

from invoice.scanner.processing.db.connection import close_pools, transaction
from invoice.scanner.processing.db.migrate import alembic_config


def test_existing_users_migrate_to_admin(fresh_database, drop_database):
    url = fresh_database("invoice_scanner_test_migration_review")
    cfg = alembic_config(url)
    try:
        command.downgrade(cfg, "0002")
        close_pools()
        company, user, doc = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
        with transaction(url) as cur:
            cur.execute("INSERT INTO companies (id, name) VALUES (%s, 'Before Roles')", (str(company),))
            cur.execute("INSERT INTO users (id, company_id, email, password_hash) VALUES (%s, %s, 'old@x.test', 'h')",
                        (str(user), str(company)))
            cur.execute(
                """INSERT INTO documents (id, company_id, uploaded_by, original_filename, stored_path, sha256,
                                          content_type, size_bytes, status)
                   VALUES (%s, %s, %s, 'a.pdf', '/x', 'abc', 'application/pdf', 1, 'manual_review')""",
                (str(doc), str(company), str(user)))
        close_pools()
        command.upgrade(cfg, "head")
        with transaction(url) as cur:
            cur.execute("SELECT role FROM users WHERE id = %s", (str(user),))
            assert cur.fetchone()["role"] == "admin"
            cur.execute("INSERT INTO users (id, company_id, email, password_hash) VALUES (%s, %s, 'new@x.test', 'h') "
                        "RETURNING role", (str(uuid.uuid4()), str(company)))
            assert cur.fetchone()["role"] == "uploader"
            cur.execute("SELECT version, line_items_locked FROM documents WHERE id = %s", (str(doc),))
            assert cur.fetchone() == {"version": 1, "line_items_locked": False}
            cur.execute("UPDATE documents SET error = 'x' WHERE id = %s RETURNING version", (str(doc),))
            assert cur.fetchone()["version"] == 2  # the trigger behind the ETag
    finally:
        close_pools()
        drop_database(url)
