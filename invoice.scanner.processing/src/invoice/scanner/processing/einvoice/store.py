"""SQL of the e-invoice path: one row per document in `document_einvoices`, written in parts by
the stage that owns each part (preprocessing: the XML and its terms; llm: the visible layer's
reading; extraction: provenance and cross-check; evaluation: validation). Each write replaces
its own columns, so a stage that runs twice leaves the same row."""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from invoice.scanner.processing.db.connection import Json, single_statement, transaction


@dataclass
class EInvoiceRow:
    document_id: str
    source: str
    xml: bytes
    xml_sha256: str
    syntax: str | None
    profile: str | None
    customization_id: str | None
    claims: list[str]
    terms: dict[str, Any] | None
    summary: dict[str, Any] | None
    read_error: str | None
    visible: dict[str, Any] | None
    provenance: dict[str, str] | None
    cross_check: dict[str, Any] | None
    validation: dict[str, Any] | None


_COLUMNS = ", ".join(EInvoiceRow.__dataclass_fields__)


def save_read(database_url: str, document_id: str, source: str, xml: bytes, *, syntax: str | None = None,
              profile: str | None = None, customization_id: str | None = None, claims: list[str] | None = None,
              terms: dict[str, Any] | None = None, summary: dict[str, Any] | None = None,
              read_error: str | None = None) -> None:
    """The XML as received and what preprocessing read from it; later stages' columns reset."""
    with transaction(database_url) as cur:
        cur.execute(
            """INSERT INTO document_einvoices (document_id, source, xml, xml_sha256, syntax, profile,
                                               customization_id, claims, terms, summary, read_error)
               VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)
               ON CONFLICT (document_id) DO UPDATE SET source = EXCLUDED.source, xml = EXCLUDED.xml,
                   xml_sha256 = EXCLUDED.xml_sha256, syntax = EXCLUDED.syntax, profile = EXCLUDED.profile,
                   customization_id = EXCLUDED.customization_id, claims = EXCLUDED.claims, terms = EXCLUDED.terms,
                   summary = EXCLUDED.summary, read_error = EXCLUDED.read_error, visible = NULL,
                   provenance = NULL, cross_check = NULL, validation = NULL, updated_at = now()""",
            (document_id, source, xml, hashlib.sha256(xml).hexdigest(), syntax, profile, customization_id,
             Json(claims or []), Json(terms) if terms is not None else None,
             Json(summary) if summary is not None else None, read_error),
        )


def delete(database_url: str, document_id: str) -> None:
    """A re-run of preprocessing on a file that (no longer) carries an e-invoice. One statement,
    one round trip: every PDF without an XML passes here."""
    with single_statement(database_url) as cur:
        cur.execute("DELETE FROM document_einvoices WHERE document_id = %s", (document_id,))


def load(database_url: str, document_id: str) -> EInvoiceRow | None:
    """The document's e-invoice row, or None (most documents: asked by three stages, so one
    round trip)."""
    with single_statement(database_url) as cur:
        cur.execute(f"SELECT {_COLUMNS} FROM document_einvoices WHERE document_id = %s", (document_id,))
        row = cur.fetchone()
    if row is None:
        return None
    values = dict(row)
    values["document_id"] = str(values["document_id"])
    values["xml"] = bytes(values["xml"])
    values["claims"] = values["claims"] or []
    return EInvoiceRow(**values)


def update(database_url: str, document_id: str, **columns: Any) -> None:
    """Set one stage's columns (visible, provenance, cross_check, validation)."""
    allowed = {"visible", "provenance", "cross_check", "validation"}
    if not columns or set(columns) - allowed:
        raise ValueError(f"only {sorted(allowed)} can be updated, not {sorted(columns)}")
    assignments = ", ".join(f"{name} = %s" for name in columns)
    with transaction(database_url) as cur:
        cur.execute(f"UPDATE document_einvoices SET {assignments}, updated_at = now() WHERE document_id = %s",
                    (*(Json(v) if v is not None else None for v in columns.values()), document_id))
