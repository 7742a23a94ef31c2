"""Identifiers: IBAN, BIC and tax ids found by pattern anywhere, checked by their checksums."""
from __future__ import annotations

import re

from invoice.scanner.processing.extract.layout import PageLayout, Segment, sub_bbox
from invoice.scanner.processing.extract.normalize import (BIC_RE, IBAN_RE, VAT_RE, validate_bic, validate_iban,
                                                          validate_tax_id)
from invoice.scanner.processing.stages.llm.local.candidates import Candidate, scaled


class IdentifiersMixin:
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
                c = scaled(c, 0.35)  # printed, but its checksum fails: probably misread
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
                res[name] = scaled(c, 0.75)
            else:
                res[name] = None
        if res.get("customer_tax_id") and res.get("vendor_tax_id") and \
                res["customer_tax_id"].value == res["vendor_tax_id"].value:
            others = [c for c in vend if c.value != res["customer_tax_id"].value]
            res["vendor_tax_id"] = max(others, key=lambda c: c.score) if others else None
        return res


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
            return scaled(bic, 1.02) if bic.score < 0.98 else bic
        if len(want) == len(printed) and all(a == b or _confusable(a, b) for a, b in zip(want, printed)):
            return Candidate("bic", want, bic.score * 0.9, bic.page, bic.bbox, bic.number, bic.row)
    return bic



def _confusable(a: str, b: str) -> bool:
    groups = ("0OD", "1IL", "5S", "8B", "2Z", "6G")
    return any(a in g and b in g for g in groups)


