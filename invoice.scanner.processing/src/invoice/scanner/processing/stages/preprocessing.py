"""Stage 1: validate by content, render pages to images, fix orientation/skew, clean scans,
keep a PDF's text layer.  (Pure functions above, the thin task at the bottom.)"""
from __future__ import annotations

from pathlib import Path

from invoice.scanner.processing.config import Settings
from invoice.scanner.processing.models import PageImage
from invoice.scanner.processing.pipeline import StageContext, StageOutcome, run_stage, stage_task
from invoice.scanner.processing.status import Status
from invoice.scanner.processing.storage import pages_dir


def preprocess(source: Path, content_type: str, out_dir: Path, settings: Settings) -> list[PageImage]:
    """Render `source` into upright, cleaned page images in `out_dir` (page-0001.png, ...)."""
    raise NotImplementedError  # being written


# --- task -------------------------------------------------------------------------------

def _work(ctx: StageContext) -> StageOutcome:
    doc = ctx.document
    pages = preprocess(Path(doc.stored_path), doc.content_type, pages_dir(doc.stored_path), ctx.settings)
    ctx.repo.save_pages(str(doc.id), pages)
    return StageOutcome(
        detail={"pages": len(pages), "rotations": [p.rotation for p in pages],
                "text_layer_pages": sum(1 for p in pages if p.text_layer)},
        next_status=Status.PREPROCESSED,
    )


@stage_task("preprocessing")
def preprocess_document(self, document_id: str, run: int) -> str:
    return run_stage(self, "preprocessing", document_id, run, _work)
