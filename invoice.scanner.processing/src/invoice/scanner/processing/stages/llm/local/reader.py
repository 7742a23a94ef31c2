"""The document reader: runs the concerns in order over all pages of one document."""
from __future__ import annotations

from invoice.scanner.processing.extract import doctype, tables
from invoice.scanner.processing.extract.labels import accent_dropped, detect_language, misread_glyphs, norm
from invoice.scanner.processing.extract.layout import build_layout, norm_bbox
from invoice.scanner.processing.extract.normalize import detect_decimal_separator
from invoice.scanner.processing.fields import FIELD_NAMES
from invoice.scanner.processing.models import PDF_TEXT_ENGINE, FieldPrediction, LineItemPrediction, OcrPage
from invoice.scanner.processing.stages.llm.local.amounts import AmountsMixin
from invoice.scanner.processing.stages.llm.local.calibration import calibrate, calibrated
from invoice.scanner.processing.stages.llm.local.candidates import Candidate, LabelHit, LabelsMixin, clip
from invoice.scanner.processing.stages.llm.local.dates import DatesMixin
from invoice.scanner.processing.stages.llm.local.identifiers import IdentifiersMixin
from invoice.scanner.processing.stages.llm.local.line_items import LineItemsMixin
from invoice.scanner.processing.stages.llm.local.parties import PartiesMixin, addressed
from invoice.scanner.processing.stages.llm.local.scorer import (FEATURES, PARTY_FIELDS, Model, candidates_of, choose,
                                                                score_all)
from invoice.scanner.processing.stages.llm.local.tender import TenderMixin

_I_CUSTOMER_NEAR = FEATURES.index("v_customer_near")
UNDER_CUSTOMER_LABEL = 0.6  # the vendor name's confidence at most, when it sits under a customer label
# Fields the rules decide even where the bundled model's file names them. The model took the
# invoice number when the rules found 40 % of the ZUGFeRD dev numbers (its `choice` table); the
# title-sentence rules since find 96.7 %, as many as the model, and the model's picks elsewhere
# are the ones that do not carry over (ZUGFeRD test half: 75.3 % with it, 83.9 % without).
RULES_DECIDE = frozenset({"invoice_number"})
RULES_SURE = 0.8


class DocumentReader(LabelsMixin, DatesMixin, AmountsMixin, PartiesMixin, IdentifiersMixin, LineItemsMixin,
                     TenderMixin):
    def __init__(self, pages: list[OcrPage], model: Model | None = None):
        self.model = model  # the learned scorer (scorer.py); None: the rules alone
        self.learned: set[str] = set()
        self.rule_chosen: dict[str, Candidate | None] = {}
        self.pages = sorted(pages, key=lambda p: p.page_no)
        self.layouts = [build_layout(p) for p in self.pages]
        self.page_by_no = {p.page_no: p for p in self.pages}
        all_text = "\n".join(p.text for p in self.pages)
        self.language = detect_language(all_text)
        self.decimal_sep = detect_decimal_separator([p.text for p in self.pages])
        self.cands: dict[str, list[Candidate]] = {}
        self.hits: list[LabelHit] = []
        self.table_rows: set[tuple[int, int]] = set()
        self.due_sentence_rows: set[tuple[int, int]] = set()
        self.sentence_terms: list[Candidate] = []
        self.doc_type = doctype.DocumentType(doctype.INVOICE, 0.0)  # decided once the labels are read
        self.vendor_options: list = []  # every name the party reading considered (parties.VendorOption)
        # Also the names only the learned scorer weighs (a receipt's header lines on an invoice,
        # the lines under a seller label): read where it decides the vendor, and at its training.
        self.all_vendor_options = model is not None and "vendor_name" in model.fields
        self.customer_seen: str | None = None
        self.vendor_under_customer_label = False

    def _learned_vendor(self, parties: dict[str, Candidate | None]) -> dict[str, Candidate | None]:
        """The vendor's name among the party reading's options, by the learned scorer; its
        address follows the name when the model takes another block than the rules."""
        cands = candidates_of(self, parties, ("vendor_name",))
        if self.doc_type.value == doctype.RECEIPT:
            # A till's slogans, thanks and returns policy are printed big, often at the top of a
            # torn-off slip: a sentence to the customer is never the shop's name.
            cands["vendor_name"] = [c for c in cands["vendor_name"] if not addressed(c.span.raw)]
        score_all(self.model, cands)
        pick = choose(cands, ("vendor_name",))["vendor_name"]
        self.learned.add("vendor_name")
        # The name taken sits under a customer label (two party blocks side by side): which block
        # is whose is the model's guess. Dev generator seeds 23/101/202/303: 6 of 10 such names right.
        under = next((c.features[_I_CUSTOMER_NEAR] for c in cands["vendor_name"] if pick is not None
                      and c.span.raw == pick.value and c.span.bbox == pick.bbox), -1.0)
        self.vendor_under_customer_label = under >= 0
        out: dict[str, Candidate | None] = {"vendor_name": pick}
        ruled = parties["vendor_name"]
        if pick is not None and (ruled is None or norm(pick.value) != norm(ruled.value)):
            option = next((getattr(c, "option", None) for c in cands["vendor_name"]
                           if c.span.raw == pick.value and c.span.bbox == pick.bbox), None)
            address = option.address() if option is not None and option.address is not None else None
            out["vendor_address"] = (Candidate(address.field, address.value, 0.85 * pick.score, address.page,
                                               address.bbox) if address is not None else None)
        return out

    @staticmethod
    def _rules_sure(name: str, chosen: dict[str, Candidate | None]) -> bool:
        c = chosen.get(name)
        return name in RULES_DECIDE and c is not None and c.score >= RULES_SURE

    # --- entry ---------------------------------------------------------------------------

    def read(self) -> tuple[dict[str, FieldPrediction], list[LineItemPrediction]]:
        drafts, self.table_rows = tables.extract_items(self.layouts, self.decimal_sep)
        items = self._line_items(drafts)
        self._label_hits()
        self.doc_type = doctype.classify(self.pages, label_keys={h.key for h in self.hits if h.strength >= 1.0})
        for hit in self.hits:
            self._values_for(hit)
        self._identifiers()
        self._sentence_dates()
        self._vat_breakdown()
        chosen: dict[str, Candidate | None] = {}
        chosen.update(self._totals(items))
        chosen["currency"] = self._currency(chosen)
        for name in ("invoice_number", "invoice_date", "due_date", "purchase_order", "payment_terms"):
            chosen[name] = self._best(name)
        if chosen["payment_terms"] is None and self.sentence_terms:
            chosen["payment_terms"] = max(self.sentence_terms, key=lambda c: c.score)
        if chosen["invoice_date"] is None:
            chosen["invoice_date"] = self._fallback_invoice_date(chosen)
        self.rule_chosen = dict(chosen)  # the rules' answer: features of the scorer, its training's baseline
        if self.model is not None:
            # The rules' choices are features of the learned scorer, which decides the fields
            # its file names (those where it generalized better than the rules at training).
            early = tuple(f for f in self.model.fields if f not in PARTY_FIELDS and not self._rules_sure(f, chosen))
            cands = candidates_of(self, chosen, early)
            score_all(self.model, cands)
            learned = choose(cands, early)
            chosen.update(learned)
            self.learned = set(learned)
        # A till's payment lines are a second reading of its total (tender.py); on a slip, a total
        # line under two others that it adds up is the whole.
        if self.doc_type.value == doctype.RECEIPT:
            chosen["total"] = self._sum_of_parts(chosen["total"])
        chosen["total"] = self._tender_total(chosen["total"])
        parties = self._parties()
        chosen.update(parties)
        self.rule_chosen["vendor_name"] = parties["vendor_name"]
        self.customer_seen = norm(parties["customer_name"].value) if parties["customer_name"] is not None else None
        if self.model is not None and "vendor_name" in self.model.fields:
            chosen.update(self._learned_vendor(parties))
        chosen.update(self._bank_and_tax(chosen))
        out: dict[str, FieldPrediction] = {}
        for name in FIELD_NAMES:
            c = chosen.get(name)
            if c is None:
                out[name] = FieldPrediction(name=name, value=None, confidence=0.0)
            else:
                page = self.page_by_no[c.page]
                born_digital = page.engine == PDF_TEXT_ENGINE
                # A learned field's score is already a probability; a rule's score first goes
                # through the rules' doubt factors.
                first = clip(c.score) if name in self.learned else calibrate(name, clip(c.score), born_digital)
                conf = calibrated(name, first, "born_digital" if born_digital else "scanned")
                if name in ("vendor_name", "customer_name") and page.engine != PDF_TEXT_ENGINE \
                        and (accent_dropped(c.value, self.language) or misread_glyphs(c.value)):
                    # "Logistica" in a Spanish invoice (an accent dropped), "perbang Alaf Restaurants
                    # Sdn Bhd" (a letter misread): the recognizer's confidence does not show it
                    # (SROIE dev: 0.98). The name needs a human look.
                    conf = min(conf, 0.45)
                if name == "vendor_name" and self.vendor_under_customer_label:
                    conf = min(conf, UNDER_CUSTOMER_LABEL)
                out[name] = FieldPrediction(name=name, value=c.value.strip(), confidence=round(conf, 3),
                                            page=c.page, bbox=norm_bbox(c.bbox, page))
        return out, items

