"""Security properties checked on the live stack (gunicorn with several worker processes,
real Redis and PostgreSQL), where per-process state or a framework default would show.
Example-based API tests live in `tests/integration/test_api_*.py`; these add what only a
running deployment can show.
"""
from __future__ import annotations

import socket
import time
import uuid
from pathlib import Path

import pytest
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hostile.corpus import text_pdf

pytestmark = pytest.mark.e2e

PASSWORD = "correct-horse-battery"  # RunningStack.user's default: it must never reach a log


@pytest.fixture(scope="module")
def tenants(start_stack):
    """Three companies, two users in the first, each company with two documents."""
    stack = start_stack("default")
    users = {
        "a1": ("Sec Company A", stack.user("Sec Company A", "a1@sec.test")),
        "a2": ("Sec Company A", stack.user("Sec Company A", "a2@sec.test")),
        "b": ("Sec Company B", stack.user("Sec Company B", "b@sec.test")),
        "c": ("Sec Company C", stack.user("Sec Company C", "c@sec.test")),
    }
    docs: dict[str, str] = {}  # document id -> company
    for key in ("a1", "b", "c"):
        company, api = users[key]
        for n in range(2):
            r = api.upload(text_pdf(f"security-{key}-{n}"), f"sec-{key}-{n}.pdf")
            assert r.status_code in (201, 409), r.text
            doc_id = r.json()["document"]["id"] if r.status_code == 201 else r.json()["document_id"]
            docs[doc_id] = company
    return users, docs


def test_tenant_isolation_property(stack, tenants):
    """Any user, any document id (theirs, another company's, or random), any read endpoint:
    a company's own documents answer 200, everything else 404 with no data of the document."""
    users, docs = tenants
    doc_ids = sorted(docs)

    @settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
    @given(user=st.sampled_from(sorted(users)),
           target=st.one_of(st.sampled_from(doc_ids), st.uuids().map(str)),
           path=st.sampled_from(["/documents/{id}", "/documents/{id}/status", "/documents/{id}/history"]))
    def check(user, target, path):
        company, api = users[user]
        r = api.get(path.format(id=target))
        if docs.get(target) == company:
            assert r.status_code == 200, (user, target, path, r.text[:200])
        else:
            assert r.status_code == 404, (user, target, path, r.status_code, r.text[:200])
            assert r.json()["code"] == 404 and target not in r.text.replace(f"/{target}", "")

    check()
    # Lists never show another company's documents.
    for user, (company, api) in users.items():
        listed = {d["id"] for d in api.get("/documents?limit=100").json()["documents"]}
        assert {d for d in listed if d in docs} == {d for d, c in docs.items() if c == company}, user


def test_revoked_and_expired_tokens_fail_on_every_api_process(stack, tenants):
    users, _ = tenants
    email = "revoke@sec.test"
    api = stack.user("Sec Company A", email)
    assert api.get("/documents").status_code == 200
    assert api.session.post(f"{stack.base}/auth/logout", timeout=10).status_code == 200
    # gunicorn runs several processes: every one must refuse the revoked token.
    assert {api.get("/documents").status_code for _ in range(12)} == {401}

    token = stack.admin("create-token", "--email", email, "--ttl", "2").strip()
    short = requests.Session()
    short.headers["Authorization"] = f"Bearer {token}"
    assert short.get(f"{stack.base}/documents", timeout=10).status_code == 200
    deadline = time.monotonic() + 15  # its 2 s, then refused: polled, not slept
    while (r := short.get(f"{stack.base}/documents", timeout=10)).status_code == 200 and time.monotonic() < deadline:
        time.sleep(0.2)
    assert r.status_code == 401 and r.json()["code"] == 401


def test_login_rate_limit_holds_across_api_processes(stack):
    email = f"ratelimit-{uuid.uuid4().hex[:8]}@sec.test"
    stack.user("Sec Company A", email)
    codes = [requests.post(f"{stack.base}/auth/login", json={"email": email, "password": "wrong-guess"},
                           timeout=10).status_code for _ in range(14)]
    # The limit (10 attempts a minute per email and address, the login that created the
    # session included) is shared through Redis, not per gunicorn process.
    first = codes.index(429) if 429 in codes else len(codes)
    assert 8 <= first <= 10 and set(codes[:first]) == {401} and set(codes[first:]) == {429}, codes
    r = requests.post(f"{stack.base}/auth/login", json={"email": email, "password": PASSWORD}, timeout=10)
    assert r.status_code == 429 and r.json()["message"]


def test_oversized_upload_is_refused_before_the_body_is_sent(stack, tenants):
    """A Content-Length over the limit gets 413 after the headers and a first chunk: the
    server does not wait for (or buffer) the rest of a 200 MB body."""
    users, _ = tenants
    token = users["a1"][1].session.headers["Authorization"]
    boundary = "hostile-boundary"
    declared = 200 * 1024 * 1024
    head = (f"POST /documents/upload HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: {token}\r\n"
            f"Content-Type: multipart/form-data; boundary={boundary}\r\nContent-Length: {declared}\r\n"
            f"Connection: close\r\n\r\n").encode()
    first = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"big.pdf\"\r\n"
             f"Content-Type: application/pdf\r\n\r\n").encode() + b"%PDF-1.7\n" + b"0" * 65536
    with socket.create_connection(("127.0.0.1", stack.stack.api_port), timeout=15) as sock:
        sock.sendall(head + first)
        sent = len(first)
        answer = b""
        try:
            while b"\r\n\r\n" not in answer:
                chunk = sock.recv(65536)
                if not chunk:
                    break
                answer += chunk
        except socket.timeout:
            pass
    status_line = answer.split(b"\r\n", 1)[0].decode(errors="replace")
    assert status_line.split(" ")[1:2] == ["413"], (status_line, answer[:300])
    assert sent < declared // 1000


def test_stored_files_are_not_served(stack, tenants):
    users, docs = tenants
    company_api = users["a1"][1]
    doc_id = next(d for d, c in docs.items() if c == "Sec Company A")
    from invoice.scanner.processing.db.repository import Repository

    doc = Repository(stack.database_url).get_document(doc_id)
    stored = Path(doc.stored_path)
    root = Path(stack.env["DOCUMENTS_DIR"])
    relative = stored.relative_to(root).as_posix()
    original = stored.read_bytes()
    for path in (f"/{relative}", f"/documents/{relative}", f"/static/{relative}", f"/files/{relative}",
                 f"/documents/{doc_id}/original.pdf", f"/static/../{relative}",
                 f"/documents/{doc_id}/../../{relative}", f"/{stored}"):
        for client in (company_api.session, requests):
            r = client.get(f"{stack.base}{path}", timeout=10)
            assert r.status_code in (401, 404, 405), (path, r.status_code)
            assert original[:64] not in r.content, path
    # The one way to the original (the web client's download): its company's users only.
    file_url = f"{stack.base}/documents/{doc_id}/file"
    own = company_api.session.get(file_url, timeout=10)
    assert own.status_code == 200 and own.content == original
    assert own.headers["Content-Disposition"].startswith("attachment")
    assert requests.get(file_url, timeout=10).status_code == 401
    other = users["b"][1].session.get(file_url, timeout=10)
    assert other.status_code == 404 and original[:64] not in other.content


def test_secrets_never_reach_the_logs(stack, tenants):
    """After logins (good and bad), uploads and polls, no log line of any process holds a
    password or a bearer token."""
    users, _ = tenants
    tokens = [api.session.headers["Authorization"].split(" ", 1)[1] for _, api in users.values()]
    requests.post(f"{stack.base}/auth/login", json={"email": "a1@sec.test", "password": "Wrong-Secret-123"},
                  timeout=10)
    time.sleep(1)  # let the access log flush
    secrets = [PASSWORD, "Wrong-Secret-123", *tokens]
    logs = {p.name: p.log_path.read_text(errors="replace") for p in stack.stack.procs.values() if p.log_path.exists()}
    assert logs and any("/auth/login" in text for text in logs.values())  # the logs were written
    for name, text in logs.items():
        for secret in secrets:
            assert secret not in text, (name, secret[:6] + "...")
