"""Stage 1: validate by content, render pages to images, fix orientation/skew, clean scans,
keep a PDF's text layer.  (Pure functions above, the thin task at the bottom.)"""
from __future__ import annotations

import io
import logging
from dataclasses import dataclass
from pathlib import Path

from invoice.scanner.processing.config import Settings
from invoice.scanner.processing.einvoice import flow as einvoice_flow
from invoice.scanner.processing.errors import PermanentStageError
from invoice.scanner.processing.models import OcrWord, PageImage
from invoice.scanner.processing.runner import StageContext, StageOutcome, run_stage, stage_task
from invoice.scanner.processing.status import Status
from invoice.scanner.processing.storage import LocalStorage, ObjectMissing, Storage, document_prefix, get_storage

logger = logging.getLogger(__name__)

PDF_RENDERERS = ("pypdfium2", "pdf2image")

# OpenCV, pypdfium2 and ONNX Runtime are imported inside the functions below: every worker
# imports every stage module (celery_app.TASK_MODULES), and only preprocessing workers should
# pay for these libraries.


@dataclass(frozen=True)
class PageWriter:
    """Where one document's page images go: `<prefix>/page-0001.png`, ... in a storage."""

    storage: Storage
    prefix: str = ""

    def key(self, page_no: int) -> str:
        name = f"page-{page_no:04d}.png"
        return f"{self.prefix}/{name}" if self.prefix else name

    def save(self, page_no: int, pil, dpi: int) -> str:
        """The PNG under its final key, whole or not at all (a redelivered task never reads half
        a file); returns the ref the database keeps."""
        buf = io.BytesIO()
        pil.save(buf, format="PNG", dpi=(dpi, dpi))
        buf.seek(0)
        return self.storage.put_file(self.key(page_no), buf)

    def remove_stale(self, count: int) -> None:
        """A re-run must leave exactly this run's pages (an earlier run may have written more)."""
        for key in self.storage.list_keys(self.prefix) if self.prefix else []:
            name = key.rsplit("/", 1)[-1]
            if not (name.startswith("page-") and name.endswith(".png")):
                continue
            try:
                number = int(name[5:-4])
            except ValueError:
                continue
            if number > count:
                self.storage.delete(key)


def page_writer(out: "Path | PageWriter") -> PageWriter:
    if isinstance(out, PageWriter):
        return out
    out = Path(out)
    return PageWriter(LocalStorage(out.parent), out.name)


def preprocess(source: Path, content_type: str, out: "Path | PageWriter", settings: Settings) -> list[PageImage]:
    """Render `source` (a local file) into upright, cleaned page images written by `out` (a
    folder or a `PageWriter` into the configured storage): page-0001.png, ..."""
    from invoice.scanner.processing.vision.sniff import PDF, SUPPORTED, sniff_file

    source = Path(source)
    if not source.is_file():
        raise PermanentStageError(f"the uploaded file is missing: {source.name}")
    if source.stat().st_size == 0:
        raise PermanentStageError("the uploaded file is empty")
    actual = sniff_file(source)
    if actual is None:
        raise PermanentStageError(
            f"unsupported file: its content is not a PDF, PNG, JPEG or TIFF (declared {content_type or 'nothing'})")
    if content_type and content_type != actual:
        # Content decides; a wrong declared type is worth a line in the log, not a failure.
        logger.warning("declared content type %s but the file is %s", content_type, actual)
    assert actual in SUPPORTED
    writer = page_writer(out)
    pages = _preprocess_pdf(source, writer, settings) if actual == PDF else _preprocess_image(source, writer, settings)
    writer.remove_stale(len(pages))
    return pages


def _preprocess_pdf(source: Path, out: PageWriter, settings: Settings) -> list[PageImage]:
    from invoice.scanner.processing.vision import pdf as pdfv

    renderer = settings.pdf_renderer
    if renderer not in PDF_RENDERERS:
        raise ValueError(f"PDF_RENDERER must be one of {PDF_RENDERERS}, not {renderer!r}")
    if renderer == "pdf2image" and not pdfv.pdftoppm_available():
        logger.warning("PDF_RENDERER=pdf2image but poppler's pdftoppm is not installed; using pypdfium2")
        renderer = "pypdfium2"
    doc = pdfv.open_pdf(source)
    try:
        if len(doc) > settings.max_pages:
            raise PermanentStageError(f"the PDF has {len(doc)} pages; at most {settings.max_pages} are accepted")
        pages: list[PageImage] = []
        for index in range(len(doc)):
            try:
                page = doc[index]
            except pdfv.pdfium.PdfiumError as exc:
                # A broken page tree (cyclic or missing page objects) fails the same way every time.
                raise PermanentStageError(f"page {index + 1} of the PDF cannot be loaded: {exc}") from exc
            try:
                scale = pdfv.render_scale(page, settings.render_dpi, settings.max_page_pixels)
                try:
                    if renderer == "pdf2image":
                        pil = pdfv.render_pdf2image(source, index + 1, page, scale)
                    else:
                        pil = pdfv.render_pypdfium2(page, scale)
                except pdfv.pdfium.PdfiumError as exc:
                    raise PermanentStageError(f"page {index + 1} of the PDF cannot be rendered: {exc}") from exc
                layer = pdfv.text_layer(page, pil.width, pil.height)
            finally:
                page.close()
            dpi = round(scale * 72)
            logger.info("page %d: %dx%d at %d dpi, text layer %d chars (%d bad), usable=%s",
                        index + 1, pil.width, pil.height, dpi, layer.good_chars, layer.bad_chars, layer.usable)
            pages.append(_finish_page(index + 1, pil, dpi, out, settings,
                                      text_layer=layer.words if layer.usable else None))
        return pages
    finally:
        doc.close()


def _preprocess_image(source: Path, out: PageWriter, settings: Settings) -> list[PageImage]:
    from invoice.scanner.processing.vision.images import iter_image_pages

    pages: list[PageImage] = []
    for index, (pil, dpi) in enumerate(iter_image_pages(source, settings.max_page_pixels, settings.max_pages)):
        pages.append(_finish_page(index + 1, pil, dpi, out, settings, text_layer=None))
    if not pages:
        raise PermanentStageError("the image has no pages")
    return pages


def _finish_page(page_no: int, pil, dpi: int, out: PageWriter, settings: Settings,
                 text_layer: list[OcrWord] | None) -> PageImage:
    """Orientation, skew and clean-up for pages without a usable text layer; then save."""
    import numpy as np
    from PIL import Image

    rotation, skew = 0, 0.0
    if text_layer is None:
        # A born-digital page with its text layer is upright and straight by construction:
        # the heuristics below could only break it, and its word boxes would no longer match.
        from invoice.scanner.processing.vision.cleanup import clean_scan
        from invoice.scanner.processing.vision.engines import get_probe
        from invoice.scanner.processing.vision.orientation import analyze, deskew, turn

        image = np.asarray(pil)
        geometry = analyze(image, get_probe(settings))
        logger.info("page %d orientation evidence: %s", page_no, geometry.evidence)
        rotation, skew = geometry.rotation, geometry.skew
        if rotation:
            image = turn(image, rotation)
        if skew:
            image = deskew(image, skew)
        image, cleaned = clean_scan(image)
        if cleaned:
            logger.info("page %d clean-up: %s", page_no, cleaned)
        pil = Image.fromarray(image)
    ref = out.save(page_no, pil, dpi)
    return PageImage(page_no=page_no, image_path=ref, width=pil.width, height=pil.height, dpi=dpi,
                     rotation=rotation, skew_degrees=skew, text_layer=text_layer)


# --- task -------------------------------------------------------------------------------

def _work(ctx: StageContext) -> StageOutcome:
    doc = ctx.document
    storage = get_storage(ctx.settings)
    writer = PageWriter(storage, f"{document_prefix(str(doc.company_id), str(doc.id))}/pages")
    # pdfium wants a path: the bucket's object is streamed to a temporary file, deleted after.
    try:
        with storage.local_copy(doc.stored_path, suffix=Path(doc.stored_path).suffix) as source:
            # An e-invoice (a bare XML, or the XML inside a hybrid PDF) is read and kept first;
            # a bare XML has no pages to render (einvoice/flow.py).
            einvoice = einvoice_flow.at_preprocessing(ctx.settings.database_url, str(doc.id), source)
            pages = [] if einvoice and einvoice.bare else preprocess(source, doc.content_type, writer, ctx.settings)
    except ObjectMissing as exc:
        raise PermanentStageError(f"the uploaded file is missing: {Path(doc.stored_path).name}") from exc
    ctx.repo.save_pages(str(doc.id), pages)
    return StageOutcome(
        detail={"pages": len(pages), "rotations": [p.rotation for p in pages],
                "text_layer_pages": sum(1 for p in pages if p.text_layer),
                **({"einvoice": einvoice.detail} if einvoice else {})},
        next_status=Status.PREPROCESSED,
    )


@stage_task("preprocessing")
def preprocess_document(self, document_id: str, run: int) -> str:
    return run_stage(self, "preprocessing", document_id, run, _work)
