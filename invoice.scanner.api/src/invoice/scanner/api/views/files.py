"""What a person looks at: the rendered page images, the OCR words on them, the original file.

Files are streamed by the API from the documents volume (never by their path), after the
same company check as every document read: another company's document is a 404.
"""
from __future__ import annotations

import hashlib
import io
import logging
from typing import Any

from flask import current_app, send_file
from flask.views import MethodView
from flask_smorest import Blueprint, abort

from invoice.scanner.processing.storage import ObjectMissing
from invoice.scanner.processing.vision.page_image import lazy_page, read_page_png

from invoice.scanner.api.auth import current_principal
from invoice.scanner.api.errors import DocumentNotFound
from invoice.scanner.api.repository import OcrPageRow, StoredFile
from invoice.scanner.api.schemas import OcrSchema
from invoice.scanner.api.uploads import sanitize_filename

logger = logging.getLogger(__name__)

blp = Blueprint("document_files", __name__, url_prefix="/documents",
                description="Invoices: page images, OCR words, the original file")

NOT_FOUND = "Document not found"
# Private: the bytes are one company's. A re-run re-renders the pages; the ETag (mtime, size) tells.
PAGE_MAX_AGE_S = 3600


def _repo():
    return current_app.extensions["invoice_scanner"].repo


def _send(stored: StoredFile, **kwargs):
    """`send_file` from whichever storage holds the file (storage.py): the local volume's
    path, or a bucket's object streamed through (never loaded whole)."""
    storage = current_app.extensions["invoice_scanner"].storage
    try:
        if lazy_page(stored.path) is not None:
            # A born-digital page is rendered from the original on request (page_image.py).
            data = read_page_png(stored.path, storage)
            etag = hashlib.sha256(f"{stored.path}:{stored.modified_at.isoformat()}".encode()).hexdigest()[:32]
            return send_file(io.BytesIO(data), etag=etag, last_modified=stored.modified_at, **kwargs)
        if storage.kind == "local":
            with storage.open(stored.path):  # exists and is a readable file
                pass
            return send_file(storage.path_of(stored.path), etag=True, **kwargs)
        size = storage.size(stored.path)
        reader = storage.reader(stored.path)
    except ObjectMissing:
        # The row exists but the file is gone (volume lost, page not rendered yet): nothing to show.
        logger.warning("document file missing in storage: %s", stored.path)
        abort(404, message="The file is not available")
    etag = hashlib.sha256(f"{stored.path}:{size}:{stored.modified_at.isoformat()}".encode()).hexdigest()[:32]
    return send_file(reader, etag=etag, last_modified=stored.modified_at, **kwargs)


def _private(response, max_age: int):
    response.cache_control.private = True
    response.cache_control.public = False
    response.cache_control.max_age = max_age
    response.vary.add("Authorization")
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


def _clamp(v: float) -> float:
    return round(min(1.0, max(0.0, v)), 5)


def normalize_box(bbox: Any, width: int, height: int) -> list[float] | None:
    """Pixels of the rendered page -> fractions of its width and height, like field boxes."""
    if not bbox or len(bbox) != 4 or not width or not height:
        return None
    x0, y0, x1, y1 = (float(v) for v in bbox)
    return [_clamp(x0 / width), _clamp(y0 / height), _clamp(x1 / width), _clamp(y1 / height)]


def ocr_page_body(page: OcrPageRow) -> dict[str, Any]:
    w, h = page.width, page.height
    lines = [
        {"text": line.get("text", ""), "bbox": normalize_box(line.get("bbox"), w, h),
         "confidence": line.get("confidence"),
         "words": [{"text": word.get("text", ""), "bbox": normalize_box(word.get("bbox"), w, h),
                    "confidence": word.get("confidence")} for word in line.get("words") or []]}
        for line in page.lines or []
    ]
    return {"page_no": page.page_no, "width": w, "height": h, "engine": page.engine, "confidence": page.confidence,
            "lines": lines}


@blp.route("/<document_id>/pages/<int:page_no>/image")
class PageImage(MethodView):
    @blp.response(200, content_type="image/png", description="The rendered page (PNG)")
    @blp.alt_response(304, description="Not modified since the ETag sent in If-None-Match")
    @blp.alt_response(404, description="No such document in your company, or no such page")
    def get(self, document_id, page_no):
        """The rendered, upright page image the boxes are measured on."""
        try:
            stored = _repo().get_page_image(current_principal().company_id, document_id, page_no)
        except DocumentNotFound:
            abort(404, message="Page not found")
        response = _send(stored, mimetype=stored.content_type, conditional=True, max_age=PAGE_MAX_AGE_S)
        return _private(response, PAGE_MAX_AGE_S)


@blp.route("/<document_id>/ocr")
class DocumentOcr(MethodView):
    @blp.response(200, OcrSchema)
    @blp.alt_response(404, description="No such document in your company")
    def get(self, document_id):
        """Every page's OCR lines and words, boxes as fractions of the page like field boxes."""
        try:
            pages = _repo().get_ocr_pages(current_principal().company_id, document_id)
        except DocumentNotFound:
            abort(404, message=NOT_FOUND)
        return {"document_id": document_id, "pages": [ocr_page_body(p) for p in pages]}


@blp.route("/<document_id>/file")
class OriginalFile(MethodView):
    @blp.response(200, content_type="application/octet-stream",
                  description="The uploaded bytes, unchanged, as an attachment named as uploaded")
    @blp.alt_response(404, description="No such document in your company")
    def get(self, document_id):
        """The original upload, byte for byte (downloaded, never rendered inline)."""
        try:
            stored = _repo().get_original_file(current_principal().company_id, document_id)
        except DocumentNotFound:
            abort(404, message=NOT_FOUND)
        # werkzeug writes an ASCII `filename=` and an RFC 5987 `filename*=`, quoting what needs it;
        # control characters (a header split) go, whatever the row holds.
        response = _send(stored, mimetype=stored.content_type, as_attachment=True,
                         download_name=sanitize_filename(stored.filename), conditional=True, max_age=0)
        # Opened directly anyway, the file runs nothing: no scripts, no plugins, no same-origin.
        response.headers["Content-Security-Policy"] = "sandbox; default-src 'none'"
        return _private(response, 0)
