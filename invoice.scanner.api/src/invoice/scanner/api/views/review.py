"""The review workflow: the queue, claims, corrections, approve/reject, the audit log, vendors."""
from __future__ import annotations

import logging
from contextlib import contextmanager
from datetime import datetime, timezone

from flask import current_app, request
from flask.views import MethodView
from flask_smorest import Blueprint, abort

from invoice.scanner.processing.extract.corrections import CorrectionError, correct_field, correct_line_items

from invoice.scanner.api.auth import require_permission
from invoice.scanner.api.errors import DocumentNotFound, InvalidCursor
from invoice.scanner.api.review_repository import (ApprovalBlocked, ClaimConflict, NotReviewable, QueueFilter,
                                                   VersionMismatch, decode_queue_cursor, encode_queue_cursor)
from invoice.scanner.api.review_schemas import (ApprovalBlockedSchema, ApproveSchema, AuditListSchema, ClaimConflictSchema,
                                                ClaimSchema, CorrectionSchema, RejectSchema, ReleaseSchema,
                                                ReviewQueueSchema, ReviewQuerySchema, VendorListSchema, VendorSchema)
from invoice.scanner.api.review_service import etag, learn_from_document, parse_if_match, review_repo
from invoice.scanner.api.schemas import DocumentSchema
from invoice.scanner.api.views.documents import NOT_FOUND, document_response

logger = logging.getLogger(__name__)

blp = Blueprint("review", __name__, description="Review: the queue of documents that need a person, claims, "
                                                "corrections, decisions and the audit log")


def _state():
    return current_app.extensions["invoice_scanner"]


def _iso(value: datetime | None) -> str | None:
    return value.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ") if value else None


def _conflict(exc: ClaimConflict) -> None:
    abort(409, message=f"Claimed by {exc.email or 'another reviewer'} until {_iso(exc.expires_at)}",
          claimed_by={"user_id": str(exc.user_id), "email": exc.email}, expires_at=_iso(exc.expires_at))


def _not_reviewable(exc: NotReviewable, what: str) -> None:
    abort(409, message=f"A document in status {exc.status} cannot be {what}")


IF_MATCH_PATTERN = r'^\s*(\*|(W/)?"?[0-9]{1,10}"?)\s*$'
IF_MATCH_SCHEMA = {"type": "string", "pattern": IF_MATCH_PATTERN}


def if_match_doc(required: bool):
    """What a view that takes the document's ETag in If-Match documents: the header and its
    412, 400 (and 428 when `required`) answers. The view reads it with `_if_match(required)`,
    after its permission check."""
    if required:
        stale, header = ("If-Match names an older version: reload and try again",
                         "The ETag of GET /documents/<id>, or `*` (any current version)")
    else:
        stale, header = ("If-Match names an older version",
                         "Optional: the ETag of GET /documents/<id> (412 when it changed since)")
    steps = [blp.alt_response(412, description=stale)]
    if required:
        steps.append(blp.alt_response(428, description="If-Match is missing"))
    steps += [blp.alt_response(400, description="If-Match is neither an ETag of ours nor `*`"),
              blp.doc(parameters=[{"in": "header", "name": "If-Match", "required": required,
                                   "schema": IF_MATCH_SCHEMA, "description": header}])]

    def decorate(view):
        for step in reversed(steps):  # applied bottom-up, as when written above the view
            view = step(view)
        return view

    return decorate


def _if_match(required: bool) -> int | None:
    header = request.headers.get("If-Match")
    if header is not None and header.strip() == "*":
        return None  # RFC 9110 13.1.1: `*` matches any current representation (the document exists: 404 otherwise)
    try:
        version = parse_if_match(header)
    except ValueError:
        abort(400, message="If-Match must be the ETag of GET /documents/<id>, e.g. \"7\"")
    if version is None and required:
        abort(428, message="Send If-Match with the document's ETag (from GET /documents/<id>)")
    return version


def _stale(exc: VersionMismatch) -> None:
    abort(412, message=f"The document changed since you read it (now version {exc.current}); reload and try again",
          version=exc.current, headers={"ETag": etag(exc.current)})


@contextmanager
def _review_refusals(what: str):
    """The review repository's refusals as answers: 404, 412 (stale If-Match), 409 (claimed by
    another reviewer, or a status that cannot be `what`)."""
    try:
        yield
    except DocumentNotFound:
        abort(404, message=NOT_FOUND)
    except VersionMismatch as exc:
        _stale(exc)
    except ClaimConflict as exc:
        _conflict(exc)
    except NotReviewable as exc:
        _not_reviewable(exc, what)


@blp.route("/review")
class ReviewQueue(MethodView):
    @blp.arguments(ReviewQuerySchema, location="query")
    @blp.response(200, ReviewQueueSchema)
    def get(self, query):
        """Documents that need a person (manual_review, *_error), most urgent first: deadline, amount, confidence."""
        principal = require_permission("review")
        after = None
        if query.get("cursor"):
            try:
                after = decode_queue_cursor(query["cursor"])
            except InvalidCursor:
                abort(422, message="Invalid query", errors={"query": {"cursor": ["Not a valid cursor."]}})
        flt = QueueFilter(status=query.get("status"), claimed=query["claimed"], vendor=query.get("vendor"),
                          duplicate=query.get("duplicate"))
        limit = query["limit"]
        items, total = review_repo(_state()).review_queue(principal.company_id, principal.user_id, flt, limit + 1,
                                                          after, _state().config.review_sla_s)
        page, more = items[:limit], len(items) > limit
        return {
            "items": page,  # ReviewItemSchema dumps the repository's QueueItem
            "total": total,
            "limit": limit,
            "next_cursor": encode_queue_cursor(page[-1].sort_key) if more else None,
        }


@blp.route("/documents/<document_id>/claim")
class DocumentClaim(MethodView):
    @blp.response(200, ClaimSchema)
    @blp.alt_response(404, description="No such document in your company")
    @blp.alt_response(409, schema=ClaimConflictSchema, description="Another reviewer holds it, or it needs no review")
    def post(self, document_id):
        """Claim the document for review (atomic; expires after REVIEW_CLAIM_TTL_S; claiming again extends it)."""
        principal = require_permission("review")
        try:
            claim = review_repo(_state()).claim(principal.company_id, document_id, principal,
                                                _state().config.review_claim_ttl_s)
        except DocumentNotFound:
            abort(404, message=NOT_FOUND)
        except ClaimConflict as exc:
            _conflict(exc)
        except NotReviewable as exc:
            _not_reviewable(exc, "claimed for review")
        return claim  # ClaimSchema dumps the repository's Claim

    @blp.response(200, ReleaseSchema)
    @blp.alt_response(404, description="No such document in your company")
    @blp.alt_response(409, schema=ClaimConflictSchema, description="Another reviewer holds it (only an admin may release it)")
    def delete(self, document_id):
        """Release the claim (yours; an admin may release anyone's)."""
        principal = require_permission("review")
        try:
            released = review_repo(_state()).release(principal.company_id, document_id, principal)
        except DocumentNotFound:
            abort(404, message=NOT_FOUND)
        except ClaimConflict as exc:
            _conflict(exc)
        return {"document_id": document_id, "released": released}


@blp.route("/documents/<document_id>/fields")
class DocumentFields(MethodView):
    @blp.arguments(CorrectionSchema)
    @blp.response(200, DocumentSchema)
    @blp.alt_response(404, description="No such document in your company")
    @blp.alt_response(409, description="Another reviewer holds it, or it is not in review")
    @if_match_doc(required=True)
    def patch(self, data, document_id):
        """Correct fields and/or line items; each correction is locked so re-processing keeps it."""
        principal = require_permission("review")
        version = _if_match(required=True)
        fields, errors = {}, {}
        for name, value in (data.get("fields") or {}).items():
            try:
                fields[name] = correct_field(name, value)
            except CorrectionError as exc:
                errors.setdefault("fields", {})[name] = [str(exc)]
        items = None
        if "line_items" in data:
            try:
                items = correct_line_items(data["line_items"])
            except CorrectionError as exc:
                errors["line_items"] = [str(exc)]
        if errors:
            abort(422, message="Invalid correction", errors={"json": errors})
        with _review_refusals("corrected"):
            review_repo(_state()).correct(principal.company_id, document_id, principal, version, fields, items)
        return document_response(principal.company_id, document_id)


@blp.route("/documents/<document_id>/approve")
class DocumentApprove(MethodView):
    @blp.arguments(ApproveSchema)
    @blp.response(200, DocumentSchema)
    @blp.alt_response(404, description="No such document in your company")
    @blp.alt_response(409, schema=ApprovalBlockedSchema,
                      description="Not in manual_review, held by another reviewer, or a blocking signal not acknowledged")
    @if_match_doc(required=False)
    def post(self, data, document_id):
        """Approve the document as a person; vendor memory learns from it."""
        principal = require_permission("decide")
        version = _if_match(required=False)
        try:
            with _review_refusals("approved (only manual_review can)"):
                review_repo(_state()).decide(principal.company_id, document_id, principal, "approve",
                                             data.get("comment"), version, frozenset(data["acknowledge"]),
                                             learn=learn_from_document)
        except ApprovalBlocked as exc:
            abort(409, message="Approval blocked until acknowledged: " + ", ".join(exc.blocking) +
                  " (send them in `acknowledge` after checking)", blocking=exc.blocking)
        logger.info("document %s approved by %s", document_id, principal.user_id, extra={"document_id": document_id})
        return document_response(principal.company_id, document_id)


@blp.route("/documents/<document_id>/reject")
class DocumentReject(MethodView):
    @blp.arguments(RejectSchema)
    @blp.response(200, DocumentSchema)
    @blp.alt_response(404, description="No such document in your company")
    @blp.alt_response(409, description="Not in review, or held by another reviewer")
    @if_match_doc(required=False)
    def post(self, data, document_id):
        """Reject the document with a reason (status `rejected`, terminal)."""
        principal = require_permission("decide")
        version = _if_match(required=False)
        with _review_refusals("rejected"):
            review_repo(_state()).decide(principal.company_id, document_id, principal, "reject",
                                         data["reason"], version)
        logger.info("document %s rejected by %s", document_id, principal.user_id, extra={"document_id": document_id})
        return document_response(principal.company_id, document_id)


@blp.route("/documents/<document_id>/audit")
class DocumentAudit(MethodView):
    @blp.response(200, AuditListSchema)
    @blp.alt_response(404, description="No such document in your company")
    def get(self, document_id):
        """Who did what to the document, when, with the values before and after (append-only)."""
        principal = require_permission("documents:read")
        try:
            entries = review_repo(_state()).audit_entries(principal.company_id, document_id)
        except DocumentNotFound:
            abort(404, message=NOT_FOUND)
        return {"document_id": document_id, "entries": entries}


@blp.route("/vendors")
class Vendors(MethodView):
    @blp.response(200, VendorListSchema)
    def get(self):
        """The company's vendor memory: vendors people confirmed, most confirmed first."""
        principal = require_permission("documents:read")
        return {"vendors": review_repo(_state()).list_vendors(principal.company_id)}


@blp.route("/vendors/<vendor_id>")
class Vendor(MethodView):
    @blp.response(200, VendorSchema)
    @blp.alt_response(404, description="No such vendor in your company")
    def get(self, vendor_id):
        """One vendor's memory, with the place of each field on its invoices."""
        principal = require_permission("documents:read")
        vendor = review_repo(_state()).get_vendor(principal.company_id, vendor_id)
        if vendor is None:
            abort(404, message="Vendor not found")
        return vendor
