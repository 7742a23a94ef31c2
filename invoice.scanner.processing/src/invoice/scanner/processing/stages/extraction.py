"""Stage 4: validate and normalize the predicted fields (dates, amounts, currency, IDs,
derived values, line items)."""
from __future__ import annotations

from invoice.scanner.processing.models import Extraction, OcrPage, Prediction
from invoice.scanner.processing.pipeline import StageContext, StageOutcome, run_stage, stage_task


def extract(prediction: Prediction, pages: list[OcrPage]) -> Extraction:
    raise NotImplementedError  # being written


# --- task -------------------------------------------------------------------------------

def _work(ctx: StageContext) -> StageOutcome:
    doc_id = str(ctx.document.id)
    extraction = extract(ctx.repo.load_prediction(doc_id), ctx.repo.load_ocr(doc_id))
    ctx.repo.save_extraction(doc_id, extraction)
    return StageOutcome(detail={
        "fields": sum(1 for f in extraction.fields.values() if f.value is not None),
        "invalid": sorted(f.name for f in extraction.fields.values() if not f.valid),
        "line_items": len(extraction.line_items),
    })


@stage_task("extraction")
def extract_document(self, document_id: str, run: int) -> str:
    return run_stage(self, "extraction", document_id, run, _work)
