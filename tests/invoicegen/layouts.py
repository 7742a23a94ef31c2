"""Twelve layout families that differ in structure, not only in noise: where the vendor
sits (header, sidebar, footer, bottom block), how labels pair with values (side by side,
stacked, boxed grid, dotted monospace), the table's columns and rules, and where the
totals go (right, boxed, left, horizontal band)."""
from __future__ import annotations

import random

from reportlab.lib.colors import Color, white

from .render import GREY, LIGHT, LayoutBase


class Classic(LayoutBase):
    """Vendor top-left, title and side-by-side meta top-right, bill-to left, bank in footer."""
    name = "classic"
    font_choices = ("helvetica", "times")
    column_orders = (("desc", "qty", "unit_price", "amount"), ("pos", "desc", "qty", "unit", "unit_price", "amount"))
    table_style = "rule"
    totals_style = "right"
    closing_bank = False

    def footer_height(self) -> float:
        return 46.0

    def first_page(self, pdf) -> float:
        inv = self.inv
        y0 = self.margin + 12
        y_v = self.vendor_block(self.left, y0, name_size=15)
        pdf.text(self.right, y0 + 6, inv.label("title"), size=22, bold=True, align="right")
        y_m = self.pairs_side_by_side(self.right - 210, self.right, y0 + 34, inv.meta_pairs(), value_align="right")
        y = max(y_v, y_m) + 22
        return self.customer_block(self.left, y) + 16

    def footer(self) -> None:
        pdf, inv = self.pdf, self.inv
        y = pdf.H - self.margin - 18
        pdf.line(self.left, y - 10, self.right, y - 10, 0.4, GREY)
        parts = [f"{label}: {value}" for label, value in inv.bank_pairs()]
        pdf.text(pdf.W / 2, y, "  |  ".join(parts), size=7, align="center")
        bits = [inv.vendor.name]
        if inv.vendor.vat_id_printed:
            bits.append(f"{inv.vat_id_label} {inv.vendor.vat_id_printed}")
        if inv.register:
            bits.append(inv.register)
        pdf.text(pdf.W / 2, y + 10, " · ".join(bits), size=7, align="center", color=GREY)
        if self.page_numbers:
            pdf.text(self.right, y + 22, self.page_label(), size=7, align="right", color=GREY)


class StackedMeta(LayoutBase):
    """Big title top-left, vendor right-aligned top-right, meta as a row of label-over-value cells."""
    name = "stacked_meta"
    column_orders = (("pos", "desc", "qty", "unit", "unit_price", "amount"), ("desc", "unit_price", "qty", "amount"))
    table_style = "grid"
    totals_style = "right"

    def first_page(self, pdf) -> float:
        inv = self.inv
        y0 = self.margin + 20
        pdf.text(self.left, y0 + 8, inv.label("title"), size=26, bold=True, color=self.accent)
        y_v = self.vendor_block(self.right, y0 - 6, align="right", name_size=12)
        y = max(y_v, y0 + 40) + 14
        y = self.customer_block(self.left, y)
        pairs = inv.meta_pairs()
        per_row = 4 if len(pairs) > 3 else len(pairs)
        y = self.pairs_stacked(self.left, y + 14, pairs, (self.right - self.left) / per_row, per_row)
        return y + 8


class TotalsLeft(LayoutBase):
    """Vendor block top-right, customer window left, meta stacked under it, totals box on the left
    with bank details to its right."""
    name = "totals_left"
    column_orders = (("qty", "desc", "unit_price", "tax", "amount"), ("qty", "unit", "desc", "unit_price", "amount"))
    table_style = "shaded"
    totals_style = "left"
    closing_bank = False

    def first_page(self, pdf) -> float:
        inv = self.inv
        y0 = self.margin + 10
        y_v = self.vendor_block(self.right, y0, align="right", name_size=13)
        y_c = self.customer_block(self.left, y0 + 60, heading=False)
        y = max(y_v, y_c) + 16
        pdf.text(self.left, y, f"{inv.label('title')}", size=18, bold=True)
        y += 16
        y = self.pairs_side_by_side(self.left, self.left + 130, y, inv.meta_pairs(), colon=True, bold_labels=False)
        return y + 8

    def totals(self, y: float) -> float:
        y_after = super().totals(y)
        # Bank details beside the totals, on the right.
        self.bank_block(self.left + 290, y + 10)
        return y_after


class FooterVendor(LayoutBase):
    """DIN 5008 style letter: sender line above the address window, information block right,
    subject line, and the vendor's name, address, tax id and bank only in the footer columns."""
    name = "footer_vendor"
    font_choices = ("helvetica", "times")
    column_orders = (("pos", "desc", "qty", "unit", "unit_price", "amount"), ("pos", "code", "desc", "qty", "unit_price", "amount"))
    table_style = "rule"
    totals_style = "right"
    closing_bank = False

    def footer_height(self) -> float:
        return 70.0

    def first_page(self, pdf) -> float:
        inv = self.inv
        v = inv.vendor
        y0 = self.margin + 30
        for k, line in enumerate(self.name_lines(self._vendor_name(), self.v.name_lines if self.v else 1)):
            pdf.text(self.right, self.margin + 6 + k * 18, line, size=16, bold=True, align="right", color=self.accent)
        sender = " · ".join([v.name, *v.address_lines])
        pdf.text(self.left, y0 + 40, sender, size=6.5, color=GREY)
        pdf.line(self.left, y0 + 43, self.left + pdf.width(sender, 6.5), y0 + 43, 0.3, GREY)
        self.customer_block(self.left, y0 + 58, heading=False)
        self.pairs_side_by_side(self.right - 190, self.right - 85, y0 + 40, inv.meta_pairs(), bold_labels=False,
                                size=self.size - 0.5)
        y = y0 + 175
        pdf.text(self.left, y, f"{inv.label('title')} {inv.label('invoice_number')} {inv.invoice_number}"
                 if self.rng.random() < 0.5 else inv.label("title"), size=13, bold=True)
        return y + 14

    def footer(self) -> None:
        pdf, inv = self.pdf, self.inv
        v = inv.vendor
        y = pdf.H - self.margin - 50
        pdf.line(self.left, y - 10, self.right, y - 10, 0.4, GREY)
        w = (self.right - self.left) / 3
        col1 = [v.name, *v.address_lines]
        col2 = [f"{inv.label('phone')} {v.phone}", v.email or "", v.website or ""]
        if v.vat_id_printed:
            col2.append(f"{inv.vat_id_label}: {v.vat_id_printed}")
        col3 = [f"{k}: {val}" for k, val in inv.bank_pairs()]
        if inv.register:
            col1.append(inv.register)
        for i, col in enumerate((col1, col2, col3)):
            for j, line in enumerate(col):
                pdf.text(self.left + i * w, y + j * 8.5, line, size=6.5)
        if self.page_numbers:
            pdf.text(self.right, y - 16, self.page_label(), size=7, align="right", color=GREY)


class TwoColumnParties(LayoutBase):
    """Centered title, From / Bill-to side by side under headings, meta in a boxed 3-column grid."""
    name = "two_column_parties"
    column_orders = (("desc", "qty", "unit_price", "amount"), ("code", "desc", "qty", "unit_price", "amount"))
    table_style = "zebra"
    totals_style = "right_box"

    def first_page(self, pdf) -> float:
        inv = self.inv
        y0 = self.margin + 16
        pdf.text(pdf.W / 2, y0, inv.label("title"), size=22, bold=True, align="center")
        y = y0 + 30
        mid = (self.left + self.right) / 2
        pdf.text(self.left, y, inv.label("from").upper(), size=self.size - 1, bold=True, color=GREY)
        y_v = self.vendor_block(self.left, y + 16, name_size=11)
        y_c = self.customer_block(mid, y)
        y = max(y_v, y_c) + 14
        pairs = inv.meta_pairs()
        per_row = 3
        rows = (len(pairs) + per_row - 1) // per_row
        pdf.rect(self.left, y, self.right - self.left, rows * 28 + 6, fill=LIGHT, stroke=False)
        y = self.pairs_stacked(self.left + 8, y + 12, pairs, (self.right - self.left) / per_row, per_row)
        return y + 6


class Sidebar(LayoutBase):
    """A shaded left sidebar with the vendor, contacts, tax id and bank; content on the right."""
    name = "sidebar"
    column_orders = (("desc", "qty", "unit_price", "amount"), ("desc", "qty", "amount"))
    table_style = "plain"
    totals_style = "right"
    closing_bank = False
    side_w = 150.0

    def table_x(self) -> tuple[float, float]:
        return self.side_w + 20, self.right

    def sidebar(self) -> None:
        pdf, inv = self.pdf, self.inv
        v = inv.vendor
        pdf.rect(0, 0, self.side_w, pdf.H, fill=Color(0.93, 0.95, 0.98), stroke=False)
        x, y = 16, self.margin + 10
        # Long names wrap onto two lines in the narrow sidebar.
        words, line, lines = self._vendor_name().split(), "", []
        for w in words:
            if pdf.width(f"{line} {w}".strip(), 11, True) > self.side_w - 28:
                lines.append(line)
                line = w
            else:
                line = f"{line} {w}".strip()
        lines.append(line)
        for ln in lines:
            pdf.text(x, y, ln, size=11, bold=True)
            y += 13
        y += 4
        for ln in v.address_lines:
            pdf.text(x, y, ln, size=7.5)
            y += 10
        y += 8
        for ln in (f"{inv.label('phone')} {v.phone}", v.email or "", v.website or ""):
            pdf.text(x, y, ln, size=7)
            y += 9
        if v.vat_id_printed:
            y += 6
            pdf.text(x, y, inv.vat_id_label, size=7, bold=True)
            pdf.text(x, y + 9, v.vat_id_printed, size=7)
            y += 20
        y += 10
        pdf.text(x, y, inv.label("bank_details"), size=7.5, bold=True)
        y += 11
        for label, value in inv.bank_pairs():
            pdf.text(x, y, label, size=6.5, color=GREY)
            pdf.text(x, y + 8, value, size=6.5)
            y += 18

    def first_page(self, pdf) -> float:
        inv = self.inv
        self.sidebar()
        x = self.side_w + 20
        y = self.margin + 14
        pdf.text(x, y, inv.label("title"), size=20, bold=True)
        y = self.pairs_side_by_side(self.right - 190, self.right, y - 4, inv.meta_pairs(), value_align="right",
                                    size=self.size - 0.5)
        y = self.customer_block(x, max(y + 12, self.margin + 50))
        return y + 14

    def continuation(self) -> float:
        self.sidebar()
        inv, pdf = self.inv, self.pdf
        y = self.margin + 14
        pdf.text(self.right, y, f"{inv.label('title')} {inv.invoice_number}", size=self.size, align="right")
        return y + 20

    def closing(self, y: float) -> float:
        inv, pdf = self.inv, self.pdf
        x = self.side_w + 20
        if self.v is not None:
            return self.varied_closing(y, x, bank=False)
        if inv.payment_terms:
            y = self.ensure(y, 20)
            pdf.text(x, y, f"{inv.label('payment_terms')}: {inv.payment_terms}", size=self.size)
            y += 14
        pdf.text(x, y + 6, inv.label("thanks"), size=self.size - 0.5, color=GREY)
        return y + 20


class CenteredGrid(LayoutBase):
    """Centered letterhead, centered title, meta as a bordered table (header row of labels,
    one row of values), full-grid items table, boxed totals, bank in the closing block."""
    name = "centered_grid"
    font_choices = ("times", "helvetica")
    column_orders = (("pos", "desc", "qty", "unit_price", "tax", "amount"), ("desc", "qty", "unit", "unit_price", "amount"))
    table_style = "grid"
    totals_style = "right_box"

    def first_page(self, pdf) -> float:
        inv = self.inv
        v = inv.vendor
        cx = pdf.W / 2
        y = self.margin + 10
        name = v.name.upper() if self.rng.random() < 0.5 else v.name
        if self.v is not None:
            for line in self.name_lines(self._vendor_name(), self.v.name_lines)[:-1]:
                pdf.text(cx, y, line, size=16, bold=True, align="center")
                y += 18
            name = self.name_lines(self._vendor_name(), self.v.name_lines)[-1]
        pdf.text(cx, y, name, size=16, bold=True, align="center")
        y += 14
        pdf.text(cx, y, " · ".join(v.address_lines), size=self.size - 0.5, align="center")
        y += 11
        contact = [f"{inv.label('phone')} {v.phone}", v.email or ""]
        if v.vat_id_printed:
            contact.append(f"{inv.vat_id_label} {v.vat_id_printed}")
        pdf.text(cx, y, "  ·  ".join(contact), size=self.size - 1.5, align="center", color=GREY)
        y += 10
        pdf.line(self.left, y, self.right, y, 1.0)
        y += 28
        pdf.text(cx, y, inv.label("title"), size=18, bold=True, align="center")
        y += 16
        y = self.customer_block(self.left, y + 6)
        pairs = inv.meta_pairs()[:5]
        w = (self.right - self.left) / len(pairs)
        h = 16
        pdf.rect(self.left, y, self.right - self.left, h, fill=LIGHT)
        pdf.rect(self.left, y + h, self.right - self.left, h)
        for i, (label, value) in enumerate(pairs):
            x = self.left + i * w
            if i:
                pdf.line(x, y, x, y + 2 * h)
            pdf.text(x + w / 2, y + 11, label, size=self.fit(label, self.size - 1, w - 4, True), bold=True,
                     align="center")
            pdf.text(x + w / 2, y + h + 11, value, size=self.fit(value, self.size - 0.5, w - 4), align="center")
        extra = inv.meta_pairs()[5:]
        y += 2 * h + 10
        if extra:
            y = self.pairs_side_by_side(self.left, self.left + 120, y + 4, extra, colon=True, bold_labels=False)
        return y + 6


class MonoReceipt(LayoutBase):
    """Monospace, dotted label leaders, text-drawn table rules; typewriter / ERP printout style."""
    name = "mono_receipt"
    font_choices = ("courier",)
    column_orders = (("desc", "qty", "unit_price", "amount"), ("code", "desc", "qty", "unit_price", "amount"))
    table_style = "mono"
    totals_style = "mono"
    size = 8.5

    def first_page(self, pdf) -> float:
        inv = self.inv
        y = self.margin + 6
        y = self.vendor_block(self.left, y, name_size=12)
        y += 10
        pdf.text(self.left, y, "=" * int((self.right - self.left) / pdf.width("=", self.size)), size=self.size)
        y += 16
        pdf.text(self.left, y, inv.label("title").upper(), size=14, bold=True)
        y += 18
        width = max(pdf.width(label, self.size) for label, _ in inv.meta_pairs()) + 24
        for label, value in inv.meta_pairs():
            dots = "." * int((width - pdf.width(label, self.size)) / pdf.width(".", self.size))
            pdf.text(self.left, y, f"{label}{dots}: {value}", size=self.size)
            y += self.size + 4
        y += 10
        y = self.customer_block(self.left, y, size=self.size + 0.5)
        return y + 8


class Banded(LayoutBase):
    """Coloured band across the top with the vendor and title in white, meta in the band's
    right half, zebra table, totals as one horizontal band (labels above values)."""
    name = "banded"
    column_orders = (("desc", "qty", "unit_price", "amount"), ("pos", "desc", "qty", "unit_price", "tax", "amount"))
    table_style = "zebra"
    totals_style = "band"

    def setup(self, rng: random.Random) -> None:
        self.accent = rng.choice([Color(0.1, 0.35, 0.4), Color(0.45, 0.1, 0.2), Color(0.2, 0.2, 0.45),
                                  Color(0.15, 0.4, 0.2)])

    def first_page(self, pdf) -> float:
        inv = self.inv
        band_h = 120
        pdf.rect(0, 0, pdf.W, band_h, fill=self.accent, stroke=False)
        v = inv.vendor
        names = self.name_lines(self._vendor_name(), self.v.name_lines if self.v else 1)
        for k, line in enumerate(names):
            pdf.text(self.left, 40 + k * 17 - (17 if len(names) > 1 else 0), line, size=16, bold=True, color=white)
        y = 54
        for line in v.address_lines:
            pdf.text(self.left, y, line, size=self.size - 0.5, color=white)
            y += 10
        if v.vat_id_printed:
            pdf.text(self.left, y + 2, f"{inv.vat_id_label} {v.vat_id_printed}", size=self.size - 1, color=white)
        pdf.text(self.right, 40, inv.label("title").upper(), size=20, bold=True, color=white, align="right")
        pairs = inv.meta_pairs()[:5]
        yy = 56
        for label, value in pairs:
            pdf.text(self.right - 110, yy, label, size=self.size - 1.5, color=white, align="right")
            pdf.text(self.right, yy, value, size=self.size - 1, bold=True, color=white, align="right")
            yy += 11
        y = band_h + 24
        y = self.customer_block(self.left, y)
        extra = inv.meta_pairs()[5:]
        if extra:
            y = self.pairs_side_by_side(self.left, self.left + 120, y + 4, extra, colon=True, bold_labels=False)
        return y + 10


class CustomerFirst(LayoutBase):
    """Customer address at the very top-left (window envelope), vendor block far right,
    label-over-value meta column under it, item codes in the table, payment sentence."""
    name = "customer_first"
    column_orders = (("code", "desc", "qty", "unit_price", "tax", "amount"), ("pos", "code", "desc", "qty", "unit", "unit_price", "amount"))
    table_style = "shaded"
    totals_style = "right"

    def setup(self, rng: random.Random) -> None:
        self.notes_pay_sentence = True

    def first_page(self, pdf) -> float:
        inv = self.inv
        y0 = self.margin + 20
        y_c = self.customer_block(self.left, y0, heading=rng_bool(self.rng, 0.3))
        x_r = self.right - 160
        y_v = self.vendor_block(x_r, y0 - 4, name_size=11)
        y = y_v + 8
        for label, value in inv.meta_pairs():
            pdf.text(x_r, y, label, size=self.size - 1.5, color=GREY)
            pdf.text(x_r, y + 10, value, size=self.size)
            y += 22
        title = f"{inv.label('title')} {inv.invoice_number}"
        y = max(y, y_c) + 10
        pdf.text(self.left, y, title, size=15, bold=True)
        return y + 14


class MinimalLines(LayoutBase):
    """No boxes or rules: the invoice number in the title, dates in one sentence-like line,
    whitespace-aligned table, bank details as a paragraph."""
    name = "minimal"
    font_choices = ("helvetica", "times")
    column_orders = (("desc", "qty", "unit_price", "amount"), ("desc", "qty", "unit", "unit_price", "amount"))
    table_style = "plain"
    totals_style = "right"

    def first_page(self, pdf) -> float:
        inv = self.inv
        y = self.margin + 4
        v = inv.vendor
        pdf.text(self.left, y, self._vendor_name(), size=10, bold=True)
        pdf.text(self.left + pdf.width(self._vendor_name(), 10, True) + 8, y, " · ".join(v.address_lines),
                 size=self.size - 1, color=GREY)
        y += 11
        if v.vat_id_printed:
            pdf.text(self.left, y, f"{inv.vat_id_label} {v.vat_id_printed} · {inv.label('phone')} {v.phone}",
                     size=self.size - 1, color=GREY)
        y += 40
        pdf.text(self.left, y, f"{inv.label('title')} {inv.invoice_number}", size=20, bold=True)
        y += 20
        # The number is in the title; the rest of the header pairs follow in one line.
        rest = inv.meta_pairs()[1:] if self.v is None else [p for p in inv.meta_pairs() if p[1] != inv.invoice_number]
        bits = [f"{label} {value}" for label, value in rest]
        # Sentence-like line; wrapped in two if long.
        line = "   ·   ".join(bits)
        if pdf.width(line, self.size) > self.right - self.left:
            half = (len(bits) + 1) // 2
            pdf.text(self.left, y, "   ·   ".join(bits[:half]), size=self.size)
            y += self.size + 4
            line = "   ·   ".join(bits[half:])
        pdf.text(self.left, y, line, size=self.size)
        y += 26
        y = self.customer_block(self.left, y)
        return y + 12


class VendorBottom(LayoutBase):
    """Title and meta first, customer, table and totals; the vendor appears only in an
    'issued by' box at the end of the document (last page)."""
    name = "vendor_bottom"
    column_orders = (("desc", "qty", "unit", "unit_price", "amount"), ("pos", "desc", "unit_price", "qty", "tax", "amount"))
    table_style = "rule"
    totals_style = "right_box"
    closing_bank = False

    def first_page(self, pdf) -> float:
        inv = self.inv
        y = self.margin + 16
        pdf.text(self.left, y, inv.label("title"), size=24, bold=True)
        y_m = self.pairs_side_by_side(self.right - 200, self.right, y - 8, inv.meta_pairs(), value_align="right",
                                      bold_labels=False)
        y = max(y + 30, y_m + 10)
        return self.customer_block(self.left, y) + 12

    def continuation(self) -> float:
        inv, pdf = self.inv, self.pdf
        y = self.margin + 10
        pdf.text(self.left, y, f"{inv.label('title')} {inv.invoice_number}", size=self.size + 1, bold=True)
        return y + 20

    def closing(self, y: float) -> float:
        inv, pdf = self.inv, self.pdf
        v = inv.vendor
        y = super().closing(y)
        lines = [*self.name_lines(self._vendor_name(), self.v.name_lines if self.v else 1), *v.address_lines,
                 f"{inv.label('phone')} {v.phone} · {v.email}"]
        if v.vat_id_printed:
            lines.append(f"{inv.vat_id_label}: {v.vat_id_printed}")
        bank = [f"{k}: {val}" for k, val in inv.bank_pairs()]
        h = max(len(lines), len(bank) + 1) * 11 + 22
        y = self.ensure(y + 10, h)
        pdf.rect(self.left, y, self.right - self.left, h)
        pdf.text(self.left + 10, y + 14, inv.label("from"), size=self.size - 1, bold=True, color=GREY)
        n_name = len(self.name_lines(v.name, self.v.name_lines if self.v else 1))
        for i, ln in enumerate(lines):
            pdf.text(self.left + 10, y + 28 + i * 11, ln, size=self.size - 0.5, bold=i < n_name)
        mid = (self.left + self.right) / 2 + 20
        pdf.text(mid, y + 14, inv.label("bank_details"), size=self.size - 1, bold=True, color=GREY)
        for i, ln in enumerate(bank):
            pdf.text(mid, y + 28 + i * 11, ln, size=self.size - 0.5)
        return y + h + 10


def rng_bool(rng: random.Random, p: float) -> bool:
    return rng.random() < p


LAYOUTS: dict[str, type[LayoutBase]] = {
    cls.name: cls
    for cls in (Classic, StackedMeta, TotalsLeft, FooterVendor, TwoColumnParties, Sidebar, CenteredGrid,
                MonoReceipt, Banded, CustomerFirst, MinimalLines, VendorBottom)
}
