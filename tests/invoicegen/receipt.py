"""Till receipts: a narrow slip whose height follows its content. The shop's name is the
header with no label (often upper case, sometimes over two lines), then the address, tax id,
date and time, the receipt number, the items (gross prices), the total, the payment (cash
tendered and change, or card), a VAT summary and a thank-you line. No customer, no due date."""
from __future__ import annotations

import random
from reportlab.lib.colors import Color

from .model import Invoice
from .render import Pdf

GREY = Color(0.4, 0.4, 0.4)


class Receipt:
    name = "receipt"

    def __init__(self, inv: Invoice, rng: random.Random, variation=None):
        self.inv = inv
        self.width = rng.choice([164.0, 204.0, 227.0, 227.0, 260.0])
        self.font = rng.choices(["courier", "helvetica", "vera"], [5, 3, 2])[0]
        self.size = rng.choice([6.5, 7.0, 7.5, 8.0]) if self.width > 170 else rng.choice([6.0, 6.5])
        self.margin = rng.choice([8.0, 10.0, 12.0])
        self.center = rng.random() < 0.7
        self.name_upper = rng.random() < 0.5
        self.name_size = self.size + rng.choice([2.0, 3.0, 4.0, 5.0])
        self.two_line_name = len(inv.vendor.name.split()) > 1 and rng.random() < 0.3
        self.rule = rng.choice(["-", "=", "*", "line"])
        self.item_style = rng.choice(["one_line", "two_line"])
        self.vat_style = rng.choice(["table", "lines"])
        self.date_first = rng.random() < 0.6
        self.number_first = rng.random() < 0.5
        self.item_count = rng.random() < 0.3
        self.subtotal = rng.random() < 0.3
        self.title_line = rng.random() < 0.5 and bool(inv.label("title"))
        self.total_bold = rng.random() < 0.7
        self.variation = {k: v for k, v in vars(self).items() if k != "inv"}

    # --- drawing ---------------------------------------------------------------------------
    def render(self, total_pages: int | None) -> tuple[bytes, int]:
        height = self._draw(None)
        self._draw(height)
        return self.pdf.finish(), 1

    def _draw(self, height: float | None) -> float:
        inv = self.inv
        self.pdf = pdf = Pdf((self.width, height or 4000.0), self.font, f"{inv.label('title')} {inv.invoice_number}")
        self.y = self.margin + self.name_size
        v = inv.vendor
        name = v.name.upper() if self.name_upper else v.name
        words = name.split()
        lines = [name]
        if self.two_line_name or pdf.width(name, self.name_size, True) > self.width - 2 * self.margin:
            cut = max(1, len(words) // 2)
            lines = [" ".join(words[:cut]), " ".join(words[cut:])]
        for line in lines:
            self.head(line, self.name_size, True)
        for line in v.address_lines:
            self.head(line, self.size)
        self.head(f"{inv.label('phone')} {v.phone}", self.size)
        if v.vat_id_printed:
            self.head(f"{inv.vat_id_label} {v.vat_id_printed}", self.size)
        self.y += 4
        if self.title_line:
            self.head(inv.label("title"), self.size + 1, True)
        self.separator()
        if self.date_first:
            self.date_block()
        if self.number_first:
            self.pair(inv.label("invoice_number"), inv.invoice_number)
        self.separator()
        for item in inv.items:
            self.item(item)
        self.separator()
        if self.subtotal:
            self.pair(inv.label("subtotal"), inv.m(inv.total))
        # With bare amounts the total line names the currency ("SUMME EUR"), as tills print it.
        total_label = inv.label("total")
        if inv.money.placement == "none" and inv.currency not in total_label:
            total_label = f"{total_label} {inv.currency}"
        self.pair(total_label, inv.m(inv.total), size=self.size + 2 if self.total_bold else self.size,
                  bold=self.total_bold)
        x = inv.extra
        if x["card"]:
            self.pair(inv.label("card"), inv.m(inv.total, False))
            self.line_text(f"TID {x['terminal']}", GREY)
        else:
            self.pair(inv.label("cash"), inv.m(x["tendered"], False))
            self.pair(inv.label("change"), inv.m(x["change"], False))
        if self.item_count:
            n = sum(i.quantity for i in inv.items)
            self.pair(inv.label("items"), inv.num(n, None))
        self.separator()
        self.vat_summary()
        if not self.number_first:
            self.pair(inv.label("invoice_number"), inv.invoice_number)
        if not self.date_first:
            self.date_block()
        cashier = f"{inv.label('cashier')} {x['cashier']}"
        self.line_text(cashier, GREY)
        self.y += 4
        self.head(inv.label("thanks"), self.size)
        if inv.register:
            self.head(inv.register, self.size - 1)
        if v.website:
            self.head(v.website, self.size - 1)
        return self.y + self.margin

    def head(self, text: str, size: float, bold: bool = False) -> None:
        pdf = self.pdf
        while text and pdf.width(text, size, bold) > self.width - 2 * self.margin and size > 4.5:
            size -= 0.5
        if self.center:
            pdf.text(self.width / 2, self.y, text, size=size, bold=bold, align="center")
        else:
            pdf.text(self.margin, self.y, text, size=size, bold=bold)
        self.y += size + 3

    def line_text(self, text: str, color=None) -> None:
        self.pdf.text(self.margin, self.y, text, size=self.size, color=color or Color(0, 0, 0))
        self.y += self.size + 3

    def pair(self, label: str, value: str, size: float | None = None, bold: bool = False) -> None:
        size = size or self.size
        if label:
            self.pdf.text(self.margin, self.y, label, size=size, bold=bold)
        self.pdf.text(self.width - self.margin, self.y, value, size=size, bold=bold, align="right")
        self.y += size + 3

    def separator(self) -> None:
        pdf = self.pdf
        if self.rule == "line":
            pdf.line(self.margin, self.y - self.size / 2, self.width - self.margin, self.y - self.size / 2, 0.4)
        else:
            n = int((self.width - 2 * self.margin) / pdf.width(self.rule, self.size))
            pdf.text(self.margin, self.y, self.rule * n, size=self.size)
        self.y += self.size + 2

    def date_block(self) -> None:
        inv = self.inv
        d, t = inv.d(inv.invoice_date), inv.extra["time"]
        dl, tl = inv.label("date"), inv.label("time")
        if dl and tl:
            self.pair(f"{dl} {d}", f"{tl} {t}")
        elif dl:
            self.pair(dl, f"{d} {t}")
        else:
            self.pair(d, t)

    def item(self, item) -> None:
        inv, pdf = self.inv, self.pdf
        desc = item.description
        amount = inv.m(item.amount, False)
        room = self.width - 2 * self.margin - pdf.width(amount, self.size) - 8
        if self.item_style == "one_line":
            # The description as the truth has it: smaller type where the slip is narrow, never cut.
            size = self.size
            while pdf.width(desc, size) > room and size > 4.5:
                size -= 0.25
            self.pdf.text(self.margin, self.y, desc, size=size)
            self.pdf.text(self.width - self.margin, self.y, amount, size=self.size, align="right")
            self.y += self.size + 3
            if item.quantity != 1:
                self.pdf.text(self.margin + 8, self.y, f"{inv.num(item.quantity, None)} x "
                              f"{inv.m(item.unit_price, False)}", size=self.size - 0.5, color=GREY)
                self.y += self.size + 2
            return
        self.line_text(desc)
        self.pdf.text(self.margin + 10, self.y, f"{inv.num(item.quantity, None)} x {inv.m(item.unit_price, False)}",
                      size=self.size)
        self.pdf.text(self.width - self.margin, self.y, amount, size=self.size, align="right")
        self.y += self.size + 3

    def vat_summary(self) -> None:
        inv, pdf = self.inv, self.pdf
        rows = inv.vat_by_rate
        if self.vat_style == "lines":
            for r, _base, tax in rows:
                self.pair(inv.label("vat_summary", rate=inv.rate(r)), inv.m(tax, False))
            return
        span = self.width - 2 * self.margin
        xs = [self.margin + span * 0.22, self.margin + span * 0.5, self.margin + span * 0.75, self.width - self.margin]
        heads = ["%", inv.label("net"), "MwSt" if inv.language == "de" else "VAT" if inv.language == "en" else
                 {"fr": "TVA", "es": "IVA", "nl": "BTW"}[inv.language], inv.label("gross")]
        for x, h in zip(xs, heads):
            pdf.text(x, self.y, h, size=self.size - 0.5, align="right", color=GREY)
        self.y += self.size + 2
        for r, base, tax in rows:
            for x, val in zip(xs, (inv.rate(r), inv.m(base, False), inv.m(tax, False), inv.m(base + tax, False))):
                pdf.text(x, self.y, val, size=self.size - 0.5, align="right")
            self.y += self.size + 2
        self.y += 2
