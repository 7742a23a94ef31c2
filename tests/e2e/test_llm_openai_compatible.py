"""The whole pipeline on real Celery workers with `LLM_PROVIDER=openai-compatible`, the llm
worker talking over HTTP to a fake OpenAI-compatible server (as it would to Ollama or vLLM)
started by this test, with `LLM_FALLBACK=local`. On the vendors stack, whose llm worker it
restarts with these settings (conftest's `vendors_stack`)."""
from __future__ import annotations

import json

import psycopg
import pytest
from fakes import FakeOpenAI, answer, error
from invoicegen import generate

from invoice.scanner.processing.fields import json_schema

pytestmark = pytest.mark.e2e

API_KEY = "sk-e2e-compat-Qm4Tz8Lw2Rv6"


@pytest.fixture(scope="module")
def fake_server():
    fake = FakeOpenAI(api_key=API_KEY)
    yield fake
    fake.close()


@pytest.fixture(scope="module")
def compat_stack(vendors_stack, fake_server):
    vendors_stack.restart_worker("llm", {
        "LLM_PROVIDER": "openai-compatible",
        "LLM_BASE_URL": fake_server.url + "/v1",
        "LLM_MODEL": "qwen2.5:7b-instruct",
        "LLM_API_KEY": API_KEY,
        "LLM_TIMEOUT_S": "20",
        "LLM_FALLBACK": "local",
        "LLM_MAX_RETRIES": "1",  # conftest's FAST_RETRIES, as on a stack of its own
    })
    return vendors_stack


def _as_printed(truth: dict) -> dict:
    """The answer a model would give: strings, amounts without currency."""
    out = {k: (None if v is None else (f"{v:.2f}" if isinstance(v, float) else str(v)))
           for k, v in truth.items() if k not in {"line_items", "meta"}}
    out["line_items"] = [{k: (None if v is None else str(v)) for k, v in item.items()} for item in truth["line_items"]]
    return out


def _llm_usage(database_url: str, doc_id: str) -> dict:
    with psycopg.connect(database_url) as conn, conn.cursor() as cur:
        cur.execute("SELECT llm_usage FROM documents WHERE id = %s", (doc_id,))
        (usage,) = cur.fetchone()
    return usage if isinstance(usage, dict) else json.loads(usage)


def test_vendor_answer_travels_through_the_pipeline(compat_stack, fake_server):
    api = compat_stack.user("Compat Buyer", "ap@compat.test")
    inv = generate(seed=101, kind="born_digital", language="en")
    fake_server.push(answer(_as_printed(inv.truth)))
    seen = len(fake_server.requests)

    r = api.upload(inv.data, inv.filename)
    assert r.status_code == 201, r.text
    doc_id = r.json()["document"]["id"]
    status = api.wait_terminal(doc_id)
    assert status["status"] in {"approved", "manual_review"}, compat_stack.logs()

    (request,) = fake_server.requests[seen:]
    assert request.path == "/v1/chat/completions"
    assert request.headers["authorization"] == f"Bearer {API_KEY}"
    assert request.body["model"] == "qwen2.5:7b-instruct"
    assert request.body["response_format"]["json_schema"]["schema"] == json_schema()
    assert inv.truth["invoice_number"] in request.body["messages"][1]["content"]  # the OCR text went out

    doc = api.get(f"/documents/{doc_id}").json()
    assert doc["invoice_number"] == inv.truth["invoice_number"]
    assert abs(float(doc["total"]) - inv.truth["total"]) < 0.005
    assert doc["fields"]["invoice_number"]["page"] == 1 and len(doc["fields"]["invoice_number"]["bbox"]) == 4

    usage = _llm_usage(compat_stack.database_url, doc_id)
    assert usage["provider"] == "openai-compatible" and usage["model"] == "qwen2.5:7b-instruct"
    assert usage["input_tokens"] > 0 and usage["fallback_from"] is None
    assert API_KEY not in compat_stack.logs()


def test_vendor_outage_falls_back_to_local(compat_stack, fake_server):
    api = compat_stack.user("Compat Buyer", "ap@compat.test")
    inv = generate(seed=102, kind="born_digital", language="en")
    fake_server.push(error(503, "model is loading"))

    r = api.upload(inv.data, inv.filename)
    assert r.status_code == 201, r.text
    doc_id = r.json()["document"]["id"]
    status = api.wait_terminal(doc_id)
    assert status["status"] in {"approved", "manual_review"}, compat_stack.logs()

    usage = _llm_usage(compat_stack.database_url, doc_id)
    assert usage["provider"] == "local" and usage["fallback_from"] == "openai-compatible"
    doc = api.get(f"/documents/{doc_id}").json()
    assert doc["invoice_number"] == inv.truth["invoice_number"]
