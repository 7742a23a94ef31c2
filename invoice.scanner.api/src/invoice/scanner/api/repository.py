"""All SQL the API runs, named by intent, returning dataclasses.

Tenancy lives here: every document read takes the caller's company id, so a view cannot
forget it; another company's document is simply not found.
"""
from __future__ import annotations

import time
import uuid
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from invoice.scanner.processing.db import documents as core
from invoice.scanner.processing.db.connection import Json, UniqueViolation, single_statement, transaction
from invoice.scanner.processing.db.documents import (
    DOCUMENT_COLUMNS,
    Document,
    Field,
    HistoryEntry,
    LineItem,
    NewDocument,
    Page,
    document_from_row,
    record_transition,
)
from invoice.scanner.processing.db.review import record_audit
from invoice.scanner.processing.status import ERROR_STATUSES, STAGES, TERMINAL_STATUSES, Status, stage_for_status

from invoice.scanner.api.errors import DocumentNotFound, DuplicateDocument, NotRetryable

UPLOAD_STAGE = "upload"
RETRY_STAGE = "retry"
_NON_TERMINAL = [s.value for s in Status if s not in TERMINAL_STATUSES]
_STAGE_NAMES = [s.name for s in STAGES]


@dataclass(frozen=True)
class Company:
    id: uuid.UUID
    name: str


@dataclass(frozen=True)
class User:
    id: uuid.UUID
    company_id: uuid.UUID
    email: str
    password_hash: str
    is_active: bool
    role: str = "admin"


@dataclass(frozen=True)
class StatusRecord:
    """The columns of a document the status poll answers with."""

    id: uuid.UUID
    status: str
    quality_score: float | None
    error: str | None
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class Principal:
    """Who a valid bearer token speaks for."""

    user_id: uuid.UUID
    company_id: uuid.UUID
    email: str
    token_id: uuid.UUID
    expires_at: datetime
    role: str = "admin"
    scopes: tuple[str, ...] | None = None  # a machine token's scopes; None = everything the role allows

    @property
    def permissions(self) -> frozenset[str]:
        from invoice.scanner.api.roles import effective_permissions

        return effective_permissions(self.role, self.scopes)


# The document core's classes, under the names this package's callers use.
DocumentRecord = Document
FieldRow = Field
LineItemRow = LineItem
PageRow = Page
HistoryRow = HistoryEntry


@dataclass(frozen=True)
class DocumentSummary:
    """One row of the documents list, with the few fields a table of invoices shows."""

    id: uuid.UUID
    status: str
    error: str | None
    original_filename: str
    content_type: str
    size_bytes: int
    pages: int | None
    quality_score: float | None
    created_at: datetime
    updated_at: datetime
    fields: dict[str, Any]


@dataclass(frozen=True)
class ListFilter:
    """Narrowing of the documents list beyond the status: upload time range and a search text."""

    created_from: datetime | None = None  # inclusive
    created_before: datetime | None = None  # exclusive
    search: str | None = None


@dataclass(frozen=True)
class EInvoiceRecord:
    """What the pipeline read from a document's e-invoice XML (table document_einvoices)."""

    source: str  # "xml" (the upload is the XML) or the PDF attachment's name
    syntax: str | None
    profile: str | None
    customization_id: str | None
    claims: list[str] | None
    summary: dict[str, Any] | None
    read_error: str | None
    provenance: dict[str, str] | None
    cross_check: dict[str, Any] | None
    validation: dict[str, Any] | None
    xml_sha256: str
    xml_bytes: int


@dataclass(frozen=True)
class StoredFile:
    """A file of a document on the documents volume (never served by its path: the API streams it)."""

    path: str
    content_type: str
    filename: str
    modified_at: datetime


@dataclass(frozen=True)
class OcrPageRow:
    page_no: int
    width: int
    height: int
    engine: str | None
    confidence: float | None
    lines: list[dict[str, Any]] | None  # as stored: text, bbox (pixels), confidence, words


@dataclass(frozen=True)
class DocumentDetail:
    document: Document
    fields: list[Field]
    line_items: list[LineItem]
    pages: list[Page]
    history: list[HistoryEntry]

@dataclass(frozen=True)
class RetryClaim:
    document_id: uuid.UUID
    company_id: uuid.UUID
    from_status: str
    from_stage: str
    pipeline_run: int
    error: str | None


@dataclass(frozen=True)
class StageDurations:
    count: int
    sum_s: float


@dataclass(frozen=True)
class LlmTotals:
    provider: str
    model: str
    documents: int
    input_tokens: int
    output_tokens: int
    cost_usd: float


@dataclass
class MetricsSnapshot:
    documents_by_status: dict[str, int] = field(default_factory=dict)
    stage_durations: dict[str, StageDurations] = field(default_factory=dict)
    llm: list[LlmTotals] = field(default_factory=list)


_SUMMARY_FIELDS = ["invoice_number", "invoice_date", "vendor_name", "currency", "total"]


def _opt_str(value: Any) -> str | None:
    return None if value is None else str(value)


def _principal(row: dict[str, Any]) -> Principal:
    """The Principal of a token check's row (`authenticate_token`'s columns)."""
    scopes = row["scopes"]
    return Principal(user_id=row["user_id"], company_id=row["company_id"], email=row["email"],
                     token_id=row["token_id"], expires_at=row["expires_at"], role=row["role"],
                     scopes=tuple(scopes) if scopes is not None else None)


class ApiRepository:
    def __init__(self, database_url: str, pool_size: int = 8):
        self.database_url = database_url
        self.pool_size = pool_size

    def tx(self) -> AbstractContextManager:
        return transaction(self.database_url, self.pool_size)

    # -- companies and users -------------------------------------------------------------

    def get_or_create_company(self, name: str) -> tuple[Company, bool]:
        with self.tx() as cur:
            cur.execute(
                "INSERT INTO companies (id, name) VALUES (%s, %s) ON CONFLICT (name) DO NOTHING RETURNING id, name",
                (str(uuid.uuid4()), name),
            )
            row = cur.fetchone()
            if row is not None:
                return Company(row["id"], row["name"]), True
            cur.execute("SELECT id, name FROM companies WHERE name = %s", (name,))
            row = cur.fetchone()
            return Company(row["id"], row["name"]), False

    def create_user(self, company_id: uuid.UUID, email: str, password_hash: str, role: str = "admin") -> User:
        """Raises `UniqueViolation` (db.connection) when the email is taken (case-insensitive)."""
        with self.tx() as cur:
            cur.execute(
                """INSERT INTO users (id, company_id, email, password_hash, role) VALUES (%s, %s, %s, %s, %s)
                   RETURNING id, company_id, email, password_hash, is_active, role""",
                (str(uuid.uuid4()), str(company_id), email, password_hash, role),
            )
            return User(**cur.fetchone())

    def get_user_by_email(self, email: str) -> User | None:
        with self.tx() as cur:
            cur.execute(
                "SELECT id, company_id, email, password_hash, is_active, role FROM users WHERE lower(email) = lower(%s)",
                (email,),
            )
            row = cur.fetchone()
        return User(**row) if row else None

    # -- tokens --------------------------------------------------------------------------

    def create_token(self, user_id: uuid.UUID, token_sha256: str, ttl_s: int,
                     scopes: list[str] | None = None, name: str | None = None) -> datetime:
        with self.tx() as cur:
            cur.execute(
                """INSERT INTO api_tokens (id, user_id, token_sha256, expires_at, scopes, name)
                   VALUES (%s, %s, %s, now() + make_interval(secs => %s), %s, %s) RETURNING expires_at""",
                (str(uuid.uuid4()), str(user_id), token_sha256, ttl_s, scopes, name),
            )
            return cur.fetchone()["expires_at"]

    def authenticate_token(self, token_sha256: str) -> Principal | None:
        """The token's user, if the token exists, is neither expired nor revoked, and the user is active."""
        with single_statement(self.database_url, self.pool_size) as cur:  # one round trip
            cur.execute(
                """SELECT t.id AS token_id, t.expires_at, u.id AS user_id, u.company_id, u.email, u.role, t.scopes
                   FROM api_tokens t JOIN users u ON u.id = t.user_id
                   WHERE t.token_sha256 = %s AND t.revoked_at IS NULL AND t.expires_at > now() AND u.is_active""",
                (token_sha256,),
            )
            row = cur.fetchone()
        if row is None:
            return None
        return _principal(row)

    def authenticate_token_with_status(self, token_sha256: str,
                                       document_id: str) -> tuple[Principal | None, StatusRecord | None]:
        """What the status poll shows, and `authenticate_token`, in one statement (one round trip,
        no transaction, no cache and no Redis trip: the database's answer is current, so a
        revocation applies to the next poll in every process). The token's row finds its user; the
        document (primary key, only the columns the answer needs) is joined on that user's company,
        so another company's document is not found. (None, None): no valid token;
        (principal, None): no such document in the principal's company."""
        try:
            document_uuid: uuid.UUID | None = uuid.UUID(str(document_id))
        except ValueError:
            document_uuid = None  # never a document: the token is still checked (401 before 404)
        with single_statement(self.database_url, self.pool_size) as cur:
            cur.execute(
                """SELECT t.id AS token_id, t.expires_at, u.id AS user_id, u.company_id, u.email, u.role, t.scopes,
                          d.id AS document_id, d.status, d.quality_score, d.error, d.created_at, d.updated_at
                   FROM api_tokens t JOIN users u ON u.id = t.user_id
                   LEFT JOIN documents d ON d.id = %s AND d.company_id = u.company_id
                   WHERE t.token_sha256 = %s AND t.revoked_at IS NULL AND t.expires_at > now() AND u.is_active""",
                (document_uuid, token_sha256),
            )
            row = cur.fetchone()
        if row is None:
            return None, None
        found = row["document_id"] is not None
        record = StatusRecord(row["document_id"], row["status"], row["quality_score"], row["error"],
                              row["created_at"], row["updated_at"]) if found else None
        return _principal(row), record

    def revoke_token(self, token_id: uuid.UUID) -> None:
        with self.tx() as cur:
            cur.execute("UPDATE api_tokens SET revoked_at = now() WHERE id = %s AND revoked_at IS NULL",
                        (str(token_id),))

    # -- documents -----------------------------------------------------------------------

    def find_document_by_sha256(self, company_id: uuid.UUID, sha256: str) -> uuid.UUID | None:
        with self.tx() as cur:
            return self._id_by_sha256(cur, company_id, sha256)

    @staticmethod
    def _id_by_sha256(cur, company_id: uuid.UUID, sha256: str) -> uuid.UUID | None:
        cur.execute("SELECT id FROM documents WHERE company_id = %s AND sha256 = %s", (str(company_id), sha256))
        row = cur.fetchone()
        return row["id"] if row else None

    def create_document(self, new: NewDocument, source: str = "upload",
                        source_detail: dict[str, Any] | None = None) -> DocumentRecord:
        """The document and its first history row, in one transaction. `source` says how it
        came in (upload | batch | mail | folder), `source_detail` its provenance.

        Raises `DuplicateDocument` (with the existing id) when the company already has this content.
        """
        try:
            with self.tx() as cur:
                cur.execute(
                    f"""INSERT INTO documents (id, company_id, uploaded_by, original_filename, stored_path, sha256,
                                               content_type, size_bytes, pages, status, pipeline_run, source,
                                               source_detail)
                        VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, 0, %s, %s) RETURNING {DOCUMENT_COLUMNS}""",
                    (str(new.id), str(new.company_id), _opt_str(new.uploaded_by), new.original_filename,
                     new.stored_path, new.sha256, new.content_type, new.size_bytes, new.pages,
                     Status.PREPROCESSING.value, source,
                     Json(source_detail) if source_detail is not None else None),
                )
                doc = document_from_row(cur.fetchone())
                record_transition(cur, new.id, None, Status.PREPROCESSING.value, UPLOAD_STAGE, 0,
                                  {"user_id": _opt_str(new.uploaded_by), "filename": new.original_filename,
                                   "content_type": new.content_type, "size_bytes": new.size_bytes,
                                   "source": source})
        except UniqueViolation as exc:
            if exc.diag.constraint_name != "documents_company_sha256_key":
                raise
            with self.tx() as cur:
                existing = self._id_by_sha256(cur, new.company_id, new.sha256)
            raise DuplicateDocument(str(existing)) from exc
        return doc

    def record_enqueued(self, document_id: uuid.UUID, task_id: str) -> None:
        """The orchestrator message reached the broker: the sweeper's outbox no longer owns it."""
        with self.tx() as cur:
            cur.execute(
                "UPDATE documents SET enqueued_at = coalesce(enqueued_at, now()), task_id = %s WHERE id = %s",
                (task_id, str(document_id)),
            )

    def get_document_for_company(self, company_id: uuid.UUID, document_id: str) -> DocumentRecord:
        with self.tx() as cur:
            return self._document_for_company(cur, company_id, document_id)

    @staticmethod
    def _document_for_company(cur, company_id: uuid.UUID, document_id: str, lock: bool = False) -> Document:
        """Tenancy: the document only if it is the company's; another company's is not found."""
        try:
            return core.load_document(cur, document_id, company_id=company_id, lock=lock)
        except core.DocumentNotFound:
            raise DocumentNotFound(document_id) from None

    def get_document_detail(self, company_id: uuid.UUID, document_id: str) -> DocumentDetail:
        """The document with its fields, line items, pages and history, read in one snapshot."""
        with self.tx() as cur:
            cur.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
            doc = self._document_for_company(cur, company_id, document_id)
            return DocumentDetail(doc, core.load_fields(cur, doc.id), core.load_line_items(cur, doc.id),
                                  core.load_pages(cur, doc.id), core.load_history(cur, doc.id))

    def get_original_file(self, company_id: uuid.UUID, document_id: str) -> StoredFile:
        """Where the uploaded bytes of the company's document lie, with the name it was uploaded as."""
        with self.tx() as cur:
            doc = self._document_for_company(cur, company_id, document_id)
        return StoredFile(doc.stored_path, doc.content_type, doc.original_filename, doc.updated_at)

    def get_einvoice(self, company_id: uuid.UUID, document_id: str) -> EInvoiceRecord | None:
        """The e-invoice part of the company's document (None for other documents)."""
        with self.tx() as cur:
            doc = self._document_for_company(cur, company_id, document_id)
            cur.execute(
                """SELECT source, syntax, profile, customization_id, claims, summary, read_error, provenance,
                          cross_check, validation, xml_sha256, octet_length(xml) AS xml_bytes
                   FROM document_einvoices WHERE document_id = %s""", (str(doc.id),))
            row = cur.fetchone()
        return EInvoiceRecord(**row) if row else None

    def get_einvoice_xml(self, company_id: uuid.UUID, document_id: str) -> tuple[bytes, str, str]:
        """(the XML exactly as received, its SHA-256, the name it came under); `DocumentNotFound`
        when the document is not the company's or carries no e-invoice."""
        with self.tx() as cur:
            doc = self._document_for_company(cur, company_id, document_id)
            cur.execute("SELECT xml, xml_sha256, source FROM document_einvoices WHERE document_id = %s",
                        (str(doc.id),))
            row = cur.fetchone()
        if row is None:
            raise DocumentNotFound(document_id)
        name = doc.original_filename if row["source"] == "xml" else row["source"]
        return bytes(row["xml"]), row["xml_sha256"], name

    def get_page_image(self, company_id: uuid.UUID, document_id: str, page_no: int) -> StoredFile:
        """The rendered image of one page of the company's document; `DocumentNotFound` when either is missing."""
        with self.tx() as cur:
            doc = self._document_for_company(cur, company_id, document_id)
            cur.execute("SELECT image_path FROM document_pages WHERE document_id = %s AND page_no = %s",
                        (str(doc.id), page_no))
            row = cur.fetchone()
        if row is None:
            raise DocumentNotFound(document_id)
        return StoredFile(row["image_path"], "image/png", f"page-{page_no}.png", doc.updated_at)

    def get_ocr_pages(self, company_id: uuid.UUID, document_id: str) -> list[OcrPageRow]:
        """Every page's OCR lines and words as the OCR stage stored them (pixels of the rendered page)."""
        with self.tx() as cur:
            doc = self._document_for_company(cur, company_id, document_id)
            cur.execute(
                """SELECT page_no, width, height, ocr_engine, ocr_confidence, ocr_lines FROM document_pages
                   WHERE document_id = %s ORDER BY page_no""",
                (str(doc.id),),
            )
            return [OcrPageRow(r["page_no"], r["width"], r["height"], r["ocr_engine"], r["ocr_confidence"],
                               r["ocr_lines"]) for r in cur.fetchall()]

    def get_history(self, company_id: uuid.UUID, document_id: str) -> list[HistoryEntry]:
        """The company's document's transitions and stage attempts, oldest first."""
        with self.tx() as cur:
            doc = self._document_for_company(cur, company_id, document_id)
            return core.load_history(cur, doc.id)

    @staticmethod
    def _list_filter(company_id: uuid.UUID, status: str | None, filters: ListFilter | None) -> tuple[list[str], list]:
        where, args = ["d.company_id = %s"], [str(company_id)]
        if status:
            where.append("d.status = %s")
            args.append(status)
        f = filters or ListFilter()
        if f.created_from is not None:
            where.append("d.created_at >= %s")
            args.append(f.created_from)
        if f.created_before is not None:
            where.append("d.created_at < %s")
            args.append(f.created_before)
        if f.search:
            # Case-insensitive substring of the vendor, the invoice number or the file name;
            # LIKE's wildcards in the search text are matched literally.
            pattern = "%" + f.search.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
            where.append(
                """(d.original_filename ILIKE %s OR EXISTS (
                       SELECT 1 FROM extracted_fields sf WHERE sf.document_id = d.id
                       AND sf.name IN ('vendor_name', 'invoice_number') AND sf.value #>> '{}' ILIKE %s))""")
            args += [pattern, pattern]
        return where, args

    def list_documents(self, company_id: uuid.UUID, limit: int, status: str | None = None,
                       after: tuple[datetime, uuid.UUID] | None = None, offset: int = 0,
                       filters: ListFilter | None = None) -> list[DocumentSummary]:
        """Newest first. `after` is a keyset position (created_at, id): rows strictly older than it."""
        where, args = self._list_filter(company_id, status, filters)
        if after is not None:
            where.append("(d.created_at, d.id) < (%s, %s)")
            args += [after[0], str(after[1])]
        with self.tx() as cur:
            cur.execute(
                f"""SELECT d.id, d.status, d.error, d.original_filename, d.content_type, d.size_bytes, d.pages,
                           d.quality_score, d.created_at, d.updated_at, coalesce(f.fields, '{{}}'::jsonb) AS fields
                    FROM documents d
                    LEFT JOIN LATERAL (
                        SELECT jsonb_object_agg(name, value) AS fields FROM extracted_fields
                        WHERE document_id = d.id AND name = ANY(%s)
                    ) f ON true
                    WHERE {" AND ".join(where)}
                    ORDER BY d.created_at DESC, d.id DESC
                    LIMIT %s OFFSET %s""",
                [_SUMMARY_FIELDS, *args, limit, offset],
            )
            return [DocumentSummary(**r) for r in cur.fetchall()]

    def count_documents(self, company_id: uuid.UUID, status: str | None = None,
                        filters: ListFilter | None = None) -> int:
        where, args = self._list_filter(company_id, status, filters)
        with self.tx() as cur:
            cur.execute(f"SELECT count(*) AS n FROM documents d WHERE {' AND '.join(where)}", args)
            return cur.fetchone()["n"]

    # -- retry ---------------------------------------------------------------------------

    def claim_retry(self, company_id: uuid.UUID, document_id: str, user_id: uuid.UUID) -> RetryClaim:
        """Move a failed document back to its failed stage's running status, audited.

        The row lock makes two concurrent retries of one document start one run: the second
        finds the document no longer in an error status and gets `NotRetryable`.
        """
        with self.tx() as cur:
            doc = self._document_for_company(cur, company_id, document_id, lock=True)
            status = Status(doc.status)
            if status not in ERROR_STATUSES:
                raise NotRetryable(doc.status)
            stage = stage_for_status(status)
            cur.execute(
                "UPDATE documents SET status = %s, error = NULL, completed_at = NULL, updated_at = now() WHERE id = %s",
                (stage.running.value, str(doc.id)),
            )
            record_transition(cur, doc.id, doc.status, stage.running.value, RETRY_STAGE, doc.pipeline_run,
                              {"action": "retry_requested", "user_id": str(user_id), "from_stage": stage.name,
                               "previous_error": doc.error})
            record_audit(cur, company_id, doc.id, user_id, "retry", before=doc.status, after=stage.running.value,
                         detail={"from_stage": stage.name, "previous_error": doc.error})
        return RetryClaim(doc.id, doc.company_id, doc.status, stage.name, doc.pipeline_run, doc.error)

    def release_retry(self, claim: RetryClaim, reason: str) -> None:
        """Put the document back in its error status when the retry could not be queued."""
        with self.tx() as cur:
            cur.execute("SELECT status, pipeline_run FROM documents WHERE id = %s FOR UPDATE",
                        (str(claim.document_id),))
            row = cur.fetchone()
            if row is None or row["pipeline_run"] != claim.pipeline_run:
                return  # a worker picked it up after all
            cur.execute("UPDATE documents SET status = %s, error = %s, updated_at = now() WHERE id = %s",
                        (claim.from_status, claim.error, str(claim.document_id)))
            record_transition(cur, claim.document_id, row["status"], claim.from_status, RETRY_STAGE, claim.pipeline_run,
                              {"action": "retry_not_queued", "reason": reason})

    # -- health and metrics --------------------------------------------------------------

    def ping(self) -> float:
        """Round trip to the database, in milliseconds."""
        start = time.perf_counter()
        with self.tx() as cur:
            cur.execute("SELECT 1")
            cur.fetchone()
        return (time.perf_counter() - start) * 1000

    def count_stuck(self, older_than_s: int) -> dict[str, int]:
        """Non-terminal documents untouched for `older_than_s`, by status (across all companies)."""
        with self.tx() as cur:
            cur.execute(
                """SELECT status, count(*) AS n FROM documents
                   WHERE status = ANY(%s) AND updated_at < now() - make_interval(secs => %s)
                   GROUP BY status""",
                (_NON_TERMINAL, older_than_s),
            )
            return {r["status"]: r["n"] for r in cur.fetchall()}

    def metrics_snapshot(self, window_s: int = 86400) -> MetricsSnapshot:
        """Figures for /metrics from the shared database (right across API replicas): two queries."""
        snap = MetricsSnapshot()
        with self.tx() as cur:
            cur.execute(
                """SELECT status, coalesce(llm_usage->>'provider', '') AS provider,
                          coalesce(llm_usage->>'model', '') AS model, count(*) AS n,
                          count(llm_usage) AS with_usage,
                          coalesce(sum((llm_usage->>'input_tokens')::bigint), 0) AS input_tokens,
                          coalesce(sum((llm_usage->>'output_tokens')::bigint), 0) AS output_tokens,
                          coalesce(sum((llm_usage->>'cost_usd')::double precision), 0) AS cost_usd
                   FROM documents GROUP BY 1, 2, 3"""
            )
            llm: dict[tuple[str, str], list[float]] = {}
            for r in cur.fetchall():
                snap.documents_by_status[r["status"]] = snap.documents_by_status.get(r["status"], 0) + r["n"]
                if r["with_usage"]:
                    acc = llm.setdefault((r["provider"], r["model"]), [0, 0, 0, 0.0])
                    acc[0] += r["with_usage"]
                    acc[1] += int(r["input_tokens"])
                    acc[2] += int(r["output_tokens"])
                    acc[3] += float(r["cost_usd"])
            snap.llm = [LlmTotals(p, m, int(a[0]), int(a[1]), int(a[2]), a[3]) for (p, m), a in sorted(llm.items())]
            # A stage's work is the attempt row begin_stage opens and finish_stage closes as ok.
            cur.execute(
                """SELECT stage, count(*) AS n, coalesce(sum(extract(epoch FROM finished_at - started_at)), 0) AS s
                   FROM stage_attempts
                   WHERE stage = ANY(%s) AND outcome = 'ok'
                     AND started_at > now() - make_interval(secs => %s)
                   GROUP BY stage""",
                (_STAGE_NAMES, window_s),
            )
            snap.stage_durations = {r["stage"]: StageDurations(r["n"], float(r["s"])) for r in cur.fetchall()}
        return snap
