"""The unit tests' invoice page: the text lines drawn on it, where, and at what size, and the
page as a picture (a clean scan). The `invoice_pdf` and `invoice_image` fixtures
(tests/unit/conftest.py) draw it; tests compare what OCR and preprocessing find with
`INVOICE_LINES` and `FONT_SIZE` from here (a module of its own: importing `conftest` by name
gets whichever conftest was imported first)."""
from __future__ import annotations

import io

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


def draw_invoice(c, width: float, height: float) -> None:
    for x, top, text in INVOICE_LINES:
        c.setFont("Helvetica-Bold" if text.startswith(("ACME", "Total")) else "Helvetica", FONT_SIZE)
        c.drawString(x, height - top, text)


def invoice_image_of(dpi: int = 110):
    """An upright invoice page as an RGB PIL image (a clean 'scan')."""
    import pypdfium2 as pdfium
    from reportlab.lib.pagesizes import A4
    from reportlab.pdfgen import canvas

    buf = io.BytesIO()
    c = canvas.Canvas(buf, pagesize=A4)
    draw_invoice(c, *A4)
    c.showPage()
    c.save()
    doc = pdfium.PdfDocument(buf.getvalue())
    try:
        return doc[0].render(scale=dpi / 72).to_pil().convert("RGB")
    finally:
        doc.close()
