"""SQL of the review workflow that both the API and the workers run: the audit log, a
person's locked corrections, business-key duplicates and vendor memory.

Functions take an open cursor (from `transaction()`), so the caller decides what commits
together: a decision, its audit row and what vendor memory learned from it are one
transaction.
"""
from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from invoice.scanner.processing.db.connection import Json
from invoice.scanner.processing.models import NormalizedField, NormalizedLineItem


def record_audit(cur, company_id: uuid.UUID | str, document_id: uuid.UUID | str | None, user_id: uuid.UUID | str | None,
                 action: str, field: str | None = None, before: Any = None, after: Any = None,
                 detail: dict[str, Any] | None = None) -> None:
    """Append one row to the audit log (who, when, what, before, after). Rows are never changed."""
    uid = str(user_id) if user_id is not None else None
    cur.execute(
        """INSERT INTO audit_log (company_id, document_id, actor_user_id, actor_email, actor_role, action, field,
                                  before, after, detail)
           VALUES (%s, %s, %s, (SELECT email FROM users WHERE id = %s), (SELECT role FROM users WHERE id = %s),
                   %s, %s, %s, %s, %s)""",
        (str(company_id), str(document_id) if document_id is not None else None, uid, uid, uid, action, field,
         Json(before), Json(after), Json(detail or {})),
    )


# -- locks ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Locks:
    """What a person fixed on a document; re-processing keeps it."""

    fields: dict[str, NormalizedField]
    line_items: list[NormalizedLineItem] | None  # None: the line items are not locked

    def __bool__(self) -> bool:
        return bool(self.fields) or self.line_items is not None


def load_locks(cur, document_id: str) -> Locks:
    cur.execute(
        """SELECT name, value, raw_value, confidence, page, bbox, valid, error FROM extracted_fields
           WHERE document_id = %s AND locked ORDER BY name""",
        (document_id,),
    )
    fields = {
        r["name"]: NormalizedField(name=r["name"], value=r["value"], raw_value=r["raw_value"],
                                   confidence=r["confidence"], page=r["page"],
                                   bbox=tuple(r["bbox"]) if r["bbox"] else None, valid=r["valid"], error=r["error"])
        for r in cur.fetchall()
    }
    cur.execute("SELECT line_items_locked FROM documents WHERE id = %s", (document_id,))
    row = cur.fetchone()
    items = None
    if row is not None and row["line_items_locked"]:
        cur.execute(
            """SELECT position, description, quantity, unit_price, amount, tax_rate, confidence, page, bbox
               FROM line_items WHERE document_id = %s ORDER BY position""",
            (document_id,),
        )
        items = [NormalizedLineItem(position=r["position"], description=r["description"],
                                    quantity=_f(r["quantity"]), unit_price=_f(r["unit_price"]),
                                    amount=_f(r["amount"]), tax_rate=_f(r["tax_rate"]),
                                    confidence=r["confidence"] or 1.0, page=r["page"],
                                    bbox=tuple(r["bbox"]) if r["bbox"] else None)
                 for r in cur.fetchall()]
    return Locks(fields, items)


def _f(v: Any) -> float | None:
    return float(v) if v is not None else None


# -- duplicates ----------------------------------------------------------------------------


def find_business_duplicate(cur, company_id: str, document_id: str, business_key: str) -> str | None:
    """The company's earliest other document with the same business key (vendor, number,
    date, total), rejected ones aside: a re-scan or forwarded copy of it."""
    cur.execute(
        """SELECT id FROM documents
           WHERE company_id = %s AND business_key = %s AND id <> %s AND status <> 'rejected'
             AND (created_at, id) < (SELECT created_at, id FROM documents WHERE id = %s)
           ORDER BY created_at, id LIMIT 1""",
        (company_id, business_key, document_id, document_id),
    )
    row = cur.fetchone()
    return str(row["id"]) if row else None


# -- vendor memory -------------------------------------------------------------------------


@dataclass(frozen=True)
class VendorProfile:
    id: uuid.UUID
    company_id: uuid.UUID
    name: str
    normalized_name: str
    vat_id: str | None
    iban: str | None
    currency: str | None
    layout: dict[str, Any]
    confirmations: int
    iban_confirmations: int
    last_confirmed_at: datetime | None


_VENDOR_COLUMNS = ", ".join(VendorProfile.__dataclass_fields__)


def _vendor(row: dict[str, Any]) -> VendorProfile:
    return VendorProfile(**{k: row[k] for k in VendorProfile.__dataclass_fields__})


def find_vendor(cur, company_id: str, vat_id: str | None, iban: str | None, normalized_name: str | None
                ) -> tuple[VendorProfile, str] | None:
    """The company's vendor profile that matches, and by what: VAT id first, then IBAN, then
    normalized name. A document that shows a VAT id never matches a profile with another
    one (a factoring company's IBAN is shared by many vendors). Only this company's profiles
    are ever looked at."""
    for key, column, value in (("vat_id", "vat_id", vat_id), ("iban", "iban", iban),
                               ("name", "normalized_name", normalized_name)):
        if not value:
            continue
        cur.execute(
            f"""SELECT {_VENDOR_COLUMNS} FROM vendors WHERE company_id = %s AND {column} = %s
                  AND (%s::text IS NULL OR vat_id IS NULL OR vat_id = %s)
                ORDER BY confirmations DESC, created_at LIMIT 1""",
            (company_id, value, vat_id, vat_id),
        )
        row = cur.fetchone()
        if row is not None:
            return _vendor(row), key
    return None


def save_vendor(cur, company_id: str, existing: VendorProfile | None, name: str, normalized_name: str,
                vat_id: str | None, iban: str | None, currency: str | None, layout: dict[str, Any]) -> uuid.UUID:
    """Create or update the vendor after a person confirmed one of its invoices."""
    if existing is None:
        vendor_id = uuid.uuid4()
        cur.execute(
            """INSERT INTO vendors (id, company_id, name, normalized_name, vat_id, iban, currency, layout,
                                    confirmations, iban_confirmations, last_confirmed_at)
               VALUES (%s, %s, %s, %s, %s, %s, %s, %s, 1, %s, now())
               ON CONFLICT (company_id, vat_id) WHERE vat_id IS NOT NULL DO UPDATE SET
                   confirmations = vendors.confirmations + 1, last_confirmed_at = now()
               RETURNING id""",
            (str(vendor_id), company_id, name, normalized_name, vat_id, iban, currency, Json(layout),
             1 if iban else 0),
        )
        return cur.fetchone()["id"]
    same_iban = bool(iban) and iban == existing.iban
    cur.execute(
        """UPDATE vendors SET name = %s, normalized_name = %s, vat_id = coalesce(%s, vat_id),
                  iban = coalesce(%s, iban), currency = coalesce(%s, currency), layout = %s,
                  confirmations = confirmations + 1,
                  iban_confirmations = CASE WHEN %s THEN iban_confirmations + 1
                                            WHEN %s::text IS NOT NULL THEN 1 ELSE iban_confirmations END,
                  last_confirmed_at = now()
           WHERE id = %s""",
        (name, normalized_name, vat_id, iban, currency, Json(layout), same_iban, iban, str(existing.id)),
    )
    return existing.id


def vendor_match(cur, company_id: str, values: dict[str, Any]):
    """The company's vendor memory for a document whose fields read `values` (raw or
    normalized): a `vendor_memory.Match`, or None for a vendor nobody confirmed yet."""
    from invoice.scanner.processing.extract import vendor_memory

    vat, iban, name = vendor_memory.identify(values)
    found = find_vendor(cur, company_id, vat, iban, name)
    if found is None:
        return None
    v, by = found
    return vendor_memory.Match(vendor_id=str(v.id), matched_by=by, name=v.name, vat_id=v.vat_id, iban=v.iban,
                               currency=v.currency, layout=v.layout or {}, confirmations=v.confirmations,
                               iban_confirmations=v.iban_confirmations)
