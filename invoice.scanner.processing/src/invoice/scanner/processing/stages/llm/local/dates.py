"""Dates: the invoice date when no label names it."""
from __future__ import annotations

from invoice.scanner.processing.extract.layout import sub_bbox
from invoice.scanner.processing.extract.normalize import find_dates
from invoice.scanner.processing.stages.llm.local.candidates import Candidate


class DatesMixin:
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

