"""Webhook management over HTTP: create (secret shown once), list, get, delete, the delivery
log, redelivery, validation, roles, and other companies' webhooks answering 404."""
from __future__ import annotations

import uuid

import pytest

pytest.register_assert_rewrite("conftest_api")
from conftest_api import Tenant  # noqa: E402
from invoice.scanner.api.auth import issue_token
from invoice.scanner.processing.db.connection import transaction

pytest_plugins = ["conftest_api"]


@pytest.fixture
def private_ok(make_app, api_config):
    """Receivers on 127.0.0.1 are allowed (as in a local stack with WEBHOOK_ALLOW_PRIVATE_TARGETS=true)."""
    return make_app(api_config.with_overrides(webhook_allow_private_targets=True)).test_client()


def _create(client, tenant: Tenant, **body):
    return client.post("/webhooks", json={"url": "http://127.0.0.1:9/hook", **body}, headers=tenant.headers)


def test_create_list_get_delete(private_ok, tenant):
    resp = _create(private_ok, tenant, events=["document.approved", "document.rejected"], description="ERP")
    assert resp.status_code == 201, resp.json
    created = resp.json
    assert created["secret"].startswith("whsec_") and len(created["secret"]) > 40
    assert created["events"] == ["document.approved", "document.rejected"]
    listed = private_ok.get("/webhooks", headers=tenant.headers).json["webhooks"]
    assert [w["id"] for w in listed] == [created["id"]]
    assert "secret" not in listed[0]
    one = private_ok.get(f"/webhooks/{created['id']}", headers=tenant.headers)
    assert one.status_code == 200 and "secret" not in one.json and one.json["description"] == "ERP"
    assert private_ok.delete(f"/webhooks/{created['id']}", headers=tenant.headers).status_code == 204
    assert private_ok.get(f"/webhooks/{created['id']}", headers=tenant.headers).status_code == 404
    assert private_ok.delete(f"/webhooks/{created['id']}", headers=tenant.headers).status_code == 404
    assert private_ok.get("/webhooks", headers=tenant.headers).json["webhooks"] == []


def test_default_is_every_event(private_ok, tenant):
    assert _create(private_ok, tenant).json["events"] == ["*"]


@pytest.mark.parametrize("body, field", [
    ({"url": "ftp://example.com/x"}, "url"),
    ({"url": "not a url"}, "url"),
    ({"url": ""}, "url"),
    ({"events": ["document.exploded"]}, "events"),
    ({"events": []}, "events"),
])
def test_bad_input_is_422(private_ok, tenant, body, field):
    resp = _create(private_ok, tenant, **body)
    assert resp.status_code == 422, resp.json
    assert field in resp.json["errors"]["json"]


def test_private_addresses_refused_by_default(client, tenant):
    """SSRF: with the default settings a URL resolving to loopback/private space is refused."""
    for url in ("http://127.0.0.1:8080/x", "http://169.254.169.254/latest/meta-data", "http://localhost/x",
                "http://10.1.2.3/x"):
        resp = client.post("/webhooks", json={"url": url}, headers=tenant.headers)
        assert resp.status_code == 422, (url, resp.json)
        assert "non-public" in resp.json["errors"]["json"]["url"][0]


def test_another_companys_webhook_is_404_everywhere(private_ok, make_tenant):
    owner, other = make_tenant(), make_tenant()
    hook = _create(private_ok, owner).json["id"]
    delivery = _delivery_for(owner, hook)
    for method, path in [("get", f"/webhooks/{hook}"), ("delete", f"/webhooks/{hook}"),
                         ("get", f"/webhooks/{hook}/deliveries"),
                         ("post", f"/webhooks/{hook}/deliveries/{delivery}/redeliver"),
                         ("post", f"/webhooks/{hook}/ping"),
                         ("get", f"/webhooks/{uuid.uuid4()}"), ("get", "/webhooks/not-a-uuid")]:
        resp = getattr(private_ok, method)(path, headers=other.headers)
        assert resp.status_code == 404, (method, path, resp.json)
        assert resp.json["message"] == "Webhook not found"
    assert private_ok.get("/webhooks", headers=other.headers).json["webhooks"] == []
    # and the owner still has it, untouched
    assert private_ok.get(f"/webhooks/{hook}", headers=owner.headers).status_code == 200


def test_only_admins_manage_webhooks(private_ok, repo, api_config, tenant):
    from conftest_api import _test_password_hash

    reviewer = repo.create_user(tenant.company_id, f"rev-{uuid.uuid4().hex[:8]}@example.test", _test_password_hash(),
                                role="reviewer")
    token = issue_token(repo, reviewer.id, api_config.token_ttl_s).access_token
    headers = {"Authorization": f"Bearer {token}"}
    assert private_ok.post("/webhooks", json={"url": "http://127.0.0.1:9/x"}, headers=headers).status_code == 403
    assert private_ok.get("/webhooks", headers=headers).status_code == 403


def _delivery_for(tenant: Tenant, hook_id: str) -> str:
    """A document of the tenant reaching manual_review: the trigger writes the event and delivery."""
    from conftest_api import _created

    url = next(iter(_created.values()))
    doc_id = uuid.uuid4()
    with transaction(url) as cur:
        cur.execute(
            """INSERT INTO documents (id, company_id, original_filename, stored_path, sha256, content_type,
                                      size_bytes, status)
               VALUES (%s, %s, 'a.pdf', '/x', %s, 'application/pdf', 1, 'automated_evaluation')""",
            (doc_id, tenant.company_id, uuid.uuid4().hex),
        )
        cur.execute("UPDATE documents SET status = 'manual_review' WHERE id = %s", (doc_id,))
        cur.execute("SELECT id FROM webhook_deliveries WHERE subscription_id = %s", (hook_id,))
        return str(cur.fetchone()["id"])


def test_delivery_log_and_redeliver(private_ok, tenant):
    hook = _create(private_ok, tenant, events=["document.manual_review"]).json["id"]
    delivery = _delivery_for(tenant, hook)
    log = private_ok.get(f"/webhooks/{hook}/deliveries", headers=tenant.headers)
    assert log.status_code == 200
    [entry] = log.json["deliveries"]
    assert entry["id"] == delivery and entry["state"] == "pending" and entry["event_type"] == "document.manual_review"
    assert entry["attempts"] == 0 and entry["attempt_log"] == []
    again = private_ok.post(f"/webhooks/{hook}/deliveries/{delivery}/redeliver", headers=tenant.headers)
    assert again.status_code == 202, again.json
    assert again.json["redelivery_of"] == delivery and again.json["event_id"] == entry["event_id"]
    assert len(private_ok.get(f"/webhooks/{hook}/deliveries", headers=tenant.headers).json["deliveries"]) == 2
    assert private_ok.get(f"/webhooks/{hook}/deliveries?state=bogus", headers=tenant.headers).status_code == 422
    missing = private_ok.post(f"/webhooks/{hook}/deliveries/{uuid.uuid4()}/redeliver", headers=tenant.headers)
    assert missing.status_code == 404 and missing.json["message"] == "Delivery not found"


def test_in_the_openapi_document(client):
    paths = client.get("/openapi.json").json["paths"]
    assert {"/webhooks", "/webhooks/{webhook_id}", "/webhooks/{webhook_id}/deliveries",
            "/webhooks/{webhook_id}/deliveries/{delivery_id}/redeliver", "/exports"} <= set(paths)
    # `uri` is a JSON-schema format (marshmallow's Url says `url`, which is none), and never empty.
    url = client.get("/openapi.json").json["components"]["schemas"]["WebhookCreate"]["properties"]["url"]
    assert url["format"] == "uri" and url["minLength"] == 1


def test_metrics_show_the_delivery_backlog(private_ok, tenant):
    import re

    def sample(text: str, name: str) -> float:
        return float(re.search(rf"^{re.escape(name)} (\S+)$", text, re.M).group(1))

    before = private_ok.get("/metrics", headers=tenant.headers).get_data(as_text=True)
    hook = _create(private_ok, tenant).json["id"]
    _delivery_for(tenant, hook)
    text = private_ok.get("/metrics", headers=tenant.headers).get_data(as_text=True)
    pending = 'invoice_scanner_webhook_deliveries{state="pending"}'
    assert sample(text, pending) == sample(before, pending) + 1
    assert sample(text, "invoice_scanner_webhook_oldest_pending_seconds") >= 0


def test_ping_queues_a_delivery_to_that_webhook_only(private_ok, tenant):
    hook = _create(private_ok, tenant, events=["document.approved"]).json["id"]
    other = _create(private_ok, tenant).json["id"]
    resp = private_ok.post(f"/webhooks/{hook}/ping", headers=tenant.headers)
    assert resp.status_code == 202, resp.json
    assert resp.json["event_type"] == "webhook.ping" and resp.json["state"] == "pending"
    assert resp.json["document_id"] is None
    assert [d["id"] for d in private_ok.get(f"/webhooks/{hook}/deliveries", headers=tenant.headers).json["deliveries"]] \
        == [resp.json["id"]]
    assert private_ok.get(f"/webhooks/{other}/deliveries", headers=tenant.headers).json["deliveries"] == []


# -- tenancy: property test ----------------------------------------------------------------------

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

HOOK_ENDPOINTS = [
    ("get", "/webhooks/{hook}"),
    ("delete", "/webhooks/{hook}"),
    ("get", "/webhooks/{hook}/deliveries"),
    ("post", "/webhooks/{hook}/deliveries/{delivery}/redeliver"),
    ("post", "/webhooks/{hook}/ping"),
]


@pytest.fixture
def hook_tenants(private_ok, make_tenant, api_database_url):
    from datetime import datetime, timezone

    from test_exports import FIELDS, LINES, insert_approved

    out = []
    for _ in range(3):
        t = make_tenant()
        hook = _create(private_ok, t).json["id"]
        approved = insert_approved(api_database_url, t.company_id, datetime(2026, 6, 1, tzinfo=timezone.utc), FIELDS,
                                   LINES)
        out.append({"tenant": t, "hook": hook, "delivery": _delivery_for(t, hook), "approved": str(approved)})
    return out


def _exported_ids(resp, fmt: str) -> set[str]:
    import csv
    import io
    import json
    import zipfile

    data = resp.get_data()
    if fmt == "csv":
        return {r["document_id"] for r in csv.DictReader(io.StringIO(data.decode("utf-8-sig")))}
    if fmt == "jsonl":
        return {json.loads(line)["id"] for line in data.decode().splitlines()}
    if fmt == "parquet":
        import pyarrow.parquet as pq

        return set(pq.read_table(io.BytesIO(data)).column("document_id").to_pylist())
    return {name.removesuffix(".xml") for name in zipfile.ZipFile(io.BytesIO(data)).namelist()}


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(endpoint=st.sampled_from(HOOK_ENDPOINTS), owner=st.integers(0, 2), shift=st.integers(1, 2),
       fmt=st.sampled_from(["csv", "jsonl", "parquet", "ubl"]))
def test_every_webhook_endpoint_answers_404_across_companies(private_ok, hook_tenants, endpoint, owner, shift, fmt):
    method, template = endpoint
    own, intruder = hook_tenants[owner], hook_tenants[(owner + shift) % 3]
    before = private_ok.get(f"/webhooks/{own['hook']}/deliveries", headers=own["tenant"].headers).json
    resp = getattr(private_ok, method)(template.format(hook=own["hook"], delivery=own["delivery"]),
                                       headers=intruder["tenant"].headers)
    assert resp.status_code == 404, (method, template, resp.json)
    # the same answer as for ids that do not exist at all
    unknown = getattr(private_ok, method)(template.format(hook=uuid.uuid4(), delivery=uuid.uuid4()),
                                          headers=intruder["tenant"].headers)
    assert (unknown.status_code, unknown.json["message"]) == (404, resp.json["message"])
    if "{delivery}" in template:  # the intruder's own webhook with the owner's delivery: not found either
        crossed = getattr(private_ok, method)(template.format(hook=intruder["hook"], delivery=own["delivery"]),
                                              headers=intruder["tenant"].headers)
        assert crossed.status_code == 404 and crossed.json["message"] == "Delivery not found"
    # nothing changed for the owner; lists never show another company's rows
    assert private_ok.get(f"/webhooks/{own['hook']}", headers=own["tenant"].headers).status_code == 200
    assert private_ok.get(f"/webhooks/{own['hook']}/deliveries", headers=own["tenant"].headers).json == before
    assert own["hook"] not in {w["id"] for w in
                               private_ok.get("/webhooks", headers=intruder["tenant"].headers).json["webhooks"]}
    # exports: each company's export holds its own approved document and never another's
    period = {"format": fmt, "from": "2026-06-01", "to": "2026-06-01"}
    theirs = _exported_ids(private_ok.get("/exports", query_string=period, headers=intruder["tenant"].headers), fmt)
    assert intruder["approved"] in theirs and own["approved"] not in theirs
