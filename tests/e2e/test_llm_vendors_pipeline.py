"""The whole pipeline on real Celery workers with `LLM_PROVIDER=openai`, `anthropic` and
`gemini`, each vendor's real SDK talking over HTTP to a local fake of that vendor's wire
protocol (`tests/fakes/`), answering in the vendor's native structured-output form.

One stack serves all three vendors (2 cores: starting a stack is the slow part); per vendor
only the llm worker is restarted with that vendor's settings (the `vendors_stack`, which the
openai-compatible and LLM-down tests share). Each run must end in the same result shape: the
contract's flat keys, grounded `fields`, `line_items`, and the vendor's provider, model and
token counts in `llm_usage` and the llm stage's history detail.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import pytest
from fakes import FakeAnthropic, FakeGemini, FakeOpenAI, answer
from fakes.base import FakeVendorServer, Recorded
from invoicegen import generate

from invoice.scanner.processing.fields import json_schema

pytestmark = pytest.mark.e2e

# The flat keys the React client reads (docs/API_CONTRACT.md, GET /documents/<id>).
CONTRACT_KEYS = {"id", "status", "invoice_number", "invoice_date", "due_date", "vendor_name", "customer_name",
                 "currency", "amount", "vat", "total", "predicted_accuracy", "quality_score", "created_at",
                 "fields", "line_items"}


@dataclass(frozen=True)
class Vendor:
    provider: str
    fake_class: type[FakeVendorServer]
    model: str
    api_key: str
    seed: int
    base_url: Callable[[str], str]  # fake server URL -> LLM_BASE_URL as the provider's SDK expects it
    path: str  # the vendor's real endpoint, as the SDK must call it
    schema_of: Callable[[dict], dict]  # request body -> the JSON schema in the vendor's native place
    key_of: Callable[[dict[str, str]], str]  # request headers (lower-case) -> the key the SDK presented


def _openai_schema(body: dict) -> dict:
    fmt = body["response_format"]
    assert fmt["type"] == "json_schema" and fmt["json_schema"]["strict"] is True
    return fmt["json_schema"]["schema"]


def _anthropic_schema(body: dict) -> dict:
    (tool,) = body["tools"]
    # structured output = one tool the model is forced to call
    assert body["tool_choice"] == {"type": "tool", "name": tool["name"]}
    return tool["input_schema"]


def _gemini_schema(body: dict) -> dict:
    config = body["generationConfig"]
    assert config["responseMimeType"] == "application/json"
    return config["responseJsonSchema"]


VENDORS = [
    Vendor("openai", FakeOpenAI, "gpt-4.1-mini", "sk-e2e-openai-Hx7Kd2Pq9Zt4", 301,
           lambda url: url + "/v1", "/v1/chat/completions", _openai_schema,
           lambda h: h.get("authorization", "").removeprefix("Bearer ")),
    Vendor("anthropic", FakeAnthropic, "claude-haiku-4-5", "sk-ant-e2e-Wc3Nf8Rb5Ym1", 302,
           lambda url: url, "/v1/messages", _anthropic_schema,
           lambda h: h.get("x-api-key") or h.get("authorization", "").removeprefix("Bearer ")),
    Vendor("gemini", FakeGemini, "gemini-2.5-flash", "AIzaE2eGeminiTv6Lj0Sd3Ua8", 303,
           lambda url: url, "/v1beta/models/gemini-2.5-flash:generateContent", _gemini_schema,
           lambda h: h.get("x-goog-api-key", "")),
]


def _as_printed(truth: dict) -> dict:
    """The answer a model would give: strings, amounts without currency (the schema's types)."""
    out = {k: (None if v is None else (f"{v:.2f}" if isinstance(v, float) else str(v)))
           for k, v in truth.items() if k not in {"line_items", "meta"}}
    out["line_items"] = [{k: (None if v is None else str(v)) for k, v in item.items()} for item in truth["line_items"]]
    return out


# Answers scripted per document: one per LLM attempt the vendors stack's retries allow
# (LLM_MAX_RETRIES 3: conftest's PATIENT_RETRIES).
ANSWERS_SCRIPTED = 4


@pytest.mark.parametrize("vendor", VENDORS, ids=[v.provider for v in VENDORS])
def test_vendor_runs_the_whole_pipeline(vendors_stack, vendor: Vendor):
    running = vendors_stack
    with vendor.fake_class(api_key=vendor.api_key, model=vendor.model) as fake:
        running.restart_worker("llm", {"LLM_PROVIDER": vendor.provider, "LLM_BASE_URL": vendor.base_url(fake.url),
                                       "LLM_API_KEY": vendor.api_key, "LLM_MODEL": vendor.model})
        api = running.user("Vendor Buyer", "ap@vendors.test")
        inv = generate(seed=vendor.seed, kind="born_digital", language="en")
        fake.push(*(answer(_as_printed(inv.truth)) for _ in range(ANSWERS_SCRIPTED)))

        r = api.upload(inv.data, inv.filename)
        assert r.status_code == 201, r.text
        doc_id = r.json()["document"]["id"]
        status = api.wait_terminal(doc_id, timeout_s=300)
        assert status["status"] in {"approved", "manual_review"}, (status, running.logs())
        requests: list[Recorded] = list(fake.requests)

    # the SDK called the vendor's real endpoint (once, unless a database hiccup retried the
    # stage), key in the vendor's header, schema in its native place
    assert 1 <= len(requests) <= ANSWERS_SCRIPTED
    for request in requests:
        assert request.path.split("?")[0] == vendor.path
        assert vendor.key_of(request.headers) == vendor.api_key
        assert vendor.schema_of(request.body) == json_schema()
        assert inv.truth["invoice_number"] in str(request.body)  # the OCR text went out

    doc = api.get(f"/documents/{doc_id}").json()
    assert CONTRACT_KEYS <= doc.keys()
    assert doc["status"] == status["status"]
    assert doc["invoice_number"] == inv.truth["invoice_number"]
    assert abs(float(doc["total"]) - inv.truth["total"]) < 0.005
    assert doc["currency"] == inv.truth["currency"]

    assert doc["fields"], "no fields"
    for name, field in doc["fields"].items():
        assert {"value", "confidence", "page", "bbox"} <= field.keys(), name
    number = doc["fields"]["invoice_number"]
    assert number["value"] == inv.truth["invoice_number"]
    assert number["page"] == 1
    assert len(number["bbox"]) == 4 and all(isinstance(c, (int, float)) for c in number["bbox"])

    assert len(doc["line_items"]) == len(inv.truth["line_items"])
    assert doc["line_items"][0]["description"] == inv.truth["line_items"][0]["description"]

    usage = doc["llm_usage"]
    assert usage["provider"] == vendor.provider and usage["model"] == vendor.model
    assert usage["input_tokens"] > 0 and usage["output_tokens"] > 0
    llm_steps = [h for h in doc["history"] if h.get("stage") == "llm" and (h.get("detail") or {}).get("provider")]
    assert llm_steps, doc["history"]
    llm_step = llm_steps[-1]
    assert llm_step["detail"]["provider"] == vendor.provider and llm_step["detail"]["model"] == vendor.model
    assert llm_step["detail"]["usage"]["input_tokens"] > 0

    # the key reached the vendor and nothing else: no stack log holds it
    for log_file in running.stack.log_dir.glob("*.log"):
        assert vendor.api_key not in log_file.read_text(errors="replace"), log_file.name
