"""PDF pages: validation, bounded rendering (pypdfium2, or poppler's pdftoppm via pdf2image)
and the text layer in rendered-pixel space."""
from __future__ import annotations

import ctypes
import logging
import math
import shutil
import unicodedata
from dataclasses import dataclass
from pathlib import Path

import pypdfium2 as pdfium
import pypdfium2.raw as pdfium_c
from PIL import Image

from invoice.scanner.processing.errors import PermanentStageError
from invoice.scanner.processing.models import OcrWord

logger = logging.getLogger(__name__)

# A text layer is used instead of OCR only when it carries enough real text and little junk.
MIN_TEXT_CHARS = 20
MAX_BAD_CHAR_RATIO = 0.10
# A page that is mostly one picture with a few words on it (a scan with a stamped page number
# or a "scanned by" footer) is a scan: OCR it.
SCAN_IMAGE_AREA_RATIO = 0.5
SCAN_MAX_TEXT_CHARS = 200


@dataclass
class TextLayer:
    words: list[OcrWord]
    good_chars: int
    bad_chars: int
    usable: bool


def _declares_encryption(path: Path) -> bool:
    # pdfium's last-error code is per thread and can be stale after an earlier failure, so the
    # file itself says whether it is encrypted: an /Encrypt entry in its trailer.
    with open(path, "rb") as fh:
        return b"/Encrypt" in fh.read()


def open_pdf(path: Path) -> pdfium.PdfDocument:
    try:
        doc = pdfium.PdfDocument(str(path))
    except pdfium.PdfiumError as exc:
        if _declares_encryption(path):
            raise PermanentStageError("the PDF is encrypted with a password; upload an unprotected copy") from exc
        raise PermanentStageError("the PDF cannot be read: it is corrupt, truncated or has no pages") from exc
    if len(doc) == 0:
        doc.close()
        raise PermanentStageError("the PDF has no pages")
    return doc


def render_scale(page: pdfium.PdfPage, dpi: int, max_pixels: int) -> float:
    """Pixels per PDF point: `dpi`, lowered so the page stays within `max_pixels`."""
    w_pt, h_pt = page.get_size()
    if w_pt <= 0 or h_pt <= 0:
        raise PermanentStageError("a PDF page has no area")
    scale = dpi / 72.0
    pixels = (w_pt * scale) * (h_pt * scale)
    if pixels > max_pixels:
        scale *= (max_pixels / pixels) ** 0.5
        # Renderers round the bitmap size up: step down until the rounded size fits too.
        while math.ceil(w_pt * scale) * math.ceil(h_pt * scale) > max_pixels and scale > 0.01:
            scale *= 0.999
    return scale


def render_pypdfium2(page: pdfium.PdfPage, scale: float) -> Image.Image:
    bitmap = page.render(scale=scale, may_draw_forms=True)
    try:
        return bitmap.to_pil().convert("RGB")
    finally:
        bitmap.close()


def pdftoppm_available() -> bool:
    return shutil.which("pdftoppm") is not None


def render_pdf2image(path: Path, page_no: int, page: pdfium.PdfPage, scale: float) -> Image.Image:
    from pdf2image import convert_from_path  # optional extra: only with PDF_RENDERER=pdf2image

    w_pt, h_pt = page.get_size()
    # Ask poppler for the exact pixel size pdfium would produce, so the text layer (converted
    # with pdfium's page geometry) lines up with the image.
    size = (max(1, math.ceil(w_pt * scale)), max(1, math.ceil(h_pt * scale)))
    images = convert_from_path(str(path), first_page=page_no, last_page=page_no, size=size, fmt="png")
    if not images:
        raise PermanentStageError(f"page {page_no} could not be rendered")
    return images[0].convert("RGB")


def _is_bad(ch: str) -> bool:
    cat = unicodedata.category(ch)
    # Controls, unassigned, private-use and U+FFFD are what fonts without a ToUnicode map
    # (or broken OCR layers) produce.
    return ch == "\ufffd" or cat in ("Cc", "Cn", "Co", "Cs")


def _image_area_ratio(page: pdfium.PdfPage) -> float:
    w_pt, h_pt = page.get_size()
    area = 0.0
    for obj in page.get_objects(filter=[pdfium_c.FPDF_PAGEOBJ_IMAGE], max_depth=2):
        left, bottom, right, top = obj.get_bounds()
        area = max(area, max(0.0, right - left) * max(0.0, top - bottom))
    return area / (w_pt * h_pt) if w_pt * h_pt else 0.0


def text_layer(page: pdfium.PdfPage, width: int, height: int) -> TextLayer:
    """The page's words with boxes in the pixel space of a `width` x `height` rendering."""
    textpage = page.get_textpage()
    try:
        words: list[OcrWord] = []
        good = bad = 0
        cur = ""  # the word so far; its box is x0, y0, x1, y1 while cur is not empty
        x0 = y0 = x1 = y1 = 0.0

        # pdfium's own calls with their output structures made once per page: the helpers
        # (get_charbox, a new pair of c_ints per conversion) were most of the stage's time on a
        # born-digital page (two conversions per glyph).
        raw_text, raw_page = textpage.raw, page.raw
        get_unicode, get_box = pdfium_c.FPDFText_GetUnicode, pdfium_c.FPDFText_GetLooseCharBox
        to_device = pdfium_c.FPDF_PageToDevice
        rect = pdfium_c.FS_RECTF()
        dx, dy = ctypes.c_int(), ctypes.c_int()
        rect_p, dx_p, dy_p = ctypes.byref(rect), ctypes.byref(dx), ctypes.byref(dy)
        # An upright or upside-down page's page-to-device matrix has no shear terms (pdfium builds
        # it from axis-aligned rectangles: b = c = 0 exactly), so a device x depends on the page
        # x alone and a device y on the page y alone, and one pdfium call maps both. Glyphs share
        # edges (one's right is the next one's left) and a line shares its top and bottom: the
        # page's 850 glyphs or so need about 0.8 calls each instead of 2, with the same integers.
        separable = page.get_rotation() in (0, 180)
        dev_x: dict[float, float] = {}
        dev_y: dict[float, float] = {}
        # Per code point, once per page: "" a word break (a space, or code 0), "\0" a bad
        # character (never a good one: U+0000 is a break), else the character itself.
        kinds: dict[int, str] = {}
        for i in range(textpage.count_chars()):
            code = get_unicode(raw_text, i)
            ch = kinds.get(code)
            if ch is None:
                c = chr(code) if 0 < code < 0x110000 else "\ufffd"
                ch = kinds[code] = "" if c.isspace() or code == 0 else ("\0" if _is_bad(c) else c)
            if not ch:
                if cur:
                    words.append(OcrWord(cur, (x0, y0, x1, y1), 1.0))
                    cur = ""
                continue
            if ch == "\0":
                bad += 1
                continue
            good += 1
            # Loose boxes (advance width x font ascent/descent): every glyph of a word gets the
            # same height, so baselines group and small glyphs ('.', ',') do not open gaps.
            if not get_box(raw_text, i, rect_p):
                raise pdfium.PdfiumError("Failed to get charbox.")
            left, top, right, bottom = rect.left, rect.top, rect.right, rect.bottom
            if separable:
                ax, ay = dev_x.get(left), dev_y.get(top)
                if ax is None or ay is None:
                    to_device(raw_page, 0, 0, width, height, 0, left, top, dx_p, dy_p)
                    ax = dev_x[left] = float(dx.value)
                    ay = dev_y[top] = float(dy.value)
                bx, by = dev_x.get(right), dev_y.get(bottom)
                if bx is None or by is None:
                    to_device(raw_page, 0, 0, width, height, 0, right, bottom, dx_p, dy_p)
                    bx = dev_x[right] = float(dx.value)
                    by = dev_y[bottom] = float(dy.value)
            else:
                to_device(raw_page, 0, 0, width, height, 0, left, top, dx_p, dy_p)
                ax, ay = float(dx.value), float(dy.value)
                to_device(raw_page, 0, 0, width, height, 0, right, bottom, dx_p, dy_p)
                bx, by = float(dx.value), float(dy.value)
            cx0, cx1 = (ax, bx) if ax <= bx else (bx, ax)
            cy0, cy1 = (ay, by) if ay <= by else (by, ay)
            if cur:
                gap = 0.3 * (cy1 - cy0)
                if cx0 - x1 > (gap if gap > 2.0 else 2.0):
                    # a visible gap with no space character: a new word
                    words.append(OcrWord(cur, (x0, y0, x1, y1), 1.0))
                    cur = ""
            if cur:
                if cx0 < x0:
                    x0 = cx0
                if cy0 < y0:
                    y0 = cy0
                if cx1 > x1:
                    x1 = cx1
                if cy1 > y1:
                    y1 = cy1
                cur += ch
            else:
                cur, x0, y0, x1, y1 = ch, cx0, cy0, cx1, cy1
        if cur:
            words.append(OcrWord(cur, (x0, y0, x1, y1), 1.0))
    finally:
        textpage.close()
    non_space = good + bad
    usable = good >= MIN_TEXT_CHARS and (bad / non_space if non_space else 1.0) <= MAX_BAD_CHAR_RATIO
    if usable and good < SCAN_MAX_TEXT_CHARS and _image_area_ratio(page) >= SCAN_IMAGE_AREA_RATIO:
        usable = False
    return TextLayer(words, good, bad, usable)
