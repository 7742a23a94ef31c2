"""Documents: upload, status, extracted data, list, history, retry."""
from __future__ import annotations

import base64
import binascii
import logging
import uuid
from dataclasses import dataclass
from datetime import datetime, time, timedelta, timezone
from typing import Any

from flask import current_app, request
from flask.views import MethodView
from flask_smorest import Blueprint, abort

from invoice.scanner.api.auth import authenticate_with, preloaded, require_permission
from invoice.scanner.api.errors import (
    BrokerUnavailable,
    DocumentNotFound,
    DuplicateDocument,
    InvalidCursor,
    NotRetryable,
    UploadRejected,
)
from invoice.scanner.api.repository import DocumentDetail, EInvoiceRecord, ListFilter
from invoice.scanner.api.schemas import (
    DocumentListQuerySchema,
    DocumentListSchema,
    DocumentSchema,
    DuplicateErrorSchema,
    HistoryListSchema,
    StatusSchema,
    UploadFileSchema,
    UploadResponseSchema,
)
from invoice.scanner.api.review_service import etag, review_keys
from invoice.scanner.api.services import retry_document, upload_document
from invoice.scanner.api.status_poll import status_with_token
from invoice.scanner.api.uploads import sanitize_filename

logger = logging.getLogger(__name__)

blp = Blueprint("documents", __name__, url_prefix="/documents", description="Invoices: upload, follow, read")

NOT_FOUND = "Document not found"


def _state():
    return current_app.extensions["invoice_scanner"]


# -- presenting ------------------------------------------------------------------------------


@dataclass(frozen=True)
class DocumentView:
    """What a document's endpoints answer (`DocumentSchema` dumps it): the document read in one
    snapshot, its e-invoice (None for other documents) and its review keys (claim, decision, vendor)."""

    detail: DocumentDetail
    einvoice: EInvoiceRecord | None
    review: dict[str, Any]


def document_response(company_id, document_id: str):
    """The document as GET /documents/<id> shows it, with its ETag; `DocumentNotFound` when it
    is not the company's."""
    state = _state()
    detail = state.repo.get_document_detail(company_id, document_id)
    view = DocumentView(detail, state.repo.get_einvoice(company_id, document_id),
                        review_keys(state, company_id, detail.document))
    return view, 200, {"ETag": etag(detail.document.version)}


def list_filter(query: dict[str, Any]) -> ListFilter:
    """The list's date range (whole UTC days, both ends included) and search text."""
    start, end = query.get("created_from"), query.get("created_to")
    return ListFilter(
        created_from=datetime.combine(start, time.min, timezone.utc) if start else None,
        created_before=datetime.combine(end + timedelta(days=1), time.min, timezone.utc) if end else None,
        search=(query.get("q") or "").strip() or None,
    )


# -- keyset cursor ---------------------------------------------------------------------------


def encode_cursor(created_at: datetime, document_id: uuid.UUID) -> str:
    raw = f"{created_at.isoformat()}|{document_id}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, uuid.UUID]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        created, _, doc_id = raw.partition("|")
        position = datetime.fromisoformat(created), uuid.UUID(doc_id)
    except (binascii.Error, UnicodeDecodeError, ValueError) as exc:
        raise InvalidCursor(cursor) from exc
    if position[0].tzinfo is None:
        raise InvalidCursor(cursor)
    return position


# -- views -----------------------------------------------------------------------------------


@blp.route("/upload")
class Upload(MethodView):
    @blp.arguments(UploadFileSchema, location="files")
    @blp.response(201, UploadResponseSchema)
    @blp.alt_response(400, description="Empty file")
    @blp.alt_response(409, schema=DuplicateErrorSchema, description="Same content already uploaded by this company")
    @blp.alt_response(413, description="File over the size limit")
    @blp.alt_response(415, description="Not a PDF, PNG, JPEG or TIFF (judged by content)")
    @blp.alt_response(422, description="PDF that cannot be opened or is encrypted; too many pages or pixels; a form part other than `file`")
    def post(self, files):
        """Upload an invoice; it is stored, recorded and queued for processing at once."""
        principal = require_permission("documents:write")
        # One part, `file`: another part is refused as the schema says (not silently dropped).
        unknown = sorted((set(request.files) | set(request.form)) - {"file"})
        if unknown:
            abort(422, message="Unknown form field(s)", errors={"files": {name: ["Unknown field."] for name in unknown}})
        upload = files["file"]
        # MAX_CONTENT_LENGTH has already bounded the body; read one byte over the file limit
        # so an oversized file inside a padded body is still caught.
        data = upload.stream.read(_state().config.max_upload_bytes + 1)
        try:
            result = upload_document(_state(), data, sanitize_filename(upload.filename), principal.company_id,
                                     principal.user_id)
        except UploadRejected as exc:
            abort(exc.http_status, message=exc.message)
        except DuplicateDocument as exc:
            abort(409, message="This file was already uploaded; it is not processed again",
                  document_id=exc.document_id)
        return result


@blp.route("")
class DocumentList(MethodView):
    @blp.arguments(DocumentListQuerySchema, location="query")
    @blp.response(200, DocumentListSchema)
    def get(self, query):
        """The company's documents, newest first; page with `cursor` (keyset) or `offset`."""
        principal = require_permission("documents:read")
        after = None
        if query.get("cursor"):
            try:
                after = decode_cursor(query["cursor"])
            except InvalidCursor:
                abort(422, message="Invalid query", errors={"query": {"cursor": ["Not a valid cursor."]}})
        limit, offset, status = query["limit"], query.get("offset") or 0, query.get("status")
        filters = list_filter(query)
        repo = _state().repo
        rows = repo.list_documents(principal.company_id, limit + 1, status=status, after=after, offset=offset,
                                   filters=filters)
        page, more = rows[:limit], len(rows) > limit
        return {
            "documents": page,
            "total": repo.count_documents(principal.company_id, status, filters=filters),
            "limit": limit,
            "offset": None if after else offset,
            "next_cursor": encode_cursor(page[-1].created_at, page[-1].id) if more else None,
        }


# `uuid:` so that `/documents/upload` (POST only) is not also this GET route: a GET there is a
# 405 whose `Allow` names POST, and the OpenAPI document says the id is a UUID.
@blp.route("/<uuid:document_id>")
class Document(MethodView):
    @blp.response(200, DocumentSchema)
    @blp.alt_response(404, description="No such document in your company")
    def get(self, document_id):
        """The extracted invoice data: contract's flat keys, every field, line items, pages, history."""
        company_id = require_permission("documents:read").company_id
        try:
            return document_response(company_id, str(document_id))
        except DocumentNotFound:
            abort(404, message=NOT_FOUND)


@blp.route("/<document_id>/status")
class DocumentStatus(MethodView):
    @blp.response(200, StatusSchema)
    @blp.alt_response(404, description="No such document in your company")
    def get(self, document_id):
        """Where the document is in the pipeline (what the client polls)."""
        require_permission("documents:read")
        record = preloaded()  # read with the token in one statement (status_poll.status_with_token)
        if record is None:
            abort(404, message=NOT_FOUND)
        return record


# The poll is the API's most frequent request: its token check and its row are one round trip
# (tenancy in the statement's join), and its plain case is answered before Flask (status_poll).
authenticate_with(f"{blp.name}.{DocumentStatus.__name__}", status_with_token)


@blp.route("/<document_id>/history")
class DocumentHistory(MethodView):
    @blp.response(200, HistoryListSchema)
    @blp.alt_response(404, description="No such document in your company")
    def get(self, document_id):
        """Every status transition and every stage attempt, oldest first (audit trail)."""
        principal = require_permission("documents:read")
        try:
            history = _state().repo.get_history(principal.company_id, document_id)
        except DocumentNotFound:
            abort(404, message=NOT_FOUND)
        return {"document_id": document_id, "history": history}


@blp.route("/<document_id>/retry")
class DocumentRetry(MethodView):
    @blp.response(202, StatusSchema)
    @blp.alt_response(404, description="No such document in your company")
    @blp.alt_response(409, description="The document is not in an error status")
    @blp.alt_response(503, description="The broker is unreachable; nothing was changed")
    def post(self, document_id):
        """Resume a failed document from the stage that failed."""
        principal = require_permission("documents:write")
        state = _state()
        try:
            retry_document(state, principal.company_id, document_id, principal.user_id)
        except DocumentNotFound:
            abort(404, message=NOT_FOUND)
        except NotRetryable as exc:
            abort(409, message=f"Only a document in an error status can be retried; this one is {exc.status}")
        except BrokerUnavailable:
            abort(503, message="The task queue is unreachable; try again shortly")
        return state.repo.get_document_for_company(principal.company_id, document_id)
