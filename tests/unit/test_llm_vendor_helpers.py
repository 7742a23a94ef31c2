"""The vendor providers' pure helpers: prompt budget, grounding, redaction, pricing,
error classification. No services, no network."""
from __future__ import annotations

import email.utils
import time

import pytest

from invoice.scanner.processing.config import Settings
from invoice.scanner.processing.models import LlmUsage, OcrLine, OcrPage, OcrWord
from invoice.scanner.processing.stages.llm.base import PermanentProviderError, TransientProviderError
from invoice.scanner.processing.stages.llm.grounding import amount_key, ground
from invoice.scanner.processing.stages.llm.pricing import estimate_cost
from invoice.scanner.processing.stages.llm.prompt import build_prompt, select_text
from invoice.scanner.processing.stages.llm.redaction import MASK, redact
from invoice.scanner.processing.stages.llm.vendors import InvalidOutput, VendorReply, classify_error, parse_output


def _page(no: int, lines: list[str]) -> OcrPage:
    return OcrPage(no, 1000, 1400, "rapidocr", [
        OcrLine(text, (50, 40 + 30 * i, 900, 60 + 30 * i), 0.9,
                [OcrWord(text, (50, 40 + 30 * i, 900, 60 + 30 * i), 0.9)])
        for i, text in enumerate(lines)])


# -- prompt budget ---------------------------------------------------------------------------

def test_small_documents_are_sent_whole_with_layout_prefixes():
    text, sent, truncated = select_text([_page(1, ["Invoice RE-1", "Total 10,00"])], 8, 10_000)
    assert sent == [1] and not truncated
    assert "[p1 x=0.05 y=0.03] Invoice RE-1" in text and "--- page 1 ---" in text


def test_page_limit_keeps_the_first_pages_and_the_last():
    pages = [_page(n, [f"page {n} line"]) for n in range(1, 13)]
    text, sent, truncated = select_text(pages, 4, 100_000)
    assert sent == [1, 2, 3, 12] and truncated
    assert "page 12 line" in text and "page 5 line" not in text


def test_char_budget_keeps_the_bottom_of_the_last_page_and_the_top_of_the_first():
    first = _page(1, ["Invoice number RE-77"] + [f"filler line {i:03d} " + "x" * 60 for i in range(200)])
    last = _page(2, [f"item row {i:03d} " + "y" * 60 for i in range(200)] + ["Total due EUR 99,00"])
    text, sent, truncated = select_text([first, last], 8, 6000)
    assert truncated and sent == [1, 2]
    assert len(text) <= 6000 + 300  # the budget plus page headers and omission notes
    assert "Invoice number RE-77" in text and "Total due EUR 99,00" in text
    assert "item row 000" not in text and "lines of page 1 omitted" in text and "top" in text


def test_one_long_page_keeps_its_top_and_bottom():
    page = _page(1, ["Invoice RE-9"] + ["z" * 70] * 500 + ["Total 5,00"])
    text, _, truncated = select_text([page], 8, 4000)
    assert truncated and "Invoice RE-9" in text and "Total 5,00" in text and "lines omitted" in text


def test_prompt_names_the_pages_it_left_out():
    pages = [_page(n, [f"p{n}"]) for n in range(1, 11)]
    prompt = build_prompt(pages, [], Settings.from_env({}, llm_max_pages=3))
    assert prompt.pages_sent == [1, 2, 10] and "10 page(s)" in prompt.user_text and "pages 1, 2, 10" in prompt.user_text


# -- grounding ---------------------------------------------------------------------------------

@pytest.mark.parametrize("printed,key", [("1.234,50", "1234.50"), ("1,234.50", "1234.50"), ("1234.5", "1234.50"),
                                         ("EUR 1 234,50", "1234.50"), ("1'234.50", "1234.50"), ("(12.00)", "-12.00"),
                                         ("12", "12.00"), ("RE-2024-0017", None), ("Consulting", None)])
def test_amount_keys_ignore_separator_conventions(printed, key):
    assert amount_key(printed) == key


def test_grounding_finds_amounts_printed_differently_and_flags_invented_values():
    page = _page(1, ["Gesamtbetrag 1.234,50 EUR", "Rechnung Nr. 4711"])
    data = {"total": "1234.50", "invoice_number": "4711", "vendor_name": "Not On The Page Ltd", "line_items": []}
    pred = ground(data, [page], LlmUsage("openai"))
    assert pred.fields["total"].page == 1 and pred.fields["total"].confidence == pytest.approx(0.9)
    assert pred.fields["invoice_number"].bbox is not None
    invented = pred.fields["vendor_name"]
    assert invented.value == "Not On The Page Ltd" and invented.bbox is None and invented.confidence < 0.5
    assert pred.fields["due_date"].value is None and pred.fields["due_date"].confidence == 0.0


def test_grounding_tolerates_ocr_spacing():
    page = _page(1, ["Invoice no. RE- 2024 -0193"])
    pred = ground({"invoice_number": "RE-2024-0193", "line_items": []}, [page], LlmUsage("gemini"))
    assert pred.fields["invoice_number"].page == 1 and pred.fields["invoice_number"].confidence > 0.7


# -- output validation -----------------------------------------------------------------------

def test_parse_output_accepts_fenced_json_and_reports_schema_errors_readably():
    from invoice.scanner.processing.fields import FIELD_NAMES

    full = {name: None for name in FIELD_NAMES} | {"line_items": []}
    import json

    assert parse_output(VendorReply(text=f"```json\n{json.dumps(full)}\n```")) == full
    with pytest.raises(InvalidOutput, match="total: 12 is not of type"):
        parse_output(VendorReply(data=full | {"total": 12}))
    with pytest.raises(InvalidOutput, match="cut off at the token limit"):
        parse_output(VendorReply(text='{"total": "1', finish="length"))
    with pytest.raises(InvalidOutput, match="Additional properties"):
        parse_output(VendorReply(data=full | {"note": "x"}))


# -- secrets, pricing, errors ---------------------------------------------------------------

def test_redact_masks_the_configured_key_and_key_shaped_tokens():
    text = ("key sk-proj-abcDEF123456 header Authorization: Bearer abc.def-ghijkl "
            "x-goog-api-key: AIzaSyA1234567890abcdefghijk custom mysecretvalue")
    out = redact(text, ["mysecretvalue", None, ""])
    for secret in ("sk-proj-abcDEF123456", "abc.def-ghijkl", "AIzaSyA1234567890abcdefghijk", "mysecretvalue"):
        assert secret not in out
    assert out.count(MASK) == 4 and "Authorization: Bearer" in out


def test_cost_by_longest_prefix_and_zero_for_unknown_models():
    assert estimate_cost("gpt-4.1-mini-2025-04-14", 1_000_000, 0) == pytest.approx(0.40)
    assert estimate_cost("gpt-4.1", 0, 1_000_000) == pytest.approx(8.00)
    assert estimate_cost("models/gemini-2.5-flash", 1000, 1000) == pytest.approx(0.0028)
    assert estimate_cost("llama3.1", 10_000, 10_000) == 0.0 and estimate_cost(None, 1, 1) == 0.0


class _Resp:
    def __init__(self, headers):
        self.headers = headers


class _StatusError(Exception):
    def __init__(self, status, headers=None, details=None, message="boom"):
        super().__init__(message)
        self.status_code, self.response, self.details, self.message = status, _Resp(headers or {}), details, message


def test_classify_rate_limits_server_errors_and_client_errors():
    date = email.utils.formatdate(time.time() + 120, usegmt=True)
    assert classify_error(_StatusError(429, {"retry-after": "12"}), "openai", (), 60).retry_after_s == 12
    assert 100 < classify_error(_StatusError(429, {"retry-after": date}), "openai", (), 60).retry_after_s <= 120
    assert classify_error(_StatusError(429, {"retry-after-ms": "1500"}), "openai", (), 60).retry_after_s == 1.5
    gemini = _StatusError(429, details={"error": {"details": [{"@type": "type.googleapis.com/google.rpc.RetryInfo",
                                                               "retryDelay": "31s"}]}})
    assert classify_error(gemini, "gemini", (), 60).retry_after_s == 31
    assert isinstance(classify_error(_StatusError(529), "anthropic", (), 60), TransientProviderError)
    assert isinstance(classify_error(_StatusError(401, message="bad key sk-abcdefgh1234"), "openai", (), 60),
                      PermanentProviderError)
    assert "sk-abcdefgh1234" not in str(classify_error(_StatusError(401, message="bad key sk-abcdefgh1234"),
                                                       "openai", (), 60))
    assert isinstance(classify_error(TimeoutError(), "gemini", (), 7), TransientProviderError)
    assert classify_error(KeyError("a bug of ours"), "openai", (), 60) is None
