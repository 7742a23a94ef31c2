"""The SQL of exports: a company's approved documents in a period, in batches by keyset
(completion time, id), with their fields and line items.

Keyset batches rather than one long server-side cursor: no transaction or pooled connection
is held open while a slow client downloads, and each batch is one indexed range scan
(`documents_company_approved_idx`).
"""
from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Iterator

from invoice.scanner.processing.db.connection import transaction

DATE_FIELDS = ("approved", "invoice_date")  # what the period applies to


@dataclass
class ExportDocument:
    id: uuid.UUID
    original_filename: str
    approved_at: datetime
    created_at: datetime
    quality_score: float | None
    fields: dict[str, Any] = field(default_factory=dict)
    line_items: list[dict[str, Any]] = field(default_factory=list)


class ExportRepository:
    def __init__(self, database_url: str, pool_size: int = 2):
        self.database_url = database_url
        self.pool_size = pool_size

    def approved_batches(self, company_id: uuid.UUID, start: datetime | date, end: datetime | date,
                         date_field: str = "approved", batch_size: int = 500) -> Iterator[list[ExportDocument]]:
        """Approved documents with `start <= <date_field> < end`, oldest approval first."""
        if date_field not in DATE_FIELDS:
            raise ValueError(f"date_field must be one of {DATE_FIELDS}")
        if date_field == "approved":
            period = "d.completed_at >= %s AND d.completed_at < %s"
        else:
            # Validated dates are stored as ISO strings; anything else never matches.
            period = """EXISTS (SELECT 1 FROM extracted_fields f WHERE f.document_id = d.id AND f.name = 'invoice_date'
                                AND f.value #>> '{}' ~ '^\\d{4}-\\d{2}-\\d{2}$'
                                AND (f.value #>> '{}')::date >= %s AND (f.value #>> '{}')::date < %s)"""
        after: tuple[datetime, uuid.UUID] | None = None
        while True:
            keyset = "" if after is None else "AND (d.completed_at, d.id) > (%s, %s)"
            args: list[Any] = [company_id, start, end, *(after or ()), batch_size]
            with transaction(self.database_url, self.pool_size) as cur:
                cur.execute(
                    f"""SELECT d.id, d.original_filename, d.completed_at AS approved_at, d.created_at, d.quality_score
                        FROM documents d
                        WHERE d.company_id = %s AND d.status = 'approved' AND d.completed_at IS NOT NULL
                          AND {period} {keyset}
                        ORDER BY d.completed_at, d.id LIMIT %s""",
                    args,
                )
                docs = [ExportDocument(**row) for row in cur.fetchall()]
                if not docs:
                    return
                by_id = {d.id: d for d in docs}
                ids = list(by_id)
                cur.execute("SELECT document_id, name, value FROM extracted_fields WHERE document_id = ANY(%s)",
                            (ids,))
                for row in cur.fetchall():
                    by_id[row["document_id"]].fields[row["name"]] = row["value"]
                cur.execute(
                    """SELECT document_id, position, description, quantity, unit_price, amount, tax_rate
                       FROM line_items WHERE document_id = ANY(%s) ORDER BY document_id, position""",
                    (ids,),
                )
                for row in cur.fetchall():
                    by_id[row.pop("document_id")].line_items.append(row)
            yield docs
            if len(docs) < batch_size:
                return
            after = (docs[-1].approved_at, docs[-1].id)
