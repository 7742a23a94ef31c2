"""Stage 3: field prediction. `LLM_PROVIDER` picks the provider (see `providers.py`)."""
from __future__ import annotations

from dataclasses import asdict

from celery.signals import worker_process_init

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


def warm_up_local_model(settings) -> bool:
    """Read the local provider's learned scorer (stages/llm/local/scorer.py) now, where the local
    provider is the provider or a fallback; True when a model was loaded."""
    from invoice.scanner.processing.stages.llm.fallback import parse_fallback

    if "local" not in (settings.llm_provider, *parse_fallback(settings.llm_fallback, settings.llm_provider)):
        return False
    from invoice.scanner.processing.stages.llm.local.scorer import load_model, model_path

    path = model_path(settings)
    return path is not None and load_model(str(path)) is not None


@worker_process_init.connect
def _warm_up_local_model(**_kwargs) -> None:
    """Once per process, in llm workers only (every worker imports this module): the first
    document does not pay for LightGBM's import and the model file."""
    from invoice.scanner.processing.celery_app import app

    if "llm" not in (app.amqp.queues.consume_from or {}):
        return
    from invoice.scanner.processing.config import get_settings

    warm_up_local_model(get_settings())


@stage_task("llm")
def predict_document(self, document_id: str, run: int) -> str:
    return run_stage(self, "llm", document_id, run, _work)
