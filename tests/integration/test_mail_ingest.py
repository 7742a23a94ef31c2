"""Mailboxes against a real IMAP server (pymap's in-memory backend on a free port, with XOAUTH2
and a no-IDLE switch: tests/imapserver.py), messages delivered by APPEND, real PostgreSQL and
Redis: an invoice attached, two in one mail, a forwarded mail, a mail with only a logo, the same
mail twice, a sender not allowed, a poll that died before marking, a wrong password, the admin
API and its PATCH, OAuth2 (SASL XOAUTH2 with a stored token), a server that drops the connection
mid-session (a TCP proxy that cuts it), IDLE and a server without it, and the real mail worker
(Celery, with its beat): SIGKILLed mid-message, and polling on IDLE alone."""
from __future__ import annotations

import email
import email.policy
import io
import os
import signal
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
from imapserver import ImapServer  # noqa: E402

pytest_plugins = ["conftest_api"]

USER, PASSWORD = "ap", "s3cret-imap-password"
TOKEN = "ya29.test-oauth2-access-token"  # what an OAuth2 provider would have issued for USER
KEY = Fernet.generate_key().decode()


def _need_pymap() -> None:
    if not Path(sys.executable).with_name("pymap").exists():  # requirements-dev.txt installs it on Python 3.11+
        pytest.skip("pymap (the IMAP server for these tests) is not installed: it needs Python 3.11+")


@pytest.fixture(scope="module")
def imap_server():
    """pymap on a free port, accepting the password and, by SASL XOAUTH2, TOKEN (tests/imapserver.py)."""
    _need_pymap()
    with ImapServer(USER, PASSWORD, token=TOKEN) as server:
        yield server.port


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


@pytest.fixture(autouse=True)
def _each_test_polls_only_its_own_mailboxes(repo):
    """The test database is shared and every mailbox here reads the same IMAP inbox: a test's
    mailboxes are paused when it ends, so the next test's polls never see them."""
    yield
    with repo.tx() as cur:
        cur.execute("UPDATE mailboxes SET enabled = false")


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
        (mine,) = [m for m in health.json["mailboxes"]["by_mailbox"] if m["id"] == box["id"]]
        assert mine["failing"] is True and mine["last_success_at"] is None and mine["last_poll_at"]
        assert set(mine) == {"id", "last_success_at", "last_poll_at", "failing"}  # no name, host or account
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


def _messages(repo, mailbox_id) -> list[dict]:
    with repo.tx() as cur:
        cur.execute("SELECT message_id, documents, outcome FROM mail_messages WHERE mailbox_id = %s "
                    "ORDER BY processed_at", (str(mailbox_id),))
        return cur.fetchall()


def test_oauth2_xoauth2_instead_of_a_password(mail_client, mail_config, tenant, repo, imap, imap_server, caplog):
    """SASL XOAUTH2 with the stored (encrypted) access token, against an IMAP server that checks it."""
    body = {"name": "OAuth inbox", "host": "127.0.0.1", "port": imap_server, "security": "none", "username": USER,
            "auth": "xoauth2", "access_token": "expired-token"}
    assert mail_client.post("/mailboxes", json={**body, "access_token": None},
                            headers=tenant.headers).status_code == 422  # the token is required for xoauth2
    box = mail_client.post("/mailboxes", json=body, headers=tenant.headers).json
    assert box["auth"] == "xoauth2" and "access_token" not in box and "password" not in box
    imap.append("INBOX", _mail("billing@supplier.test", "Invoice", [("oauth.pdf", make_pdf(), "application/pdf")]))
    ingest = MailIngest(ApiState.build(mail_config))
    caplog.set_level("DEBUG")
    assert "error" in ingest.poll_all()[box["id"]]  # the server refuses the old token
    failed = mail_client.get(f"/mailboxes/{box['id']}", headers=tenant.headers).json
    assert failed["last_error"] and failed["poll_failures"] == 1 and failed["polls"] == 1
    # The token rotated (as an OAuth2 refresh would give): PATCH stores the new one, encrypted.
    patched = mail_client.patch(f"/mailboxes/{box['id']}", json={"access_token": TOKEN}, headers=tenant.headers)
    assert patched.status_code == 200 and patched.json["last_error"] is None
    results = ingest.poll_all()[box["id"]]
    assert [r["documents"] for r in results] == [1]
    assert [d["original_filename"] for d in _documents(repo, tenant.company_id)] == ["oauth.pdf"]
    assert TOKEN not in caplog.text and "expired-token" not in caplog.text
    with repo.tx() as cur:
        cur.execute("SELECT secret_encrypted FROM mailboxes WHERE id = %s", (box["id"],))
        assert Fernet(KEY.encode()).decrypt(cur.fetchone()["secret_encrypted"].encode()).decode() == TOKEN
    after = mail_client.get(f"/mailboxes/{box['id']}", headers=tenant.headers).json
    assert (after["polls"], after["poll_failures"], after["idle"]) == (2, 1, True)


def test_mailbox_rules_are_edited_with_patch(mail_client, mail_config, tenant, make_tenant, repo, imap, imap_server):
    box = _add_mailbox(mail_client, tenant, imap_server, allowed_senders=["@other.test"])
    url = f"/mailboxes/{box['id']}"
    imap.append("INBOX", _mail("billing@supplier.test", "Invoice", [("p.pdf", make_pdf(), "application/pdf")],
                               message_id="<patch-1@supplier.test>"))
    assert mail_client.patch(url, json={"after_import": "move"}, headers=tenant.headers).status_code == 422
    assert mail_client.patch(url, json={}, headers=tenant.headers).status_code == 422  # nothing to change
    assert mail_client.patch(url, headers=tenant.headers).status_code == 422  # no body at all
    assert mail_client.patch(url, json={"enabled": "yes"}, headers=tenant.headers).status_code == 422
    assert mail_client.patch(url, json={"auth": "xoauth2"}, headers=tenant.headers).status_code == 422
    assert mail_client.patch(url, json={"access_token": "t"}, headers=tenant.headers).status_code == 422
    assert mail_client.patch(url, json={"name": "x"}, headers=make_tenant().headers).status_code == 404
    edited = mail_client.patch(url, json={"allowed_senders": ["@supplier.test"], "after_import": "move",
                                          "move_to": "Done", "name": "Supplier invoices"}, headers=tenant.headers)
    assert edited.status_code == 200, edited.json
    assert (edited.json["name"], edited.json["allowed_senders"], edited.json["move_to"]) == (
        "Supplier invoices", ["@supplier.test"], "Done")
    MailIngest(ApiState.build(mail_config)).poll_all()
    assert [d["original_filename"] for d in _documents(repo, tenant.company_id)] == ["p.pdf"]  # the new rule
    imap.noop()
    assert imap.search(["ALL"]) == []  # moved to Done
    paused = mail_client.patch(url, json={"enabled": False}, headers=tenant.headers).json
    assert paused["enabled"] is False
    assert box["id"] not in MailIngest(ApiState.build(mail_config)).poll_all()  # a paused mailbox is not polled


def test_a_server_that_drops_the_connection_mid_session_loses_and_duplicates_nothing(
        mail_client, mail_config, tenant, repo, imap, imap_server):
    """The session is cut as the client marks the second message read: the first message is done,
    the second imported and recorded but not marked, the third not read. The failure is recorded
    (transient: the task polls again soon); the next poll marks the second without importing it
    again and imports the third."""
    from imapserver import DroppingProxy

    with DroppingProxy(imap_server, b" STORE ", drop_at=2) as proxy:
        box = _add_mailbox(mail_client, tenant, proxy.port)
        for i in (1, 2, 3):
            imap.append("INBOX", _mail("billing@supplier.test", f"Invoice {i}",
                                       [(f"drop-{i}.pdf", make_pdf(text=f"drop {i}"), "application/pdf")],
                                       message_id=f"<drop-{i}@supplier.test>"))
        ingest = MailIngest(ApiState.build(mail_config))
        first = ingest.poll_all()[box["id"]]
        assert proxy.dropped.is_set() and first["transient"] is True, first
        state = mail_client.get(f"/mailboxes/{box['id']}", headers=tenant.headers).json
        assert state["last_error"] and state["poll_failures"] == 1 and state["last_success_at"] is None
        assert [d["original_filename"] for d in _documents(repo, tenant.company_id)] == ["drop-1.pdf", "drop-2.pdf"]
        imap.noop()
        assert len(imap.search(["UNSEEN"])) == 2  # the second was imported, not marked: the cut came first

        second = ingest.poll_all()[box["id"]]
        assert [r["message_id"] for r in second] == ["<drop-3@supplier.test>"]  # the second is not imported again
    docs = _documents(repo, tenant.company_id)
    assert [d["original_filename"] for d in docs] == ["drop-1.pdf", "drop-2.pdf", "drop-3.pdf"]
    assert sorted(m["message_id"] for m in _messages(repo, box["id"])) == [
        "<drop-1@supplier.test>", "<drop-2@supplier.test>", "<drop-3@supplier.test>"]
    imap.noop()
    assert imap.search(["UNSEEN"]) == []
    state = mail_client.get(f"/mailboxes/{box['id']}", headers=tenant.headers).json
    assert state["last_error"] is None and state["last_success_at"] and state["polls"] == 2
    # /metrics: the polls and the failure of this mailbox, as every mail worker counted them.
    metrics = mail_client.get("/metrics", headers=tenant.headers).get_data(as_text=True)
    labels = f'{{company="{tenant.company_id}",mailbox="{box["id"]}"}}'
    assert f"invoice_scanner_mail_polls_total{labels} 2.0" in metrics
    assert f"invoice_scanner_mail_poll_failures_total{labels} 1.0" in metrics
    assert f"invoice_scanner_mail_last_success_timestamp_seconds{labels}" in metrics
    assert 'invoice_scanner_documents_by_source{source="mail"}' in metrics


def test_idle_starts_a_poll_as_soon_as_mail_arrives_and_a_server_without_idle_is_left_to_polls(
        mail_client, mail_config, tenant, imap, imap_server):
    from invoice.scanner.api.mail_idle import IdleWatcher

    _need_pymap()
    box = _add_mailbox(mail_client, tenant, imap_server)
    with ImapServer(USER, PASSWORD, idle=False) as plain:
        no_idle = _add_mailbox(mail_client, tenant, plain.port)
        triggered: list[str] = []
        watcher = IdleWatcher(ApiState.build(mail_config.with_overrides(mail_idle_refresh_s=0.5)),
                              triggered.append).start()
        try:
            def wait(condition, what: str, timeout_s: float = 60) -> None:
                deadline = time.monotonic() + timeout_s
                while not condition():
                    assert time.monotonic() < deadline, f"{what}; triggers {triggered}"
                    time.sleep(0.1)

            wait(lambda: box["id"] in triggered, "no poll asked for at connect")  # what came while nobody idled
            wait(lambda: watcher.watches.get(no_idle["id"]) and watcher.watches[no_idle["id"]].supported is False,
                 "the server without IDLE was not recognised")
            before = len(triggered)
            imap.append("INBOX", _mail("billing@supplier.test", "Invoice", [("i.pdf", make_pdf(), "application/pdf")]))
            wait(lambda: triggered[before:].count(box["id"]) >= 1, "the arrival did not end the IDLE")
            assert no_idle["id"] not in triggered  # polled by the beat only
            assert not watcher.watches[no_idle["id"]].thread.is_alive()
            # A paused mailbox's watch stops at the next refresh.
            mail_client.patch(f"/mailboxes/{box['id']}", json={"enabled": False}, headers=tenant.headers)
            wait(lambda: box["id"] not in watcher.watches, "the paused mailbox is still watched")
        finally:
            watcher.stop()
            mail_client.patch(f"/mailboxes/{no_idle['id']}", json={"enabled": False}, headers=tenant.headers)


def _mail_worker(tmp_path, api_database_url, api_redis_url, name: str, **env) -> subprocess.Popen:
    """The real mail queue: a Celery worker with its beat (a process group of its own)."""
    full = {**os.environ, "DATABASE_URL": api_database_url, "REDIS_URL": api_redis_url, "BROKER_URL": "",
            "DOCUMENTS_DIR": str(tmp_path / "documents"), "STORAGE_URL": "", "MAIL_SECRET_KEY": KEY, **env}
    log = open(tmp_path / f"{name}.log", "ab")
    return subprocess.Popen([sys.executable, "-m", "invoice.scanner.processing.worker", "--queue", "mail", "--beat",
                             "--loglevel", "INFO", "-s", str(tmp_path / f"{name}-beat-schedule")],
                            env=full, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)


def _wait(condition, what: str, timeout_s: float, worker: subprocess.Popen | None = None, log: Path | None = None):
    deadline = time.monotonic() + timeout_s
    while True:
        value = condition()
        if value:
            return value
        tail = log.read_text(errors="replace")[-3000:] if log and log.exists() else ""
        assert worker is None or worker.poll() is None, f"the worker exited:\n{tail}"
        assert time.monotonic() < deadline, f"{what} after {timeout_s} s:\n{tail}"
        time.sleep(0.005)


def _stop(worker: subprocess.Popen, sig: int = signal.SIGTERM) -> None:
    try:
        os.killpg(worker.pid, sig)
    except ProcessLookupError:
        return
    try:
        worker.wait(30)
    except subprocess.TimeoutExpired:
        os.killpg(worker.pid, signal.SIGKILL)
        worker.wait(10)


def test_a_mail_worker_sigkilled_mid_message_loses_and_duplicates_nothing(
        mail_client, tenant, repo, imap, imap_server, tmp_path, api_database_url, api_redis_url):
    """A message of 40 invoices; the whole mail worker (process group) is SIGKILLed once some of
    its documents are committed and before the message is recorded. The message stays unseen and
    unrecorded; the next worker takes it again: every invoice exactly once, the message once."""
    n = 40
    box = _add_mailbox(mail_client, tenant, imap_server)
    files = [(f"kill-{i:02}.pdf", make_pdf(pages=4, text=f"kill {i}"), "application/pdf") for i in range(n)]
    imap.append("INBOX", _mail("billing@supplier.test", "Month-end", files, message_id="<kill@supplier.test>"))
    env = {"MAIL_POLL_INTERVAL_S": "1", "MAIL_IDLE": "false", "MAIL_POLL_LOCK_S": "3"}
    worker = _mail_worker(tmp_path, api_database_url, api_redis_url, "first", **env)
    try:
        _wait(lambda: _documents(repo, tenant.company_id), "no document committed", 120, worker,
              tmp_path / "first.log")
        os.killpg(worker.pid, signal.SIGKILL)
        worker.wait(10)
    finally:
        _stop(worker, signal.SIGKILL)
    committed = len(_documents(repo, tenant.company_id))
    assert 0 < committed < n, f"the kill did not land mid-message ({committed} of {n} committed)"
    assert _messages(repo, box["id"]) == []  # not recorded: the message is not done
    imap.noop()
    assert len(imap.search(["UNSEEN"])) == 1  # nor marked

    worker = _mail_worker(tmp_path, api_database_url, api_redis_url, "second", **env)
    try:
        (message,) = _wait(lambda: _messages(repo, box["id"]), "the message not imported after the restart", 120,
                           worker, tmp_path / "second.log")
        _wait(lambda: imap.noop() and not imap.search(["UNSEEN"]), "the message not marked read", 60, worker)
    finally:
        _stop(worker)
    docs = _documents(repo, tenant.company_id)
    assert sorted(d["original_filename"] for d in docs) == [name for name, _, _ in files]  # each once
    assert message["documents"] == n
    codes = [o["code"] for o in message["outcome"]]
    assert codes.count(409) == committed and codes.count(201) == n - committed  # the first ones recognised


def test_the_mail_worker_polls_on_idle_without_waiting_for_the_interval(
        mail_client, tenant, repo, imap, imap_server, tmp_path, api_database_url, api_redis_url):
    """A real mail worker whose beat polls once an hour: a message appended after it started is
    imported anyway, because its IDLE watcher sees the server's EXISTS and asks for a poll."""
    box = _add_mailbox(mail_client, tenant, imap_server)
    worker = _mail_worker(tmp_path, api_database_url, api_redis_url, "idle", MAIL_POLL_INTERVAL_S="3600",
                          MAIL_IDLE_REFRESH_S="1")
    log = tmp_path / "idle.log"
    try:
        _wait(lambda: "mail idle: watching" in log.read_text(errors="replace") if log.exists() else False,
              "the IDLE watcher did not start", 120, worker, log)
        _wait(lambda: repo_row(repo, box["id"])["last_poll_at"], "no poll at connect", 120, worker, log)
        imap.append("INBOX", _mail("billing@supplier.test", "Invoice", [("idle.pdf", make_pdf(), "application/pdf")],
                                   message_id="<idle@supplier.test>"))
        _wait(lambda: _messages(repo, box["id"]), "the new message was not imported", 120, worker, log)
    finally:
        _stop(worker)
    assert [d["original_filename"] for d in _documents(repo, tenant.company_id)] == ["idle.pdf"]
    assert "a message arrived; polling it" in log.read_text(errors="replace")
    assert repo_row(repo, box["id"])["idle"] is True


def repo_row(repo, mailbox_id) -> dict:
    with repo.tx() as cur:
        cur.execute("SELECT last_poll_at, idle, polls FROM mailboxes WHERE id = %s", (str(mailbox_id),))
        return cur.fetchone()
