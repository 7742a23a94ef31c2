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

Modules: `candidates` (label hits and the typed values next to them), `dates`, `amounts`
(net / VAT / total chosen together, currency), `parties` (vendor and customer blocks),
`identifiers` (IBAN, BIC, tax ids), `line_items`, `tender` (a till's cash and change lines as a
second reading of its total), `calibration` (rule score -> probability) and `reader` (the
document reader that runs them in order).
"""
from __future__ import annotations

import time

from invoice.scanner.processing.models import LlmUsage, OcrPage, PageImage, Prediction
from invoice.scanner.processing.stages.llm.base import LlmProvider
from invoice.scanner.processing.stages.llm.local.calibration import calibrate
from invoice.scanner.processing.stages.llm.local.candidates import Candidate, LabelHit
from invoice.scanner.processing.stages.llm.local.reader import DocumentReader
from invoice.scanner.processing.stages.llm.local.scorer import load_model, model_path

__all__ = ["MODEL", "Candidate", "LabelHit", "LocalProvider", "calibrate"]

MODEL = "layout-rules-v1"


class LocalProvider(LlmProvider):
    name = "local"

    def predict(self, pages: list[OcrPage], images: list[PageImage]) -> Prediction:
        t0 = time.perf_counter()
        path = model_path(self.settings)
        model = load_model(str(path)) if path is not None else None  # read once per process
        reader = DocumentReader(pages, model)
        fields, items = reader.read()
        name = MODEL if model is None else f"{MODEL}+{model.meta.get('version', 'scorer')}"
        usage = LlmUsage(provider="local", model=name, latency_s=round(time.perf_counter() - t0, 4))
        return Prediction(fields=fields, line_items=items, usage=usage)
