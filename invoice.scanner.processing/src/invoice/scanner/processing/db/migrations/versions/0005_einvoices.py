"""E-invoices: the XML of a document exactly as received, its business terms, validation and
the cross-check against the picture.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01
"""
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        CREATE TABLE document_einvoices (
            document_id uuid PRIMARY KEY REFERENCES documents(id) ON DELETE CASCADE,
            -- 'xml' for a bare XML upload, else the PDF attachment's name (factur-x.xml, ...)
            source text NOT NULL,
            -- the XML byte for byte as received (GET /documents/<id>/xml serves it unchanged)
            xml bytea NOT NULL,
            xml_sha256 text NOT NULL,
            syntax text,            -- ubl-invoice | ubl-creditnote | cii | zugferd1
            profile text,           -- Factur-X level for CII (minimum ... extended), en16931 for UBL
            customization_id text,  -- BT-24 as written
            claims jsonb,           -- rule sets claimed: EN16931, XRechnung, Peppol BIS 3
            terms jsonb,            -- EN 16931 business terms (BT-1, BG-4, ...)
            summary jsonb,          -- parties with identifiers, VAT breakdown, payment means
            read_error text,        -- why the XML could not be read (a format error), else NULL
            visible jsonb,          -- a hybrid PDF's visible layer, as the local extractor read it
            provenance jsonb,       -- field -> xml | page | derived
            cross_check jsonb,      -- XML vs picture, per key value
            validation jsonb,       -- XSD and Schematron findings
            created_at timestamptz NOT NULL DEFAULT now(),
            updated_at timestamptz NOT NULL DEFAULT now()
        );
        """
    )


def downgrade() -> None:
    op.execute("DROP TABLE document_einvoices;")
