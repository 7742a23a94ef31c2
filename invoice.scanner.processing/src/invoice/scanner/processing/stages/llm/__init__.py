"""Stage 3: field prediction. `LLM_PROVIDER` picks the provider (see `providers.py`)."""
from __future__ import annotations

from dataclasses import asdict

from invoice.scanner.processing.einvoice import flow as einvoice_flow
from invoice.scanner.processing.runner import StageContext, StageOutcome, run_stage, stage_task
from invoice.scanner.processing.stages.llm.providers import get_provider


def _work(ctx: StageContext) -> StageOutcome:
    einvoice = einvoice_flow.at_llm(ctx)  # an e-invoice's predictions come from its XML
    if einvoice is not None:
        return einvoice
    doc_id = str(ctx.document.id)
    pages = ctx.repo.load_ocr(doc_id)
    images = ctx.repo.load_pages(doc_id) if ctx.settings.llm_send_images else []
    provider = get_provider(ctx.settings)
    prediction = provider.predict(pages, images)
    ctx.repo.save_prediction(doc_id, prediction)
    found = sum(1 for f in prediction.fields.values() if f.value)
    return StageOutcome(detail={"provider": prediction.usage.provider, "model": prediction.usage.model,
                                "fields_found": found, "line_items": len(prediction.line_items),
                                "usage": asdict(prediction.usage)})


@stage_task("llm")
def predict_document(self, document_id: str, run: int) -> str:
    return run_stage(self, "llm", document_id, run, _work)
