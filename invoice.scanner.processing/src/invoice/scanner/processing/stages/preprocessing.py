"""Stage 1: validate by content, render pages to images, fix orientation/skew, clean scans,
keep a PDF's text layer.  (Pure functions above, the thin task at the bottom.)"""
from __future__ import annotations

import io
import logging
import math
from dataclasses import dataclass, replace
from pathlib import Path

from invoice.scanner.processing.config import Settings
from invoice.scanner.processing.einvoice import flow as einvoice_flow
from invoice.scanner.processing.errors import PermanentStageError
from invoice.scanner.processing.models import PageImage
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
    # The original's ref, which a page that is not rendered (a usable text layer) points at.
    original_ref: str | None = None

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

    def remove_stale(self, stored: set[int]) -> None:
        """A re-run must leave exactly this run's page images (an earlier run may have written
        more, or rendered a page this run leaves to be rendered on request)."""
        for key in self.storage.list_keys(self.prefix) if self.prefix else []:
            name = key.rsplit("/", 1)[-1]
            if not (name.startswith("page-") and name.endswith(".png")):
                continue
            try:
                number = int(name[5:-4])
            except ValueError:
                continue
            if number not in stored:
                self.storage.delete(key)


def page_writer(out: "Path | PageWriter") -> PageWriter:
    if isinstance(out, PageWriter):
        return out
    out = Path(out)
    return PageWriter(LocalStorage(out.parent), out.name)


def preprocess(source: Path, content_type: str, out: "Path | PageWriter", settings: Settings) -> list[PageImage]:
    """Render `source` (a local file) into upright, cleaned page images written by `out` (a
    folder or a `PageWriter` into the configured storage): page-0001.png, ..."""
    from invoice.scanner.processing.vision.page_image import lazy_page
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
    if writer.original_ref is None:
        writer = replace(writer, original_ref=str(source.resolve()))
    pages = _preprocess_pdf(source, writer, settings) if actual == PDF else _preprocess_image(source, writer, settings)
    writer.remove_stale({p.page_no for p in pages if lazy_page(p.image_path) is None})
    return pages


def _preprocess_pdf(source: Path, out: PageWriter, settings: Settings) -> list[PageImage]:
    from invoice.scanner.processing.vision import pdf as pdfv
    from invoice.scanner.processing.vision.page_image import LazyPage

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
                # The size every renderer gives at this scale (pdfium rounds up; pdf2image is
                # asked for the same): the text layer is measured in it before any rendering.
                w_pt, h_pt = page.get_size()
                width, height = max(1, math.ceil(w_pt * scale)), max(1, math.ceil(h_pt * scale))
                layer = pdfv.text_layer(page, width, height)
                dpi = round(scale * 72)
                logger.info("page %d: %dx%d at %d dpi, text layer %d chars (%d bad), usable=%s",
                            index + 1, width, height, dpi, layer.good_chars, layer.bad_chars, layer.usable)
                if layer.usable:
                    # Born-digital: OCR reads the text layer, so the pixels are not needed on the
                    # hot path. The image is rendered from the original when asked for.
                    ref = LazyPage(out.original_ref, index + 1, width, height).ref
                    pages.append(PageImage(page_no=index + 1, image_path=ref, width=width, height=height, dpi=dpi,
                                           text_layer=layer.words))
                    continue
                try:
                    if renderer == "pdf2image":
                        pil = pdfv.render_pdf2image(source, index + 1, page, scale)
                    else:
                        pil = pdfv.render_pypdfium2(page, scale)
                except pdfv.pdfium.PdfiumError as exc:
                    raise PermanentStageError(f"page {index + 1} of the PDF cannot be rendered: {exc}") from exc
            finally:
                page.close()
            pages.append(_finish_page(index + 1, pil, dpi, out, settings))
        return pages
    finally:
        doc.close()


def _preprocess_image(source: Path, out: PageWriter, settings: Settings) -> list[PageImage]:
    from invoice.scanner.processing.vision.images import iter_image_pages

    pages: list[PageImage] = []
    for index, (pil, dpi) in enumerate(iter_image_pages(source, settings.max_page_pixels, settings.max_pages)):
        pages.append(_finish_page(index + 1, pil, dpi, out, settings))
    if not pages:
        raise PermanentStageError("the image has no pages")
    return pages


def _finish_page(page_no: int, pil, dpi: int, out: PageWriter, settings: Settings) -> PageImage:
    """Orientation, skew and clean-up for a page OCR will read (no usable text layer); then save.
    (A born-digital page with its text layer is upright and straight by construction and is
    never rendered here: the heuristics could only break it, and its word boxes would no longer
    match.)"""
    import numpy as np
    from PIL import Image

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
                     rotation=rotation, skew_degrees=skew, text_layer=None)


# --- task -------------------------------------------------------------------------------

def _work(ctx: StageContext) -> StageOutcome:
    doc = ctx.document
    storage = get_storage(ctx.settings)
    writer = PageWriter(storage, f"{document_prefix(str(doc.company_id), str(doc.id))}/pages", doc.stored_path)
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
