"""What the review endpoints do between HTTP and SQL: versions (ETags), the review keys of a
document, and what a person's approval teaches vendor memory.

Webhooks need no call from here: a trigger on `documents.status` (helper "hooks",
migration 0004) writes the event in the deciding transaction, with `decided_by`,
`decision_reason` and the corrected field values of that same transaction.
"""
from __future__ import annotations

import logging
import re
import uuid
from typing import Any

from invoice.scanner.processing.db import review as review_db
from invoice.scanner.processing.extract import vendor_memory

from invoice.scanner.api.repository import DocumentRecord
from invoice.scanner.api.review_repository import ReviewRepository

logger = logging.getLogger(__name__)

_IF_MATCH = re.compile(r'^\s*(?:W/)?"?(\d{1,10})"?\s*$')


def etag(version: int) -> str:
    return f'"{version}"'


def parse_if_match(header: str | None) -> int | None:
    """The version an `If-Match` header names (`"7"`, `W/"7"` or `7`); None when absent.
    ValueError when it is not one of ours."""
    if header is None or not header.strip():
        return None
    m = _IF_MATCH.match(header)
    if not m:
        raise ValueError(header)
    return int(m.group(1))


def review_repo(state) -> ReviewRepository:
    return ReviewRepository(state.repo.database_url, state.repo.pool_size)


def review_keys(state, company_id: uuid.UUID, doc: DocumentRecord) -> dict[str, Any]:
    """A document's review keys: its live claim, the decision and the vendor memory it matched."""
    repo = review_repo(state)
    claim = repo.get_claim(company_id, str(doc.id))
    body: dict[str, Any] = {"claim": dict(claim) if claim else None}
    decision = None
    if doc.decided_at is not None:
        decider = repo.user_brief(company_id, doc.decided_by) if doc.decided_by else None
        decision = {"decision": doc.status if doc.status in ("approved", "rejected") else None,
                    "by": decider, "at": doc.decided_at.isoformat(), "reason": doc.decision_reason}
    elif doc.status == "approved":
        decision = {"decision": "approved", "by": None, "at": doc.completed_at.isoformat() if doc.completed_at else None,
                    "reason": None}
    body["decision"] = decision
    check = ((doc.evaluation or {}).get("checks") or {}).get("vendor_memory") or {}
    body["vendor"] = ({"id": check.get("vendor_id"), "name": check.get("name"),
                       "confirmations": check.get("confirmations"), "matched_by": check.get("matched_by"),
                       "evidence": check.get("evidence") or [], "iban_changed": bool(check.get("iban_changed"))}
                      if check.get("known") else None)
    return body


def learn_from_document(cur, company_id: str, document_id: str) -> uuid.UUID | None:
    """Teach vendor memory what a person confirmed on this document (inside the approving
    transaction). Returns the vendor's id, or None when the document names no vendor."""
    cur.execute("SELECT name, value, raw_value, locked, page, bbox FROM extracted_fields WHERE document_id = %s",
                (document_id,))
    fields = {r["name"]: {"value": r["value"], "page": r["page"], "bbox": r["bbox"],
                          "derived": r["raw_value"] is None and not r["locked"]} for r in cur.fetchall()}
    cur.execute(
        "SELECT page_no, width, height, ocr_lines AS lines FROM document_pages WHERE document_id = %s ORDER BY page_no",
        (document_id,))
    pages = cur.fetchall()
    lesson = vendor_memory.lesson(fields, pages)
    if lesson is None:
        return None
    found = review_db.find_vendor(cur, company_id, lesson.vat_id, lesson.iban, lesson.normalized_name)
    existing = found[0] if found else None
    layout = vendor_memory.merged_layout(existing.layout if existing else {}, lesson.layout)
    vendor_id = review_db.save_vendor(cur, company_id, existing, lesson.name, lesson.normalized_name,
                                      lesson.vat_id, lesson.iban, lesson.currency, layout)
    logger.info("vendor memory: %s learned %d field place(s) from document %s",
                lesson.normalized_name, len(lesson.layout), document_id, extra={"document_id": document_id})
    return vendor_id
