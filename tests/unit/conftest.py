"""Unit-test fixtures (no services). Documents are generated in the tests themselves."""
from __future__ import annotations

import io
from typing import Callable

import pytest

from invoicepage import draw_invoice, invoice_image_of


@pytest.fixture(scope="session")
def invoice_pdf() -> Callable[..., bytes]:
    """`invoice_pdf(pages=1, encrypt=None, scanned=False, rotate=0)` -> PDF bytes.

    `scanned=True` puts a picture of the page in the PDF and no text (a scanner's output);
    `rotate` sets the page's /Rotate entry (viewers and renderers turn it)."""
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.utils import ImageReader
    from reportlab.pdfgen import canvas

    def make(pages: int = 1, encrypt: str | None = None, scanned: bool = False, rotate: int = 0,
             stamp: str | None = None) -> bytes:
        buf = io.BytesIO()
        c = canvas.Canvas(buf, pagesize=A4, encrypt=encrypt)
        width, height = A4
        for _ in range(pages):
            if scanned:
                picture = invoice_image_of(dpi=100)
                c.drawImage(ImageReader(picture), 0, 0, width, height)
                if stamp:  # a scanner's footer: real text, but the page is still a picture
                    c.setFont("Helvetica", 8)
                    c.drawString(20, 10, stamp)
            else:
                draw_invoice(c, width, height)
            c.showPage()
        c.save()
        if not rotate:
            return buf.getvalue()
        import pypdfium2 as pdfium

        doc = pdfium.PdfDocument(buf.getvalue())
        try:
            for page in doc:
                page.set_rotation(rotate)
            out = io.BytesIO()
            doc.save(out)
            return out.getvalue()
        finally:
            doc.close()

    return make


@pytest.fixture(scope="session")
def invoice_image():
    """`invoice_image(dpi=110)` -> upright RGB PIL image of the invoice page."""
    return invoice_image_of


@pytest.fixture(scope="session")
def ocr_settings():
    """Settings with the default OCR model set, its engine loaded once for the session.

    One ONNX Runtime thread (OCR_THREADS=1, as a worker given one core): with one per core its
    threads spin while they wait for each other, and the suite runs three pytest workers on two
    cores. test_preprocessing.py with test_ocr.py took 34.0-34.8 s user with two threads, 21.2-22.1 s
    with one, the same wall time (76-78 s; load 11-17), every exact-pixel assertion passing."""
    from invoice.scanner.processing.config import Settings
    from invoice.scanner.processing.vision.engines import get_engine

    settings = Settings().with_overrides(ocr_threads=1)
    get_engine(settings)
    return settings
