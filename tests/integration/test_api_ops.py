"""Health, metrics, CORS, the OpenAPI document and the one error shape."""
from __future__ import annotations

import pytest

import re

pytest.register_assert_rewrite("conftest_api")
from conftest_api import make_pdf, upload  # noqa: E402
from invoice.scanner.processing.db.repository import Repository
from invoice.scanner.processing.models import LlmUsage, Prediction
from invoice.scanner.processing.status import Status

pytest_plugins = ["conftest_api"]  # the API fixtures


def test_health_ok_without_a_token(client):
    resp = client.get("/health")
    assert resp.status_code == 200
    body = resp.json
    assert body["status"] == "ok"
    assert set(body["dependencies"]) == {"database", "broker", "documents_dir"}
    for dep in body["dependencies"].values():
        assert dep["ok"] is True and isinstance(dep["latency_ms"], float)
    assert body["stuck_documents"]["older_than_s"] == 3600
    assert isinstance(body["stuck_documents"]["total"], int)


def test_health_is_503_when_the_broker_is_down(make_app, api_config):
    client = make_app(api_config.with_overrides(redis_url="redis://127.0.0.1:1/5")).test_client()
    resp = client.get("/health")
    assert resp.status_code == 503
    body = resp.json
    assert body["status"] == "degraded"
    assert body["dependencies"]["broker"]["ok"] is False and body["dependencies"]["broker"]["error"]
    assert body["dependencies"]["database"]["ok"] is True


def test_health_is_503_when_the_database_is_down(make_app, api_config):
    client = make_app(api_config.with_overrides(
        database_url="postgresql://postgres@127.0.0.1:1/invoice_scanner_test_api")).test_client()
    resp = client.get("/health")
    assert resp.status_code == 503
    assert resp.json["dependencies"]["database"]["ok"] is False
    assert resp.json["dependencies"]["broker"]["ok"] is True
    assert "stuck_documents" not in resp.json


def test_health_counts_stuck_documents(client, tenant, repo):
    resp = upload(client, tenant, make_pdf())
    doc_id = resp.json["document"]["id"]
    before = client.get("/health").json["stuck_documents"]["by_status"].get("ocr_extracting", 0)
    with repo.tx() as cur:
        cur.execute("UPDATE documents SET status = 'ocr_extracting', updated_at = now() - interval '2 hours' "
                    "WHERE id = %s", (doc_id,))
    stuck = client.get("/health").json["stuck_documents"]
    assert stuck["by_status"]["ocr_extracting"] == before + 1


def _sample(text: str, name: str, labels: str = "") -> float | None:
    match = re.search(rf"^{re.escape(name)}{re.escape(labels)} (\S+)$", text, re.M)
    return float(match.group(1)) if match else None


def test_metrics_from_the_database_and_this_process(client, tenant, api_config):
    ok = upload(client, tenant, make_pdf())
    upload(client, tenant, b"", "empty.pdf")
    doc_id = ok.json["document"]["id"]
    pipeline = Repository(api_config.database_url)
    run = pipeline.start_pipeline_run(doc_id, expected_run=0)
    claim = pipeline.begin_stage(doc_id, "preprocessing", run, 0, "test-host")
    pipeline.finish_stage(doc_id, "preprocessing", run=run, history_id=claim.history_id, detail={},
                          next_status=Status.PREPROCESSED)
    pipeline.save_prediction(doc_id, Prediction(fields={}, line_items=[], usage=LlmUsage(
        provider="openai", model="gpt-test", input_tokens=1200, output_tokens=300, cost_usd=0.0042)))

    resp = client.get("/metrics", headers=tenant.headers)
    assert resp.status_code == 200
    assert resp.mimetype == "text/plain"
    text = resp.get_data(as_text=True)
    assert _sample(text, "invoice_scanner_uploads_total", '{outcome="accepted"}') == 1
    assert _sample(text, "invoice_scanner_uploads_total", '{outcome="empty"}') == 1
    assert _sample(text, "invoice_scanner_metrics_database_up") == 1
    assert _sample(text, "invoice_scanner_documents", '{status="preprocessed"}') >= 1
    assert "# TYPE invoice_scanner_documents gauge" in text
    assert "# TYPE invoice_scanner_stage_duration_seconds summary" in text
    assert _sample(text, "invoice_scanner_stage_duration_seconds_count", '{stage="preprocessing"}') >= 1
    assert _sample(text, "invoice_scanner_stage_duration_seconds_sum", '{stage="preprocessing"}') >= 0
    assert _sample(text, "invoice_scanner_llm_tokens_total",
                   '{direction="input",model="gpt-test",provider="openai"}') >= 1200
    assert _sample(text, "invoice_scanner_llm_cost_usd_total", '{model="gpt-test",provider="openai"}') >= 0.0042


def test_metrics_token_replaces_user_tokens_when_configured(make_app, api_config, tenant):
    client = make_app(api_config.with_overrides(metrics_token="scrape-secret")).test_client()
    assert client.get("/metrics", headers={"Authorization": "Bearer scrape-secret"}).status_code == 200
    assert client.get("/metrics", headers=tenant.headers).status_code == 401
    assert client.get("/documents", headers=tenant.headers).status_code == 200


def test_cors_for_an_allowed_origin_including_authorization(make_app, api_config, tenant):
    client = make_app(api_config.with_overrides(allowed_origins=("http://app.example",))).test_client()
    pre = client.options("/documents", headers={
        "Origin": "http://app.example", "Access-Control-Request-Method": "GET",
        "Access-Control-Request-Headers": "Authorization"})
    assert pre.status_code == 200
    assert pre.headers["Access-Control-Allow-Origin"] == "http://app.example"
    assert "authorization" in pre.headers["Access-Control-Allow-Headers"].lower()
    resp = client.get("/documents", headers={**tenant.headers, "Origin": "http://app.example"})
    assert resp.headers["Access-Control-Allow-Origin"] == "http://app.example"
    denied = client.get("/documents", headers={**tenant.headers, "Origin": "http://evil.example"})
    assert "Access-Control-Allow-Origin" not in denied.headers
    # errors carry the header too, so the browser can read them
    unauth = client.get("/documents", headers={"Origin": "http://app.example"})
    assert unauth.status_code == 401 and unauth.headers["Access-Control-Allow-Origin"] == "http://app.example"


def test_openapi_and_swagger_ui_are_public(client):
    spec = client.get("/openapi.json")
    assert spec.status_code == 200
    doc = spec.json
    assert doc["components"]["securitySchemes"]["bearerAuth"] == {
        "type": "http", "scheme": "bearer", "description": "Token from POST /auth/login"}
    assert doc["security"] == [{"bearerAuth": []}]
    for path in ("/documents/upload", "/documents/{document_id}/status", "/documents/{document_id}",
                 "/documents", "/documents/{document_id}/retry", "/health", "/metrics", "/auth/login"):
        assert path in doc["paths"], path
    assert doc["paths"]["/health"]["get"]["security"] == []
    assert doc["paths"]["/auth/login"]["post"]["security"] == []
    assert "201" in doc["paths"]["/documents/upload"]["post"]["responses"]
    assert "multipart/form-data" in doc["paths"]["/documents/upload"]["post"]["requestBody"]["content"]
    ui = client.get("/docs")
    assert ui.status_code == 200 and b"swagger" in ui.data.lower()


def test_unknown_route_and_wrong_method_use_the_error_shape(client, tenant):
    missing = client.get("/no/such/thing", headers=tenant.headers)
    assert missing.status_code == 404
    assert set(missing.json) == {"code", "status", "message"} and missing.json["status"] == "Not Found"
    wrong = client.delete("/documents", headers=tenant.headers)
    assert wrong.status_code == 405 and wrong.json["code"] == 405 and wrong.json["message"]


def test_unhandled_error_is_a_json_500(make_app, api_config, tenant):
    app = make_app(api_config)
    app.config["TESTING"] = False  # let Flask turn the exception into a 500 as in production
    state = app.extensions["invoice_scanner"]

    def broken(*args, **kwargs):
        raise RuntimeError("boom")

    state.repo.list_documents = broken
    resp = app.test_client().get("/documents", headers=tenant.headers)
    assert resp.status_code == 500
    assert resp.json["code"] == 500 and resp.json["status"] == "Internal Server Error" and resp.json["message"]
    assert "boom" not in resp.json["message"]


def test_the_api_imports_no_ocr_opencv_or_llm_code(api_config):
    import subprocess
    import sys

    code = (
        "import sys\n"
        "from invoice.scanner.api import create_app\n"
        "from invoice.scanner.api.config import ApiConfig\n"
        f"create_app(ApiConfig.from_env({{}}).with_overrides(database_url={api_config.database_url!r}))\n"
        "heavy = {'cv2', 'numpy', 'onnxruntime', 'rapidocr', 'paddleocr', 'openai', 'anthropic',\n"
        "         'google', 'invoice.scanner.processing.stages', 'invoice.scanner.processing.runner',\n"
        "         'invoice.scanner.processing.orchestrator', 'invoice.scanner.processing.maintenance',\n"
        "         'boto3', 'botocore'}  # boto3 only with STORAGE_URL=s3://...\n"
        "print(sorted(m for m in sys.modules if m in heavy or m.split('.')[0] in heavy))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
