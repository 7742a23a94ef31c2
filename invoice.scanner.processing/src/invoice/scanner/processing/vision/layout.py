"""Words, lines and reading order, the same whatever produced the text (an OCR engine or a
PDF's text layer)."""
from __future__ import annotations

import statistics
from typing import Iterable

from invoice.scanner.processing.models import BBox, OcrLine, OcrWord

# Relative advance widths of a proportional sans font (Helvetica-like, in 1/1000 em), used to
# place word boxes inside a line box when the engine gives only the line's box.
_NARROW = set("iljtfI.,:;'!|()[]{}`\"")
_WIDE = set("mwMWOQGDHNU@%&")


def _char_weight(ch: str) -> float:
    if ch == " ":
        return 0.28
    if ch in _NARROW:
        return 0.3
    if ch in _WIDE:
        return 0.85
    if ch.isupper() or ch.isdigit():
        return 0.62
    if ch.isalpha():
        return 0.52
    return 0.55


def split_words(text: str, bbox: BBox, confidence: float) -> list[OcrWord]:
    """Split a line into words with boxes placed by character proportions."""
    x0, y0, x1, y1 = bbox
    total = sum(_char_weight(c) for c in text) or 1.0
    scale = (x1 - x0) / total
    words: list[OcrWord] = []
    pos = 0.0
    current = ""
    start = 0.0
    for ch in text + " ":
        if ch.isspace():
            if current:
                words.append(OcrWord(current, (x0 + start * scale, y0, x0 + pos * scale, y1), confidence))
                current = ""
        else:
            if not current:
                start = pos
            current += ch
        pos += _char_weight(ch) if ch != "\n" else 0.0
    return words


def _v_overlap(a: BBox, b: BBox) -> float:
    """Vertical overlap as a fraction of the smaller height."""
    inter = min(a[3], b[3]) - max(a[1], b[1])
    smaller = min(a[3] - a[1], b[3] - b[1])
    return inter / smaller if smaller > 0 else 0.0


def _union(boxes: Iterable[BBox]) -> BBox:
    boxes = list(boxes)
    return (min(b[0] for b in boxes), min(b[1] for b in boxes), max(b[2] for b in boxes), max(b[3] for b in boxes))


def _rows(items: list, box_of) -> list[list]:
    """Group items into rows: an item joins the row whose vertical band it overlaps by half."""
    rows: list[tuple[BBox, list]] = []
    for item in sorted(items, key=lambda it: ((box_of(it)[1] + box_of(it)[3]) / 2, box_of(it)[0])):
        box = box_of(item)
        top, bottom = box[1], box[3]
        for i, (row_box, members) in enumerate(rows):
            # _v_overlap(row_box, box) >= 0.5, written out: this loop runs rows x items times
            # per page (a third of the OCR stage's time on a born-digital page as a call).
            inter = (row_box[3] if row_box[3] < bottom else bottom) - (row_box[1] if row_box[1] > top else top)
            if inter <= 0:
                continue
            smaller = min(row_box[3] - row_box[1], bottom - top)
            if smaller > 0 and inter / smaller >= 0.5:
                members.append(item)
                rows[i] = (_union([row_box, box]), members)
                break
        else:
            rows.append((box, [item]))
    rows.sort(key=lambda r: (r[0][1] + r[0][3]) / 2)
    return [sorted(members, key=lambda it: box_of(it)[0]) for _, members in rows]


def reading_order(lines: list[OcrLine]) -> list[OcrLine]:
    """Top-to-bottom, and left-to-right within lines that share a row."""
    return [line for row in _rows(lines, lambda ln: ln.bbox) for line in row]


def lines_from_words(words: list[OcrWord], gap_factor: float = 1.5) -> list[OcrLine]:
    """Text-layer words to lines: group by baseline, then split a row where the horizontal gap
    is wider than `gap_factor` x the row's text height, as a text detector would (separate
    columns of an invoice stay separate lines)."""
    lines: list[OcrLine] = []
    for row in _rows([w for w in words if w.text.strip()], lambda w: w.bbox):
        height = statistics.median(w.bbox[3] - w.bbox[1] for w in row) or 1.0
        group: list[OcrWord] = [row[0]]
        for word in row[1:]:
            if word.bbox[0] - group[-1].bbox[2] > gap_factor * height:
                lines.append(_line(group))
                group = [word]
            else:
                group.append(word)
        lines.append(_line(group))
    return reading_order(lines)


def _line(words: list[OcrWord]) -> OcrLine:
    conf = min(w.confidence for w in words)
    return OcrLine(" ".join(w.text for w in words), _union(w.bbox for w in words), conf, list(words))
