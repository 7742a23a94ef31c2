"""The human in the loop, end to end on real workers: an invoice submitted with the
`invoice-scanner` CLI lands in manual_review, a reviewer claims it, corrects it and approves
it over HTTP, the company's webhook receives both events signed (verified here), and the
export, downloaded with the CLI, holds the corrected values.

Real everything: PostgreSQL, Redis, one Celery worker per queue (the `webhooks` one
included), beat (the webhook relay), the API under gunicorn (the default stack), and an
HTTP receiver on a local port.
"""
from __future__ import annotations

import csv
import io
import json
import os
import re
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone

import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from invoice.scanner.processing.devstack import free_port
from invoice.scanner.processing.webhooks import signing

pytestmark = pytest.mark.timeout(600)


def _incomplete_invoice() -> bytes:
    """A real PDF whose text lacks the vendor and the dates: the pipeline cannot approve it."""
    from reportlab.pdfgen import canvas

    buf = io.BytesIO()
    c = canvas.Canvas(buf)
    c.drawString(72, 760, "INVOICE")
    c.drawString(72, 740, "Invoice number: HK-2026-1001")
    c.drawString(72, 700, "Consulting services        1 x 100.00        100.00")
    c.drawString(72, 660, "Total due: 119.00 EUR")
    c.showPage()
    c.save()
    return buf.getvalue()


class Receiver:
    def __init__(self) -> None:
        self.events: list[dict] = []
        self.server = HTTPServer(host="127.0.0.1", port=free_port())
        self.server.expect_request("/erp/invoices", method="POST").respond_with_handler(self.handle)

    def handle(self, request: Request) -> Response:
        self.events.append({"headers": {k.lower(): v for k, v in request.headers.items()},
                            "body": request.get_data()})
        return Response("thanks", status=200)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.port}/erp/invoices"

    def wait_for(self, event_type: str, timeout_s: float = 60) -> dict:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            for event in self.events:
                if event["headers"].get(signing.EVENT_HEADER.lower()) == event_type:
                    return event
            time.sleep(0.2)
        raise AssertionError(f"no {event_type} webhook within {timeout_s}s; got "
                             f"{[e['headers'].get(signing.EVENT_HEADER.lower()) for e in self.events]}")


@pytest.fixture
def receiver():
    r = Receiver()
    r.server.start()
    yield r
    r.server.clear()
    r.server.stop()


def _cli(running, tmp_path, token: str, *args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    env = {**os.environ, "INVOICE_SCANNER_URL": running.base, "INVOICE_SCANNER_TOKEN": token,
           "INVOICE_SCANNER_CONFIG": str(tmp_path / "cli.json"), "COLUMNS": "200"}
    return subprocess.run([sys.executable, "-m", "invoice.scanner.api.client_cli", *args], env=env, cwd=tmp_path,
                          capture_output=True, text=True, timeout=timeout)


def test_submit_review_approve_webhook_export(stack, receiver, tmp_path):
    running = stack  # the default stack: its relay runs every 0.5 s (WEBHOOK_ENV, e2e/conftest.py)
    admin = running.user("Hooks Trading", "ap-admin@hooks.test")
    token = admin.session.headers["Authorization"].split()[1]

    hook = admin.session.post(f"{running.base}/webhooks", timeout=10, json={
        "url": receiver.url, "events": ["document.manual_review", "document.approved"], "description": "ERP"})
    assert hook.status_code == 201, hook.text
    secret = hook.json()["secret"]

    # 1. submit with the CLI: it follows the document through the real workers
    pdf = tmp_path / "hk-1001.pdf"
    pdf.write_bytes(_incomplete_invoice())
    submitted = _cli(running, tmp_path, token, "submit", str(pdf), "--timeout", "300")
    assert submitted.returncode == 0, (submitted.stdout, submitted.stderr, running.logs())
    doc_id = re.search(r"uploaded as ([0-9a-f-]{36})", submitted.stdout).group(1)
    assert "manual_review" in submitted.stdout, (submitted.stdout, running.logs())

    first = receiver.wait_for("document.manual_review")
    signing.verify(secret, first["body"], first["headers"][signing.SIGNATURE_HEADER.lower()])
    assert json.loads(first["body"])["data"]["document_id"] == doc_id

    # 2. the reviewer claims, corrects (If-Match with the ETag) and approves
    queue = _cli(running, tmp_path, token, "review", "list", "--json")
    assert doc_id in [i["id"] for i in json.loads(queue.stdout)["items"]], queue.stdout
    claim = admin.session.post(f"{running.base}/documents/{doc_id}/claim", timeout=10)
    assert claim.status_code == 200, claim.text
    etag = admin.get(f"/documents/{doc_id}").headers["ETag"]
    corrections = {"vendor_name": "Hooks & Söhne GmbH", "invoice_date": "2026-11-20", "due_date": "2026-12-20",
                   "currency": "EUR", "amount": "100.00", "vat": "19.00", "total": "119.00"}
    patched = admin.session.patch(f"{running.base}/documents/{doc_id}/fields", timeout=10,
                                  headers={"If-Match": etag}, json={"fields": corrections})
    assert patched.status_code == 200, patched.text
    approved = admin.session.post(f"{running.base}/documents/{doc_id}/approve", timeout=10,
                                  json={"comment": "checked against the PO"})
    assert approved.status_code == 200, approved.text
    assert approved.json()["status"] == "approved"

    # 3. the webhook: signed, within the replay window, a person's decision, the corrected values
    event = receiver.wait_for("document.approved")
    header = event["headers"][signing.SIGNATURE_HEADER.lower()]
    signed_at = signing.verify(secret, event["body"], header)
    assert abs(time.time() - signed_at) < signing.DEFAULT_TOLERANCE_S
    with pytest.raises(signing.SignatureError):
        signing.verify(secret, event["body"] + b" ", header)  # one byte changed
    with pytest.raises(signing.SignatureError):
        signing.verify(secret, event["body"], header, now=signed_at + signing.DEFAULT_TOLERANCE_S + 1)  # replayed
    payload = json.loads(event["body"])
    assert payload["type"] == "document.approved" and payload["id"] == event["headers"]["invoice-scanner-event-id"]
    data = payload["data"]
    assert data["document_id"] == doc_id and data["source"] == "review"
    assert data["decided_by"] == str(admin.get("/auth/me").json()["user_id"])
    assert data["fields"]["vendor_name"] == "Hooks & Söhne GmbH" and float(data["fields"]["total"]) == 119.0

    # the delivery log shows both deliveries done at the first attempt. The receiver has the event
    # before the worker records its answer (the delivery is in flight, attempt 1, until then), so
    # the log is polled until nothing in it is in flight.
    def log():
        return admin.get(f"/webhooks/{hook.json()['id']}/deliveries").json()["deliveries"]

    deadline = time.monotonic() + 30
    deliveries = log()
    while any(d["delivered_at"] is None and not d["attempt_log"] for d in deliveries) and time.monotonic() < deadline:
        time.sleep(0.2)
        deliveries = log()
    assert sorted(d["event_type"] for d in deliveries) == ["document.approved", "document.manual_review"]
    assert all(d["state"] == "delivered" and d["attempts"] == 1 for d in deliveries), deliveries

    # 4. the export (CLI, then the API directly) holds the corrected values
    today = datetime.now(timezone.utc).date()
    period = ["--from", (today - timedelta(days=1)).isoformat(), "--to", (today + timedelta(days=1)).isoformat()]
    out = tmp_path / "approved.csv"
    exported = _cli(running, tmp_path, token, "export", "--format", "csv", *period, "-o", str(out))
    assert exported.returncode == 0, (exported.stdout, exported.stderr)
    rows = [r for r in csv.DictReader(io.StringIO(out.read_text(encoding="utf-8-sig"))) if r["document_id"] == doc_id]
    assert rows and rows[0]["vendor_name"] == "Hooks & Söhne GmbH" and float(rows[0]["total"]) == 119.0
    assert rows[0]["invoice_date"] == "2026-11-20"
    jsonl = admin.session.get(f"{running.base}/exports", timeout=30, params={
        "format": "jsonl", "from": period[1], "to": period[3]})
    [doc] = [json.loads(line) for line in jsonl.text.splitlines() if json.loads(line)["id"] == doc_id]
    assert doc["vendor_name"] == "Hooks & Söhne GmbH" and doc["due_date"] == "2026-12-20"
