"""The outbox on real PostgreSQL: which status changes write events, for whom, atomically with
the change; and the lease that keeps a lost or slow worker from making two attempts at once."""
from __future__ import annotations

import uuid

import pytest

from invoice.scanner.processing.config import Settings
from invoice.scanner.processing.db.connection import transaction
from invoice.scanner.processing.webhooks import signing
from invoice.scanner.processing.webhooks.outbox import enqueue_event
from invoice.scanner.processing.webhooks.repository import WebhookRepository
from invoice.scanner.processing.webhooks.tasks import attempt_delivery


@pytest.fixture(scope="module")
def db(fresh_database, drop_database):
    url = fresh_database("invoice_scanner_test_webhook_outbox")
    yield url
    drop_database(url)


def _company(db) -> uuid.UUID:
    cid = uuid.uuid4()
    with transaction(db) as cur:
        cur.execute("INSERT INTO companies (id, name) VALUES (%s, %s)", (cid, f"c-{cid}"))
    return cid


def _user(db, company) -> uuid.UUID:
    uid = uuid.uuid4()
    with transaction(db) as cur:
        cur.execute("INSERT INTO users (id, company_id, email, password_hash) VALUES (%s, %s, %s, 'x')",
                    (uid, company, f"{uid}@example.test"))
    return uid


def _doc(db, company, status="automated_evaluation") -> uuid.UUID:
    did = uuid.uuid4()
    with transaction(db) as cur:
        cur.execute(
            """INSERT INTO documents (id, company_id, original_filename, stored_path, sha256, content_type,
                                      size_bytes, status)
               VALUES (%s, %s, 'a.pdf', '/x', %s, 'application/pdf', 1, %s)""",
            (did, company, uuid.uuid4().hex, status))
    return did


def _events(db, company) -> list[dict]:
    with transaction(db) as cur:
        cur.execute("SELECT type, payload FROM webhook_events WHERE company_id = %s ORDER BY created_at", (company,))
        return cur.fetchall()


def _subscribe(repo, company, events=("*",)):
    return repo.create_subscription(company, "http://127.0.0.1:9/x", list(events), signing.new_secret(), None, None)


def test_pipeline_and_person_decisions(db):
    repo = WebhookRepository(db)
    company = _company(db)
    _subscribe(repo, company)
    reviewer = _user(db, company)
    auto, person = _doc(db, company), _doc(db, company)
    with transaction(db) as cur:
        cur.execute("UPDATE documents SET status = 'approved' WHERE id = %s", (auto,))
        cur.execute("UPDATE documents SET status = 'manual_review' WHERE id = %s", (person,))
    with transaction(db) as cur:  # what POST /documents/<id>/reject writes
        cur.execute("""UPDATE documents SET status = 'rejected', decided_by = %s, decided_at = now(),
                              decision_reason = 'not our invoice' WHERE id = %s""", (reviewer, person))
    events = {(e["payload"]["data"]["document_id"], e["type"]): e["payload"]["data"] for e in _events(db, company)}
    assert events[(str(auto), "document.approved")]["source"] == "pipeline"
    assert events[(str(auto), "document.approved")]["decided_by"] is None
    assert events[(str(person), "document.manual_review")]["source"] == "pipeline"
    rejected = events[(str(person), "document.rejected")]
    assert rejected["source"] == "review" and rejected["decided_by"] == str(reviewer)
    assert rejected["reason"] == "not our invoice" and rejected["previous_status"] == "manual_review"


def test_a_rolled_back_change_leaves_no_event(db):
    repo = WebhookRepository(db)
    company = _company(db)
    _subscribe(repo, company)
    doc = _doc(db, company)
    with pytest.raises(RuntimeError):
        with transaction(db) as cur:
            cur.execute("UPDATE documents SET status = 'approved' WHERE id = %s", (doc,))
            raise RuntimeError("the writer failed after the UPDATE")
    assert _events(db, company) == []


def test_only_subscribers_of_the_type_in_the_same_company(db):
    repo = WebhookRepository(db)
    company, other = _company(db), _company(db)
    approved_only = _subscribe(repo, company, ["document.approved"])
    everything = _subscribe(repo, company)
    gone = _subscribe(repo, company)
    repo.delete_subscription(company, gone.id)
    others = _subscribe(repo, other)
    doc = _doc(db, company)
    with transaction(db) as cur:
        cur.execute("UPDATE documents SET status = 'ocr_error', error = 'boom' WHERE id = %s", (doc,))
        cur.execute("UPDATE documents SET status = 'preprocessing' WHERE id = %s", (doc,))  # a retry: no event
    assert [d.event_type for d in repo.list_deliveries(company, everything.id)] == ["document.failed"]
    assert repo.list_deliveries(company, approved_only.id) == []
    assert repo.list_deliveries(other, others.id) == []
    with transaction(db) as cur:
        cur.execute("SELECT count(*) AS n FROM webhook_deliveries WHERE subscription_id = %s", (gone.id,))
        assert cur.fetchone()["n"] == 0


def test_no_subscription_no_rows(db):
    company = _company(db)
    doc = _doc(db, company)
    with transaction(db) as cur:
        cur.execute("UPDATE documents SET status = 'approved' WHERE id = %s", (doc,))
    assert _events(db, company) == []


def test_enqueue_event_in_the_callers_transaction(db):
    repo = WebhookRepository(db)
    company = _company(db)
    sub = _subscribe(repo, company, ["document.approved"])
    doc = _doc(db, company)
    with transaction(db) as cur:
        event_id = enqueue_event(cur, company, doc, "document.approved", {"document_id": str(doc), "note": "x"})
        assert enqueue_event(cur, company, doc, "document.rejected", {}) is None  # nobody wants it
    [delivery] = repo.list_deliveries(company, sub.id)
    assert delivery.event_id == event_id


def test_a_stale_lease_never_makes_a_second_attempt(db):
    """The relay leased a delivery to a worker that vanished; after the lease ran out it leased
    it again. The first task, arriving late, must not POST (a real receiver counts)."""
    from pytest_httpserver import HTTPServer

    from invoice.scanner.processing.devstack import wait_for

    receiver = HTTPServer(host="127.0.0.1", port=0)
    receiver.expect_request("/hook", method="POST").respond_with_data("ok")
    receiver.start()
    try:
        repo = WebhookRepository(db)
        company = _company(db)
        sub = repo.create_subscription(company, receiver.url_for("/hook"), ["*"], signing.new_secret(), None, None)
        doc = _doc(db, company)
        with transaction(db) as cur:
            cur.execute("UPDATE documents SET status = 'approved' WHERE id = %s", (doc,))
            cur.execute("UPDATE webhook_deliveries SET next_attempt_at = now() - interval '1 hour' "
                        "WHERE subscription_id = %s", (sub.id,))
        mine = {d.id for d in repo.list_deliveries(company, sub.id)}
        first = [t for d, t in repo.lease_due(lease_s=1) if d in mine]
        assert first and not [t for d, t in repo.lease_due(lease_s=1) if d in mine]  # held: not leased twice
        second: list = []
        # Leased again once the 1 s lease has run out (polled; a lease of its own each time it comes back).
        wait_for(lambda: second.extend((d, t) for d, t in repo.lease_due(lease_s=60) if d in mine) or second, 10,
                 "the lease's expiry", interval=0.1)
        assert len(second) == 1 and second[0][1] != first[0]
        settings = Settings.from_env({}).with_overrides(webhook_allow_private_targets=True)
        delivery_id = second[0][0]
        assert attempt_delivery(delivery_id, first[0], settings, repo) == "skipped"
        assert len(receiver.log) == 0
        assert attempt_delivery(delivery_id, second[0][1], settings, repo) == "delivered"
        assert len(receiver.log) == 1
        assert attempt_delivery(delivery_id, second[0][1], settings, repo) == "skipped"  # the token is spent
        assert len(receiver.log) == 1
    finally:
        receiver.clear()
        receiver.stop()
