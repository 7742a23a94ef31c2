"""A page image as a stage or the API reads it, from whichever storage holds it (storage.py).

A page with a usable text layer (a born-digital PDF) is not rendered by preprocessing: OCR
does not need its pixels, and rendering plus PNG encoding was most of that stage's time. Its
`image_path` is then a *lazy ref*, `<original ref>#page=<n>&w=<width>&h=<height>`, and the
image is rendered from the original when something asks for it (the web client's page image,
an LLM provider sent images), at exactly the size the text layer's boxes were measured in.

Light on purpose (Pillow, pypdfium2, both API dependencies): the API imports it.
"""
from __future__ import annotations

import io
import math
from dataclasses import dataclass
from urllib.parse import parse_qs

from PIL import Image

from invoice.scanner.processing.config import Settings
from invoice.scanner.processing.errors import PermanentStageError
from invoice.scanner.processing.models import PageImage
from invoice.scanner.processing.storage import ObjectMissing, Storage, get_storage

LAZY_MARK = "#page="


@dataclass(frozen=True)
class LazyPage:
    source: str  # the original's ref
    page_no: int
    width: int
    height: int

    @property
    def ref(self) -> str:
        return f"{self.source}{LAZY_MARK}{self.page_no}&w={self.width}&h={self.height}"


def lazy_page(ref: str) -> LazyPage | None:
    """The lazy page a ref names, or None for a stored image."""
    source, mark, rest = ref.rpartition(LAZY_MARK)
    if not mark or not source:
        return None
    q = {k: v[-1] for k, v in parse_qs(f"page={rest}").items()}
    try:
        return LazyPage(source, int(q["page"]), int(q["w"]), int(q["h"]))
    except (KeyError, ValueError):
        return None


def render_pdf_page(path, page_no: int, width: int, height: int, compress_level: int = 1) -> bytes:
    """Page `page_no` (1-based) of the PDF at `path` as a PNG of exactly `width` x `height`
    (the size preprocessing measured its text layer in), upright as pdfium renders it."""
    import pypdfium2 as pdfium

    doc = pdfium.PdfDocument(str(path))
    try:
        page = doc[page_no - 1]
        try:
            w_pt, _ = page.get_size()
            scale = width / w_pt
            if math.ceil(w_pt * scale) > width:  # float rounding: stay within the measured size
                scale = (width - 0.5) / w_pt
            bitmap = page.render(scale=scale, may_draw_forms=True)
            try:
                im = bitmap.to_pil().convert("RGB")
            finally:
                bitmap.close()
        finally:
            page.close()
    finally:
        doc.close()
    if im.size != (width, height):
        im = im.resize((width, height))
    buf = io.BytesIO()
    # Rendered on request: a fast, larger PNG beats a small one that keeps the client waiting.
    im.save(buf, format="PNG", compress_level=compress_level)
    return buf.getvalue()


def read_page_png(ref: str, storage: Storage) -> bytes:
    """The PNG a page ref names: the stored object, or rendered from the original for a lazy
    ref. Raises `ObjectMissing` when the object (or the original) is gone."""
    lazy = lazy_page(ref)
    if lazy is None:
        return storage.read_bytes(ref)
    with storage.local_copy(lazy.source, suffix=".pdf") as path:
        return render_pdf_page(path, lazy.page_no, lazy.width, lazy.height)


def page_png(page: PageImage, settings: Settings) -> bytes:
    """The PNG of `page`; `PermanentStageError` when it is gone (re-run preprocessing)."""
    try:
        return read_page_png(page.image_path, get_storage(settings))
    except ObjectMissing as exc:
        raise PermanentStageError(f"page image {page.page_no} is missing; run preprocessing again") from exc


def open_page(page: PageImage, settings: Settings) -> Image.Image:
    """The page decoded, loaded into memory (no file handle kept)."""
    im = Image.open(io.BytesIO(page_png(page, settings)))
    im.load()
    return im
