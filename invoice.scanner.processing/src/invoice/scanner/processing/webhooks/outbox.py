"""Writing webhook events: the outbox.

Status changes need no call: the `documents_webhook_status` trigger (migration 0004) writes
the event and its deliveries in the transaction that changes `documents.status`, whoever
changes it (a stage, the sweeper, a reviewer). The relay task on the `webhooks` queue then
sends what is due. `enqueue_event` is for any other event, inside the caller's transaction.
"""
from __future__ import annotations

import uuid
from typing import Any

from invoice.scanner.processing.db.connection import Json

# Event types a subscription may ask for ("*" = all of them).
EVENT_TYPES: tuple[str, ...] = (
    "document.approved",       # approved by the pipeline or by a person (data.source says which)
    "document.rejected",       # rejected by a person, with data.reason
    "document.manual_review",  # the pipeline needs a person
    "document.failed",         # a stage failed after its retries (data.status: ocr_error, ...)
)
ALL_EVENTS = "*"


def enqueue_event(cur, company_id: uuid.UUID | str, document_id: uuid.UUID | str | None, event_type: str,
                  data: dict[str, Any]) -> uuid.UUID | None:
    """Record `event_type` for every subscription of the company that wants it, in the
    transaction of `cur` (a cursor from `transaction()`). None when nobody subscribed."""
    cur.execute("SELECT webhook_enqueue(%s, %s, %s, %s) AS id",
                (str(company_id), str(document_id) if document_id else None, event_type, Json(data)))
    row = cur.fetchone()
    return row["id"] if row else None
