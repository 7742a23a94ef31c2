"""Checks on an uploaded file, before anything is written: pure functions, no I/O.

The type is judged by content with the pipeline's own sniffer (`invoice.scanner.processing.sniff`,
the one the workers use), never by the name or the request's header. XML is accepted only as an
e-invoice, parsed safely (no DTD, bounded size and depth) before anything is stored.
Limits protect the workers: page count, and pixel count read from the image header so a
decompression bomb is refused before it is decoded.
"""
from __future__ import annotations

import hashlib
import io
import logging
import threading
import unicodedata
import warnings
from dataclasses import dataclass

import pypdfium2 as pdfium
from PIL import Image, UnidentifiedImageError

from invoice.scanner.processing import sniff as sniffer

from invoice.scanner.api.errors import EmptyFile, FileTooLarge, UnreadableDocument, UnsupportedFileType

logger = logging.getLogger(__name__)

ALLOWED_TYPES = dict(sniffer.NAMES)
MAX_FILENAME_CHARS = 255

# PDFium is not thread-safe; the API runs threaded under gunicorn.
_pdfium_lock = threading.Lock()
# pdfium's FPDF_ERR_PASSWORD: the file needs a password to open.
_FPDF_ERR_PASSWORD = 4


@dataclass(frozen=True)
class InspectedUpload:
    content_type: str
    pages: int
    sha256: str
    size_bytes: int


def sanitize_filename(name: str | None) -> str:
    """The client's file name, safe to keep as metadata: no folders, no control characters.

    It is never used to build a path (stored names are generated).
    """
    name = (name or "").replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(ch for ch in name if unicodedata.category(ch)[0] != "C")
    name = unicodedata.normalize("NFC", name).strip().strip(".")
    return name[:MAX_FILENAME_CHARS] or "upload"


def detect_type(data: bytes) -> str:
    mime = sniffer.sniff(data[:sniffer.HEAD_BYTES])
    if mime not in ALLOWED_TYPES:
        found = sniffer.describe(data[:sniffer.HEAD_BYTES]) or "an unrecognized format"
        raise UnsupportedFileType(
            f"Unsupported file type: the content is {found}; upload a PDF, PNG, JPEG or TIFF file "
            "or an XML e-invoice (UBL, CII, ZUGFeRD)",
            "unsupported_type",
        )
    return mime


def check_xml(data: bytes, max_bytes: int) -> sniffer.XmlInfo:
    """A bare XML upload must be a safe e-invoice: no DTD or entities (a billion-laughs file
    is refused unexpanded), bounded size and depth, a UBL/CII/ZUGFeRD root."""
    try:
        return sniffer.inspect_xml(data, max_bytes=max_bytes)
    except sniffer.NotAnEInvoice as exc:
        raise UnsupportedFileType(exc.message, exc.reason) from exc
    except sniffer.XmlRejected as exc:
        raise UnreadableDocument(exc.message, exc.reason) from exc


def count_pdf_pages(data: bytes) -> int:
    with _pdfium_lock:
        try:
            pdf = pdfium.PdfDocument(data)
        except pdfium.PdfiumError as exc:
            if getattr(exc, "err_code", None) == _FPDF_ERR_PASSWORD:
                raise UnreadableDocument("The PDF is encrypted with a password; upload an unprotected copy",
                                         "encrypted_pdf") from exc
            raise UnreadableDocument(f"The PDF cannot be opened: {exc}", "corrupt_pdf") from exc
        try:
            return len(pdf)
        finally:
            pdf.close()


def count_image_pages(data: bytes, max_pixels: int, max_pages: int) -> int:
    """Frames in the image (TIFFs may hold several), each checked against `max_pixels`.

    Only headers are read: `Image.open` is lazy, so a bomb is measured without being decoded.
    """
    try:
        with warnings.catch_warnings():
            # Our own limit is the one that decides; Pillow's global one only warns here.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as img:
                frames = getattr(img, "n_frames", 1)
                if frames > max_pages:
                    raise UnreadableDocument(f"The image has {frames} pages; at most {max_pages} are accepted",
                                             "too_many_pages")
                for frame in range(frames):
                    img.seek(frame)
                    width, height = img.size
                    if width <= 0 or height <= 0:
                        raise UnreadableDocument("The image has no pixels", "corrupt_image")
                    if width * height > max_pixels:
                        raise UnreadableDocument(
                            f"The image is {width}x{height} pixels; at most {max_pixels:,} pixels per page are "
                            f"accepted", "too_many_pixels")
            with Image.open(io.BytesIO(data)) as img:
                img.verify()  # structure and checksums, without decoding pixels
    except UnreadableDocument:
        raise
    except Image.DecompressionBombError as exc:
        raise UnreadableDocument(f"The image is too large to process: {exc}", "too_many_pixels") from exc
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError) as exc:
        raise UnreadableDocument(f"The image cannot be read: {exc}", "corrupt_image") from exc
    return frames


def inspect_upload(data: bytes, max_bytes: int, max_pages: int, max_pixels: int) -> InspectedUpload:
    """Everything we check before storing a file; raises an `UploadRejected` subclass."""
    if not data:
        raise EmptyFile("The uploaded file is empty", "empty")
    if len(data) > max_bytes:
        raise FileTooLarge(f"The file is {len(data):,} bytes; the limit is {max_bytes:,} bytes", "too_large")
    content_type = detect_type(data)
    if content_type == "application/pdf":
        pages = count_pdf_pages(data)
        if pages > max_pages:
            raise UnreadableDocument(f"The PDF has {pages} pages; at most {max_pages} are accepted", "too_many_pages")
        if pages == 0:
            raise UnreadableDocument("The PDF has no pages", "corrupt_pdf")
    elif content_type == sniffer.XML:
        check_xml(data, max_bytes)
        pages = 0  # an XML e-invoice has no pages to render
    else:
        pages = count_image_pages(data, max_pixels, max_pages)
    return InspectedUpload(content_type, pages, hashlib.sha256(data).hexdigest(), len(data))
