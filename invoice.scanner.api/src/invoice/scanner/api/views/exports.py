"""Exports: a company's approved documents and their line items for a period, streamed as
CSV, JSON Lines, Parquet or UBL 2.1 (a ZIP of invoices)."""
from __future__ import annotations

import itertools
import logging
from datetime import date, timedelta

import marshmallow as ma
from flask import Response, current_app
from flask.views import MethodView
from flask_smorest import Blueprint

from invoice.scanner.api.auth import require_permission
from invoice.scanner.api.exports.repository import DATE_FIELDS, ExportRepository
from invoice.scanner.api.exports.writers import FORMATS

logger = logging.getLogger(__name__)

blp = Blueprint("exports", __name__, url_prefix="/exports",
                description="Approved documents and their line items, streamed in four formats")

BATCH_SIZE = 500


class ExportQuerySchema(ma.Schema):
    format = ma.fields.String(required=True, validate=ma.validate.OneOf(sorted(FORMATS)), metadata={
        "description": "csv (one row per line item), jsonl (one document per line), parquet (one row per "
                       "document, line items nested), ubl (a ZIP of UBL 2.1 invoices, one per document)"})
    from_ = ma.fields.Date(required=True, data_key="from", metadata={"description": "First day, YYYY-MM-DD (UTC)"})
    to = ma.fields.Date(required=True, metadata={"description": "Last day, YYYY-MM-DD (UTC), included"})
    by = ma.fields.String(load_default="approved", validate=ma.validate.OneOf(DATE_FIELDS), metadata={
        "description": "what the period applies to: the approval (default) or the invoice's own date"})

    @ma.validates_schema
    def _period(self, data, **kwargs):
        if data["from_"] > data["to"]:
            raise ma.ValidationError("'from' is after 'to'", field_name="from")
        if (data["to"] - data["from_"]).days > 3660:
            raise ma.ValidationError("the period is longer than ten years", field_name="to")
        if data["to"] >= date.max:
            raise ma.ValidationError("'to' must be before 9999-12-31", field_name="to")


def _repository() -> ExportRepository:
    state = current_app.extensions["invoice_scanner"]
    repo = current_app.extensions.get("invoice_scanner_exports")
    if repo is None:
        repo = current_app.extensions["invoice_scanner_exports"] = ExportRepository(
            state.config.database_url, state.config.db_pool_size)
    return repo


_BINARY = {"schema": {"type": "string", "format": "binary"}}


@blp.route("")
class Export(MethodView):
    @blp.arguments(ExportQuerySchema, location="query")
    @blp.doc(responses={"200": {"description": "The export, streamed (Content-Disposition: attachment)",
                                "content": {f.media_type.split(";")[0]: _BINARY for f in FORMATS.values()}}})
    @blp.alt_response(403, description="The caller lacks the 'export' permission")
    def get(self, query):
        """Approved documents of a period, with their line items"""
        principal = require_permission("export")
        fmt = FORMATS[query["format"]]
        start, end = query["from_"], query["to"] + timedelta(days=1)
        batches = _repository().approved_batches(principal.company_id, start, end, date_field=query["by"],
                                                 batch_size=BATCH_SIZE)
        # The first batch is read before the answer starts: a database that is down is a 503,
        # not a cut-off download.
        first = next(batches, None)
        source = itertools.chain([first], batches) if first is not None else iter(())

        def stream():
            try:
                yield from fmt.write(source)
            except Exception:
                logger.exception("export (%s, %s..%s) failed after it started; the download is cut short",
                                 fmt.name, query["from_"], query["to"])
                raise

        filename = f"invoices-{query['from_'].isoformat()}-{query['to'].isoformat()}.{fmt.extension}"
        return Response(stream(), mimetype=fmt.media_type.split(";")[0], content_type=fmt.media_type,
                        headers={"Content-Disposition": f'attachment; filename="{filename}"',
                                 "Cache-Control": "no-store"})
