"""Candidates: label hits on the page and the typed values next to them.

A label (five languages, `extract.labels`) that opens a segment looks for its value in the
rest of the segment, then to its right on the same row, then below; the value must fit the
field's type (date, amount, identifier) or it is not taken.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from invoice.scanner.processing.extract.labels import match_label, norm
from invoice.scanner.processing.extract.layout import (PageLayout, Segment, make_segment, sub_bbox,
                                                       sub_confidence)
from invoice.scanner.processing.extract.normalize import (BIC_RE, IBAN_RE, OTHER_TAX_RE, VAT_RE, find_amounts,
                                                          find_dates, has_decimals)
from invoice.scanner.processing.fields import FIELD_BY_NAME
from invoice.scanner.processing.models import BBox

_ID_RE = re.compile(r"(?<![\w])([A-Z0-9][A-Z0-9\-/._#]*\d[A-Z0-9\-/._]*|\d[A-Z0-9\-/._]*)(?![\w])", re.I)
_SKIP_PREFIX = re.compile(r"(?i)^(zzgl\.?|zuzgl\.?|plus|add|\+|incl\.?|inkl\.?|inc\.?|excl\.?|exkl\.?|"
                          r"enth\.?|enthalten[e]?|darin|dont|waarvan|"  # "enth. MwSt. 7 %", "dont TVA"
                          r"(?:(?:[àa@]|al|zu)\s?)?\d{1,2}(?:[.,]\d{1,2})?\s?%|\d{1,2}(?:[.,]\d{1,2})?)\s+")


FAR_RIGHT = 15  # line heights between a label and a value right of it beyond which the value is far


@dataclass
class Candidate:
    field: str
    value: str
    score: float
    page: int
    bbox: BBox
    number: float | None = None
    row: tuple[int, int] | None = None


@dataclass
class LabelHit:
    key: str
    strength: float
    seg: Segment
    rest: str  # text after the label in the same segment
    rest_start: int  # char offset of `rest` in seg.text
    layout: PageLayout


class LabelsMixin:
    """Label hits and their candidate values (`self.hits`, `self.cands`)."""

    def _label_hits(self) -> None:
        for layout in self.layouts:
            for row in layout.rows:
                if (layout.page.page_no, row.index) in self.table_rows:
                    continue
                for seg in row.segments:
                    hit = self._match(seg)
                    title = _title_number(seg.text)
                    if title is not None and (hit is None or hit[1] < 1.0 or hit[0] == "invoice_number"):
                        # "Handelsrechnung (380) Nr. 471102 vom 05.03.2018": the document's own
                        # number in its title sentence, whatever words stand between.
                        strength = OTHER_DOCUMENT if _names_another_document(seg.text[:title]) else 1.0
                        self.hits.append(LabelHit("invoice_number", strength, seg, seg.text[title:], title, layout))
                        continue
                    while hit is not None:
                        key, strength, rest, start = hit
                        # "Rechnungs-Nr. Leistungs- und Rechnungsdatum Fälligkeitsdatum" read as
                        # one line over three value columns: each label gets its own piece of
                        # the row, so each finds the value under it.
                        nxt = self._match_text(rest, 0) if rest else None
                        # The label's own rate stays with it: "TVA à 10 % | Total toutes taxes comprises".
                        skip = 0
                        while nxt is not None and (sm := _SKIP_PREFIX.match(rest[skip:])) is not None:
                            skip += sm.end()
                        head, tail = (_split_segment(seg, start + skip) if nxt is not None and nxt[1] >= 1.0
                                      and nxt[3] > 0 and len(rest) > 3 else (seg, None))
                        if tail is None:
                            if key == "invoice_number" and _names_another_document(_label_part(rest)):
                                strength *= OTHER_DOCUMENT  # "Réf. facture d'origine : FA20235759"
                            self.hits.append(LabelHit(key, strength, seg, rest, start, layout))
                            break
                        self.hits.append(LabelHit(key, strength, head, "", len(head.text), layout))
                        seg, hit = tail, self._match(tail)
                    # "Invoice Date 16/09/2024 . Due 31/10/2024": a second label after a value.
                    for m in re.finditer(r"(?<=[\d)\]])(?:\s*[.·|,;]\s*|\s+)(?=[^\W\d])", seg.text):
                        sub = self._match_text(seg.text, m.end())
                        if sub is not None and sub[1] >= 1.0 and sub[2]:
                            self.hits.append(LabelHit(sub[0], sub[1] * 0.95, seg, sub[2], sub[3], layout))

    @classmethod
    def _match(cls, seg: Segment) -> tuple[str, float, str, int] | None:
        return cls._match_text(seg.text, 0)

    @staticmethod
    @lru_cache(maxsize=65536)
    def _match_text(text: str, offset: int) -> tuple[str, float, str, int] | None:
        # A pure function of the line and offset, asked for every segment of every page (and
        # again after each value): cached per process like `match_label`.
        # "20%USt.", "19%MwSt": OCR drops the space after a rate.
        text = re.sub(r"%(?=[^\W\d])", "%" + "\u2009", text)
        text = re.sub(r"(?<=[^\W\d.]):(?=[\w(€$£])", ":\u2009", text)  # "Tax ID:52-9505881"
        text = re.sub(r"(?<=[A-Za-z]{2})(?=\d{1,2}(?:[.,]\d{1,2})?\s?%)", "\u2009", text)  # "TVA6%"
        for _ in range(3):
            m = match_label(text[offset:])
            if m is not None:
                key, strength, nwords = m
                # Map the label's normalized word count back onto the original characters.
                consumed, pos = 0, offset
                tokens = list(re.finditer(r"\S+", text[offset:]))
                for tok in tokens:
                    if consumed >= nwords:
                        break
                    consumed += max(1, len(norm(tok.group(0)).split()))
                    pos = offset + tok.end()
                rest = text[pos:]
                stripped = rest.lstrip(" :.#-–|")
                return key, strength, stripped, pos + (len(rest) - len(stripped))
            sm = _SKIP_PREFIX.match(text[offset:])
            if not sm:
                return None
            offset += sm.end()
        return None

    def _values_for(self, hit: LabelHit) -> None:
        key = hit.key
        field_name = key if not key.startswith("_") else None
        kind = FIELD_BY_NAME[field_name].kind if field_name else None
        if field_name in ("vendor_name", "customer_name"):
            return  # handled by the party logic, which reads whole blocks
        if field_name is None:
            return
        seg, layout = hit.seg, hit.layout
        lh = layout.line_height
        sources: list[tuple[Segment, str, int, float]] = []  # (segment, text, char offset, position factor)
        if hit.rest:
            sources.append((seg, hit.rest, hit.rest_start, 1.0))
        row = layout.rows[seg.row]
        right = [s for s in row.segments if s.x0 >= seg.x1 - 1]
        for i, s in enumerate(sorted(right, key=lambda s: s.x0)):
            if match_label(s.text, fuzzy=False) and not (kind == "amount" and find_amounts(s.text)):
                break  # another label: the values of this one are not to its right
            # Across the page (another block's text on the same row) a value is less likely its own;
            # amounts are printed in a right-hand column far from their labels.
            sources.append((s, s.text, 0, 0.95 - 0.05 * i if kind == "amount" or s.x0 - seg.x1 < FAR_RIGHT * lh
                            else 0.6))
        typed_right = any(typed(kind, t, self.decimal_sep, field_name) for _, t, _, _ in sources)
        if kind != "amount" or not typed_right:
            for r in layout.rows[seg.row + 1: seg.row + 4]:
                if r.bbox[1] - seg.y1 > 2.6 * lh:
                    break
                # Typed values may sit in a wider run of text below (two dates run together);
                # free text must start near the label.
                below = [s for s in r.segments
                         if s.x0 < seg.x1 + lh and s.x1 > seg.x0 - lh
                         and (kind in ("date", "amount", "iban", "bic", "tax_id") or abs(s.x0 - seg.x0) < 6 * lh)]
                if below:
                    s = min(below, key=lambda s: abs(s.x0 - seg.x0))
                    if match_label(s.text, fuzzy=False):
                        break  # the next label of a column of labels, not this one's value
                    sources.append((s, s.text, 0, 0.85))
                    break
        if kind != "amount" and not any(typed(kind, t, self.decimal_sep, field_name) for _, t, _, f in sources
                                        if f > 0.6):
            # A label with no value right of it or below, in a layout that prints the value first
            # ("F2023-0383    Factuurnr"): the nearest segment to its left on the row, when that one
            # is nobody else's value (it opens the row, or what precedes it is no label).
            left = sorted((s for s in row.segments if s.x1 <= seg.x0 + 1), key=lambda s: s.x0)
            if left and seg.x0 - left[-1].x1 < 12 * lh and not match_label(left[-1].text, fuzzy=False) \
                    and (len(left) == 1 or not match_label(left[-2].text, fuzzy=False)):
                sources.append((left[-1], left[-1].text, 0, 0.9))
        if field_name == "due_date" and sources and not any(typed("date", t, None, None) for _, t, _, _ in sources):
            # "Zahlungsziel: 30 Tage netto", "Due: on receipt": a due label with terms, not a date.
            field_name, kind = "payment_terms", "text"
        if kind == "amount":
            # The amount of a label is the last one on its row ("VAT 19% 190.00"), preferring one
            # printed with cents over a bare number ("Please pay 12.50 quoting 94194", "VAT 19").
            found = [(src, v) for src in sources for v in typed(kind, src[1], self.decimal_sep, field_name)]
            with_cents = [f for f in found if f[1][3] >= 1.0]
            if found:
                src, v = (with_cents or found)[-1]
                sources = [src]
        for s, text, off, pos_factor in sources:
            vals = typed(kind, text, self.decimal_sep, field_name)
            if not vals:
                continue
            if kind == "amount":
                with_cents = [v for v in vals if v[3] >= 1.0]
                vals = [(with_cents or vals)[-1]]
            elif s is not seg and s.row != seg.row and len(vals) > 1:
                # Two header values run together below two labels ("10 de septiembre de 2022 10 de
                # octubre de 2022"): this label's value is the one under it.
                def dist(v: tuple) -> float:
                    b = sub_bbox(s, off + v[1], off + v[2])
                    return abs((b[0] + b[2]) / 2 - seg.xc)
                vals = sorted(vals, key=dist)
            for rank, (raw, start, end, validity, number) in enumerate(vals):
                if kind != "amount" and rank > 0:
                    break
                conf = sub_confidence(s, off + start, off + end)
                score = hit.strength * pos_factor * validity * (0.5 + 0.5 * conf)
                self.cands.setdefault(field_name, []).append(
                    Candidate(field_name, raw, score, s.page, sub_bbox(s, off + start, off + end), number,
                              (s.page, s.row)))
            if kind == "amount":
                break

    def _best(self, name: str) -> Candidate | None:
        cs = self.cands.get(name)
        if not cs:
            return None
        best = max(cs, key=lambda c: (c.score, -c.page))
        # Agreement: the same value found under several labels is more certain.
        agree = sum(1 for c in cs if c.value == best.value)
        disagree = sum(1 for c in cs if c.value != best.value and c.score > 0.6 * best.score)
        if agree > 1:
            best.score = min(1.0, best.score * 1.05)
        if disagree:
            best.score *= 0.85
        return best


# --- helpers ----------------------------------------------------------------------------

# A document's title with its number: a word for the document (a compound that ends in it:
# "Handelsrechnung", "Schlussrechnung"; or the correction, notice or information of one:
# "Rechnungskorrektur", "Gutschriftsanzeige"), up to two attributes before it or a genitive after
# it ("Commercial invoice", "Selbst ausgestellte Rechnung", "Rechnung des Versicherers", "Facture
# d'acompte": the titles of EN 16931's document types, UNTDID 1001), a type code ("(380)"), then
# a word for "number". Words that refer to
# another document ("Rechnung gemäß Bestellung Nr.", "Gutschrift zu Rechnung Nr. 4711") make a
# reference, not this document's title.
_DOC_WORD = r"(?:rechnung|gutschrift|invoice|facture|avoir|factura|factuur|creditnota|creditfactuur)"
_REFERRING = (r"(?:gem(?:a|ä)(?:ss|ß)|gem|laut|lt|zu|zur|zum|f(?:u|ü)r|aus|siehe|bezug|see|re|per|for|to|as|"
              r"selon|pour|voir|seg(?:u|ú)n|ver|zie|volgens|bij|ref|reference|referenz|your|ihre|votre|su|uw)")
_TITLE_NUMBER = re.compile(
    r"(?i)^\s*(?:(?!" + _REFERRING + r"\b)(?!\S*" + _DOC_WORD + r")[^\W\d]+\s+){0,2}[^\W\d]*" + _DOC_WORD
    + r"(?:s?(?:korrektur|anzeige|information))?"
    r"(?:\s+(?:des|der|de|du|del|d['’])\s*(?!\S*" + _DOC_WORD + r")[^\W\d]+)?"
    r"\s*(?:\(\s*\d{1,3}\s*\)\s*)?(?:nr|no|n[°º]|nº|num|number|nummer|#)(?![^\W\d])\s*[.:]?\s*(?=\S*\d)")


# An invoice-number label that names another document than this one: the invoice a credit note
# or correction refers to ("Réf. facture d'origine", "Facture initiale n°", "Ursprüngliche
# Rechnung Nr.", "Original invoice no.", "Factura rectificada"), in `norm()` form. Its value is
# kept, far weaker than this document's own number.
_ANOTHER_DOCUMENT = re.compile(
    r"(?:^|\s)(?:d\s+)?(?:origine|originale?|originally|initiale?|precedente?|corrigee|rectifiee|annulee|"
    r"preceding|previous|cancelled|corrected|related|referenced|urspr\w*|vorherige\w*|stornierte\w*|"
    r"berichtigte\w*|korrigierte\w*|bezugs\w*|rectificada|anulada|oorspronkelijke|originele)(?:\s|$)")
OTHER_DOCUMENT = 0.4


def _names_another_document(label_text: str) -> bool:
    return bool(_ANOTHER_DOCUMENT.search(norm(label_text)))


def _label_part(rest: str) -> str:
    """The words after a label up to its value (the first word with a digit)."""
    m = re.search(r"\S*\d", rest)
    return rest[:m.start()] if m else rest


def _title_number(text: str) -> int | None:
    """Where the number starts in a title sentence that names it ("Rechnung Nr. 12 vom ..."),
    else None. A text layer may break a word where the PDF kerns it ("Rechnungskor rektur Nr.",
    the rest of the word in lower case): read again with such breaks closed."""
    if not _DIGIT_ANY.search(text):
        return None
    m = _TITLE_NUMBER.match(text)
    if m:
        return m.end()
    head = text[:60]
    breaks = [b.start() for b in _WORD_BREAK.finditer(head)]
    if not breaks:
        return None
    m = _TITLE_NUMBER.match(_WORD_BREAK.sub("", head) + text[60:])
    if not m:
        return None
    # Back to the original text: one character for each break closed before the match's end.
    return m.end() + sum(1 for k, b in enumerate(breaks) if b - k < m.end())


_DIGIT_ANY = re.compile(r"\d")
_WORD_BREAK = re.compile(r"(?<=[^\W\d]{3}) (?=[a-zäöüßéèàç]{2,}[^\s.]*\s+(?i:nr|no|n[°º]|number|nummer|num)\b)")

@lru_cache(maxsize=65536)
def typed(kind: str | None, text: str, decimal_sep: str | None, field_name: str | None
          ) -> tuple[tuple[str, int, int, float, float | None], ...]:
    """Values of `kind` in `text`: (raw, start, end, validity, number). A pure function of its
    arguments, asked again for the same source while a label's value is looked for (right of it,
    below, left of it): cached per process like `match_label`."""
    return tuple(_typed_values(kind, text, decimal_sep, field_name))


def _typed_values(kind: str | None, text: str, decimal_sep: str | None, field_name: str | None
                  ) -> list[tuple[str, int, int, float, float | None]]:
    if kind is None:
        return []
    if kind == "date":
        return [(raw, s, e, 1.0, None) for raw, s, e in find_dates(text)]
    if kind == "amount":
        out = []
        dates = None
        for raw, v, s, e in find_amounts(text, decimal_sep):
            if dates is None:
                dates = [(ds, de) for _, ds, de in find_dates(text)]
            if any(s < de and e > ds for ds, de in dates):
                continue  # part of a date ("Please pay by 15 March 2024"): not an amount
            out.append((raw, s, e, 1.0 if has_decimals(raw) else 0.6, v))
        return out
    if field_name in ("invoice_number", "purchase_order"):
        t = text.strip()
        if find_dates(t) and len(find_dates(t)[0][0]) >= len(t) - 2:
            return []
        for m in _ID_RE.finditer(t):
            tok = m.group(1).strip("._-/")
            if len(tok) < 2 or find_dates(tok):
                continue
            if re.fullmatch(r"(?i)(no|nr|n|#)\.?", tok):
                continue
            return [(tok, m.start(1), m.start(1) + len(tok), 1.0 if len(tok) >= 3 else 0.6, None)]
        return []
    if kind == "tax_id":
        m = VAT_RE.search(text.upper()) or OTHER_TAX_RE.search(text)
        if m:
            return [(text[m.start(1):m.end(1)], m.start(1), m.end(1), 1.0, None)]
        m = re.search(r"[A-Z0-9][A-Z0-9 ./-]{5,20}\d", text.upper())
        if m:
            return [(text[m.start():m.end()], m.start(), m.end(), 0.7, None)]
        return []
    if kind == "iban":
        m = IBAN_RE.search(text.upper())
        return [(text[m.start(1):m.end(1)], m.start(1), m.end(1), 1.0, None)] if m else []
    if kind == "bic":
        m = BIC_RE.search(re.sub(r"^[\s:]+", "", text).upper())
        if m:
            off = len(text) - len(re.sub(r"^[\s:]+", "", text))
            return [(text[off + m.start(1):off + m.end(1)], off + m.start(1), off + m.end(1), 1.0, None)]
        return []
    if kind == "currency":
        return []
    t = text.strip()
    if not t or len(t) > 80:
        return []
    validity = 0.9
    if field_name == "payment_terms" and not re.search(r"\d", t):
        validity = 0.6  # "Forma de pago: transferencia" names a method, not terms
    return [(t, text.find(t), text.find(t) + len(t), validity, None)]




def _split_segment(seg: Segment, start_char: int) -> tuple[Segment, Segment | None]:
    """The words of `seg` before and from character `start_char` (a word boundary) as two
    segments; (seg, None) when the cut falls outside the words."""
    pos, cut = 0, None
    for i, w in enumerate(seg.words):
        if pos >= start_char:
            cut = i
            break
        pos += len(w.text) + 1
    if not cut or cut >= len(seg.words):
        return seg, None
    return make_segment(seg.words[:cut], seg.page, seg.row), make_segment(seg.words[cut:], seg.page, seg.row)



def scaled(c: Candidate, factor: float) -> Candidate:
    return Candidate(c.field, c.value, c.score * factor, c.page, c.bbox, c.number, c.row)



def clip(x: float) -> float:
    return max(0.0, min(1.0, x))
