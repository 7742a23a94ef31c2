"""Mailboxes: OAuth2 (XOAUTH2) as an alternative to a password, and poll counters for /metrics.

`auth` says what `secret_encrypted` holds: the password (`password`) or an OAuth2 access token
(`xoauth2`, SASL XOAUTH2), both Fernet-encrypted with MAIL_SECRET_KEY. `polls` and
`poll_failures` count the mail worker's polls of the mailbox (every process, every replica:
the figures /metrics reports), `idle` whether the server offered IDLE at the last login.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01
"""
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        ALTER TABLE mailboxes
            ADD COLUMN auth text NOT NULL DEFAULT 'password' CHECK (auth IN ('password', 'xoauth2')),
            ADD COLUMN polls bigint NOT NULL DEFAULT 0,
            ADD COLUMN poll_failures bigint NOT NULL DEFAULT 0,
            ADD COLUMN idle boolean;
        """
    )


def downgrade() -> None:
    op.execute("ALTER TABLE mailboxes DROP COLUMN auth, DROP COLUMN polls, DROP COLUMN poll_failures, "
               "DROP COLUMN idle;")
