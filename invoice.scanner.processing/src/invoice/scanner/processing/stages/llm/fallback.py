"""`LLM_FALLBACK`: other providers to use for a document when the configured one is down.

Rule: when the primary provider raises a `TransientProviderError` (rate limit, 5xx,
timeout, connection error) and `LLM_FALLBACK` names providers (comma list, e.g.
`local` or `gemini,local`), the document goes to the first fallback at once, then the
next, in this same attempt; the prediction's `usage.fallback_from` names the provider
that failed. The stage's own retries are not spent waiting for a vendor outage.
If every fallback fails transiently too, the primary's error is raised, so the stage
retries with backoff (and honours its Retry-After). Permanent errors (refusal, bad
request, auth, unusable output) never fall back: they say something about the document
or the configuration that another provider would hide.
"""
from __future__ import annotations

import logging
from typing import Callable

from invoice.scanner.processing.models import OcrPage, PageImage, Prediction
from invoice.scanner.processing.stages.llm.base import LlmProvider, TransientProviderError

log = logging.getLogger(__name__)


def parse_fallback(value: str, primary: str) -> list[str]:
    names = []
    for name in (part.strip() for part in value.split(",")):
        if name and name != primary and name not in names:
            names.append(name)
    return names


class FallbackProvider(LlmProvider):
    def __init__(self, primary: LlmProvider, fallbacks: list[tuple[str, Callable[[], LlmProvider]]]):
        super().__init__(primary.settings)
        self.primary = primary
        self.name = primary.name
        self._fallbacks = fallbacks  # (name, factory): built on first use, a fallback may be heavy
        self._built: dict[str, LlmProvider] = {}

    def _fallback(self, name: str, factory: Callable[[], LlmProvider]) -> LlmProvider:
        if name not in self._built:
            self._built[name] = factory()
        return self._built[name]

    def predict(self, pages: list[OcrPage], images: list[PageImage]) -> Prediction:
        try:
            return self.primary.predict(pages, images)
        except TransientProviderError as primary_error:
            for name, factory in self._fallbacks:
                log.warning("%s failed (%s); falling back to %s for this document", self.primary.name,
                            primary_error, name)
                try:
                    prediction = self._fallback(name, factory).predict(pages, images)
                except TransientProviderError as exc:
                    log.warning("fallback %s failed too: %s", name, exc)
                    continue
                prediction.usage.fallback_from = self.primary.name
                return prediction
            raise
