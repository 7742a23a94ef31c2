"""Amounts and totals: net / VAT / total chosen together by arithmetic; the currency."""
from __future__ import annotations

import itertools
import re
from collections import Counter

from invoice.scanner.processing.extract import doctype
from invoice.scanner.processing.extract.labels import norm
from invoice.scanner.processing.extract.layout import Segment, make_segment, sub_bbox, union
from invoice.scanner.processing.extract.normalize import (CURRENCY_CODES, currency_in, find_amounts, has_decimals,
                                                          parse_amount)
from invoice.scanner.processing.models import LineItemPrediction
from invoice.scanner.processing.stages.llm.local.candidates import Candidate, scaled


_RATE = re.compile(r"(?<![\d.,])(\d{1,2}(?:[.,]\d{1,3})?)\s?%")
_BREAKDOWN_SCORE = 0.7
_CENTS = re.compile(r"\d[.,]\d\d(?!\d)")


class AmountsMixin:
    def _vat_breakdown(self) -> None:
        """Rows of a VAT breakdown ("19 %  1.000,00  190,00  1.190,00"): a rate and three amounts
        where net x rate = VAT and net + VAT = gross are net, VAT and gross whatever their column
        headings say; several rate rows add up. A law of every VAT invoice, so it holds where
        the totals block prints only the gross amount."""
        rows: list[tuple[Candidate, Candidate, Candidate]] = []
        pairs: list[tuple[Candidate, ...]] = []  # "USt. 7 %  275,00  19,25": a rate, its base and its tax
        receipt = self.doc_type.value == doctype.RECEIPT
        for layout in self.layouts:
            for row in layout.rows:
                text = row.text
                if "%" not in text or len(_CENTS.findall(text)) < 2:
                    continue  # a breakdown row prints a rate and two or three amounts with cents
                rates = [float(m.group(1).replace(",", ".")) for m in _RATE.finditer(text)]
                if not rates:
                    continue
                seg = make_segment(row.words, row.page, row.index)
                # A credit note's rows are negative throughout ("19 %  -10087,51  -1916,63  -12004,14").
                vals = [(raw, v, st, en) for raw, v, st, en in find_amounts(seg.text, self.decimal_sep)
                        if has_decimals(raw) and v != 0]
                found = None
                for (i, a), (j, b), (k, c) in itertools.combinations(enumerate(vals), 3):
                    if not (a[1] > 0) == (b[1] > 0) == (c[1] > 0):
                        continue
                    net, vat, gross = abs(a[1]), abs(b[1]), abs(c[1])
                    if abs(net + vat - gross) > 0.011 or vat >= net:
                        continue
                    if any(abs(net * r / 100 - vat) <= max(0.011, 0.005 * vat) for r in rates if r > 0):
                        found = (a, b, c)
                        break
                conf = seg.confidence
                if found is None:
                    # Not on a till slip: its tax summary ("T @ 6%  19.79  1.19") adds up to the
                    # amount before the cash rounding, and the slip's total is the one after it.
                    # The row names the tax it breaks down ("Steuerbasisbetrag USt. 7 %", "VAT 20 %"):
                    # a rate and two amounts alone are as often an item or a discount.
                    low = norm(text)
                    pair = (_base_and_tax(vals, rates) if not receipt and _TAX_WORD.search(low)
                            and not _DISCOUNT.search(low) else None)
                    if pair is not None:
                        pairs.append(tuple(Candidate(name, raw, _BREAKDOWN_SCORE * (0.5 + 0.5 * conf), seg.page,
                                                     sub_bbox(seg, st, en), v, (seg.page, seg.row))
                                           for name, (raw, v, st, en) in zip(("amount", "vat"), pair)))
                    continue
                trio = tuple(Candidate(name, raw, _BREAKDOWN_SCORE * (0.5 + 0.5 * conf), seg.page,
                                       sub_bbox(seg, st, en), v, (seg.page, seg.row))
                             for name, (raw, v, st, en) in zip(("amount", "vat", "total"), found))
                rows.append(trio)
        self._breakdown_candidates(rows, ("amount", "vat", "total"))
        # Rows that print the rate, the base and the tax but no gross (the gross is printed once,
        # in the totals block): the same law, net x rate = VAT, and the rows add up the same way.
        self._breakdown_candidates(pairs, ("amount", "vat"))

    def _breakdown_candidates(self, rows: list[tuple[Candidate, ...]], names: tuple[str, ...]) -> None:
        for trio in rows:
            for c in trio:
                # With several rate rows, one row is only a part of the document.
                self.cands.setdefault(c.field, []).append(scaled(c, 0.9) if len(rows) >= 2 else c)
        if len(rows) >= 2:
            # One rate per row: the document's net, VAT and gross are the sums of the rows.
            for idx, name in enumerate(names):
                total = round(sum(t[idx].number for t in rows), 2)
                first = rows[0][idx]
                same_page = [t[idx].bbox for t in rows if t[idx].page == first.page]
                self.cands.setdefault(name, []).append(Candidate(
                    name, _format_like(total, first.value), first.score, first.page, union(same_page), total,
                    (first.page, -1)))

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
            if vs and len(vs) >= 2 and self._distinct_rates(vs):
                score += 0.3  # one VAT row per rate: the document's VAT is their sum
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
                result["amount"] = scaled(n, factor)
            if vs:
                if len(vs) == 1:
                    result["vat"] = scaled(vs[0], factor)
                else:
                    total_vat = round(sum(v.number for v in vs), 2)
                    first = vs[0]
                    result["vat"] = Candidate("vat", _format_like(total_vat, first.value), first.score * factor * 0.95,
                                              first.page, union([v.bbox for v in vs if v.page == first.page]),
                                              total_vat, first.row)
            if t:
                result["total"] = scaled(t, factor)
        if dues:
            due = dues[0]
            tot = result["total"]
            if tot is not None and due.number is not None and tot.number is not None and due.number > tot.number + 0.01:
                due = scaled(due, 0.6)
            result["amount_due"] = due
            if tot is None:
                # Only an "amount due" printed: it is the total unless payments are listed.
                if not self.cands.get("_paid"):
                    result["total"] = scaled(Candidate("total", due.value, due.score, due.page, due.bbox,
                                                        due.number, due.row), 0.8)
        return result

    # --- currency ------------------------------------------------------------------------

    def _distinct_rates(self, vs: list[Candidate]) -> bool:
        rates = set()
        for v in vs:
            lay = next((lay for lay in self.layouts if lay.page.page_no == v.page), None)
            if lay is None or v.row is None or not 0 <= v.row[1] < len(lay.rows):
                return False
            m = _RATE.search(lay.rows[v.row[1]].text)
            if m is None:
                return False
            rates.add(m.group(1).replace(",", "."))
        return len(rates) == len(vs)

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
                    for m in _CURRENCY_TOKEN.finditer(seg.text):
                        tok = m.group(0)
                        code = "MYR" if m.group(4) else currency_in(tok)
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


# A currency code, a symbol, "CHF"/"Fr.", or the ringgit's "RM" before an amount with cents.
_CURRENCY_TOKEN = re.compile(r"(?<![A-Za-z])([A-Z]{3})(?![A-Za-z])|([€$£¥₹])|(?i:(?<![a-z])(chf|fr\.)(?![a-z]))"
                             r"|(?<![A-Za-z])(RM)(?=\s?\d{1,3}(?:[,.]?\d{3})*[.,]\d{2}(?!\d))")


# A rate row that takes something off is a discount, not a tax: "3 % Skonto 15,00 von 500,00".
_DISCOUNT = re.compile(r"\b(?:skonto|rabatt|nachlass|abzgl|abzuglich|discount|less|remise|escompte|descuento|"
                       r"korting)")


_TAX_WORD = re.compile(r"\b(?:vat|tax|gst|hst|mwst|ust|umsatzsteuer|mehrwertsteuer|steuer\w*|\w+steuer|tva|iva|btw|"
                       r"igic)\b")


def _base_and_tax(vals: list[tuple], rates: list[float]) -> tuple[tuple, tuple] | None:
    """The (base, tax) of a breakdown row that prints no gross: the first pair of its amounts
    where base x rate = tax to the cent. With no sum to check it against, the rate alone must
    hold exactly: an item row's quantity, unit price and amount come close by chance."""
    for a, b in itertools.combinations(vals, 2):
        if (a[1] > 0) != (b[1] > 0):
            continue
        base, tax = abs(a[1]), abs(b[1])
        if tax >= base:
            continue
        if any(abs(base * r / 100 - tax) <= 0.0051 for r in rates if r > 0):
            return a, b
    return None


def _format_like(value: float, example: str) -> str:
    s = f"{value:,.2f}"
    if re.search(r"\d,\d{2}(?!\d)", example):
        s = s.replace(",", "X").replace(".", ",").replace("X", ".")
    return s


