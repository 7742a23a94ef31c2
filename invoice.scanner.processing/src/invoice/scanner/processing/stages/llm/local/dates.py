"""Dates: due dates and payment terms written in a sentence, and the invoice date when no
label names it.

A due date is often not under a label but inside a sentence: "Please pay by 15 March 2024",
"Der Betrag ist zahlbar bis zum 12.04.2024 ohne Abzug", "à régler avant le 30/04/2024",
"a pagar antes del 30/04/2024", "te betalen vóór 30-04-2024". The law is the same in every
language: a verb of paying, then a word for "by/before/until", then the date. Terms that count
days ("payable within 30 days") are kept as payment terms; the extraction stage derives the due
date from them and the invoice date, and marks it derived.
"""
from __future__ import annotations

import re

from invoice.scanner.processing.extract import doctype
from invoice.scanner.processing.extract.labels import norm
from invoice.scanner.processing.extract.layout import sub_bbox
from invoice.scanner.processing.extract.normalize import find_dates, terms_days
from invoice.scanner.processing.stages.llm.local.candidates import Candidate

# In `norm()` form (lower case, no accents). A verb of paying, a few words, then "by / before /
# until / on"; or a word that means "due" on its own.
_DUE_CUE = re.compile(
    r"(?:(?:pay|paid|payable|payment|remit|settle|settled)\w*\b(?:\s+\S+){0,6}?\s+(?:by|before|until|no later than|"
    r"on or before|on)"
    r"|(?:zahlbar|zahlung|zu zahlen|uberweis\w*|begleich\w*|bezahl\w*)\b(?:\s+\S+){0,6}?\s+(?:bis(?: zum| spatestens)?|"
    r"spatestens(?: am| bis)?|am)"
    r"|(?:payer|paye|regler|regle|payable|paiement|reglement|virement)\b(?:\s+\S+){0,6}?\s+(?:avant le|avant|"
    r"au plus tard le|jusqu au|le)"
    r"|(?:pagar|pagadero|pago|pague\w*|abon\w*)\b(?:\s+\S+){0,6}?\s+(?:antes del?|hasta el|no mas tarde del?|"
    r"a mas tardar el|el)"
    r"|(?:betalen|betaald|betaling|voldoen|voldaan|overmaken)\b(?:\s+\S+){0,6}?\s+(?:voor|uiterlijk(?: op)?|op)"
    # A direct debit: the day the amount is taken from the buyer's account is the day it is due
    # ("Der Betrag ... wird am 20.03.2014 ... eingezogen", "will be debited from your account on").
    r"|\b(?:betrag|rechnungsbetrag|summe)\b(?:\s+\S+){0,8}?\s+wird\s+(?:am|zum)"
    r"|\b(?:abbuch\w*|buchen|lastschrift\w*|einzug|belastung)\b(?:\s+\S+){0,6}?\s+(?:am|zum)"
    r"|\b(?:debit\w*|charged)\b(?:\s+\S+){0,6}?\s+(?:on|by)"
    r"|\b(?:preleve\w*|prelevement)\b(?:\s+\S+){0,6}?\s+(?:le|a partir du)"
    r"|\b(?:cargar\w*|cargo|domicili\w*)\b(?:\s+\S+){0,6}?\s+el"
    r"|\b(?:bedrag|incasso|afschrijving)\b(?:\s+\S+){0,8}?\s+wordt\s+(?:\S+\s+){0,3}?op"
    r"|due(?: date)?(?: by| on| before)?|fallig(?: am| bis)?|echeance(?: le)?|vence el|vencimiento|vervalt op)\s*$")
# The cue after the date: "Der Rechnungsbetrag ist am 17.06.2023 fällig", "gelieve … vóór
# 2025-06-02 over te maken", "the amount of … on 3 May 2024 is due".
_DUE_AFTER = re.compile(r"^\W*(?:\S+\s+){0,3}?(?:fallig|zu zahlen|zu begleichen|zu uberweisen|over te maken|te betalen|"
                        r"te voldoen|a payer|a regler|is due|payable|a pagar|a abonar)\b")
# Terms that count days from the invoice date, as a sentence rather than under a label.
_TERMS_CUE = re.compile(r"(?:within|in|innerhalb|binnen|dans|sous|a|en|net|netto|neto|zahlbar|payable|zahlungsziel|"
                        r"plazo|delai)\b")
_SENTENCE_SCORE, _TERMS_SCORE = 0.8, 0.55
_DIGIT = re.compile(r"\d")
_TIME = re.compile(r"^\W{0,3}\d{1,2}[:.]\d{2}(?!\d)")
# Word stems of `_DUE_CUE`, as printed (lower case): no stem, no sentence to read for a date.
_CUE_STEMS = ("pay", "paid", "remit", "settle", "zahl", "überweis", "uberweis", "begleich", "bezahl", "payer",
              "payé", "paye", "régl", "règl", "regl", "paiement", "virement", "pag", "abon", "betal", "voldo", "overmak",
              "due", "fällig", "fallig", "échéance", "echeance", "vence", "vencimiento", "vervalt", "uiterlijk",
              "spätestens", "spatestens", "avant", "antes", "before", "until", " by ", " bis ", "te maken", "a payer",
              "à payer", "zu zahlen", "wird am", "wird zum", "abbuch", "buchen", "lastschrift", "einzug", "belastung",
              "debit", "charged", "prélev", "prelev", "cargar", "cargo", "domicili", "bedrag", "incasso",
              "afschrijving")


# The document's own date in its title sentence: "Rechnung Nr. 471102 vom 13.11.2019", "Invoice
# no. 123 dated 5 March 2024", "Facture n° 12 du 03/04/2024", "Factura nº 7 del 1/2/2024",
# "Factuur 2024-01 van 12-03-2024", "Handelsrechnung (380) Nr. 471102 vom ...", "Rechnung des
# Versicherers Nr. 00.123.456.7-2018-1 vom ..." (a genitive and a type code between, a number
# that `norm()` splits at its dots). In `norm()` form, the text before the date.
_TITLE_DATE = re.compile(r"(?:^|\s)\w*(?:rechnung|gutschrift|invoice|credit note|facture|avoir|factura|factuur|"
                         r"creditnota)\w*(?:\s+(?:des|der|de|du|del|d)\s+[a-z]+)?(?:\s+[a-z]+)?(?:\s+\d{1,3})?"
                         r"\s+(?:nr|no|n|nummer|number|num|#)?\W{0,3}\s*\S*\d\S*(?:\s+\S*\d\S*){0,4}\s+"
                         r"(?:vom|dated|of|du|del|de|van)\s*$")
_TITLE_SCORE = 0.8


# A cash discount's date is not the due date: "3% Skonto innerhalb 10 Tagen bis 15.03.2013",
# "bei Zahlung bis 25.03.2024 2 % Skonto", "2% discount if paid by ...", "escompte de 2 % pour
# paiement avant le ...". Its clause (from the last comma, semicolon or date before it to the
# next after it) names the discount; the net date's does not.
_DISCOUNT = re.compile(r"\b(?:skonto\w*|discount\w*|escompte\w*|descuento\w*|pronto pago|korting\w*|"
                       r"betalingskorting)\b")
_CLAUSE_END = re.compile(r"[,;]|\d{1,2}[./-]\d{1,2}[./-]\d{2,4}|\d{4}-\d{2}-\d{2}")


# "…, bis 14.04.2024 netto", "by 14/04/2024 net", "avant le 14/04/2024 sans escompte": the day
# the whole amount is due, after a discount's terms.
_BY = re.compile(r"(?:^|\s)(?:bis(?: zum)?|by|until|before|avant(?: le)?|jusqu au|antes del?|voor)\s*$")
_NET_AFTER = re.compile(r"^\W*(?:netto|rein netto|ohne abzug|net|strictly net|without deduction|sans escompte|"
                        r"neto|sin descuento|zonder korting)\b")


def _discount_date(text_before: str, text_after: str) -> bool:
    before = _CLAUSE_END.split(text_before[-120:])[-1]
    after = _CLAUSE_END.split(text_after[:120])[0]
    return bool(_DISCOUNT.search(norm(before)) or _DISCOUNT.search(norm(after)))


class DatesMixin:
    def _sentence_dates(self) -> None:
        """Due dates after a paying verb, and day-counting terms, anywhere on the pages; the
        invoice date in the document's title sentence."""
        for layout in self.layouts:
            prev_text = ""
            for row in layout.rows:
                if (layout.page.page_no, row.index) in self.table_rows:
                    prev_text = ""
                    continue
                before = prev_text
                for seg in row.segments:
                    low = (before[-90:] + " " + seg.text).lower()
                    cue = any(stem in low for stem in _CUE_STEMS)
                    if not _DIGIT.search(seg.text):
                        before += " " + seg.text
                        continue
                    title = layout is self.layouts[0]
                    dates = find_dates(seg.text) if (title or cue) else ()
                    if title:
                        for raw, s, e in dates:
                            if _TITLE_DATE.search(norm((before + " " + seg.text[:s])[-80:])):
                                self.cands.setdefault("invoice_date", []).append(Candidate(
                                    "invoice_date", raw, _TITLE_SCORE * seg.confidence, seg.page,
                                    sub_bbox(seg, s, e), row=(seg.page, seg.row)))
                                break
                    for raw, s, e in (dates if cue else ()):
                        context = norm((before + " " + seg.text[:s])[-90:])
                        if _discount_date(before + " " + seg.text[:s], seg.text[e:]):
                            continue  # "bei Zahlung bis 25.03.2024 2 % Skonto": the net date is the due date
                        if _DUE_CUE.search(context) or _DUE_AFTER.search(norm(seg.text[e:e + 60])) \
                                or (_BY.search(context) and _NET_AFTER.search(norm(seg.text[e:e + 30]))):
                            self.cands.setdefault("due_date", []).append(Candidate(
                                "due_date", raw, _SENTENCE_SCORE * seg.confidence, seg.page,
                                sub_bbox(seg, s, e), row=(seg.page, seg.row)))
                            self.due_sentence_rows.add((seg.page, seg.row))
                    if not self.cands.get("payment_terms") and len(seg.text) <= 160 \
                            and terms_days(seg.text) is not None and _TERMS_CUE.search(norm(seg.text)):
                        self.sentence_terms.append(Candidate(
                            "payment_terms", seg.text.strip(), _TERMS_SCORE * seg.confidence, seg.page, seg.bbox,
                            row=(seg.page, seg.row)))
                    before += " " + seg.text
                prev_text = row.text

    def _fallback_invoice_date(self, chosen: dict[str, Candidate | None]) -> Candidate | None:
        """No labelled invoice date: the first date in the top part of page 1 that no other
        label claims (order/delivery/due dates are claimed by theirs, due dates in a sentence
        by it). A till receipt prints its date where the till does, often at the foot beside
        the time: on a receipt the whole page counts, and a date printed with a time first."""
        claimed = {(h.seg.page, h.seg.row) for h in self.hits if h.key in ("_order_date", "_delivery_date", "due_date")}
        claimed |= self.due_sentence_rows
        layout = self.layouts[0] if self.layouts else None
        if layout is None:
            return None
        receipt = self.doc_type.value == doctype.RECEIPT
        first: Candidate | None = None
        for row in layout.rows:
            if (layout.page.page_no, row.index) in claimed or (row.bbox[1] > 0.5 * layout.page.height and not receipt):
                continue
            for seg in row.segments:
                ds = find_dates(seg.text)
                if ds:
                    raw, s, e = ds[0]
                    c = Candidate("invoice_date", raw, 0.45 * seg.confidence, seg.page, sub_bbox(seg, s, e))
                    if not receipt or _TIME.search(seg.text[e:e + 12]):
                        return c
                    first = first or c
        return first
