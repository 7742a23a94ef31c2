"""OpenAI Chat Completions with Structured Outputs, and any server speaking that API.

`openai`: api.openai.com (or `LLM_BASE_URL`, e.g. an Azure-style proxy), key from
`LLM_API_KEY` or `OPENAI_API_KEY`. `openai-compatible`: Ollama, vLLM, LM Studio, ... at
`LLM_BASE_URL` (default Ollama's `http://127.0.0.1:11434/v1`); a key is optional there.
Both ask for `response_format={"type": "json_schema", "json_schema": {..., "strict": true}}`;
servers without json_schema support answer free JSON, which validation and the re-ask catch.
Images (`LLM_SEND_IMAGES`) go as `image_url` data URLs: the model must accept images.
"""
from __future__ import annotations

from typing import Any

from invoice.scanner.processing.fields import json_schema
from invoice.scanner.processing.stages.llm.base import PermanentProviderError
from invoice.scanner.processing.stages.llm.prompt import Prompt
from invoice.scanner.processing.stages.llm.vendors import SCHEMA_NAME, ReAsk, VendorProvider, VendorReply

# Reasoning models accept only the default temperature.
_NO_TEMPERATURE_PREFIXES = ("o1", "o3", "o4", "gpt-5")


def response_format() -> dict:
    return {"type": "json_schema", "json_schema": {"name": SCHEMA_NAME, "schema": json_schema(), "strict": True}}


class OpenAIProvider(VendorProvider):
    name = "openai"
    default_model = "gpt-4.1-mini"
    api_key_env = ("OPENAI_API_KEY",)
    max_tokens_param = "max_completion_tokens"  # what api.openai.com expects today

    def _make_client(self) -> Any:
        import openai

        return openai.OpenAI(api_key=self.api_key or "unused", base_url=self.settings.llm_base_url or None,
                             timeout=self.settings.llm_timeout_s, max_retries=0)

    def _messages(self, prompt: Prompt, reask: ReAsk | None) -> list[dict]:
        if prompt.images:
            user: Any = [{"type": "text", "text": prompt.user_text}]
            for image in prompt.images:
                user.append({"type": "image_url", "image_url": {"url": image.data_url, "detail": "high"}})
        else:
            user = prompt.user_text
        messages = [{"role": "system", "content": prompt.system}, {"role": "user", "content": user}]
        if reask is not None:
            messages.append({"role": "assistant", "content": reask.previous.text or ""})
            messages.append({"role": "user", "content": reask.text})
        return messages

    def _request(self, client: Any, prompt: Prompt, reask: ReAsk | None) -> VendorReply:
        kwargs: dict[str, Any] = {
            "model": self.model,
            "messages": self._messages(prompt, reask),
            "response_format": response_format(),
            self.max_tokens_param: self.settings.llm_max_tokens,
        }
        if not self.model.startswith(_NO_TEMPERATURE_PREFIXES):
            kwargs["temperature"] = self.settings.llm_temperature
        completion = client.chat.completions.create(**kwargs)
        if not completion.choices:
            raise PermanentProviderError(f"{self.name}: the answer has no choices")
        choice = completion.choices[0]
        message = choice.message
        refusal = getattr(message, "refusal", None)
        if refusal:
            raise PermanentProviderError(f"{self.name}: the model refused: {str(refusal)[:300]}")
        if choice.finish_reason == "content_filter":
            raise PermanentProviderError(f"{self.name}: the answer was stopped by the content filter")
        usage = completion.usage
        return VendorReply(text=message.content, input_tokens=getattr(usage, "prompt_tokens", 0) or 0,
                           output_tokens=getattr(usage, "completion_tokens", 0) or 0,
                           model=completion.model or self.model, finish=choice.finish_reason)


class OpenAICompatibleProvider(OpenAIProvider):
    name = "openai-compatible"
    default_model = "llama3.1"  # Ollama's tag; set LLM_MODEL to what the server serves
    default_base_url = "http://127.0.0.1:11434/v1"
    requires_api_key = False
    max_tokens_param = "max_tokens"  # understood by Ollama, vLLM and LM Studio

    def _make_client(self) -> Any:
        import openai

        return openai.OpenAI(api_key=self.api_key or "unused", base_url=self.settings.llm_base_url or self.default_base_url,
                             timeout=self.settings.llm_timeout_s, max_retries=0)
