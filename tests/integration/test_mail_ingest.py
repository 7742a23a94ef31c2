"""Mailboxes against a real IMAP server (pymap's in-memory backend on a free port), messages
delivered by APPEND, real PostgreSQL and Redis: an invoice attached, two in one mail, a
forwarded mail, a mail with only a logo, the same mail twice, a sender not allowed, a poll that
died before marking, a wrong password, the admin API."""
from __future__ import annotations

import email
import email.policy
import io
import socket
import subprocess
import sys
import time
from email.message import EmailMessage
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from imapclient import IMAPClient

pytest.register_assert_rewrite("conftest_api")
from conftest_api import make_image, make_pdf  # noqa: E402
from invoice.scanner.api.mail_ingest import MailIngest
from invoice.scanner.api.services import ApiState
from invoice.scanner.processing.devstack import free_port

pytest_plugins = ["conftest_api"]

USER, PASSWORD = "ap", "s3cret-imap-password"
KEY = Fernet.generate_key().decode()


@pytest.fixture(scope="module")
def imap_server():
    port = free_port()
    pymap = Path(sys.executable).with_name("pymap")
    if not pymap.exists():  # requirements-dev.txt installs it on Python 3.11+
        pytest.skip("pymap (the IMAP server for these tests) is not installed: it needs Python 3.11+")
    proc = subprocess.Popen([str(pymap), "--host", "127.0.0.1", "--port", str(port), "--no-tls", "dict",
                             "--demo-user", USER, "--demo-password", PASSWORD],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            break
        except OSError:
            time.sleep(0.1)
    else:
        proc.kill()
        pytest.fail("pymap did not start")
    yield port
    proc.terminate()
    proc.wait(10)


@pytest.fixture
def imap(imap_server):
    client = IMAPClient("127.0.0.1", port=imap_server, ssl=False)
    client.login(USER, PASSWORD)
    client.select_folder("INBOX")
    uids = client.search(["ALL"])
    if uids:  # each test starts with an empty inbox
        client.delete_messages(uids)
        client.expunge()
    yield client
    client.logout()


@pytest.fixture
def mail_config(api_config):
    return api_config.with_overrides(mail_secret_key=KEY)


@pytest.fixture
def mail_client(make_app, mail_config):
    return make_app(mail_config).test_client()


def _mail(sender: str, subject: str, attachments: list[tuple[str, bytes, str]], message_id: str | None = None,
          inline_logo: bytes | None = None) -> bytes:
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = sender, "invoices@acme.test", subject
    msg["Date"] = "Tue, 01 Dec 2026 08:00:00 +0000"
    msg["Message-ID"] = message_id or f"<{time.time_ns()}@supplier.test>"
    msg.set_content("Please find our invoice attached.")
    if inline_logo is not None:
        msg.add_alternative("<p>Invoice attached <img src='cid:logo'></p>", subtype="html")
        msg.get_payload()[1].add_related(inline_logo, "image", "png", cid="<logo>")
    for name, data, mime in attachments:
        maintype, subtype = mime.split("/")
        msg.add_attachment(data, maintype=maintype, subtype=subtype, filename=name)
    return msg.as_bytes()


def _scan() -> bytes:
    """A scanned page as PNG: noise, so it is well over the logo size (MIN_IMAGE_BYTES)."""
    import os

    from PIL import Image

    buf = io.BytesIO()
    Image.frombytes("L", (300, 200), os.urandom(300 * 200)).save(buf, "PNG")
    return buf.getvalue()


def _add_mailbox(client, tenant, port, **rules):
    body = {"name": "AP inbox", "host": "127.0.0.1", "port": port, "security": "none", "username": USER,
            "password": PASSWORD, **rules}
    resp = client.post("/mailboxes", json=body, headers=tenant.headers)
    assert resp.status_code == 201, resp.json
    return resp.json


def _documents(repo, company_id):
    with repo.tx() as cur:
        cur.execute("SELECT id, original_filename, source, source_detail FROM documents WHERE company_id = %s "
                    "ORDER BY original_filename", (str(company_id),))
        return cur.fetchall()


def test_attachments_become_documents_with_their_provenance(mail_client, mail_config, tenant, repo, imap,
                                                            imap_server, caplog):
    box = _add_mailbox(mail_client, tenant, imap_server, allowed_senders=["@supplier.test"])
    assert "password" not in box and box["last_poll_at"] is None
    one, two, three = make_pdf(text="one"), make_pdf(text="two"), make_pdf(text="three")
    imap.append("INBOX", _mail("billing@supplier.test", "Invoice 1", [("inv-1.pdf", one, "application/pdf")],
                               message_id="<m1@supplier.test>"))
    imap.append("INBOX", _mail("billing@supplier.test", "Two invoices", [("inv-2.pdf", two, "application/pdf"),
                                                                          ("inv-3.pdf", three, "application/pdf")]))
    forwarded = EmailMessage()
    forwarded["From"], forwarded["Subject"] = "clerk@supplier.test", "Fwd: invoice"
    forwarded["Message-ID"] = "<fwd@supplier.test>"
    forwarded.set_content("see below")
    inner = _mail("other@vendor.test", "Invoice 4", [("inv-4.png", _scan(), "image/png")])
    forwarded.add_attachment(email.message_from_bytes(inner, policy=email.policy.default))  # message/rfc822
    imap.append("INBOX", forwarded.as_bytes())
    imap.append("INBOX", _mail("billing@supplier.test", "Logo only", [], inline_logo=make_image("PNG"),
                               message_id="<logo@supplier.test>"))
    imap.append("INBOX", _mail("spam@elsewhere.test", "Not allowed", [("x.pdf", make_pdf(), "application/pdf")],
                               message_id="<spam@elsewhere.test>"))
    imap.append("INBOX", _mail("billing@supplier.test", "Invoice 1 again", [("inv-1.pdf", one, "application/pdf")],
                               message_id="<m1-resent@supplier.test>"))

    caplog.set_level("DEBUG")
    results = MailIngest(ApiState.build(mail_config)).poll_all()
    assert PASSWORD not in caplog.text  # credentials never logged
    assert isinstance(results[box["id"]], list), results
    by_id = {r["message_id"]: r for r in results[box["id"]]}
    assert len(by_id) == 6
    docs = _documents(repo, tenant.company_id)
    assert [d["original_filename"] for d in docs] == ["inv-1.pdf", "inv-2.pdf", "inv-3.pdf", "inv-4.png"]
    assert all(d["source"] == "mail" for d in docs)
    detail = docs[0]["source_detail"]
    assert detail["message_id"] == "<m1@supplier.test>" and detail["sender"] == "billing@supplier.test"
    assert detail["subject"] == "Invoice 1" and detail["attachment"] == "inv-1.pdf"
    assert detail["received_at"].startswith("2026-12-01T08:00:00")
    assert by_id["<logo@supplier.test>"]["documents"] == 0
    assert by_id["<logo@supplier.test>"]["reason"] == "no usable attachment"
    assert "not allowed" in by_id["<spam@elsewhere.test>"]["reason"]
    resent = by_id["<m1-resent@supplier.test>"]
    assert resent["outcome"][0]["code"] == 409 and resent["outcome"][0]["document_id"] == str(docs[0]["id"])
    # Every message is marked read; a second poll imports nothing.
    assert imap.search(["UNSEEN"]) == []
    assert MailIngest(ApiState.build(mail_config)).poll_all()[box["id"]] == []
    listed = mail_client.get(f"/mailboxes/{box['id']}", headers=tenant.headers).json
    assert listed["last_success_at"] and listed["last_error"] is None
    messages = mail_client.get(f"/mailboxes/{box['id']}/messages", headers=tenant.headers).json["messages"]
    assert len(messages) == 6


def test_a_poll_that_died_before_marking_imports_nothing_twice(mail_client, mail_config, tenant, repo, imap,
                                                               imap_server):
    box = _add_mailbox(mail_client, tenant, imap_server, after_import="move", move_to="Imported")
    imap.append("INBOX", _mail("a@supplier.test", "Invoice", [("inv.pdf", make_pdf(), "application/pdf")],
                               message_id="<once@supplier.test>"))
    ingest = MailIngest(ApiState.build(mail_config))
    (row,) = [b for b in ingest.mailboxes() if str(b["id"]) == box["id"]]
    # The worker committed the document, then died before recording and marking the message.
    raw = imap.fetch(imap.search(["ALL"]), ["BODY.PEEK[]"])
    msg_bytes = next(iter(raw.values()))[b"BODY[]"]
    from invoice.scanner.api.services import upload_document

    attachment = next(p for p in email.message_from_bytes(msg_bytes).walk() if p.get_filename())
    upload_document(ingest.state, attachment.get_payload(decode=True), "inv.pdf", tenant.company_id, None,
                    source="mail", source_detail={"message_id": "<once@supplier.test>"})
    results = ingest.poll(row)
    assert results[0].outcome[0]["code"] == 409  # the same content: recognised, not imported again
    assert len(_documents(repo, tenant.company_id)) == 1
    imap.noop()  # this session learns of the other session's move
    assert imap.search(["ALL"]) == []  # moved
    imap.select_folder("Imported")
    assert len(imap.search(["ALL"])) == 1
    imap.select_folder("INBOX")


def test_a_failing_mailbox_is_recorded_without_its_password(mail_client, mail_config, tenant, imap_server, caplog):
    box = _add_mailbox(mail_client, tenant, imap_server, password="wrong-password-xyz")
    caplog.set_level("DEBUG")
    results = MailIngest(ApiState.build(mail_config)).poll_all()
    assert "error" in results[box["id"]]
    assert "wrong-password-xyz" not in caplog.text
    listed = mail_client.get(f"/mailboxes/{box['id']}", headers=tenant.headers).json
    assert listed["last_error"] and listed["last_success_at"] is None
    # Failing for longer than MAIL_FAILING_AFTER_S: /health says degraded (still 200: the API serves).
    repo = ApiState.build(mail_config).repo
    with repo.tx() as cur:
        cur.execute("UPDATE mailboxes SET created_at = now() - interval '2 hours' WHERE id = %s", (box["id"],))
    try:
        health = mail_client.get("/health")
        assert health.status_code == 200 and health.json["status"] == "degraded"
        assert health.json["mailboxes"]["failing"] >= 1
    finally:  # the shared test database: other tests' /health must not see this mailbox
        with repo.tx() as cur:
            cur.execute("UPDATE mailboxes SET enabled = false WHERE id = %s", (box["id"],))
    with ApiState.build(mail_config).repo.tx() as cur:
        cur.execute("SELECT secret_encrypted FROM mailboxes WHERE id = %s", (box["id"],))
        stored = cur.fetchone()["secret_encrypted"]
    assert "wrong-password-xyz" not in stored and Fernet(KEY.encode()).decrypt(stored.encode()) == b"wrong-password-xyz"


def test_mailbox_api_is_for_admins_of_the_company(mail_client, client, tenant, make_tenant, repo, api_config,
                                                  imap_server):
    from invoice.scanner.api.auth import issue_token

    box = _add_mailbox(mail_client, tenant, imap_server)
    other = make_tenant()
    assert mail_client.get(f"/mailboxes/{box['id']}", headers=other.headers).status_code == 404
    assert mail_client.delete(f"/mailboxes/{box['id']}", headers=other.headers).status_code == 404
    assert mail_client.get("/mailboxes", headers=other.headers).json == {"mailboxes": []}
    user = repo.create_user(tenant.company_id, f"up-{time.time_ns()}@example.test", "x", role="uploader")
    token = issue_token(repo, user.id, api_config.token_ttl_s).access_token
    assert mail_client.get("/mailboxes", headers={"Authorization": f"Bearer {token}"}).status_code == 403
    bad = mail_client.post("/mailboxes", json={"name": "x", "host": "h", "username": "u", "password": "p",
                                               "after_import": "move"}, headers=tenant.headers)
    assert bad.status_code == 422
    # Without MAIL_SECRET_KEY nothing is stored in the clear: 503.
    assert client.post("/mailboxes", json={"name": "x", "host": "h", "username": "u", "password": "p"},
                       headers=tenant.headers).status_code == 503
    assert mail_client.delete(f"/mailboxes/{box['id']}", headers=tenant.headers).status_code == 204
    assert mail_client.get(f"/mailboxes/{box['id']}", headers=tenant.headers).status_code == 404
