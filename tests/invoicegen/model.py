"""The invoice as data: parties, dates, items and exact Decimal arithmetic, plus the
ground truth the pipeline is scored against."""
from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal

from . import ids
from .formatting import DateStyle, MoneyStyle, cents, format_number, format_rate
from .locales import (COUNTRIES, ITEMS, LABELS, LANGUAGE_COUNTRIES, Country, Party, address_lines,
                      company_name, email_for, person_name, tld)


@dataclass
class Item:
    description: str
    unit: str
    quantity: Decimal
    unit_price: Decimal
    rate: Decimal  # percent
    code: str

    @property
    def amount(self) -> Decimal:
        return cents(self.quantity * self.unit_price)


@dataclass
class Invoice:
    seed: int
    language: str
    country: Country
    vendor: Party
    customer: Party
    currency: str
    money: MoneyStyle
    dates: DateStyle
    number_style: str
    invoice_number: str
    invoice_date: date
    due_date: date | None
    order_date: date | None
    delivery_date: date | None
    purchase_order: str | None
    customer_number: str | None
    payment_terms: str | None
    bank: ids.BankAccount
    show_bic: bool
    items: list[Item]
    prepaid_fraction: Decimal | None
    labels: dict[str, str]
    show_tax_column: bool = True
    attention: str | None = None
    register: str | None = None
    notes: list[str] = field(default_factory=list)
    # --- the varied generator's documents (defaults: the classic invoice) ----------------
    document_type: str = "invoice"  # invoice | credit_note | receipt
    prices_gross: bool = False  # line prices include VAT (receipts): VAT is extracted per rate
    # How the due date is printed: label (a label/value pair), sentence ("Please pay by ..."),
    # terms (only payment terms; the truth's due date is derived from them), none.
    due_print: str = "label"
    credit_ref: str | None = None  # the invoice a credit note corrects (a distractor number)
    has_customer: bool = True
    has_bank: bool = True
    meta_order: tuple[str, ...] | None = None  # print order of the header pairs (varied)
    extra: dict = field(default_factory=dict)  # receipt details (time, cashier, payment, ...)

    # --- arithmetic (exact, in Decimal) -------------------------------------------------
    @property
    def net(self) -> Decimal:
        if self.prices_gross:
            return sum((b for _, b, _ in self.vat_by_rate), Decimal("0.00"))
        return sum((i.amount for i in self.items), Decimal("0.00"))

    @property
    def vat_by_rate(self) -> list[tuple[Decimal, Decimal, Decimal]]:
        """(rate, net at that rate, tax) per rate, highest rate first. Tax is rounded per
        rate, as invoicing software does and as EU VAT rules allow. With gross prices
        (receipts) the tax is the part of the gross sum at that rate: gross * r / (100 + r)."""
        rates = sorted({i.rate for i in self.items}, reverse=True)
        out = []
        for r in rates:
            base = sum((i.amount for i in self.items if i.rate == r), Decimal("0.00"))
            if self.prices_gross:
                tax = cents(base * r / (Decimal(100) + r))
                out.append((r, base - tax, tax))
            else:
                out.append((r, base, cents(base * r / Decimal(100))))
        return out

    @property
    def vat(self) -> Decimal:
        return sum((t for _, _, t in self.vat_by_rate), Decimal("0.00"))

    @property
    def total(self) -> Decimal:
        return self.net + self.vat

    @property
    def prepaid(self) -> Decimal | None:
        if self.prepaid_fraction is None:
            return None
        return cents(self.total * self.prepaid_fraction)

    @property
    def amount_due(self) -> Decimal:
        return self.total - (self.prepaid or Decimal("0.00"))

    # --- printing helpers ----------------------------------------------------------------
    def label(self, key: str, **kw) -> str:
        text = self.labels[key]
        return text.format(**kw) if kw else text

    def m(self, value: Decimal, with_currency: bool = True) -> str:
        return self.money.format(value, with_currency)

    def d(self, value: date) -> str:
        return self.dates.format(value)

    def num(self, value: Decimal, places: int | None = 2) -> str:
        return format_number(value, self.number_style, places)

    def rate(self, rate: Decimal) -> str:
        sep = "" if self.language == "en" or self.country.code == "US" else " "
        return f"{format_rate(rate, self.number_style)}{sep}%"

    def vat_label(self, rate: Decimal) -> str:
        key = "vat_us" if self.country.code == "US" else "vat"
        return self.labels[key].format(rate=self.rate(rate))

    @property
    def total_label(self) -> str:
        return self.labels["total_us"] if self.country.code == "US" else self.labels["total"]

    @property
    def vat_id_label(self) -> str:
        return self.labels["vat_id_us"] if self.country.code == "US" else self.labels["vat_id"]

    def meta_pairs(self, distractors: bool = True) -> list[tuple[str, str]]:
        """The header's label/value pairs in print order; dates that are not the invoice or
        due date (order, delivery) are distractors."""
        keyed = [("invoice_number", (self.label("invoice_number"), self.invoice_number)),
                 ("invoice_date", (self.label("invoice_date"), self.d(self.invoice_date)))]
        if self.due_date is not None and self.due_print == "label":
            keyed.append(("due_date", (self.label("due_date"), self.d(self.due_date))))
        if self.customer_number and distractors:
            keyed.append(("customer_number", (self.label("customer_number"), self.customer_number)))
        if self.purchase_order:
            keyed.append(("purchase_order", (self.label("purchase_order"), self.purchase_order)))
        if distractors and self.order_date:
            keyed.append(("order_date", (self.label("order_date"), self.d(self.order_date))))
        if distractors and self.delivery_date:
            keyed.append(("delivery_date", (self.label("delivery_date"), self.d(self.delivery_date))))
        if self.meta_order is not None:
            rank = {k: i for i, k in enumerate(self.meta_order)}
            keyed.sort(key=lambda kp: rank.get(kp[0], len(rank)))
        return [pair for _, pair in keyed]

    def bank_pairs(self) -> list[tuple[str, str]]:
        b = self.bank
        pairs = [(self.label("bank"), b.bank_name)]
        if b.iban_printed:
            pairs.append((self.label("iban"), b.iban_printed))
        if self.show_bic and b.bic:
            pairs.append((self.label("bic"), b.bic))
        if self.country.code == "US":
            pairs.append((self.label("routing"), b.bank_code or ""))
            pairs.append((self.label("account_no"), b.account_number or ""))
        elif self.country.code in ("GB",) and b.bank_code:
            pairs.append((self.label("bank_code"), "-".join([_sort_code(b, self.seed)[i:i + 2] for i in (0, 2, 4)])))
        return pairs

    def totals_rows(self) -> list[tuple[str, Decimal, str]]:
        """(label, value, role) for the totals block; role is subtotal|vat|total|prepaid|due."""
        rows: list[tuple[str, Decimal, str]] = [(self.label("subtotal"), self.net, "subtotal")]
        for r, _base, tax in self.vat_by_rate:
            rows.append((self.vat_label(r), tax, "vat"))
        rows.append((self.total_label, self.total, "total"))
        if self.prepaid is not None:
            rows.append((self.label("prepaid"), -self.prepaid, "prepaid"))
            rows.append((self.label("amount_due"), self.amount_due, "due"))
        return rows

    # --- ground truth --------------------------------------------------------------------
    def truth(self) -> dict:
        def f(x: Decimal) -> float:
            return float(cents(x))

        truth = {
            "invoice_number": self.invoice_number,
            "invoice_date": self.invoice_date.isoformat(),
            "due_date": self.due_date.isoformat() if self.due_date else None,
            "vendor_name": self.vendor.name,
            "customer_name": self.customer.name,
            "currency": self.currency,
            "amount": f(self.net),
            "vat": f(self.vat),
            "total": f(self.total),
            "amount_due": f(self.amount_due),
            "vendor_address": ", ".join(self.vendor.address_lines),
            "vendor_tax_id": self.vendor.vat_id,
            "customer_address": ", ".join(self.customer.address_lines),
            "customer_tax_id": self.customer.vat_id,
            "purchase_order": self.purchase_order,
            "payment_terms": self.payment_terms,
            "iban": self.bank.iban,
            "bic": self.bank.bic if self.show_bic else None,
            "line_items": [
                {"description": i.description, "quantity": float(i.quantity), "unit_price": float(i.unit_price),
                 "amount": f(i.amount), "tax_rate": float(i.rate)}
                for i in self.items
            ],
            "document_type": self.document_type,
            # True where the due date is printed nowhere and follows from the payment terms.
            "due_date_derived": self.due_date is not None and self.due_print == "terms",
        }
        if not self.has_customer:
            truth.update(customer_name=None, customer_address=None, customer_tax_id=None)
        if not self.has_bank:
            truth.update(iban=None, bic=None)
        return truth


def _sort_code(bank: ids.BankAccount, seed: int) -> str:
    # GB IBANs carry the sort code as the branch part of the BBAN (after the 4-letter bank).
    return bank.iban[8:14] if bank.iban else f"{seed % 1000000:06d}"


_NUMBER_PATTERNS = {
    "en": ["INV-{y}-{n4}", "INV{n6}", "{n5}", "SI-{n5}", "{y}-{n4}"],
    "de": ["RE-{y}-{n4}", "R{y}{n4}", "{y}/{n4}", "RE{n6}", "{n5}"],
    "fr": ["F{y}-{n5}", "FAC-{n6}", "FA{y}{n4}", "{y}-{n4}"],
    "es": ["FAC-{y}-{n4}", "{y}/{n4}", "A-{n5}", "F{n6}"],
    "nl": ["F{y}-{n4}", "{y}{n5}", "FAC-{n5}", "NL-{y2}-{n4}"],
}


def _invoice_number(rng: random.Random, language: str, year: int) -> str:
    pattern = rng.choice(_NUMBER_PATTERNS[language])
    return pattern.format(y=year, y2=year % 100, n4=f"{rng.randint(1, 9999):04d}",
                          n5=f"{rng.randint(1, 99999):05d}", n6=f"{rng.randint(1, 999999):06d}")


def _pick_labels(rng: random.Random, language: str, country: str,
                 extra: dict[str, list[str]] | None = None) -> dict[str, str]:
    vocab = LABELS[language]
    chosen = {k: rng.choice(v + (extra or {}).get(k, [])) for k, v in vocab.items()}
    if country == "US":
        # US invoices speak of sales tax, never VAT.
        for key in ("vat", "total", "vat_id", "subtotal", "tax"):
            if f"{key}_us" in chosen:
                chosen[key] = chosen[f"{key}_us"]
    # Vocabularies without US keys fall back to the general ones.
    chosen.setdefault("vat_us", chosen["vat"])
    chosen.setdefault("total_us", chosen["total"])
    chosen.setdefault("vat_id_us", chosen["vat_id"])
    chosen.setdefault("routing", chosen.get("bank_code", "Routing"))
    return chosen


def _party(rng: random.Random, language: str, country: Country, foreign_language: str | None,
           with_vat: bool) -> Party:
    name = company_name(rng, language, country)
    vat_c, vat_p = ids.vat_id(rng, country.code) if with_vat else (None, None)
    email, web = email_for(rng, name, tld(country.code))
    return Party(name=name, address_lines=address_lines(rng, country, foreign_language), country=country.code,
                 vat_id=vat_c, vat_id_printed=vat_p, phone=ids.phone(rng, country.code), email=email, website=web)


def build_invoice(seed: int, rng: random.Random, language: str, n_items: int | None = None) -> Invoice:
    """A complete invoice for `language`. `n_items` fixes the number of line items (the
    multi-page search sets it); otherwise a typical single-page count is drawn."""
    country = COUNTRIES[rng.choice(LANGUAGE_COUNTRIES[language])]
    labels = _pick_labels(rng, language, country.code)
    number_style = rng.choice(country.number_styles)
    if language == "en" or country.code == "US":
        number_style = "en"
    # Currency: the country's own, sometimes a foreign one (printed with its code then).
    currency = country.currency
    if rng.random() < 0.12:
        currency = rng.choice([c for c in ("EUR", "USD", "GBP", "CHF") if c != country.currency])
    placements = ["symbol_before", "symbol_after", "code_before", "code_after", "none"]
    if language == "en":
        weights = [5, 0, 2, 1, 2]
    else:
        weights = [1, 5, 1, 3, 2]
    placement = rng.choices(placements, weights)[0]
    # A bare "$" or a CHF "symbol" is only unambiguous in some cases; print the code otherwise.
    if currency == "USD" and country.code != "US" and placement.startswith("symbol"):
        placement = "code_before"
    if currency == "CHF" and placement.startswith("symbol"):
        placement = "code_before" if rng.random() < 0.6 else "code_after"
    money = MoneyStyle(number_style, placement, currency)

    kind = rng.choices(["numeric", "long", "short", "iso"], [6, 2, 1, 1])[0]
    dates = DateStyle(language, country.code, kind, rng.choice(country.date_numeric))

    invoice_date = date(2022, 1, 1) + timedelta(days=rng.randint(0, 365 * 3 + 200))
    has_due = rng.random() < 0.8
    days = rng.choice([7, 10, 14, 14, 30, 30, 30, 45, 60])
    due_date = invoice_date + timedelta(days=days) if has_due else None
    # Payment terms only where they agree with the due date: a due date derivable from
    # printed terms but absent from the truth would make the truth ambiguous.
    payment_terms = labels["terms_days"].format(days=days) if has_due and rng.random() < 0.6 else None
    order_date = invoice_date - timedelta(days=rng.randint(3, 40)) if rng.random() < 0.35 else None
    delivery_date = invoice_date - timedelta(days=rng.randint(0, 10)) if rng.random() < 0.35 else None

    foreign_customer = rng.random() < 0.15
    cust_country = country
    if foreign_customer:
        cust_country = COUNTRIES[rng.choice([c for c in ("DE", "FR", "NL", "BE", "AT", "ES", "GB", "IE", "LU")
                                             if c != country.code])]
    vendor = _party(rng, language, country, None, with_vat=rng.random() < 0.95)
    customer = _party(rng, language if not foreign_customer else _lang_of(cust_country.code, language),
                      cust_country, language if foreign_customer else None,
                      with_vat=rng.random() < (0.6 if foreign_customer else 0.3))
    if customer.name.split()[0] == vendor.name.split()[0]:
        customer.name = company_name(rng, language, cust_country) if foreign_customer else \
            f"{rng.choice(['Globex', 'Initech', 'Umbrella', 'Stark', 'Wayne', 'Hooli', 'Vandelay'])} {rng.choice(cust_country.legal_forms)}"
    attention = f"{labels['attn']} {person_name(rng)}" if rng.random() < 0.15 else None
    vendor.contact = person_name(rng) if rng.random() < 0.3 else None

    bank = ids.bank_account(rng, country.code)
    # Rates: US sales tax is one rate; elsewhere a quarter of invoices mix two VAT rates.
    rates = country.vat_rates
    two_rates = country.code != "US" and rng.random() < 0.25
    # Drawn even when `n_items` is given so the rest of the invoice does not depend on it.
    default_items = rng.choices(range(1, 11), [8, 10, 12, 12, 10, 8, 6, 5, 4, 3])[0]
    n_items = default_items if n_items is None else n_items
    # Items come from their own stream so that an invoice with k+1 items equals the one with
    # k items plus one row: the multi-page search varies k and nothing else.
    items = make_items(random.Random(f"{seed}-items"), language, rates, two_rates, n_items)
    show_tax_column = two_rates or rng.random() < 0.4

    prepaid_fraction = Decimal(rng.choice([20, 25, 30, 40, 50])) / 100 if rng.random() < 0.12 else None
    year = invoice_date.year
    inv = Invoice(
        seed=seed, language=language, country=country, vendor=vendor, customer=customer, currency=currency,
        money=money, dates=dates, number_style=number_style,
        invoice_number=_invoice_number(rng, language, year), invoice_date=invoice_date, due_date=due_date,
        order_date=order_date, delivery_date=delivery_date,
        purchase_order=(rng.choice(["PO-", "PO", "BE-", "4500", ""]) + str(rng.randint(10000, 999999)))
        if rng.random() < 0.45 else None,
        customer_number=(rng.choice(["KD-", "C", "CUST-", ""]) + str(rng.randint(1000, 99999)))
        if rng.random() < 0.6 else None,
        payment_terms=payment_terms, bank=bank, show_bic=rng.random() < 0.8, items=items,
        prepaid_fraction=prepaid_fraction, labels=labels, show_tax_column=show_tax_column,
        attention=attention, register=ids.register_number(rng, country.code),
    )
    return inv


def _lang_of(country: str, fallback: str) -> str:
    return {"DE": "de", "AT": "de", "FR": "fr", "LU": "fr", "BE": "nl", "NL": "nl", "ES": "es",
            "GB": "en", "IE": "en"}.get(country, fallback)


def make_items(rng: random.Random, language: str, rates: tuple[Decimal, ...], two_rates: bool, n: int) -> list[Item]:
    items_src = ITEMS[language]
    items = []
    for _ in range(n):
        desc, unit, (lo, hi) = items_src[rng.randrange(len(items_src))]
        if unit in ("h", "Std.", "uur") and rng.random() < 0.4:
            qty = Decimal(rng.randint(1, 80)) / 2
        elif unit in ("lump sum", "pausch.", "forfait", "global", "vast", "year", "Jahr", "an", "año", "jaar"):
            qty = Decimal(1)
        else:
            qty = Decimal(rng.choice([1, 1, 1, 2, 2, 3, 4, 5, 6, 10, 12, 20, 25]))
        price = Decimal(rng.randint(lo, hi)) if rng.random() < 0.5 else Decimal(rng.randint(lo * 100, hi * 100)) / 100
        rate = rates[0] if not two_rates else rng.choice(rates[:2])
        code = f"{rng.choice('ABCDEFHKMNPRST')}{rng.randint(1000, 99999)}"
        items.append(Item(desc, unit, qty, price, rate, code))
    if two_rates and len(items) > 1 and len({i.rate for i in items}) == 1:
        items[-1].rate = rates[1] if items[0].rate == rates[0] else rates[0]
    return items
