"""The status poll's plain case answered before Flask (api.status_poll) answers what Flask
answers, byte for byte, and hands every other request to Flask. Real PostgreSQL and Redis.

Flask's own answer is the app's WSGI callable behind the middleware (`app.wsgi_app.wsgi_app`),
whose view reads the same statement (`ApiRepository.authenticate_token_with_status`)."""
from __future__ import annotations

import uuid

import pytest
from flask import request_started
from werkzeug.test import Client

pytest.register_assert_rewrite("conftest_api")
from conftest_api import make_pdf, upload  # noqa: E402
from invoice.scanner.api.auth import issue_token
from invoice.scanner.api.status_poll import StatusPollMiddleware
from invoice.scanner.processing.status import Status

pytest_plugins = ["conftest_api"]


@pytest.fixture
def document(client, tenant) -> str:
    resp = upload(client, tenant, make_pdf(), "invoice.pdf")
    assert resp.status_code == 201, resp.json
    return resp.json["document"]["id"]


@pytest.fixture
def clients(app):
    """(through the middleware, Flask alone), both WSGI clients of the same app."""
    assert isinstance(app.wsgi_app, StatusPollMiddleware)
    return Client(app.wsgi_app), Client(app.wsgi_app.wsgi_app)


@pytest.fixture
def flask_requests(app) -> list[str]:
    """Paths of the requests that went through Flask's request cycle."""
    seen: list[str] = []

    def started(sender, **extra):
        from flask import request

        seen.append(request.path)

    request_started.connect(started, app)
    yield seen
    request_started.disconnect(started, app)


def _answer(client: Client, path: str, headers: dict[str, str], method: str = "GET", **kwargs):
    r = client.open(path, method=method, headers=headers, **kwargs)
    return r.status, r.headers.to_wsgi_list(), r.get_data()


def _same(fast, flask) -> None:
    assert fast == flask, f"\nmiddleware: {fast}\nflask:      {flask}"


def test_a_plain_poll_is_answered_before_flask_as_flask_answers_it(
        app, clients, tenant, document, repo, flask_requests):
    fast, slow = clients
    headers = {**tenant.headers, "X-Request-ID": "poll-1"}
    for status, quality, error in ((Status.PREPROCESSING, None, None),
                                   (Status.MANUAL_REVIEW, 0.8125, None),
                                   (Status.OCR_ERROR, None, "OCR failed: page 2 unreadable — «ü» \"quoted\""),
                                   (Status.APPROVED, 1.0, None)):
        with repo.tx() as cur:
            cur.execute("UPDATE documents SET status = %s, quality_score = %s, error = %s WHERE id = %s",
                        (status.value, quality, error, document))
        flask_requests.clear()
        answer = _answer(fast, f"/documents/{document}/status", headers)
        assert flask_requests == [], "the plain poll went through Flask"
        _same(answer, _answer(slow, f"/documents/{document}/status", headers))
        # Polled again in the same state: the body kept for this record is the same answer.
        _same(_answer(fast, f"/documents/{document}/status", headers), answer)
        assert answer[0] == "200 OK" and status.value.encode() in answer[2]


def test_the_request_id_is_the_clients_if_plain_else_a_new_one(clients, tenant, document):
    fast, slow = clients
    path = f"/documents/{document}/status"
    for client_id in ("", "bad id with spaces", "x" * 129):
        ids = []
        for client in (fast, slow):
            r = client.get(path, headers={**tenant.headers, "X-Request-ID": client_id})
            assert r.status_code == 200
            ids.append(r.headers["X-Request-ID"])
        assert all(len(i) == 32 and i != client_id for i in ids) and ids[0] != ids[1]
    assert fast.get(path, headers={**tenant.headers, "X-Request-ID": "a.b:c-1"}).headers["X-Request-ID"] == "a.b:c-1"


def test_every_other_request_goes_to_flask_with_the_same_answer(
        app, clients, make_tenant, tenant, document, repo, flask_requests):
    fast, slow = clients
    path = f"/documents/{document}/status"
    upload_only = {"Authorization": "Bearer " + issue_token(repo, tenant.user_id, 3600,
                                                            scopes=["documents:write"]).access_token}
    cases = [
        (path, {}, {}),  # no token: 401
        (path, {"Authorization": "Bearer not-a-token"}, {}),  # 401
        (path, {"Authorization": "Basic dXNlcjpwdw=="}, {}),  # 401
        (path, make_tenant().headers, {}),  # another company's document: 404
        (f"/documents/{uuid.uuid4()}/status", tenant.headers, {}),  # 404
        (f"/documents/{document.upper()}/status", tenant.headers, {}),  # another spelling of the id
        ("/documents/not-a-uuid/status", tenant.headers, {}),  # 404
        (path, upload_only, {}),  # 403
        (path, {**tenant.headers, "Origin": "http://localhost:5173"}, {}),  # CORS: flask-cors decides
        (path, {**tenant.headers, "Origin": "http://evil.test"}, {}),
        (path, tenant.headers, {"query_string": "a=%00"}),  # a NUL in the query: 422
        (path, tenant.headers, {"query_string": "verbose=1"}),
        (path, tenant.headers, {"json": {"note": "a\x00b"}}),  # a body with a NUL: 422
        (path + "/", tenant.headers, {}),  # 404
    ]
    for case_path, headers, kwargs in cases:
        flask_requests.clear()
        answer = _answer(fast, case_path, {**headers, "X-Request-ID": "r1"}, **kwargs)
        assert len(flask_requests) == 1, (case_path, headers, kwargs)
        _same(answer, _answer(slow, case_path, {**headers, "X-Request-ID": "r1"}, **kwargs))
    for method in ("HEAD", "OPTIONS", "POST"):
        flask_requests.clear()
        answer = _answer(fast, path, {**tenant.headers, "X-Request-ID": "r1"}, method=method)
        assert len(flask_requests) == 1, method
        _same(answer, _answer(slow, path, {**tenant.headers, "X-Request-ID": "r1"}, method=method))


def test_a_refused_poll_sends_its_statement_once(app, clients, tenant, document):
    """Flask answers the 401/403/404 with what the middleware read: one statement per request."""
    fast, _ = clients
    repo = app.extensions["invoice_scanner"].repo
    calls: list[str] = []
    original = repo.authenticate_token_with_status

    def counted(digest, document_id):
        calls.append(document_id)
        return original(digest, document_id)

    repo.authenticate_token_with_status = counted
    for path, headers, code in ((f"/documents/{document}/status", tenant.headers, 200),
                                (f"/documents/{uuid.uuid4()}/status", tenant.headers, 404),
                                (f"/documents/{document}/status", {"Authorization": "Bearer nope"}, 401)):
        calls.clear()
        assert fast.get(path, headers=headers).status_code == code
        assert len(calls) == 1, (path, code, calls)


def test_through_the_test_client_too(client, tenant, document):
    """Flask's test client calls the app, whose wsgi_app is the middleware: the contract's keys."""
    r = client.get(f"/documents/{document}/status", headers=tenant.headers)
    assert r.status_code == 200
    assert set(r.json) == {"document_id", "status", "status_name", "status_description", "progress",
                           "quality_score", "error", "created_at", "last_update"}
    assert r.json["document_id"] == document


def test_the_database_down_is_flasks_503_after_one_wait(make_app, api_config, tmp_path):
    app = make_app(api_config.with_overrides(database_url="postgresql://postgres@127.0.0.1:1/invoice_scanner",
                                             documents_dir=tmp_path))
    repo = app.extensions["invoice_scanner"].repo
    calls: list[str] = []
    original = repo.authenticate_token_with_status

    def counted(digest, document_id):
        calls.append(document_id)
        return original(digest, document_id)

    repo.authenticate_token_with_status = counted
    fast, slow = Client(app.wsgi_app), Client(app.wsgi_app.wsgi_app)
    path, headers = f"/documents/{uuid.uuid4()}/status", {"Authorization": "Bearer t", "X-Request-ID": "r1"}
    answer = _answer(fast, path, headers)
    assert len(calls) == 1
    _same(answer, _answer(slow, path, headers))
    assert answer[0].startswith("503") and ("Retry-After", "5") in answer[1]


def test_in_debug_mode_flask_answers_indented(app, clients, tenant, document, flask_requests):
    fast, slow = clients
    path, headers = f"/documents/{document}/status", {**tenant.headers, "X-Request-ID": "r1"}
    app.debug = True
    try:
        answer = _answer(fast, path, headers)
        assert len(flask_requests) == 1 and b'\n  "' in answer[2]
        _same(answer, _answer(slow, path, headers))
    finally:
        app.debug = False
