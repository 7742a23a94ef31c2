"""Drawing primitives and the shared parts of every layout: a page-breaking table,
totals blocks, party and bank blocks. Layout families (layouts.py) arrange them.

Coordinates in this module are PDF points measured from the page's top-left corner
(`y` grows downwards, text `y` is the baseline); `Pdf` converts to reportlab's
bottom-left origin."""
from __future__ import annotations

import io
import random
from dataclasses import dataclass
from decimal import Decimal

from reportlab.lib.colors import Color, black, white
from reportlab.lib.pagesizes import A4, letter
from reportlab.pdfbase.pdfmetrics import stringWidth
from reportlab.pdfgen import canvas

from .model import Invoice, Item

GREY = Color(0.45, 0.45, 0.45)
LIGHT = Color(0.92, 0.92, 0.92)

FONTS = {
    "helvetica": ("Helvetica", "Helvetica-Bold"),
    "times": ("Times-Roman", "Times-Bold"),
    "courier": ("Courier", "Courier-Bold"),
}


class Pdf:
    def __init__(self, page_size: str, font: str, title: str):
        self.buf = io.BytesIO()
        size = letter if page_size == "letter" else A4
        # invariant=1 drops timestamps and random ids so a seed always gives the same bytes.
        self.c = canvas.Canvas(self.buf, pagesize=size, invariant=1, pageCompression=1)
        self.c.setTitle(title)
        self.W, self.H = size
        self.regular, self.bold = FONTS[font]
        self.page = 1

    def width(self, s: str, size: float, bold: bool = False) -> float:
        return stringWidth(s, self.bold if bold else self.regular, size)

    def text(self, x: float, y: float, s: str, size: float = 9, bold: bool = False, align: str = "left",
             color: Color = black) -> float:
        """Draw `s` with its baseline at `y`; returns the text's width."""
        c = self.c
        c.setFillColor(color)
        c.setFont(self.bold if bold else self.regular, size)
        w = self.width(s, size, bold)
        if align == "right":
            x -= w
        elif align == "center":
            x -= w / 2
        c.drawString(x, self.H - y, s)
        c.setFillColor(black)
        return w

    def line(self, x0: float, y0: float, x1: float, y1: float, width: float = 0.5, color: Color = black) -> None:
        self.c.setStrokeColor(color)
        self.c.setLineWidth(width)
        self.c.line(x0, self.H - y0, x1, self.H - y1)
        self.c.setStrokeColor(black)

    def rect(self, x: float, y: float, w: float, h: float, fill: Color | None = None, stroke: bool = True,
             width: float = 0.5) -> None:
        """Rectangle with top-left corner (x, y)."""
        c = self.c
        c.setLineWidth(width)
        if fill is not None:
            c.setFillColor(fill)
        c.rect(x, self.H - y - h, w, h, stroke=1 if stroke else 0, fill=1 if fill is not None else 0)
        c.setFillColor(black)

    def show_page(self) -> None:
        self.c.showPage()
        self.page += 1

    def finish(self) -> bytes:
        self.c.save()
        return self.buf.getvalue()


@dataclass
class Column:
    key: str  # pos | code | desc | qty | unit | unit_price | tax | amount
    header: str
    align: str
    width: float = 0.0


class LayoutBase:
    """One layout family. Subclasses draw the first-page header (`first_page`) and may
    change the continuation header, footer, table style, totals style and closing block.

    A layout draws an invoice twice: once to count pages, once with the count known so
    "Page 1 of 3" is right."""
    name = "base"
    font_choices: tuple[str, ...] = ("helvetica",)
    column_orders: tuple[tuple[str, ...], ...] = (("desc", "qty", "unit_price", "amount"),)
    table_style = "rule"  # grid | rule | shaded | zebra | plain | mono
    totals_style = "right"  # right | right_box | left | band | mono
    margin = 50.0
    size = 9.0

    def __init__(self, inv: Invoice, rng: random.Random):
        self.inv = inv
        self.rng = rng
        self.font = rng.choice(self.font_choices)
        order = list(rng.choice(self.column_orders))
        if inv.show_tax_column and "tax" not in order:
            order.insert(order.index("amount"), "tax")
        if not inv.show_tax_column and "tax" in order:
            order.remove("tax")
        self.order = order
        self.cur_in_table = rng.random() < 0.3 and inv.money.placement != "none"
        self.carry = rng.random() < 0.5  # print carried/brought-forward subtotals between pages
        self.page_numbers = rng.random() < 0.7
        # With bare numbers in the table, some layouts name the currency in the amount header.
        self.currency_in_header = rng.random() < 0.35
        self.notes_pay_sentence = rng.random() < 0.35
        self.setup(rng)

    def setup(self, rng: random.Random) -> None:
        """Per-layout random options (drawn after the common ones)."""

    # --- geometry -----------------------------------------------------------------------
    @property
    def left(self) -> float:
        return self.margin

    @property
    def right(self) -> float:
        return self.pdf.W - self.margin

    @property
    def bottom_limit(self) -> float:
        return self.pdf.H - self.margin - self.footer_height()

    def footer_height(self) -> float:
        return 30.0

    # --- entry point --------------------------------------------------------------------
    def render(self, total_pages: int | None) -> tuple[bytes, int]:
        inv = self.inv
        self.total_pages = total_pages
        self.pdf = Pdf(inv.country.page_size, self.font, f"{inv.label('title')} {inv.invoice_number}")
        y = self.first_page(self.pdf)
        if inv.money.placement == "none" and not getattr(self, "currency_stated", False):
            y += 4
            self.pdf.text(self.left, y, inv.label("amounts_in", cur=inv.currency), size=self.size - 1)
            y += 10
        y = self.table(y + 6)
        y = self.totals(y + 10)
        y = self.closing(y + 14)
        self.footer()
        return self.pdf.finish(), self.pdf.page

    # --- page breaks --------------------------------------------------------------------
    def ensure(self, y: float, h: float) -> float:
        if y + h <= self.bottom_limit:
            return y
        self.break_page()
        return self.continuation()

    def break_page(self) -> None:
        self.footer()
        self.pdf.show_page()

    def continuation(self) -> float:
        """Header of pages 2..n; returns the y where content continues."""
        inv, pdf = self.inv, self.pdf
        y = self.margin + 10
        pdf.text(self.left, y, inv.vendor.name, size=self.size + 1, bold=True)
        pdf.text(self.right, y, f"{inv.label('title')} {inv.invoice_number}", size=self.size, align="right")
        y += 8
        pdf.line(self.left, y, self.right, y, 0.5, GREY)
        return y + 16

    def page_label(self) -> str:
        n = self.total_pages or self.pdf.page
        return self.inv.label("page", p=self.pdf.page, n=n)

    def footer(self) -> None:
        if self.page_numbers:
            self.pdf.text(self.right, self.pdf.H - self.margin + 14, self.page_label(), size=7, align="right",
                          color=GREY)

    # --- blocks -------------------------------------------------------------------------
    def vendor_block(self, x: float, y: float, align: str = "left", name_size: float = 14,
                     contacts: bool = True, vat: bool = True) -> float:
        inv, pdf = self.inv, self.pdf
        v = inv.vendor
        pdf.text(x, y, v.name, size=name_size, bold=True, align=align)
        y += name_size * 0.5 + 6
        for line in v.address_lines:
            y += self.size + 2
            pdf.text(x, y, line, size=self.size, align=align)
        if contacts:
            y += self.size + 2
            pdf.text(x, y, f"{inv.label('phone')} {v.phone}", size=self.size - 1, align=align)
            y += self.size + 1
            pdf.text(x, y, f"{inv.label('email')}: {v.email}" if self.rng.random() < 0.5 else v.website or "",
                     size=self.size - 1, align=align)
        if vat and v.vat_id_printed:
            y += self.size + 2
            pdf.text(x, y, f"{inv.vat_id_label}: {v.vat_id_printed}", size=self.size - 1, align=align)
        return y + 4

    def customer_block(self, x: float, y: float, heading: bool = True, size: float | None = None) -> float:
        inv, pdf = self.inv, self.pdf
        size = size or self.size + 1
        c = inv.customer
        if heading:
            pdf.text(x, y, inv.label("bill_to").upper() if self.font != "courier" else inv.label("bill_to"),
                     size=self.size - 1, bold=True, color=GREY)
            y += size + 3
        pdf.text(x, y, c.name, size=size, bold=True)
        if inv.attention:
            y += size + 2
            pdf.text(x, y, inv.attention, size=size)
        for line in c.address_lines:
            y += size + 2
            pdf.text(x, y, line, size=size)
        if c.vat_id_printed:
            y += size + 2
            pdf.text(x, y, f"{inv.label('tax_id_customer')}: {c.vat_id_printed}", size=self.size - 1)
        return y + 6

    def pairs_side_by_side(self, x_label: float, x_value: float, y: float, pairs: list[tuple[str, str]],
                           value_align: str = "left", bold_labels: bool = True, colon: bool = False,
                           size: float | None = None) -> float:
        size = size or self.size
        for label, value in pairs:
            self.pdf.text(x_label, y, f"{label}:" if colon else label, size=size, bold=bold_labels)
            self.pdf.text(x_value, y, value, size=size, align=value_align)
            y += size + 4
        return y

    def pairs_stacked(self, x: float, y: float, pairs: list[tuple[str, str]], col_w: float,
                      per_row: int) -> float:
        """Label above value, `per_row` pairs per row."""
        pdf = self.pdf
        for i, (label, value) in enumerate(pairs):
            col, row = i % per_row, i // per_row
            cx, cy = x + col * col_w, y + row * 28
            pdf.text(cx, cy, label, size=self.size - 1.5, color=GREY)
            pdf.text(cx, cy + 12, value, size=self.size + 0.5, bold=True)
        rows = (len(pairs) + per_row - 1) // per_row
        return y + rows * 28

    def bank_block(self, x: float, y: float, heading: bool = True, size: float | None = None) -> float:
        size = size or self.size - 1
        inv = self.inv
        if heading:
            self.pdf.text(x, y, inv.label("bank_details"), size=size, bold=True)
            y += size + 3
        for label, value in inv.bank_pairs():
            self.pdf.text(x, y, f"{label}: {value}", size=size)
            y += size + 3
        return y

    # --- table --------------------------------------------------------------------------
    def table_x(self) -> tuple[float, float]:
        return self.left, self.right

    def columns(self) -> list[Column]:
        inv, pdf = self.inv, self.pdf
        size = self.size
        x0, x1 = self.table_x()
        headers = {"pos": inv.label("pos"), "code": inv.label("code"), "desc": inv.label("description"),
                   "qty": inv.label("qty"), "unit": inv.label("unit"), "unit_price": inv.label("unit_price"),
                   "tax": inv.label("tax"), "amount": inv.label("amount")}
        if not self.cur_in_table and inv.money.placement != "none" and self.currency_in_header:
            headers["amount"] = f"{headers['amount']} ({inv.currency})"
        order = list(self.order)
        while True:
            cols = []
            for key in order:
                cells = [self.cell(key, i, k) for k, i in enumerate(inv.items)]
                natural = max([pdf.width(headers[key], size, True)] + [pdf.width(c, size) for c in cells])
                align = "left" if key in ("desc", "code", "unit", "pos") else "right"
                cols.append(Column(key, headers[key], align, natural + 12))
            fixed = sum(c.width for c in cols if c.key != "desc")
            desc = next(c for c in cols if c.key == "desc")
            room = (x1 - x0) - fixed
            if room >= desc.width or not any(k in order for k in ("code", "unit", "pos")):
                desc.width = max(room, desc.width)
                return cols
            order.remove(next(k for k in ("code", "unit", "pos") if k in order))

    def cell(self, key: str, item: Item, k: int) -> str:
        inv = self.inv
        if key == "pos":
            return str(k + 1)
        if key == "code":
            return item.code
        if key == "desc":
            return item.description
        if key == "qty":
            return inv.num(item.quantity, None)
        if key == "unit":
            return item.unit
        if key == "unit_price":
            return inv.m(item.unit_price, self.cur_in_table)
        if key == "tax":
            return inv.rate(item.rate)
        return inv.m(item.amount, self.cur_in_table)

    def row_height(self) -> float:
        return self.size + (8 if self.table_style in ("grid", "zebra", "shaded") else 6)

    def draw_header_row(self, y: float, cols: list[Column]) -> float:
        pdf, size = self.pdf, self.size
        x0, x1 = self.table_x()
        h = self.row_height() + 2
        style = self.table_style
        color = black
        if style == "zebra":
            pdf.rect(x0, y, x1 - x0, h, fill=self.accent, stroke=False)
            color = white
        elif style == "shaded":
            pdf.rect(x0, y, x1 - x0, h, fill=LIGHT, stroke=False)
        elif style == "grid":
            pdf.rect(x0, y, x1 - x0, h, fill=LIGHT)
        x = x0
        for c in cols:
            tx = x + 5 if c.align == "left" else x + c.width - 5
            pdf.text(tx, y + h - 5, c.header, size=size, bold=True, align=c.align, color=color)
            if style == "grid":
                pdf.line(x, y, x, y + h)
            x += c.width
        if style == "grid":
            pdf.line(x1, y, x1, y + h)
        if style in ("rule", "plain", "shaded"):
            pdf.line(x0, y + h, x1, y + h, 0.8 if style == "rule" else 0.4)
        if style == "mono":
            pdf.text(x0, y + h + 6, "-" * int((x1 - x0) / pdf.width("-", size)), size=size)
            h += 8
        return y + h

    def draw_row(self, y: float, cols: list[Column], item: Item, k: int) -> float:
        pdf, size = self.pdf, self.size
        x0, x1 = self.table_x()
        h = self.row_height()
        if self.table_style == "zebra" and k % 2 == 1:
            pdf.rect(x0, y, x1 - x0, h, fill=LIGHT, stroke=False)
        x = x0
        for c in cols:
            tx = x + 5 if c.align == "left" else x + c.width - 5
            pdf.text(tx, y + h - 4, self.cell(c.key, item, k), size=size, align=c.align)
            if self.table_style == "grid":
                pdf.line(x, y, x, y + h)
            x += c.width
        if self.table_style == "grid":
            pdf.line(x1, y, x1, y + h)
            pdf.line(x0, y + h, x1, y + h)
        elif self.table_style == "shaded":
            pdf.line(x0, y + h, x1, y + h, 0.2, GREY)
        return y + h

    accent = Color(0.15, 0.3, 0.55)

    def table(self, y: float) -> float:
        inv = self.inv
        cols = self.columns()
        y = self.draw_header_row(y, cols)
        running = Decimal("0.00")
        h = self.row_height()
        x0, x1 = self.table_x()
        for k, item in enumerate(inv.items):
            if y + h + (h if self.carry else 0) > self.bottom_limit:
                if self.carry:
                    self.pdf.text(x1 - 5, y + h - 3, f"{inv.label('carried')}: {inv.m(running)}", size=self.size,
                                  bold=True, align="right")
                self.break_page()
                y = self.continuation()
                if self.carry:
                    self.pdf.text(x1 - 5, y, f"{inv.label('brought', prev=self.pdf.page - 1)}: {inv.m(running)}",
                                  size=self.size, bold=True, align="right")
                    y += 8
                y = self.draw_header_row(y, cols)
            y = self.draw_row(y, cols, item, k)
            running += item.amount
        if self.table_style in ("rule", "plain"):
            self.pdf.line(x0, y + 2, x1, y + 2, 0.5)
        if self.table_style == "mono":
            self.pdf.text(x0, y + 8, "-" * int((x1 - x0) / self.pdf.width("-", self.size)), size=self.size)
            y += 8
        return y + 4

    # --- totals -------------------------------------------------------------------------
    def totals(self, y: float) -> float:
        inv, pdf = self.inv, self.pdf
        rows = inv.totals_rows()
        size = self.size + 0.5
        step = size + 6
        style = self.totals_style
        if style == "band":
            y = self.ensure(y, 48)
            pdf.rect(self.left, y, self.right - self.left, 40, fill=LIGHT, stroke=False)
            n = len(rows)
            w = (self.right - self.left) / n
            for i, (label, value, role) in enumerate(rows):
                cx = self.left + w * i + w - 8
                pdf.text(cx, y + 14, label, size=self.size - 1, align="right", color=GREY)
                pdf.text(cx, y + 31, inv.m(value), size=size + (1.5 if role in ("total", "due") else 0),
                         bold=role in ("total", "due"), align="right")
            return y + 48
        y = self.ensure(y, step * len(rows) + 12)
        if style == "left":
            x_label, x_value = self.left, self.left + 230
        else:
            x_value = self.right - (5 if self.table_style != "plain" else 0)
            x_label = x_value - 235
        top = y
        for label, value, role in rows:
            bold = role in ("total", "due")
            if role == "total":
                pdf.line(x_label, y - 1, x_value, y - 1, 0.6)
                y += 4
            y += step - 4
            if style == "mono":
                dots = "." * max(2, int((x_value - x_label - pdf.width(label, size) - pdf.width(inv.m(value), size))
                                        / pdf.width(".", size)) - 2)
                pdf.text(x_label, y, f"{label} {dots}", size=size, bold=bold)
            else:
                pdf.text(x_label, y, label, size=size, bold=bold)
            pdf.text(x_value, y, inv.m(value), size=size, bold=bold, align="right")
            y += 4
        if style == "right_box":
            pdf.rect(x_label - 8, top - 4, x_value - x_label + 16, y - top + 8)
        return y + 6

    # --- closing block ------------------------------------------------------------------
    def closing(self, y: float) -> float:
        """Payment terms, bank details and notes under the totals."""
        inv, pdf = self.inv, self.pdf
        y = self.ensure(y, 70)
        if inv.payment_terms:
            pdf.text(self.left, y, f"{inv.label('payment_terms')}: {inv.payment_terms}", size=self.size)
            y += self.size + 5
        if self.notes_pay_sentence and inv.due_date and inv.bank.iban_printed:
            pdf.text(self.left, y, inv.label("pay_sentence", total=inv.m(inv.amount_due), due=inv.d(inv.due_date),
                                             number=inv.invoice_number, iban=inv.bank.iban_printed),
                     size=self.size - 0.5)
            y += self.size + 5
        if self.closing_bank:
            y = self.bank_block(self.left, y + 4)
        pdf.text(self.left, y + 8, inv.label("thanks"), size=self.size - 0.5, color=GREY)
        return y + 16

    closing_bank = True
