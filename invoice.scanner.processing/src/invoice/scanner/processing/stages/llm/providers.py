"""Provider registry: `LLM_PROVIDER` -> provider instance (one per worker process).

`local` runs offline; `openai`, `anthropic`, `gemini` and `openai-compatible` call a
vendor through its SDK (`vendors.py`). `LLM_FALLBACK` wraps the choice in a
`FallbackProvider` (see `fallback.py` for the rule).
"""
from __future__ import annotations

import threading
from dataclasses import fields as dc_fields
from typing import Callable

from invoice.scanner.processing.config import Settings
from invoice.scanner.processing.stages.llm.base import LlmProvider


def _local(settings: Settings) -> LlmProvider:
    from invoice.scanner.processing.stages.llm.local import LocalProvider

    return LocalProvider(settings)


def _openai(settings: Settings) -> LlmProvider:
    from invoice.scanner.processing.stages.llm.openai_provider import OpenAIProvider

    return OpenAIProvider(settings)


def _openai_compatible(settings: Settings) -> LlmProvider:
    from invoice.scanner.processing.stages.llm.openai_provider import OpenAICompatibleProvider

    return OpenAICompatibleProvider(settings)


def _anthropic(settings: Settings) -> LlmProvider:
    from invoice.scanner.processing.stages.llm.anthropic_provider import AnthropicProvider

    return AnthropicProvider(settings)


def _gemini(settings: Settings) -> LlmProvider:
    from invoice.scanner.processing.stages.llm.gemini_provider import GeminiProvider

    return GeminiProvider(settings)


PROVIDERS: dict[str, Callable[[Settings], LlmProvider]] = {
    "local": _local,
    "openai": _openai,
    "anthropic": _anthropic,
    "gemini": _gemini,
    "openai-compatible": _openai_compatible,
}

_cache: dict[tuple, LlmProvider] = {}
_lock = threading.Lock()


def _cache_key(settings: Settings) -> tuple:
    # Settings holds a dict (retry policies) and is not hashable; the LLM settings and
    # the paths a provider reads identify a provider instance.
    # Settings is a pydantic model since 140e152 (dataclasses.fields() raised TypeError on it).
    names = type(settings).model_fields if hasattr(type(settings), "model_fields") else \
        [f.name for f in dc_fields(settings)]
    return tuple((name, getattr(settings, name)) for name in names
                 if name.startswith("llm_") or name in {"documents_dir", "database_url"})


def _build(settings: Settings) -> LlmProvider:
    from invoice.scanner.processing.stages.llm.fallback import FallbackProvider, parse_fallback

    try:
        factory = PROVIDERS[settings.llm_provider]
    except KeyError:
        raise ValueError(
            f"unknown LLM_PROVIDER {settings.llm_provider!r}; choose one of {', '.join(sorted(PROVIDERS))}"
        ) from None
    provider = factory(settings)
    names = parse_fallback(settings.llm_fallback, settings.llm_provider)
    unknown = [n for n in names if n not in PROVIDERS]
    if unknown:
        raise ValueError(f"unknown LLM_FALLBACK provider(s) {', '.join(unknown)}; choose from {', '.join(sorted(PROVIDERS))}")
    if not names:
        return provider
    return FallbackProvider(provider, [(n, (lambda n=n: PROVIDERS[n](settings))) for n in names])


def get_provider(settings: Settings) -> LlmProvider:
    key = _cache_key(settings)
    with _lock:
        provider = _cache.get(key)
        if provider is None:
            provider = _cache[key] = _build(settings)
        return provider


def _cache_clear() -> None:
    with _lock:
        _cache.clear()


get_provider.cache_clear = _cache_clear  # type: ignore[attr-defined]  # same handle lru_cache gave
