"""Request and response schemas: what the OpenAPI document shows and what the views return."""
from __future__ import annotations

import dataclasses
from datetime import timezone
from typing import Any

import marshmallow as ma
from flask_smorest.fields import Upload

from invoice.scanner.processing.fields import CONTRACT_FLAT_FIELDS, FIELD_BY_NAME
from invoice.scanner.processing.status import STATUS_INFO, Status, progress


class UtcDateTime(ma.fields.DateTime):
    """ISO 8601 in UTC with a `Z`, as the contract shows: `2024-12-21T12:34:56Z`."""

    def _serialize(self, value, attr, obj, **kwargs):
        if value is None:
            return None
        if value.tzinfo is None:
            value = value.replace(tzinfo=timezone.utc)
        return value.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


class StrictBoolean(ma.fields.Boolean):
    """A JSON body boolean: only `true` or `false`. marshmallow's Boolean also takes 0/1/"yes"
    (and `truthy={True}` does not help: `1 in {True}`), which the OpenAPI `type: boolean` forbids."""

    default_error_messages = {"invalid": "Not a boolean: send true or false."}

    def _deserialize(self, value, attr, data, **kwargs):
        if not isinstance(value, bool):
            raise self.make_error("invalid")
        return value


# -- auth -----------------------------------------------------------------------------------


class LoginSchema(ma.Schema):
    email = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=320))
    password = ma.fields.String(required=True, load_only=True, validate=ma.validate.Length(min=1, max=1024))


class TokenSchema(ma.Schema):
    access_token = ma.fields.String(required=True)
    token_type = ma.fields.String(required=True, metadata={"example": "Bearer"})
    expires_in = ma.fields.Integer(required=True, metadata={"description": "Seconds until the token expires"})


class LogoutSchema(ma.Schema):
    message = ma.fields.String()


# -- documents ------------------------------------------------------------------------------


class UploadFileSchema(ma.Schema):
    file = Upload(required=True, metadata={"description": "PDF, PNG, JPEG or TIFF"})


class UploadedDocumentSchema(ma.Schema):
    id = ma.fields.UUID()
    status = ma.fields.String()
    created_at = UtcDateTime()


class UploadResponseSchema(ma.Schema):
    """An `UploadResult` (services.upload_document)."""

    MESSAGE = "Document uploaded and queued for processing"

    message = ma.fields.String()
    document = ma.fields.Nested(UploadedDocumentSchema)
    task_id = ma.fields.String(allow_none=True, metadata={
        "description": "Celery task id; null when the broker was unreachable (the document is queued later)"})

    def get_attribute(self, obj, attr, default):
        if attr == "message":
            return self.MESSAGE
        return super().get_attribute(obj, attr, default)


class ProgressSchema(ma.Schema):
    current_step = ma.fields.Integer()
    total_steps = ma.fields.Integer()
    percentage = ma.fields.Integer()


def _as_number(value: Any) -> float | None:
    """Amounts are JSON numbers in the contract, whatever the extraction stored."""
    if value is None or isinstance(value, bool):
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def flat_value(name: str, value: Any) -> Any:
    """A field's value as the contract's flat key holds it: amounts as numbers, the rest as text."""
    if FIELD_BY_NAME[name].kind == "amount":
        return _as_number(value)
    return None if value is None else str(value)


# Keys derived from a record's status through the one status table (status.py).
_FROM_STATUS = {
    "status": lambda s: s.value,
    "status_name": lambda s: STATUS_INFO[s].name,
    "status_description": lambda s: STATUS_INFO[s].description,
    "progress": progress,
}


class RecordSchema(ma.Schema):
    """Dumps the repository's dataclasses: the status keys come from the record's `status`."""

    def get_attribute(self, obj, attr, default):
        if attr in _FROM_STATUS and attr in self.fields:
            return _FROM_STATUS[attr](Status(obj.status))
        return super().get_attribute(obj, attr, default)


class StatusSchema(RecordSchema):
    """A document record (`DocumentRecord`, `StatusRecord`) as the status the client polls."""

    document_id = ma.fields.UUID(attribute="id")
    status = ma.fields.String(metadata={"enum": [s.value for s in Status]})
    status_name = ma.fields.String()
    status_description = ma.fields.String()
    progress = ma.fields.Nested(ProgressSchema)
    quality_score = ma.fields.Float(allow_none=True)
    error = ma.fields.String(allow_none=True)
    created_at = UtcDateTime()
    last_update = UtcDateTime(attribute="updated_at")


BBox = ma.fields.List(ma.fields.Float(), allow_none=True,
                      metadata={"description": "[x0, y0, x1, y1] as fractions of the page's width and height"})


class FieldValueSchema(ma.Schema):
    value = ma.fields.Raw(allow_none=True)
    confidence = ma.fields.Float()
    page = ma.fields.Integer(allow_none=True)
    bbox = ma.fields.List(ma.fields.Float(), allow_none=True)
    raw_value = ma.fields.String(allow_none=True)
    valid = ma.fields.Boolean()
    error = ma.fields.String(allow_none=True)
    locked = ma.fields.Boolean(metadata={"description": "A person's correction: re-processing keeps it"})
    provenance = ma.fields.String(allow_none=True, metadata={
        "description": "Where the value comes from: xml (the e-invoice's XML, the value of record), page (read "
                       "from the page), derived (computed), person (a correction)"})
    corrected_by = ma.fields.UUID(allow_none=True)
    corrected_at = UtcDateTime(allow_none=True)


class LineItemSchema(ma.Schema):
    position = ma.fields.Integer()
    description = ma.fields.String(allow_none=True)
    quantity = ma.fields.Float(allow_none=True)
    unit_price = ma.fields.Float(allow_none=True)
    amount = ma.fields.Float(allow_none=True)
    tax_rate = ma.fields.Float(allow_none=True)
    confidence = ma.fields.Float(allow_none=True)
    page = ma.fields.Integer(allow_none=True)
    bbox = ma.fields.List(ma.fields.Float(), allow_none=True)


class PageSchema(ma.Schema):
    page_no = ma.fields.Integer()
    width = ma.fields.Integer()
    height = ma.fields.Integer()
    dpi = ma.fields.Integer()
    rotation = ma.fields.Integer()
    ocr_engine = ma.fields.String(allow_none=True)
    ocr_confidence = ma.fields.Float(allow_none=True)


class HistorySchema(ma.Schema):
    kind = ma.fields.String(metadata={
        "description": "transition: the status changed, or the pipeline was told something (run queued, re-drive, "
                       "retry, review decision); attempt: one delivery of a stage task (from_status is the status "
                       "it found; when it differs from to_status, the attempt moved the document there)"})
    from_status = ma.fields.String(allow_none=True)
    to_status = ma.fields.String()
    stage = ma.fields.String(allow_none=True)
    pipeline_run = ma.fields.Integer()
    attempt = ma.fields.Integer()
    worker_host = ma.fields.String(allow_none=True)
    started_at = UtcDateTime()
    finished_at = UtcDateTime(allow_none=True)
    outcome = ma.fields.String(allow_none=True, metadata={
        "description": "An attempt's outcome: ok | retry | failed | abandoned (its worker was lost) | stale (a newer "
                       "run owns the document); null while it runs and for transitions. Also in detail.outcome."})
    detail = ma.fields.Dict(allow_none=True)


class HistoryListSchema(ma.Schema):
    document_id = ma.fields.UUID()
    history = ma.fields.List(ma.fields.Nested(HistorySchema))


def provenance(field, einvoice) -> str | None:
    """Where a value comes from: `person` (a correction), `xml` (the e-invoice's XML), `page`
    (read from the page), `derived` (computed from other values), or None (no value)."""
    if field.locked:
        return "person"
    if einvoice is not None and einvoice.provenance and field.name in einvoice.provenance:
        return einvoice.provenance[field.name]
    if field.raw_value is not None:
        return "page"
    return "derived" if field.value is not None else None


def einvoice_block(record) -> dict[str, Any] | None:
    """The `einvoice` block of a document (an `EInvoiceRecord`): syntax, profile, claims, parties
    with identifiers, VAT breakdown, payment, validation findings and the picture-vs-XML cross-check."""
    if record is None:
        return None
    validation = record.validation or {}
    return {
        "source": record.source, "syntax": record.syntax, "profile": record.profile,
        "customization_id": record.customization_id, "claims": record.claims or [],
        "xml_sha256": record.xml_sha256, "xml_bytes": record.xml_bytes, "read_error": record.read_error,
        **{k: v for k, v in (record.summary or {}).items()
           if k not in ("syntax", "profile", "customization_id", "claims", "source")},
        "validation": validation or None,
        "cross_check": record.cross_check,
    }


class DocumentSchema(ma.Schema):
    """A `DocumentView` (views/documents.py): the document core's `Document` with its fields,
    line items, pages and history, its e-invoice and its review keys."""

    # The flat keys the React client reads (docs/API_CONTRACT.md), with these names and types.
    id = ma.fields.UUID()
    status = ma.fields.String()
    invoice_number = ma.fields.String(allow_none=True)
    invoice_date = ma.fields.String(allow_none=True, metadata={"format": "date"})
    due_date = ma.fields.String(allow_none=True, metadata={"format": "date"})
    vendor_name = ma.fields.String(allow_none=True)
    customer_name = ma.fields.String(allow_none=True)
    currency = ma.fields.String(allow_none=True)
    amount = ma.fields.Float(allow_none=True, metadata={"description": "Net amount (subtotal before tax)"})
    vat = ma.fields.Float(allow_none=True, metadata={"description": "Tax amount"})
    total = ma.fields.Float(allow_none=True, metadata={"description": "Gross amount"})
    predicted_accuracy = ma.fields.Float(allow_none=True)
    quality_score = ma.fields.Float(allow_none=True)
    created_at = UtcDateTime()
    # Richer data beside them.
    status_name = ma.fields.String()
    error = ma.fields.String(allow_none=True)
    last_update = UtcDateTime()
    completed_at = UtcDateTime(allow_none=True)
    original_filename = ma.fields.String()
    content_type = ma.fields.String()
    size_bytes = ma.fields.Integer()
    page_count = ma.fields.Integer(allow_none=True)
    fields = ma.fields.Dict(keys=ma.fields.String(), values=ma.fields.Nested(FieldValueSchema))
    line_items = ma.fields.List(ma.fields.Nested(LineItemSchema))
    pages = ma.fields.List(ma.fields.Nested(PageSchema))
    evaluation = ma.fields.Dict(allow_none=True, metadata={
        "description": "The evaluation's outcome: approved, quality_score, reasons (why not approved), checks"})
    llm_usage = ma.fields.Dict(allow_none=True)
    history = ma.fields.List(ma.fields.Nested(HistorySchema))
    einvoice = ma.fields.Dict(allow_none=True, metadata={
        "description": "For an e-invoice (XML upload or hybrid PDF): source, syntax, profile, claims, seller and "
                       "buyer with identifiers, vat_breakdown, payment, validation (findings with rule ids and "
                       "category format | business_rule | content) and cross_check (XML vs picture); else null"})
    # The review workflow (docs/API_CONTRACT.md, "Review").
    version = ma.fields.Integer(metadata={"description": "The document's version; also its ETag"})
    duplicate_of = ma.fields.UUID(allow_none=True, metadata={
        "description": "Earlier document with the same vendor, number, date and total (a possible duplicate)"})
    line_items_locked = ma.fields.Boolean()
    # Ingestion (docs/API_CONTRACT.md, "Batches").
    source = ma.fields.String(metadata={"description": "How the document came in: upload | batch | mail | folder"})
    source_detail = ma.fields.Dict(allow_none=True, metadata={
        "description": "Provenance: for a batch batch_id, position, archive, entry (path in the ZIP); else null"})
    claim = ma.fields.Dict(allow_none=True, metadata={"description": "The live claim: user_id, email, claimed_at, expires_at"})
    decision = ma.fields.Dict(allow_none=True, metadata={
        "description": "decision (approved | rejected), by ({user_id, email}, null when automatic), at, reason"})
    vendor = ma.fields.Dict(allow_none=True, metadata={
        "description": "The vendor memory this document matched: id, name, confirmations, evidence, iban_changed"})

    _RENAMED = {"last_update": "updated_at", "page_count": "pages"}  # key -> Document attribute

    def get_attribute(self, view, attr, default):
        doc, detail = view.detail.document, view.detail
        if attr in CONTRACT_FLAT_FIELDS:
            field = next((f for f in detail.fields if f.name == attr), None)
            return flat_value(attr, field.value) if field is not None else None
        if attr == "status_name":
            return _FROM_STATUS[attr](Status(doc.status))
        if attr == "fields":
            return {f.name: {**dataclasses.asdict(f), "provenance": provenance(f, view.einvoice)}
                    for f in detail.fields}
        if attr in ("line_items", "pages", "history"):
            return getattr(detail, attr)
        if attr == "einvoice":
            return einvoice_block(view.einvoice)
        if attr in view.review:  # claim, decision, vendor
            return view.review[attr]
        return getattr(doc, self._RENAMED.get(attr, attr), default)


class DocumentListQuerySchema(ma.Schema):
    status = ma.fields.String(validate=ma.validate.OneOf([s.value for s in Status]))
    limit = ma.fields.Integer(load_default=50, validate=ma.validate.Range(min=1, max=200))
    cursor = ma.fields.String(metadata={"description": "`next_cursor` of the previous page"})
    offset = ma.fields.Integer(validate=ma.validate.Range(min=0))
    q = ma.fields.String(validate=ma.validate.Length(min=1, max=200), metadata={
        "description": "Search: part of the vendor name, the invoice number or the file name (any case)"})
    created_from = ma.fields.Date(metadata={"description": "Uploaded on or after this day (UTC), YYYY-MM-DD"})
    created_to = ma.fields.Date(metadata={"description": "Uploaded on or before this day (UTC), YYYY-MM-DD"})

    @ma.validates_schema
    def one_way_to_page(self, data, **kwargs):
        if data.get("cursor") and data.get("offset"):
            raise ma.ValidationError("use either cursor or offset, not both", "cursor")
        if data.get("created_from") and data.get("created_to") and data["created_from"] > data["created_to"]:
            raise ma.ValidationError("must not be after created_to", "created_from")


class DocumentRowSchema(RecordSchema):
    """What every list of documents shows of one (the document list, the review queue): its
    identity, status and a few extracted values, read by name from the record's `fields`."""

    id = ma.fields.UUID()
    status = ma.fields.String()
    status_name = ma.fields.String()
    error = ma.fields.String(allow_none=True)
    original_filename = ma.fields.String()
    quality_score = ma.fields.Float(allow_none=True)
    invoice_number = ma.fields.String(allow_none=True)
    invoice_date = ma.fields.String(allow_none=True)
    vendor_name = ma.fields.String(allow_none=True)
    currency = ma.fields.String(allow_none=True)
    total = ma.fields.Float(allow_none=True)
    created_at = UtcDateTime()
    last_update = UtcDateTime(attribute="updated_at")

    FLAT: tuple[str, ...] = ("invoice_number", "invoice_date", "vendor_name", "currency", "total")

    def get_attribute(self, obj, attr, default):
        if attr in self.FLAT:
            return flat_value(attr, obj.fields.get(attr))
        return super().get_attribute(obj, attr, default)


class DocumentSummarySchema(DocumentRowSchema):
    """A `DocumentSummary` as one row of the list."""

    content_type = ma.fields.String()
    size_bytes = ma.fields.Integer()
    page_count = ma.fields.Integer(allow_none=True, attribute="pages")


class DocumentListSchema(ma.Schema):
    documents = ma.fields.List(ma.fields.Nested(DocumentSummarySchema))
    total = ma.fields.Integer(metadata={"description": "Documents matching the filter"})
    limit = ma.fields.Integer()
    offset = ma.fields.Integer(allow_none=True)
    next_cursor = ma.fields.String(allow_none=True, metadata={"description": "Pass as `cursor` for the next page"})


class ErrorBodySchema(ma.Schema):
    """What every error answer carries; the schemas below add their own keys."""

    code = ma.fields.Integer()
    status = ma.fields.String()
    message = ma.fields.String()


class DuplicateErrorSchema(ErrorBodySchema):
    document_id = ma.fields.UUID()


# -- health ---------------------------------------------------------------------------------


class DependencySchema(ma.Schema):
    ok = ma.fields.Boolean()
    latency_ms = ma.fields.Float(allow_none=True)
    error = ma.fields.String()


class HealthSchema(ma.Schema):
    status = ma.fields.String(metadata={"enum": ["ok", "degraded"]})
    dependencies = ma.fields.Dict(keys=ma.fields.String(), values=ma.fields.Nested(DependencySchema))
    stuck_documents = ma.fields.Dict()
    mailboxes = ma.fields.Dict(metadata={"description": "enabled, failing (polls failing longer than "
                                                        "MAIL_FAILING_AFTER_S: status degraded), oldest_last_success_at, "
                                                        "by_mailbox (up to 50, the most urgent first: id, "
                                                        "last_success_at, last_poll_at, failing)"})


# -- page images, OCR, original file ---------------------------------------------------------


class OcrWordSchema(ma.Schema):
    text = ma.fields.String()
    bbox = BBox
    confidence = ma.fields.Float()


class OcrLineSchema(ma.Schema):
    text = ma.fields.String()
    bbox = BBox
    confidence = ma.fields.Float()
    words = ma.fields.List(ma.fields.Nested(OcrWordSchema))


class OcrPageSchema(ma.Schema):
    page_no = ma.fields.Integer()
    width = ma.fields.Integer(metadata={"description": "Rendered page width in pixels"})
    height = ma.fields.Integer(metadata={"description": "Rendered page height in pixels"})
    engine = ma.fields.String(allow_none=True, metadata={"description": "OCR engine, or pdf-text for a text layer"})
    confidence = ma.fields.Float(allow_none=True)
    lines = ma.fields.List(ma.fields.Nested(OcrLineSchema), metadata={
        "description": "Empty until the OCR stage has run"})


class OcrSchema(ma.Schema):
    document_id = ma.fields.UUID()
    pages = ma.fields.List(ma.fields.Nested(OcrPageSchema))
