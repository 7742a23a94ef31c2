"""The document core: what a document is in PostgreSQL, how it is read, and every history write.

The pipeline's repository (`db/repository.py`) and the API's (`api/repository.py`) both use
this module; neither declares a document dataclass nor writes a history row of its own. Every
function takes the cursor of the caller's transaction, so a history row is written in the
same transaction as the change it records.

A document's history has two kinds of rows, kept apart in the schema (migration 0002):

- **transitions** (`document_status_history`): the document's status changed (upload,
  a stage starting or ending, an error, a review decision), or the pipeline was told
  something (a run queued, a re-drive, a retry asked): from status, to status, who, when;
- **attempts** (`stage_attempts`): one delivery of a stage task, from its start to its
  outcome: `ok`, `retry` (it failed and will run again), `failed` (it failed for good),
  `abandoned` (its worker was lost before it finished) or `stale` (a newer run owns the
  document); `NULL` while it runs.
"""
from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from invoice.scanner.processing.db.connection import Json
from invoice.scanner.processing.models import NormalizedField, NormalizedLineItem

ATTEMPT_OUTCOMES = ("ok", "retry", "failed", "abandoned", "stale")


class DocumentNotFound(LookupError):
    pass


@dataclass(frozen=True)
class NewDocument:
    """What an upload records about a document; the database adds the rest (`Document`)."""

    id: uuid.UUID
    company_id: uuid.UUID
    uploaded_by: uuid.UUID | None
    original_filename: str
    stored_path: str
    sha256: str
    content_type: str
    size_bytes: int
    pages: int | None


@dataclass(frozen=True)
class Document(NewDocument):
    """One row of `documents`, as both packages read it."""

    status: str
    error: str | None
    quality_score: float | None
    predicted_accuracy: float | None
    evaluation: dict[str, Any] | None
    llm_usage: dict[str, Any] | None
    task_id: str | None
    pipeline_run: int
    redrive_count: int
    enqueued_at: datetime | None
    created_at: datetime
    updated_at: datetime
    completed_at: datetime | None
    # The review workflow (migration 0003): the ETag's version, a person's decision, the
    # earlier document this one may duplicate, the vendor memory matched.
    version: int
    duplicate_of: uuid.UUID | None
    decided_by: uuid.UUID | None
    decided_at: datetime | None
    decision_reason: str | None
    line_items_locked: bool
    vendor_id: uuid.UUID | None
    # How it came in (migration 0006): upload | batch | mail | folder, and its provenance.
    source: str
    source_detail: dict[str, Any] | None


# Rows of `extracted_fields` and `line_items` are the extraction stage's own results.
Field = NormalizedField
LineItem = NormalizedLineItem


@dataclass(frozen=True)
class Page:
    """What a reader of a document sees of one page (the stages read `PageImage`s)."""

    page_no: int
    width: int
    height: int
    dpi: int
    rotation: int
    ocr_engine: str | None
    ocr_confidence: float | None


@dataclass(frozen=True)
class Transition:
    """A row of `document_status_history`: the status changed, or the pipeline was told something."""

    from_status: str | None
    to_status: str
    stage: str | None  # a stage name, or upload | orchestrator | retry | review
    pipeline_run: int
    attempt: int  # the attempt of the stage that made the change (0 outside stages)
    worker_host: str | None
    started_at: datetime
    finished_at: datetime | None
    detail: dict[str, Any] | None


@dataclass(frozen=True)
class Attempt:
    """A row of `stage_attempts`: one delivery of a stage task."""

    id: int
    stage: str
    pipeline_run: int
    attempt: int  # Celery's retry count: 0 for the first delivery
    worker_host: str | None
    started_at: datetime
    finished_at: datetime | None
    outcome: str | None  # one of ATTEMPT_OUTCOMES; None while it runs
    detail: dict[str, Any] | None


@dataclass(frozen=True)
class HistoryEntry:
    """One line of a document's audit trail, as `/history` shows it: a transition or an attempt.

    An attempt's `from_status` is the status its claim found (the transition it made, if any,
    is folded into it); its outcome is `outcome`, and also `detail["outcome"]` as before the
    two kinds had their own tables. A transition's `outcome` is None.
    """

    kind: str  # "transition" | "attempt"
    from_status: str | None
    to_status: str
    stage: str | None
    pipeline_run: int
    attempt: int
    worker_host: str | None
    started_at: datetime
    finished_at: datetime | None
    outcome: str | None
    detail: dict[str, Any] | None


DOCUMENT_COLUMNS = ", ".join(Document.__dataclass_fields__)
_TRANSITION_COLUMNS = ", ".join(Transition.__dataclass_fields__)
_ATTEMPT_COLUMNS = ", ".join(Attempt.__dataclass_fields__)


def document_from_row(row: dict[str, Any]) -> Document:
    return Document(**{k: row[k] for k in Document.__dataclass_fields__})


def _uuid(value: uuid.UUID | str) -> uuid.UUID | None:
    try:
        return value if isinstance(value, uuid.UUID) else uuid.UUID(str(value))
    except ValueError:
        return None


def load_document(cur, document_id: uuid.UUID | str, company_id: uuid.UUID | str | None = None,
                  lock: bool = False) -> Document:
    """The document; with `company_id`, only if it belongs to that company (tenancy). `lock`
    takes the row lock for the rest of the transaction. Raises `DocumentNotFound`, also for
    an id that is not a UUID."""
    cur.execute(*document_query(document_id, company_id, lock))
    row = cur.fetchone()
    if row is None:
        raise DocumentNotFound(str(document_id))
    return document_from_row(row)


def document_query(document_id: uuid.UUID | str, company_id: uuid.UUID | str | None = None,
                   lock: bool = False) -> tuple[str, list[Any]]:
    """`load_document`'s statement and arguments, for a caller that sends it in a pipeline
    with others before reading its row (`document_from_row`; no row: `DocumentNotFound`)."""
    doc_id = _uuid(document_id)
    if doc_id is None:
        raise DocumentNotFound(str(document_id))
    where, args = "id = %s", [str(doc_id)]
    if company_id is not None:
        where += " AND company_id = %s"
        args.append(str(company_id))
    return f"SELECT {DOCUMENT_COLUMNS} FROM documents WHERE {where}{' FOR UPDATE' if lock else ''}", args


def _num(v: Any) -> float | None:
    return float(v) if isinstance(v, Decimal) else v


def _bbox(v: Any) -> tuple[float, float, float, float] | None:
    return tuple(v) if v else None


def load_fields(cur, document_id: uuid.UUID | str) -> list[Field]:
    cur.execute(
        """SELECT name, value, raw_value, confidence, page, bbox, valid, error, locked, corrected_by, corrected_at
           FROM extracted_fields WHERE document_id = %s ORDER BY name""",
        (str(document_id),),
    )
    return [Field(**{**r, "bbox": _bbox(r["bbox"])}) for r in cur.fetchall()]


def load_line_items(cur, document_id: uuid.UUID | str) -> list[LineItem]:
    """As stored: a line item a person added may have no confidence (None)."""
    cur.execute(
        """SELECT position, description, quantity, unit_price, amount, tax_rate, confidence, page, bbox
           FROM line_items WHERE document_id = %s ORDER BY position""",
        (str(document_id),),
    )
    return [
        LineItem(position=r["position"], description=r["description"], quantity=_num(r["quantity"]),
                 unit_price=_num(r["unit_price"]), amount=_num(r["amount"]), tax_rate=_num(r["tax_rate"]),
                 confidence=r["confidence"], page=r["page"], bbox=_bbox(r["bbox"]))
        for r in cur.fetchall()
    ]


def load_pages(cur, document_id: uuid.UUID | str) -> list[Page]:
    cur.execute(
        """SELECT page_no, width, height, dpi, rotation, ocr_engine, ocr_confidence FROM document_pages
           WHERE document_id = %s ORDER BY page_no""",
        (str(document_id),),
    )
    return [Page(**r) for r in cur.fetchall()]


def load_transitions(cur, document_id: uuid.UUID | str) -> list[Transition]:
    cur.execute(
        f"SELECT {_TRANSITION_COLUMNS} FROM document_status_history WHERE document_id = %s ORDER BY id",
        (str(document_id),),
    )
    return [Transition(**r) for r in cur.fetchall()]


def load_attempts(cur, document_id: uuid.UUID | str, pipeline_run: int | None = None,
                  stage: str | None = None) -> list[Attempt]:
    cur.execute(*attempts_query(document_id, pipeline_run, stage))
    return attempts_from_rows(cur.fetchall())


def attempts_query(document_id: uuid.UUID | str, pipeline_run: int | None = None,
                   stage: str | None = None) -> tuple[str, list[Any]]:
    """`load_attempts`' statement and arguments (rows: `attempts_from_rows`), for a pipeline."""
    where, args = ["document_id = %s"], [str(document_id)]
    if pipeline_run is not None:
        where.append("pipeline_run = %s")
        args.append(pipeline_run)
    if stage is not None:
        where.append("stage = %s")
        args.append(stage)
    return f"SELECT {_ATTEMPT_COLUMNS} FROM stage_attempts WHERE {' AND '.join(where)} ORDER BY id", args


def attempts_from_rows(rows) -> list[Attempt]:
    return [Attempt(**r) for r in rows]


def load_history(cur, document_id: uuid.UUID | str) -> list[HistoryEntry]:
    """Transitions and attempts in the order they began (the audit trail)."""
    from invoice.scanner.processing.status import STAGE_BY_NAME

    transitions = load_transitions(cur, document_id)
    attempts = load_attempts(cur, document_id)
    # The transition a claim made (`preprocessed -> ocr_extracting`) is written in the claim's
    # transaction with its attempt, so both carry the same now().
    claimed = {(t.stage, t.pipeline_run, t.started_at): t for t in transitions
               if t.stage in STAGE_BY_NAME and t.to_status == STAGE_BY_NAME[t.stage].running.value}
    folded: set[int] = set()
    entries: list[tuple[datetime, int, HistoryEntry]] = []
    for a in attempts:
        running = STAGE_BY_NAME[a.stage].running.value
        t = claimed.get((a.stage, a.pipeline_run, a.started_at))
        if t is not None:
            folded.add(id(t))
        entries.append((a.started_at, 1, HistoryEntry(
            "attempt", t.from_status if t is not None else running, running, a.stage, a.pipeline_run, a.attempt,
            a.worker_host, a.started_at, a.finished_at, a.outcome,
            {**(a.detail or {}), **({"outcome": a.outcome} if a.outcome else {})})))
    for t in transitions:
        if id(t) not in folded:
            entries.append((t.started_at, 0, HistoryEntry(
                "transition", t.from_status, t.to_status, t.stage, t.pipeline_run, t.attempt, t.worker_host,
                t.started_at, t.finished_at, None, t.detail)))
    entries.sort(key=lambda e: (e[0], e[1]))
    return [e for _, _, e in entries]


# -- history writes: the only INSERTs and UPDATEs of the two history tables ------------------

def record_transition(cur, document_id: uuid.UUID | str, from_status: str | None, to_status: str,
                      stage: str | None, pipeline_run: int, detail: dict[str, Any] | None = None,
                      worker_host: str | None = None, attempt: int = 0) -> None:
    """One transition row, in the caller's transaction (the one that changes the status)."""
    cur.execute(
        """INSERT INTO document_status_history
               (document_id, from_status, to_status, stage, pipeline_run, attempt, worker_host, started_at,
                finished_at, detail)
           VALUES (%s, %s, %s, %s, %s, %s, %s, now(), now(), %s)""",
        (str(document_id), from_status, to_status, stage, pipeline_run, attempt, worker_host,
         Json(detail) if detail is not None else None),
    )


def record_attempt(cur, document_id: uuid.UUID | str, stage: str, pipeline_run: int, attempt: int,
                   worker_host: str | None) -> int:
    """Open an attempt row for one delivery of a stage task; its id closes it later."""
    send_attempt(cur, document_id, stage, pipeline_run, attempt, worker_host)
    return cur.fetchone()["id"]


def send_attempt(cur, document_id: uuid.UUID | str, stage: str, pipeline_run: int, attempt: int,
                 worker_host: str | None) -> None:
    """`record_attempt` without reading the new id yet: in a pipeline, the INSERT travels with
    whatever is sent after it; `cur.fetchone()["id"]` reads the id."""
    cur.execute(
        """INSERT INTO stage_attempts (document_id, stage, pipeline_run, attempt, worker_host, started_at)
           VALUES (%s, %s, %s, %s, %s, now()) RETURNING id""",
        (str(document_id), stage, pipeline_run, attempt, worker_host),
    )


def finish_attempt(cur, attempt_id: int, outcome: str, detail: dict[str, Any] | None = None) -> None:
    if outcome not in ATTEMPT_OUTCOMES:
        raise ValueError(f"unknown attempt outcome {outcome!r}")
    cur.execute(
        "UPDATE stage_attempts SET finished_at = now(), outcome = %s, detail = %s WHERE id = %s",
        (outcome, Json(detail) if detail else None, attempt_id),
    )


def close_open_attempts(cur, document_id: uuid.UUID | str, attempt_ids: list[int] | None = None) -> int:
    """Close as `abandoned` the document's attempts that began and never finished (their worker
    was lost), or only those of `attempt_ids`. Returns how many were closed."""
    where, args = "document_id = %s AND finished_at IS NULL", [str(document_id)]
    if attempt_ids is not None:
        where += " AND id = ANY(%s)"
        args.append(list(attempt_ids))
    cur.execute(f"UPDATE stage_attempts SET finished_at = now(), outcome = 'abandoned' WHERE {where}", args)
    return cur.rowcount
