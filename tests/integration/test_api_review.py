"""The review workflow on real PostgreSQL: queue, claims, corrections (locked, versioned),
decisions, the append-only audit log, roles and tenancy."""
from __future__ import annotations

import re
import threading
import uuid

import pytest

pytest.register_assert_rewrite("conftest_api", "review_helpers")
from conftest_api import make_pdf, upload  # noqa: E402
from review_helpers import (add_member, invoice_page, manual_review_document, prediction_from,  # noqa: E402
                            processed_document, redrive)

from invoice.scanner.processing.db.connection import DatabaseError, transaction  # noqa: E402
from invoice.scanner.processing.devstack import wait_for  # noqa: E402

pytest_plugins = ["conftest_api"]


@pytest.fixture
def reviewer(repo, api_config, tenant):
    return add_member(repo, api_config, tenant.company_id, "reviewer")


@pytest.fixture
def doc_id(client, tenant, api_database_url):
    return manual_review_document(client, tenant, api_database_url)


def _etag(client, who, doc_id) -> str:
    resp = client.get(f"/documents/{doc_id}", headers=who.headers)
    assert resp.status_code == 200, resp.json
    assert resp.headers["ETag"] == f'"{resp.json["version"]}"'
    return resp.headers["ETag"]


# -- claims ----------------------------------------------------------------------------------


def test_two_reviewers_racing_for_one_document_one_wins(app, doc_id, reviewer, repo, api_config, tenant):
    other = add_member(repo, api_config, tenant.company_id, "reviewer")
    barrier = threading.Barrier(8)
    results: list[tuple[str, int]] = []
    lock = threading.Lock()

    def race(member):
        client = app.test_client()
        barrier.wait()
        status = client.post(f"/documents/{doc_id}/claim", headers=member.headers).status_code
        with lock:
            results.append((member.email, status))

    threads = [threading.Thread(target=race, args=(m,)) for m in [reviewer, other] * 4]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    winners = {email for email, status in results if status == 200}
    assert len(winners) == 1, results
    losers = [status for email, status in results if email not in winners]
    assert losers and set(losers) == {409}
    body = app.test_client().get(f"/documents/{doc_id}", headers=tenant.headers).json
    assert body["claim"]["email"] in winners


def test_claim_conflict_names_the_holder_and_release_frees_it(client, doc_id, reviewer, repo, api_config, tenant):
    other = add_member(repo, api_config, tenant.company_id, "reviewer")
    first = client.post(f"/documents/{doc_id}/claim", headers=reviewer.headers)
    assert first.status_code == 200 and first.json["email"] == reviewer.email
    again = client.post(f"/documents/{doc_id}/claim", headers=reviewer.headers)
    assert again.status_code == 200 and again.json["expires_at"] >= first.json["expires_at"]
    resp = client.post(f"/documents/{doc_id}/claim", headers=other.headers)
    assert resp.status_code == 409
    assert resp.json["claimed_by"]["email"] == reviewer.email and resp.json["expires_at"]
    assert resp.json["code"] == 409 and resp.json["status"] == "Conflict"
    assert client.delete(f"/documents/{doc_id}/claim", headers=other.headers).status_code == 409
    released = client.delete(f"/documents/{doc_id}/claim", headers=reviewer.headers)
    assert released.status_code == 200 and released.json["released"] is True
    assert client.post(f"/documents/{doc_id}/claim", headers=other.headers).status_code == 200
    # An admin may take a claim back from anyone.
    assert client.delete(f"/documents/{doc_id}/claim", headers=tenant.headers).json["released"] is True


def test_a_claim_expires_after_its_ttl(make_app, api_config, client, tenant, api_database_url, repo):
    app = make_app(api_config.with_overrides(review_claim_ttl_s=1))
    c = app.test_client()
    doc_id = manual_review_document(client, tenant, api_database_url)
    a = add_member(repo, api_config, tenant.company_id, "reviewer")
    b = add_member(repo, api_config, tenant.company_id, "reviewer")
    assert c.post(f"/documents/{doc_id}/claim", headers=a.headers).status_code == 200
    assert c.post(f"/documents/{doc_id}/claim", headers=b.headers).status_code == 409
    wait_for(lambda: c.get(f"/documents/{doc_id}", headers=b.headers).json["claim"] is None, 10,
             "the claim's expiry", interval=0.1)
    assert c.post(f"/documents/{doc_id}/claim", headers=b.headers).status_code == 200


def test_only_documents_that_need_a_person_can_be_claimed(client, tenant, reviewer):
    resp = upload(client, tenant, make_pdf())  # still preprocessing
    doc = resp.json["document"]["id"]
    claim = client.post(f"/documents/{doc}/claim", headers=reviewer.headers)
    assert claim.status_code == 409 and "preprocessing" in claim.json["message"]


# -- corrections -------------------------------------------------------------------------------


def test_stale_edit_is_refused_with_412(client, doc_id, reviewer):
    etag = _etag(client, reviewer, doc_id)
    ok = client.patch(f"/documents/{doc_id}/fields", json={"fields": {"total": "1.190,00"}},
                      headers={**reviewer.headers, "If-Match": etag})
    assert ok.status_code == 200, ok.json
    assert ok.headers["ETag"] != etag and ok.json["version"] > int(etag.strip('"'))
    stale = client.patch(f"/documents/{doc_id}/fields", json={"fields": {"invoice_number": "INV-1"}},
                         headers={**reviewer.headers, "If-Match": etag})
    assert stale.status_code == 412
    assert stale.json["version"] == ok.json["version"] and stale.headers["ETag"] == ok.headers["ETag"]
    missing = client.patch(f"/documents/{doc_id}/fields", json={"fields": {"invoice_number": "INV-1"}},
                           headers=reviewer.headers)
    assert missing.status_code == 428
    weak = client.patch(f"/documents/{doc_id}/fields", json={"fields": {"invoice_number": "INV-1"}},
                        headers={**reviewer.headers, "If-Match": f'W/{ok.headers["ETag"]}'})
    assert weak.status_code == 200 and weak.json["invoice_number"] == "INV-1"
    # RFC 9110 13.1.1: `*` matches any current representation; anything else not an ETag is 400.
    star = client.patch(f"/documents/{doc_id}/fields", json={"fields": {"invoice_number": "INV-2"}},
                        headers={**reviewer.headers, "If-Match": "*"})
    assert star.status_code == 200 and star.json["invoice_number"] == "INV-2"
    bad = client.patch(f"/documents/{doc_id}/fields", json={"fields": {"invoice_number": "INV-3"}},
                       headers={**reviewer.headers, "If-Match": "yesterday"})
    assert bad.status_code == 400 and "If-Match" in bad.json["message"]


def test_the_documented_if_match_values_are_the_accepted_ones(client):
    """The OpenAPI document gives If-Match a pattern (an ETag of ours or `*`) and documents the 400."""
    paths = client.get("/openapi.json").json["paths"]
    for path, method in (("/documents/{document_id}/fields", "patch"), ("/documents/{document_id}/approve", "post"),
                         ("/documents/{document_id}/reject", "post")):
        op = paths[path][method]
        (param,) = [p for p in op["parameters"] if p["in"] == "header" and p["name"] == "If-Match"]
        pattern = re.compile(param["schema"]["pattern"])
        assert all(pattern.match(v) for v in ('"7"', 'W/"7"', "7", "*")), path
        assert not pattern.match("yesterday") and "400" in op["responses"], path


def test_corrections_are_validated_like_extracted_values(client, doc_id, reviewer):
    etag = _etag(client, reviewer, doc_id)
    resp = client.patch(f"/documents/{doc_id}/fields", headers={**reviewer.headers, "If-Match": etag}, json={
        "fields": {"iban": "DE89 3704 0044 0532 0130 01", "invoice_date": "03/04/2024", "vendor_tax_id": "DE123456789",
                   "total": "twelve", "currency": "XYZ"}})
    assert resp.status_code == 422
    errors = resp.json["errors"]["json"]["fields"]
    assert set(errors) == {"iban", "invoice_date", "vendor_tax_id", "total", "currency"}
    assert "checksum" in errors["iban"][0].lower() and "YYYY-MM-DD" in errors["invoice_date"][0]
    unknown = client.patch(f"/documents/{doc_id}/fields", json={"fields": {"colour": "red"}},
                           headers={**reviewer.headers, "If-Match": etag})
    assert unknown.status_code == 422
    bad_item = client.patch(f"/documents/{doc_id}/fields", json={"line_items": [{"amount": "x"}]},
                            headers={**reviewer.headers, "If-Match": etag})
    assert bad_item.status_code == 422 and "line item 1" in bad_item.json["errors"]["json"]["line_items"][0]
    # Nothing was written by the refused edits.
    assert _etag(client, reviewer, doc_id) == etag


def test_a_correction_is_normalized_locked_and_audited(client, doc_id, reviewer):
    etag = _etag(client, reviewer, doc_id)
    resp = client.patch(f"/documents/{doc_id}/fields", headers={**reviewer.headers, "If-Match": etag}, json={
        "fields": {"total": "1.190,00", "due_date": "2025-01-20", "iban": "de89 3704 0044 0532 0130 00",
                   "customer_name": None},
        "line_items": [{"description": "Consulting", "quantity": "10", "unit_price": "100", "tax_rate": "19%"}]})
    assert resp.status_code == 200, resp.json
    body = resp.json
    assert body["total"] == 1190.0 and body["due_date"] == "2025-01-20"
    assert body["fields"]["iban"]["value"] == "DE89370400440532013000"
    for name in ("total", "due_date", "iban", "customer_name"):
        f = body["fields"][name]
        assert f["locked"] is True and f["confidence"] == 1.0 and f["valid"] is True
        assert f["corrected_by"] == str(reviewer.user_id) and f["corrected_at"]
    assert body["fields"]["vendor_name"]["locked"] is False
    assert body["line_items_locked"] is True
    assert body["line_items"] == [{"position": 1, "description": "Consulting", "quantity": 10.0, "unit_price": 100.0,
                                   "amount": 1000.0, "tax_rate": 19.0, "confidence": 1.0, "page": None, "bbox": None}]
    audit = client.get(f"/documents/{doc_id}/audit", headers=reviewer.headers).json["entries"]
    corrections = {e["field"]: e for e in audit if e["action"] == "correction"}
    assert set(corrections) == {"total", "due_date", "iban", "customer_name", "line_items"}
    assert corrections["due_date"]["before"] is None and corrections["due_date"]["after"] == "2025-01-20"
    assert corrections["line_items"]["before"][0]["description"] == "Consulting"
    assert corrections["total"]["actor"] == {"user_id": str(reviewer.user_id), "email": reviewer.email,
                                             "role": "reviewer"}


def test_locks_are_kept_when_the_document_is_processed_again(client, doc_id, reviewer, api_database_url):
    etag = _etag(client, reviewer, doc_id)
    resp = client.patch(f"/documents/{doc_id}/fields", headers={**reviewer.headers, "If-Match": etag}, json={
        "fields": {"invoice_number": "INV-1001-A", "vendor_name": "Acme Widgets GmbH & Co. KG"},
        "line_items": [{"description": "Consulting", "quantity": 10, "unit_price": 100, "amount": 1000}]})
    assert resp.status_code == 200, resp.json
    redrive(api_database_url, doc_id, "extraction")
    body = client.get(f"/documents/{doc_id}", headers=reviewer.headers).json
    assert body["invoice_number"] == "INV-1001-A"
    assert body["vendor_name"] == "Acme Widgets GmbH & Co. KG"
    assert body["fields"]["invoice_number"]["locked"] and body["fields"]["invoice_number"]["corrected_by"]
    assert [i["description"] for i in body["line_items"]] == ["Consulting"] and body["line_items_locked"]
    # Unlocked fields were read again; evaluation honoured the person's values (no low-confidence number).
    assert body["fields"]["total"]["locked"] is False and body["total"] == 1190.0
    assert body["evaluation"]["checks"]["person_confirmed"]["locked"] == ["invoice_number", "vendor_name"]
    assert "invoice_number" not in body["evaluation"]["checks"]["field_confidence"]["low"]
    # With the low-confidence number corrected, the re-run approves the document by itself.
    assert body["status"] == "approved"


def test_a_reviewer_corrects_the_document_type_and_reprocessing_keeps_it(client, doc_id, reviewer,
                                                                         api_database_url):
    etag = _etag(client, reviewer, doc_id)
    bad = client.patch(f"/documents/{doc_id}/fields", headers={**reviewer.headers, "If-Match": etag},
                       json={"fields": {"document_type": "bill"}})
    assert bad.status_code == 422 and "document_type is one of" in bad.json["errors"]["json"]["fields"]["document_type"][0]
    resp = client.patch(f"/documents/{doc_id}/fields", headers={**reviewer.headers, "If-Match": etag},
                        json={"fields": {"document_type": "credit_note"}})
    assert resp.status_code == 200, resp.json
    f = resp.json["fields"]["document_type"]
    assert f["value"] == "credit_note" and f["locked"] is True and f["corrected_by"] == str(reviewer.user_id)
    redrive(api_database_url, doc_id, "extraction")
    body = client.get(f"/documents/{doc_id}", headers=reviewer.headers).json
    assert body["fields"]["document_type"]["value"] == "credit_note" and body["fields"]["document_type"]["locked"]
    assert body["total"] == -1190.0  # a credit note's amounts are credits


def test_correcting_needs_the_claim_when_someone_holds_it(client, doc_id, reviewer, repo, api_config, tenant):
    other = add_member(repo, api_config, tenant.company_id, "reviewer")
    assert client.post(f"/documents/{doc_id}/claim", headers=other.headers).status_code == 200
    etag = _etag(client, reviewer, doc_id)
    resp = client.patch(f"/documents/{doc_id}/fields", json={"fields": {"total": 1}},
                        headers={**reviewer.headers, "If-Match": etag})
    assert resp.status_code == 409 and resp.json["claimed_by"]["email"] == other.email
    assert client.post(f"/documents/{doc_id}/approve", json={}, headers=reviewer.headers).status_code == 409


# -- decisions ---------------------------------------------------------------------------------


def test_approve_by_a_person(client, doc_id, reviewer):
    assert client.post(f"/documents/{doc_id}/claim", headers=reviewer.headers).status_code == 200
    resp = client.post(f"/documents/{doc_id}/approve", json={"comment": "checked against the PO"},
                       headers={**reviewer.headers, "If-Match": _etag(client, reviewer, doc_id)})
    assert resp.status_code == 200, resp.json
    body = resp.json
    assert body["status"] == "approved" and body["completed_at"]
    assert body["decision"]["decision"] == "approved" and body["decision"]["by"]["email"] == reviewer.email
    assert body["decision"]["reason"] == "checked against the PO" and body["claim"] is None
    assert body["history"][-1]["stage"] == "review" and body["history"][-1]["to_status"] == "approved"
    actions = [e["action"] for e in client.get(f"/documents/{doc_id}/audit", headers=reviewer.headers).json["entries"]]
    assert actions == ["claim", "approve"]
    again = client.post(f"/documents/{doc_id}/approve", json={}, headers=reviewer.headers)
    assert again.status_code == 409


def test_reject_needs_a_reason_and_is_terminal(client, doc_id, reviewer):
    assert client.post(f"/documents/{doc_id}/reject", json={}, headers=reviewer.headers).status_code == 422
    resp = client.post(f"/documents/{doc_id}/reject", json={"reason": "Not our invoice"}, headers=reviewer.headers)
    assert resp.status_code == 200, resp.json
    assert resp.json["status"] == "rejected" and resp.json["status_name"] == "Rejected"
    assert resp.json["decision"] == {"decision": "rejected", "by": {"user_id": str(reviewer.user_id),
                                                                    "email": reviewer.email},
                                     "at": resp.json["decision"]["at"], "reason": "Not our invoice"}
    status = client.get(f"/documents/{doc_id}/status", headers=reviewer.headers).json
    assert status["progress"]["percentage"] == 100
    assert client.post(f"/documents/{doc_id}/approve", json={}, headers=reviewer.headers).status_code == 409
    assert client.post(f"/documents/{doc_id}/claim", headers=reviewer.headers).status_code == 409
    entry = client.get(f"/documents/{doc_id}/audit", headers=reviewer.headers).json["entries"][-1]
    assert entry["action"] == "reject" and entry["before"] == "manual_review" and entry["after"] == "rejected"
    assert entry["detail"]["reason"] == "Not our invoice"


def test_stale_decision_is_refused(client, doc_id, reviewer):
    etag = _etag(client, reviewer, doc_id)
    client.patch(f"/documents/{doc_id}/fields", json={"fields": {"total": 1190}},
                 headers={**reviewer.headers, "If-Match": etag})
    resp = client.post(f"/documents/{doc_id}/approve", json={}, headers={**reviewer.headers, "If-Match": etag})
    assert resp.status_code == 412


# -- audit log ---------------------------------------------------------------------------------


def test_the_audit_table_refuses_update_delete_and_truncate(client, doc_id, reviewer, api_database_url):
    client.post(f"/documents/{doc_id}/claim", headers=reviewer.headers)
    for statement in ("UPDATE audit_log SET action = 'nothing' WHERE document_id = %s",
                      "DELETE FROM audit_log WHERE document_id = %s",
                      "TRUNCATE audit_log"):
        with pytest.raises(DatabaseError, match="append-only"):
            with transaction(api_database_url) as cur:
                cur.execute(statement, (doc_id,) if "%s" in statement else None)
    with transaction(api_database_url) as cur:
        cur.execute("SELECT action FROM audit_log WHERE document_id = %s", (doc_id,))
        assert [r["action"] for r in cur.fetchall()] == ["claim"]
        # The privileges say so too: nobody but the owner was ever granted changes.
        cur.execute("SELECT has_table_privilege('public', 'audit_log', 'UPDATE') AS u, "
                    "has_table_privilege('public', 'audit_log', 'DELETE') AS d")
        assert cur.fetchone() == {"u": False, "d": False}


def test_a_retry_is_audited(client, tenant, api_config, repo):
    from test_api_documents import _fail  # the pipeline's failure path

    doc = upload(client, tenant, make_pdf()).json["document"]["id"]
    _fail(api_config, doc)
    assert client.post(f"/documents/{doc}/retry", headers=tenant.headers).status_code == 202
    entries = client.get(f"/documents/{doc}/audit", headers=tenant.headers).json["entries"]
    assert [(e["action"], e["before"], e["after"]) for e in entries] == [("retry", "ocr_error", "ocr_extracting")]


# -- roles -------------------------------------------------------------------------------------


def test_roles(client, doc_id, tenant, repo, api_config):
    uploader = add_member(repo, api_config, tenant.company_id, "uploader")
    reviewer = add_member(repo, api_config, tenant.company_id, "reviewer")
    me = client.get("/auth/me", headers=uploader.headers).json
    assert me["role"] == "uploader" and "decide" not in me["permissions"] and me["token_scopes"] is None
    # An uploader uploads and reads, never reviews or decides.
    assert upload(client, uploader, make_pdf()).status_code == 201
    assert client.get(f"/documents/{doc_id}", headers=uploader.headers).status_code == 200
    for method, path, body in (("get", "/review", None), ("post", f"/documents/{doc_id}/claim", None),
                               ("post", f"/documents/{doc_id}/approve", {}),
                               ("post", f"/documents/{doc_id}/reject", {"reason": "x"}), ("get", "/stats", None)):
        resp = getattr(client, method)(path, json=body, headers=uploader.headers)
        assert resp.status_code == 403, (path, resp.json)
        assert "permission" in resp.json["message"] and resp.json["code"] == 403
    # A reviewer reviews and decides, but does not manage users.
    assert client.get("/review", headers=reviewer.headers).status_code == 200
    assert client.get("/users", headers=reviewer.headers).status_code == 403
    assert client.post("/users", json={"email": "x@example.test", "password": "long enough", "role": "admin"},
                       headers=reviewer.headers).status_code == 403
    assert client.patch(f"/users/{reviewer.user_id}", json={"role": "admin"}, headers=reviewer.headers).status_code == 403
    # The company's first user (an existing user migrates to admin) manages them.
    created = client.post("/users", json={"email": f"new-{uuid.uuid4().hex[:6]}@example.test",
                                          "password": "long enough", "role": "reviewer"}, headers=tenant.headers)
    assert created.status_code == 201 and created.json["role"] == "reviewer"
    promoted = client.patch(f"/users/{uploader.user_id}", json={"role": "reviewer"}, headers=tenant.headers)
    assert promoted.status_code == 200 and promoted.json["role"] == "reviewer"
    assert client.get("/review", headers=uploader.headers).status_code == 200  # the same token, the new role
    last = client.patch(f"/users/{tenant.user_id}", json={"role": "uploader"}, headers=tenant.headers)
    assert last.status_code == 409
    # `is_active` is a JSON boolean: 0/1/"yes" are 422, as the document's `type: boolean` says.
    for not_a_boolean in (0, 1, "yes", "true", None):
        resp = client.patch(f"/users/{uploader.user_id}", json={"is_active": not_a_boolean}, headers=tenant.headers)
        assert resp.status_code == 422 and "is_active" in resp.json["errors"]["json"], not_a_boolean
    off = client.patch(f"/users/{uploader.user_id}", json={"is_active": False}, headers=tenant.headers)
    assert off.status_code == 200 and off.json["is_active"] is False


def test_scoped_machine_token(client, doc_id, tenant, repo, api_config):
    scanner = add_member(repo, api_config, tenant.company_id, "admin", scopes=["documents:write"])
    assert upload(client, scanner, make_pdf()).status_code == 201
    assert client.get("/documents", headers=scanner.headers).status_code == 403
    assert client.post(f"/documents/{doc_id}/approve", json={}, headers=scanner.headers).status_code == 403
    me = client.get("/auth/me", headers=scanner.headers).json
    assert me["permissions"] == ["documents:write"] and me["token_scopes"] == ["documents:write"]


# -- queue -------------------------------------------------------------------------------------


def test_review_queue_priority_filters_and_pages(client, tenant, reviewer, api_database_url, api_config):
    urgent = manual_review_document(client, tenant, api_database_url, total="1.190,00")
    big = manual_review_document(client, tenant, api_database_url, net="10.000,00", tax="1.900,00",
                                 total="11.900,00")
    # A due date tomorrow makes a document the most urgent.
    from datetime import date, timedelta

    etag = _etag(client, reviewer, urgent)
    client.patch(f"/documents/{urgent}/fields", json={"fields": {"due_date": (date.today() + timedelta(days=1)).isoformat()}},
                 headers={**reviewer.headers, "If-Match": etag})
    failed = upload(client, tenant, make_pdf()).json["document"]["id"]
    from test_api_documents import _fail

    _fail(api_config, failed)
    queue = client.get("/review", headers=reviewer.headers).json
    ids = [i["id"] for i in queue["items"]]
    assert set(ids) == {urgent, big, failed} and queue["total"] == 3
    assert ids.index(urgent) == 0 and ids.index(big) < ids.index(failed)
    first = queue["items"][0]
    assert first["reasons"] and first["vendor_name"] == "Acme Widgets GmbH" and first["claim"] is None
    pages, cursor = [], None
    while True:
        page = client.get("/review", query_string={"limit": 1, **({"cursor": cursor} if cursor else {})},
                          headers=reviewer.headers).json
        pages += [i["id"] for i in page["items"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert pages == ids
    client.post(f"/documents/{big}/claim", headers=reviewer.headers)
    mine = client.get("/review", query_string={"claimed": "me"}, headers=reviewer.headers).json
    assert [i["id"] for i in mine["items"]] == [big] and mine["items"][0]["claim"]["email"] == reviewer.email
    errors = client.get("/review", query_string={"status": "ocr_error"}, headers=reviewer.headers).json
    assert [i["id"] for i in errors["items"]] == [failed]
    assert client.get("/review", query_string={"cursor": "nonsense"}, headers=reviewer.headers).status_code == 422
    assert client.get("/review", query_string={"status": "approved"}, headers=reviewer.headers).status_code == 422
    assert client.get("/review", query_string={"vendor": "nobody"}, headers=reviewer.headers).json["total"] == 0


# -- duplicates and vendor memory --------------------------------------------------------------


def test_a_rescan_is_flagged_as_a_possible_duplicate_and_never_auto_approved(client, tenant, reviewer,
                                                                              api_database_url):
    page = invoice_page(number="INV-77")
    first = processed_document(client, tenant, api_database_url, page, prediction_from(page))
    assert client.get(f"/documents/{first}", headers=tenant.headers).json["status"] == "approved"
    # Same vendor, number, date and total, other bytes (a re-scan): flagged, sent to review.
    second = processed_document(client, tenant, api_database_url, page, prediction_from(page))
    body = client.get(f"/documents/{second}", headers=tenant.headers).json
    assert body["status"] == "manual_review" and body["duplicate_of"] == first
    assert body["evaluation"]["checks"]["possible_duplicate"] == {"passed": False, "duplicate_of": first}
    assert any("duplicate" in r for r in body["evaluation"]["reasons"])
    blocked = client.post(f"/documents/{second}/approve", json={}, headers=reviewer.headers)
    assert blocked.status_code == 409 and blocked.json["blocking"] == ["possible_duplicate"]
    ok = client.post(f"/documents/{second}/approve", json={"acknowledge": ["possible_duplicate"]},
                     headers=reviewer.headers)
    assert ok.status_code == 200 and ok.json["status"] == "approved"
    # Byte-identical uploads keep their 409.
    data = make_pdf()
    assert upload(client, tenant, data).status_code == 201
    assert upload(client, tenant, data).status_code == 409


def test_vendor_memory_learns_on_approval_and_a_changed_iban_blocks_approval(client, tenant, reviewer, make_tenant,
                                                                             api_database_url):
    doc = manual_review_document(client, tenant, api_database_url, number="INV-1")
    assert client.post(f"/documents/{doc}/approve", json={}, headers=reviewer.headers).status_code == 200
    vendors = client.get("/vendors", headers=reviewer.headers).json["vendors"]
    assert len(vendors) == 1 and vendors[0]["vat_id"] == "DE136695976" and vendors[0]["confirmations"] == 1
    vendor = client.get(f"/vendors/{vendors[0]['id']}", headers=reviewer.headers).json
    assert {"invoice_number", "invoice_date", "total", "iban"} <= set(vendor["layout"])
    assert vendor["layout"]["total"]["label"] == "gesamtbetrag"
    # The next invoice from this vendor, with the confirmed IBAN: evidence for approval.
    page = invoice_page(number="INV-2")
    nxt = processed_document(client, tenant, api_database_url, page, prediction_from(page))
    body = client.get(f"/documents/{nxt}", headers=reviewer.headers).json
    check = body["evaluation"]["checks"]["vendor_memory"]
    assert check["known"] and check["matched_by"] == "vat_id" and not check["iban_changed"]
    assert any("confirmed 1 time" in e for e in check["evidence"])
    assert body["vendor"]["id"] == vendors[0]["id"]
    # Another IBAN for the same VAT id: a fraud signal that blocks approval.
    page = invoice_page(number="INV-3", iban="GB82 WEST 1234 5698 7654 32")
    fraud = processed_document(client, tenant, api_database_url, page, prediction_from(page))
    body = client.get(f"/documents/{fraud}", headers=reviewer.headers).json
    assert body["status"] == "manual_review" and body["vendor"]["iban_changed"] is True
    assert any("IBAN differs" in r for r in body["evaluation"]["reasons"])
    blocked = client.post(f"/documents/{fraud}/approve", json={}, headers=reviewer.headers)
    assert blocked.status_code == 409 and blocked.json["blocking"] == ["iban_changed"]
    assert client.get("/review", headers=reviewer.headers).json["items"][0]["iban_changed"] is True
    # Strictly per company: another company's identical invoice knows nothing of this vendor.
    stranger = make_tenant()
    page = invoice_page(number="INV-3", iban="GB82 WEST 1234 5698 7654 32")
    theirs = processed_document(client, stranger, api_database_url, page, prediction_from(page))
    body = client.get(f"/documents/{theirs}", headers=stranger.headers).json
    assert body["vendor"] is None and body["evaluation"]["checks"]["vendor_memory"]["known"] is False
    assert body["duplicate_of"] is None
    assert client.get("/vendors", headers=stranger.headers).json["vendors"] == []


# -- stats -------------------------------------------------------------------------------------


def test_stats_for_a_period(client, tenant, reviewer, api_database_url):
    auto_page = invoice_page(number="INV-S1")
    processed_document(client, tenant, api_database_url, auto_page, prediction_from(auto_page))
    doc = manual_review_document(client, tenant, api_database_url, number="INV-S2")
    client.post(f"/documents/{doc}/claim", headers=reviewer.headers)
    client.patch(f"/documents/{doc}/fields", json={"fields": {"invoice_number": "INV-S2"}},
                 headers={**reviewer.headers, "If-Match": _etag(client, reviewer, doc)})
    client.post(f"/documents/{doc}/approve", json={}, headers=reviewer.headers)
    # Another vendor (this one's memory would now vouch for its invoice number).
    manual_review_document(client, tenant, api_database_url, number="INV-S3", vendor="Other Supplies AG",
                           vat="DE100000008")
    stats = client.get("/stats", headers=reviewer.headers).json
    assert stats["documents"] == 3 and stats["by_status"] == {"approved": 2, "manual_review": 1}
    assert stats["straight_through_rate"] == pytest.approx(1 / 3, abs=1e-3)
    assert set(stats["stages"]) == {"preprocessing", "extraction", "evaluation"}
    assert stats["stages"]["evaluation"]["count"] == 3 and stats["stages"]["evaluation"]["p95_s"] >= 0
    assert stats["review"]["backlog"] == 1 and stats["review"]["approved_by_person"] == 1
    assert stats["review"]["oldest_age_s"] >= 0
    (me,) = stats["reviewers"]
    assert (me["email"], me["decisions"], me["approved"], me["corrections"]) == (reviewer.email, 1, 1, 1)
    assert me["median_decision_s"] >= 0
    empty = client.get("/stats", query_string={"from": "2020-01-01", "to": "2020-02-01"}, headers=reviewer.headers)
    assert empty.status_code == 200 and empty.json["documents"] == 0 and empty.json["straight_through_rate"] is None
    assert client.get("/stats", query_string={"from": "2021-01-01", "to": "2020-01-01"},
                      headers=reviewer.headers).status_code == 422


# -- tenancy: property test ----------------------------------------------------------------------

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

ENDPOINTS = [
    ("post", "/documents/{doc}/claim", None),
    ("delete", "/documents/{doc}/claim", None),
    ("patch", "/documents/{doc}/fields", {"fields": {"total": 1}}),
    ("post", "/documents/{doc}/approve", {"acknowledge": ["iban_changed", "possible_duplicate"]}),
    ("post", "/documents/{doc}/reject", {"reason": "not ours"}),
    ("get", "/documents/{doc}/audit", None),
    ("get", "/documents/{doc}", None),
    ("get", "/vendors/{vendor}", None),
    ("patch", "/users/{user}", {"role": "uploader"}),
]


@pytest.fixture
def tenants(client, make_tenant, api_database_url):
    """Three companies, each with a document in review, a vendor it confirmed and a second admin."""
    out = []
    for _ in range(3):
        t = make_tenant()
        doc = manual_review_document(client, t, api_database_url)
        confirmed = manual_review_document(client, t, api_database_url, number="INV-V")
        assert client.post(f"/documents/{confirmed}/approve", json={"acknowledge": ["possible_duplicate"]},
                           headers=t.headers).status_code == 200
        vendor = client.get("/vendors", headers=t.headers).json["vendors"][0]["id"]
        user = client.post("/users", json={"email": f"u-{uuid.uuid4().hex[:8]}@example.test",
                                           "password": "long enough", "role": "admin"}, headers=t.headers).json["id"]
        out.append({"tenant": t, "doc": doc, "vendor": vendor, "user": user})
    return out


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(endpoint=st.sampled_from(ENDPOINTS), owner=st.integers(0, 2), shift=st.integers(1, 2),
       etag_from_owner=st.booleans())
def test_every_review_endpoint_answers_404_across_companies(client, tenants, endpoint, owner, shift,
                                                            etag_from_owner):
    method, template, body = endpoint
    own, intruder = tenants[owner], tenants[(owner + shift) % 3]
    path = template.format(**{k: own[k] for k in ("doc", "vendor", "user")})
    before = client.get(f"/documents/{own['doc']}", headers=own["tenant"].headers)
    headers = {**intruder["tenant"].headers, "If-Match": before.headers["ETag"] if etag_from_owner else '"1"'}
    resp = getattr(client, method)(path, json=body, headers=headers)
    assert resp.status_code == 404, (method, path, resp.json)
    assert resp.json["code"] == 404 and "not found" in resp.json["message"].lower()
    # The same answer as for an id that does not exist at all: nothing tells them apart.
    unknown = getattr(client, method)(template.format(doc=uuid.uuid4(), vendor=uuid.uuid4(), user=uuid.uuid4()),
                                      json=body, headers=headers)
    assert (unknown.status_code, unknown.json["message"]) == (404, resp.json["message"])
    after = client.get(f"/documents/{own['doc']}", headers=own["tenant"].headers)
    assert after.headers["ETag"] == before.headers["ETag"] and after.json["claim"] == before.json["claim"]
    # Lists never show another company's rows.
    queue = client.get("/review", headers=intruder["tenant"].headers).json["items"]
    assert own["doc"] not in {i["id"] for i in queue}
    vendors = {v["id"] for v in client.get("/vendors", headers=intruder["tenant"].headers).json["vendors"]}
    assert own["vendor"] not in vendors


def test_admin_cli_creates_users_with_roles_and_scoped_tokens(client, api_config, monkeypatch, capsys):
    from invoice.scanner.api import cli

    monkeypatch.setenv("DATABASE_URL", api_config.database_url)
    monkeypatch.setenv("REDIS_URL", api_config.redis_url)
    tag = uuid.uuid4().hex[:8]
    email = f"cli-reviewer-{tag}@example.test"
    assert cli.main(["create-user", "--company", f"CLI Roles {tag}", "--email", email, "--password", "s3cret",
                     "--role", "reviewer"]) == 0
    assert "role=reviewer" in capsys.readouterr().out
    assert cli.main(["create-token", "--email", email]) == 0
    token = capsys.readouterr().out.strip()
    me = client.get("/auth/me", headers={"Authorization": f"Bearer {token}"}).json
    assert me["role"] == "reviewer" and "decide" in me["permissions"] and "users" not in me["permissions"]
    assert cli.main(["create-token", "--email", email, "--scope", "documents:read", "--name", "dashboard"]) == 0
    scoped = capsys.readouterr().out.strip()
    headers = {"Authorization": f"Bearer {scoped}"}
    assert client.get("/documents", headers=headers).status_code == 200
    assert client.get("/review", headers=headers).status_code == 403
    with pytest.raises(SystemExit):  # argparse refuses an unknown role or scope
        cli.main(["create-token", "--email", email, "--scope", "everything"])
