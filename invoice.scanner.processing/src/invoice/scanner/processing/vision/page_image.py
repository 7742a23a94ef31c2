"""A page image as a stage reads it, from whichever storage holds it (storage.py)."""
from __future__ import annotations

import io

from PIL import Image

from invoice.scanner.processing.config import Settings
from invoice.scanner.processing.errors import PermanentStageError
from invoice.scanner.processing.models import PageImage
from invoice.scanner.processing.storage import ObjectMissing, get_storage


def page_png(page: PageImage, settings: Settings) -> bytes:
    """The stored PNG of `page`; `PermanentStageError` when it is gone (re-run preprocessing)."""
    try:
        return get_storage(settings).read_bytes(page.image_path)
    except ObjectMissing as exc:
        raise PermanentStageError(f"page image {page.page_no} is missing; run preprocessing again") from exc


def open_page(page: PageImage, settings: Settings) -> Image.Image:
    """The page decoded, loaded into memory (no file handle kept)."""
    im = Image.open(io.BytesIO(page_png(page, settings)))
    im.load()
    return im
