"""A till receipt's payment lines: the cash handed over and the change given back.

What a customer paid is the cash tendered less the change, on every cash sale in every
language, and it is the receipt's total after any rounding to the coin ("Total 49.39 /
Rounding 0.01 / Total 49.40 / Cash 50.00 / Change 0.60"). The payment lines are read apart
from the totals block, so the two are independent readings of one amount: where they agree
the total is surer; where the total block's reading disagrees, the printed amount that the
payment lines agree with is the total (a misread digit, a total taken from the subtotal,
the rounding or the GST row), and where none does the total is doubtful.

Which `_tender` label is which (`extract.labels`): the change words below are money given back,
a line with a rounding word adjusts the total, every other tender word (and a "paid" label
followed by the change) is money handed over. Where the cash and the change lines are printed
the document is a cash sale whatever its title ("TAX INVOICE" on a till slip), so the check does
not wait for the document type.
"""
from __future__ import annotations

from dataclasses import dataclass

from invoice.scanner.processing.extract.labels import norm
from invoice.scanner.processing.extract.layout import Segment, sub_bbox
from invoice.scanner.processing.extract.normalize import find_amounts, has_decimals
from invoice.scanner.processing.stages.llm.local.candidates import Candidate, LabelHit

_CHANGE = ("change", "ruckgeld", "monnaie rendue", "cambio", "wisselgeld")
_ROUNDING = ("rounding",)
# A total and the cash handed over with no change that differ by more than a rounding to the
# coin or a misread cent: the cash paid only part, another tender (a card, a voucher) the rest.
_ADJUSTMENT = 0.10
# The payment lines follow each other: the change at most this many rows under the cash.
_MAX_ROWS = 4
# Below the evaluation's MIN_FIELD_CONFIDENCE (0.5), a total that only one reading supports
# blocks approval: a person looks.
AGREED = 0.97  # the total's confidence at least, when the payment lines agree with it
FOUND = 0.9  # a printed amount the payment lines agree with, the totals block's reading not
CASH_EXACT = 0.45  # no change given: the cash handed over, unconfirmed by any other line (review)
DERIVED = 0.45  # tendered less change, printed nowhere (review)
DISAGREED = 0.5  # factor on the total's confidence when the payment lines say otherwise


@dataclass
class Payment:
    tendered: float
    change: float | None  # None: no change line printed
    page: int
    rows: tuple[int, int]  # the cash row and the change row
    cash_bbox: tuple[float, float, float, float]
    cash_raw: str

    @property
    def paid(self) -> float:
        return round(self.tendered - (self.change or 0.0), 2)


def _kind(hit: LabelHit) -> str:
    label = norm(hit.seg.text[:hit.rest_start])
    if hit.key == "_paid":
        return "tendered"  # "Paid Amount : 10.00 / Change : 2.60": paid over, change back
    if any(w in label for w in _ROUNDING):
        return "rounding"  # "Cash Rounding"
    if any(label.startswith(w) for w in _CHANGE):
        return "change"
    return "tendered"


class TenderMixin:
    def _row_amount(self, hit: LabelHit) -> tuple[str, float, Segment, int, int] | None:
        """The last amount with cents after the label on its row: (raw, value, segment, start, end)."""
        row = hit.layout.rows[hit.seg.row]
        sources = [(hit.seg, hit.rest_start)] + [(s, 0) for s in sorted(row.segments, key=lambda s: s.x0)
                                                 if s.x0 >= hit.seg.x1 - 1 and s is not hit.seg]
        found = None
        for seg, off in sources:
            for raw, v, st, en in find_amounts(seg.text[off:], self.decimal_sep):
                if has_decimals(raw):
                    found = (raw, v, seg, off + st, off + en)
        return found

    def _payment(self) -> Payment | None:
        """The cash tendered and the change given, from the last such pair of lines."""
        lines = []
        for hit in self.hits:
            if hit.key not in ("_tender", "_paid"):
                continue
            kind = _kind(hit)
            if kind == "rounding":
                continue
            amt = self._row_amount(hit)
            if amt is not None:
                lines.append((kind, hit, amt))
        best = None
        for kind, hit, amt in lines:
            if kind != "change" or amt[1] < 0:
                continue
            page, row = hit.seg.page, hit.seg.row
            cash = [(h, a) for k, h, a in lines if k == "tendered" and h.seg.page == page
                    and (0 < row - h.seg.row <= _MAX_ROWS or h.seg.row == row and h.seg.x1 <= hit.seg.x0)]
            if not cash:
                continue
            h, a = min(cash, key=lambda p: row - p[0].seg.row)
            tendered = abs(a[1])
            if tendered <= 0 or amt[1] >= tendered:
                continue
            best = Payment(tendered, amt[1], page, (h.seg.row, row), sub_bbox(a[2], a[3], a[4]), a[0])
        if best is None and not any(k == "change" for k, _, _ in lines):
            # Cash handed over with no change line: what was paid, if it was exact.
            cash = [(h, a) for k, h, a in lines if k == "tendered" and abs(a[1]) > 0]
            if cash:
                h, a = cash[-1]
                best = Payment(abs(a[1]), None, h.seg.page, (h.seg.row, h.seg.row), sub_bbox(a[2], a[3], a[4]), a[0])
        return best

    def _sum_of_parts(self, total: Candidate | None) -> Candidate | None:
        """A total line printed under two others that it adds up ("Total 6% supplies (Inc. GST)
        32.05 / Total 0% supplies 19.83 / Total Payable 51.88") is the document's total, not
        one of its parts (which net + VAT = part makes look whole)."""
        if total is None or total.number is None or total.row is None:
            return total
        lines: dict[tuple[int, int], Candidate] = {}
        for c in self.cands.get("total", []):
            if c.number is not None and c.row is not None and c.row[1] >= 0 and c.row[0] == total.row[0]:
                if c.row not in lines or lines[c.row].score < c.score:
                    lines[c.row] = c
        for s in sorted(lines.values(), key=lambda c: c.row):
            if s.row[1] <= total.row[1] or s.number <= 0 or abs(s.number - total.number) <= 0.005:
                continue
            for p in lines.values():
                if p.row[1] < s.row[1] and p.row != total.row and abs(total.number + p.number - s.number) <= 0.005:
                    return Candidate("total", s.value, max(s.score, total.score), s.page, s.bbox, s.number, s.row)
        return total

    def _tender_total(self, total: Candidate | None) -> Candidate | None:
        """The receipt's total checked against its payment lines (module docstring)."""
        pay = self._payment()
        if pay is None or pay.paid <= 0:
            return total
        paid = pay.paid
        if not pay.change and total is not None and total.number is not None \
                and abs(total.number) > paid + _ADJUSTMENT:
            return total  # less handed over than the total, no change: another tender paid the rest
        # The total read from the payment line itself is no second reading.
        own_line = total is not None and total.row is not None and total.row[0] == pay.page \
            and total.row[1] in pay.rows
        if total is not None and total.number is not None and abs(abs(total.number) - paid) <= 0.005 \
                and not own_line:
            return Candidate(total.field, total.value, max(total.score, AGREED), total.page, total.bbox,
                             total.number, total.row)
        # The printed amounts that equal what was paid, outside the payment lines; those under a
        # total's label first, then the nearest above the cash line.
        labelled = {(c.page, c.row, round(c.number, 2)) for name in ("total", "amount_due", "amount")
                    for c in self.cands.get(name, []) if c.number is not None}
        printed = []
        for layout in self.layouts:
            if layout.page.page_no != pay.page:
                continue
            for row in layout.rows:
                if row.index in pay.rows or (pay.page, row.index) in self.table_rows:
                    continue  # the payment lines themselves; an item's price
                for seg in row.segments:
                    for raw, v, st, en in find_amounts(seg.text, self.decimal_sep):
                        if has_decimals(raw) and abs(v - paid) <= 0.005:
                            key = (seg.page, (seg.page, seg.row), round(v, 2))
                            above = row.index < pay.rows[0]
                            printed.append(((key in labelled, above, row.index if above else -row.index),
                                            Candidate("total", raw, FOUND * (0.5 + 0.5 * seg.confidence), seg.page,
                                                      sub_bbox(seg, st, en), v, (seg.page, seg.row))))
        if pay.change is None:
            # No change printed: the cash may exceed the total; only a total's label over the
            # very amount handed over says it was exact.
            printed = [p for p in printed if p[0][0]]
            return max(printed, key=lambda p: p[0])[1] if printed else total
        if printed:
            return max(printed, key=lambda p: p[0])[1]
        if pay.change == 0:
            return Candidate("total", pay.cash_raw, CASH_EXACT, pay.page, pay.cash_bbox, pay.tendered,
                             (pay.page, pay.rows[0]))
        if total is None:
            return Candidate("total", f"{paid:.2f}", DERIVED, pay.page, pay.cash_bbox, paid, (pay.page, pay.rows[0]))
        return Candidate(total.field, total.value, total.score * DISAGREED, total.page, total.bbox, total.number,
                         total.row)
