"""Page layout: OCR words regrouped into visual rows and gap-separated segments.

OCR engines disagree on what a "line" is (RapidOCR joins "Invoice no: 42" into one box
or splits it in two; a PDF text layer gives words). Rebuilding rows from word boxes and
splitting them at wide gaps gives the same units whatever the engine: a segment is a
run of words close enough to be read as one phrase (a label, a value, a table cell).
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import cached_property
from statistics import median

from invoice.scanner.processing.extract.labels import CANONICAL_LEGAL_FORMS
from invoice.scanner.processing.extract.normalize import CURRENCY_CODES
from invoice.scanner.processing.models import PDF_TEXT_ENGINE, BBox, OcrPage, OcrWord


_SEPARATORS = frozenset({"·", "•", "|", "‧", "∙"})


@dataclass
class Segment:
    text: str
    bbox: BBox  # pixels
    page: int
    row: int  # index of the row on its page
    confidence: float
    words: list[OcrWord] = field(default_factory=list)
    sep_after: bool = False  # a printed separator (·, |) follows on the same row

    @property
    def x0(self) -> float:
        return self.bbox[0]

    @property
    def x1(self) -> float:
        return self.bbox[2]

    @property
    def y0(self) -> float:
        return self.bbox[1]

    @property
    def y1(self) -> float:
        return self.bbox[3]

    @property
    def height(self) -> float:
        return max(1.0, self.bbox[3] - self.bbox[1])

    @property
    def xc(self) -> float:
        return (self.bbox[0] + self.bbox[2]) / 2


@dataclass
class Row:
    page: int
    index: int
    words: list[OcrWord]
    segments: list[Segment]
    bbox: BBox

    @cached_property
    def text(self) -> str:
        # Read again and again (labels, parties, tables); a row's words do not change once built.
        return " ".join([w.text for w in self.words])

    @property
    def height(self) -> float:
        return max(1.0, self.bbox[3] - self.bbox[1])


@dataclass
class PageLayout:
    page: OcrPage
    rows: list[Row]
    line_height: float  # median word height: the unit for "near"

    @property
    def segments(self) -> list[Segment]:
        return [s for r in self.rows for s in r.segments]


def union(boxes: list[BBox]) -> BBox:
    return (min(b[0] for b in boxes), min(b[1] for b in boxes), max(b[2] for b in boxes), max(b[3] for b in boxes))


# Some recognition models answer a "%" sign with a LaTeX fragment ("19$\\frac}$", "$10\\a}$").
_LATEX = re.compile(r"\$?\\?[A-Za-z]*\\?[A-Za-z]*\}+\$|\$\\[A-Za-z]+\}?\$?")


def _clean_word(text: str) -> str:
    if "$" in text and ("\\" in text or "}" in text):
        cleaned = _LATEX.sub("%", text)
        return cleaned[1:] if cleaned.startswith("$") and cleaned.endswith("%") else cleaned
    return text


# A legal form glued to the next word by the recognizer ("Logistique NVVeldstraat 143",
# "Fils SAGrand-Place 125"): the space between a name and an address printed on one line is
# lost. Split only where the form is followed by a capitalised word and the line goes on to
# a digit (house number, postcode), so brand names such as "ABCorp" stay whole.
_GLUED_FORM = re.compile(
    "^(" + "|".join(re.escape(f) for f in sorted(CANONICAL_LEGAL_FORMS, key=len, reverse=True) if " " not in f)
    + r")(?=[A-ZÀ-Ý][a-zà-ÿ]{2,})")


def split_glued_legal_forms(words: list[OcrWord]) -> list[OcrWord]:
    out: list[OcrWord] = []
    for i, w in enumerate(words):
        m = _GLUED_FORM.match(w.text)
        if m is None or i == 0 or not any(ch.isdigit() for x in words[i:] for ch in x.text):
            out.append(w)
            continue
        cut = m.end()
        x0, y0, x1, y1 = w.bbox
        xm = x0 + (x1 - x0) * cut / len(w.text)
        out.append(OcrWord(w.text[:cut], (x0, y0, xm, y1), w.confidence))
        out.append(OcrWord(w.text[cut:], (xm, y0, x1, y1), w.confidence))
    return out


# An amount with a currency sign or a tax-class letter glued on by the recognizer or the till
# ("RM51.50", "Rp12.500,00", "S$4.20", "35.66S", "RM2.70S"): the amount is a word of its own, so it
# reads as an amount. Only a currency's sign or code before it (the letter signs that no symbol
# list holds: ringgit RM, rupiah Rp, rupee Rs; the ISO codes; "S$", "HK$") and one capital letter
# after it (the column of tax codes a till prints beside each price), and only an amount with
# cents: "INV2024.05" or "A4" stay whole.
_CURRENCY_PREFIX = r"(?:RM|Rp|Rs\.?|[A-Z]{3}|(?:[A-Z]{1,2})?\$|[€£¥₹])"
_GLUED_AMOUNT = re.compile(r"^(?P<pre>" + _CURRENCY_PREFIX + r")?(?P<amt>[-−]?\d{1,3}(?:[.,\u00a0]?\d{3})*[.,]\d{2})"
                           r"(?P<post>[A-Z])?$")


def split_glued_amounts(words: list[OcrWord]) -> list[OcrWord]:
    out: list[OcrWord] = []
    for w in words:
        m = _GLUED_AMOUNT.match(w.text)
        pre = m.group("pre") if m is not None else None
        if m is None or not (m.group("post") or pre and (len(pre) > 1 or pre.isalpha())
                             and (len(pre) != 3 or not pre.isalpha() or pre in CURRENCY_CODES)):
            out.append(w)
            continue
        x0, y0, x1, y1 = w.bbox
        per = (x1 - x0) / max(1, len(w.text))
        for name in ("pre", "amt", "post"):
            if m.group(name):
                a, b = m.span(name)
                out.append(OcrWord(w.text[a:b], (x0 + a * per, y0, x0 + b * per, y1), w.confidence))
    return out


def page_words(page: OcrPage, line_starts: set[int] | None = None) -> list[OcrWord]:
    """Words of a page; lines without word boxes are split with widths in proportion to
    their characters (good enough for column assignment). `line_starts` collects the ids of
    the words that begin an OCR line."""
    out: list[OcrWord] = []
    for line in page.lines:
        if line.words:
            words = [OcrWord(_clean_word(w.text), w.bbox, min(w.confidence, 1.0)) for w in line.words
                     if w.text.strip()]
        else:
            tokens = [_clean_word(t) for t in line.text.split()]
            x0, y0, x1, y1 = line.bbox
            text = " ".join(tokens)
            pos = 0
            char_w = (x1 - x0) / max(1, len(text))
            words = []
            for tok in tokens:
                start = text.index(tok, pos)
                pos = start + len(tok)
                words.append(OcrWord(tok, (x0 + start * char_w, y0, x0 + pos * char_w, y1), line.confidence))
        words = split_glued_amounts(split_glued_legal_forms(words))
        if line_starts is not None and words:
            line_starts.add(id(words[0]))
        out.extend(words)
    return out


def build_layout(page: OcrPage, gap_factor: float = 1.1) -> PageLayout:
    # The OCR detector boxes phrases apart; where it did and a clear gap backs it, two phrases
    # stay two ("Leistungs- und Rechnungsdatum   Zahlbar bis" over two value columns). A PDF
    # text layer's lines are our own grouping, so this holds for OCR pages only.
    starts: set[int] = set()
    words = page_words(page, None if page.engine == PDF_TEXT_ENGINE else starts)
    if not words:
        return PageLayout(page, [], 10.0)
    line_height = median(max(1.0, w.bbox[3] - w.bbox[1]) for w in words)
    rows_w: list[list[OcrWord]] = []
    spans: list[list[float]] = []
    for w in sorted(words, key=lambda w: ((w.bbox[1] + w.bbox[3]) / 2, w.bbox[0])):
        yc = (w.bbox[1] + w.bbox[3]) / 2
        h = max(1.0, w.bbox[3] - w.bbox[1])
        placed = False
        # Only the last few rows can take this word: words come sorted by vertical centre.
        for i in range(len(rows_w) - 1, max(-1, len(rows_w) - 4), -1):
            r0, r1 = spans[i]
            rc = (r0 + r1) / 2
            if abs(yc - rc) <= 0.5 * min(h, r1 - r0) + 0.1 * line_height:
                rows_w[i].append(w)
                spans[i] = [min(r0, w.bbox[1]), max(r1, w.bbox[3])]
                placed = True
                break
        if not placed:
            rows_w.append([w])
            spans.append([w.bbox[1], w.bbox[3]])
    rows: list[Row] = []
    for rw, _ in sorted(zip(rows_w, spans), key=lambda p: p[1][0]):
        idx = len(rows)
        rw.sort(key=lambda w: w.bbox[0])
        segs: list[Segment] = []
        cur: list[OcrWord] = [] if rw[0].text in _SEPARATORS else [rw[0]]
        for w in rw[1:]:
            if not cur:
                if w.text not in _SEPARATORS:
                    cur = [w]
                continue
            prev = cur[-1]
            hp, hw = max(prev.bbox[3] - prev.bbox[1], 1.0), max(w.bbox[3] - w.bbox[1], 1.0)
            h = max(hp, hw)
            gap = w.bbox[0] - prev.bbox[2]
            if w.text in _SEPARATORS:
                # "Name · Street · City" / "Date 1.2.24 | No. 5": printed separators end a phrase.
                segs.append(make_segment(cur, page.page_no, idx))
                segs[-1].sep_after = True
                cur = []
                continue
            # A label's colon ends a phrase even with a normal space after it; so does a change
            # of font size (a bold name followed by its address on the same baseline).
            if (gap > gap_factor * h or (prev.text.endswith(":") and gap > 0.6 * h)
                    or (id(w) in starts and gap > 0.6 * h)
                    or max(hp, hw) > 1.2 * min(hp, hw)):
                segs.append(make_segment(cur, page.page_no, idx))
                cur = [w]
            else:
                cur.append(w)
        if cur:
            segs.append(make_segment(cur, page.page_no, idx))
        if not segs:
            continue
        rows.append(Row(page.page_no, idx, rw, segs, union([w.bbox for w in rw])))
    return PageLayout(page, rows, line_height)


def make_segment(words: list[OcrWord], page_no: int, row: int) -> Segment:
    return Segment(
        text=" ".join([w.text for w in words]),
        bbox=union([w.bbox for w in words]),
        page=page_no,
        row=row,
        confidence=min(w.confidence for w in words),
        words=list(words),
    )


def norm_bbox(bbox: BBox | None, page: OcrPage) -> BBox | None:
    if bbox is None or not page.width or not page.height:
        return None
    x0, y0, x1, y1 = bbox
    w, h = float(page.width), float(page.height)
    clamp = lambda v: max(0.0, min(1.0, v))  # noqa: E731
    return (clamp(x0 / w), clamp(y0 / h), clamp(x1 / w), clamp(y1 / h))


def sub_bbox(seg: Segment, start_char: int, end_char: int) -> BBox:
    """Box of the words of `seg` covering characters [start_char, end_char) of seg.text."""
    pos = 0
    boxes = []
    for w in seg.words:
        s, e = pos, pos + len(w.text)
        if e > start_char and s < end_char:
            boxes.append(w.bbox)
        pos = e + 1
    return union(boxes) if boxes else seg.bbox


def sub_confidence(seg: Segment, start_char: int, end_char: int) -> float:
    pos = 0
    confs = []
    for w in seg.words:
        s, e = pos, pos + len(w.text)
        if e > start_char and s < end_char:
            confs.append(w.confidence)
        pos = e + 1
    return min(confs) if confs else seg.confidence


def blocks(layout: PageLayout, skip: set[tuple[int, int]] | None = None) -> list[list[Segment]]:
    """Left-aligned runs of lines: an address block, a party block, a key/value column."""
    out: list[list[Segment]] = []
    lh = layout.line_height
    for row in layout.rows:
        if skip and (layout.page.page_no, row.index) in skip:
            continue
        for seg in row.segments:
            best = None
            for b in out:
                last = b[-1]
                # Left-aligned, or right-aligned (a letterhead set flush right).
                if last.row >= seg.row or (abs(last.x0 - seg.x0) > 0.8 * lh and abs(last.x1 - seg.x1) > 0.5 * lh):
                    continue
                if seg.y0 - last.y1 > 1.0 * max(lh, min(last.height, 1.6 * lh)):
                    continue
                if best is None or last.y1 > best[-1].y1:
                    best = b
            if best is not None:
                best.append(seg)
            else:
                out.append([seg])
    return out
