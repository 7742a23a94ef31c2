"""Anthropic Messages API; structured output through one forced tool.

The tool's `input_schema` is `fields.json_schema()` and `tool_choice` forces it, so the
answer arrives as the `tool_use` block's `input` object. A re-ask answers that tool call
with a `tool_result` marked `is_error` that quotes the validation error, the protocol's
own way to say "call it again, correctly". Key from `LLM_API_KEY` or `ANTHROPIC_API_KEY`.
"""
from __future__ import annotations

import inspect
from typing import Any

from invoice.scanner.processing.fields import json_schema
from invoice.scanner.processing.stages.llm.base import PermanentProviderError
from invoice.scanner.processing.stages.llm.prompt import Prompt
from invoice.scanner.processing.stages.llm.vendors import SCHEMA_NAME, ReAsk, VendorProvider, VendorReply

TOOL_DESCRIPTION = "Record the fields and line items read from the invoice, values exactly as printed."


def _accepts_temperature(client: Any) -> bool:
    """Recent SDK releases dropped sampling parameters from `messages.create` (newer
    models fix them); older ones take `temperature`. Send it only where it is accepted."""
    try:
        return "temperature" in inspect.signature(client.messages.create).parameters
    except (TypeError, ValueError):
        return False


def tool_definition() -> dict:
    return {"name": SCHEMA_NAME, "description": TOOL_DESCRIPTION, "input_schema": json_schema()}


class AnthropicProvider(VendorProvider):
    name = "anthropic"
    default_model = "claude-haiku-4-5"
    api_key_env = ("ANTHROPIC_API_KEY",)

    def _make_client(self) -> Any:
        import anthropic

        return anthropic.Anthropic(api_key=self.api_key, base_url=self.settings.llm_base_url or None,
                                   timeout=self.settings.llm_timeout_s, max_retries=0)

    def _messages(self, prompt: Prompt, reask: ReAsk | None) -> list[dict]:
        content: list[dict] = [
            {"type": "image", "source": {"type": "base64", "media_type": image.media_type, "data": image.b64}}
            for image in prompt.images
        ]
        content.append({"type": "text", "text": prompt.user_text})
        messages = [{"role": "user", "content": content}]
        if reask is not None:
            tool_use = reask.previous.raw.get("tool_use")
            if tool_use:
                messages.append({"role": "assistant", "content": [tool_use]})
                messages.append({"role": "user", "content": [
                    {"type": "tool_result", "tool_use_id": tool_use["id"], "is_error": True, "content": reask.text}]})
            else:
                messages.append({"role": "assistant", "content": reask.previous.text or "(no answer)"})
                messages.append({"role": "user", "content": reask.text})
        return messages

    def _request(self, client: Any, prompt: Prompt, reask: ReAsk | None) -> VendorReply:
        kwargs: dict[str, Any] = {}
        if _accepts_temperature(client):
            kwargs["temperature"] = self.settings.llm_temperature
        message = client.messages.create(
            model=self.model,
            max_tokens=self.settings.llm_max_tokens,
            system=prompt.system,
            messages=self._messages(prompt, reask),
            tools=[tool_definition()],
            tool_choice={"type": "tool", "name": SCHEMA_NAME},
            **kwargs,
        )
        if message.stop_reason == "refusal":
            raise PermanentProviderError(f"{self.name}: the model refused to answer (stop_reason refusal)")
        usage = message.usage
        input_tokens = (getattr(usage, "input_tokens", 0) or 0) + (getattr(usage, "cache_creation_input_tokens", 0) or 0) \
            + (getattr(usage, "cache_read_input_tokens", 0) or 0)
        reply = VendorReply(input_tokens=input_tokens, output_tokens=getattr(usage, "output_tokens", 0) or 0,
                            model=message.model or self.model, finish=message.stop_reason)
        for block in message.content:
            if block.type == "tool_use" and block.name == SCHEMA_NAME:
                reply.data = block.input
                reply.raw["tool_use"] = {"type": "tool_use", "id": block.id, "name": block.name, "input": block.input}
                if message.stop_reason == "max_tokens":
                    # the tool input was cut off: treat it as text that is not valid JSON
                    reply.data = None
                    reply.text = "{"
                return reply
        reply.text = "".join(getattr(b, "text", "") for b in message.content if b.type == "text") or None
        if reply.text is None:
            reply.text = ""
        return reply
