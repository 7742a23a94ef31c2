"""Reading documents: status, extracted data, history, list, tenancy, retry."""
from __future__ import annotations

import re

import pytest

pytest.register_assert_rewrite("conftest_api")
from conftest_api import make_pdf, queued_messages, upload  # noqa: E402
from invoice.scanner.processing.celery_app import ORCHESTRATE_TASK
from invoice.scanner.processing.db.repository import Repository
from invoice.scanner.processing.models import Evaluation, Extraction, NormalizedField, NormalizedLineItem, PageImage
from invoice.scanner.processing.status import Status

ISO_Z = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$")

pytest_plugins = ["conftest_api"]  # the API fixtures


def _upload_id(client, tenant, data=None) -> str:
    resp = upload(client, tenant, data or make_pdf())
    assert resp.status_code == 201, resp.json
    return resp.json["document"]["id"]


def _complete(api_config, doc_id: str) -> None:
    """Drive a document through the pipeline's own repository calls, as the workers do."""
    pipeline = Repository(api_config.database_url)
    run = pipeline.start_pipeline_run(doc_id, expected_run=0)
    claim = pipeline.begin_stage(doc_id, "preprocessing", run, 0, "test-host")
    pipeline.save_pages(doc_id, [PageImage(page_no=1, image_path="/x/p1.png", width=1654, height=2339, dpi=200)])
    pipeline.finish_stage(doc_id, "preprocessing", run=run, history_id=claim.history_id, detail={"pages": 1},
                          next_status=Status.PREPROCESSED)
    claim = pipeline.begin_stage(doc_id, "evaluation", run, 0, "test-host")
    fields = {
        "invoice_number": NormalizedField("invoice_number", "INV-2024-001", "INV-2024-001", 0.98, 1,
                                          (0.1, 0.1, 0.3, 0.12)),
        "invoice_date": NormalizedField("invoice_date", "2024-12-21", "21.12.2024", 0.95, 1, (0.1, 0.13, 0.2, 0.15)),
        "vendor_name": NormalizedField("vendor_name", "Acme Corp", "ACME Corp", 0.9, 1, (0.1, 0.02, 0.4, 0.05)),
        "currency": NormalizedField("currency", "EUR", "€", 0.99),
        "amount": NormalizedField("amount", 1000.0, "1.000,00", 0.97, 1, (0.7, 0.8, 0.9, 0.82)),
        "vat": NormalizedField("vat", "250.00", "250,00", 0.97, 1, (0.7, 0.83, 0.9, 0.85)),
        "total": NormalizedField("total", 1250, "1.250,00", 0.97, 1, (0.7, 0.86, 0.9, 0.88)),
        "iban": NormalizedField("iban", "DE89370400440532013000", "DE89 3704 0044 0532 0130 00", 0.93, 1, None),
    }
    items = [NormalizedLineItem(1, "Consulting", 10, 100.0, 1000.0, 0.25, 0.9, 1, (0.1, 0.5, 0.9, 0.52))]
    pipeline.save_extraction(doc_id, Extraction(fields=fields, line_items=items))
    evaluation = Evaluation(approved=False, quality_score=0.72, predicted_accuracy=0.7,
                            reasons=["due_date missing"], checks={"totals_add_up": True})
    pipeline.finish_stage(doc_id, "evaluation", run=run, history_id=claim.history_id, detail={},
                          next_status=Status.MANUAL_REVIEW,
                          document_updates=pipeline.evaluation_updates(evaluation))


def _fail(api_config, doc_id: str, stage: str = "ocr") -> int:
    pipeline = Repository(api_config.database_url)
    run = pipeline.start_pipeline_run(doc_id, expected_run=0, from_stage="preprocessing")
    claim = pipeline.begin_stage(doc_id, stage, run, 3, "test-host")
    pipeline.record_attempt_failure(claim.history_id, "engine crashed", will_retry=False)
    assert pipeline.fail_stage(doc_id, stage, run, "OCR engine crashed on page 1", "test-host")
    return run


def test_status_has_every_contract_key(client, tenant):
    doc_id = _upload_id(client, tenant)
    resp = client.get(f"/documents/{doc_id}/status", headers=tenant.headers)
    assert resp.status_code == 200
    body = resp.json
    assert set(body) == {"document_id", "status", "status_name", "status_description", "progress", "quality_score",
                         "error", "created_at", "last_update"}
    assert body["document_id"] == doc_id
    assert body["status"] == "preprocessing" and body["status_name"] == "Preprocessing"
    assert isinstance(body["status_description"], str) and body["status_description"]
    assert body["progress"] == {"current_step": 1, "total_steps": 6, "percentage": 17}
    assert body["quality_score"] is None and body["error"] is None
    assert ISO_Z.match(body["created_at"]) and ISO_Z.match(body["last_update"])


def test_status_of_a_running_document_matches_the_contract_example(client, tenant, repo):
    doc_id = _upload_id(client, tenant)
    with repo.tx() as cur:
        cur.execute("UPDATE documents SET status = 'ocr_extracting' WHERE id = %s", (doc_id,))
    body = client.get(f"/documents/{doc_id}/status", headers=tenant.headers).json
    assert body["status_name"] == "OCR Extracting"
    assert body["status_description"] == "OCR extraction is in progress"
    assert body["progress"] == {"current_step": 2, "total_steps": 6, "percentage": 33}


def test_document_before_extraction_has_null_flat_keys(client, tenant):
    doc_id = _upload_id(client, tenant)
    body = client.get(f"/documents/{doc_id}", headers=tenant.headers).json
    for key in ("invoice_number", "invoice_date", "due_date", "vendor_name", "customer_name", "currency", "amount",
                "vat", "total", "predicted_accuracy", "quality_score"):
        assert key in body and body[key] is None
    assert body["fields"] == {} and body["line_items"] == [] and body["pages"] == []
    assert [h["to_status"] for h in body["history"]] == ["preprocessing"]


def test_document_has_contract_keys_with_their_types(client, tenant, api_config):
    doc_id = _upload_id(client, tenant)
    _complete(api_config, doc_id)
    resp = client.get(f"/documents/{doc_id}", headers=tenant.headers)
    assert resp.status_code == 200
    body = resp.json
    assert body["id"] == doc_id and body["status"] == "manual_review"
    assert body["invoice_number"] == "INV-2024-001"
    assert body["invoice_date"] == "2024-12-21" and body["due_date"] is None
    assert body["vendor_name"] == "Acme Corp" and body["customer_name"] is None
    assert body["currency"] == "EUR"
    # amounts are JSON numbers whatever type the extraction stored
    assert body["amount"] == 1000.0 and body["vat"] == 250.0 and body["total"] == 1250.0
    assert all(isinstance(body[k], float) for k in ("amount", "vat", "total", "quality_score", "predicted_accuracy"))
    assert body["quality_score"] == 0.72 and body["predicted_accuracy"] == 0.7
    assert ISO_Z.match(body["created_at"])
    assert body["fields"]["invoice_number"] == {
        "value": "INV-2024-001", "confidence": 0.98, "page": 1, "bbox": [0.1, 0.1, 0.3, 0.12],
        "raw_value": "INV-2024-001", "valid": True, "error": None,
        "locked": False, "corrected_by": None, "corrected_at": None, "provenance": "page"}
    assert body["fields"]["iban"]["value"] == "DE89370400440532013000"  # richer fields sit beside the flat ones
    assert body["fields"]["currency"]["bbox"] is None and body["fields"]["currency"]["page"] is None
    (item,) = body["line_items"]
    assert item["description"] == "Consulting" and item["quantity"] == 10 and item["unit_price"] == 100.0
    assert item["amount"] == 1000.0 and isinstance(item["amount"], float)
    assert body["pages"] == [{"page_no": 1, "width": 1654, "height": 2339, "dpi": 200, "rotation": 0,
                              "ocr_engine": None, "ocr_confidence": None}]
    assert body["evaluation"]["reasons"] == ["due_date missing"]
    statuses = [h["to_status"] for h in body["history"]]
    assert statuses[0] == "preprocessing" and statuses[-1] == "manual_review"
    assert all(ISO_Z.match(h["started_at"]) for h in body["history"])

    status = client.get(f"/documents/{doc_id}/status", headers=tenant.headers).json
    assert status["quality_score"] == 0.72 and status["progress"]["percentage"] == 100

    history = client.get(f"/documents/{doc_id}/history", headers=tenant.headers).json
    assert history["document_id"] == doc_id and history["history"] == body["history"]


def test_another_companys_document_is_404(client, tenant, make_tenant):
    doc_id = _upload_id(client, tenant)
    other = make_tenant()
    for path in (f"/documents/{doc_id}", f"/documents/{doc_id}/status", f"/documents/{doc_id}/history"):
        resp = client.get(path, headers=other.headers)
        assert resp.status_code == 404, path
        assert resp.json == {"code": 404, "status": "Not Found", "message": "Document not found"}
    assert client.post(f"/documents/{doc_id}/retry", headers=other.headers).status_code == 404
    listed = client.get("/documents", headers=other.headers).json
    assert listed["documents"] == [] and listed["total"] == 0
    assert client.get(f"/documents/{doc_id}", headers=tenant.headers).status_code == 200


# A well-formed id no document has: a literal, so every pytest-xdist worker collects the same ids.
@pytest.mark.parametrize("bad", ["not-a-uuid", "1", "' OR 1=1 --", "0b7c5f4e-2d7a-4c1e-9a63-5e0f3c2b8d41"])
def test_unknown_or_malformed_id_is_404(client, tenant, bad):
    for path in (f"/documents/{bad}", f"/documents/{bad}/status"):
        resp = client.get(path, headers=tenant.headers)
        assert resp.status_code == 404 and resp.json["code"] == 404


def test_list_is_newest_first_and_pages_by_cursor_and_offset(client, tenant, make_tenant):
    ids = [_upload_id(client, tenant) for _ in range(5)]
    _upload_id(client, make_tenant())  # another company's document never shows
    newest_first = list(reversed(ids))

    first = client.get("/documents?limit=2", headers=tenant.headers).json
    assert first["total"] == 5 and first["limit"] == 2
    assert [d["id"] for d in first["documents"]] == newest_first[:2]
    summary = first["documents"][0]
    assert {"id", "status", "status_name", "original_filename", "content_type", "created_at", "last_update",
            "invoice_number", "vendor_name", "total", "currency"} <= set(summary)

    seen, cursor = [], None
    while True:
        page = client.get("/documents", query_string={"limit": 2, **({"cursor": cursor} if cursor else {})},
                          headers=tenant.headers).json
        seen += [d["id"] for d in page["documents"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == newest_first

    by_offset = client.get("/documents?limit=2&offset=2", headers=tenant.headers).json
    assert [d["id"] for d in by_offset["documents"]] == newest_first[2:4] and by_offset["offset"] == 2
    last = client.get("/documents?limit=2&offset=4", headers=tenant.headers).json
    assert [d["id"] for d in last["documents"]] == newest_first[4:] and last["next_cursor"] is None


def test_list_filters_by_status(client, tenant, api_config):
    ids = [_upload_id(client, tenant) for _ in range(3)]
    _complete(api_config, ids[1])
    review = client.get("/documents?status=manual_review", headers=tenant.headers).json
    assert [d["id"] for d in review["documents"]] == [ids[1]] and review["total"] == 1
    assert review["documents"][0]["invoice_number"] == "INV-2024-001"
    assert review["documents"][0]["total"] == 1250.0
    queued = client.get("/documents?status=preprocessing", headers=tenant.headers).json
    assert {d["id"] for d in queued["documents"]} == {ids[0], ids[2]}


@pytest.mark.parametrize("query", ["limit=0", "limit=201", "limit=x", "status=bogus", "offset=-1",
                                   "cursor=%%%", "cursor=bm90LWEtY3Vyc29y", "cursor=abc&offset=3"])
def test_list_rejects_bad_query_with_field_errors(client, tenant, query):
    resp = client.get(f"/documents?{query}", headers=tenant.headers)
    assert resp.status_code == 422, query
    assert resp.json["code"] == 422 and resp.json["errors"]


def test_retry_of_a_document_that_has_not_failed_is_409(client, tenant, redis_client):
    doc_id = _upload_id(client, tenant)
    redis_client.delete("orchestrator")
    resp = client.post(f"/documents/{doc_id}/retry", headers=tenant.headers)
    assert resp.status_code == 409 and resp.json["code"] == 409 and "preprocessing" in resp.json["message"]
    assert redis_client.llen("orchestrator") == 0


def test_retry_resumes_from_the_failed_stage(client, tenant, api_config, redis_client, repo):
    doc_id = _upload_id(client, tenant)
    run = _fail(api_config, doc_id, "ocr")
    failed = client.get(f"/documents/{doc_id}/status", headers=tenant.headers).json
    assert failed["status"] == "ocr_error" and failed["error"] == "OCR engine crashed on page 1"
    redis_client.delete("orchestrator")

    resp = client.post(f"/documents/{doc_id}/retry", headers=tenant.headers)
    assert resp.status_code == 202, resp.json
    assert resp.json["document_id"] == doc_id
    assert resp.json["status"] == "ocr_extracting" and resp.json["error"] is None
    (message,) = queued_messages(redis_client)
    assert message["task"] == ORCHESTRATE_TASK
    assert message["args"] == [doc_id, str(tenant.company_id)]
    assert message["kwargs"] == {"from_stage": "ocr", "expected_run": run}

    with repo.tx() as cur:
        cur.execute("""SELECT from_status, to_status, stage, detail FROM document_status_history
                       WHERE document_id = %s ORDER BY id DESC LIMIT 1""", (doc_id,))
        audit = cur.fetchone()
    assert audit["from_status"] == "ocr_error" and audit["to_status"] == "ocr_extracting"
    assert audit["detail"]["user_id"] == str(tenant.user_id) and audit["detail"]["from_stage"] == "ocr"

    # a second click while the first retry is under way starts nothing
    assert client.post(f"/documents/{doc_id}/retry", headers=tenant.headers).status_code == 409
    assert redis_client.llen("orchestrator") == 1


def test_retry_with_the_broker_down_is_503_and_changes_nothing(make_app, api_config, client, tenant):
    doc_id = _upload_id(client, tenant)
    _fail(api_config, doc_id, "ocr")
    down = make_app(api_config.with_overrides(redis_url="redis://127.0.0.1:1/5")).test_client()
    resp = down.post(f"/documents/{doc_id}/retry", headers=tenant.headers)
    assert resp.status_code == 503 and resp.json["code"] == 503
    status = client.get(f"/documents/{doc_id}/status", headers=tenant.headers).json
    assert status["status"] == "ocr_error" and status["error"] == "OCR engine crashed on page 1"
