"""OpenAI Chat Completions: `POST /v1/chat/completions`, `Authorization: Bearer <key>`.

Answers are `chat.completion` objects (choices[0].message.content / .refusal,
finish_reason, usage); errors are `{"error": {"message", "type", "param", "code"}}`.
Also serves openai-compatible servers (Ollama, vLLM), which speak the same protocol.
"""
from __future__ import annotations

import json
import time
import uuid

from fakes.base import FakeVendorServer, Reply

ERROR_TYPES = {400: ("invalid_request_error", None), 401: ("invalid_request_error", "invalid_api_key"),
               403: ("invalid_request_error", "unsupported_country_region_territory"),
               404: ("invalid_request_error", "model_not_found"), 429: ("requests", "rate_limit_exceeded"),
               500: ("server_error", None), 503: ("server_error", None)}


class FakeOpenAI(FakeVendorServer):
    def route(self, path: str) -> bool:
        return path.rstrip("/").endswith("/chat/completions")

    def presented_key(self, headers) -> str:
        return (headers.get("Authorization") or "").removeprefix("Bearer ").strip()

    def render(self, reply: Reply, body: dict):
        message = {"role": "assistant", "content": None, "refusal": None, "annotations": []}
        finish = "stop"
        if reply.kind in {"answer", "partial"}:
            message["content"] = json.dumps(reply.data)
        elif reply.kind == "malformed":
            message["content"] = reply.data
        elif reply.kind == "refusal":
            message["refusal"] = reply.message
        elif reply.kind == "blocked":
            finish = "content_filter"
        out = message["content"] or message["refusal"] or ""
        return 200, {}, {
            "id": f"chatcmpl-{uuid.uuid4().hex[:24]}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": body.get("model", self.model),
            "choices": [{"index": 0, "message": message, "logprobs": None, "finish_reason": finish}],
            "usage": {"prompt_tokens": self.tokens(body.get("messages")), "completion_tokens": self.tokens(out),
                      "total_tokens": self.tokens(body.get("messages")) + self.tokens(out)},
            "system_fingerprint": "fp_fake",
        }

    def render_error(self, status: int, message: str):
        etype, code = ERROR_TYPES.get(status, ("server_error" if status >= 500 else "invalid_request_error", None))
        return status, {"x-request-id": f"req_{uuid.uuid4().hex[:16]}"}, {
            "error": {"message": message, "type": etype, "param": None, "code": code}}
