"""Stage 4: validate and normalize the predicted fields (dates, amounts, currency, IDs,
derived values, line items).

Day/month order of numeric dates is decided once per document from evidence, strongest
first: a date on the page that reads only one way (a part > 12), the language of the
labels (German, French, Spanish, Dutch write day first), the currency (USD: month first;
EUR, GBP, CHF...: day first). With no evidence a date that reads both ways keeps a
lower confidence and an `error`, so the evaluation stage sends it to review.
"""
from __future__ import annotations

import logging
import re
from dataclasses import asdict, dataclass
from datetime import date, timedelta

from invoice.scanner.processing.extract import doctype
from invoice.scanner.processing.extract.labels import detect_language, match_label, norm
from invoice.scanner.processing.extract.normalize import (CURRENCY_CODES, clean_text, currency_in,
                                                          date_order_from_dates, detect_decimal_separator,
                                                          find_dates, parse_amount, parse_date, plausible_year,
                                                          terms_days, validate_bic, validate_iban, validate_tax_id)
from invoice.scanner.processing.db import review as review_db
from invoice.scanner.processing.db.review import Locks
from invoice.scanner.processing.extract import vendor_memory
from invoice.scanner.processing.einvoice import flow as einvoice_flow
from invoice.scanner.processing.fields import DOCUMENT_TYPE, FIELD_BY_NAME, FIELD_NAMES
from invoice.scanner.processing.models import (Extraction, FieldPrediction, NormalizedField, NormalizedLineItem,
                                               OcrPage, Prediction)
from invoice.scanner.processing.runner import StageContext, StageOutcome, run_stage, stage_task

logger = logging.getLogger(__name__)

_MONTH_FIRST_CURRENCIES = {"USD"}
_DAY_FIRST_LANGUAGES = {"de", "fr", "es", "nl"}


@dataclass(frozen=True)
class DocumentConventions:
    decimal_sep: str | None
    date_order: str | None  # DMY | MDY | None
    date_evidence: str  # dates | language | country | currency | none
    language: str
    ref_year: int | None = None  # the year of the document's four-digit dates: the century of "12.03.24"


def conventions(prediction: Prediction, pages: list[OcrPage]) -> DocumentConventions:
    texts = [p.text for p in pages] or [f.value for f in prediction.fields.values() if f.value]
    decimal_sep = detect_decimal_separator(texts)
    all_text = "\n".join(texts)
    language = detect_language(all_text)
    raws = [raw for t in texts for raw, _, _ in find_dates(t)]
    raws += [f.value for f in prediction.fields.values() if f.value and FIELD_BY_NAME.get(f.name)
             and FIELD_BY_NAME[f.name].kind == "date"]
    ref_year = _reference_year(raws)
    order = date_order_from_dates(raws)
    if order:
        return DocumentConventions(decimal_sep, order, "dates", language, ref_year)
    if language in _DAY_FIRST_LANGUAGES:
        return DocumentConventions(decimal_sep, "DMY", "language", language, ref_year)
    country = _vendor_country(prediction, all_text)
    if country:
        return DocumentConventions(decimal_sep, "MDY" if country == "US" else "DMY", "country", language, ref_year)
    cur_field = prediction.fields.get("currency")
    cur = currency_in(cur_field.value) if cur_field and cur_field.value else currency_in(all_text)
    if cur:
        return DocumentConventions(decimal_sep, "MDY" if cur in _MONTH_FIRST_CURRENCIES else "DMY", "currency",
                                   language, ref_year)
    return DocumentConventions(decimal_sep, None, "none", language, ref_year)


def _reference_year(raws: list[str]) -> int | None:
    """The most common plausible four-digit year among the document's dates, if any."""
    years = [int(m.group(1)) for r in raws for m in [re.search(r"(?<!\d)((?:19|20)\d{2})(?!\d)", r)] if m]
    years = [y for y in years if plausible_year(y)]
    return max(set(years), key=years.count) if years else None


# A state's code and its ZIP on one line ("Austin, TX 78701"): only the states' own codes, so an
# invoice number ("CS 24198") or a label over a number on the next line ("NO" / "10256") is none.
_US_STATES = ("AL AK AZ AR CA CO CT DE DC FL GA HI ID IL IN IA KS KY LA ME MD MA MI MN MS MO MT NE NV NH NJ "
              "NM NY NC ND OH OK OR PA RI SC SD TN TX UT VT VA WA WV WI WY").split()
_US_HINTS = re.compile(r"\b(?:[Rr]outing|ROUTING|ABA|EIN|Federal Tax ID|Sales Tax|SALES TAX)\b"
                       r"|\b(?:" + "|".join(_US_STATES) + r")[ \t]\d{5}(?:-\d{4})?\b")


# Legal forms that exist in one country only (or in a few, all of them day first): the issuer's
# name says where it is registered. "Ltd", "Inc" and "S.A." are used in too many countries.
_LEGAL_FORM_COUNTRY = (
    (re.compile(r"\b(?:SDN\.?\s*BHD|BERHAD|BHD)\b|\bS/B\b", re.I), "MY"),
    (re.compile(r"\bPTE\.?\s*LTD\b", re.I), "SG"),
    (re.compile(r"\bPTY\.?\s*LTD\b", re.I), "AU"),
    (re.compile(r"\b(?:GMBH|UG \(haftungsbeschr[äa]nkt\))\b", re.I), "DE"),
    (re.compile(r"\bPVT\.?\s*LTD\b", re.I), "IN"),
)


def _vendor_country(prediction: Prediction, all_text: str) -> str | None:
    """The issuer's country from what it prints about itself: an IBAN or a VAT number
    (Europe: day first), US-only details (EIN, routing number, state + ZIP), or a legal form of
    one country in its own name ("… Sdn Bhd": Malaysia)."""
    for name in ("iban", "vendor_tax_id"):
        f = prediction.fields.get(name)
        if f and f.value:
            v = re.sub(r"[\s.\-]", "", f.value).upper()
            if re.match(r"^[A-Z]{2}\d", v) or v.startswith("CHE"):
                return v[:2]
            if re.fullmatch(r"\d{2}-?\d{7}", f.value.strip()):
                return "US"
    if _US_HINTS.search(all_text):
        return "US"
    vendor = prediction.fields.get("vendor_name")
    if vendor is not None and vendor.value:
        for form, country in _LEGAL_FORM_COUNTRY:
            if form.search(str(vendor.value)):
                return country
    return None


def _text(value: str) -> str | None:
    t = re.sub(r"\s+", " ", clean_text(value)).strip(" ,;:")
    return t or None


def normalize_field(fp: FieldPrediction, conv: DocumentConventions) -> NormalizedField:
    spec = FIELD_BY_NAME[fp.name]
    nf = NormalizedField(name=fp.name, value=None, raw_value=fp.value, confidence=fp.confidence,
                         page=fp.page, bbox=fp.bbox)
    if fp.value is None or not str(fp.value).strip():
        nf.raw_value = None
        nf.confidence = fp.confidence if fp.value is None else 0.0
        return nf
    raw = str(fp.value)
    if spec.kind == "date":
        parsed = parse_date(raw, conv.date_order, (conv.language,), conv.ref_year)
        if parsed is None:
            nf.valid, nf.error, nf.confidence = False, f"unreadable date {raw!r}", fp.confidence * 0.3
            return nf
        nf.value = parsed.iso
        if not plausible_year(int(parsed.iso[:4])):
            # "1812" from "18 12", a year far in the future: a misread, never a real invoice date.
            nf.valid, nf.error, nf.confidence = False, f"implausible year in {raw!r}", fp.confidence * 0.3
            return nf
        if parsed.ambiguous:
            nf.confidence = fp.confidence * 0.5
            nf.error = (f"ambiguous date {raw!r}: day/month order unknown, read as "
                        f"{'day' if parsed.order_used == 'DMY' else 'month'} first")
        elif parsed.order_used and conv.date_evidence == "currency" and _both_le_12(raw):
            # The order came from the currency only: right most of the time, not always.
            nf.confidence = fp.confidence * 0.9
    elif spec.kind == "amount":
        v = parse_amount(raw, conv.decimal_sep)
        if v is None:
            nf.valid, nf.error, nf.confidence = False, f"unreadable amount {raw!r}", fp.confidence * 0.3
        else:
            nf.value = v
    elif spec.kind == "currency":
        code = raw.strip().upper() if raw.strip().upper() in CURRENCY_CODES else currency_in(raw)
        if code is None:
            nf.valid, nf.error = False, f"unknown currency {raw!r}"
        nf.value = code
    elif spec.kind == "iban":
        nf.value, err = validate_iban(raw)
        if err:
            nf.valid, nf.error = False, err
    elif spec.kind == "bic":
        nf.value, err = validate_bic(raw)
        if err:
            nf.valid, nf.error = False, err
    elif spec.kind == "tax_id":
        nf.value, err = validate_tax_id(raw)
        if err:
            nf.valid, nf.error = False, err
    else:
        nf.value = _text(raw)
    return nf


def _both_le_12(raw: str) -> bool:
    m = re.search(r"(\d{1,2})[./-](\d{1,2})[./-]\d{2,4}", raw)
    return bool(m and int(m.group(1)) <= 12 and int(m.group(2)) <= 12 and m.group(1) != m.group(2))


def _amount(f: NormalizedField) -> float | None:
    """The field's value when it is a valid amount."""
    return f.value if f.valid and isinstance(f.value, (int, float)) else None


def _derived(name: str, value: float, conf: float, page: int | None) -> NormalizedField:
    """An amount computed from others: no raw value, so reviewers and the checks know it was not read."""
    return NormalizedField(name=name, value=round(value, 2), raw_value=None, confidence=round(conf, 3),
                           page=page, bbox=None, valid=True, error=None)


def _derive(fields: dict[str, NormalizedField]) -> None:
    """Fill net / VAT / total / amount due from the other two when one is missing."""
    def val(name: str) -> float | None:
        return _amount(fields[name])

    def put(name: str, value: float, conf: float, src: NormalizedField) -> None:
        fields[name] = _derived(name, value, conf, src.page)

    net, vat, total = val("amount"), val("vat"), val("total")
    if net is None and vat is not None and total is not None and fields["amount"].raw_value is None:
        put("amount", total - vat, 0.95 * min(fields["vat"].confidence, fields["total"].confidence), fields["total"])
    elif vat is None and net is not None and total is not None and fields["vat"].raw_value is None:
        put("vat", total - net, 0.95 * min(fields["amount"].confidence, fields["total"].confidence), fields["total"])
    elif total is None and net is not None and vat is not None and fields["total"].raw_value is None:
        put("total", net + vat, 0.9 * min(fields["amount"].confidence, fields["vat"].confidence), fields["amount"])
    total = val("total")
    if val("amount_due") is None and fields["amount_due"].raw_value is None and total is not None:
        put("amount_due", total, fields["total"].confidence, fields["total"])


# Standard and reduced VAT / GST / sales-tax rates in use (percent): evidence that a tax amount
# is a share of another amount, not a proof (a rate printed on the page would be).
TAX_RATES = (2.5, 3, 3.7, 4, 5, 5.5, 6, 7, 7.7, 8, 8.1, 9, 10, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23,
             24, 25, 27)


def _tax_included(fields: dict[str, NormalizedField], locks: Locks | None) -> None:
    """A net amount read equal to the total while a tax was read too: net + tax = total cannot
    hold. When the tax is the share of the total that a tax rate includes (15.90 at 6 %: 0.90),
    the price was printed with the tax in it ("Total incl. GST 15.90", "GST 6 % 0.90") and the
    net is what the total leaves: derived, as the other derivations are."""
    net, vat, total = fields["amount"], fields["vat"], fields["total"]
    if locks and "amount" in locks.fields:
        return
    vals = [_amount(f) for f in (net, vat, total)]
    if any(v is None for v in vals):
        return
    n, v, t = vals
    if abs(n - t) > 0.005 or not 0 < abs(v) < abs(t):
        return
    if any(abs(abs(t) * r / (100 + r) - abs(v)) <= 0.011 for r in TAX_RATES):
        fields["amount"] = _derived("amount", t - v, 0.95 * min(vat.confidence, total.confidence), total.page)


# A tax breakdown: the table of rate, base and tax that a till slip or an invoice prints under its
# total ("GST Summary | Amount(RM) Tax(RM) | S = 6% 35.00 2.10", "MwSt% Netto MwSt Brutto |
# A 19% 8,40 1,60 10,00"), often the only place the tax is printed. Its heading names the tax and
# a summary, or its column header names a base and a tax.
_TAX_WORD = r"(gst|vat|tax|mwst|ust|tva|iva|btw|sst|steuer|igic)"
_BREAKDOWN_HEADING = re.compile(
    rf"(?i)^\W*{_TAX_WORD}[\s.-]*(summ(ary)?|analysis|breakdown|details?|übersicht|ubersicht|aufstellung|"
    r"r[ée]capitulatif|resumen|desglose|overzicht|specificatie)\b")
_BREAKDOWN_HEADER = re.compile(
    rf"(?i)(?<![a-z])(amt|amount|net|netto|nett|base|basis|ht|excl|importe|grondslag)(?![a-z]).*(?<![a-z]){_TAX_WORD}(?![a-z])"
    rf"|(?<![a-z]){_TAX_WORD}\W*(%|satz|rate|taux|tarif)")
_RATE_TOKEN = re.compile(r"(?<![\d.,])(\d{1,2}(?:[.,]\d{1,2})?)\s*%")
_AMOUNT_TOKEN = re.compile(r"(?<![\d.,])-?(\d{1,3}(?:[ .,]\d{3})*|\d*)[.,]\d{2}(?![\d%])")
_BREAKDOWN_LINES = 16


def _breakdown_rows(tokens: list[tuple[str, float]]) -> list[tuple[float, float]]:
    """(base, tax) rows from the breakdown's tokens in reading order: after a rate, a base and
    the tax that rate makes of it (a gross that is their sum is passed over); a row whose numbers
    do not obey their rate ends the table."""
    rows: list[tuple[float, float]] = []
    rate: float | None = None
    i = 0
    while i < len(tokens):
        kind, v = tokens[i]
        if kind == "rate":
            rate, i = v, i + 1
            continue
        if rate is None or i + 1 >= len(tokens) or tokens[i + 1][0] != "amount":
            i += 1
            continue
        base, tax = v, tokens[i + 1][1]
        if abs(base * rate / 100 - tax) > max(0.011, 0.0005 * abs(base)):
            if rows:
                break
            i += 1
            continue
        rows.append((base, tax))
        i += 2
        if i < len(tokens) and tokens[i][0] == "amount" and abs(tokens[i][1] - (base + tax)) <= 0.011:
            i += 1  # the row's gross
        rate = None
    return rows


def _tax_breakdown(fields: dict[str, NormalizedField], pages: list[OcrPage], decimal_sep: str | None,
                   locks: Locks | None) -> None:
    """A total read, no tax read or net and tax that do not add up to it, and a tax breakdown on
    the page whose bases and taxes add up to the total: the tax is the breakdown's, and the net
    its bases' (both summed, so derived: no raw value)."""
    net, vat, total = fields["amount"], fields["vat"], fields["total"]
    if (locks and ("vat" in locks.fields or "amount" in locks.fields)) or not total.valid \
            or not isinstance(total.value, (int, float)):
        return
    if vat.value is not None:
        n, v = _amount(net), _amount(vat)
        if n is not None and v is not None and abs(n + v - total.value) <= 0.011:
            return  # the reading already adds up
    for p in pages:
        for i, ln in enumerate(p.lines):
            text = ln.text.strip()
            if not (_BREAKDOWN_HEADING.match(text) or (_BREAKDOWN_HEADER.search(text) and not re.search(r"\d", text))):
                continue
            tokens: list[tuple[str, float]] = []
            for nxt in p.lines[i + 1:i + 1 + _BREAKDOWN_LINES]:
                t = nxt.text
                rates = list(_RATE_TOKEN.finditer(t))
                for m in sorted([*rates, *_AMOUNT_TOKEN.finditer(t)], key=lambda m: m.start()):
                    if m.re is _RATE_TOKEN:
                        tokens.append(("rate", float(m.group(1).replace(",", "."))))
                    elif not any(r.start() <= m.start() < r.end() for r in rates):
                        v = parse_amount(m.group(0), decimal_sep)
                        if v is not None:
                            tokens.append(("amount", v))
            rows = _breakdown_rows(tokens)
            if not rows:
                continue
            base, tax = round(sum(b for b, _ in rows), 2), round(sum(t for _, t in rows), 2)
            if abs(base + tax - abs(total.value)) > 0.011:
                continue
            sign = -1 if total.value < 0 else 1
            fields["vat"] = _derived("vat", sign * tax, 0.9 * total.confidence, p.page_no)
            fields["amount"] = _derived("amount", sign * base, 0.9 * total.confidence, p.page_no)
            return


# Fields whose label, when printed, promises a value: if none was read, something on the page
# was missed (a value printed over its label, a date in an unusual form), and the document is
# not complete even though every check that can run passes.
_PROMISED = ("invoice_number", "invoice_date", "due_date", "amount", "vat", "total")
_UNREAD = "label on the page but no value read"


def _mark_unread_labels(fields: dict[str, NormalizedField], pages: list[OcrPage], doc_type: str,
                        locks: Locks | None) -> None:
    """A field left empty although its label (a strong one, not "Date" or "Total" alone) opens
    a line of the page: its `error` says so, and evaluation blocks approval on it. Due dates
    also count when a paying sentence carries a date ("Please pay by …")."""
    empty = [n for n in _PROMISED if fields[n].value is None and not (locks and n in locks.fields)
             and not (doc_type == doctype.RECEIPT and n in ("invoice_number", "due_date"))
             and not (doc_type == doctype.CREDIT_NOTE and n == "due_date")]
    if not empty:
        return
    for p in pages:
        for ln in p.lines:
            m = match_label(ln.text, fuzzy=False)
            if m is None or m[1] < 1.0 or m[0] not in empty or fields[m[0]].error:
                continue
            if m[0] == "due_date":
                rest = " ".join(ln.text.split()[m[2]:]).strip(" :.")
                if not re.search(r"\d", rest or _next_line(p, ln)):
                    continue  # "Due: on receipt", "Zahlungsziel: sofort": terms, not a missing date
            f = fields[m[0]]
            f.error = f"{_UNREAD}: {ln.text.strip()[:60]!r} on page {p.page_no}"
            f.page = p.page_no


# A due date printed where no label or sentence the reader knows announces it ("Rogamos efectúen
# el pago no más tarde del 31 de agosto de 2024", values stacked under a block of labels): no due
# date read, but a date on the page after the invoice date that no field took. Most invoices
# print no later date than their own unless it is the due date (dev pools, generator seeds 23 and
# 101 and the ZUGFeRD dev half: 8 of 8 missed due dates have one, 3 of 332 invoices without a due
# date do), so such a date leaves the document incomplete.
_UNPLACED = "a later date that no field took"
_DUE_WINDOW_DAYS = 120
# Labels that name a date other than the due date ("Lieferdatum", "Leistungszeitraum", "Order
# date", "Rechnungsdatum"): a date under one of them is taken by its label, not left unplaced.
_OTHER_DATE_LABELS = frozenset({"invoice_date", "_order_date", "_delivery_date"})


def _mark_unplaced_due_date(fields: dict[str, NormalizedField], pages: list[OcrPage], doc_type: str,
                            conv: DocumentConventions, locks: Locks | None) -> None:
    due, inv = fields["due_date"], fields["invoice_date"]
    if due.value is not None or due.error or (locks and "due_date" in locks.fields) \
            or doc_type in (doctype.RECEIPT, doctype.CREDIT_NOTE):
        return
    if not inv.valid or not isinstance(inv.value, str):
        return
    try:
        start = date.fromisoformat(inv.value)
    except ValueError:
        return
    taken = {f.value for f in fields.values() if isinstance(f.value, str)}
    for p in pages:
        for ln in p.lines:
            if not any(ch.isdigit() for ch in ln.text):
                continue
            found = find_dates(ln.text)
            if found and _claimed_by_label(p, ln, found[0][1]):
                continue  # "Lieferdatum: 30.06.2018", "Leistungszeitraum" over "01.03. - 31.03.2024"
            for raw, _, _ in found:
                parsed = parse_date(raw, conv.date_order, (conv.language,), conv.ref_year)
                if parsed is None or parsed.iso in taken:
                    continue
                try:
                    days = (date.fromisoformat(parsed.iso) - start).days
                except ValueError:
                    continue
                if 0 < days <= _DUE_WINDOW_DAYS:
                    due.error = f"{_UNPLACED}: {ln.text.strip()[:60]!r} on page {p.page_no}"
                    due.page = p.page_no
                    return


def _claimed_by_label(page: OcrPage, line, start: int) -> bool:
    """True when the dates of `line` (the first at `start`) are the value of a label that names
    another date than the due date: the label opens the line before the date, or, when the date
    opens it, the label is a line of its own, the nearest to its left on the same row or else
    the nearest just above it."""
    head = line.text[:start]
    if re.search(r"[^\W\d]", head):
        m = match_label(head, fuzzy=False)
        return m is not None and m[0] in _OTHER_DATE_LABELS
    x0, y0, x1, y1 = line.bbox
    h = max(1.0, y1 - y0)
    left, above = [], []
    for other in page.lines:
        if other is line:
            continue
        ox0, oy0, ox1, oy1 = other.bbox
        if min(y1, oy1) - max(y0, oy0) > 0.5 * h and ox1 <= x0 + 1 and x0 - ox1 < 20 * h:
            left.append((x0 - ox1, other))
        elif 0 <= y0 - oy1 <= 2.0 * h and min(x1, ox1) - max(x0, ox0) > 0:
            above.append((y0 - oy1, other))
    for near in (left, above):
        if not near:
            continue
        label = min(near, key=lambda t: t[0])[1]
        m = match_label(label.text, fuzzy=False)
        if m is not None and m[2] >= len(norm(label.text).split()):
            return m[0] in _OTHER_DATE_LABELS  # a label alone on its line: this date's
    return False


def _next_line(page: OcrPage, line) -> str:
    i = page.lines.index(line)
    return page.lines[i + 1].text if i + 1 < len(page.lines) else ""


def _credit_note_signs(fields: dict[str, NormalizedField], locks: Locks | None) -> None:
    """A credit note's amounts are negative whether it prints them with a minus or not."""
    for name in ("amount", "vat", "total", "amount_due"):
        f = fields[name]
        if isinstance(f.value, (int, float)) and f.value > 0 and not (locks and name in locks.fields):
            f.value = -f.value


def _derive_due_date(fields: dict[str, NormalizedField], locks: Locks | None) -> None:
    """No due date printed, but terms that count days ("payable within 30 days", "Net 30"):
    the due date is the invoice date plus those days. Stored with no raw value, so the API
    reports it as derived."""
    due, inv, terms = fields["due_date"], fields["invoice_date"], fields["payment_terms"]
    if locks and "due_date" in locks.fields:
        return  # a person's due date, or a person's "there is none"
    if due.value is not None or due.raw_value is not None or not inv.valid or not isinstance(inv.value, str):
        return
    days = terms_days(terms.raw_value)
    if days is None:
        return
    try:
        value = (date.fromisoformat(inv.value) + timedelta(days=days)).isoformat()
    except ValueError:
        return
    fields["due_date"] = NormalizedField(name="due_date", value=value, raw_value=None,
                                         confidence=round(0.9 * min(inv.confidence, terms.confidence), 3),
                                         page=terms.page, bbox=terms.bbox)


def _num(raw: str | None, decimal_sep: str | None, percent: bool = False) -> float | None:
    if raw is None or not str(raw).strip():
        return None
    s = str(raw).replace("%", "").strip()
    if percent:
        # A rate is below 100 and may have three decimals (8.875 % sales tax): whichever mark
        # separates them is the decimal mark, and it is not rounded to cents.
        m = re.fullmatch(r"(\d{1,2})(?:[.,](\d{1,3}))?", s)
        if m:
            return float(f"{m.group(1)}.{m.group(2) or 0}")
    v = parse_amount(s, decimal_sep)
    if v is None:
        m = re.search(r"-?\d+(?:[.,]\d+)?", s)
        v = float(m.group(0).replace(",", ".")) if m else None
    return v


def extract(prediction: Prediction, pages: list[OcrPage], locks: Locks | None = None) -> Extraction:
    """Normalized fields and line items. A person's `locks` replace what was read (and take
    part in deriving the missing amounts), so re-processing keeps every correction."""
    conv = conventions(prediction, pages)
    fields: dict[str, NormalizedField] = {}
    for name in FIELD_NAMES:
        fp = prediction.fields.get(name) or FieldPrediction(name=name, value=None, confidence=0.0)
        fields[name] = normalize_field(fp, conv)
    if locks:
        fields.update(locks.fields)
    doc_type = doctype.classify(pages, fields["total"].value if fields["total"].valid else None)
    type_field = NormalizedField(name=DOCUMENT_TYPE, value=doc_type.value, raw_value=None,
                                 confidence=doc_type.confidence, page=doc_type.page, bbox=doc_type.bbox)
    if locks and DOCUMENT_TYPE in locks.fields:
        type_field = locks.fields[DOCUMENT_TYPE]  # a person's "this is a credit note" decides
    if type_field.value == doctype.CREDIT_NOTE:
        _credit_note_signs(fields, locks)
    _derive_due_date(fields, locks)
    _tax_included(fields, locks)
    _tax_breakdown(fields, pages, conv.decimal_sep, locks)
    _derive(fields)
    _mark_unread_labels(fields, pages, type_field.value, locks)
    _mark_unplaced_due_date(fields, pages, type_field.value, conv, locks)
    fields[DOCUMENT_TYPE] = type_field
    if locks and locks.line_items is not None:
        return Extraction(fields=fields, line_items=list(locks.line_items))
    items: list[NormalizedLineItem] = []
    for pos, li in enumerate(prediction.line_items, start=1):
        qty = _num(li.quantity, conv.decimal_sep)
        unit = _num(li.unit_price, conv.decimal_sep)
        amount = _num(li.amount, conv.decimal_sep)
        rate = _num(li.tax_rate, conv.decimal_sep, percent=True)
        if amount is None and qty is not None and unit is not None:
            amount = round(qty * unit, 2)
        if unit is None and amount is not None and qty:
            unit = round(amount / qty, 2)
        if type_field.value == doctype.CREDIT_NOTE:
            # A credit note's lines are credits too: negative amounts, quantities as printed, and the
            # unit price's sign the one that keeps quantity x unit price = amount ("-10 x 114.00 =
            # -1,140.00" keeps its positive price; "10 x -262.00" its negative one).
            amount = -abs(amount) if amount is not None else None
            if unit is not None:
                unit = abs(unit) if qty is not None and qty < 0 else -abs(unit)
        items.append(NormalizedLineItem(
            position=pos, description=_text(li.description) if li.description else None,
            quantity=qty, unit_price=round(unit, 2) if unit is not None else None,
            amount=round(amount, 2) if amount is not None else None, tax_rate=rate,
            confidence=li.confidence, page=li.page, bbox=li.bbox))
    logger.debug("extraction conventions %s", conv)
    return Extraction(fields=fields, line_items=items)

# --- task -------------------------------------------------------------------------------

def use_vendor_memory(prediction: Prediction, pages: list[OcrPage], match: vendor_memory.Match | None) -> list[str]:
    """The vendor's memory as a prior on the prediction, in place (see extract/vendor_memory.py)."""
    if match is None:
        return []
    lines = vendor_memory.page_lines(
        {"page_no": p.page_no, "width": p.width, "height": p.height, "lines": [asdict(line) for line in p.lines]}
        for p in pages)
    return vendor_memory.apply_prior(
        prediction.fields, match, lines,
        lambda name, value, conf, page, bbox: FieldPrediction(name=name, value=value, confidence=conf, page=page,
                                                              bbox=bbox))


def _work(ctx: StageContext) -> StageOutcome:
    einvoice = einvoice_flow.at_extraction(ctx)  # an e-invoice's fields are its XML's business terms
    if einvoice is not None:
        return einvoice
    doc_id = str(ctx.document.id)
    prediction, pages = ctx.repo.load_prediction(doc_id), ctx.repo.load_ocr(doc_id)
    with ctx.repo.tx() as cur:
        locks = review_db.load_locks(cur, doc_id)
        match = review_db.vendor_match(cur, str(ctx.document.company_id),
                                       {n: f.value for n, f in prediction.fields.items()})
    from_memory = use_vendor_memory(prediction, pages, match)
    extraction = extract(prediction, pages, locks)
    ctx.repo.save_extraction(doc_id, extraction)
    return StageOutcome(detail={
        "fields": sum(1 for f in extraction.fields.values() if f.value is not None),
        "invalid": sorted(f.name for f in extraction.fields.values() if not f.valid),
        "line_items": len(extraction.line_items),
        "locked": sorted(locks.fields) + (["line_items"] if locks.line_items is not None else []),
        "vendor_memory": {"vendor_id": match.vendor_id, "matched_by": match.matched_by, "used_for": from_memory}
        if match else None,
    })


@stage_task("extraction")
def extract_document(self, document_id: str, run: int) -> str:
    return run_stage(self, "extraction", document_id, run, _work)
