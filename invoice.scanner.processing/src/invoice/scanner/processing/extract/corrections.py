"""A person's correction of a field or of the line items, parsed and checked like an
extracted value: the same date, amount, currency, IBAN/BIC and VAT-number rules the
extraction stage applies, with one difference. A value a person types must read one way
only: "03/04/2024" is refused (which of March and April?) where the stage would flag it.

Light on purpose: the API imports this module (stdlib + python-stdnum + schwifty, and
dateparser only for a written-out month), never the stage modules.
"""
from __future__ import annotations

import re
from typing import Any

from invoice.scanner.processing.extract.normalize import (CURRENCY_CODES, clean_text, currency_in, parse_amount,
                                                          parse_date, validate_bic, validate_iban, validate_tax_id)
from invoice.scanner.processing.extract.doctype import DOCUMENT_TYPES
from invoice.scanner.processing.fields import DOCUMENT_TYPE, FIELD_BY_NAME, LINE_ITEM_FIELDS
from invoice.scanner.processing.models import NormalizedLineItem

MAX_TEXT = 1000
MAX_LINE_ITEMS = 500


class CorrectionError(ValueError):
    """A value a person entered that is not a valid value of its field."""


def _number(value: Any, what: str) -> float:
    if isinstance(value, bool):
        raise CorrectionError(f"not a valid {what}: {value!r}")
    if isinstance(value, (int, float)):
        if value != value or value in (float("inf"), float("-inf")):
            raise CorrectionError(f"not a valid {what}: {value!r}")
        return round(float(value), 2)
    parsed = parse_amount(str(value))
    if parsed is None:
        raise CorrectionError(f"not a valid {what}: {value!r}")
    return parsed


def _rate(value: Any) -> float:
    """A tax rate keeps its decimals (8.875 % sales tax); either mark separates them."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    m = re.fullmatch(r"\s*(\d{1,2})(?:[.,](\d{1,3}))?\s*%?\s*", str(value))
    if not m:
        raise CorrectionError(f"not a valid tax rate: {value!r}")
    return float(f"{m.group(1)}.{m.group(2) or 0}")


def correct_field(name: str, value: Any) -> tuple[Any, str | None]:
    """(normalized value, raw text as entered) for field `name`; `CorrectionError` when invalid.

    `None` means "the invoice has no such value" and is accepted for every field but
    `document_type` (invoice | credit_note | receipt), which a person may correct too.
    """
    if name == DOCUMENT_TYPE:
        # Every document has a type: a person picks one of them, "none" is not one.
        if value not in DOCUMENT_TYPES:
            raise CorrectionError(f"document_type is one of {', '.join(DOCUMENT_TYPES)}, not {value!r}")
        return value, value
    spec = FIELD_BY_NAME.get(name)
    if spec is None:
        raise CorrectionError(f"unknown field {name!r}")
    if value is None:
        return None, None
    if spec.kind == "amount":
        return _number(value, "amount"), str(value)
    if not isinstance(value, str):
        raise CorrectionError(f"expected text, got {type(value).__name__}")
    raw = clean_text(value)
    if not raw:
        return None, None
    if len(raw) > MAX_TEXT:
        raise CorrectionError(f"longer than {MAX_TEXT} characters")
    if spec.kind == "date":
        parsed = parse_date(raw)
        if parsed is None:
            raise CorrectionError(f"not a date: {raw!r} (write YYYY-MM-DD)")
        if parsed.ambiguous:
            raise CorrectionError(f"{raw!r} reads as two different dates; write YYYY-MM-DD")
        return parsed.iso, raw
    if spec.kind == "currency":
        code = raw.upper() if raw.upper() in CURRENCY_CODES else currency_in(raw)
        if code is None:
            raise CorrectionError(f"unknown currency {raw!r} (write an ISO 4217 code such as EUR)")
        return code, raw
    if spec.kind == "iban":
        normalized, error = validate_iban(raw)
    elif spec.kind == "bic":
        normalized, error = validate_bic(raw)
    elif spec.kind == "tax_id":
        normalized, error = validate_tax_id(raw)
    else:
        return re.sub(r"\s+", " ", raw).strip(), raw
    if error:
        raise CorrectionError(error)
    return normalized, raw


def correct_line_items(items: list[dict[str, Any]]) -> list[NormalizedLineItem]:
    """The whole list of line items as a person entered it, renumbered 1..n (the document
    core's line item, with confidence 1.0: a person typed it).

    `CorrectionError` names the position and the column that is wrong.
    """
    if len(items) > MAX_LINE_ITEMS:
        raise CorrectionError(f"more than {MAX_LINE_ITEMS} line items")
    out = []
    for pos, item in enumerate(items, start=1):
        unknown = sorted(set(item) - set(LINE_ITEM_FIELDS) - {"position"})
        if unknown:
            raise CorrectionError(f"line item {pos}: unknown column(s) {', '.join(unknown)}")
        values: dict[str, Any] = {}
        for column in ("quantity", "unit_price", "amount", "tax_rate"):
            raw = item.get(column)
            if raw is None or (isinstance(raw, str) and not raw.strip()):
                values[column] = None
                continue
            try:
                if column == "tax_rate":
                    values[column] = _rate(raw)
                else:
                    values[column] = _number(raw, column.replace("_", " "))
            except CorrectionError as exc:
                raise CorrectionError(f"line item {pos}: {exc}") from None
        description = item.get("description")
        if description is not None and not isinstance(description, str):
            raise CorrectionError(f"line item {pos}: description must be text")
        description = re.sub(r"\s+", " ", clean_text(description)).strip() if description else None
        if description and len(description) > MAX_TEXT:
            raise CorrectionError(f"line item {pos}: description longer than {MAX_TEXT} characters")
        if values["amount"] is None and values["quantity"] is not None and values["unit_price"] is not None:
            values["amount"] = round(values["quantity"] * values["unit_price"], 2)
        out.append(NormalizedLineItem(position=pos, description=description or None, confidence=1.0, **values))
    return out
