"""The scriptable threaded HTTP server the vendor fakes share."""
from __future__ import annotations

import json
import threading
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from invoice.scanner.processing.fields import FIELD_NAMES


@dataclass
class Reply:
    """One scripted answer. kind: answer | malformed | partial | refusal | blocked | error."""

    kind: str
    data: Any = None  # answer/partial: the dict; malformed: the raw text
    status: int = 200
    message: str = ""
    headers: dict[str, str] = field(default_factory=dict)
    delay_s: float = 0.0


def full_answer(truth: dict) -> dict:
    """A schema-complete answer: every field present (null when not in `truth`)."""
    out = {name: truth.get(name) for name in FIELD_NAMES}
    out["line_items"] = [
        {k: item.get(k) for k in ("description", "quantity", "unit_price", "amount", "tax_rate")}
        for item in truth.get("line_items", [])
    ]
    return out


def answer(truth: dict) -> Reply:
    return Reply("answer", full_answer(truth))


def partial(data: dict) -> Reply:
    """Valid JSON that breaks the schema (fields missing)."""
    return Reply("partial", data)


def malformed(text: str = '{"invoice_number": "INV-1", "total": ') -> Reply:
    """Text that is not JSON (for Anthropic: a tool input that breaks the schema)."""
    return Reply("malformed", text)


def refusal(message: str = "I can't help with that.") -> Reply:
    return Reply("refusal", message=message)


def blocked() -> Reply:
    """Gemini: the prompt itself blocked (promptFeedback.blockReason)."""
    return Reply("blocked")


def error(status: int, message: str = "", retry_after: float | None = None) -> Reply:
    headers = {"Retry-After": f"{retry_after:g}"} if retry_after is not None else {}
    return Reply("error", status=status, message=message or f"fake error {status}", headers=headers)


def delay(seconds: float, then: Reply | None = None) -> Reply:
    reply = then or answer({})
    reply.delay_s = seconds
    return reply


@dataclass
class Recorded:
    method: str
    path: str
    headers: dict[str, str]
    body: Any


class FakeVendorServer:
    """Subclasses implement `route(path)` (is this the vendor's endpoint?), `authorized`,
    `render(reply, request_body)` -> (status, headers, json body)."""

    def __init__(self, api_key: str = "test-key", model: str = "fake-model"):
        self.api_key = api_key
        self.model = model
        self.script: deque[Reply] = deque()
        self.requests: list[Recorded] = []
        self._release = threading.Event()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):  # keep test output quiet
                pass

            def do_POST(self):
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                try:
                    body = json.loads(raw) if raw else None
                except ValueError:
                    body = raw.decode("utf-8", "replace")
                fake.requests.append(Recorded("POST", self.path, {k.lower(): v for k, v in self.headers.items()}, body))
                status, headers, payload = fake.handle(self.path, self.headers, body)
                data = json.dumps(payload).encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    for k, v in headers.items():
                        self.send_header(k, v)
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (timeout test)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def push(self, *replies: Reply) -> "FakeVendorServer":
        self.script.extend(replies)
        return self

    def close(self) -> None:
        self._release.set()
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # -- dispatch ---------------------------------------------------------------------
    def handle(self, path: str, headers, body) -> tuple[int, dict, Any]:
        if not self.route(path):
            return self.render_error(404, f"unknown path {path}")
        if not self.authorized(headers):
            # Real vendors echo (part of) the key; this fake echoes all of it so tests can
            # prove that the providers redact it.
            return self.render_error(401, f"Incorrect API key provided: {self.presented_key(headers)}")
        if not self.script:
            return self.render_error(500, "fake: no scripted reply left")
        reply = self.script.popleft()
        if reply.delay_s:
            self._release.wait(reply.delay_s)
        if reply.kind == "error":
            status, hdrs, payload = self.render_error(reply.status, reply.message)
            return status, {**hdrs, **reply.headers}, payload
        return self.render(reply, body if isinstance(body, dict) else {})

    @staticmethod
    def tokens(obj: Any) -> int:
        return max(1, len(json.dumps(obj)) // 4)

    # -- vendor specific --------------------------------------------------------------
    def route(self, path: str) -> bool:
        raise NotImplementedError

    def presented_key(self, headers) -> str:
        raise NotImplementedError

    def authorized(self, headers) -> bool:
        return self.presented_key(headers) == self.api_key

    def render(self, reply: Reply, body: dict) -> tuple[int, dict, Any]:
        raise NotImplementedError

    def render_error(self, status: int, message: str) -> tuple[int, dict, Any]:
        raise NotImplementedError
