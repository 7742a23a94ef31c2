"""Mailboxes: per-company IMAP accounts polled by the mail queue (password encrypted with
Fernet, MAIL_SECRET_KEY), and every message seen, so nothing is imported twice.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01
"""
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        CREATE TABLE mailboxes (
            id uuid PRIMARY KEY,
            company_id uuid NOT NULL REFERENCES companies(id) ON DELETE CASCADE,
            name text NOT NULL,
            host text NOT NULL,
            port integer NOT NULL,
            security text NOT NULL CHECK (security IN ('ssl', 'starttls', 'none')),
            username text NOT NULL,
            secret_encrypted text NOT NULL,   -- Fernet token of the password; never returned
            folder text NOT NULL DEFAULT 'INBOX',
            allowed_senders text[] NOT NULL DEFAULT '{}',  -- addresses or @domains; empty: anyone
            after_import text NOT NULL DEFAULT 'mark_read' CHECK (after_import IN ('mark_read', 'move')),
            move_to text,
            enabled boolean NOT NULL DEFAULT true,
            last_poll_at timestamptz,
            last_success_at timestamptz,
            last_error text,
            created_at timestamptz NOT NULL DEFAULT now()
        );
        CREATE INDEX mailboxes_company_idx ON mailboxes (company_id);

        -- A message is recorded only once all its documents are committed.
        CREATE TABLE mail_messages (
            mailbox_id uuid NOT NULL REFERENCES mailboxes(id) ON DELETE CASCADE,
            message_id text NOT NULL,
            sender text,
            subject text,
            received_at timestamptz,
            documents integer NOT NULL,       -- attachments accepted (new or duplicate)
            outcome jsonb NOT NULL,           -- per attachment: name, code, reason, document_id
            reason text,                      -- why nothing was imported (no usable attachment, sender)
            processed_at timestamptz NOT NULL DEFAULT now(),
            PRIMARY KEY (mailbox_id, message_id)
        );
        """
    )


def downgrade() -> None:
    op.execute("DROP TABLE mail_messages; DROP TABLE mailboxes;")
