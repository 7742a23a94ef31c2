"""Unit-test fixtures (no services). Documents are generated in the tests themselves."""
from __future__ import annotations

import io
from typing import Callable

import pytest

# Text drawn on every generated invoice page: (x, y from the top, in points), text.
INVOICE_LINES: list[tuple[float, float, str]] = [
    (50, 60, "ACME Supplies GmbH"),
    (50, 82, "Hauptstrasse 12, 10115 Berlin"),
    (340, 60, "Invoice No. INV-20417"),
    (340, 82, "Date: 14.03.2024"),
    (50, 140, "Bill to: Example Customer Ltd"),
    (50, 200, "Description"),
    (330, 200, "Qty"),
    (450, 200, "Amount"),
    (50, 225, "Steel bolts M8 galvanized"),
    (330, 225, "12"),
    (450, 225, "96.00 EUR"),
    (50, 250, "Consulting services March"),
    (330, 250, "3"),
    (450, 250, "1,350.00 EUR"),
    (50, 275, "Cable adapter USB-C"),
    (330, 275, "5"),
    (450, 275, "64.50 EUR"),
    (330, 320, "Total: 1,510.50 EUR"),
    (50, 760, "IBAN DE89 3704 0044 0532 0130 00"),
    (50, 780, "Payment due within 30 days"),
]
FONT_SIZE = 13


def _draw_invoice(c, width: float, height: float) -> None:
    for x, top, text in INVOICE_LINES:
        c.setFont("Helvetica-Bold" if text.startswith(("ACME", "Total")) else "Helvetica", FONT_SIZE)
        c.drawString(x, height - top, text)


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
                _draw_invoice(c, width, height)
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


def invoice_image_of(dpi: int = 110):
    """An upright invoice page as an RGB PIL image (a clean 'scan')."""
    import pypdfium2 as pdfium
    from reportlab.lib.pagesizes import A4
    from reportlab.pdfgen import canvas

    buf = io.BytesIO()
    c = canvas.Canvas(buf, pagesize=A4)
    _draw_invoice(c, *A4)
    c.showPage()
    c.save()
    doc = pdfium.PdfDocument(buf.getvalue())
    try:
        return doc[0].render(scale=dpi / 72).to_pil().convert("RGB")
    finally:
        doc.close()


@pytest.fixture(scope="session")
def invoice_image():
    """`invoice_image(dpi=110)` -> upright RGB PIL image of the invoice page."""
    return invoice_image_of


@pytest.fixture(scope="session")
def ocr_settings():
    """Settings with the default OCR model set, its engine loaded once for the session."""
    from invoice.scanner.processing.config import Settings
    from invoice.scanner.processing.vision.engines import get_engine

    settings = Settings()
    get_engine(settings)
    return settings
