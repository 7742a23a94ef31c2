"""Webhook delivery on real services: PostgreSQL, Redis, a Celery worker consuming the
`webhooks` queue, beat sending the relay, and a real HTTP receiver on a local port, including
one that is down for a while and then comes back.

The events are written the way production writes them: by changing `documents.status`.
"""
from __future__ import annotations

import json
import signal
import socket
import sys
import time
import uuid

import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from invoice.scanner.processing.db.connection import transaction
from invoice.scanner.processing.devstack import Proc, free_port, wait_for
from invoice.scanner.processing.webhooks import signing
from invoice.scanner.processing.webhooks.repository import WebhookRepository

pytestmark = pytest.mark.timeout(180)

# Retries 0.5, 1, 1.5, 1.5, 1.5 s apart: the give-up test waits out all six attempts (~6 s; at
# 1 s / 2 s it was ~9 s), and a receiver started after the second failed attempt still has
# ~4 s (two attempts) before the fifth, so the 503 and the 200 fit in the six.
FAST = {
    "WEBHOOK_RETRY_BACKOFF_S": "0.5", "WEBHOOK_RETRY_BACKOFF_MAX_S": "1.5", "WEBHOOK_RELAY_INTERVAL_S": "0.5",
    "WEBHOOK_MAX_ATTEMPTS": "6", "WEBHOOK_TIMEOUT_S": "3", "WEBHOOK_ALLOW_PRIVATE_TARGETS": "true",
}


class Receiver:
    """A real HTTP server on a fixed port: it can be stopped and started again on it."""

    def __init__(self, port: int, fail_first: int = 0):
        self.port = port
        self.fail_first = fail_first
        self.requests: list[dict] = []
        self.server: HTTPServer | None = None

    def handle(self, request: Request) -> Response:
        self.requests.append({"headers": dict(request.headers), "body": request.get_data()})
        if len(self.requests) <= self.fail_first:
            return Response("busy", status=503)
        return Response("ok", status=200)

    def start(self) -> "Receiver":
        self.server = HTTPServer(host="127.0.0.1", port=self.port)
        self.server.expect_request("/hook", method="POST").respond_with_handler(self.handle)
        self.server.start()
        return self

    def stop(self) -> None:
        if self.server is not None and self.server.is_running():
            self.server.clear()
            self.server.stop()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"


@pytest.fixture(scope="module")
def webhook_env(fresh_database, drop_database, redis_db_url, tmp_path_factory):
    database_url = fresh_database("invoice_scanner_test_webhooks")
    redis_url = redis_db_url(11)
    import os

    env = {**os.environ, "DATABASE_URL": database_url, "REDIS_URL": redis_url, **FAST}
    logs = tmp_path_factory.mktemp("webhook-logs")
    worker = Proc("worker-webhooks", [sys.executable, "-m", "invoice.scanner.processing.worker", "--queue", "webhooks",
                                      "--concurrency", "2"], logs / "worker.log", env)
    beat = Proc("beat", [sys.executable, "-m", "celery", "-A", "invoice.scanner.processing.celery_app", "beat",
                         "--loglevel", "INFO", "-s", str(logs / "celerybeat-schedule")], logs / "beat.log", env)
    worker.start()
    beat.start()
    from celery import Celery

    client = Celery(broker=redis_url)
    expected = f"webhooks@{socket.gethostname()}"
    try:
        # By name: the ping returns as soon as the worker answers, not after its whole timeout.
        wait_for(lambda: any(expected in r for r in (client.control.ping(destination=[expected], timeout=1.0) or [])),
                 90, "the webhooks worker", interval=0.2)
    except Exception:
        worker.stop()
        beat.stop()
        raise RuntimeError((logs / "worker.log").read_text(errors="replace")[-3000:]) from None
    yield database_url, logs
    for proc in (beat, worker):  # both told at once: their warm shutdowns overlap
        proc.signal(signal.SIGTERM)
    beat.stop()
    worker.stop()
    drop_database(database_url)


def _company(database_url: str) -> uuid.UUID:
    company_id = uuid.uuid4()
    with transaction(database_url) as cur:
        cur.execute("INSERT INTO companies (id, name) VALUES (%s, %s)", (company_id, f"hooks-{company_id}"))
    return company_id


def _document(database_url: str, company_id: uuid.UUID, fields: dict) -> uuid.UUID:
    doc_id = uuid.uuid4()
    with transaction(database_url) as cur:
        cur.execute(
            """INSERT INTO documents (id, company_id, original_filename, stored_path, sha256, content_type,
                                      size_bytes, status)
               VALUES (%s, %s, 'a.pdf', '/x/a.pdf', %s, 'application/pdf', 10, 'automated_evaluation')""",
            (doc_id, company_id, uuid.uuid4().hex),
        )
        for name, value in fields.items():
            cur.execute("INSERT INTO extracted_fields (document_id, name, value) VALUES (%s, %s, %s)",
                        (doc_id, name, json.dumps(value)))
    return doc_id


def _set_status(database_url: str, doc_id: uuid.UUID, status: str) -> None:
    with transaction(database_url) as cur:
        cur.execute("UPDATE documents SET status = %s, completed_at = now() WHERE id = %s", (status, doc_id))


def _deliveries(repo: WebhookRepository, company_id, sub_id):
    return repo.list_deliveries(company_id, sub_id)


def test_terminal_status_is_delivered_signed_and_verifiable(webhook_env):
    database_url, logs = webhook_env
    repo = WebhookRepository(database_url)
    receiver = Receiver(free_port()).start()
    try:
        company = _company(database_url)
        secret = signing.new_secret()
        sub = repo.create_subscription(company, receiver.url, ["document.approved"], secret, None, None)
        doc = _document(database_url, company, {"invoice_number": "INV-7", "total": 119.0})
        _set_status(database_url, doc, "manual_review")  # not subscribed: no delivery
        _set_status(database_url, doc, "approved")
        wait_for(lambda: len(receiver.requests) >= 1, 30, "the webhook")
        time.sleep(1.0)  # nothing more arrives
        assert len(receiver.requests) == 1
        req = receiver.requests[0]
        headers = {k.lower(): v for k, v in req["headers"].items()}
        signing.verify(secret, req["body"], headers[signing.SIGNATURE_HEADER.lower()])
        with pytest.raises(signing.SignatureError):
            signing.verify("whsec_wrong", req["body"], headers[signing.SIGNATURE_HEADER.lower()])
        event = json.loads(req["body"])
        assert event["type"] == "document.approved" == headers[signing.EVENT_HEADER.lower()]
        assert event["id"] == headers[signing.EVENT_ID_HEADER.lower()]
        assert event["data"]["document_id"] == str(doc)
        assert event["data"]["previous_status"] == "manual_review"
        assert event["data"]["source"] == "review"  # a document leaving manual_review was decided by a person
        assert event["data"]["fields"] == {"invoice_number": "INV-7", "total": 119.0}
        wait_for(lambda: _deliveries(repo, company, sub.id)[0].state == "delivered", 10, "the delivery log")
        [delivery] = _deliveries(repo, company, sub.id)
        assert delivery.attempts == 1 and delivery.last_status_code == 200
        assert [a.status_code for a in delivery.attempt_log] == [200]
        # The secret never reaches the logs.
        assert secret not in (logs / "worker.log").read_text(errors="replace")
    finally:
        receiver.stop()


def test_receiver_down_for_a_while_then_back_gets_the_event(webhook_env):
    database_url, _ = webhook_env
    repo = WebhookRepository(database_url)
    port = free_port()
    receiver = Receiver(port, fail_first=1)  # not listening yet; its first answer will be a 503
    company = _company(database_url)
    secret = signing.new_secret()
    sub = repo.create_subscription(company, receiver.url, ["*"], secret, None, None)
    doc = _document(database_url, company, {"total": 5.0})
    _set_status(database_url, doc, "ocr_error")
    try:
        wait_for(lambda: (d := _deliveries(repo, company, sub.id)) and d[0].attempts >= 2, 30,
                 "two failed attempts while the receiver is down")
        [delivery] = _deliveries(repo, company, sub.id)
        assert delivery.state == "pending" and delivery.last_status_code is None
        assert "ConnectionError" in delivery.last_error
        receiver.start()
        wait_for(lambda: _deliveries(repo, company, sub.id)[0].state == "delivered", 40, "delivery after recovery")
        [delivery] = _deliveries(repo, company, sub.id)
        codes = [a.status_code for a in delivery.attempt_log]
        assert codes[:2] == [None, None] and codes[-2:] == [503, 200], codes
        assert len(receiver.requests) == 2
        bodies = {r["body"] for r in receiver.requests}
        assert len(bodies) == 1  # the same event each time; only the signature's timestamp changes
        last = {k.lower(): v for k, v in receiver.requests[-1]["headers"].items()}
        signing.verify(secret, receiver.requests[-1]["body"], last[signing.SIGNATURE_HEADER.lower()])
        event = json.loads(receiver.requests[-1]["body"])
        assert event["type"] == "document.failed" and event["data"]["status"] == "ocr_error"
        # Started again by hand: a new delivery of the same event, the old one kept as it was.
        again = repo.redeliver(company, sub.id, delivery.id)
        assert again.redelivery_of == delivery.id and again.event_id == delivery.event_id
        wait_for(lambda: len(receiver.requests) == 3, 20, "the redelivery")
        assert json.loads(receiver.requests[-1]["body"])["id"] == event["id"]
    finally:
        receiver.stop()


def test_gives_up_after_the_last_attempt(webhook_env):
    database_url, _ = webhook_env
    repo = WebhookRepository(database_url)
    company = _company(database_url)
    sub = repo.create_subscription(company, f"http://127.0.0.1:{free_port()}/never", ["*"], signing.new_secret(),
                                   None, None)
    doc = _document(database_url, company, {})
    _set_status(database_url, doc, "manual_review")
    wait_for(lambda: _deliveries(repo, company, sub.id)[0].state == "failed", 60, "giving up")
    [delivery] = _deliveries(repo, company, sub.id)
    assert delivery.attempts == int(FAST["WEBHOOK_MAX_ATTEMPTS"])
    assert len(delivery.attempt_log) == delivery.attempts


def test_ping_reaches_the_receiver_signed(webhook_env):
    database_url, _ = webhook_env
    repo = WebhookRepository(database_url)
    receiver = Receiver(free_port()).start()
    try:
        company = _company(database_url)
        secret = signing.new_secret()
        sub = repo.create_subscription(company, receiver.url, ["document.approved"], secret, None, None)
        repo.ping(company, sub.id)
        wait_for(lambda: len(receiver.requests) == 1, 30, "the ping")
        req = receiver.requests[0]
        headers = {k.lower(): v for k, v in req["headers"].items()}
        signing.verify(secret, req["body"], headers[signing.SIGNATURE_HEADER.lower()])
        assert json.loads(req["body"])["data"] == {"webhook_id": str(sub.id)}
        assert headers[signing.EVENT_HEADER.lower()] == "webhook.ping"
    finally:
        receiver.stop()
