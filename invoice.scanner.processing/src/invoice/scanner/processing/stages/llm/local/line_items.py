"""Line items from the table under a header row (`extract.tables`)."""
from __future__ import annotations

from invoice.scanner.processing.extract import tables
from invoice.scanner.processing.extract.layout import norm_bbox
from invoice.scanner.processing.models import LineItemPrediction


class LineItemsMixin:
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


