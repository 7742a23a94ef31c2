"""How a prediction is compared with the truth, and the figures over a group of documents.
Shared by `run.py` (the benchmark) and tests/integration/test_accuracy_regression.py.

Comparison (fair, not lenient)
------------------------------
- Amounts: decimals to the cent, sign included (a credit note's total is negative).
- Dates: ISO `YYYY-MM-DD`, exact.
- Currency: ISO code, upper case.
- IBAN, VAT/tax ids: letters and digits only, upper case. BIC: 8 characters or 11 (XXX branch = 8).
- Invoice number, purchase order: whitespace removed, case-insensitive; punctuation kept
  ("RE-2014/502" is not "RE2014502").
- Names (vendor, customer): Unicode NFKC, case-insensitive, punctuation (. , ; : ' " ( ) [ ] - / ·)
  and whitespace ignored, "&" and accents kept: "MR D.I.Y. (JOHOR) SDN BHD" = "Mr DIY Johor Sdn Bhd",
  but "Lieferant GmbH" is not "Lieferant" and "Martínez" is not "Martinez". A legal form the
  page prints after a name whose truth has none is accepted ("Au bon moulin SARL" for the XML's
  "Au bon moulin"), never the other way round.
- Addresses, payment terms: like names; an address's trailing country code from an XML (", DE")
  is not required.
A field the truth does not know is not scored (external corpora: the XML or the key has no such
term); for tests/invoicegen the truth is complete, so a field it leaves empty must be empty.
"""
from __future__ import annotations

import math
import re
import unicodedata
from decimal import Decimal, InvalidOperation
from typing import Any, Iterable

from invoice.scanner.processing.fields import FIELD_BY_NAME, FIELD_NAMES

CORE = ("invoice_number", "invoice_date", "vendor_name", "amount", "vat", "total", "currency", "due_date")
RECEIPT_FIELDS = ("vendor_name", "invoice_date", "total")
SWEEP = (0.0, 0.5, 0.6, 0.7, 0.75, 0.8, 0.85, 0.88, 0.9, 0.92, 0.94, 0.96, 0.98)
ECE_BINS = 10

_PUNCT = re.compile(r"[.,;:'\"()\[\]\-/·|_]")


def _fold(s: str) -> str:
    s = unicodedata.normalize("NFKC", s).casefold()
    s = s.replace("’", "'").replace("‘", "'")
    return re.sub(r"\s+", "", _PUNCT.sub(" ", s))


def _decimal(value: Any) -> Any:
    try:
        return Decimal(str(value)).quantize(Decimal("0.01"))
    except (InvalidOperation, ValueError, TypeError):
        return ("unparsed", str(value))


def norm(name: str, value: Any, truth_side: bool = False) -> Any:
    """A value as it is compared."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    kind = FIELD_BY_NAME[name].kind if name in FIELD_BY_NAME else "text"
    if kind == "amount":
        if isinstance(value, float):
            if math.isnan(value):
                return None
            value = round(value, 2)
        return _decimal(value)
    if kind == "date":
        return str(value)[:10]
    if kind == "currency":
        return str(value).strip().upper()
    if kind in ("iban", "tax_id"):
        return re.sub(r"[^0-9A-Za-z]", "", str(value)).upper()
    if kind == "bic":
        b = re.sub(r"\s", "", str(value)).upper()
        return b[:8] if len(b) == 11 and b.endswith("XXX") else b
    if name in ("invoice_number", "purchase_order"):
        return re.sub(r"\s", "", unicodedata.normalize("NFKC", str(value))).casefold()
    text = str(value)
    if truth_side and name.endswith("_address"):
        text = re.sub(r",\s*[A-Z]{2}\s*$", "", text)
    return _fold(text)


# Legal forms a page may print after a name whose XML record leaves them out ("Au bon moulin"
# in the XML, "Au bon moulin SARL" on the page), folded as `_fold` folds them.
LEGAL_FORMS = ("gmbh", "ag", "kg", "ug", "ev", "sarl", "sas", "sa", "eurl", "ltd", "limited", "plc", "inc",
               "llc", "bv", "nv", "srl", "spa", "sl", "sdnbhd", "bhd", "gmbh&cokg", "ohg", "gbr")


def field_right(name: str, truth: Any, predicted: Any) -> bool:
    t, p = norm(name, truth, truth_side=True), norm(name, predicted)
    if t == p:
        return True
    if name in ("vendor_name", "customer_name") and isinstance(t, str) and isinstance(p, str) and p.startswith(t):
        return p[len(t):] in LEGAL_FORMS and not t.endswith(LEGAL_FORMS)
    return False


def _num(x: Any) -> float | None:
    try:
        return None if x is None else round(float(x), 4)
    except (TypeError, ValueError):
        return None


def item_right(t: dict, p: dict, check_tax: bool) -> bool:
    if norm("description", t.get("description")) != norm("description", p.get("description")):
        return False
    for k in ("quantity", "unit_price", "amount"):
        if _num(t.get(k)) is None or _num(p.get(k)) is None or abs(_num(t[k]) - _num(p.get(k))) > 0.005:
            return False
    if check_tax:
        return _num(p.get("tax_rate")) is not None and abs(_num(t["tax_rate"]) - _num(p["tax_rate"])) < 0.001
    return True


def match_items(truth_items: list[dict], pred_items: list[dict], check_tax: bool) -> int:
    """True items with an exactly right predicted item (each used once, in order)."""
    used = [False] * len(pred_items)
    found = 0
    for t in truth_items:
        for j, p in enumerate(pred_items):
            if not used[j] and item_right(t, p, check_tax):
                used[j] = True
                found += 1
                break
    return found


def score(truth: dict, rec: dict, complete: bool) -> dict:
    """One document's outcome. `complete`: the truth names every field (tests/invoicegen), so
    an empty truth field must be predicted empty; else only the fields the truth has count."""
    pred = rec.get("fields") or {}
    failed = "error" in rec
    names = FIELD_NAMES if complete else tuple(n for n in FIELD_NAMES if truth.get(n) is not None)
    right = {n: (False if failed else field_right(n, truth.get(n), pred.get(n))) for n in names}
    receipt = truth.get("document_type") == "receipt"
    if receipt:
        core = [n for n in RECEIPT_FIELDS if n in right]
    else:
        core = [n for n in CORE if n in right and not (n == "due_date" and truth.get("due_date") is None)]
    out = {
        "right": right,
        "core": core,
        "core_right": bool(core) and all(right[n] for n in core),
        # measured counterpart of predicted_accuracy: share of the scored core fields right
        "core_share": (sum(right[n] for n in core) / len(core)) if core else None,
        "all_right": all(right.values()),
        # the confidence of a value that was read: a field not found has no value whose rightness a
        # confidence could predict (its absence is scored in `right`, not in the calibration)
        "confidence": {n: (rec.get("confidence") or {}).get(n) for n in names if pred.get(n) is not None},
    }
    if "line_items" in truth:
        items = truth["line_items"]
        matched = match_items(items, rec.get("line_items") or [], truth.get("meta", {}).get("line_item_tax_printed",
                                                                                           True))
        out.update(items_true=len(items), items_matched=matched, items_predicted=len(rec.get("line_items") or []),
                   items_exact_doc=matched == len(items) and len(rec.get("line_items") or []) == len(items))
    return out


# --- figures over a group --------------------------------------------------------------------------

def ece(pairs: Iterable[tuple[float, float]], bins: int = ECE_BINS) -> dict | None:
    """Expected calibration error of (predicted probability, outcome 0..1) pairs, equal-width
    bins over [0, 1]: sum over bins of (share of pairs) x |mean predicted - mean outcome|."""
    pairs = [(min(1.0, max(0.0, float(p))), float(y)) for p, y in pairs if p is not None and y is not None]
    if not pairs:
        return None
    table = []
    total = 0.0
    for b in range(bins):
        lo, hi = b / bins, (b + 1) / bins
        sel = [(p, y) for p, y in pairs if lo <= p < hi or (b == bins - 1 and p == 1.0)]
        if not sel:
            continue
        mp = sum(p for p, _ in sel) / len(sel)
        my = sum(y for _, y in sel) / len(sel)
        total += len(sel) / len(pairs) * abs(mp - my)
        table.append({"lo": lo, "hi": hi, "n": len(sel), "predicted": mp, "measured": my})
    return {"ece": total, "n": len(pairs), "bins": table}


def aggregate(items: list[tuple[dict, dict, dict]], sweep: tuple[float, ...] = ()) -> dict:
    """Figures of a group. `items`: (job, record, score) per document."""
    n = len(items)
    if not n:
        return {"documents": 0}
    ok = [(j, r, s) for j, r, s in items if "error" not in r]
    approved = [(j, r, s) for j, r, s in ok if r.get("approved")]
    per_field: dict[str, dict] = {}
    for name in FIELD_NAMES:
        scored = [s["right"][name] for _, _, s in items if name in s["right"]]
        if scored:
            per_field[name] = {"accuracy": sum(scored) / len(scored), "n": len(scored)}
    with_core = [s for _, _, s in items if s["core"]]
    out: dict[str, Any] = {
        "documents": n,
        "errors": n - len(ok),
        "core_right": (sum(s["core_right"] for s in with_core) / len(with_core)) if with_core else None,
        "core_documents": len(with_core),
        "all_right": sum(s["all_right"] for _, _, s in items) / n,
        "per_field": per_field,
        "straight_through": len(approved) / n,
        "approved": len(approved),
        "approval_precision": (sum(s["core_right"] for _, _, s in approved) / len(approved)) if approved else None,
        "approved_wrong": sum(1 for _, _, s in approved if not s["core_right"]),
        "ece_predicted_accuracy": ece((r.get("predicted_accuracy"), s["core_share"]) for _, r, s in ok),
        "ece_field_confidence": ece((s["confidence"].get(f), float(s["right"][f]))
                                    for _, r, s in ok for f in s["right"] if s["confidence"].get(f) is not None),
    }
    receipts = [s for j, _, s in items if j.get("document_type") == "receipt"]
    if receipts:
        out["receipt_fields"] = {f: (sum(s["right"][f] for s in receipts if f in s["right"]) /
                                     max(1, sum(1 for s in receipts if f in s["right"])))
                                 for f in RECEIPT_FIELDS}
    itemized = [s for _, _, s in items if "items_true" in s]
    if itemized:
        out["line_items_found_exactly"] = (sum(s["items_matched"] for s in itemized) /
                                           max(1, sum(s["items_true"] for s in itemized)))
        out["documents_all_items_exact"] = sum(s["items_exact_doc"] for s in itemized) / len(itemized)
    if sweep:
        rows = []
        for t in sweep:
            app = [s for _, r, s in ok if (r.get("approved_at") or {}).get(str(t))]
            rows.append({"threshold": t, "straight_through": len(app) / n, "approved": len(app),
                         "precision": (sum(s["core_right"] for s in app) / len(app)) if app else None})
        out["sweep"] = rows
    secs: dict[str, float] = {}
    for stage in ("preprocessing", "ocr", "llm", "extraction", "evaluation"):
        vals = [r["seconds"][stage] for _, r, _ in ok if stage in r.get("seconds", {})]
        if vals:
            secs[stage] = sum(vals) / len(vals)
    out["seconds_per_document"] = secs
    return out
