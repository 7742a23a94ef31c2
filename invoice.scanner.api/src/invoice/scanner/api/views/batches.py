"""Batches: many invoices in one request (files or one ZIP), one result per file, then poll."""
from __future__ import annotations

import marshmallow as ma
from flask import current_app, request, url_for
from flask.views import MethodView
from flask_smorest import Blueprint, abort
from flask_smorest.fields import Upload

from invoice.scanner.api.auth import require_permission
from invoice.scanner.api.batches import BatchRejected, ZipBatch, get_batch, looks_like_zip, request_files, run_batch
from invoice.scanner.api.schemas import UploadedDocumentSchema, UtcDateTime
from invoice.scanner.api.uploads import sanitize_filename

blp = Blueprint("batches", __name__, description="Batch upload: many files or one ZIP, one result per file")

NOT_FOUND = "Batch not found"


class BatchFilesSchema(ma.Schema):
    files = ma.fields.List(Upload(), required=True, validate=ma.validate.Length(min=1), metadata={
        "description": "The files (repeat the part), or a single ZIP whose files are each uploaded"})


class BatchResultSchema(ma.Schema):
    position = ma.fields.Integer(metadata={"description": "Order in the request or the archive, from 0"})
    filename = ma.fields.String()
    entry = ma.fields.String(allow_none=True, metadata={"description": "Path inside the ZIP, as written there"})
    code = ma.fields.Integer(metadata={"description": "What a single upload of this file answers: 201, 400, 409, "
                                                      "413, 415 or 422"})
    status = ma.fields.String()
    message = ma.fields.String()
    reason = ma.fields.String(allow_none=True, metadata={
        "description": "Machine label of a refusal: empty, too_large, unsupported_type, corrupt_pdf, duplicate, "
                       "unsafe_path, nested_archive, zip_bomb, encrypted_entry, corrupt_entry, batch_too_large, ..."})
    document = ma.fields.Nested(UploadedDocumentSchema, metadata={"description": "The new document (201)"})
    document_id = ma.fields.UUID(allow_none=True, metadata={
        "description": "The new document (201) or the one this file duplicates (409)"})
    task_id = ma.fields.String(allow_none=True)


class BatchCreatedSchema(ma.Schema):
    id = ma.fields.UUID()
    created_at = UtcDateTime()
    archive_name = ma.fields.String(allow_none=True)
    file_count = ma.fields.Integer()
    accepted = ma.fields.Integer()
    rejected = ma.fields.Integer()
    results = ma.fields.List(ma.fields.Nested(BatchResultSchema))


class BatchItemSchema(ma.Schema):
    position = ma.fields.Integer()
    filename = ma.fields.String()
    entry = ma.fields.String(allow_none=True)
    code = ma.fields.Integer()
    status = ma.fields.String()
    message = ma.fields.String(allow_none=True)
    reason = ma.fields.String(allow_none=True)
    document_id = ma.fields.UUID(allow_none=True)
    document_status = ma.fields.String(allow_none=True, metadata={
        "description": "The document's status now (accepted files only)"})


class BatchSchema(ma.Schema):
    id = ma.fields.UUID()
    created_at = UtcDateTime()
    archive_name = ma.fields.String(allow_none=True)
    file_count = ma.fields.Integer()
    accepted = ma.fields.Integer()
    rejected = ma.fields.Integer()
    statuses = ma.fields.Dict(keys=ma.fields.String(), values=ma.fields.Integer(), metadata={
        "description": "Accepted documents per current status"})
    done = ma.fields.Boolean(metadata={"description": "Every accepted document is in a terminal status"})
    items = ma.fields.List(ma.fields.Nested(BatchItemSchema))


def _state():
    return current_app.extensions["invoice_scanner"]


@blp.route("/documents/batch")
class BatchUpload(MethodView):
    @blp.arguments(BatchFilesSchema, location="files")
    @blp.response(201, BatchCreatedSchema)
    @blp.alt_response(400, description="No file, or a ZIP holding no file")
    @blp.alt_response(413, description="More files than BATCH_MAX_FILES, or more bytes than BATCH_MAX_BYTES")
    @blp.alt_response(422, description="A ZIP that cannot be read; a form part other than `files`")
    def post(self, files):
        """Upload many invoices at once: each file (or each file of one ZIP) goes through the single
        upload's checks and duplicate rule and gets its own result; the batch can be polled."""
        principal = require_permission("documents:write")
        unknown = sorted((set(request.files) | set(request.form)) - {"files"})
        if unknown:
            abort(422, message="Unknown form field(s)", errors={"files": {name: ["Unknown field."] for name in unknown}})
        parts = request.files.getlist("files")
        state = _state()
        cfg = state.config
        try:
            if len(parts) == 1 and looks_like_zip(parts[0]):
                archive = ZipBatch(parts[0].stream, cfg.batch_max_files, cfg.batch_max_bytes, cfg.batch_max_ratio,
                                   cfg.max_upload_bytes)
                offered, count, archive_name = iter(archive), len(archive), sanitize_filename(parts[0].filename)
            else:
                if len(parts) > cfg.batch_max_files:
                    raise BatchRejected(413, f"{len(parts):,} files; at most {cfg.batch_max_files:,} are accepted "
                                             "in one batch", "too_many_files")
                offered, count, archive_name = request_files(parts, cfg.max_upload_bytes), len(parts), None
        except BatchRejected as exc:
            abort(exc.http_status, message=exc.message)
        body = run_batch(state, principal.company_id, principal.user_id, offered, count, archive_name)
        return body, 201, {"Location": url_for("batches.Batch", batch_id=body["id"])}


@blp.route("/batches/<batch_id>")
class Batch(MethodView):
    @blp.response(200, BatchSchema)
    @blp.alt_response(404, description="No such batch in your company")
    def get(self, batch_id):
        """A batch's files, each with its answer and its document's status now (poll until `done`)."""
        company_id = require_permission("documents:read").company_id
        batch = get_batch(_state(), company_id, batch_id)
        if batch is None:
            abort(404, message=NOT_FOUND)
        return batch
