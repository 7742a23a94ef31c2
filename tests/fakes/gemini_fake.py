"""Gemini API: `POST /v1beta/models/{model}:generateContent` (v1 too) with the `x-goog-api-key` header.

Answers carry `candidates[0].content.parts[0].text`, `finishReason`, `usageMetadata`
(and `promptFeedback.blockReason` for a blocked prompt); errors are
`{"error": {"code", "message", "status"}}`.
"""
from __future__ import annotations

import json
import re
import uuid

from fakes.base import FakeVendorServer, Reply

STATUS_NAMES = {400: "INVALID_ARGUMENT", 401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED", 404: "NOT_FOUND",
                429: "RESOURCE_EXHAUSTED", 500: "INTERNAL", 503: "UNAVAILABLE", 504: "DEADLINE_EXCEEDED"}
_PATH = re.compile(r"^/(?:v1beta|v1)/models/(?P<model>[^/:]+):generateContent$")


class FakeGemini(FakeVendorServer):
    def route(self, path: str) -> bool:
        return bool(_PATH.match(path.split("?")[0]))

    def presented_key(self, headers) -> str:
        return headers.get("x-goog-api-key") or ""

    def render(self, reply: Reply, body: dict):
        usage = {"promptTokenCount": self.tokens(body.get("contents")), "candidatesTokenCount": 0, "totalTokenCount": 0}
        out: dict = {"responseId": uuid.uuid4().hex[:20], "modelVersion": self.model}
        if reply.kind == "blocked":
            out["promptFeedback"] = {"blockReason": "PROHIBITED_CONTENT"}
        elif reply.kind == "refusal":
            out["candidates"] = [{"finishReason": "SAFETY", "index": 0, "safetyRatings": [
                {"category": "HARM_CATEGORY_DANGEROUS_CONTENT", "probability": "HIGH", "blocked": True}]}]
        else:
            text = reply.data if reply.kind == "malformed" else json.dumps(reply.data)
            out["candidates"] = [{"content": {"parts": [{"text": text}], "role": "model"}, "finishReason": "STOP",
                                  "index": 0}]
            usage["candidatesTokenCount"] = self.tokens(text)
        usage["totalTokenCount"] = usage["promptTokenCount"] + usage["candidatesTokenCount"]
        out["usageMetadata"] = usage
        return 200, {}, out

    def render_error(self, status: int, message: str):
        return status, {}, {"error": {"code": status, "message": message,
                                      "status": STATUS_NAMES.get(status, "UNKNOWN")}}
