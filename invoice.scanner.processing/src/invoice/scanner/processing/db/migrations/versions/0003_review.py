"""Review workflow: roles and scoped tokens, claims, locked corrections, decisions, an
append-only audit log, vendor memory and business-key duplicates.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01
"""
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        -- Roles: every user that exists today keeps doing everything (admin); new users get the
        -- least privilege unless they are given a role.
        ALTER TABLE users ADD COLUMN role text NOT NULL DEFAULT 'admin'
            CONSTRAINT users_role_check CHECK (role IN ('admin', 'reviewer', 'uploader'));
        ALTER TABLE users ALTER COLUMN role SET DEFAULT 'uploader';

        -- A token with scopes (a machine's) can do at most what its scopes and its user's role both allow.
        ALTER TABLE api_tokens ADD COLUMN scopes text[], ADD COLUMN name text;

        ALTER TABLE documents
            ADD COLUMN version integer NOT NULL DEFAULT 1,
            ADD COLUMN duplicate_of uuid REFERENCES documents(id) ON DELETE SET NULL,
            ADD COLUMN business_key text,
            ADD COLUMN vendor_id uuid,
            ADD COLUMN decided_by uuid REFERENCES users(id) ON DELETE SET NULL,
            ADD COLUMN decided_at timestamptz,
            ADD COLUMN decision_reason text,
            ADD COLUMN line_items_locked boolean NOT NULL DEFAULT false;
        CREATE INDEX documents_business_key_idx ON documents (company_id, business_key, created_at)
            WHERE business_key IS NOT NULL;
        CREATE INDEX documents_review_idx ON documents (company_id, status)
            WHERE status IN ('manual_review', 'preprocess_error', 'ocr_error', 'predict_error',
                             'extraction_error', 'evaluation_error');

        -- The version behind the ETag: every change of the row is a new version, whoever made it.
        CREATE FUNCTION documents_bump_version() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            NEW.version := OLD.version + 1;
            RETURN NEW;
        END $$;
        CREATE TRIGGER documents_version BEFORE UPDATE ON documents
            FOR EACH ROW EXECUTE FUNCTION documents_bump_version();

        -- A person's correction: re-processing keeps locked rows.
        ALTER TABLE extracted_fields
            ADD COLUMN locked boolean NOT NULL DEFAULT false,
            ADD COLUMN corrected_by uuid REFERENCES users(id) ON DELETE SET NULL,
            ADD COLUMN corrected_at timestamptz;

        -- At most one reviewer holds a document; an expired claim is free to take.
        CREATE TABLE review_claims (
            document_id uuid PRIMARY KEY REFERENCES documents(id) ON DELETE CASCADE,
            company_id uuid NOT NULL REFERENCES companies(id) ON DELETE CASCADE,
            user_id uuid NOT NULL REFERENCES users(id) ON DELETE CASCADE,
            claimed_at timestamptz NOT NULL DEFAULT now(),
            expires_at timestamptz NOT NULL
        );

        -- Who did what to which document, before and after. Append-only: no foreign keys, so no
        -- cascade can delete a row, and a trigger refuses UPDATE, DELETE and TRUNCATE.
        CREATE TABLE audit_log (
            id bigserial PRIMARY KEY,
            company_id uuid NOT NULL,
            document_id uuid,
            actor_user_id uuid,
            actor_email text,
            actor_role text,
            action text NOT NULL,
            field text,
            before jsonb,
            after jsonb,
            detail jsonb,
            at timestamptz NOT NULL DEFAULT now()
        );
        CREATE INDEX audit_log_document_idx ON audit_log (document_id, id);
        CREATE INDEX audit_log_company_at_idx ON audit_log (company_id, at);
        CREATE FUNCTION audit_log_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            RAISE EXCEPTION 'audit_log is append-only: % refused', TG_OP
                USING ERRCODE = 'insufficient_privilege';
        END $$;
        CREATE TRIGGER audit_log_no_update BEFORE UPDATE OR DELETE ON audit_log
            FOR EACH ROW EXECUTE FUNCTION audit_log_refuse_change();
        CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
            FOR EACH STATEMENT EXECUTE FUNCTION audit_log_refuse_change();
        REVOKE UPDATE, DELETE, TRUNCATE ON audit_log FROM PUBLIC;

        -- What people confirmed about a vendor, per company (never shared across companies).
        CREATE TABLE vendors (
            id uuid PRIMARY KEY,
            company_id uuid NOT NULL REFERENCES companies(id) ON DELETE CASCADE,
            name text NOT NULL,
            normalized_name text NOT NULL,
            vat_id text,
            iban text,
            currency text,
            layout jsonb NOT NULL DEFAULT '{}'::jsonb,
            confirmations integer NOT NULL DEFAULT 0,
            iban_confirmations integer NOT NULL DEFAULT 0,
            created_at timestamptz NOT NULL DEFAULT now(),
            last_confirmed_at timestamptz
        );
        CREATE UNIQUE INDEX vendors_company_vat_key ON vendors (company_id, vat_id) WHERE vat_id IS NOT NULL;
        CREATE INDEX vendors_company_iban_idx ON vendors (company_id, iban) WHERE iban IS NOT NULL;
        CREATE INDEX vendors_company_name_idx ON vendors (company_id, normalized_name);
        """
    )


def downgrade() -> None:
    op.execute(
        """
        DROP TABLE vendors;
        DROP TRIGGER audit_log_no_truncate ON audit_log;
        DROP TABLE audit_log;
        DROP FUNCTION audit_log_refuse_change();
        DROP TABLE review_claims;
        ALTER TABLE extracted_fields DROP COLUMN locked, DROP COLUMN corrected_by, DROP COLUMN corrected_at;
        DROP INDEX documents_review_idx;
        DROP TRIGGER documents_version ON documents;
        DROP FUNCTION documents_bump_version();
        ALTER TABLE documents DROP COLUMN version, DROP COLUMN duplicate_of, DROP COLUMN business_key,
            DROP COLUMN vendor_id, DROP COLUMN decided_by, DROP COLUMN decided_at, DROP COLUMN decision_reason,
            DROP COLUMN line_items_locked;
        ALTER TABLE api_tokens DROP COLUMN scopes, DROP COLUMN name;
        ALTER TABLE users DROP COLUMN role;
        """
    )
