"""Initial schema: tenants, auth, documents, status history, OCR pages, fields, line items.

Revision ID: 0001
Revises:
Create Date: 2026-11-22
"""
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        CREATE TABLE companies (
            id uuid PRIMARY KEY,
            name text NOT NULL UNIQUE,
            created_at timestamptz NOT NULL DEFAULT now()
        );

        CREATE TABLE users (
            id uuid PRIMARY KEY,
            company_id uuid NOT NULL REFERENCES companies(id) ON DELETE CASCADE,
            email text NOT NULL,
            password_hash text NOT NULL,
            is_active boolean NOT NULL DEFAULT true,
            created_at timestamptz NOT NULL DEFAULT now()
        );
        CREATE UNIQUE INDEX users_email_key ON users (lower(email));

        -- Opaque bearer tokens; only their SHA-256 is stored.
        CREATE TABLE api_tokens (
            id uuid PRIMARY KEY,
            user_id uuid NOT NULL REFERENCES users(id) ON DELETE CASCADE,
            token_sha256 text NOT NULL UNIQUE,
            created_at timestamptz NOT NULL DEFAULT now(),
            expires_at timestamptz NOT NULL,
            revoked_at timestamptz
        );

        CREATE TABLE documents (
            id uuid PRIMARY KEY,
            company_id uuid NOT NULL REFERENCES companies(id) ON DELETE CASCADE,
            uploaded_by uuid REFERENCES users(id) ON DELETE SET NULL,
            original_filename text NOT NULL,
            stored_path text NOT NULL,
            sha256 text NOT NULL,
            content_type text NOT NULL,
            size_bytes bigint NOT NULL,
            pages integer,
            status text NOT NULL,
            error text,
            quality_score double precision,
            predicted_accuracy double precision,
            evaluation jsonb,
            llm_usage jsonb,
            task_id text,
            -- Incremented each time the pipeline is (re)driven; a stage message carrying an
            -- older run is stale and does nothing (redelivery after a re-drive is harmless).
            pipeline_run integer NOT NULL DEFAULT 0,
            redrive_count integer NOT NULL DEFAULT 0,
            enqueued_at timestamptz,
            created_at timestamptz NOT NULL DEFAULT now(),
            updated_at timestamptz NOT NULL DEFAULT now(),
            completed_at timestamptz,
            CONSTRAINT documents_company_sha256_key UNIQUE (company_id, sha256)
        );
        CREATE INDEX documents_company_created_idx ON documents (company_id, created_at DESC, id DESC);
        CREATE INDEX documents_status_idx ON documents (status, updated_at);

        CREATE TABLE document_status_history (
            id bigserial PRIMARY KEY,
            document_id uuid NOT NULL REFERENCES documents(id) ON DELETE CASCADE,
            from_status text,
            to_status text NOT NULL,
            stage text,
            pipeline_run integer NOT NULL DEFAULT 0,
            attempt integer NOT NULL DEFAULT 0,
            worker_host text,
            started_at timestamptz NOT NULL DEFAULT now(),
            finished_at timestamptz,
            detail jsonb
        );
        CREATE INDEX document_status_history_doc_idx ON document_status_history (document_id, id);

        CREATE TABLE document_pages (
            document_id uuid NOT NULL REFERENCES documents(id) ON DELETE CASCADE,
            page_no integer NOT NULL,
            image_path text NOT NULL,
            width integer NOT NULL,
            height integer NOT NULL,
            dpi integer NOT NULL,
            rotation integer NOT NULL DEFAULT 0,
            skew_degrees double precision NOT NULL DEFAULT 0,
            text_layer jsonb,
            ocr_engine text,
            ocr_text text,
            ocr_lines jsonb,
            ocr_confidence double precision,
            ocr_seconds double precision,
            PRIMARY KEY (document_id, page_no)
        );

        CREATE TABLE document_predictions (
            document_id uuid PRIMARY KEY REFERENCES documents(id) ON DELETE CASCADE,
            provider text NOT NULL,
            model text,
            fields jsonb NOT NULL,
            line_items jsonb NOT NULL,
            usage jsonb,
            created_at timestamptz NOT NULL DEFAULT now()
        );

        CREATE TABLE extracted_fields (
            document_id uuid NOT NULL REFERENCES documents(id) ON DELETE CASCADE,
            name text NOT NULL,
            value jsonb,
            raw_value text,
            confidence double precision NOT NULL DEFAULT 0,
            page integer,
            bbox double precision[],
            valid boolean NOT NULL DEFAULT true,
            error text,
            PRIMARY KEY (document_id, name)
        );

        CREATE TABLE line_items (
            document_id uuid NOT NULL REFERENCES documents(id) ON DELETE CASCADE,
            position integer NOT NULL,
            description text,
            quantity numeric,
            unit_price numeric,
            amount numeric,
            tax_rate numeric,
            confidence double precision,
            page integer,
            bbox double precision[],
            PRIMARY KEY (document_id, position)
        );
        """
    )


def downgrade() -> None:
    op.execute(
        """
        DROP TABLE line_items; DROP TABLE extracted_fields; DROP TABLE document_predictions;
        DROP TABLE document_pages; DROP TABLE document_status_history; DROP TABLE documents;
        DROP TABLE api_tokens; DROP TABLE users; DROP TABLE companies;
        """
    )
