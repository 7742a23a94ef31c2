"""SQL of the review workflow as the API runs it: the queue, claims, corrections, decisions,
the audit log, vendors, users and stats. Every read and write takes the caller's company
id; another company's document is simply not found.

Concurrency: a claim, a correction and a decision each lock the document row first
(`SELECT ... FOR UPDATE`), so two reviewers acting on one document are serialized and
the second sees what the first did (a claim held, a newer version).
"""
from __future__ import annotations

import base64
import binascii
import json
import uuid
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from decimal import Decimal
from typing import Any

from invoice.scanner.processing.db import documents as core
from invoice.scanner.processing.db.connection import Json, transaction
from invoice.scanner.processing.db.documents import Document, LineItem, record_transition
from invoice.scanner.processing.db.review import record_audit
from invoice.scanner.processing.status import ERROR_STATUSES, REVIEW_STATUSES, STAGES, Status

from invoice.scanner.api.errors import DocumentNotFound, InvalidCursor
from invoice.scanner.api.repository import Principal

_REVIEW = [s.value for s in REVIEW_STATUSES]
_STAGE_NAMES = [s.name for s in STAGES]
_QUEUE_FIELDS = ["invoice_number", "invoice_date", "due_date", "vendor_name", "currency", "total"]
REVIEW_STAGE = "review"  # the `stage` of history rows a person's decision writes


class NotReviewable(Exception):
    """The document is not in a status a person works on (manual_review, *_error)."""

    def __init__(self, status: str):
        super().__init__(status)
        self.status = status


class ClaimConflict(Exception):
    """Another reviewer holds the document."""

    def __init__(self, user_id: uuid.UUID, email: str | None, expires_at: datetime):
        super().__init__(email)
        self.user_id, self.email, self.expires_at = user_id, email, expires_at


class VersionMismatch(Exception):
    def __init__(self, current: int):
        super().__init__(current)
        self.current = current


class ApprovalBlocked(Exception):
    """Signals (a changed IBAN, a possible duplicate) a person must acknowledge by name."""

    def __init__(self, blocking: list[str]):
        super().__init__(blocking)
        self.blocking = blocking


class UserNotFound(LookupError):
    pass


class LastAdmin(Exception):
    pass


@dataclass(frozen=True)
class Claim:
    document_id: uuid.UUID
    user_id: uuid.UUID
    email: str | None
    claimed_at: datetime
    expires_at: datetime
    version: int


@dataclass(frozen=True)
class QueueFilter:
    status: str | None = None
    claimed: str = "any"  # me | others | none | any
    vendor: str | None = None
    duplicate: bool | None = None


@dataclass(frozen=True)
class QueueItem:
    id: uuid.UUID
    status: str
    original_filename: str
    created_at: datetime
    updated_at: datetime
    deadline: datetime
    quality_score: float | None
    predicted_accuracy: float | None
    error: str | None
    duplicate_of: uuid.UUID | None
    version: int
    reasons: list[str]
    iban_changed: bool
    fields: dict[str, Any]
    claim: dict[str, Any] | None
    sort_key: tuple


@dataclass(frozen=True)
class AuditEntry:
    id: int
    at: datetime
    action: str
    actor: dict[str, Any] | None
    field: str | None
    before: Any
    after: Any
    detail: dict[str, Any] | None


@dataclass(frozen=True)
class UserRow:
    id: uuid.UUID
    email: str
    role: str
    is_active: bool
    created_at: datetime


@dataclass
class Stats:
    period_from: datetime
    period_to: datetime
    documents: int = 0
    by_status: dict[str, int] = field(default_factory=dict)
    straight_through_rate: float | None = None
    stages: dict[str, dict[str, Any]] = field(default_factory=dict)
    review: dict[str, Any] = field(default_factory=dict)
    reviewers: list[dict[str, Any]] = field(default_factory=list)


def encode_queue_cursor(key: tuple) -> str:
    deadline, total_key, conf_key, doc_id = key
    raw = json.dumps([deadline.isoformat(), str(total_key), conf_key, str(doc_id)]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_queue_cursor(cursor: str) -> tuple:
    try:
        raw = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        deadline, total_key, conf_key, doc_id = raw
        key = (datetime.fromisoformat(deadline), Decimal(total_key), float(conf_key), uuid.UUID(doc_id))
    except (binascii.Error, UnicodeDecodeError, ValueError, TypeError, ArithmeticError) as exc:
        raise InvalidCursor(cursor) from exc
    if key[0].tzinfo is None:
        raise InvalidCursor(cursor)
    return key


def _uuid(document_id: str) -> str:
    try:
        return str(uuid.UUID(str(document_id)))
    except ValueError:
        raise DocumentNotFound(document_id) from None


def _float(v: Any) -> Any:
    return float(v) if isinstance(v, Decimal) else v


class ReviewRepository:
    def __init__(self, database_url: str, pool_size: int = 8):
        self.database_url = database_url
        self.pool_size = pool_size

    def tx(self) -> AbstractContextManager:
        return transaction(self.database_url, self.pool_size)

    # -- shared steps ----------------------------------------------------------------------

    @staticmethod
    def _lock_document(cur, company_id: uuid.UUID, document_id: str) -> Document:
        """The company's document, its row locked for the rest of the transaction."""
        try:
            return core.load_document(cur, document_id, company_id=company_id, lock=True)
        except core.DocumentNotFound:
            raise DocumentNotFound(document_id) from None

    @staticmethod
    def _live_claim(cur, document_id: uuid.UUID) -> dict[str, Any] | None:
        cur.execute(
            """SELECT c.user_id, u.email, c.claimed_at, c.expires_at FROM review_claims c
               LEFT JOIN users u ON u.id = c.user_id
               WHERE c.document_id = %s AND c.expires_at > now()""",
            (str(document_id),),
        )
        return cur.fetchone()

    def _not_held_by_other(self, cur, doc: Document, actor: Principal) -> None:
        claim = self._live_claim(cur, doc.id)
        if claim is not None and claim["user_id"] != actor.user_id:
            raise ClaimConflict(claim["user_id"], claim["email"], claim["expires_at"])

    @staticmethod
    def _check_version(doc: Document, expected: int | None) -> None:
        if expected is not None and doc.version != expected:
            raise VersionMismatch(doc.version)

    def get_claim(self, company_id: uuid.UUID, document_id: str) -> dict[str, Any] | None:
        with self.tx() as cur:
            cur.execute("SELECT id FROM documents WHERE id = %s AND company_id = %s",
                        (_uuid(document_id), str(company_id)))
            if cur.fetchone() is None:
                raise DocumentNotFound(document_id)
            return self._live_claim(cur, uuid.UUID(_uuid(document_id)))

    def user_brief(self, company_id: uuid.UUID, user_id: uuid.UUID) -> dict[str, Any] | None:
        with self.tx() as cur:
            cur.execute("SELECT id AS user_id, email FROM users WHERE id = %s AND company_id = %s",
                        (str(user_id), str(company_id)))
            return cur.fetchone()

    # -- queue -----------------------------------------------------------------------------

    def review_queue(self, company_id: uuid.UUID, user_id: uuid.UUID, flt: QueueFilter, limit: int,
                     after: tuple | None, sla_s: int) -> tuple[list[QueueItem], int]:
        """The documents that need a person, by priority, and how many match the filter."""
        where, args = ["d.company_id = %s", "d.status = ANY(%s)"], [str(company_id), _REVIEW]
        if flt.status:
            where.append("d.status = %s")
            args.append(flt.status)
        if flt.claimed == "me":
            where.append("c.user_id = %s")
            args.append(str(user_id))
        elif flt.claimed == "others":
            where.append("c.user_id IS NOT NULL AND c.user_id <> %s")
            args.append(str(user_id))
        elif flt.claimed == "none":
            where.append("c.user_id IS NULL")
        if flt.vendor:
            escaped = flt.vendor.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            where.append("f.fields->>'vendor_name' ILIKE %s")
            args.append(f"%{escaped}%")
        if flt.duplicate is not None:
            where.append("d.duplicate_of IS NOT NULL" if flt.duplicate else "d.duplicate_of IS NULL")
        base = f"""
            SELECT d.id, d.status, d.original_filename, d.created_at, d.updated_at, d.quality_score,
                   d.predicted_accuracy, d.error, d.duplicate_of, d.version,
                   coalesce(d.evaluation->'reasons', '[]'::jsonb) AS reasons,
                   coalesce((d.evaluation->'checks'->'vendor_memory'->>'iban_changed')::boolean, false)
                       AS iban_changed,
                   coalesce(f.fields, '{{}}'::jsonb) AS fields,
                   c.user_id AS claim_user_id, cu.email AS claim_email, c.claimed_at, c.expires_at,
                   least(CASE WHEN f.fields->>'due_date' ~ '^\\d{{4}}-\\d{{2}}-\\d{{2}}$'
                              THEN ((f.fields->>'due_date')::date + 1)::timestamp AT TIME ZONE 'UTC' END,
                         d.created_at + make_interval(secs => %s)) AS deadline,
                   coalesce(-(CASE WHEN jsonb_typeof(f.fields->'total') = 'number'
                                   THEN (f.fields->>'total')::numeric END), 1e18) AS total_key,
                   coalesce(d.quality_score, -1)::double precision AS conf_key
            FROM documents d
            LEFT JOIN LATERAL (
                SELECT jsonb_object_agg(name, value) AS fields FROM extracted_fields
                WHERE document_id = d.id AND name = ANY(%s)
            ) f ON true
            LEFT JOIN review_claims c ON c.document_id = d.id AND c.expires_at > now()
            LEFT JOIN users cu ON cu.id = c.user_id
            WHERE {" AND ".join(where)}"""
        base_args = [sla_s, _QUEUE_FIELDS, *args]
        page_where, page_args = "", []
        if after is not None:
            page_where = "WHERE (q.deadline, q.total_key, q.conf_key, q.id) > (%s, %s, %s, %s)"
            page_args = [after[0], after[1], after[2], str(after[3])]
        with self.tx() as cur:
            cur.execute(
                f"""SELECT * FROM ({base}) q {page_where}
                    ORDER BY q.deadline, q.total_key, q.conf_key, q.id LIMIT %s""",
                [*base_args, *page_args, limit],
            )
            rows = cur.fetchall()
            cur.execute(f"SELECT count(*) AS n FROM ({base}) q", base_args)
            total = cur.fetchone()["n"]
        items = [
            QueueItem(
                id=r["id"], status=r["status"], original_filename=r["original_filename"],
                created_at=r["created_at"], updated_at=r["updated_at"], deadline=r["deadline"],
                quality_score=r["quality_score"], predicted_accuracy=r["predicted_accuracy"], error=r["error"],
                duplicate_of=r["duplicate_of"], version=r["version"], reasons=list(r["reasons"] or []),
                iban_changed=bool(r["iban_changed"]), fields=r["fields"],
                claim={"user_id": r["claim_user_id"], "email": r["claim_email"], "claimed_at": r["claimed_at"],
                       "expires_at": r["expires_at"]} if r["claim_user_id"] else None,
                sort_key=(r["deadline"], r["total_key"], float(r["conf_key"]), r["id"]),
            )
            for r in rows
        ]
        return items, total

    # -- claims ----------------------------------------------------------------------------

    def claim(self, company_id: uuid.UUID, document_id: str, actor: Principal, ttl_s: int) -> Claim:
        """Take (or extend) the caller's claim. `ClaimConflict` when another reviewer holds it."""
        with self.tx() as cur:
            doc = self._lock_document(cur, company_id, document_id)
            if Status(doc.status) not in REVIEW_STATUSES:
                raise NotReviewable(doc.status)
            held = self._live_claim(cur, doc.id)
            if held is not None and held["user_id"] != actor.user_id:
                raise ClaimConflict(held["user_id"], held["email"], held["expires_at"])
            cur.execute(
                """INSERT INTO review_claims (document_id, company_id, user_id, claimed_at, expires_at)
                   VALUES (%s, %s, %s, now(), now() + make_interval(secs => %s))
                   ON CONFLICT (document_id) DO UPDATE SET user_id = EXCLUDED.user_id,
                       claimed_at = CASE WHEN review_claims.user_id = EXCLUDED.user_id
                                          AND review_claims.expires_at > now()
                                         THEN review_claims.claimed_at ELSE now() END,
                       expires_at = EXCLUDED.expires_at
                   RETURNING claimed_at, expires_at""",
                (str(doc.id), str(company_id), str(actor.user_id), ttl_s),
            )
            row = cur.fetchone()
            record_audit(cur, company_id, doc.id, actor.user_id, "claim",
                         detail={"expires_at": row["expires_at"].isoformat(), "extended": held is not None})
            cur.execute("SELECT email FROM users WHERE id = %s", (str(actor.user_id),))
            email = cur.fetchone()["email"]
        return Claim(doc.id, actor.user_id, email, row["claimed_at"], row["expires_at"], doc.version)

    def release(self, company_id: uuid.UUID, document_id: str, actor: Principal) -> bool:
        """Give the document back. Only its holder may, or an admin. False when nobody held it."""
        with self.tx() as cur:
            doc = self._lock_document(cur, company_id, document_id)
            held = self._live_claim(cur, doc.id)
            if held is None:
                cur.execute("DELETE FROM review_claims WHERE document_id = %s", (str(doc.id),))
                return False
            if held["user_id"] != actor.user_id and actor.role != "admin":
                raise ClaimConflict(held["user_id"], held["email"], held["expires_at"])
            cur.execute("DELETE FROM review_claims WHERE document_id = %s", (str(doc.id),))
            record_audit(cur, company_id, doc.id, actor.user_id, "release",
                         detail={"held_by": str(held["user_id"])})
        return True

    # -- corrections -----------------------------------------------------------------------

    def correct(self, company_id: uuid.UUID, document_id: str, actor: Principal, expected_version: int,
                fields: dict[str, tuple[Any, str | None]], line_items: list[LineItem] | None) -> int:
        """Write a person's values, each locked against re-processing, audited one by one.
        Returns the document's new version."""
        with self.tx() as cur:
            doc = self._lock_document(cur, company_id, document_id)
            self._check_version(doc, expected_version)
            if Status(doc.status) not in REVIEW_STATUSES:
                raise NotReviewable(doc.status)
            self._not_held_by_other(cur, doc, actor)
            doc_id = str(doc.id)
            for name, (value, raw) in fields.items():
                cur.execute("SELECT value, locked FROM extracted_fields WHERE document_id = %s AND name = %s",
                            (doc_id, name))
                before = cur.fetchone()
                changed = before is None or before["value"] != value
                cur.execute(
                    """INSERT INTO extracted_fields (document_id, name, value, raw_value, confidence, valid, error,
                                                     locked, corrected_by, corrected_at)
                       VALUES (%s, %s, %s, %s, 1.0, true, NULL, true, %s, now())
                       ON CONFLICT (document_id, name) DO UPDATE SET value = EXCLUDED.value,
                           raw_value = EXCLUDED.raw_value, confidence = 1.0, valid = true, error = NULL,
                           locked = true, corrected_by = EXCLUDED.corrected_by, corrected_at = now(),
                           page = CASE WHEN %s THEN NULL ELSE extracted_fields.page END,
                           bbox = CASE WHEN %s THEN NULL ELSE extracted_fields.bbox END""",
                    (doc_id, name, Json(value), raw, str(actor.user_id), changed, changed),
                )
                record_audit(cur, company_id, doc_id, actor.user_id, "correction", field=name,
                             before=before["value"] if before else None, after=value,
                             detail={"changed": changed, "raw": raw})
            if line_items is not None:
                cur.execute(
                    """SELECT position, description, quantity, unit_price, amount, tax_rate FROM line_items
                       WHERE document_id = %s ORDER BY position""",
                    (doc_id,),
                )
                before_items = [{k: _float(v) for k, v in r.items()} for r in cur.fetchall()]
                cur.execute("DELETE FROM line_items WHERE document_id = %s", (doc_id,))
                for item in line_items:
                    cur.execute(
                        """INSERT INTO line_items (document_id, position, description, quantity, unit_price, amount,
                                                   tax_rate, confidence)
                           VALUES (%s, %s, %s, %s, %s, %s, %s, 1.0)""",
                        (doc_id, item.position, item.description, item.quantity, item.unit_price, item.amount,
                         item.tax_rate),
                    )
                after_items = [{"position": i.position, "description": i.description, "quantity": i.quantity,
                                "unit_price": i.unit_price, "amount": i.amount, "tax_rate": i.tax_rate}
                               for i in line_items]
                record_audit(cur, company_id, doc_id, actor.user_id, "correction", field="line_items",
                             before=before_items, after=after_items, detail={"changed": before_items != after_items})
            cur.execute(
                """UPDATE documents SET updated_at = now(),
                          line_items_locked = line_items_locked OR %s
                   WHERE id = %s RETURNING version""",
                (line_items is not None, doc_id),
            )
            return cur.fetchone()["version"]

    # -- decisions -------------------------------------------------------------------------

    def decide(self, company_id: uuid.UUID, document_id: str, actor: Principal, decision: str,
               reason: str | None, expected_version: int | None, acknowledge: frozenset[str] = frozenset(),
               learn=None) -> int:
        """Approve or reject as a person. `learn(cur, company_id, document_id)` (vendor memory)
        runs inside the approving transaction and returns the vendor id it taught, if any."""
        with self.tx() as cur:
            doc = self._lock_document(cur, company_id, document_id)
            self._check_version(doc, expected_version)
            status = Status(doc.status)
            allowed = {Status.MANUAL_REVIEW} if decision == "approve" else REVIEW_STATUSES
            if status not in allowed:
                raise NotReviewable(doc.status)
            self._not_held_by_other(cur, doc, actor)
            signals = []
            if decision == "approve":
                if doc.duplicate_of is not None:
                    signals.append("possible_duplicate")
                vendor_check = ((doc.evaluation or {}).get("checks") or {}).get("vendor_memory") or {}
                if vendor_check.get("iban_changed"):
                    signals.append("iban_changed")
                missing = [s for s in signals if s not in acknowledge]
                if missing:
                    raise ApprovalBlocked(missing)
            vendor_id = learn(cur, str(company_id), str(doc.id)) if (learn and decision == "approve") else None
            new_status = Status.APPROVED if decision == "approve" else Status.REJECTED
            cur.execute(
                """UPDATE documents SET status = %s, decided_by = %s, decided_at = now(), decision_reason = %s,
                          completed_at = now(), updated_at = now(), vendor_id = coalesce(%s, vendor_id)
                   WHERE id = %s RETURNING version""",
                (new_status.value, str(actor.user_id), reason, str(vendor_id) if vendor_id else None,
                 str(doc.id)),
            )
            version = cur.fetchone()["version"]
            record_transition(cur, doc.id, status.value, new_status.value, REVIEW_STAGE, doc.pipeline_run,
                              {"action": decision, "user_id": str(actor.user_id), "reason": reason})
            cur.execute("DELETE FROM review_claims WHERE document_id = %s", (str(doc.id),))
            record_audit(cur, company_id, doc.id, actor.user_id, decision, before=status.value,
                         after=new_status.value,
                         detail={"reason": reason, "acknowledged": sorted(set(signals) & acknowledge),
                                 "vendor_id": str(vendor_id) if vendor_id else None})
        return version

    # -- audit -----------------------------------------------------------------------------

    def audit_entries(self, company_id: uuid.UUID, document_id: str) -> list[AuditEntry]:
        with self.tx() as cur:
            cur.execute("SELECT id FROM documents WHERE id = %s AND company_id = %s",
                        (_uuid(document_id), str(company_id)))
            if cur.fetchone() is None:
                raise DocumentNotFound(document_id)
            cur.execute(
                """SELECT id, at, action, actor_user_id, actor_email, actor_role, field, before, after, detail
                   FROM audit_log WHERE document_id = %s AND company_id = %s ORDER BY id""",
                (_uuid(document_id), str(company_id)),
            )
            return [AuditEntry(r["id"], r["at"], r["action"],
                               {"user_id": r["actor_user_id"], "email": r["actor_email"], "role": r["actor_role"]}
                               if r["actor_user_id"] else None,
                               r["field"], r["before"], r["after"], r["detail"])
                    for r in cur.fetchall()]

    # -- users -----------------------------------------------------------------------------

    def list_users(self, company_id: uuid.UUID) -> list[UserRow]:
        with self.tx() as cur:
            cur.execute("SELECT id, email, role, is_active, created_at FROM users WHERE company_id = %s "
                        "ORDER BY created_at, email", (str(company_id),))
            return [UserRow(**r) for r in cur.fetchall()]

    def update_user(self, company_id: uuid.UUID, user_id: str, actor_id: uuid.UUID, role: str | None,
                    is_active: bool | None) -> UserRow:
        with self.tx() as cur:
            # One lock per company: two admins demoting each other at once cannot both succeed.
            cur.execute("SELECT id FROM companies WHERE id = %s FOR UPDATE", (str(company_id),))
            try:
                uid = str(uuid.UUID(str(user_id)))
            except ValueError:
                raise UserNotFound(user_id) from None
            cur.execute("SELECT id, email, role, is_active, created_at FROM users WHERE id = %s AND company_id = %s",
                        (uid, str(company_id)))
            before = cur.fetchone()
            if before is None:
                raise UserNotFound(user_id)
            cur.execute(
                """UPDATE users SET role = coalesce(%s, role), is_active = coalesce(%s, is_active)
                   WHERE id = %s RETURNING id, email, role, is_active, created_at""",
                (role, is_active, uid),
            )
            after = cur.fetchone()
            cur.execute("SELECT count(*) AS n FROM users WHERE company_id = %s AND role = 'admin' AND is_active",
                        (str(company_id),))
            if cur.fetchone()["n"] == 0:
                raise LastAdmin()
            record_audit(cur, company_id, None, actor_id, "user_update", field=str(uid),
                         before={"role": before["role"], "is_active": before["is_active"]},
                         after={"role": after["role"], "is_active": after["is_active"]})
            return UserRow(**after)

    # -- vendors ---------------------------------------------------------------------------

    def list_vendors(self, company_id: uuid.UUID) -> list[dict[str, Any]]:
        with self.tx() as cur:
            cur.execute(
                """SELECT id, name, vat_id, iban, currency, confirmations, iban_confirmations, last_confirmed_at, layout
                   FROM vendors WHERE company_id = %s ORDER BY confirmations DESC, name""",
                (str(company_id),),
            )
            return cur.fetchall()

    def get_vendor(self, company_id: uuid.UUID, vendor_id: str) -> dict[str, Any] | None:
        try:
            vid = str(uuid.UUID(str(vendor_id)))
        except ValueError:
            return None
        with self.tx() as cur:
            cur.execute(
                """SELECT id, name, vat_id, iban, currency, confirmations, iban_confirmations, last_confirmed_at, layout
                   FROM vendors WHERE company_id = %s AND id = %s""",
                (str(company_id), vid),
            )
            return cur.fetchone()

    # -- stats -----------------------------------------------------------------------------

    def stats(self, company_id: uuid.UUID, start: datetime, end: datetime) -> Stats:
        """Figures for one company over [start, end): documents by upload time, decisions by
        decision time, the review backlog as it stands now."""
        st = Stats(start, end)
        cid = str(company_id)
        with self.tx() as cur:
            cur.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
            cur.execute(
                """SELECT status, count(*) AS n FROM documents
                   WHERE company_id = %s AND created_at >= %s AND created_at < %s GROUP BY status""",
                (cid, start, end),
            )
            st.by_status = {r["status"]: r["n"] for r in cur.fetchall()}
            st.documents = sum(st.by_status.values())
            cur.execute(
                """SELECT count(*) FILTER (WHERE status = ANY(%s)) AS finished,
                          count(*) FILTER (WHERE status = 'approved' AND decided_by IS NULL AND NOT EXISTS (
                              SELECT 1 FROM audit_log a WHERE a.document_id = d.id AND a.action = 'correction'))
                              AS straight
                   FROM documents d WHERE company_id = %s AND created_at >= %s AND created_at < %s""",
                (["approved", "manual_review", "rejected", *[s.value for s in ERROR_STATUSES]], cid, start, end),
            )
            r = cur.fetchone()
            st.straight_through_rate = round(r["straight"] / r["finished"], 4) if r["finished"] else None
            cur.execute(
                """SELECT h.stage, count(*) AS n,
                          percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM h.finished_at - h.started_at))
                              AS median_s,
                          percentile_cont(0.95) WITHIN GROUP (ORDER BY extract(epoch FROM h.finished_at - h.started_at))
                              AS p95_s
                   FROM stage_attempts h JOIN documents d ON d.id = h.document_id
                   WHERE d.company_id = %s AND d.created_at >= %s AND d.created_at < %s
                     AND h.stage = ANY(%s) AND h.outcome = 'ok'
                   GROUP BY h.stage""",
                (cid, start, end, _STAGE_NAMES),
            )
            st.stages = {r["stage"]: {"count": r["n"], "median_s": round(float(r["median_s"]), 3),
                                      "p95_s": round(float(r["p95_s"]), 3)} for r in cur.fetchall()}
            cur.execute(
                """SELECT count(*) AS backlog,
                          max(extract(epoch FROM now() - coalesce(completed_at, updated_at))) AS oldest,
                          percentile_cont(0.5) WITHIN GROUP (
                              ORDER BY extract(epoch FROM now() - coalesce(completed_at, updated_at))) AS median
                   FROM documents WHERE company_id = %s AND status = ANY(%s)""",
                (cid, _REVIEW),
            )
            r = cur.fetchone()
            cur.execute(
                """SELECT count(*) FILTER (WHERE status = 'approved') AS approved,
                          count(*) FILTER (WHERE status = 'rejected') AS rejected
                   FROM documents WHERE company_id = %s AND decided_by IS NOT NULL
                     AND decided_at >= %s AND decided_at < %s""",
                (cid, start, end),
            )
            d = cur.fetchone()
            st.review = {"backlog": r["backlog"],
                         "oldest_age_s": round(float(r["oldest"]), 1) if r["oldest"] is not None else None,
                         "median_age_s": round(float(r["median"]), 1) if r["median"] is not None else None,
                         "approved_by_person": d["approved"], "rejected": d["rejected"]}
            # Decision time: from the reviewer's first claim of the document to the decision.
            cur.execute(
                """SELECT a.actor_user_id AS user_id, max(a.actor_email) AS email,
                          count(*) FILTER (WHERE a.action IN ('approve', 'reject')) AS decisions,
                          count(*) FILTER (WHERE a.action = 'approve') AS approved,
                          count(*) FILTER (WHERE a.action = 'reject') AS rejected,
                          count(*) FILTER (WHERE a.action = 'correction') AS corrections,
                          percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM a.at - (
                              SELECT min(c.at) FROM audit_log c WHERE c.document_id = a.document_id
                                AND c.actor_user_id = a.actor_user_id AND c.action = 'claim' AND c.at <= a.at)))
                              FILTER (WHERE a.action IN ('approve', 'reject')) AS median_decision_s
                   FROM audit_log a
                   WHERE a.company_id = %s AND a.at >= %s AND a.at < %s AND a.actor_user_id IS NOT NULL
                     AND a.action IN ('approve', 'reject', 'correction')
                   GROUP BY a.actor_user_id ORDER BY decisions DESC, email""",
                (cid, start, end),
            )
            st.reviewers = [{**r, "median_decision_s": round(float(r["median_decision_s"]), 1)
                             if r["median_decision_s"] is not None else None} for r in cur.fetchall()]
        return st


def utc(dt: datetime) -> datetime:
    return dt if dt.tzinfo else dt.replace(tzinfo=timezone.utc)
