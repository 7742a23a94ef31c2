"""Raster uploads (PNG, JPEG, TIFF incl. multi-page): bounded decoding, EXIF orientation,
a sane 8-bit RGB mode."""
from __future__ import annotations

import logging
import warnings
from pathlib import Path
from typing import Iterator

import numpy as np
from PIL import Image, ImageOps, ImageSequence, UnidentifiedImageError

from invoice.scanner.processing.errors import PermanentStageError

logger = logging.getLogger(__name__)

DEFAULT_DPI = 200


def _to_rgb(im: Image.Image) -> Image.Image:
    if im.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        # 16-bit/float scans: stretch to 8 bits instead of clipping everything to white.
        arr = np.asarray(im, dtype=np.float64)
        lo, hi = float(arr.min()), float(arr.max())
        arr = (arr - lo) * (255.0 / (hi - lo)) if hi > lo else np.zeros_like(arr)
        im = Image.fromarray(arr.astype(np.uint8), "L")
    if im.mode in ("RGBA", "LA", "PA") or (im.mode == "P" and "transparency" in im.info):
        im = im.convert("RGBA")
        background = Image.new("RGBA", im.size, (255, 255, 255, 255))
        im = Image.alpha_composite(background, im)
    return im.convert("RGB")


def _dpi(im: Image.Image) -> int:
    dpi = im.info.get("dpi")
    try:
        value = int(round(float(dpi[0]))) if dpi else 0
    except (TypeError, ValueError, IndexError):
        value = 0
    # 72/96 dpi is what cameras and screenshots write without meaning it.
    return value if 100 <= value <= 1200 else DEFAULT_DPI


def iter_image_pages(path: Path, max_pixels: int, max_pages: int) -> Iterator[tuple[Image.Image, int]]:
    """Yield (RGB page, dpi) for each frame, refusing any frame over `max_pixels` before it is
    decoded (a decompression bomb never reaches memory)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            im = Image.open(path)
    except (UnidentifiedImageError, Image.DecompressionBombError, Image.DecompressionBombWarning, OSError) as exc:
        raise PermanentStageError(f"the image cannot be read: {exc}") from exc
    with im:
        n_frames = getattr(im, "n_frames", 1)
        if n_frames > max_pages:
            raise PermanentStageError(f"the file has {n_frames} pages; at most {max_pages} are accepted")
        for index, frame in enumerate(ImageSequence.Iterator(im)):
            w, h = frame.size
            if w <= 0 or h <= 0:
                raise PermanentStageError(f"page {index + 1} has no pixels")
            if w * h > max_pixels and frame.format == "JPEG":
                # JPEG can decode at 1/2, 1/4, 1/8 scale: only that many pixels reach memory.
                frame.draft("RGB", (w // 2, h // 2) if w * h <= 4 * max_pixels else (w // 4, h // 4))
                w, h = frame.size
            if w * h > max_pixels:
                raise PermanentStageError(
                    f"page {index + 1} is {w}x{h} pixels, more than the limit of {max_pixels}; "
                    "scan at a lower resolution")
            dpi = _dpi(frame)
            try:
                frame.load()
                page = ImageOps.exif_transpose(frame)  # camera orientation tag, before any evidence
                page = _to_rgb(page)
            except (OSError, ValueError, SyntaxError) as exc:
                raise PermanentStageError(f"page {index + 1} of the image is corrupt: {exc}") from exc
            if page.width * page.height > max_pixels:
                ratio = (max_pixels / (page.width * page.height)) ** 0.5
                page = page.resize((max(1, int(page.width * ratio)), max(1, int(page.height * ratio))),
                                   Image.Resampling.LANCZOS)
            yield page, dpi
