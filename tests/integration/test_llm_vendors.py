"""Vendor LLM providers through their real SDKs (openai, anthropic, google-genai) against
local fakes that speak each vendor's wire protocol (`tests/fakes/`).

What a real endpoint would add (model quality, the vendors' own schema checks) is out
of reach here; everything between our code and the socket is real.
"""
from __future__ import annotations

import io
import logging
import socket
from dataclasses import dataclass

import pytest
from fakes import FakeAnthropic, FakeGemini, FakeOpenAI, answer, blocked, delay, error, malformed, partial, refusal
from fakes.base import FakeVendorServer

from invoice.scanner.processing.config import Settings
from invoice.scanner.processing.errors import PermanentStageError, TransientStageError
from invoice.scanner.processing.fields import FIELD_NAMES, json_schema
from invoice.scanner.processing.models import OcrLine, OcrPage, OcrWord, PageImage, Prediction
from invoice.scanner.processing.stages.llm.base import PermanentProviderError, TransientProviderError
from invoice.scanner.processing.stages.llm.fallback import FallbackProvider
from invoice.scanner.processing.stages.llm.providers import PROVIDERS, get_provider

API_KEY = "sk-test-Zq81xVw03LmK7pR2aT"
VENDORS = ["openai", "anthropic", "gemini", "openai-compatible"]
DEFAULT_MODELS = {"openai": "gpt-4.1-mini", "anthropic": "claude-haiku-4-5", "gemini": "gemini-2.5-flash",
                  "openai-compatible": "llama3.1"}


def _line(text: str, x: int, y: int, conf: float = 0.96) -> OcrLine:
    words, cx = [], x
    for w in text.split():
        words.append(OcrWord(w, (cx, y, cx + 11 * len(w), y + 22), conf))
        cx += 11 * len(w) + 9
    return OcrLine(text, (x, y, cx - 9, y + 22), conf, words)


def invoice_page() -> OcrPage:
    return OcrPage(page_no=1, width=1240, height=1754, engine="rapidocr", lines=[
        _line("Nordlicht Software GmbH", 100, 90),
        _line("Invoice", 100, 200),
        _line("Invoice no. RE-2024-0193", 760, 200),
        _line("Invoice date 14.03.2024", 760, 240),
        _line("Due date 13.04.2024", 760, 280),
        _line("Bill to: Fjord Logistics AS", 100, 330),
        _line("Consulting hours 12 95,00 1.140,00", 100, 700, 0.93),
        _line("Subtotal 1.140,00", 760, 1300),
        _line("VAT 19% 216,60", 760, 1340),
        _line("Total EUR 1.356,60", 760, 1380, 0.91),
    ])


TRUTH = {
    "invoice_number": "RE-2024-0193", "invoice_date": "14.03.2024", "due_date": "13.04.2024",
    "vendor_name": "Nordlicht Software GmbH", "customer_name": "Fjord Logistics AS", "currency": "EUR",
    "amount": "1.140,00", "vat": "216,60", "total": "1.356,60",
    "iban": "DE89 3704 0044 0532 0130 00",  # not on the page: the model made it up
    "line_items": [{"description": "Consulting hours", "quantity": "12", "unit_price": "95,00",
                    "amount": "1.140,00", "tax_rate": "19%"}],
}


@dataclass
class Vendor:
    name: str
    fake: FakeVendorServer
    base_url: str

    def settings(self, **overrides) -> Settings:
        values = dict(llm_provider=self.name, llm_base_url=self.base_url, llm_api_key=API_KEY, llm_timeout_s=5.0)
        values.update(overrides)
        return Settings.from_env({}, **values)

    def provider(self, **overrides):
        return PROVIDERS[self.name](self.settings(**overrides))

    def last_body(self) -> dict:
        return self.fake.requests[-1].body


def _make_fake(name: str) -> tuple[FakeVendorServer, str]:
    if name in {"openai", "openai-compatible"}:
        fake = FakeOpenAI(api_key=API_KEY)
        return fake, fake.url + "/v1"
    if name == "anthropic":
        fake = FakeAnthropic(api_key=API_KEY)
        return fake, fake.url
    fake = FakeGemini(api_key=API_KEY, model="gemini-2.5-flash")
    return fake, fake.url


@pytest.fixture(params=VENDORS)
def vendor(request, monkeypatch) -> Vendor:
    for var in ("OPENAI_API_KEY", "ANTHROPIC_API_KEY", "GEMINI_API_KEY", "GOOGLE_API_KEY", "GOOGLE_GENAI_API_VERSION"):
        monkeypatch.delenv(var, raising=False)
    fake, base = _make_fake(request.param)
    yield Vendor(request.param, fake, base)
    fake.close()


def reask_text_of(vendor: Vendor) -> str:
    """The text of the last user turn of the last request: where the re-ask sits."""
    body = vendor.last_body()
    if vendor.name == "gemini":
        return " ".join(p.get("text", "") for p in body["contents"][-1]["parts"])
    last = body["messages"][-1]
    content = last["content"]
    if isinstance(content, str):
        return content
    return " ".join(str(block.get("content") or block.get("text") or "") for block in content)


# -- the happy path -----------------------------------------------------------------------

def test_structured_answer_is_grounded_on_the_ocr(vendor):
    vendor.fake.push(answer(TRUTH))
    prediction = vendor.provider().predict([invoice_page()], [])

    assert isinstance(prediction, Prediction)
    assert set(prediction.fields) == set(FIELD_NAMES)
    number = prediction.fields["invoice_number"]
    assert number.value == "RE-2024-0193" and number.page == 1
    x0, y0, x1, y1 = number.bbox
    assert 0.6 < x0 < x1 <= 1.0 and 0.1 < y0 < y1 < 0.13  # the number itself, right of its label
    assert number.confidence == pytest.approx(0.96)
    total = prediction.fields["total"]
    assert total.page == 1 and total.bbox[1] > 0.75 and total.confidence == pytest.approx(0.91)
    assert prediction.fields["currency"].bbox is not None  # "EUR" printed in the totals line
    iban = prediction.fields["iban"]  # returned but not printed: kept, but not trusted
    assert iban.value == TRUTH["iban"] and iban.bbox is None and iban.page is None and iban.confidence < 0.5
    assert prediction.fields["purchase_order"].value is None
    item = prediction.line_items[0]
    assert (item.description, item.amount, item.page) == ("Consulting hours", "1.140,00", 1)
    assert item.confidence > 0.8 and all(0 <= v <= 1 for v in item.bbox)

    usage = prediction.usage
    assert usage.provider == vendor.name and usage.fallback_from is None
    assert usage.model.startswith(DEFAULT_MODELS[vendor.name]) or vendor.name == "gemini"
    assert usage.input_tokens > 0 and usage.output_tokens > 0 and usage.latency_s > 0
    assert (usage.cost_usd > 0) == (vendor.name != "openai-compatible")  # self-hosted: no price
    assert len(vendor.fake.requests) == 1


def test_request_carries_the_schema_in_the_vendors_native_place(vendor):
    vendor.fake.push(answer(TRUTH))
    vendor.provider(llm_max_tokens=1500, llm_temperature=0.0).predict([invoice_page()], [])
    req = vendor.fake.requests[0]
    body = req.body
    schema = json_schema()
    if vendor.name in {"openai", "openai-compatible"}:
        assert req.path == "/v1/chat/completions"
        assert req.headers["authorization"] == f"Bearer {API_KEY}"
        fmt = body["response_format"]
        assert fmt["type"] == "json_schema"
        assert fmt["json_schema"]["strict"] is True and fmt["json_schema"]["schema"] == schema
        assert body["model"] == DEFAULT_MODELS[vendor.name]
        assert body["messages"][0]["role"] == "system"
        assert "[p1 x=0.61 y=0.11] Invoice no. RE-2024-0193" in body["messages"][1]["content"]
        tokens_param = "max_completion_tokens" if vendor.name == "openai" else "max_tokens"
        assert body[tokens_param] == 1500 and body["temperature"] == 0.0
    elif vendor.name == "anthropic":
        assert req.path == "/v1/messages"
        assert req.headers["anthropic-version"]
        assert API_KEY in (req.headers.get("x-api-key", ""), req.headers.get("authorization", "").removeprefix("Bearer "))
        (tool,) = body["tools"]
        assert tool["input_schema"] == schema
        assert body["tool_choice"] == {"type": "tool", "name": tool["name"]}
        assert body["max_tokens"] == 1500 and "exactly as printed" in body["system"]
        assert "Invoice no. RE-2024-0193" in body["messages"][0]["content"][-1]["text"]
    else:
        assert req.path == "/v1beta/models/gemini-2.5-flash:generateContent"
        assert req.headers["x-goog-api-key"] == API_KEY
        config = body["generationConfig"]
        assert config["responseMimeType"] == "application/json"
        assert config["responseJsonSchema"] == schema
        assert config["maxOutputTokens"] == 1500
        assert "exactly as printed" in body["systemInstruction"]["parts"][0]["text"]
        assert "Invoice no. RE-2024-0193" in body["contents"][0]["parts"][-1]["text"]


def test_page_images_travel_in_the_vendors_image_format(vendor, tmp_path):
    from PIL import Image

    path = tmp_path / "page-1.png"
    Image.new("RGB", (1800, 2546), "white").save(path)
    image = PageImage(page_no=1, image_path=str(path), width=1800, height=2546, dpi=220)
    vendor.fake.push(answer(TRUTH))
    vendor.provider(llm_send_images=True).predict([invoice_page()], [image])
    body = vendor.last_body()
    if vendor.name in {"openai", "openai-compatible"}:
        parts = body["messages"][1]["content"]
        urls = [p["image_url"]["url"] for p in parts if p["type"] == "image_url"]
        assert len(urls) == 1 and urls[0].startswith("data:image/png;base64,")
        data = urls[0].split(",", 1)[1]
    elif vendor.name == "anthropic":
        (img,) = [b for b in body["messages"][0]["content"] if b["type"] == "image"]
        assert img["source"]["type"] == "base64" and img["source"]["media_type"] == "image/png"
        data = img["source"]["data"]
    else:
        (img,) = [p for p in body["contents"][0]["parts"] if "inlineData" in p]
        # google-genai writes the proto field name (mime_type); proto3 JSON accepts both spellings
        assert img["inlineData"].get("mimeType", img["inlineData"].get("mime_type")) == "image/png"
        data = img["inlineData"]["data"]
    import base64

    # google-genai writes URL-safe base64 without padding; proto3 JSON accepts both alphabets
    raw = base64.urlsafe_b64decode(data.replace("+", "-").replace("/", "_") + "=" * (-len(data) % 4))
    sent = Image.open(io.BytesIO(raw))
    assert max(sent.size) == 1568  # downscaled from 2546


# -- invalid output: one re-ask, then permanent ------------------------------------------

def test_malformed_json_is_asked_again_once_then_succeeds(vendor):
    vendor.fake.push(malformed(), answer(TRUTH))
    prediction = vendor.provider().predict([invoice_page()], [])
    assert prediction.fields["total"].value == "1.356,60"
    assert len(vendor.fake.requests) == 2
    reask = reask_text_of(vendor)
    assert "not usable" in reask
    assert ("not valid JSON" in reask) or ("does not match the schema" in reask)
    if vendor.name == "anthropic":  # the protocol's own way: an is_error tool_result for the tool call
        body = vendor.last_body()
        assert body["messages"][1]["content"][0]["type"] == "tool_use"
        result = body["messages"][2]["content"][0]
        assert result["type"] == "tool_result" and result["is_error"] is True
        assert result["tool_use_id"] == body["messages"][1]["content"][0]["id"]
    # tokens of both calls are counted
    assert prediction.usage.input_tokens > 2 * 100


def test_output_still_bad_after_the_reask_is_permanent(vendor):
    vendor.fake.push(malformed(), partial({"invoice_number": "RE-2024-0193"}))
    with pytest.raises(PermanentProviderError) as info:
        vendor.provider().predict([invoice_page()], [])
    assert isinstance(info.value, PermanentStageError)
    message = str(info.value)
    assert "unusable answer after one re-ask" in message and "is a required property" in message
    assert len(vendor.fake.requests) == 2


def test_partial_output_is_reasked_with_the_validation_error(vendor):
    vendor.fake.push(partial({"invoice_number": "RE-2024-0193", "total": 1356.6}), answer(TRUTH))
    prediction = vendor.provider().predict([invoice_page()], [])
    assert prediction.fields["invoice_number"].value == "RE-2024-0193"
    reask = reask_text_of(vendor)
    assert "'invoice_date' is a required property" in reask or "total: 1356.6 is not of type" in reask


# -- refusals and blocks --------------------------------------------------------------------

def test_refusal_is_permanent(vendor):
    vendor.fake.push(refusal("I can't help with that request."))
    with pytest.raises(PermanentProviderError, match="refus|withheld"):
        vendor.provider().predict([invoice_page()], [])
    assert len(vendor.fake.requests) == 1  # no re-ask for a refusal


def test_content_filter_or_blocked_prompt_is_permanent(vendor):
    if vendor.name == "anthropic":
        pytest.skip("Anthropic signals this with stop_reason refusal, covered above")
    vendor.fake.push(blocked())
    with pytest.raises(PermanentProviderError, match="content filter|blocked"):
        vendor.provider().predict([invoice_page()], [])


# -- transient failures: the stage retries -------------------------------------------------

def test_rate_limit_carries_retry_after_and_the_next_attempt_succeeds(vendor):
    vendor.fake.push(error(429, "Rate limit reached for requests", retry_after=7), answer(TRUTH))
    provider = vendor.provider()
    with pytest.raises(TransientProviderError) as info:
        provider.predict([invoice_page()], [])
    assert isinstance(info.value, TransientStageError)
    assert info.value.retry_after_s == 7.0
    assert "429" in str(info.value)
    assert len(vendor.fake.requests) == 1  # the SDK did not retry on its own
    # the Celery stage's retry: the same provider instance, the next call
    prediction = provider.predict([invoice_page()], [])
    assert prediction.fields["invoice_number"].value == "RE-2024-0193"


@pytest.mark.parametrize("status", [500, 503])
def test_server_errors_are_transient_without_sdk_retries(vendor, status):
    vendor.fake.push(error(status, "The server had an error while processing your request"))
    with pytest.raises(TransientProviderError, match=str(status)):
        vendor.provider().predict([invoice_page()], [])
    assert len(vendor.fake.requests) == 1


def test_timeout_is_transient(vendor):
    vendor.fake.push(delay(3.0, answer(TRUTH)))
    with pytest.raises(TransientProviderError, match="timeout"):
        vendor.provider(llm_timeout_s=0.5).predict([invoice_page()], [])


def test_connection_refused_is_transient(vendor):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed once the block ends: nothing listens there
    base = f"http://127.0.0.1:{port}" + ("/v1" if vendor.name.startswith("openai") else "")
    with pytest.raises(TransientProviderError):
        vendor.provider(llm_base_url=base).predict([invoice_page()], [])


@pytest.mark.parametrize("status", [400, 404])
def test_client_errors_are_permanent(vendor, status):
    vendor.fake.push(error(status, "model `nope` does not exist" if status == 404 else "Invalid schema"))
    with pytest.raises(PermanentProviderError, match=str(status)):
        vendor.provider().predict([invoice_page()], [])


# -- secrets ----------------------------------------------------------------------------------

def test_a_wrong_key_fails_permanently_and_never_shows_in_messages_or_logs(vendor, caplog):
    wrong = "sk-wrong-Hh7Yq1Ue9Xo2Bb5Nn3"
    caplog.set_level(logging.DEBUG)
    with pytest.raises(PermanentProviderError) as info:
        vendor.provider(llm_api_key=wrong).predict([invoice_page()], [])
    assert "401" in str(info.value) and "LLM_API_KEY" in str(info.value)
    assert vendor.fake.requests[0].body is not None
    # the fake echoed the key in its error body; it must not survive anywhere
    assert wrong not in str(info.value)
    assert info.value.__cause__ is None and info.value.__suppress_context__
    assert wrong not in caplog.text
    assert all(wrong not in r.getMessage() for r in caplog.records)


def test_missing_key_is_a_readable_permanent_error(vendor, monkeypatch):
    if vendor.name == "openai-compatible":
        pytest.skip("local servers need no key")
    with pytest.raises(PermanentProviderError, match="no API key configured; set LLM_API_KEY or"):
        vendor.provider(llm_api_key="").predict([invoice_page()], [])
    assert vendor.fake.requests == []


def test_the_vendors_standard_key_variable_is_used_when_llm_api_key_is_empty(vendor, monkeypatch):
    env = {"openai": "OPENAI_API_KEY", "openai-compatible": "OPENAI_API_KEY", "anthropic": "ANTHROPIC_API_KEY",
           "gemini": "GEMINI_API_KEY"}[vendor.name]
    monkeypatch.setenv(env, API_KEY)
    vendor.fake.push(answer(TRUTH))
    assert vendor.provider(llm_api_key="").predict([invoice_page()], []).fields["vat"].value == "216,60"


# -- fallback -------------------------------------------------------------------------------

def test_transient_failure_falls_back_to_local_at_once(vendor):
    vendor.fake.push(error(503, "overloaded"))
    provider = get_provider(vendor.settings(llm_fallback="local"))
    prediction = provider.predict([invoice_page()], [])
    assert prediction.usage.provider == "local"
    assert prediction.usage.fallback_from == vendor.name
    assert len(vendor.fake.requests) == 1
    assert prediction.fields["invoice_number"].value  # the local provider read the page itself


def test_permanent_failure_does_not_fall_back(vendor):
    vendor.fake.push(refusal())
    with pytest.raises(PermanentProviderError):
        get_provider(vendor.settings(llm_fallback="local")).predict([invoice_page()], [])


def test_fallback_chain_to_another_vendor_records_the_failed_one(vendor):
    """`LLM_FALLBACK=gemini,local`-style chains: the next provider answers this document."""
    other = FakeGemini(api_key=API_KEY, model="gemini-2.5-flash")
    try:
        other.push(answer(TRUTH))
        vendor.fake.push(error(429, "slow down", retry_after=30))
        backup = Vendor("gemini", other, other.url).provider()
        chained = FallbackProvider(vendor.provider(), [("gemini", lambda: backup)])
        prediction = chained.predict([invoice_page()], [])
        assert prediction.usage.provider == "gemini" and prediction.usage.fallback_from == vendor.name
        # when every fallback fails transiently, the primary's error (with its Retry-After) is raised
        vendor.fake.push(error(429, "slow down", retry_after=30))
        other.push(error(500, "down too"))
        with pytest.raises(TransientProviderError) as info:
            chained.predict([invoice_page()], [])
        assert info.value.retry_after_s == 30.0 and vendor.name in str(info.value)
    finally:
        other.close()


def test_registry_knows_every_vendor_and_rejects_unknown_names():
    assert set(VENDORS) | {"local"} <= set(PROVIDERS)
    with pytest.raises(ValueError, match="unknown LLM_PROVIDER"):
        get_provider(Settings.from_env({}, llm_provider="nope"))
    with pytest.raises(ValueError, match="unknown LLM_FALLBACK"):
        get_provider(Settings.from_env({}, llm_provider="openai", llm_fallback="nope"))
    s = Settings.from_env({}, llm_provider="openai", llm_api_key=API_KEY)
    assert get_provider(s) is get_provider(s)

