"""Ground a vendor's answer on the OCR: find each predicted value on the page it came from.

A vendor returns bare strings. To give every provider the same `Prediction` shape as the
offline `local` provider (confidence, page, normalized bbox), each value is searched among
the document's OCR text spans: every run of 1 to `MAX_SPAN_WORDS` consecutive words of a
line, every whole line, and every pair of consecutive lines (multi-line addresses).

Matching compares normalized text (Unicode NFKC, case-folded, spaces collapsed) with
rapidfuzz's `ratio`, and also the strings with all spaces removed (OCR splits and joins
words). Amounts match exactly when their numeric value is equal whatever the separators
("1.234,50" = "1,234.50" = "1234.5"). An ISO currency code also matches its symbol.

Confidence = match quality (0..1) x the OCR confidence of the matched words. A value not
found (best match under `MIN_SCORE`) keeps `NOT_FOUND_CONFIDENCE` and no page or bbox:
the model may have inferred it, or made it up, and evaluation must not trust it.
"""
from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from rapidfuzz import fuzz, process

from invoice.scanner.processing.fields import FIELD_BY_NAME, FIELD_NAMES
from invoice.scanner.processing.models import (
    BBox,
    FieldPrediction,
    LineItemPrediction,
    LlmUsage,
    OcrPage,
    OcrWord,
    Prediction,
)

MAX_SPAN_WORDS = 8
MIN_SCORE = 70.0  # rapidfuzz ratio (0..100) under which a value counts as not found
NOT_FOUND_CONFIDENCE = 0.25
CURRENCY_SYMBOLS = {"EUR": ("€",), "USD": ("$", "US$"), "GBP": ("£",), "JPY": ("¥", "円"), "CNY": ("¥", "元"),
                    "INR": ("₹",), "KRW": ("₩",), "PLN": ("zł",), "CHF": ("Fr.",), "SEK": ("kr",),
                    "NOK": ("kr",), "DKK": ("kr",), "BRL": ("R$",), "RUB": ("₽",), "TRY": ("₺",)}

_SPACES = re.compile(r"\s+")
_AMOUNT_CHARS = re.compile(r"[^0-9.,\-]")


def norm(text: str) -> str:
    text = unicodedata.normalize("NFKC", text).casefold()
    return _SPACES.sub(" ", text).strip(" :;")


def amount_key(text: str) -> str | None:
    """Numeric value of a printed amount as a canonical string, or None if it is not one.

    The last separator followed by one or two digits is the decimal mark; every other
    separator groups thousands."""
    if sum(c.isalpha() for c in text) > 3:  # a word with a number in it, not an amount
        return None
    raw = _AMOUNT_CHARS.sub("", text.replace(" ", "").replace("\u00a0", "").replace("'", ""))
    negative = raw.startswith("-") or raw.endswith("-") or (text.strip().startswith("(") and text.strip().endswith(")"))
    raw = raw.strip("-")
    if not raw or not any(c.isdigit() for c in raw) or "-" in raw:
        return None
    match = re.search(r"[.,](\d{1,2})$", raw)
    if match:
        whole = re.sub(r"[.,]", "", raw[: match.start()])
        frac = match.group(1)
    else:
        whole, frac = re.sub(r"[.,]", "", raw), ""
    if not whole and not frac:
        return None
    value = f"{int(whole or '0')}.{(frac or '0').ljust(2, '0')}"
    return f"-{value}" if negative else value


@dataclass
class _Span:
    text: str  # normalized
    squashed: str  # normalized, no spaces
    amount: str | None
    page: int
    bbox: BBox  # pixels
    confidence: float
    page_size: tuple[int, int]


def _split_words(words: list[OcrWord]) -> list[OcrWord]:
    """Words as single tokens. Some engines give one "word" per line (or per phrase);
    split those at spaces and share the box out by character position, so a value can
    be found inside a line and get its own bbox."""
    out: list[OcrWord] = []
    for word in words:
        tokens = word.text.split()
        if len(tokens) <= 1:
            out.append(word)
            continue
        x0, y0, x1, y1 = word.bbox
        per_char = (x1 - x0) / max(len(word.text), 1)
        pos = 0
        for token in tokens:
            start = word.text.index(token, pos)
            pos = start + len(token)
            out.append(OcrWord(token, (x0 + start * per_char, y0, x0 + pos * per_char, y1), word.confidence))
    return out


def _union(boxes: list[BBox]) -> BBox:
    return (min(b[0] for b in boxes), min(b[1] for b in boxes), max(b[2] for b in boxes), max(b[3] for b in boxes))


def _normalize_bbox(bbox: BBox, size: tuple[int, int]) -> BBox:
    w, h = size[0] or 1, size[1] or 1
    x0, y0, x1, y1 = bbox
    return (round(min(max(x0 / w, 0.0), 1.0), 4), round(min(max(y0 / h, 0.0), 1.0), 4),
            round(min(max(x1 / w, 0.0), 1.0), 4), round(min(max(y1 / h, 0.0), 1.0), 4))


class OcrIndex:
    """Every searchable text span of a document, built once per prediction."""

    def __init__(self, pages: list[OcrPage]):
        self.spans: list[_Span] = []
        for page in pages:
            size = (page.width, page.height)
            lines = page.lines
            for i, line in enumerate(lines):
                words = _split_words(line.words or [OcrWord(line.text, line.bbox, line.confidence)])
                for start in range(len(words)):
                    for end in range(start + 1, min(start + MAX_SPAN_WORDS, len(words)) + 1):
                        chunk = words[start:end]
                        if len(chunk) == len(words):
                            continue  # the whole line is added below with the line's own bbox
                        self._add(" ".join(w.text for w in chunk), page.page_no, _union([w.bbox for w in chunk]),
                                  min(w.confidence for w in chunk), size)
                self._add(line.text, page.page_no, line.bbox, line.confidence, size)
                if i + 1 < len(lines):
                    nxt = lines[i + 1]
                    self._add(f"{line.text} {nxt.text}", page.page_no, _union([line.bbox, nxt.bbox]),
                              min(line.confidence, nxt.confidence), size)
        self._texts = [s.text for s in self.spans]
        self._squashed = [s.squashed for s in self.spans]

    def _add(self, text: str, page: int, bbox: BBox, conf: float, size: tuple[int, int]) -> None:
        n = norm(text)
        if n:
            self.spans.append(_Span(n, n.replace(" ", ""), amount_key(n) if len(n) <= 32 else None,
                                    page, bbox, conf, size))

    def find(self, value: str, kind: str = "text") -> tuple[float, _Span | None]:
        """Best span for `value`: (score 0..100, span), span None when nothing is close."""
        if not self.spans or not value.strip():
            return 0.0, None
        if kind == "amount":
            key = amount_key(value)
            if key is not None:
                exact = [s for s in self.spans if s.amount == key]
                if exact:
                    # the shortest span that carries the amount: the number itself, not its line
                    return 100.0, min(exact, key=lambda s: (len(s.text), -s.confidence))
        if kind == "currency":
            code = value.strip().upper()
            for alias in (code, *CURRENCY_SYMBOLS.get(code, ())):
                alias_n = norm(alias)
                hits = [s for s in self.spans if alias_n in s.text.split() or (len(alias_n) == 1 and alias_n in s.text)]
                if hits:
                    best = min(hits, key=lambda s: (len(s.text), -s.confidence))
                    return (100.0 if alias == code else 90.0), best
        target = norm(value)
        best_score, best_span = 0.0, None
        for choices, query in ((self._texts, target), (self._squashed, target.replace(" ", ""))):
            hit = process.extractOne(query, choices, scorer=fuzz.ratio, score_cutoff=MIN_SCORE)
            if hit and hit[1] > best_score:
                best_score, best_span = hit[1], self.spans[hit[2]]
        return best_score, best_span


def ground_field(index: OcrIndex, name: str, value: str | None) -> FieldPrediction:
    if value is None or not str(value).strip():
        return FieldPrediction(name=name, value=None, confidence=0.0)
    value = str(value).strip()
    kind = FIELD_BY_NAME[name].kind if name in FIELD_BY_NAME else "text"
    score, span = index.find(value, kind)
    if span is None:
        return FieldPrediction(name=name, value=value, confidence=NOT_FOUND_CONFIDENCE)
    confidence = round(score / 100.0 * span.confidence, 4)
    return FieldPrediction(name=name, value=value, confidence=confidence, page=span.page,
                           bbox=_normalize_bbox(span.bbox, span.page_size))


def ground_line_item(index: OcrIndex, item: dict) -> LineItemPrediction:
    def s(key: str) -> str | None:
        v = item.get(key)
        return str(v).strip() if v is not None and str(v).strip() else None

    pred = LineItemPrediction(description=s("description"), quantity=s("quantity"), unit_price=s("unit_price"),
                              amount=s("amount"), tax_rate=s("tax_rate"))
    scores: list[float] = []
    found: list[_Span] = []
    for key, kind in (("description", "text"), ("amount", "amount"), ("unit_price", "amount"), ("quantity", "amount")):
        value = s(key)
        if value is None:
            continue
        score, span = index.find(value, kind)
        if span is None:
            scores.append(NOT_FOUND_CONFIDENCE * 100)
            continue
        scores.append(score * span.confidence)
        found.append(span)
    pred.confidence = round(sum(scores) / len(scores) / 100.0, 4) if scores else 0.0
    if found:
        page = found[0].page  # the row's page is where its description (or first value) sits
        same_page = [f for f in found if f.page == page]
        pred.page = page
        pred.bbox = _normalize_bbox(_union([f.bbox for f in same_page]), same_page[0].page_size)
    return pred


def ground(data: dict, pages: list[OcrPage], usage: LlmUsage) -> Prediction:
    """A validated vendor answer (`fields.json_schema()` shape) -> grounded Prediction."""
    index = OcrIndex(pages)
    fields = {name: ground_field(index, name, data.get(name)) for name in FIELD_NAMES}
    items = [ground_line_item(index, item) for item in data.get("line_items") or []]
    return Prediction(fields=fields, line_items=items, usage=usage)
