"""Estimated cost of one vendor call, from a small per-model price table.

Prices are USD per million tokens (input, output) from the vendors' public price pages
(checked 2025); they are estimates for dashboards, not invoices. A model that is not in
the table costs 0 (self-hosted openai-compatible servers, new models): the token counts
are still recorded, so cost can be recomputed later. Names match by longest prefix, so
dated snapshots ("gpt-4.1-mini-2025-04-14") price like their family.
"""
from __future__ import annotations

# model prefix -> (USD per 1M input tokens, USD per 1M output tokens)
PRICES_PER_MTOK: dict[str, tuple[float, float]] = {
    # OpenAI
    "gpt-4.1": (2.00, 8.00),
    "gpt-4.1-mini": (0.40, 1.60),
    "gpt-4.1-nano": (0.10, 0.40),
    "gpt-4o": (2.50, 10.00),
    "gpt-4o-mini": (0.15, 0.60),
    "gpt-5": (1.25, 10.00),
    "gpt-5-mini": (0.25, 2.00),
    "gpt-5-nano": (0.05, 0.40),
    # Anthropic
    "claude-haiku-4-5": (1.00, 5.00),
    "claude-sonnet-4": (3.00, 15.00),
    "claude-sonnet-4-5": (3.00, 15.00),
    "claude-opus-4-5": (5.00, 25.00),
    "claude-3-5-haiku": (0.80, 4.00),
    # Google
    "gemini-2.5-flash": (0.30, 2.50),
    "gemini-2.5-flash-lite": (0.10, 0.40),
    "gemini-2.5-pro": (1.25, 10.00),
    "gemini-2.0-flash": (0.10, 0.40),
}


def price_for(model: str | None) -> tuple[float, float] | None:
    """The (input, output) price of the longest table prefix of `model`, else None."""
    if not model:
        return None
    name = model.lower().removeprefix("models/")
    best = None
    for prefix in PRICES_PER_MTOK:
        if name.startswith(prefix) and (best is None or len(prefix) > len(best)):
            best = prefix
    return PRICES_PER_MTOK[best] if best else None


def estimate_cost(model: str | None, input_tokens: int, output_tokens: int) -> float:
    price = price_for(model)
    if price is None:
        return 0.0
    return round((input_tokens * price[0] + output_tokens * price[1]) / 1_000_000, 6)
