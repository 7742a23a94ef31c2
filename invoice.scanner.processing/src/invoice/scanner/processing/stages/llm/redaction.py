"""Keep API keys out of logs, stored error reasons and API responses.

Vendor SDK exceptions can echo request details; every message a vendor provider raises
or logs goes through `redact` first. The configured key is removed verbatim, and
anything shaped like a common vendor key is masked too, in case a key came from an
environment variable the provider never saw.
"""
from __future__ import annotations

import re
from typing import Iterable

MASK = "[REDACTED]"

# OpenAI/Anthropic "sk-..." keys, Google "AIza..." keys, and bearer/x-api-key header echoes.
_KEY_PATTERNS = (
    re.compile(r"sk-[A-Za-z0-9_\-]{8,}"),
    re.compile(r"AIza[0-9A-Za-z_\-]{20,}"),
    re.compile(r"(?i)(bearer\s+)[A-Za-z0-9._\-]{8,}"),
    re.compile(r"(?i)((?:x-api-key|x-goog-api-key|api[_-]?key)[\"']?\s*[:=]\s*[\"']?)[A-Za-z0-9._\-]{8,}"),
)


def redact(text: str, secrets: Iterable[str | None] = ()) -> str:
    """`text` with every given secret (of 4+ characters) and key-shaped token masked."""
    for secret in secrets:
        if secret and len(secret) >= 4:
            text = text.replace(secret, MASK)
    for pattern in _KEY_PATTERNS:
        if pattern.groups:
            text = pattern.sub(lambda m: m.group(1) + MASK, text)
        else:
            text = pattern.sub(MASK, text)
    return text
