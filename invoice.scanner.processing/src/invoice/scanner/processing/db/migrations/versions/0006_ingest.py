"""Ingestion sources: where each document came from (upload, batch, mail, folder) and the
batches of POST /documents/batch with one result per file.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01
"""
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        -- Existing documents came through POST /documents/upload.
        ALTER TABLE documents
            ADD COLUMN source text NOT NULL DEFAULT 'upload'
                CONSTRAINT documents_source_check CHECK (source IN ('upload', 'batch', 'mail', 'folder')),
            -- batch: batch_id, archive, entry; folder: path, ...; mail: message_id, sender, ...
            ADD COLUMN source_detail jsonb;

        CREATE TABLE batches (
            id uuid PRIMARY KEY,
            company_id uuid NOT NULL REFERENCES companies(id) ON DELETE CASCADE,
            created_by uuid REFERENCES users(id) ON DELETE SET NULL,
            archive_name text,          -- the ZIP's file name, NULL for many files in one request
            file_count integer NOT NULL,  -- files offered; the counts per answer come from batch_items
            created_at timestamptz NOT NULL DEFAULT now()
        );
        CREATE INDEX batches_company_created_idx ON batches (company_id, created_at DESC);

        -- One row per file of a batch, in request (or archive) order, as answered.
        CREATE TABLE batch_items (
            batch_id uuid NOT NULL REFERENCES batches(id) ON DELETE CASCADE,
            position integer NOT NULL,
            filename text NOT NULL,
            entry text,                 -- the path inside the ZIP, as written there (metadata only)
            http_status integer NOT NULL,
            -- the new document (201) or the one it duplicates (409)
            document_id uuid REFERENCES documents(id) ON DELETE SET NULL,
            reason text,                -- the upload's machine label for a refusal (too_large, ...)
            message text,
            PRIMARY KEY (batch_id, position)
        );
        """
    )


def downgrade() -> None:
    op.execute(
        """
        DROP TABLE batch_items;
        DROP TABLE batches;
        ALTER TABLE documents DROP COLUMN source_detail, DROP COLUMN source;
        """
    )
