"""What every vendor provider shares: one request/validate/re-ask/ground cycle and one
mapping of SDK failures onto the stage's retry decisions.

A call goes: build the prompt (`prompt.py`) -> the vendor's SDK with its native
structured output -> parse and validate against `fields.json_schema()` (jsonschema) ->
on invalid or partial output, ONE re-ask that quotes the validation error -> else
`PermanentProviderError` -> ground the values on the OCR (`grounding.py`) -> `Prediction`
with token usage, latency and estimated cost (`pricing.py`).

Failures (`classify_error`):
- HTTP 429 -> `TransientProviderError(retry_after_s=Retry-After)`; 408, 409, 5xx (and
  Anthropic's 529 overloaded), timeouts and connection errors -> transient. The SDKs'
  own retries are off (max_retries=0 / one attempt): the Celery stage owns retries with
  backoff and honours `retry_after_s`.
- Other 4xx (bad request, auth, permission, unknown model) -> permanent.
- Refusals and safety/content-filter stops -> permanent (the same document would be
  refused again).
Every message raised or logged is passed through `redaction.redact`, and SDK exceptions
are not chained (`from None`), so no key reaches logs, the stored error reason or the API.
"""
from __future__ import annotations

import email.utils
import json
import logging
import os
import re
import time
from abc import abstractmethod
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from invoice.scanner.processing.config import Settings
from invoice.scanner.processing.fields import json_schema
from invoice.scanner.processing.models import LlmUsage, OcrPage, PageImage, Prediction
from invoice.scanner.processing.stages.llm.base import (
    LlmProvider,
    PermanentProviderError,
    ProviderError,
    TransientProviderError,
)
from invoice.scanner.processing.stages.llm.grounding import ground
from invoice.scanner.processing.stages.llm.pricing import estimate_cost
from invoice.scanner.processing.stages.llm.prompt import Prompt, build_prompt, reask_text
from invoice.scanner.processing.stages.llm.redaction import redact

log = logging.getLogger(__name__)

SCHEMA_NAME = "invoice_fields"
TRANSIENT_STATUS = {408, 409, 425, 429}


@dataclass
class VendorReply:
    """One vendor answer, before validation."""

    text: str | None = None  # JSON text (OpenAI, Gemini)
    data: Any = None  # an already-parsed object (Anthropic tool input)
    input_tokens: int = 0
    output_tokens: int = 0
    model: str | None = None
    finish: str | None = None
    raw: dict[str, Any] = field(default_factory=dict)  # what a re-ask must echo back (tool_use id, ...)


@dataclass
class ReAsk:
    previous: VendorReply
    error: str

    @property
    def text(self) -> str:
        return reask_text(self.error)


class InvalidOutput(Exception):
    """The answer is not one JSON object matching the schema; the message says why."""


@lru_cache(maxsize=1)
def _validator():
    from jsonschema import Draft202012Validator

    schema = json_schema()
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema)


_FENCE = re.compile(r"^\s*```(?:json)?\s*(.*?)\s*```\s*$", re.S)


def parse_output(reply: VendorReply) -> dict:
    """Parse and validate one answer; raise InvalidOutput with a readable reason."""
    data = reply.data
    if data is None:
        text = (reply.text or "").strip()
        if not text:
            raise InvalidOutput("the answer was empty" + (f" (finish reason {reply.finish})" if reply.finish else ""))
        fenced = _FENCE.match(text)  # some openai-compatible servers wrap JSON in a code fence
        if fenced:
            text = fenced.group(1)
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            cut = " (the answer was cut off at the token limit)" if reply.finish in {"length", "max_tokens", "MAX_TOKENS"} else ""
            raise InvalidOutput(f"the answer is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}{cut}") from None
    if not isinstance(data, dict):
        raise InvalidOutput(f"the answer is a JSON {type(data).__name__}, not an object")
    errors = sorted(_validator().iter_errors(data), key=lambda e: list(e.absolute_path))
    if errors:
        parts = []
        for err in errors[:5]:
            where = "/".join(str(p) for p in err.absolute_path) or "(root)"
            parts.append(f"{where}: {err.message}")
        more = f" (and {len(errors) - 5} more)" if len(errors) > 5 else ""
        raise InvalidOutput("the answer does not match the schema: " + "; ".join(parts) + more)
    return data


def env_api_key(settings: Settings, env_names: tuple[str, ...]) -> str:
    """`LLM_API_KEY`, else the vendor's standard variables in order."""
    if settings.llm_api_key:
        return settings.llm_api_key
    for name in env_names:
        value = os.environ.get(name, "")
        if value:
            return value
    return ""


def _header(exc: BaseException, name: str) -> str | None:
    response = getattr(exc, "response", None)
    headers = getattr(response, "headers", None)
    if headers is None:
        return None
    try:
        return headers.get(name)
    except Exception:  # a headers object we do not know: no hint rather than a crash
        return None


def retry_after_seconds(exc: BaseException) -> float | None:
    """Retry-After (seconds or HTTP date), retry-after-ms, or Gemini's RetryInfo.retryDelay."""
    ms = _header(exc, "retry-after-ms")
    if ms:
        try:
            return max(float(ms) / 1000.0, 0.0)
        except ValueError:
            pass
    value = _header(exc, "retry-after")
    if value:
        try:
            return max(float(value), 0.0)
        except ValueError:
            try:
                when = email.utils.parsedate_to_datetime(value)
                return max(when.timestamp() - time.time(), 0.0)
            except (TypeError, ValueError):
                pass
    details = getattr(exc, "details", None)  # google-genai: the error body
    if isinstance(details, dict):
        for item in (details.get("error") or {}).get("details") or []:
            delay = item.get("retryDelay") if isinstance(item, dict) else None
            if isinstance(delay, str) and delay.endswith("s"):
                try:
                    return float(delay[:-1])
                except ValueError:
                    pass
    return None


def _status(exc: BaseException) -> int | None:
    for attr in ("status_code", "code"):
        value = getattr(exc, attr, None)
        if isinstance(value, int) and 100 <= value < 600:
            return value
    return None


def _is_timeout(exc: BaseException) -> bool:
    seen = 0
    while exc is not None and seen < 5:
        if isinstance(exc, TimeoutError) or "Timeout" in type(exc).__name__:
            return True
        exc = exc.__cause__ or exc.__context__
        seen += 1
    return False


def _is_connection(exc: BaseException) -> bool:
    names = {cls.__name__ for cls in type(exc).__mro__}
    return bool(names & {"APIConnectionError", "TransportError", "NetworkError", "ConnectError",
                         "RemoteProtocolError", "ConnectionError"})


def classify_error(exc: BaseException, vendor: str, secrets: tuple[str, ...], timeout_s: float) -> ProviderError | None:
    """An SDK/transport exception -> Transient/PermanentProviderError; None if it is not one
    (a bug in our code: let it propagate unchanged)."""
    if isinstance(exc, ProviderError):
        return exc
    status = _status(exc)
    detail = getattr(exc, "message", None) or str(exc) or type(exc).__name__
    detail = redact(str(detail), secrets)[:300]
    if status is None:
        if _is_timeout(exc):
            return TransientProviderError(f"{vendor}: no answer within {timeout_s:g}s (timeout)")
        if _is_connection(exc):
            return TransientProviderError(f"{vendor}: connection failed: {detail}")
        module = type(exc).__module__.split(".")[0]
        if module in {"openai", "anthropic", "google", "httpx", "httpx2"}:
            return TransientProviderError(f"{vendor}: {type(exc).__name__}: {detail}")
        return None
    if status == 429:
        retry_after = retry_after_seconds(exc)
        hint = f"; retry after {retry_after:g}s" if retry_after is not None else ""
        return TransientProviderError(f"{vendor}: rate limited (HTTP 429){hint}: {detail}", retry_after_s=retry_after)
    if status in TRANSIENT_STATUS or status >= 500:
        return TransientProviderError(f"{vendor}: server error (HTTP {status}): {detail}",
                                      retry_after_s=retry_after_seconds(exc))
    if status in {401, 403}:
        return PermanentProviderError(f"{vendor}: authentication or permission failed (HTTP {status}); "
                                      f"check LLM_API_KEY: {detail}")
    if status == 404:
        return PermanentProviderError(f"{vendor}: not found (HTTP 404); check LLM_MODEL and LLM_BASE_URL: {detail}")
    return PermanentProviderError(f"{vendor}: request rejected (HTTP {status}): {detail}")


class VendorProvider(LlmProvider):
    """Base of the SDK-backed providers. Subclasses build the client and make one call."""

    default_model: str = ""
    api_key_env: tuple[str, ...] = ()
    requires_api_key: bool = True

    def __init__(self, settings: Settings):
        super().__init__(settings)
        self.model = settings.llm_model or self.default_model
        self.api_key = env_api_key(settings, self.api_key_env)
        self._client = None

    # -- the vendor-specific part -------------------------------------------------------
    @abstractmethod
    def _make_client(self) -> Any:
        """The SDK client, retries off, timeout from settings."""

    @abstractmethod
    def _request(self, client: Any, prompt: Prompt, reask: ReAsk | None) -> VendorReply:
        """One SDK call. Raise PermanentProviderError for refusals and safety stops."""

    # -- the shared part ----------------------------------------------------------------
    @property
    def client(self) -> Any:
        if self._client is None:
            if self.requires_api_key and not self.api_key:
                names = " or ".join(("LLM_API_KEY", *self.api_key_env))
                raise PermanentProviderError(f"{self.name}: no API key configured; set {names}")
            self._client = self._make_client()
        return self._client

    def redact(self, text: str) -> str:
        return redact(text, (self.api_key,))

    def _call(self, prompt: Prompt, reask: ReAsk | None) -> VendorReply:
        try:
            return self._request(self.client, prompt, reask)
        except ProviderError as exc:
            raise type(exc)(self.redact(str(exc)), *([exc.retry_after_s] if isinstance(exc, TransientProviderError) else [])) from None
        except Exception as exc:
            mapped = classify_error(exc, self.name, (self.api_key,), self.settings.llm_timeout_s)
            if mapped is None:
                raise
            log.warning("%s call failed: %s", self.name, mapped)
            raise mapped from None

    def predict(self, pages: list[OcrPage], images: list[PageImage]) -> Prediction:
        prompt = build_prompt(pages, images, self.settings)
        started = time.monotonic()
        reply = self._call(prompt, None)
        input_tokens, output_tokens = reply.input_tokens, reply.output_tokens
        try:
            data = parse_output(reply)
        except InvalidOutput as first:
            log.warning("%s answer unusable, asking again once: %s", self.name, first)
            reply = self._call(prompt, ReAsk(reply, str(first)))
            input_tokens += reply.input_tokens
            output_tokens += reply.output_tokens
            try:
                data = parse_output(reply)
            except InvalidOutput as second:
                raise PermanentProviderError(
                    f"{self.name}: unusable answer after one re-ask: {self.redact(str(second))}") from None
        model = reply.model or self.model
        usage = LlmUsage(provider=self.name, model=model, input_tokens=input_tokens, output_tokens=output_tokens,
                         latency_s=round(time.monotonic() - started, 3),
                         cost_usd=estimate_cost(model, input_tokens, output_tokens))
        log.info("%s answered: model %s, %s+%s tokens, %.2fs, pages sent %s of %s", self.name, model,
                 input_tokens, output_tokens, usage.latency_s, prompt.pages_sent, prompt.pages_total)
        return ground(data, pages, usage)
