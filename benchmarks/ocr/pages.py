"""Generated invoice pages with their ground-truth text, for OCR benchmarks."""
from __future__ import annotations

import io
import random
from dataclasses import dataclass

import numpy as np
import pypdfium2 as pdfium
from PIL import Image, ImageFilter
from reportlab.lib.pagesizes import A4
from reportlab.pdfgen import canvas

FONTS = ["Helvetica", "Times-Roman", "Courier"]
WORDS = ("steel bolt washer cable adapter service hours consulting licence support bracket "
         "panel filter valve pump sensor module cover frame screw nut hinge").split()
# Words with accents, as French, German, Spanish and Dutch invoices print them: whether a
# model keeps the diacritics decides whether names like these can be approved as read.
ACCENTED = ("Ingénierie création réseau hébergement Gebühr Stück Größe Zubehör logística "
            "consultoría tóner diseño café één coördinatie").split()
VENDORS = ["ACME Supplies GmbH", "Nordlicht Trading AG", "Blue River Components Ltd",
           "Hansen & Soehne KG", "Atlas Office Services BV", "Müller & Söhne GmbH",
           "Martínez y Asociados S.A.", "Chêne Bleu Ingénierie S.à r.l.", "Señorío Logística S.L.",
           "Société Générale d'Électricité SA"]


@dataclass
class GroundTruth:
    lines: list[tuple[float, float, str]]  # (x, y from top in points, text)

    @property
    def text(self) -> str:
        # Reading order: rows top to bottom (lines within 4 pt share a row), left to right.
        rows: list[list[tuple[float, float, str]]] = []
        for line in sorted(self.lines, key=lambda ln: (ln[1], ln[0])):
            if rows and abs(rows[-1][0][1] - line[1]) < 4:
                rows[-1].append(line)
            else:
                rows.append([line])
        return "\n".join(ln[2] for row in rows for ln in sorted(row))


def invoice_pdf(seed: int) -> tuple[bytes, GroundTruth]:
    rnd = random.Random(seed)
    buf = io.BytesIO()
    c = canvas.Canvas(buf, pagesize=A4)
    width, height = A4
    font = rnd.choice(FONTS)
    size = rnd.choice([9, 10, 11])
    gt: list[tuple[float, float, str]] = []

    def put(x: float, top: float, text: str, sz: float = size, bold: bool = False) -> None:
        name = font + ("-Bold" if bold and font != "Times-Roman" else "") if font != "Times-Roman" else (
            "Times-Bold" if bold else font)
        c.setFont(name, sz)
        c.drawString(x, height - top, text)
        gt.append((x, top, text))

    put(50, 60, rnd.choice(VENDORS), 16, bold=True)
    put(50, 80, f"Hauptstrasse {rnd.randint(1, 200)}, {rnd.randint(10000, 99999)} Berlin")
    put(370, 60, f"Invoice No. INV-{rnd.randint(1000, 99999)}", size + 2)
    put(370, 78, f"Date: {rnd.randint(1, 28):02d}.{rnd.randint(1, 12):02d}.2024")
    put(50, 130, "Bill to: Example Customer Ltd")
    put(50, 145, f"VAT ID: DE{rnd.randint(100000000, 999999999)}")
    top = 200
    put(50, top, "Description")
    put(300, top, "Qty")
    put(360, top, "Unit price")
    put(460, top, "Amount")
    total = 0.0
    for _ in range(rnd.randint(5, 15)):
        top += size + 8
        qty = rnd.randint(1, 40)
        price = rnd.randint(50, 99999) / 100
        amount = qty * price
        total += amount
        desc = rnd.choice(ACCENTED) if rnd.random() < 0.5 else rnd.choice(WORDS).capitalize()
        put(50, top, f"{desc} {rnd.choice(WORDS)} {rnd.choice('ABCDEFGH')}{rnd.randint(10, 999)}")
        put(300, top, str(qty))
        put(360, top, f"{price:,.2f} EUR")
        put(460, top, f"{amount:,.2f} EUR")
    top += 30
    put(360, top, f"Total: {total:,.2f} EUR", size + 1, bold=True)
    put(50, 780, "IBAN DE89 3704 0044 0532 0130 00")
    put(50, 795, "Payment due within 30 days without deduction.")
    c.showPage()
    c.save()
    return buf.getvalue(), GroundTruth(gt)


def render_page(pdf: bytes, dpi: int = 200, scanned: bool = False, seed: int = 0) -> np.ndarray:
    """RGB page; `scanned` adds grey paper, blur and sensor noise like a cheap office scanner."""
    doc = pdfium.PdfDocument(pdf)
    try:
        image = doc[0].render(scale=dpi / 72).to_pil().convert("RGB")
    finally:
        doc.close()
    if not scanned:
        return np.asarray(image)
    rng = np.random.default_rng(seed)
    image = image.filter(ImageFilter.GaussianBlur(0.6))
    arr = np.asarray(image).astype(np.float32) * 0.85 + 20  # grey paper, lifted blacks
    arr += rng.normal(0, 6, arr.shape)
    return np.clip(arr, 0, 255).astype(np.uint8)


def page_image(pdf: bytes, **kwargs) -> Image.Image:
    return Image.fromarray(render_page(pdf, **kwargs))
