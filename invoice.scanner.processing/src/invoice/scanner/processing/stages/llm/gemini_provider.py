"""Google Gemini API through the google-genai SDK (not the deprecated google-generativeai).

Structured output: `response_mime_type="application/json"` with `response_json_schema`
(the JSON-Schema field, which accepts `"type": ["string", "null"]` and
`additionalProperties`; the older `response_schema` OpenAPI subset does not). Retries
off with `HttpRetryOptions(attempts=1)`; `LLM_BASE_URL` goes to `HttpOptions.base_url`.
Key from `LLM_API_KEY`, `GEMINI_API_KEY` or `GOOGLE_API_KEY`. On Gemini 2.5 models the
thinking tokens count against `LLM_MAX_TOKENS` and are billed as output.
"""
from __future__ import annotations

from typing import Any

from invoice.scanner.processing.fields import json_schema
from invoice.scanner.processing.stages.llm.base import PermanentProviderError
from invoice.scanner.processing.stages.llm.prompt import Prompt
from invoice.scanner.processing.stages.llm.vendors import ReAsk, VendorProvider, VendorReply

API_VERSION = "v1beta"

# Stops that mean the answer was withheld; the same document would be withheld again.
BLOCKING_FINISH = {"SAFETY", "RECITATION", "BLOCKLIST", "PROHIBITED_CONTENT", "SPII", "IMAGE_SAFETY",
                   "IMAGE_PROHIBITED_CONTENT", "LANGUAGE"}


def _enum_name(value: Any) -> str | None:
    if value is None:
        return None
    return getattr(value, "name", None) or str(value).rsplit(".", 1)[-1]


class GeminiProvider(VendorProvider):
    name = "gemini"
    default_model = "gemini-2.5-flash"
    api_key_env = ("GEMINI_API_KEY", "GOOGLE_API_KEY")

    def _make_client(self) -> Any:
        from google import genai
        from google.genai import types

        http_options = types.HttpOptions(
            base_url=self.settings.llm_base_url or None,
            # v1beta carries every structured-output field; recent SDKs default to v1.
            api_version=API_VERSION,
            timeout=int(self.settings.llm_timeout_s * 1000),  # milliseconds
            retry_options=types.HttpRetryOptions(attempts=1),
        )
        return genai.Client(api_key=self.api_key, http_options=http_options)

    def _contents(self, prompt: Prompt, reask: ReAsk | None) -> list:
        from google.genai import types

        parts = [types.Part.from_bytes(data=image.png, mime_type=image.media_type) for image in prompt.images]
        parts.append(types.Part.from_text(text=prompt.user_text))
        contents = [types.Content(role="user", parts=parts)]
        if reask is not None:
            contents.append(types.Content(role="model", parts=[types.Part.from_text(text=reask.previous.text or "")]))
            contents.append(types.Content(role="user", parts=[types.Part.from_text(text=reask.text)]))
        return contents

    def _request(self, client: Any, prompt: Prompt, reask: ReAsk | None) -> VendorReply:
        from google.genai import types

        config = types.GenerateContentConfig(
            system_instruction=prompt.system,
            response_mime_type="application/json",
            response_json_schema=json_schema(),
            temperature=self.settings.llm_temperature,
            max_output_tokens=self.settings.llm_max_tokens,
        )
        response = client.models.generate_content(model=self.model, contents=self._contents(prompt, reask),
                                                  config=config)
        feedback = response.prompt_feedback
        block = _enum_name(getattr(feedback, "block_reason", None)) if feedback else None
        if block:
            raise PermanentProviderError(f"{self.name}: the prompt was blocked (block_reason {block})")
        if not response.candidates:
            raise PermanentProviderError(f"{self.name}: the answer has no candidates")
        candidate = response.candidates[0]
        finish = _enum_name(candidate.finish_reason)
        if finish in BLOCKING_FINISH:
            raise PermanentProviderError(f"{self.name}: the answer was withheld (finish_reason {finish})")
        parts = (candidate.content.parts if candidate.content else None) or []
        text = "".join(p.text for p in parts if p.text and not getattr(p, "thought", False))
        usage = response.usage_metadata
        output = (getattr(usage, "candidates_token_count", 0) or 0) + (getattr(usage, "thoughts_token_count", 0) or 0)
        return VendorReply(text=text, input_tokens=getattr(usage, "prompt_token_count", 0) or 0, output_tokens=output,
                           model=response.model_version or self.model, finish=finish)
