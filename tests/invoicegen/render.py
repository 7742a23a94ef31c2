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
    "vera": ("Vera", "VeraBd"),  # Bitstream Vera, shipped with reportlab (embedded as TrueType)
}
_REGISTERED: set[str] = set()


def _register(font: str) -> None:
    """TrueType fonts are registered on first use (the standard 14 need nothing)."""
    if font != "vera" or font in _REGISTERED:
        return
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.ttfonts import TTFont

    pdfmetrics.registerFont(TTFont("Vera", "Vera.ttf"))
    pdfmetrics.registerFont(TTFont("VeraBd", "VeraBd.ttf"))
    _REGISTERED.add(font)


class Pdf:
    def __init__(self, page_size: str | tuple[float, float], font: str, title: str):
        self.buf = io.BytesIO()
        size = page_size if isinstance(page_size, tuple) else (letter if page_size == "letter" else A4)
        # invariant=1 drops timestamps and random ids so a seed always gives the same bytes.
        self.c = canvas.Canvas(self.buf, pagesize=size, invariant=1, pageCompression=1)
        self.c.setTitle(title)
        self.W, self.H = size
        _register(font)
        self.regular, self.bold = FONTS[font]
        self.page = 1
        # Varied layouts: every text size times `scale`; while `mirror` is set, x runs from the
        # right edge (a mirrored header); `dx`/`dy` shift what is drawn.
        self.scale = 1.0
        self.mirror = False
        self.dx = self.dy = 0.0

    def _x(self, x: float) -> float:
        return (self.W - x if self.mirror else x) + self.dx

    def width(self, s: str, size: float, bold: bool = False) -> float:
        return stringWidth(s, self.bold if bold else self.regular, size * self.scale)

    def text(self, x: float, y: float, s: str, size: float = 9, bold: bool = False, align: str = "left",
             color: Color = black) -> float:
        """Draw `s` with its baseline at `y`; returns the text's width."""
        c = self.c
        c.setFillColor(color)
        c.setFont(self.bold if bold else self.regular, size * self.scale)
        w = self.width(s, size, bold)
        if self.mirror:
            x = self.W - x
            align = {"left": "right", "right": "left"}.get(align, align)
        x += self.dx
        y += self.dy
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
        self.c.line(self._x(x0), self.H - y0 - self.dy, self._x(x1), self.H - y1 - self.dy)
        self.c.setStrokeColor(black)

    def rect(self, x: float, y: float, w: float, h: float, fill: Color | None = None, stroke: bool = True,
             width: float = 0.5) -> None:
        """Rectangle with top-left corner (x, y)."""
        c = self.c
        c.setLineWidth(width)
        if fill is not None:
            c.setFillColor(fill)
        if self.mirror:
            x = self.W - x - w
        x += self.dx
        y += self.dy
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

    def __init__(self, inv: Invoice, rng: random.Random, variation=None):
        self.inv = inv
        self.rng = rng
        self.v = variation  # a variation.Variation for the varied generator, else None
        self.font = rng.choice(self.font_choices)
        order = list(rng.choice(self.column_orders))
        if variation is not None:
            self.font, order = variation.font, list(variation.columns)
            self.margin, self.size = variation.margin, variation.size
            self.table_style, self.totals_style = variation.table_style, variation.totals_style
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
        if variation is not None:
            self.accent = Color(*variation.accent)

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
        return self.pdf.H - self.margin - self.footer_height() - self.vendor_footer_height()

    def vendor_footer_height(self) -> float:
        return 26.0 if self.v is not None and self.v.vendor_place in ("letterhead", "footer") else 0.0

    def footer_height(self) -> float:
        return 30.0

    # --- entry point --------------------------------------------------------------------
    def render(self, total_pages: int | None) -> tuple[bytes, int]:
        inv = self.inv
        self.total_pages = total_pages
        self.pdf = Pdf(inv.country.page_size, self.font, f"{inv.label('title')} {inv.invoice_number}")
        if self.v is None:
            y = self.first_page(self.pdf)
        else:
            y = self.varied_first_page()
        if inv.money.placement == "none" and not getattr(self, "currency_stated", False):
            y += 4
            self.pdf.text(self.left, y, inv.label("amounts_in", cur=inv.currency), size=self.size - 1)
            y += 10
        y = self.table(y + 6)
        y = self.totals(y + 10)
        y = self.closing(y + 14)
        self.all_footers()
        return self.pdf.finish(), self.pdf.page

    def varied_first_page(self) -> float:
        """The family's header, mirrored / shifted / scaled as the variation says, then the
        varied extras: the credited invoice's number, a delivery address."""
        v, pdf, inv = self.v, self.pdf, self.inv
        pdf.scale = v.scale
        pdf.mirror, pdf.dx, pdf.dy = v.mirror, v.header_dx, v.header_dy
        y = self.first_page(pdf) + v.header_dy
        pdf.mirror, pdf.dx, pdf.dy = False, 0.0, 0.0
        if inv.credit_ref and v.credit_ref_line:
            pdf.text(self.table_x()[0], y + 4, inv.label("credit_ref", ref=inv.credit_ref), size=self.size,
                     bold=True)
            y += self.size + 8
        if v.ship_to and inv.has_customer:
            c = inv.customer
            x = self.table_x()[0]
            pdf.text(x, y + 4, v.ship_to, size=self.size - 1, bold=True, color=GREY)
            lines = [c.name, *address_variant(c.address_lines)]
            pdf.text(x + 110, y + 4, " · ".join(lines), size=self.size - 1)
            y += self.size + 8
        return y

    def all_footers(self) -> None:
        self.footer()
        if self.vendor_footer_height():
            self.vendor_footer()

    def vendor_footer(self) -> None:
        """The vendor's name (footer placement) and address in a strip above the footer."""
        inv, pdf = self.inv, self.pdf
        v = inv.vendor
        y = self.bottom_limit + 10
        pdf.line(self.left, y - 8, self.right, y - 8, 0.3, GREY)
        first = [v.address_lines and " · ".join(v.address_lines) or ""]
        if self.v.vendor_place == "footer":
            first.insert(0, v.name)
        pdf.text(pdf.W / 2, y, " · ".join(first), size=self.size - 2, align="center")
        bits = [f"{inv.label('phone')} {v.phone}", v.email or ""]
        if v.vat_id_printed:
            bits.append(f"{inv.vat_id_label} {v.vat_id_printed}")
        pdf.text(pdf.W / 2, y + 9, " · ".join(bits), size=self.size - 2.5, align="center", color=GREY)

    # --- page breaks --------------------------------------------------------------------
    def ensure(self, y: float, h: float) -> float:
        if y + h <= self.bottom_limit:
            return y
        self.break_page()
        return self.continuation()

    def break_page(self) -> None:
        self.all_footers()
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
    def name_lines(self, name: str, lines: int) -> list[str]:
        """`name` as printed over `lines` lines, split at the word boundary nearest its middle."""
        words = name.split()
        if lines < 2 or len(words) < 2:
            return [name]
        cut = min(range(1, len(words)), key=lambda k: abs(len(" ".join(words[:k])) - len(name) / 2))
        return [" ".join(words[:cut]), " ".join(words[cut:])]

    def vendor_block(self, x: float, y: float, align: str = "left", name_size: float = 14,
                     contacts: bool = True, vat: bool = True) -> float:
        if self.v is not None:
            if self.v.swap_parties:
                return self._customer_block(x, y, heading=self.v.customer_heading == "yes",
                                            size=self.size + 1, align=align)
            if self.v.vendor_place == "footer":
                return y
            if self.v.vendor_place == "letterhead":
                width = 0.5 * (self.right - self.left)  # a letterhead shares its line with the title
                for k, line in enumerate(self.name_lines(self._vendor_name(), self.v.name_lines)):
                    self.pdf.text(x, y + k * (name_size + 4), line, size=self.fit(line, name_size + 4, width, True),
                                  bold=True, align=align, color=self.accent)
                return y + self.v.name_lines * (name_size + 4) + 4
            return self._vendor_block(x, y, align, name_size, self.v.contacts, vat)
        return self._vendor_block(x, y, align, name_size, contacts, vat)

    def _vendor_name(self) -> str:
        name = self.inv.vendor.name
        return name.upper() if self.v is not None and self.v.name_upper else name

    def _vendor_block(self, x: float, y: float, align: str = "left", name_size: float = 14,
                      contacts: bool = True, vat: bool = True) -> float:
        inv, pdf = self.inv, self.pdf
        v = inv.vendor
        lines = self.name_lines(self._vendor_name(), self.v.name_lines if self.v is not None else 1)
        for k, line in enumerate(lines):
            pdf.text(x, y, line, size=self.fit(line, name_size, 0.55 * (self.right - self.left), True), bold=True,
                     align=align)
            if k + 1 < len(lines):
                y += name_size + 2
        y += name_size * 0.5 + 6
        for line in v.address_lines:
            y += self.size + 2
            pdf.text(x, y, line, size=self.size, align=align)
        if contacts:
            y += self.size + 2
            pdf.text(x, y, f"{inv.label('phone')} {v.phone}", size=self.size - 1, align=align)
            y += self.size + 1
            web = self.rng.random() >= 0.5
            if self.v is not None:
                web = self.v.email_or_web == "web"
            pdf.text(x, y, f"{inv.label('email')}: {v.email}" if not web else v.website or "",
                     size=self.size - 1, align=align)
            if self.v is not None and self.v.email_or_web == "both":
                y += self.size + 1
                pdf.text(x, y, v.website or "", size=self.size - 1, align=align)
        if vat and v.vat_id_printed:
            y += self.size + 2
            pdf.text(x, y, f"{inv.vat_id_label}: {v.vat_id_printed}", size=self.size - 1, align=align)
        return y + 4

    def customer_block(self, x: float, y: float, heading: bool = True, size: float | None = None) -> float:
        if self.v is not None:
            if self.v.swap_parties:
                # The vendor's block where the customer's would be (the customer took its place).
                return self._vendor_block(x, y, name_size=(size or self.size + 1) + 1, contacts=self.v.contacts)
            heading = {"family": heading, "yes": True, "no": False}[self.v.customer_heading]
        return self._customer_block(x, y, heading, size)

    def _customer_block(self, x: float, y: float, heading: bool = True, size: float | None = None,
                        align: str = "left") -> float:
        inv, pdf = self.inv, self.pdf
        size = size or self.size + 1
        c = inv.customer
        if heading:
            pdf.text(x, y, inv.label("bill_to").upper() if self.font != "courier" else inv.label("bill_to"),
                     size=self.size - 1, bold=True, color=GREY, align=align)
            y += size + 3
        lines = self.name_lines(c.name, self.v.customer_name_lines if self.v is not None else 1)
        for k, line in enumerate(lines):
            if k:
                y += size + 2
            pdf.text(x, y, line, size=size, bold=True, align=align)
        if inv.attention:
            y += size + 2
            pdf.text(x, y, inv.attention, size=size, align=align)
        for line in c.address_lines:
            y += size + 2
            pdf.text(x, y, line, size=size, align=align)
        if c.vat_id_printed:
            y += size + 2
            pdf.text(x, y, f"{inv.label('tax_id_customer')}: {c.vat_id_printed}", size=self.size - 1, align=align)
        return y + 6

    def pairs_side_by_side(self, x_label: float, x_value: float, y: float, pairs: list[tuple[str, str]],
                           value_align: str = "left", bold_labels: bool = True, colon: bool = False,
                           size: float | None = None) -> float:
        size = size or self.size
        if self.v is not None:
            colon, bold_labels = self.v.colon, self.v.bold_labels
            # Longer synonyms than the family was drawn for: move the label column (or the
            # value column) so a label never runs into its value, then shrink the type.
            pdf = self.pdf

            def widths(sz: float) -> tuple[float, float]:
                return (max([pdf.width(f"{lb}:" if colon else lb, sz, bold_labels) for lb, _ in pairs] or [0]),
                        max([pdf.width(val, sz) for _, val in pairs] or [0]))

            widest, values = widths(size)
            if value_align == "right":
                short = x_label + widest + 8 - (x_value - values)
                x_label -= max(0.0, min(short, x_label - self.left))
                while x_label + widest + 8 > x_value - values and size > 6:
                    size -= 0.5
                    widest, values = widths(size)
            elif x_value < x_label + widest + 8:
                x_value = x_label + widest + 8
                over = x_value + values - (pdf.W - self.margin)
                if over > 0:
                    back = min(over, x_label - self.left)
                    x_label, x_value = x_label - back, x_value - back
        if self.pdf.mirror:
            # A mirrored header moves the block to the other side but keeps label before value.
            end = x_value if value_align == "right" else x_value + max(
                [self.pdf.width(v, size) for _, v in pairs] or [0])
            x_label, x_value = self.pdf.W - end, self.pdf.W - end + (x_value - x_label)
            self.pdf.mirror = False
            try:
                return self.pairs_side_by_side(x_label, x_value, y, pairs, value_align, bold_labels, colon, size)
            finally:
                self.pdf.mirror = True
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
            pdf.text(cx, cy, label, size=self.fit(label, self.size - 1.5, col_w - 6), color=GREY)
            pdf.text(cx, cy + 12, value, size=self.fit(value, self.size + 0.5, col_w - 6, True), bold=True)
        rows = (len(pairs) + per_row - 1) // per_row
        return y + rows * 28

    def fit(self, text: str, size: float, width: float, bold: bool = False) -> float:
        """`size`, or smaller until `text` fits `width` (varied layouts only: their labels
        come from a longer vocabulary than the families were drawn for)."""
        if self.v is None:
            return size
        while size > 5.5 and self.pdf.width(text, size, bold) > width:
            size -= 0.5
        return size

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
        if self.v is not None:
            return self.size + self.v.row_pad
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
            pdf.rect(x0, y, x1 - x0, h, fill=self.fill, stroke=False)
        elif style == "grid":
            pdf.rect(x0, y, x1 - x0, h, fill=self.fill)
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

    @property
    def fill(self) -> Color:
        return Color(*self.v.header_fill) if self.v is not None else LIGHT

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
        if self.v is not None and self.v.vat_table != "none":
            if self.v.vat_table == "before":
                y = self.vat_breakdown(y) + 8
                return self._totals(y, self.totals_rows())
            y = self._totals(y, self.totals_rows())
            return self.vat_breakdown(y + 4)
        return self._totals(y, self.inv.totals_rows())

    def totals_rows(self) -> list[tuple[str, Decimal, str]]:
        """With a separate VAT table, the totals block drops the per-rate VAT rows (and, as
        some invoices do, the net)."""
        return [r for r in self.inv.totals_rows()
                if r[2] != "vat" and (r[2] != "subtotal" or self.v.keep_subtotal)]

    def vat_breakdown(self, y: float) -> float:
        """VAT per rate in its own table: rate | net | VAT | gross, one row per rate."""
        inv, pdf = self.inv, self.pdf
        heading, *heads = self.v.vat_table_labels
        rows = [(inv.rate(r), inv.m(base), inv.m(tax), inv.m(base + tax)) for r, base, tax in inv.vat_by_rate]
        h = self.size + 6
        y = self.ensure(y, h * (len(rows) + 2) + 10)
        x0 = self.table_x()[0]
        widths = [max(pdf.width(c, self.size) for c in [head] + [row[i] for row in rows]) + 16
                  for i, head in enumerate(heads)]
        if heading:
            pdf.text(x0, y + self.size, heading, size=self.size - 0.5, bold=True)
            y += self.size + 6
        grid = self.table_style in ("grid", "shaded", "zebra")
        x = x0
        for i, head in enumerate(heads):
            pdf.text(x + widths[i] - 6, y + self.size + 1, head, size=self.size - 0.5, bold=True, align="right")
            x += widths[i]
        y += h
        pdf.line(x0, y, x0 + sum(widths), y, 0.5, GREY)
        for row in rows:
            x = x0
            for i, cell in enumerate(row):
                pdf.text(x + widths[i] - 6, y + self.size + 2, cell, size=self.size - 0.5, align="right")
                x += widths[i]
            y += h
            if grid:
                pdf.line(x0, y, x0 + sum(widths), y, 0.2, GREY)
        return y + 6

    def _totals(self, y: float, rows: list[tuple[str, Decimal, str]]) -> float:
        inv, pdf = self.inv, self.pdf
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
        if self.v is not None:
            return self.varied_closing(y, self.left, bank=self.closing_bank)
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

    def due_sentence(self) -> str | None:
        """The due date in a sentence, for documents that print it nowhere else."""
        inv = self.inv
        if inv.due_date is None or inv.due_print != "sentence":
            return None
        from .vocab import DUE_SENTENCES

        options = DUE_SENTENCES[inv.language]
        return options[inv.seed % len(options)].format(due=inv.d(inv.due_date))

    def varied_closing(self, y: float, x: float, bank: bool) -> float:
        """The closing blocks in the variation's order: terms, the due date in a sentence,
        the pay sentence, bank details, the credit note's remark, thanks."""
        inv, pdf = self.inv, self.pdf
        y = self.ensure(y, 70)
        for block in self.v.closing_order:
            if block == "terms" and inv.payment_terms:
                pdf.text(x, y, f"{inv.label('payment_terms')}: {inv.payment_terms}", size=self.size)
                y += self.size + 5
            elif block == "due_sentence" and self.due_sentence():
                pdf.text(x, y, self.due_sentence(), size=self.size, bold=inv.seed % 3 == 0)
                y += self.size + 5
            elif (block == "pay_sentence" and self.notes_pay_sentence and inv.due_date and inv.due_print == "label"
                  and inv.bank.iban_printed):
                pdf.text(x, y, inv.label("pay_sentence", total=inv.m(inv.amount_due), due=inv.d(inv.due_date),
                                         number=inv.invoice_number, iban=inv.bank.iban_printed),
                         size=self.size - 0.5)
                y += self.size + 5
            elif block == "bank" and bank and inv.has_bank:
                y = self.bank_block(x, y + 4) + 4
            elif block == "credit_note" and inv.document_type == "credit_note":
                if inv.credit_ref and not self.v.credit_ref_line:
                    pdf.text(x, y, inv.label("credit_ref", ref=inv.credit_ref), size=self.size)
                    y += self.size + 5
                pdf.text(x, y, inv.label("credit_note"), size=self.size - 0.5)
                y += self.size + 5
            elif block == "thanks":
                pdf.text(x, y + 4, inv.label("thanks"), size=self.size - 0.5, color=GREY)
                y += self.size + 8
        return y + 8


def address_variant(lines: list[str]) -> list[str]:
    """A delivery address: the customer's street with another number (a distractor)."""
    if not lines:
        return lines
    first = lines[0]
    digits = "".join(ch for ch in first if ch.isdigit())
    if digits:
        first = first.replace(digits, str(int(digits) % 200 + 7), 1)
    return [first, *lines[1:]]
