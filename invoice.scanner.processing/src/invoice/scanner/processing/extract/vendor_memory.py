"""Vendor memory: what a person confirmed about a vendor, used on the vendor's next invoices.

A confirmed document teaches, per company: the vendor's name as confirmed, its VAT id,
IBAN and usual currency, and for each field the label it followed and the region of the
page where it sat. The next document from that vendor (recognised by VAT id, then IBAN,
then normalized name) uses this

- as a *prior* in extraction: a field the reader missed or read with low confidence is
  read again where this vendor prints it (after its label, else in its region), and a
  value that agrees with the memory is trusted more;
- as *evidence* in evaluation: "this IBAN was confirmed 12 times for this VAT id"; an IBAN
  that differs from the confirmed one is a fraud signal that blocks approval.

Pure functions over plain data (pages as stored: page_no, width, height, lines with text,
pixel bbox and words), so the API (learning at approval) and the extraction stage share
them without the stage's heavy imports.
"""
from __future__ import annotations

import hashlib
import re
import unicodedata
from dataclasses import dataclass, replace
from typing import Any, Iterable

from invoice.scanner.processing.extract.labels import LEGAL_FORMS
from invoice.scanner.processing.extract.normalize import (DATE_PATTERNS, IBAN_RE, VAT_RE, compact, find_amounts,
                                                          find_dates, parse_amount, parse_date, validate_bic,
                                                          validate_iban, validate_tax_id)
from invoice.scanner.processing.fields import FIELD_BY_NAME

# Fields whose place on the page is learned (identity fields come from the profile itself).
LAYOUT_FIELDS: tuple[str, ...] = ("invoice_number", "invoice_date", "due_date", "amount", "vat", "total",
                                  "amount_due", "purchase_order", "payment_terms", "iban", "vendor_tax_id", "bic")
# Kinds whose values have a shape nothing else on a page has (checksummed identifiers).
STRICT_KINDS = frozenset({"iban", "bic", "tax_id"})
# Below this confidence an extracted value is read again where the vendor prints it.
PRIOR_BELOW = 0.8
PRIOR_CONFIDENCE = 0.9  # a value read at the vendor's remembered place
AGREE_CONFIDENCE = 0.97  # a value the reader found that the remembered place confirms
NAME_CONFIDENCE = 0.97  # the confirmed name of a vendor recognised by VAT id or IBAN


def normalize_name(name: str | None) -> str | None:
    """'ACME Widgets GmbH.' and 'Acme widgets gmbh' -> 'acme widgets'."""
    if not name:
        return None
    text = unicodedata.normalize("NFKD", name)
    text = "".join(c for c in text if not unicodedata.combining(c)).casefold()
    text = LEGAL_FORMS.sub(" ", text)
    text = re.sub(r"[^\w]+", " ", text)
    text = re.sub(r"\s+", " ", text).strip()
    return text or None


def business_key(fields: dict[str, Any]) -> str | None:
    """The identity of an invoice as a business sees it: vendor, number, date and total.
    A re-scan or a forwarded copy has other bytes but the same key. None when a part is missing."""
    vendor = fields.get("vendor_tax_id") or normalize_name(fields.get("vendor_name"))
    number = re.sub(r"[^0-9A-Za-z]", "", str(fields.get("invoice_number") or "")).upper()
    day, total = fields.get("invoice_date"), fields.get("total")
    if not vendor or not number or not day or total is None:
        return None
    try:
        total_text = f"{float(total):.2f}"
    except (TypeError, ValueError):
        return None
    vendor_part = normalize_name(fields.get("vendor_name")) or vendor
    raw = f"{vendor_part}|{number}|{day}|{total_text}"
    return hashlib.sha256(raw.encode()).hexdigest()


# -- pages -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Word:
    text: str
    box: tuple[float, float, float, float]  # fractions of the page


@dataclass(frozen=True)
class Line:
    page: int
    text: str
    box: tuple[float, float, float, float]
    words: tuple[Word, ...]


def page_lines(pages: Iterable[dict[str, Any]]) -> list[Line]:
    """Lines of stored OCR pages with boxes as fractions of the page."""
    out = []
    for p in pages:
        w, h = float(p.get("width") or 1), float(p.get("height") or 1)

        def frac(b) -> tuple[float, float, float, float]:
            return (b[0] / w, b[1] / h, b[2] / w, b[3] / h)

        for line in p.get("lines") or []:
            words = tuple(Word(x["text"], frac(x["bbox"])) for x in line.get("words") or [])
            out.append(Line(int(p["page_no"]), line["text"], frac(line["bbox"]), words))
    return out


def _typed_spans(kind: str, text: str) -> list[tuple[str, int, int]]:
    """Substrings of `text` that are values of `kind`: (raw, start, end)."""
    if kind == "amount":
        return [(raw, s, e) for raw, _, s, e in find_amounts(text)]
    if kind == "date":
        return find_dates(text)
    if kind == "iban":
        return [(m.group(1), m.start(1), m.end(1)) for m in IBAN_RE.finditer(text.upper())]
    if kind == "tax_id":
        return [(m.group(1), m.start(1), m.end(1)) for m in VAT_RE.finditer(text.upper())]
    if kind == "bic":
        return [(m.group(0), m.start(), m.end()) for m in re.finditer(r"(?<![A-Z0-9])[A-Z]{6}[A-Z0-9]{2}(?:[A-Z0-9]{3})?(?![A-Z0-9])", text)]
    m = re.search(r"\S(?:.*\S)?", text)
    return [(m.group(0), m.start(), m.end())] if m else []


def _same(kind: str, raw: str, value: Any) -> bool:
    if value is None:
        return False
    if kind == "amount":
        v = parse_amount(raw)
        try:
            return v is not None and abs(v - float(value)) < 0.005
        except (TypeError, ValueError):
            return False
    if kind == "date":
        if DATE_PATTERNS[1].search(raw):  # numeric: either order may be the one printed
            return any((p := parse_date(raw, order)) is not None and p.iso == value for order in ("DMY", "MDY"))
        parsed = parse_date(raw)
        return parsed is not None and parsed.iso == value
    if kind in ("iban", "tax_id", "bic"):
        return compact(raw) == compact(str(value))
    return re.sub(r"\W+", "", raw).casefold() == re.sub(r"\W+", "", str(value)).casefold()


def _span_box(line: Line, start: int, end: int) -> tuple[float, float, float, float]:
    """The box of characters start..end of a line: its words' boxes, else a share of the line's."""
    pos, boxes = 0, []
    for w in line.words:
        i = line.text.find(w.text, pos)
        if i < 0:
            continue
        if i < end and i + len(w.text) > start:
            boxes.append(w.box)
        pos = i + len(w.text)
    if boxes:
        return (min(b[0] for b in boxes), min(b[1] for b in boxes), max(b[2] for b in boxes), max(b[3] for b in boxes))
    x0, y0, x1, y1 = line.box
    n = max(len(line.text), 1)
    return (x0 + (x1 - x0) * start / n, y0, x0 + (x1 - x0) * end / n, y1)


def _label_before(line: Line, start: int) -> str | None:
    label = re.sub(r"[\s:#.\-]+$", "", line.text[:start]).strip()
    words = label.split()
    label = " ".join(words[-4:])  # the label, not a whole row of other columns
    return label.casefold() if len(label) >= 2 and not re.fullmatch(r"[\d\W]+", label) else None


def locate(name: str, value: Any, lines: list[Line], page: int | None = None,
           bbox: tuple | list | None = None) -> dict[str, Any] | None:
    """Where `value` of field `name` sits: {page, bbox, label}. With the extraction's own
    page and box, the line under it is used; otherwise the value is searched for."""
    kind = FIELD_BY_NAME[name].kind
    candidates = lines
    if page is not None and bbox:
        cx, cy = (bbox[0] + bbox[2]) / 2, (bbox[1] + bbox[3]) / 2
        under = [ln for ln in lines if ln.page == page and ln.box[1] <= cy <= ln.box[3]
                 and ln.box[0] - 0.01 <= cx <= ln.box[2] + 0.01]
        candidates = under + [ln for ln in lines if ln not in under]
    for line in candidates:
        if kind == "text":  # free text: the value itself, wherever it sits in the line
            i = line.text.casefold().find(str(value).casefold())
            spans = [(line.text[i:i + len(str(value))], i, i + len(str(value)))] if i >= 0 else []
        else:
            spans = _typed_spans(kind, line.text)
        for raw, s, e in spans:
            if _same(kind, raw, value):
                return {"page": line.page, "bbox": [round(v, 4) for v in _span_box(line, s, e)],
                        "label": _label_before(line, s)}
    return None


def read_at(name: str, place: dict[str, Any], lines: list[Line], label_only: bool = False) -> str | None:
    """The text of field `name` where the vendor prints it: after its label on the same line
    (rows move when the number of line items changes), else in the remembered region (unless
    `label_only`: a field that is not printed on this invoice leaves its region to other text)."""
    kind = FIELD_BY_NAME[name].kind
    label = place.get("label")
    if label:
        hits = []
        for line in lines:
            i = line.text.casefold().find(label)
            if i < 0:
                continue
            rest = re.sub(r"^[\s:#.\-]+", "", line.text[i + len(label):])
            spans = _typed_spans(kind, rest.split("  ")[0] if kind == "text" else rest)
            if spans:
                hits.append(spans[0][0])
        if len(hits) == 1:  # a label printed twice is no guide
            return hits[0]
    if label_only or not place.get("bbox"):
        return None
    x0, y0, x1, y1 = place["bbox"]
    cy = (y0 + y1) / 2
    for line in lines:
        if line.page != place.get("page", line.page) or not (line.box[1] - 0.005 <= cy <= line.box[3] + 0.005):
            continue
        if kind == "text":  # the words inside the remembered region
            words = [w.text for w in line.words if w.box[2] >= x0 - 0.01 and w.box[0] <= x1 + 0.01]
            if words:
                return " ".join(words)
            continue
        for raw, s, e in _typed_spans(kind, line.text):
            b = _span_box(line, s, e)
            if b[2] >= x0 - 0.03 and b[0] <= x1 + 0.03:
                return raw
    return None


# -- learning ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Lesson:
    """What one confirmed document teaches about its vendor."""

    name: str
    normalized_name: str
    vat_id: str | None
    iban: str | None
    currency: str | None
    layout: dict[str, dict[str, Any]]


def lesson(fields: dict[str, dict[str, Any]], pages: list[dict[str, Any]]) -> Lesson | None:
    """From a confirmed document's final fields ({name: {value, page, bbox, derived}}; derived =
    computed by extraction, not read from the page) and its OCR pages. None when the vendor has no name."""
    name = (fields.get("vendor_name") or {}).get("value")
    normalized = normalize_name(name)
    if not name or not normalized:
        return None
    lines = page_lines(pages)
    layout = {}
    for field in LAYOUT_FIELDS:
        f = fields.get(field) or {}
        if f.get("value") is None:
            continue
        if f.get("derived"):
            continue  # computed from other fields (amount due = total), not printed where it was found
        place = locate(field, f["value"], lines, f.get("page"), f.get("bbox"))
        if place is not None:
            layout[field] = place

    def val(n: str) -> str | None:
        v = (fields.get(n) or {}).get("value")
        return str(v) if v else None

    return Lesson(name, normalized, val("vendor_tax_id"), val("iban"), val("currency"), layout)


def merged_layout(old: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    """The newest confirmed place of each field wins; fields this document did not show keep theirs."""
    return {**(old or {}), **new}


# -- using it ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Match:
    vendor_id: str
    matched_by: str  # vat_id | iban | name
    name: str
    vat_id: str | None
    iban: str | None
    currency: str | None
    layout: dict[str, Any]
    confirmations: int
    iban_confirmations: int


def identify(prediction_values: dict[str, str | None]) -> tuple[str | None, str | None, str | None]:
    """(VAT id, IBAN, normalized name) as a document shows them, in the forms the memory stores."""
    vat = prediction_values.get("vendor_tax_id")
    iban = prediction_values.get("iban")
    return (compact(vat) if vat else None, compact(iban) if iban else None,
            normalize_name(prediction_values.get("vendor_name")))


def apply_prior(fields: dict, match: Match, lines: list[Line], field_factory) -> list[str]:
    """Use the vendor's memory on a document's predicted fields ({name: FieldPrediction}), in place.
    `field_factory(name, value, confidence, page, bbox)` builds a FieldPrediction. Returns what changed."""
    changed = []
    name_fp = fields.get("vendor_name")
    if match.matched_by in ("vat_id", "iban") and (name_fp is None or name_fp.value != match.name):
        fields["vendor_name"] = field_factory("vendor_name", match.name, NAME_CONFIDENCE,
                                              getattr(name_fp, "page", None), getattr(name_fp, "bbox", None))
        changed.append("vendor_name")
    elif name_fp is not None and name_fp.value and normalize_name(name_fp.value) == normalize_name(match.name):
        fields["vendor_name"] = replace(name_fp, confidence=max(name_fp.confidence, AGREE_CONFIDENCE))
    for field, place in (match.layout or {}).items():
        if field not in FIELD_BY_NAME:
            continue
        fp = fields.get(field)
        missing = fp is None or not fp.value
        kind = FIELD_BY_NAME[field].kind
        # A field the reader did not find is filled only where the vendor's own label is on this
        # page: invoices of one vendor differ in what they print (a PO number, a prepayment).
        # An identifier with a strict shape (IBAN, BIC, VAT id) is also read in its region: only
        # its pattern matches there, and a diverted IBAN must not go unseen for lack of a label.
        raw = read_at(field, place, lines, label_only=missing and kind not in STRICT_KINDS)
        if raw is None or (missing and kind in STRICT_KINDS and not _checks_out(kind, raw)):
            continue  # a piece of an identifier (wrapped, cut) is no value
        if not missing and _same(kind, raw, _typed(kind, fp.value)):
            fields[field] = replace(fp, confidence=max(fp.confidence, AGREE_CONFIDENCE))
        elif missing or fp.confidence < PRIOR_BELOW:
            bbox = tuple(place["bbox"]) if place.get("bbox") else None
            fields[field] = field_factory(field, raw, PRIOR_CONFIDENCE, place.get("page"), bbox)
            changed.append(field)
    cur = fields.get("currency")
    if match.currency and (cur is None or not cur.value):
        fields["currency"] = field_factory("currency", match.currency, PRIOR_CONFIDENCE, None, None)
        changed.append("currency")
    return changed


def _checks_out(kind: str, raw: str) -> bool:
    """An identifier whose checksum holds (IBAN, BIC, VAT id)."""
    validate = {"iban": validate_iban, "bic": validate_bic, "tax_id": validate_tax_id}[kind]
    return validate(raw)[1] is None


def _typed(kind: str, raw: str) -> Any:
    """A predicted raw value in the stored form, for comparison with a remembered read."""
    if kind == "amount":
        return parse_amount(raw)
    if kind == "date":
        parsed = parse_date(raw)
        return parsed.iso if parsed else None
    return raw


def evidence(match: Match | None, iban: str | None) -> dict[str, Any]:
    """The evaluation's `vendor_memory` check: what the memory says about this document."""
    if match is None:
        return {"passed": None, "known": False, "evidence": [], "iban_changed": False}
    lines = [f"Vendor '{match.name}' recognised by {match.matched_by.replace('_', ' ')}; "
             f"{match.confirmations} invoice(s) confirmed by a person."]
    changed = bool(iban and match.iban and compact(iban) != compact(match.iban))
    if iban and match.iban and not changed:
        key = f"VAT id {match.vat_id}" if match.vat_id else f"vendor '{match.name}'"
        lines.append(f"IBAN {match.iban} was confirmed {match.iban_confirmations} time(s) for {key}.")
    if changed:
        lines.append(f"The IBAN {compact(iban)} differs from the confirmed IBAN {match.iban} of this vendor.")
    return {"passed": not changed, "known": True, "vendor_id": match.vendor_id, "name": match.name, "matched_by": match.matched_by,
            "confirmations": match.confirmations, "evidence": lines, "iban_changed": changed}
