"""OCR lines built by hand for the extractor's unit tests (tests/ is on pythonpath): a line's
words laid out left to right at `cw` pixels per character, so a test states a page's layout."""
from __future__ import annotations

from invoice.scanner.processing.models import OcrLine, OcrWord


def line(text: str, x: float, y: float, cw: float = 6.0, h: float = 12.0, conf: float = 0.98,
         words: bool = True) -> OcrLine:
    """One OCR line at (x, y) with word boxes of `cw` pixels per character (none: `words=False`)."""
    ws, pos = [], x
    for tok in text.split(" "):
        if tok:
            ws.append(OcrWord(tok, (pos, y, pos + cw * len(tok), y + h), conf))
        pos += cw * (len(tok) + 1)
    return OcrLine(text, (x, y, pos - cw, y + h), conf, ws if words else [])
