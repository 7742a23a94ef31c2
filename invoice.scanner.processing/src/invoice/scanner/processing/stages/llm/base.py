"""The provider interface of the llm stage.

A provider turns a document's OCR pages (and, when allowed, its page images) into a
`Prediction`: every field of `fields.FIELDS` with a raw value as printed, a confidence,
a page and a normalized bbox, plus line items and usage accounting. Vendor providers
(openai, anthropic, gemini, openai-compatible) map returned values back to OCR words
to fill confidence/page/bbox, so every provider yields the same shape.
"""
from __future__ import annotations

from abc import ABC, abstractmethod

from invoice.scanner.processing.config import Settings
from invoice.scanner.processing.errors import PermanentStageError, TransientStageError
from invoice.scanner.processing.models import OcrPage, PageImage, Prediction


class ProviderError(Exception):
    """Base of provider failures; the llm task decides on retries from the subclass."""


class TransientProviderError(ProviderError, TransientStageError):
    """Rate limit, 5xx, timeout, connection error: retry with the stage's backoff.

    A `TransientStageError`, so `runner.run_stage` retries it and waits at least
    `retry_after_s` (the vendor's Retry-After) before the next attempt."""

    def __init__(self, message: str, retry_after_s: float | None = None):
        TransientStageError.__init__(self, message, retry_after_s)


class PermanentProviderError(ProviderError, PermanentStageError):
    """Refusal, content filter, bad request, auth failure, unusable output: no retry.

    A `PermanentStageError`, so `runner.run_stage` fails the document at once."""


class LlmProvider(ABC):
    name: str = "base"

    def __init__(self, settings: Settings):
        self.settings = settings

    @abstractmethod
    def predict(self, pages: list[OcrPage], images: list[PageImage]) -> Prediction:
        """Predict fields and line items for one document."""
