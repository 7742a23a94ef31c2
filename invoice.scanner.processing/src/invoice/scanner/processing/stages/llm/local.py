"""The offline provider: fields from OCR words and their positions, no model call.

How it reads a page:
1. words are regrouped into rows and gap-separated segments (`extract.layout`);
2. each segment that starts with a known label (five languages, `extract.labels`) looks for
   its value in the rest of the segment, then to its right on the same row, then below;
   the value must fit the field's type (date, amount, identifier) or it is not taken;
3. labels of distractors (customer number, order/delivery date, phone, bank code) win
   the longest-match against generic labels, so their values are never taken;
4. net / VAT / total are chosen together: among the labelled candidates the combination
   with net + VAT = total (and line items summing to net) scores highest;
5. the vendor is the prominent name at the top (legal form, font size, repetition in the
   footer), the customer the block under a "Bill to" style label;
6. line items come from the table under a header row (`extract.tables`).

Confidences multiply label strength, value-pattern validity, the OCR word confidence and
arithmetic agreement; the evaluation stage turns them into the approval decision.
"""
from __future__ import annotations

import itertools
import logging
import re
import time
from collections import Counter
from dataclasses import dataclass

from invoice.scanner.processing.extract import tables
from invoice.scanner.processing.extract.labels import (LEGAL_FORMS, TITLE_WORDS, accent_dropped, detect_language,
                                                       fix_legal_form_glyphs, match_label, norm)
from invoice.scanner.processing.extract.layout import (PageLayout, Segment, blocks, build_layout, make_segment,
                                                       norm_bbox, sub_bbox, sub_confidence, union)
from invoice.scanner.processing.extract.normalize import (BIC_RE, CURRENCY_CODES, IBAN_RE, OTHER_TAX_RE, VAT_RE,
                                                          currency_in, detect_decimal_separator, find_amounts,
                                                          find_dates, has_decimals, parse_amount, validate_bic,
                                                          validate_iban, validate_tax_id)
from invoice.scanner.processing.fields import FIELD_BY_NAME, FIELD_NAMES
from invoice.scanner.processing.models import (PDF_TEXT_ENGINE, BBox, FieldPrediction, LineItemPrediction,
                                               LlmUsage, OcrPage, PageImage, Prediction)
from invoice.scanner.processing.stages.llm.base import LlmProvider

logger = logging.getLogger(__name__)

MODEL = "layout-rules-v1"
_ID_RE = re.compile(r"(?<![\w])([A-Z0-9][A-Z0-9\-/._#]*\d[A-Z0-9\-/._]*|\d[A-Z0-9\-/._]*)(?![\w])", re.I)
_SKIP_PREFIX = re.compile(r"(?i)^(zzgl\.?|zuzgl\.?|plus|add|\+|incl\.?|inkl\.?|inc\.?|excl\.?|exkl\.?|"
                          r"\d{1,2}(?:[.,]\d{1,2})?\s?%|\d{1,2}(?:[.,]\d{1,2})?)\s+")
_POSTCODE_RE = re.compile(r"(?<!\d)(\d{4,5}|[A-Z]{1,2}\d[A-Z\d]?\s?\d[A-Z]{2}|\d{4}\s?[A-Z]{2})(?!\d)")
_STREET_RE = re.compile(r"(?i)(str\.|strasse|straße|weg|platz|allee|gasse|ring|street|st\.|road|rd\.|avenue|ave|"
                        r"lane|drive|blvd|rue|avenue|boulevard|chemin|place|calle|avda|avenida|paseo|plaza|"
                        r"straat|laan|plein|gracht|kade|\d+\s?[a-z]?$|^\d+\s)")


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


class LocalProvider(LlmProvider):
    name = "local"

    def predict(self, pages: list[OcrPage], images: list[PageImage]) -> Prediction:
        t0 = time.perf_counter()
        reader = _DocumentReader(pages)
        fields, items = reader.read()
        usage = LlmUsage(provider="local", model=MODEL, latency_s=round(time.perf_counter() - t0, 4))
        return Prediction(fields=fields, line_items=items, usage=usage)


class _DocumentReader:
    def __init__(self, pages: list[OcrPage]):
        self.pages = sorted(pages, key=lambda p: p.page_no)
        self.layouts = [build_layout(p) for p in self.pages]
        self.page_by_no = {p.page_no: p for p in self.pages}
        all_text = "\n".join(p.text for p in self.pages)
        self.language = detect_language(all_text)
        self.decimal_sep = detect_decimal_separator([p.text for p in self.pages])
        self.cands: dict[str, list[Candidate]] = {}
        self.hits: list[LabelHit] = []
        self.table_rows: set[tuple[int, int]] = set()

    # --- entry ---------------------------------------------------------------------------

    def read(self) -> tuple[dict[str, FieldPrediction], list[LineItemPrediction]]:
        drafts, self.table_rows = tables.extract_items(self.layouts, self.decimal_sep)
        items = self._line_items(drafts)
        self._label_hits()
        for hit in self.hits:
            self._values_for(hit)
        self._identifiers()
        chosen: dict[str, Candidate | None] = {}
        chosen.update(self._totals(items))
        chosen["currency"] = self._currency(chosen)
        for name in ("invoice_number", "invoice_date", "due_date", "purchase_order", "payment_terms"):
            chosen[name] = self._best(name)
        if chosen["invoice_date"] is None:
            chosen["invoice_date"] = self._fallback_invoice_date(chosen)
        chosen.update(self._parties())
        chosen.update(self._bank_and_tax(chosen))
        out: dict[str, FieldPrediction] = {}
        for name in FIELD_NAMES:
            c = chosen.get(name)
            if c is None:
                out[name] = FieldPrediction(name=name, value=None, confidence=0.0)
            else:
                page = self.page_by_no[c.page]
                conf = calibrate(name, _clip(c.score), page.engine == PDF_TEXT_ENGINE)
                if name in ("vendor_name", "customer_name") and page.engine != PDF_TEXT_ENGINE \
                        and accent_dropped(c.value, self.language):
                    # "Logistica" in a Spanish invoice: the recognizer dropped an accent that
                    # its confidence does not show. The name needs a human look.
                    conf = min(conf, 0.45)
                out[name] = FieldPrediction(name=name, value=c.value.strip(), confidence=round(conf, 3),
                                            page=c.page, bbox=norm_bbox(c.bbox, page))
        return out, items

    # --- labels and values ---------------------------------------------------------------

    def _label_hits(self) -> None:
        for layout in self.layouts:
            for row in layout.rows:
                if (layout.page.page_no, row.index) in self.table_rows:
                    continue
                for seg in row.segments:
                    hit = self._match(seg)
                    while hit is not None:
                        key, strength, rest, start = hit
                        # "Rechnungs-Nr. Leistungs- und Rechnungsdatum Fälligkeitsdatum" read as
                        # one line over three value columns: each label gets its own piece of
                        # the row, so each finds the value under it.
                        nxt = self._match_text(rest, 0) if rest else None
                        head, tail = (_split_segment(seg, start) if nxt is not None and nxt[1] >= 1.0
                                      and nxt[3] > 0 and len(rest) > 3 else (seg, None))
                        if tail is None:
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
    def _match_text(text: str, offset: int) -> tuple[str, float, str, int] | None:
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
            sources.append((s, s.text, 0, 0.95 - 0.05 * i))
        typed_right = any(_typed(kind, t, self.decimal_sep, field_name) for _, t, _, _ in sources)
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
        if field_name == "due_date" and sources and not any(_typed("date", t, None, None) for _, t, _, _ in sources):
            # "Zahlungsziel: 30 Tage netto", "Due: on receipt": a due label with terms, not a date.
            field_name, kind = "payment_terms", "text"
        if kind == "amount":
            # The amount of a label is the last one on its row ("VAT 19% 190.00"), preferring one
            # printed with cents over a bare number ("Please pay 12.50 quoting 94194", "VAT 19").
            found = [(src, v) for src in sources for v in _typed(kind, src[1], self.decimal_sep, field_name)]
            with_cents = [f for f in found if f[1][3] >= 1.0]
            if found:
                src, v = (with_cents or found)[-1]
                sources = [src]
        for s, text, off, pos_factor in sources:
            vals = _typed(kind, text, self.decimal_sep, field_name)
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

    # --- dates ---------------------------------------------------------------------------

    def _fallback_invoice_date(self, chosen: dict[str, Candidate | None]) -> Candidate | None:
        """No labelled invoice date: the first date in the top part of page 1 that no other
        label claims (order/delivery/due dates are claimed by theirs)."""
        claimed = {(h.seg.page, h.seg.row) for h in self.hits if h.key in ("_order_date", "_delivery_date", "due_date")}
        layout = self.layouts[0] if self.layouts else None
        if layout is None:
            return None
        for row in layout.rows:
            if (layout.page.page_no, row.index) in claimed or row.bbox[1] > 0.5 * layout.page.height:
                continue
            for seg in row.segments:
                ds = find_dates(seg.text)
                if ds:
                    raw, s, e = ds[0]
                    return Candidate("invoice_date", raw, 0.45 * seg.confidence, seg.page, sub_bbox(seg, s, e))
        return None

    # --- totals --------------------------------------------------------------------------

    def _totals(self, items: list[LineItemPrediction]) -> dict[str, Candidate | None]:
        def pool(name: str) -> list[Candidate]:
            out: dict[tuple, Candidate] = {}
            for c in self.cands.get(name, []):
                k = (c.number, c.row, round(c.bbox[0] / 50))
                if k not in out or out[k].score < c.score:
                    out[k] = c
            return sorted(out.values(), key=lambda c: -c.score)[:6]

        nets, vats, tots, dues = pool("amount"), pool("vat"), pool("total"), pool("amount_due")
        item_sum = None
        amounts = [parse_amount(i.amount, self.decimal_sep) for i in items]
        if items and all(a is not None for a in amounts):
            item_sum = round(sum(amounts), 2)
        # A VAT split over several rates: the sum of distinct VAT rows is one more candidate.
        vat_options: list[list[Candidate]] = [[v] for v in vats]
        if len(vats) >= 2:
            rows = {}
            for v in vats:
                rows.setdefault((v.row, round(v.bbox[0] / 50)), v)  # one per printed VAT line or cell
            if len(rows) >= 2:
                vat_options.append(list(rows.values()))
        best = None
        for n, vs, t in itertools.product([None, *nets], [None, *vat_options], [None, *tots]):
            if n is not None and t is not None and n.row == t.row and abs(n.bbox[0] - t.bbox[0]) < 5:
                continue  # one printed value cannot be both
            score = (n.score if n else 0) + (sum(v.score for v in vs) / len(vs) if vs else 0) + (t.score if t else 0)
            vsum = round(sum(v.number for v in vs), 2) if vs else None
            consistent = None
            if n and vs and t:
                consistent = abs(n.number + vsum - t.number) <= 0.011
                score += 1.5 if consistent else -1.0
            elif n and t and not vs:
                consistent = abs(n.number - t.number) <= 0.011  # zero-VAT invoices
                score += 0.3 if consistent else 0.0
            if item_sum is not None and n is not None:
                score += 0.4 if abs(item_sum - n.number) <= 0.011 else -0.2
            if best is None or score > best[0]:
                best = (score, n, vs, t, consistent)
        result: dict[str, Candidate | None] = {"amount": None, "vat": None, "total": None, "amount_due": None}
        if best is not None:
            _, n, vs, t, consistent = best
            # Kinds left out of the best combination although printed: they disagree with it.
            if n is None and nets or not vs and vats or t is None and tots:
                n = n or (nets[0] if nets else None)
                vs = vs or ([vats[0]] if vats else None)
                t = t or (tots[0] if tots else None)
                if n is not None and vs and t is not None:
                    consistent = abs(n.number + sum(v.number for v in vs) - t.number) <= 0.011
            factor = 1.0 if consistent else (0.8 if consistent is None else 0.55)
            if n:
                result["amount"] = _scaled(n, factor)
            if vs:
                if len(vs) == 1:
                    result["vat"] = _scaled(vs[0], factor)
                else:
                    total_vat = round(sum(v.number for v in vs), 2)
                    first = vs[0]
                    result["vat"] = Candidate("vat", _format_like(total_vat, first.value), first.score * factor * 0.95,
                                              first.page, union([v.bbox for v in vs if v.page == first.page]),
                                              total_vat, first.row)
            if t:
                result["total"] = _scaled(t, factor)
        if dues:
            due = dues[0]
            tot = result["total"]
            if tot is not None and due.number is not None and tot.number is not None and due.number > tot.number + 0.01:
                due = _scaled(due, 0.6)
            result["amount_due"] = due
            if tot is None:
                # Only an "amount due" printed: it is the total unless payments are listed.
                if not self.cands.get("_paid"):
                    result["total"] = _scaled(Candidate("total", due.value, due.score, due.page, due.bbox,
                                                        due.number, due.row), 0.8)
        return result

    # --- currency ------------------------------------------------------------------------

    def _currency(self, chosen: dict[str, Candidate | None]) -> Candidate | None:
        labelled = [h for h in self.hits if norm(h.seg.text).startswith(("currency", "wahrung", "devise", "moneda",
                                                                         "valuta"))]
        counts: Counter[str] = Counter()
        first: dict[str, tuple[str, Segment]] = {}
        # Amount rows of the totals weigh most: that is the invoice currency.
        weight_rows = {c.row for c in chosen.values() if c is not None and c.row}
        for layout in self.layouts:
            for row in layout.rows:
                for seg in row.segments:
                    for m in re.finditer(r"(?<![A-Za-z])([A-Z]{3})(?![A-Za-z])|([€$£¥₹])|(?i:(?<![a-z])(chf|fr\.)(?![a-z]))",
                                         seg.text):
                        tok = m.group(0)
                        code = currency_in(tok)
                        if code is None or (m.group(1) and m.group(1) not in CURRENCY_CODES):
                            continue
                        w = 3 if (seg.page, seg.row) in weight_rows else 1
                        counts[code] += w
                        first.setdefault(code, (tok, seg))
        for h in labelled:
            code = currency_in(h.rest.upper()) if h.rest else None
            if code:
                counts[code] += 10
                first[code] = (h.rest.strip(), h.seg)
        if not counts:
            return None
        code, n = counts.most_common(1)[0]
        tok, seg = first[code]
        total = sum(counts.values())
        score = 0.55 + 0.4 * n / total + (0.05 if n >= 3 else 0)
        start = seg.text.find(tok)
        bbox = sub_bbox(seg, start, start + len(tok)) if start >= 0 else seg.bbox
        return Candidate("currency", tok, min(score, 0.99) * (0.5 + 0.5 * seg.confidence), seg.page, bbox)

    # --- parties -------------------------------------------------------------------------

    def _parties(self) -> dict[str, Candidate | None]:
        """Vendor and customer from the party blocks of page 1.

        A block is a left-aligned run of lines. A block under a "Bill to"-style label is the
        customer; one under "From"/"Seller" the vendor. Otherwise the vendor is the block
        whose first line looks most like a letterhead (legal form, large font, near the top,
        contact lines or a VAT id below it, name repeated in the footer) and the customer
        the address-only block (postcode, no contact lines) that remains, as in a window
        envelope layout. A small "sender · street · city" line above the window address is
        the vendor's own return address."""
        res: dict[str, Candidate | None] = {"vendor_name": None, "customer_name": None,
                                            "vendor_address": None, "customer_address": None}
        if not self.layouts:
            return res
        first = self.layouts[0]
        lh = first.line_height
        ph = float(first.page.height or 1)
        pw = float(first.page.width or 1)
        blks = [b for lay in self.layouts for b in blocks(lay, skip=self.table_rows)]
        lay_of = {lay.page.page_no: lay for lay in self.layouts}
        all_text = norm("\n".join(p.text for p in self.pages))
        heights = sorted(s.height for s in first.segments) or [1.0]
        med_h = heights[len(heights) // 2]
        parties: list[dict] = []
        sender: Segment | None = None
        used_blocks: set[int] = set()
        for bi, b in enumerate(blks):
            head = b[0]
            m = self._match(head)
            if m and m[1] < 1.0 and m[2] and ":" not in head.text[:m[3]]:
                m = None  # "Van Dijk B.V.", "To Go Ltd": a weak label word opening a name, not a label
            role, body, inline = None, list(b), None
            if m and m[0] in ("customer_name", "vendor_name", "_ship_to"):
                key, strength, rest, start = m
                role = key
                if rest and not _typed("date", rest, None, None) and not match_label(rest, fuzzy=False):
                    inline = (rest, start)
                    body = list(b)
                else:
                    body = b[1:]
                    if not body:
                        # Heading set apart from its block: the nearest block right under it.
                        below = [(i, c) for i, c in enumerate(blks) if i != bi and c[0].page == head.page
                                 and c[0].y0 > head.y0
                                 and c[0].y0 - head.y1 < 2.5 * lh and abs(c[0].x0 - head.x0) < 2.5 * lh]
                        if below:
                            i, c = min(below, key=lambda ic: ic[1][0].y0)
                            body = list(c)
                            used_blocks.add(i)
            elif m and not m[2]:
                continue  # a block that starts with another label: key/value pairs, not a party
            if not body:
                continue
            had_sender = False
            if len(body) > 2 and body[0].sep_after:
                sender = body[0]
                body = body[1:]
                had_sender = True
            parties.append({"index": bi, "role": role, "body": body, "inline": inline,
                            "strength": m[1] if role else 0.0, "sender": had_sender})
        parties = [p for p in parties if p["role"] is not None or p["index"] not in used_blocks]

        def name_of(p: dict) -> tuple[str, Segment, int, Segment | None]:
            if p["inline"] is not None:
                return (fix_legal_form_glyphs(_cut_after_legal_form(p["inline"][0])), p["body"][0],
                        p["inline"][1], None)
            seg = p["body"][0]
            wrapped = self._wrapped_name(lay_of[seg.page], seg)
            text = seg.text.strip() if wrapped is None else f"{seg.text.strip()} {wrapped.text.strip()}"
            return fix_legal_form_glyphs(_cut_after_legal_form(text)), seg, 0, wrapped

        def address_of(p: dict, wrapped: Segment | None) -> list[Segment]:
            lines = p["body"] if p["inline"] is not None else p["body"][1:]
            out = []
            for s in lines:
                if s is wrapped:
                    continue
                lab = match_label(s.text, fuzzy=False)
                if _contact_line(s.text) or (lab and lab[1] >= 1.0) or VAT_RE.search(s.text.upper()):
                    break
                if re.match(r"^(attn|attention|fao|z ?hd|a l attention|a/a|att|t a v|c/o)\b", norm(s.text)):
                    continue
                if norm(s.text) in TITLE_WORDS or find_dates(s.text):
                    break
                out.append(s)
            return out[:4]

        def is_contact_block(p: dict) -> bool:
            """Phone, e-mail, web or VAT id lines under the name: a letterhead, not an address."""
            for s in p["body"][1:8]:
                lab = match_label(s.text, fuzzy=False)
                if norm(s.text) in TITLE_WORDS or (lab and lab[0] not in _CONTACT_KEYS):
                    return False
                if "@" in s.text or "www" in norm(s.text) or (lab and lab[0] in _CONTACT_KEYS) \
                        or VAT_RE.search(s.text.upper()):
                    return True
            return False

        def cand(field: str, text: str, seg: Segment, off: int, conf: float) -> Candidate:
            return Candidate(field, text, conf, seg.page, sub_bbox(seg, off, off + len(text)), row=(seg.page, seg.row))

        def addr_cand(field: str, lines: list[Segment], conf: float) -> Candidate | None:
            if not lines:
                return None
            return Candidate(field, ", ".join(s.text.strip() for s in lines), conf, lines[0].page,
                             union([s.bbox for s in lines]))

        # Customer.
        cust = None
        labelled = [p for p in parties if p["role"] == "customer_name" and p["body"][0].page == first.page.page_no]
        labelled.sort(key=lambda p: (-p["strength"], p["body"][0].y0))
        for p in labelled:
            text, seg, off, wrapped = name_of(p)
            if not text or _looks_numeric(text) or _contact_line(text):
                continue
            cust = p
            res["customer_name"] = cand("customer_name", text, seg, off,
                                        p["strength"] * 0.93 * (0.5 + 0.5 * seg.confidence))
            res["customer_address"] = addr_cand("customer_address", address_of(p, wrapped),
                                                0.85 * p["strength"] * (0.5 + 0.5 * seg.confidence))
            break
        # Vendor.
        vend, vend_score = None, -9.0
        for p in parties:
            if p is cust or p["role"] in ("customer_name", "_ship_to"):
                continue
            text, seg, off, wrapped = name_of(p)
            t = text.strip()
            nt = norm(t)
            if len(nt) < 2 or nt in TITLE_WORDS or _looks_numeric(t) or _contact_line(t) or find_dates(t):
                continue
            lab = match_label(t, fuzzy=False)
            if lab and (lab[0].startswith("_") or lab[1] >= 1.0) and p["inline"] is None:
                continue
            y_rel = seg.y0 / ph if seg.page == first.page.page_no else 1.0
            if p["role"] != "vendor_name" and seg.page != first.page.page_no:
                continue  # later pages name the vendor only under a label
            score = 3.0 if p["role"] == "vendor_name" else 0.0
            score += 0.9 if LEGAL_FORMS.search(t) else 0.0
            score += min(0.8, 0.4 * (seg.height / med_h - 1)) if seg.height > med_h * 1.15 else 0.0
            score += 0.5 * max(0.0, 1 - y_rel / 0.3)
            score -= 0.8 if y_rel > 0.45 else 0.0
            score += 1.0 if is_contact_block(p) else 0.0
            if sender is not None and norm(sender.text) == nt:
                score += 1.2
            if len(nt) > 3 and all_text.count(nt) >= 2:
                score += 0.3
            if sum(ch.isdigit() for ch in t) > 2:
                score -= 0.6
            if len(t) > 60:
                score -= 0.5
            if score > vend_score:
                vend, vend_score = p, score
        if vend is not None and vend_score > 0.2:
            text, seg, off, wrapped = name_of(vend)
            conf = _clip(0.45 + 0.25 * min(vend_score, 2.0)) * (0.5 + 0.5 * seg.confidence)
            res["vendor_name"] = cand("vendor_name", text, seg, off, conf)
            res["vendor_address"] = addr_cand("vendor_address", address_of(vend, wrapped), conf * 0.85)
        elif sender is not None:
            res["vendor_name"] = cand("vendor_name", sender.text.strip(), sender, 0, 0.6 * sender.confidence)
        if res["vendor_address"] is None and sender is not None and res["vendor_name"] is not None \
                and norm(sender.text) == norm(res["vendor_name"].value):
            row = first.rows[sender.row]
            rest = [s for s in row.segments if s.x0 > sender.x0]
            res["vendor_address"] = addr_cand("vendor_address", rest, 0.7)
        # Customer with no label: the address-only block left over (window envelope layouts).
        if res["customer_name"] is None:
            best_c, best_s = None, 0.0
            for p in parties:
                if p is vend or p["role"] is not None or len(p["body"]) < 2 or p["body"][0].page != first.page.page_no:
                    continue
                text, seg, off, wrapped = name_of(p)
                if (_looks_numeric(text) or _contact_line(text) or match_label(text, fuzzy=False)
                        or sum(ch.isdigit() for ch in text) > 2):
                    continue
                addr = address_of(p, wrapped)
                if seg.y0 / ph > 0.5 or not addr:
                    continue
                sc = 1.0 if p["sender"] else 0.0
                sc += 1.0 if any(_POSTCODE_RE.search(s.text) for s in addr) else (
                    0.6 if re.search(r"\d", addr[-1].text) else 0.0)
                sc += 0.5 if _STREET_RE.search(addr[0].text) else 0.0
                sc += 0.2 if 2 <= len(addr) + 1 <= 5 else 0.0
                sc += 0.3 if LEGAL_FORMS.search(text) else 0.0
                sc += 0.3 if seg.x0 / pw < 0.5 else 0.0
                sc -= 1.0 if is_contact_block(p) and not VAT_RE.search(" ".join(s.text for s in p["body"]).upper()) else 0.0
                if vend is not None and norm(text) == norm(name_of(vend)[0]):
                    continue
                if sc > best_s:
                    best_c, best_s = p, sc
            if best_c is not None and best_s >= 1.3:
                text, seg, off, wrapped = name_of(best_c)
                conf = _clip(0.35 + 0.3 * best_s) * (0.5 + 0.5 * seg.confidence)
                res["customer_name"] = cand("customer_name", text, seg, off, conf)
                res["customer_address"] = addr_cand("customer_address", address_of(best_c, wrapped), conf * 0.9)
        return res

    @staticmethod
    def _wrapped_name(layout: PageLayout, seg: Segment) -> Segment | None:
        """A company name broken over two lines ("De Molen Handel" / "V.O.F."): the second
        line sits right under the first, in the same font, and carries the legal form."""
        if LEGAL_FORMS.search(seg.text):
            return None
        for r in layout.rows[seg.row + 1: seg.row + 2]:
            for s in r.segments:
                if (abs(s.x0 - seg.x0) < 0.8 * seg.height and s.y0 - seg.y1 < 0.9 * seg.height
                        and abs(s.height - seg.height) < 0.2 * seg.height and len(s.text.split()) <= 3
                        and LEGAL_FORMS.search(s.text)):
                    return s
        return None

    # --- identifiers ---------------------------------------------------------------------

    def _identifiers(self) -> None:
        """IBAN, BIC and VAT ids found by pattern anywhere, tagged by their label or block."""
        for layout in self.layouts:
            for row in layout.rows:
                for seg in row.segments:
                    up = seg.text.upper()
                    for m in IBAN_RE.finditer(up):
                        raw = seg.text[m.start(1):m.end(1)]
                        _, err = validate_iban(raw)
                        if err and not re.search(r"(?i)iban", seg.text + " " + row.text):
                            continue
                        score = 0.97 if not err else 0.35
                        self.cands.setdefault("iban", []).append(Candidate(
                            "iban", raw, score * (0.6 + 0.4 * seg.confidence), seg.page,
                            sub_bbox(seg, m.start(1), m.end(1)), row=(seg.page, seg.row)))
                    vat_hits = list(VAT_RE.finditer(seg.text)) or list(VAT_RE.finditer(up))
                    for m in vat_hits:
                        raw = seg.text[m.start(1):m.end(1)]
                        _, err = validate_tax_id(raw)
                        lab = self._row_label(layout, seg)
                        field = "customer_tax_id" if lab == "customer_tax_id" else "vendor_tax_id"
                        score = (0.95 if not err else 0.4) * (1.0 if lab in ("vendor_tax_id", "customer_tax_id") else 0.85)
                        self.cands.setdefault("_tax", []).append(Candidate(
                            field, raw, score * (0.6 + 0.4 * seg.confidence), seg.page,
                            sub_bbox(seg, m.start(1), m.end(1)), row=(seg.page, seg.row)))

    def _row_label(self, layout: PageLayout, seg: Segment) -> str | None:
        for h in self.hits:
            if h.seg.page == seg.page and h.seg.row == seg.row and h.seg.x0 <= seg.x0 + 1:
                if h.key in ("vendor_tax_id", "customer_tax_id"):
                    last = h.key
                    if h.seg is seg or h.seg.x1 <= seg.x0 + 1:
                        return last
        return None

    def _bank_and_tax(self, chosen: dict[str, Candidate | None]) -> dict[str, Candidate | None]:
        res: dict[str, Candidate | None] = {}
        ibans = []
        for c in self.cands.get("iban", []):
            if validate_iban(c.value)[1]:
                c = _scaled(c, 0.35)  # printed, but its checksum fails: probably misread
            ibans.append(c)
        ibans.sort(key=lambda c: -c.score)
        res["iban"] = ibans[0] if ibans else None
        bics = [c for c in self.cands.get("bic", []) if BIC_RE.fullmatch(re.sub(r"\s", "", c.value.upper()))]
        bic = None
        for c in sorted(bics, key=lambda c: -c.score):
            _, err = validate_bic(c.value)
            c.score *= 1.0 if not err else 0.4
            bic = c
            break
        if bic is None and res["iban"] is not None:
            # Unlabelled BIC on the IBAN's row or the next ones.
            ib = res["iban"]
            for layout in self.layouts:
                if layout.page.page_no != ib.page:
                    continue
                for row in layout.rows[ib.row[1]: ib.row[1] + 3]:
                    for seg in row.segments:
                        for m in BIC_RE.finditer(seg.text):
                            _, err = validate_bic(m.group(1))
                            if not err and m.group(1)[4:6] == re.sub(r"\s", "", ib.value)[:2].upper():
                                bic = Candidate("bic", m.group(1), 0.8 * seg.confidence, seg.page,
                                                sub_bbox(seg, m.start(1), m.end(1)))
                                break
                        if bic:
                            break
                    if bic:
                        break
        if bic is not None and res["iban"] is not None:
            bic = _bic_checked_against_iban(bic, res["iban"])
        res["bic"] = bic
        # Tax ids: pattern hits first, then labelled values that fit no pattern (Steuernummer, EIN).
        cust_rows = set()
        if chosen.get("customer_name") is not None:
            cn = chosen["customer_name"]
            cust_rows = {(cn.page, r) for r in range(cn.row[1] if cn.row else 0, (cn.row[1] if cn.row else 0) + 1)}
        taxes = self.cands.get("_tax", [])
        vend = [c for c in taxes if c.field == "vendor_tax_id" and c.row not in cust_rows]
        cust = [c for c in taxes if c.field == "customer_tax_id"]
        for name, pat, labelled in (("vendor_tax_id", vend, self.cands.get("vendor_tax_id", [])),
                                    ("customer_tax_id", cust, self.cands.get("customer_tax_id", []))):
            if pat:
                res[name] = max(pat, key=lambda c: c.score)
            elif labelled:
                c = max(labelled, key=lambda c: c.score)
                res[name] = _scaled(c, 0.75)
            else:
                res[name] = None
        if res.get("customer_tax_id") and res.get("vendor_tax_id") and \
                res["customer_tax_id"].value == res["vendor_tax_id"].value:
            others = [c for c in vend if c.value != res["customer_tax_id"].value]
            res["vendor_tax_id"] = max(others, key=lambda c: c.score) if others else None
        return res

    # --- line items ----------------------------------------------------------------------

    def _line_items(self, drafts: list[tables.ItemDraft]) -> list[LineItemPrediction]:
        out = []
        for d in drafts:
            f = tables.item_fields(d, self.decimal_sep)
            conf = tables.item_confidence(f, d, self.decimal_sep)
            page = self.page_by_no[d.page]
            out.append(LineItemPrediction(description=f["description"], quantity=f["quantity"],
                                          unit_price=f["unit_price"], amount=f["amount"], tax_rate=f["tax_rate"],
                                          confidence=conf, page=d.page,
                                          bbox=norm_bbox(tables.item_bbox(d), page)))
        return out


# --- calibration -----------------------------------------------------------------------

# Share of the remaining doubt (1 - score) that is real, measured on the generated benchmark
# (benchmarks/accuracy): from a PDF text layer a value found under a matching label was never
# wrong in 1,245 core fields, so most of the rule score's doubt is not real; from OCR, names and
# other free text lose accents and letters (about 7 % of vendor names), numbers and dates almost
# never survive the type and arithmetic checks wrong.
_DOUBT_KEPT = {
    (True, "text"): 0.15, (True, "other"): 0.12,
    (False, "text"): 0.9, (False, "other"): 0.3,
}
_FREE_TEXT = frozenset({"vendor_name", "customer_name", "vendor_address", "customer_address", "payment_terms"})


def calibrate(name: str, score: float, born_digital: bool) -> float:
    """Rule score -> probability that the value is right. Above 0.6 the doubt shrinks by the
    measured factor; below it (fallbacks, disagreeing candidates) the score is only rescaled, so
    weak evidence stays weak."""
    k = _DOUBT_KEPT[(born_digital, "text" if name in _FREE_TEXT else "other")]
    knee = 1 - 0.4 * k
    if score >= 0.6:
        return 1 - (1 - score) * k
    return score * knee / 0.6


# --- helpers ----------------------------------------------------------------------------

def _typed(kind: str | None, text: str, decimal_sep: str | None, field_name: str | None
           ) -> list[tuple[str, int, int, float, float | None]]:
    """Values of `kind` in `text`: (raw, start, end, validity, number)."""
    if kind is None:
        return []
    if kind == "date":
        return [(raw, s, e, 1.0, None) for raw, s, e in find_dates(text)]
    if kind == "amount":
        out = []
        for raw, v, s, e in find_amounts(text, decimal_sep):
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




def _bic_checked_against_iban(bic: Candidate, iban: Candidate) -> Candidate:
    """A BIC read by OCR ("BKENGBEIXXX") against the BIC that the bank registry gives for the
    IBAN's bank code: same up to look-alike characters (1/I, 0/O, 5/S, 8/B) means OCR slipped."""
    from schwifty import IBAN
    from schwifty.exceptions import SchwiftyException

    try:
        reg = IBAN(iban.value).bic
    except SchwiftyException:
        return bic
    if reg is None:
        return bic
    printed = re.sub(r"\s", "", bic.value.upper())
    candidates = {str(reg.compact)}
    if len(printed) == 11 and len(str(reg.compact)) == 8:
        candidates.add(str(reg.compact) + printed[8:])
    for want in candidates:
        if want == printed:
            return _scaled(bic, 1.02) if bic.score < 0.98 else bic
        if len(want) == len(printed) and all(a == b or _confusable(a, b) for a, b in zip(want, printed)):
            return Candidate("bic", want, bic.score * 0.9, bic.page, bic.bbox, bic.number, bic.row)
    return bic


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


def _confusable(a: str, b: str) -> bool:
    groups = ("0OD", "1IL", "5S", "8B", "2Z", "6G")
    return any(a in g and b in g for g in groups)


def _cut_after_legal_form(text: str) -> str:
    """"Brightline Supplies Ltd 190 High Street" (one OCR line): the name ends at its legal form
    when what follows carries a house number."""
    for m in LEGAL_FORMS.finditer(text):
        end = m.end()
        paren = re.match(r"\s*\([^)]*\)", text[end:])
        if paren:
            end += paren.end()  # "UG (haftungsbeschränkt)": the form goes on
        tail = text[end:]
        if (re.search(r"\d", tail) or LEGAL_FORMS.search(tail)) and len(tail.strip()) > 3 \
                and not re.match(r"\s*[&(]", tail):
            return text[:end].strip(" ,")
    return text


def _looks_numeric(text: str) -> bool:
    letters = sum(c.isalpha() for c in text)
    return letters < 2


_CONTACT_KEYS = frozenset({"_phone", "_email", "vendor_tax_id", "iban", "bic"})


def _contact_line(text: str) -> bool:
    n = norm(text)
    if "@" in text or "www" in n or "http" in n:
        return True
    m = match_label(text, fuzzy=False)
    return bool(m and m[0] in ("_phone", "_email", "_bank_code", "iban", "bic", "vendor_tax_id", "_customer_number"))


def _scaled(c: Candidate, factor: float) -> Candidate:
    return Candidate(c.field, c.value, c.score * factor, c.page, c.bbox, c.number, c.row)


def _format_like(value: float, example: str) -> str:
    s = f"{value:,.2f}"
    if re.search(r"\d,\d{2}(?!\d)", example):
        s = s.replace(",", "X").replace(".", ",").replace("X", ".")
    return s


def _clip(x: float) -> float:
    return max(0.0, min(1.0, x))
