"""Token checks answered from a short per-process cache, with revocation immediate across API
processes (a generation counter in Redis), against real PostgreSQL and Redis. Two Flask apps
built from the same config stand for two API processes: each has its own cache.

The status poll checks its token in the statement that reads the status (no cache, no Redis):
its tests are at the end. The cache's tests read a document (`GET /documents/<id>`)."""
from __future__ import annotations

import time
import uuid

import pytest

pytest.register_assert_rewrite("conftest_api")
from conftest_api import make_pdf, upload  # noqa: E402
from invoice.scanner.api.auth import TokenCache, issue_token
from invoice.scanner.api.config import ApiConfig

pytest_plugins = ["conftest_api"]


@pytest.fixture
def two_processes(make_app, api_config):
    return make_app(api_config), make_app(api_config)


def _counting(app, method: str = "authenticate_token") -> list[str]:
    """Record every call of the repository's `method` (a token check reaching the database) in this app."""
    state = app.extensions["invoice_scanner"]
    calls: list[str] = []
    original = getattr(state.repo, method)

    def counted(digest, *args):
        calls.append(digest)
        return original(digest, *args)

    setattr(state.repo, method, counted)
    return calls


def _read(client, tenant, doc_id: str) -> int:
    """A cached token check: the document's data."""
    return client.get(f"/documents/{doc_id}", headers=tenant.headers).status_code


def _status(client, tenant, doc_id: str) -> int:
    """The poll: its token checked in its own statement."""
    return client.get(f"/documents/{doc_id}/status", headers=tenant.headers).status_code


@pytest.fixture
def document(two_processes, tenant) -> str:
    resp = upload(two_processes[0].test_client(), tenant, make_pdf(), "invoice.pdf")
    assert resp.status_code == 201, resp.json
    return resp.json["document"]["id"]


def test_a_read_answers_from_the_cache(two_processes, tenant, document):
    _, b = two_processes  # `a` took the upload; `b` has not seen the token yet
    calls = _counting(b)
    client = b.test_client()
    for _ in range(5):
        assert _read(client, tenant, document) == 200
    assert len(calls) == 1, "only the first check reads the tokens table"


def test_logout_revokes_in_every_process_at_once(two_processes, tenant, document):
    a, b = two_processes
    ca, cb = a.test_client(), b.test_client()
    assert _read(ca, tenant, document) == 200 and _read(cb, tenant, document) == 200  # cached in both
    assert ca.post("/auth/logout", headers=tenant.headers).status_code == 200
    assert _read(cb, tenant, document) == 401
    assert _read(ca, tenant, document) == 401


def test_deactivating_a_user_applies_to_the_next_request_everywhere(two_processes, make_tenant, repo, api_config):
    a, b = two_processes
    admin = make_tenant()
    # A second user of the same company, with a token of its own.
    other = repo.create_user(admin.company_id, f"other-{uuid.uuid4().hex[:8]}@example.test", "x", role="uploader")
    token = issue_token(repo, other.id, 3600).access_token
    headers = {"Authorization": f"Bearer {token}"}
    cb = b.test_client()
    assert cb.get("/documents", headers=headers).status_code == 200  # cached in b
    r = a.test_client().patch(f"/users/{other.id}", json={"is_active": False}, headers=admin.headers)
    assert r.status_code == 200, r.json
    assert cb.get("/documents", headers=headers).status_code == 401


def test_a_cached_token_never_outlives_its_expiry(make_app, api_config, tenant, repo, document):
    app = make_app(api_config)
    token = issue_token(repo, tenant.user_id, 1).access_token
    client = app.test_client()
    headers = {"Authorization": f"Bearer {token}"}
    assert client.get(f"/documents/{document}", headers=headers).status_code == 200
    time.sleep(1.3)
    assert client.get(f"/documents/{document}", headers=headers).status_code == 401


def test_changes_behind_the_api_apply_within_the_ttl(make_app, api_config, tenant, repo, document):
    app = make_app(api_config.with_overrides(auth_cache_ttl_s=0.5))
    client = app.test_client()
    assert _read(client, tenant, document) == 200
    with repo.tx() as cur:  # revoked by hand, in SQL: nobody tells the cache
        cur.execute("UPDATE api_tokens SET revoked_at = now() WHERE user_id = %s", (str(tenant.user_id),))
    time.sleep(0.7)
    assert _read(client, tenant, document) == 401


def test_without_redis_every_check_asks_the_database(make_app, api_config, tenant, document):
    app = make_app(api_config.with_overrides(redis_url="redis://127.0.0.1:1/0", broker_timeout_s=0.2))
    calls = _counting(app)
    client = app.test_client()
    for _ in range(3):
        assert _read(client, tenant, document) == 200
    assert len(calls) == 3
    assert client.post("/auth/logout", headers=tenant.headers).status_code == 200
    assert _read(client, tenant, document) == 401


def test_ttl_zero_turns_the_cache_off(make_app, api_config, tenant, document):
    app = make_app(api_config.with_overrides(auth_cache_ttl_s=0))
    calls = _counting(app)
    client = app.test_client()
    for _ in range(3):
        assert _read(client, tenant, document) == 200
    assert len(calls) == 3


def test_status_of_another_company_or_a_bad_id_is_404(two_processes, make_tenant, document):
    client = two_processes[0].test_client()
    stranger = make_tenant()
    assert _status(client, stranger, document) == 404
    assert _status(client, stranger, "not-a-uuid") == 404
    assert _status(client, stranger, str(uuid.uuid4())) == 404


def test_the_setting_is_read_from_the_environment():
    assert ApiConfig.from_env({"AUTH_CACHE_TTL_S": "5"}).auth_cache_ttl_s == 5
    assert TokenCache.GENERATION_KEY.startswith("invoice-scanner:")


# -- the status poll: its token checked in the statement that reads the status ------------


def test_every_poll_checks_its_token_in_its_own_statement(two_processes, tenant, document):
    _, b = two_processes
    cached, own = _counting(b), _counting(b, "authenticate_token_with_status")
    client = b.test_client()
    for _ in range(4):
        assert _status(client, tenant, document) == 200
    assert cached == [] and len(own) == 4


def test_a_token_revoked_by_hand_is_refused_by_the_next_poll_everywhere(two_processes, tenant, repo, document):
    a, b = two_processes
    ca, cb = a.test_client(), b.test_client()
    assert _read(cb, tenant, document) == 200  # the token is in b's cache too
    assert _status(ca, tenant, document) == 200 and _status(cb, tenant, document) == 200
    with repo.tx() as cur:  # in SQL, behind the API's back: no process is told
        cur.execute("UPDATE api_tokens SET revoked_at = now() WHERE user_id = %s", (str(tenant.user_id),))
    assert _status(ca, tenant, document) == 401 and _status(cb, tenant, document) == 401
    r = cb.get(f"/documents/{document}/status", headers=tenant.headers)
    assert r.json == {"code": 401, "status": "Unauthorized", "message": "Invalid, expired or revoked token"}


def test_a_poll_after_logout_or_deactivation_is_refused(two_processes, make_tenant, repo, document, tenant):
    a, b = two_processes
    cb = b.test_client()
    assert a.test_client().post("/auth/logout", headers=tenant.headers).status_code == 200
    assert _status(cb, tenant, document) == 401
    other = repo.create_user(tenant.company_id, f"other-{uuid.uuid4().hex[:8]}@example.test", "x", role="uploader")
    headers = {"Authorization": f"Bearer {issue_token(repo, other.id, 3600).access_token}"}
    assert cb.get(f"/documents/{document}/status", headers=headers).status_code == 200  # same company
    with repo.tx() as cur:
        cur.execute("UPDATE users SET is_active = false WHERE id = %s", (str(other.id),))
    assert cb.get(f"/documents/{document}/status", headers=headers).status_code == 401


def test_an_expired_token_is_refused_by_the_poll(make_app, api_config, tenant, repo, document):
    client = make_app(api_config).test_client()
    headers = {"Authorization": f"Bearer {issue_token(repo, tenant.user_id, 1).access_token}"}
    assert client.get(f"/documents/{document}/status", headers=headers).status_code == 200
    time.sleep(1.3)
    assert client.get(f"/documents/{document}/status", headers=headers).status_code == 401


def test_the_poll_needs_no_redis(make_app, api_config, tenant, document):
    app = make_app(api_config.with_overrides(redis_url="redis://127.0.0.1:1/0", broker_timeout_s=0.2))
    client = app.test_client()
    r = client.get(f"/documents/{document}/status", headers=tenant.headers)
    assert r.status_code == 200 and r.json["document_id"] == document and r.json["status"]


def test_the_poll_answers_in_the_order_of_its_checks(make_app, api_config, tenant, repo, document):
    """401 before 403 before 404, whatever the id: a bad token never learns whether a document exists."""
    client = make_app(api_config).test_client()
    bad = {"Authorization": "Bearer not-a-token"}
    for doc_id in (document, str(uuid.uuid4()), "not-a-uuid"):
        assert client.get(f"/documents/{doc_id}/status", headers=bad).status_code == 401
        assert client.get(f"/documents/{doc_id}/status").status_code == 401
    upload_only = {"Authorization": "Bearer " + issue_token(repo, tenant.user_id, 3600,
                                                            scopes=["documents:write"]).access_token}
    for doc_id in (document, str(uuid.uuid4()), "not-a-uuid"):
        r = client.get(f"/documents/{doc_id}/status", headers=upload_only)
        assert r.status_code == 403 and "documents:read" in r.json["message"], r.json
    r = client.get(f"/documents/{uuid.uuid4()}/status", headers=tenant.headers)
    assert r.json == {"code": 404, "status": "Not Found", "message": "Document not found"}
