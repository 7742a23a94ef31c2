"""Stage 2: OCR. An engine interface with `rapidocr` (PP-OCR ONNX, default) and `paddle`
(PaddleOCR on paddlepaddle-gpu). The engine loads once per worker process."""
from __future__ import annotations

import logging
import time

from celery.signals import worker_process_init

from invoice.scanner.processing.config import Settings, get_settings
from invoice.scanner.processing.models import PDF_TEXT_ENGINE, OcrLine, OcrPage, PageImage
from invoice.scanner.processing.runner import StageContext, StageOutcome, run_stage, stage_task

logger = logging.getLogger(__name__)


def ocr_pages(pages: list[PageImage], settings: Settings) -> list[OcrPage]:
    """OCR every page; a page with a usable text layer skips OCR (engine `pdf-text`)."""
    return [ocr_page(page, settings) for page in pages]


def ocr_page(page: PageImage, settings: Settings) -> OcrPage:
    # Imported here so workers of other stages never load NumPy/OpenCV/ONNX Runtime.
    from invoice.scanner.processing.vision.layout import lines_from_words, reading_order, split_words

    started = time.perf_counter()
    if page.text_layer:
        lines = lines_from_words(page.text_layer)
        return OcrPage(page.page_no, page.width, page.height, PDF_TEXT_ENGINE, lines,
                       time.perf_counter() - started)

    import numpy as np

    from invoice.scanner.processing.vision.engines import get_engine
    from invoice.scanner.processing.vision.page_image import open_page

    engine = get_engine(settings)
    with open_page(page, settings) as im:
        image = np.asarray(im.convert("RGB"))
    raw = engine.read(image)
    lines = [OcrLine(r.text, r.bbox, r.confidence, split_words(r.text, r.bbox, r.confidence)) for r in raw]
    return OcrPage(page.page_no, image.shape[1], image.shape[0], engine.name, reading_order(lines),
                   time.perf_counter() - started)


@worker_process_init.connect
def _warm_up_ocr_engine(**_kwargs) -> None:
    """Load the OCR model once per worker process, before the first task, in OCR workers only
    (every worker imports this module; a model in the llm worker would be wasted memory)."""
    from invoice.scanner.processing.celery_app import app

    queues = app.amqp.queues.consume_from or {}
    if "ocr" not in queues:
        return
    from invoice.scanner.processing.vision.engines import warm_up

    settings = get_settings()
    started = time.perf_counter()
    warm_up(settings)
    logger.info("OCR engine %s/%s warmed up in %.1fs", settings.ocr_engine, settings.ocr_models,
                time.perf_counter() - started)


# --- task -------------------------------------------------------------------------------

def _work(ctx: StageContext) -> StageOutcome:
    doc_id = str(ctx.document.id)
    pages = ctx.repo.load_pages(doc_id)
    result = ocr_pages(pages, ctx.settings)
    ctx.repo.save_ocr(doc_id, result)
    return StageOutcome(detail={
        "engines": sorted({p.engine for p in result}),
        "lines": sum(len(p.lines) for p in result),
        "page_seconds": [round(p.seconds, 3) for p in result],
    })


@stage_task("ocr")
def ocr_document(self, document_id: str, run: int) -> str:
    return run_stage(self, "ocr", document_id, run, _work)
