"""Typed results passed between the pure stage functions.

Coordinates: `OcrWord.bbox` / `OcrLine.bbox` are pixels of the rendered page image
(origin top-left, x0, y0, x1, y1). `FieldPrediction.bbox` and everything the API returns
are fractions of the page's width and height in [0, 1], so a client can overlay them on
any rendering of the page.
"""
from __future__ import annotations

import uuid
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

BBox = tuple[float, float, float, float]
# `OcrPage.engine` of a page whose lines come from the PDF text layer, not from OCR.
PDF_TEXT_ENGINE = "pdf-text"


@dataclass
class OcrWord:
    text: str
    bbox: BBox
    confidence: float = 1.0

    def to_dict(self) -> dict[str, Any]:
        """What `dataclasses.asdict` gives, without its recursive deep copy (which was most of
        the OCR stage's time when it saved a born-digital page's lines)."""
        return {"text": self.text, "bbox": self.bbox, "confidence": self.confidence}


@dataclass
class OcrLine:
    text: str
    bbox: BBox
    confidence: float
    words: list[OcrWord] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """`dataclasses.asdict(self)`, written out (see `OcrWord.to_dict`)."""
        return {"text": self.text, "bbox": self.bbox, "confidence": self.confidence,
                "words": [w.to_dict() for w in self.words]}


@dataclass
class PageImage:
    page_no: int  # 1-based
    image_path: str
    width: int
    height: int
    dpi: int
    rotation: int = 0  # degrees applied to make the page upright (0, 90, 180, 270)
    skew_degrees: float = 0.0  # small-angle correction applied
    # For born-digital PDFs: the text layer's words, already in this image's pixel space.
    text_layer: list[OcrWord] | None = None


@dataclass
class OcrPage:
    page_no: int
    width: int
    height: int
    engine: str  # rapidocr | paddle | pdf-text
    lines: list[OcrLine]
    seconds: float = 0.0

    @property
    def text(self) -> str:
        return "\n".join(line.text for line in self.lines)

    @property
    def confidence(self) -> float:
        if not self.lines:
            return 0.0
        return sum(line.confidence for line in self.lines) / len(self.lines)


@dataclass
class FieldPrediction:
    name: str
    value: str | None  # as read on the page (raw text); normalization happens in extraction
    confidence: float
    page: int | None = None
    bbox: BBox | None = None  # normalized [0, 1]


@dataclass
class LineItemPrediction:
    description: str | None
    quantity: str | None = None
    unit_price: str | None = None
    amount: str | None = None
    tax_rate: str | None = None
    confidence: float = 0.0
    page: int | None = None
    bbox: BBox | None = None


@dataclass
class LlmUsage:
    provider: str
    model: str | None = None
    input_tokens: int = 0
    output_tokens: int = 0
    latency_s: float = 0.0
    cost_usd: float = 0.0
    fallback_from: str | None = None


@dataclass
class Prediction:
    fields: dict[str, FieldPrediction]
    line_items: list[LineItemPrediction]
    usage: LlmUsage


@dataclass
class NormalizedField:
    name: str
    value: Any  # str, ISO date string, float amount, ...; JSON-serializable
    raw_value: str | None
    confidence: float
    page: int | None = None
    bbox: BBox | None = None
    valid: bool = True
    error: str | None = None
    # A person's correction (review workflow): kept when the document is processed again.
    locked: bool = False
    corrected_by: uuid.UUID | None = None
    corrected_at: datetime | None = None


@dataclass
class NormalizedLineItem:
    position: int
    description: str | None
    quantity: float | None
    unit_price: float | None
    amount: float | None
    tax_rate: float | None
    confidence: float
    page: int | None = None
    bbox: BBox | None = None


@dataclass
class Extraction:
    fields: dict[str, NormalizedField]
    line_items: list[NormalizedLineItem]


@dataclass
class Evaluation:
    approved: bool
    quality_score: float
    predicted_accuracy: float
    reasons: list[str]  # why not approved (empty when approved)
    checks: dict[str, Any]  # every check's outcome, stored for audit

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
