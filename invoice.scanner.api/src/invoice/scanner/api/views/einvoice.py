"""E-invoices: the XML of a document exactly as it was received (a bare XML upload, or the
factur-x.xml / xrechnung.xml inside a hybrid PDF), company-scoped like every document read."""
from __future__ import annotations

from flask import Response, current_app, request
from flask.views import MethodView
from flask_smorest import Blueprint, abort

from invoice.scanner.api.auth import require_permission
from invoice.scanner.api.errors import DocumentNotFound
from invoice.scanner.api.uploads import sanitize_filename

blp = Blueprint("document_einvoice", __name__, url_prefix="/documents",
                description="Invoices: the e-invoice XML as received")


@blp.route("/<document_id>/xml")
class DocumentXml(MethodView):
    @blp.response(200, description="The XML, byte for byte as received (application/xml)")
    @blp.alt_response(404, description="No such document in your company, or the document carries no e-invoice")
    def get(self, document_id):
        """The e-invoice XML of the document, unchanged (a bare XML upload or a hybrid PDF's attachment)."""
        company_id = require_permission("documents:read").company_id
        try:
            xml, sha256, name = current_app.extensions["invoice_scanner"].repo.get_einvoice_xml(company_id,
                                                                                                 document_id)
        except DocumentNotFound:
            abort(404, message="Document not found, or it carries no e-invoice XML")
        etag = f'"{sha256}"'
        if request.headers.get("If-None-Match") == etag:
            return Response(status=304, headers={"ETag": etag})
        filename = sanitize_filename(name)
        if not filename.lower().endswith(".xml"):
            filename += ".xml"
        response = Response(xml, mimetype="application/xml")
        response.headers["ETag"] = etag
        response.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.cache_control.private = True
        response.vary.add("Authorization")
        return response
