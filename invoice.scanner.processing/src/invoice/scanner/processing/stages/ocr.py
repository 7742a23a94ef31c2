"""Stage 2: OCR. An engine interface with `rapidocr` (PP-OCR ONNX, default) and `paddle`
(PaddleOCR on paddlepaddle-gpu). The engine loads once per worker process."""
from __future__ import annotations

from invoice.scanner.processing.config import Settings
from invoice.scanner.processing.models import OcrPage, PageImage
from invoice.scanner.processing.pipeline import StageContext, StageOutcome, run_stage, stage_task


def ocr_pages(pages: list[PageImage], settings: Settings) -> list[OcrPage]:
    """OCR every page; a page with a usable text layer skips OCR (engine `pdf-text`)."""
    raise NotImplementedError  # being written


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
