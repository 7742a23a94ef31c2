"""Anthropic Messages: `POST /v1/messages` with `x-api-key` (or `Authorization: Bearer`)
and `anthropic-version` headers.

Answers are `message` objects (content blocks incl. `tool_use`, stop_reason, usage);
errors are `{"type": "error", "error": {"type", "message"}}`.
"""
from __future__ import annotations

import json
import uuid

from fakes.base import FakeVendorServer, Reply

ERROR_TYPES = {400: "invalid_request_error", 401: "authentication_error", 403: "permission_error",
               404: "not_found_error", 413: "request_too_large", 429: "rate_limit_error", 500: "api_error",
               529: "overloaded_error"}


class FakeAnthropic(FakeVendorServer):
    def route(self, path: str) -> bool:
        return path.rstrip("/") == "/v1/messages"

    def presented_key(self, headers) -> str:
        # The documented header is x-api-key; SDK 2.x sends the same key as a Bearer token.
        # Accept both, as the API does; tests assert which one the SDK used.
        return headers.get("x-api-key") or (headers.get("Authorization") or "").removeprefix("Bearer ").strip()

    def authorized(self, headers) -> bool:
        return super().authorized(headers) and bool(headers.get("anthropic-version"))

    def render(self, reply: Reply, body: dict):
        tool_name = (body.get("tool_choice") or {}).get("name") or "tool"
        stop = "tool_use"
        if reply.kind in {"answer", "partial"}:
            content = [{"type": "tool_use", "id": f"toolu_{uuid.uuid4().hex[:20]}", "name": tool_name,
                        "input": reply.data}]
        elif reply.kind == "malformed":
            # tool input is always an object on this API; "malformed" is one that breaks the schema
            content = [{"type": "tool_use", "id": f"toolu_{uuid.uuid4().hex[:20]}", "name": tool_name,
                        "input": {"raw": reply.data}}]
        elif reply.kind == "refusal":
            content, stop = [{"type": "text", "text": reply.message}], "refusal"
        else:
            content, stop = [], "end_turn"
        return 200, {"request-id": f"req_{uuid.uuid4().hex[:16]}"}, {
            "id": f"msg_{uuid.uuid4().hex[:24]}",
            "type": "message",
            "role": "assistant",
            "model": body.get("model", self.model),
            "content": content,
            "stop_reason": stop,
            "stop_sequence": None,
            "usage": {"input_tokens": self.tokens(body.get("messages")), "output_tokens": self.tokens(content),
                      "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0},
        }

    def render_error(self, status: int, message: str):
        etype = ERROR_TYPES.get(status, "api_error" if status >= 500 else "invalid_request_error")
        return status, {"request-id": f"req_{uuid.uuid4().hex[:16]}"}, {
            "type": "error", "error": {"type": etype, "message": message}}
