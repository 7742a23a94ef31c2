"""Provider registry: `LLM_PROVIDER` -> provider instance (one per worker process)."""
from __future__ import annotations

from functools import lru_cache

from invoice.scanner.processing.config import Settings
from invoice.scanner.processing.stages.llm.base import LlmProvider


def _local(settings: Settings) -> LlmProvider:
    from invoice.scanner.processing.stages.llm.local import LocalProvider

    return LocalProvider(settings)


PROVIDERS = {
    "local": _local,
}


@lru_cache(maxsize=8)
def get_provider(settings: Settings) -> LlmProvider:
    try:
        factory = PROVIDERS[settings.llm_provider]
    except KeyError:
        raise ValueError(
            f"unknown LLM_PROVIDER {settings.llm_provider!r}; choose one of {', '.join(sorted(PROVIDERS))}"
        ) from None
    return factory(settings)
