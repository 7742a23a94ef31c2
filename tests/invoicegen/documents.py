"""Documents as they come, for the varied generator: an invoice from `model.build_invoice`
re-dressed with its own random stream (more label synonyms, two-digit years, due dates in
sentences or only implied by payment terms, names with commas and "and"), credit notes
(negative amounts, a reference to the corrected invoice, no due date) and till receipts
(gross prices, the shop as an unlabelled header, no customer, no bank, no due date).

The classic generator never calls this module, so its documents stay what they were."""
from __future__ import annotations

import random
from datetime import timedelta
from decimal import Decimal

from . import ids
from .formatting import DateStyle, cents
from .locales import COUNTRIES, LAST_NAMES, LABELS, LANGUAGE_COUNTRIES, Party, address_lines, email_for, tld
from .model import Invoice, Item, _invoice_number, _pick_labels, build_invoice
from .vocab import CREDIT_LABELS, EXTRA_LABELS, RECEIPT_ITEMS, RECEIPT_LABELS, SHOP_STEMS

DOCUMENT_TYPES: tuple[str, ...] = ("invoice", "credit_note", "receipt")

_AND = {"en": "and", "de": "und", "fr": "et", "es": "y", "nl": "en"}
_PARTNERS = {"en": "Partners", "de": "Partner", "fr": "Associés", "es": "Asociados", "nl": "Partners"}
_META_KEYS = ("invoice_number", "invoice_date", "due_date", "customer_number", "purchase_order", "order_date",
              "delivery_date")


def _two_digit_pattern(rng: random.Random, country: str) -> str:
    if country == "US":
        return "%m/%d/%y"
    if country in ("DE", "AT", "CH"):
        return "%d.%m.%y"
    return rng.choice(["%d/%m/%y", "%d-%m-%y", "%d.%m.%y"])


def _comma_name(rng: random.Random, language: str, legal_forms: tuple[str, ...]) -> str:
    a, b = rng.sample(LAST_NAMES, 2)
    style = rng.random()
    if style < 0.5:
        return f"{a}, {b} {_AND[language]} {_PARTNERS[language]} {rng.choice(legal_forms)}"
    return f"{a} {_AND[language]} {b} {rng.choice(legal_forms)}"


def build_document(seed: int, language: str, document_type: str, n_items: int | None = None) -> Invoice:
    """The document for `seed` in the varied corpus. `n_items` fixes the number of line
    items (the multi-page search sets it); everything else is independent of it."""
    if document_type == "receipt":
        return build_receipt(seed, language, n_items)
    inv = build_invoice(seed, random.Random(f"{seed}-invoice"), language, n_items)
    rng = random.Random(f"{seed}-document")
    country = inv.country
    inv.document_type = document_type
    inv.labels = _pick_labels(rng, language, country.code, EXTRA_LABELS[language])
    if rng.random() < 0.25:
        inv.labels = {k: (v.upper() if k in _META_KEYS or k in ("subtotal", "total", "amount_due") else v)
                      for k, v in inv.labels.items()}
    inv.labels["title"] = rng.choice([inv.labels["title"], inv.labels["title"].upper(),
                                      inv.labels["title"].capitalize()])
    # Dates: a share with two-digit years, the rest as the classic generator drew them.
    if rng.random() < 0.15:
        inv.dates = DateStyle(language, country.code, "numeric", _two_digit_pattern(rng, country.code))
    if rng.random() < 0.12:
        inv.vendor.name = _comma_name(rng, language, country.legal_forms)
        inv.vendor.email, inv.vendor.website = email_for(rng, inv.vendor.name, tld(country.code))
    order = list(_META_KEYS[2:])
    rng.shuffle(order)
    inv.meta_order = tuple(_META_KEYS[:2]) + tuple(order) if rng.random() < 0.5 else \
        tuple(rng.sample(_META_KEYS, len(_META_KEYS)))
    if document_type == "credit_note":
        words = CREDIT_LABELS[language]
        inv.labels["title"] = rng.choice(words["title"])
        inv.labels["invoice_number"] = rng.choice(words["invoice_number"])
        inv.labels["credit_ref"] = rng.choice(words["credit_ref"])
        inv.labels["credit_note"] = rng.choice(words["credit_note"])
        inv.credit_ref = _invoice_number(rng, language, inv.invoice_date.year)
        if inv.credit_ref == inv.invoice_number:
            inv.credit_ref += "-1"
        negate_quantity = rng.random() < 0.5
        for item in inv.items:
            if negate_quantity:
                item.quantity = -item.quantity
            else:
                item.unit_price = -item.unit_price
        inv.due_date, inv.payment_terms, inv.prepaid_fraction, inv.due_print = None, None, None, "none"
        return inv
    if inv.due_date is None:
        inv.due_print = "none"
        return inv
    days = (inv.due_date - inv.invoice_date).days
    inv.due_print = rng.choices(["label", "sentence", "terms"], [55, 25, 20])[0]
    if inv.due_print == "terms":
        # Only the terms are printed; the due date is the invoice date plus the days they name.
        inv.payment_terms = inv.labels["terms_days"].format(days=days)
    elif inv.payment_terms is not None:
        inv.payment_terms = inv.labels["terms_days"].format(days=days)
    return inv


def build_receipt(seed: int, language: str, n_items: int | None = None) -> Invoice:
    """A till receipt: the shop is the header, prices include VAT, paid on the spot."""
    rng = random.Random(f"{seed}-receipt")
    country = COUNTRIES[rng.choice(LANGUAGE_COUNTRIES[language])]
    labels = _pick_labels(rng, language, country.code, EXTRA_LABELS[language])
    labels.update({k: rng.choice(v) for k, v in RECEIPT_LABELS[language].items()})
    number_style = "en" if language == "en" or country.code == "US" else rng.choice(country.number_styles)
    from .formatting import MoneyStyle

    placement = rng.choice(["none", "none", "symbol_after", "symbol_before", "code_after"])
    money = MoneyStyle(number_style, placement, country.currency)
    kind = "numeric"
    pattern = rng.choice(country.date_numeric + (_two_digit_pattern(rng, country.code),) * 2)
    if rng.random() < 0.15:
        kind, pattern = "iso", pattern
    dates = DateStyle(language, country.code, kind, pattern)
    from datetime import date

    invoice_date = date(2022, 1, 1) + timedelta(days=rng.randint(0, 365 * 3 + 200))
    stem = rng.choice(SHOP_STEMS[language])
    name = stem if rng.random() < 0.45 else f"{stem} {rng.choice(country.legal_forms)}"
    vat_c, vat_p = ids.vat_id(rng, country.code) if rng.random() < 0.85 else (None, None)
    email, web = email_for(rng, name, tld(country.code))
    vendor = Party(name=name, address_lines=address_lines(rng, country), country=country.code, vat_id=vat_c,
                   vat_id_printed=vat_p, phone=ids.phone(rng, country.code), email=email, website=web)
    customer = Party(name="", address_lines=[], country=country.code)
    standard, reduced = country.vat_rates[0], country.vat_rates[-1]
    n = rng.choices(range(1, 13), [14, 14, 12, 10, 9, 8, 7, 6, 5, 4, 3, 2])[0]
    n = n if n_items is None else n_items
    irng = random.Random(f"{seed}-receipt-items")
    items = []
    src = RECEIPT_ITEMS[language]
    for _ in range(n):
        desc, (lo, hi), food = src[irng.randrange(len(src))]
        qty = Decimal(irng.choice([1, 1, 1, 1, 2, 2, 3, 4]))
        price = Decimal(irng.randint(lo, hi)) / 100
        rate = reduced if food and country.code != "US" else standard
        items.append(Item(desc, "", qty, price, rate, ""))
    number = rng.choice([f"{rng.randint(1, 9999):04d}", f"{rng.randint(1, 999999):06d}",
                         f"{rng.randint(1, 99):02d}-{rng.randint(1, 99999):05d}", str(rng.randint(100, 99999))])
    bank = ids.BankAccount(None, None, None, "", None, None)
    inv = Invoice(
        seed=seed, language=language, country=country, vendor=vendor, customer=customer,
        currency=country.currency, money=money, dates=dates, number_style=number_style, invoice_number=number,
        invoice_date=invoice_date, due_date=None, order_date=None, delivery_date=None, purchase_order=None,
        customer_number=None, payment_terms=None, bank=bank, show_bic=False, items=items, prepaid_fraction=None,
        labels=labels, show_tax_column=False, register=ids.register_number(rng, country.code) if rng.random() < 0.3
        else None, document_type="receipt", prices_gross=True, due_print="none", has_customer=False,
        has_bank=False)
    paid = inv.total
    card = rng.random() < 0.55
    tendered = paid if card else cents(((paid // 5) + 1) * 5 if paid < 100 else ((paid // 10) + 1) * 10)
    inv.extra = {"time": f"{rng.randint(7, 21):02d}:{rng.randint(0, 59):02d}" + (f":{rng.randint(0, 59):02d}"
                                                                             if rng.random() < 0.4 else ""),
                 "cashier": f"{rng.randint(1, 12)}" if rng.random() < 0.5 else rng.choice(["Anna", "Tom", "Marie",
                                                                                        "Luis", "Sanne"]),
                 "card": card, "tendered": tendered, "change": tendered - paid,
                 "terminal": f"{rng.randint(10000000, 99999999)}"}
    return inv


def labels_for(language: str) -> dict[str, list[str]]:
    """Every label synonym the varied generator may print for `language` (for tests/tools)."""
    out = {k: list(v) + EXTRA_LABELS[language].get(k, []) for k, v in LABELS[language].items()}
    for extra in (CREDIT_LABELS[language], RECEIPT_LABELS[language]):
        for k, v in extra.items():
            out.setdefault(k, []).extend(v)
    return out
