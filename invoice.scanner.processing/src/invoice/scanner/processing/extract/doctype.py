"""What kind of document this is: an invoice, a credit note or a till receipt.

Read from what every such document prints about itself, in the five label languages:
- a credit note says so in its title ("Credit note", "Gutschrift", "Avoir", "Factura
  rectificativa", "Creditnota") or prints a negative total;
- a receipt is a till slip: titled "Receipt" / "Kassenbon" / "Ticket de caisse" / "Recibo" /
  "Kassabon", or it shows how it was paid at the counter (cash tendered, change given) on a
  narrow page or between the rules (=====) and till numbers of a slip (tender words alone do
  not make one: "cash discount"), who served at the counter ("Cashier: 03", "Table: 16") or a
  till's sign-off ("Please come again"), and it has few of an invoice's addressee or payment details (no "Bill to", no
  due date, no IBAN); each such sign counts once.
Anything else is an invoice. The type decides the sign of the amounts (a credit note's are
negative) and which fields a document must have (a receipt has no invoice number or due date).
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from invoice.scanner.processing.extract.labels import match_label, norm
from invoice.scanner.processing.models import BBox, OcrPage

INVOICE, CREDIT_NOTE, RECEIPT = "invoice", "credit_note", "receipt"
DOCUMENT_TYPES: tuple[str, ...] = (INVOICE, CREDIT_NOTE, RECEIPT)

_CREDIT_TITLES = tuple(norm(t) for t in (
    "credit note", "credit memo", "credit invoice", "credit nota", "creditnota", "creditfactuur", "credit factuur",
    "gutschrift", "rechnungskorrektur", "stornorechnung", "korrekturrechnung", "rechnungsstorno",
    "avoir", "facture d'avoir", "note de crédit", "facture rectificative",
    "factura rectificativa", "nota de crédito", "factura de abono", "abono",
))
_RECEIPT_TITLES = tuple(norm(t) for t in (
    "receipt", "sales receipt", "cash receipt", "till receipt", "cash bill", "cash sale", "official receipt",
    "kassenbon", "kassenbeleg", "kassenzettel", "quittung",
    "reçu", "ticket de caisse", "ticket", "facture simplifiée",
    "recibo", "ticket de compra", "factura simplificada",
    "kassabon", "kassaticket", "bonnetje", "kwitantie",
))
# How a till slip says it was paid: tendered cash and the change given back.
_TENDER = re.compile(r"(?i)(?<![\w])(change|cash tendered|tendered|cash|rückgeld|ruckgeld|gegeben|bar|rendu|"
                     r"espèces|especes|monnaie rendue|cambio|efectivo|entregado|wisselgeld|contant|"
                     r"betaald contant)(?![\w])")
_TITLE_FIRST_WORDS = frozenset(t.split()[0] for t in _CREDIT_TITLES + _RECEIPT_TITLES)
_INVOICE_KEYS = frozenset({"customer_name", "due_date", "iban", "payment_terms"})
# A till slip's own furniture: rules of ===== or ***** across the slip, a receipt or till number.
_RULE_LINE = re.compile(r"^\s*([=*\-_~#.])\1{15,}\s*$")
_TILL_NUMBER = re.compile(r"(?i)^(bon\s?-?n[ro]|bonnummer|belegn|beleg-n|receipt\s?(no|#|number)|kassa\s?\d|kasse\s?\d|"
                          r"till\s?(no|\d)|ticket\s?n|n\W*\s?ticket|caisse\s?\d|terminal|tid\b|trans(action)?\s?(no|#))")
# Who served at the counter ("Cashier: 03", "CASHIER01", "You were served by", "Es bediente Sie",
# "Le atendió"), and the seats of a restaurant's bill ("Table: 16", "Pax: 4"): people and places
# of a till, not of an invoice. A cashier word counts as a label ("Cashier:") or on a short line
# of its own, so a sentence ("pay by cashier's cheque") does not.
_TILL_STAFF = re.compile(r"(?i)(?<![a-z])(cashier|kassierer(in)?|caissi[eè]re?|cajer[oa]|kassier(ster)?|"
                         r"bediener(in)?)(?![a-z'’])")
_SERVED = re.compile(r"(?i)(?<![a-z])(served by|es bediente sie|bedient von|le atendi[oó]|atendido por|"
                     r"u werd geholpen door|vous a servi|servi par)(?![a-z])")
_DINING = re.compile(r"(?i)^(table|tisch|mesa|tafel)\s*(no\.?|nr\.?|#)?\s*:?\s*\d{1,3}\b|^(pax|covers|couverts)\b\s*(no\.?)?\s*:?\s*\d")
# A till's sign-off: "Please come again", "Goods sold are not returnable", "Keep this receipt".
_SIGN_OFF = re.compile(r"(?i)(come\s*again|not\s+returnable|keep\s+(this\s+)?receipt|thank\s+you\s+for\s+shopping|"
                       r"danke\s+f(ü|ue)r\s+ihren\s+einkauf|vielen\s+dank\s+f(ü|ue)r\s+ihren\s+einkauf|"
                       r"merci\s+de\s+votre\s+visite|gracias\s+por\s+su\s+(compra|visita)|bedankt\s+voor\s+uw\s+aankoop)")
_MAX_TITLE_EXTRA_WORDS = 3  # "Gutschrift Nr. 2024-17": the title and its number
_TITLE_CHARS = 48  # longer lines are sentences, never a title


@dataclass(frozen=True)
class DocumentType:
    value: str
    confidence: float
    page: int | None = None
    bbox: BBox | None = None  # the title that says it, normalized [0, 1]; None when inferred
    evidence: str = ""


def _title(text: str, titles: tuple[str, ...], normalized: str | None = None) -> bool:
    n = norm(text) if normalized is None else normalized
    for t in titles:
        if n == t or (n.startswith(t + " ") and len(n.split()) <= len(t.split()) + _MAX_TITLE_EXTRA_WORDS):
            return True
    return False


def is_title(text: str) -> bool:
    """A credit note's or a receipt's title line ("Gutschrift Nr. 17", "Kassenbon")."""
    return _title(text, _CREDIT_TITLES) or _title(text, _RECEIPT_TITLES)


def _norm_box(line_bbox: BBox, page: OcrPage) -> BBox | None:
    if not page.width or not page.height:
        return None
    x0, y0, x1, y1 = line_bbox
    return (max(0.0, x0 / page.width), max(0.0, y0 / page.height), min(1.0, x1 / page.width),
            min(1.0, y1 / page.height))


def classify(pages: list[OcrPage], total: float | None = None, label_keys: set[str] | None = None) -> DocumentType:
    """The document's type from its pages (and the total when it is already known).
    `label_keys`: the keys of the strong labels a reader already found on the pages (the local
    provider's), which spares matching every line again."""
    credit_title = receipt_title = None
    tender = rules = till = tender_lines = counter = sign_off = 0
    invoice_marks: set[str] = set()
    first = min(pages, key=lambda p: p.page_no) if pages else None
    for p in pages:
        for ln in p.lines:
            text = ln.text.strip()
            if not text:
                continue
            if len(text) <= _TITLE_CHARS and (credit_title is None or receipt_title is None) \
                    and text.split(None, 1)[0].casefold().replace("ç", "c").strip(":.#") in _TITLE_FIRST_WORDS:
                n = norm(text)
                if credit_title is None and _title(text, _CREDIT_TITLES, n):
                    credit_title = (p, ln)
                elif receipt_title is None and p is first and _title(text, _RECEIPT_TITLES, n):
                    receipt_title = (p, ln)
            found = _TENDER.findall(text)
            tender += len(found)
            # "CASH :", "Change (RM) :": a tender word opening a short line of its own, not a sentence
            tender_lines += bool(found) and len(text.split()) <= 4 and bool(_TENDER.match(text.lstrip("*-: ")))
            rules += bool(_RULE_LINE.match(text))
            till += bool(_TILL_NUMBER.match(text))
            staff = _TILL_STAFF.search(text)
            counter += bool(_SERVED.search(text) or _DINING.match(text) or (staff and (
                len(text.split()) <= 3 or re.match(r"\s*\w*\s*[:#\d]", text[staff.end():]))))
            sign_off += bool(_SIGN_OFF.search(text))
            if label_keys is None:
                m = match_label(text, fuzzy=False)
                if m is not None and m[0] in _INVOICE_KEYS and m[1] >= 1.0:
                    invoice_marks.add(m[0])
    if label_keys is not None:
        invoice_marks = set(label_keys) & _INVOICE_KEYS
    if credit_title is not None:
        p, ln = credit_title
        return DocumentType(CREDIT_NOTE, 0.95, p.page_no, _norm_box(ln.bbox, p), f"title {ln.text.strip()!r}")
    if total is not None and total < 0:
        return DocumentType(CREDIT_NOTE, 0.8, evidence="negative total")
    narrow = bool(first and first.width and first.height and first.width / first.height < 0.6)
    # The furniture of a till slip: its rules, a till number, or the tendered cash and the change
    # each on a line of its own.
    slip = rules >= 2 or till >= 1 or tender_lines >= 2 or counter >= 1 or sign_off >= 1
    score = (2.0 if receipt_title else 0.0) + min(tender, 2) * 1.0 + (1.0 if narrow else 0.0) \
        + (1.0 if rules >= 2 else 0.0) + (1.0 if till else 0.0) + (1.0 if counter else 0.0) \
        + (1.0 if sign_off else 0.0)
    score -= 1.5 * len(invoice_marks)
    if score >= 2.0 and (receipt_title or narrow or slip):  # tender words alone: "cash discount" on an invoice
        if receipt_title is not None:
            p, ln = receipt_title
            return DocumentType(RECEIPT, 0.9, p.page_no, _norm_box(ln.bbox, p), f"title {ln.text.strip()!r}")
        return DocumentType(RECEIPT, 0.8, evidence="paid at the counter (cash, change)")
    return DocumentType(INVOICE, 0.9 if not receipt_title else 0.6, evidence="default")
