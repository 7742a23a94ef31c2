"""Invoices arriving the way they really arrive, end to end on the default stack (API, one Celery
worker per queue, beat sending the folder's and the mailboxes' polls, PostgreSQL, Redis): a
supplier's email sent by SMTP to a company's mailbox on a real IMAP server, a file dropped into
the watched folder, a ZIP posted as a batch. Each appears in the company's document list within
one poll interval (plus the poll's own time on this loaded machine), ends `approved` or
`manual_review` through the real pipeline, and `GET /documents/<id>` says where it came from."""
from __future__ import annotations

import io
import os
import sys
import time
import zipfile
from email.message import EmailMessage
from pathlib import Path

import pytest
from imapserver import ImapServer, SmtpToImap
from invoicegen import generate

pytestmark = pytest.mark.e2e

USER, PASSWORD = "invoices@ingest-buyer.test", "imap-secret-e2e"
COMPANY = "Ingest Buyer"
# What a poll may take beyond its interval here (login, fetch, upload path, list), on 2 shared cores.
POLL_SLACK_S = 45.0


@pytest.fixture(scope="module")
def mail_servers():
    if not Path(sys.executable).with_name("pymap").exists():
        pytest.skip("pymap (the IMAP server for these tests) is not installed: it needs Python 3.11+")
    with ImapServer(USER, PASSWORD) as imap, SmtpToImap(imap) as smtp:
        yield imap, smtp


def _listed(api, document_filter, deadline_s: float, what: str) -> dict:
    """Poll GET /documents (the company's list, newest first) until a document matches."""
    deadline = time.monotonic() + deadline_s
    while True:
        docs = api.get("/documents?limit=100").json()["documents"]
        found = [d for d in docs if document_filter(d)]
        if found:
            return found[0]
        assert time.monotonic() < deadline, f"{what}: not in the document list after {deadline_s:.0f} s; {docs}"
        time.sleep(0.5)


def _processed(api, doc_id: str, stack) -> dict:
    status = api.wait_terminal(doc_id)
    assert status["status"] in {"approved", "manual_review"}, (status, stack.logs())
    return api.get(f"/documents/{doc_id}").json()


def test_a_suppliers_email_becomes_a_processed_document_showing_its_source(stack, mail_servers):
    imap, smtp = mail_servers
    api = stack.user(COMPANY, "ap-admin@ingest-buyer.test")  # an admin: may manage mailboxes
    box = api.session.post(f"{stack.base}/mailboxes", timeout=10, json={
        "name": "Invoices", "host": "127.0.0.1", "port": imap.port, "security": "none", "username": USER,
        "password": PASSWORD, "allowed_senders": ["@nordlicht.test"]})
    assert box.status_code == 201, box.text
    box = box.json()

    invoice = generate(seed=301, kind="born_digital", language="en", pages=1)
    msg = EmailMessage()
    msg["From"], msg["To"] = "Billing <billing@nordlicht.test>", USER
    msg["Subject"], msg["Message-ID"] = "Invoice for November", "<nov-301@nordlicht.test>"
    msg["Date"] = "Tue, 01 Dec 2026 09:30:00 +0000"
    msg.set_content("Dear customer, please find our invoice attached.")
    msg.add_attachment(invoice.data, maintype="application", subtype="pdf", filename="nordlicht-301.pdf")
    sent = time.monotonic()
    smtp.send(msg.as_bytes(), "billing@nordlicht.test", USER)  # SMTP into the IMAP server's inbox

    interval = float(stack.env["MAIL_POLL_INTERVAL_S"])
    listed = _listed(api, lambda d: d.get("original_filename") == "nordlicht-301.pdf", interval + POLL_SLACK_S,
                     "the mailed invoice")
    print(f"mailed invoice listed {time.monotonic() - sent:.1f} s after SMTP (poll interval {interval:.0f} s)")
    doc = _processed(api, listed["id"], stack)
    assert doc["source"] == "mail"
    detail = doc["source_detail"]
    assert detail["message_id"] == "<nov-301@nordlicht.test>" and detail["sender"] == "billing@nordlicht.test"
    assert detail["subject"] == "Invoice for November" and detail["attachment"] == "nordlicht-301.pdf"
    assert detail["received_at"].startswith("2026-12-01T09:30:00") and detail["mailbox_id"] == box["id"]

    state = api.get(f"/mailboxes/{box['id']}").json()
    assert state["last_success_at"] and state["last_error"] is None and state["idle"] is True
    (message,) = api.get(f"/mailboxes/{box['id']}/messages").json()["messages"]
    assert message["documents"] == 1 and message["outcome"][0]["document_id"] == doc["id"]
    with imap.client() as client:  # marked read once its document committed
        client.select_folder("INBOX")
        assert client.search(["UNSEEN"]) == []
    # The mailbox is paused, so later stacks' tests see no mailbox of ours failing.
    assert api.session.patch(f"{stack.base}/mailboxes/{box['id']}", json={"enabled": False},
                             timeout=10).status_code == 200


def test_a_file_dropped_into_the_watched_folder_becomes_a_processed_document(stack):
    api = stack.user(COMPANY, "ap-admin@ingest-buyer.test")
    folder = stack.ingest_dir / "ingest-buyer"  # the company's slug
    folder.mkdir(exist_ok=True)
    invoice = generate(seed=302, kind="scanned", language="en", pages=1)
    name = "scan-302" + Path(invoice.filename).suffix
    partial = folder / (name + ".part")
    partial.write_bytes(invoice.data)  # written under a name never taken, then renamed into place
    dropped = time.monotonic()
    os.rename(partial, folder / name)

    interval = float(stack.env["INGEST_POLL_INTERVAL_S"]) + float(stack.env["INGEST_SETTLE_S"])
    listed = _listed(api, lambda d: d.get("original_filename") == name, 2 * interval + POLL_SLACK_S,
                     "the dropped file")
    print(f"dropped file listed {time.monotonic() - dropped:.1f} s after the rename")
    doc = _processed(api, listed["id"], stack)
    assert doc["source"] == "folder" and doc["source_detail"]["path"] == f"ingest-buyer/{name}"
    assert not (folder / name).exists()
    assert [p.name.endswith(name) for p in (folder / "processed").iterdir()] == [True]


def test_a_zip_batch_becomes_processed_documents_each_showing_its_source(stack):
    api = stack.user(COMPANY, "ap-admin@ingest-buyer.test")
    invoices = [generate(seed=s, kind="born_digital", language="en", pages=1) for s in (303, 304)]
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for i, inv in enumerate(invoices):
            zf.writestr(f"november/inv-{i}.pdf", inv.data)
        zf.writestr("../escape.pdf", invoices[0].data)  # refused on its own, stored nowhere
    r = api.session.post(f"{stack.base}/documents/batch", files={"files": ("month-end.zip", buf.getvalue())},
                         timeout=60)
    assert r.status_code == 201, r.text
    batch = r.json()
    assert [i["code"] for i in batch["results"]] == [201, 201, 422], batch
    assert batch["results"][2]["reason"] == "unsafe_path"
    deadline = time.monotonic() + 300
    while not (state := api.get(f"/batches/{batch['id']}").json())["done"]:
        assert time.monotonic() < deadline, state
        time.sleep(1)
    assert set(state["statuses"]) <= {"approved", "manual_review"}, (state, stack.logs())
    for item in state["items"][:2]:
        doc = api.get(f"/documents/{item['document_id']}").json()
        assert doc["status"] in {"approved", "manual_review"}
        assert doc["source"] == "batch" and doc["source_detail"]["batch_id"] == batch["id"]
        assert doc["source_detail"]["archive"] == "month-end.zip"
        assert doc["source_detail"]["entry"] == item["entry"] and item["entry"].startswith("november/")
    listed = {d["id"] for d in api.get("/documents?limit=100").json()["documents"]}
    assert {i["document_id"] for i in state["items"][:2]} <= listed
