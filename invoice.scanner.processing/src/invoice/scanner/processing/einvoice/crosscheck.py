"""A hybrid PDF's picture against its XML: do the key values the XML states show on the page?

The XML is the value of record (in Germany it prevails when the two differ); the picture is
what a person saw and may have approved. A value *agrees* when it is printed on the page (in
any common formatting) or the local extractor read the same value; it *disagrees* when the
extractor read another value for that field and the XML's value is nowhere on the page; it is
*not shown* when neither the value nor a reading of the field is found (not a contradiction).
"""
from __future__ import annotations

import re
from typing import Any

from invoice.scanner.processing.extract.normalize import find_amounts, find_dates, parse_date
from invoice.scanner.processing.fields import FIELD_BY_NAME
from invoice.scanner.processing.models import Extraction, NormalizedField, OcrPage

# The values a reader checks against the picture: number, date, totals, IBAN, seller VAT id.
KEY_FIELDS: tuple[str, ...] = ("invoice_number", "invoice_date", "amount", "vat", "total", "iban", "vendor_tax_id")
AGREE, DISAGREE, NOT_SHOWN = "agree", "disagree", "not_shown"


def _compact(text: str) -> str:
    return re.sub(r"[\s.\-/_:]", "", text).upper()


def _page_amounts(text: str) -> set[float]:
    return {round(v, 2) for sep in (".", ",", None) for _raw, v, _s, _e in find_amounts(text, sep)}


def _page_dates(text: str) -> set[str]:
    found = set()
    for raw, _s, _e in find_dates(text):
        for order in ("DMY", "MDY", None):
            parsed = parse_date(raw, order)
            if parsed is not None:
                found.add(parsed.iso)
    return found


def _page_tokens(pages: list[OcrPage]) -> set[str]:
    """Every run of one to four consecutive words of a line, compacted: identifiers printed
    with spaces ("DE89 3704 0044 …") match their compact form, and a short invoice number
    matches only a whole word, not any digit run."""
    runs: set[str] = set()
    for page in pages:
        for line in page.lines:
            words = [w.text for w in line.words] or line.text.split()
            for i in range(len(words)):
                for j in range(i + 1, min(i + 8, len(words)) + 1):
                    runs.add(_compact("".join(words[i:j])))
            for part in re.split(r"[:#]", line.text):
                runs.add(_compact(part))
    runs.discard("")
    return runs


def _same(kind: str, a: Any, b: Any) -> bool:
    if a is None or b is None:
        return False
    if kind == "amount":
        return abs(float(a) - float(b)) < 0.005
    return _compact(str(a)) == _compact(str(b))


def cross_check(xml_fields: dict[str, NormalizedField], visible: Extraction | None,
                pages: list[OcrPage]) -> dict[str, Any]:
    text = "\n".join(p.text for p in pages)
    amounts, dates, tokens = _page_amounts(text), _page_dates(text), _page_tokens(pages)
    results: dict[str, dict[str, Any]] = {}
    for name in KEY_FIELDS:
        xf = xml_fields.get(name)
        if xf is None or xf.value is None:
            continue
        kind = FIELD_BY_NAME[name].kind
        x = xf.value
        if kind == "amount":
            on_page = round(float(x), 2) in amounts or round(-float(x), 2) in amounts
        elif kind == "date":
            on_page = x in dates
        else:
            on_page = _compact(str(x)) in tokens
        vf = visible.fields.get(name) if visible else None
        picture = vf.value if vf is not None and vf.value is not None else None
        if on_page or _same(kind, x, picture):
            outcome = AGREE
        elif picture is not None:
            outcome = DISAGREE
        else:
            outcome = NOT_SHOWN
        results[name] = {"xml": x, "picture": picture, "picture_raw": vf.raw_value if vf else None,
                         "on_page": on_page, "outcome": outcome,
                         "page": vf.page if vf is not None and outcome == AGREE and picture is not None else None,
                         "bbox": list(vf.bbox) if vf is not None and vf.bbox and outcome == AGREE
                         and picture is not None else None}
    disagreements = sorted(n for n, r in results.items() if r["outcome"] == DISAGREE)
    return {"checked": bool(pages), "agrees": not disagreements, "disagreements": disagreements, "fields": results}


def disagreement_reasons(check: dict[str, Any]) -> list[str]:
    from invoice.scanner.processing.einvoice.validate import CATEGORY_NAMES, CONTENT

    reasons = []
    for name in check.get("disagreements", []):
        r = check["fields"][name]
        label = name.replace("_", " ")
        reasons.append(f"E-invoice {CATEGORY_NAMES[CONTENT]} [picture-vs-xml]: the {label} is {r['xml']!s} in the XML "
                       f"(the value of record) but {r['picture']!s} on the picture.")
    return reasons
