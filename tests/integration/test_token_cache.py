"""Token checks answered from a short per-process cache, with revocation immediate across API
processes (a generation counter in Redis), against real PostgreSQL and Redis. Two Flask apps
built from the same config stand for two API processes: each has its own cache."""
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


def _counting(app) -> list[str]:
    """Record every token check that reaches the database in this app."""
    state = app.extensions["invoice_scanner"]
    calls: list[str] = []
    original = state.repo.authenticate_token

    def counted(digest):
        calls.append(digest)
        return original(digest)

    state.repo.authenticate_token = counted
    return calls


def _status(client, tenant, doc_id: str) -> int:
    return client.get(f"/documents/{doc_id}/status", headers=tenant.headers).status_code


@pytest.fixture
def document(two_processes, tenant) -> str:
    resp = upload(two_processes[0].test_client(), tenant, make_pdf(), "invoice.pdf")
    assert resp.status_code == 201, resp.json
    return resp.json["document"]["id"]


def test_a_poll_answers_from_the_cache(two_processes, tenant, document):
    _, b = two_processes  # `a` took the upload; `b` has not seen the token yet
    calls = _counting(b)
    client = b.test_client()
    for _ in range(5):
        assert _status(client, tenant, document) == 200
    assert len(calls) == 1, "only the first check reads the tokens table"


def test_logout_revokes_in_every_process_at_once(two_processes, tenant, document):
    a, b = two_processes
    ca, cb = a.test_client(), b.test_client()
    assert _status(ca, tenant, document) == 200 and _status(cb, tenant, document) == 200  # cached in both
    assert ca.post("/auth/logout", headers=tenant.headers).status_code == 200
    assert _status(cb, tenant, document) == 401
    assert _status(ca, tenant, document) == 401


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
    assert client.get(f"/documents/{document}/status", headers=headers).status_code == 200
    time.sleep(1.3)
    assert client.get(f"/documents/{document}/status", headers=headers).status_code == 401


def test_changes_behind_the_api_apply_within_the_ttl(make_app, api_config, tenant, repo, document):
    app = make_app(api_config.with_overrides(auth_cache_ttl_s=0.5))
    client = app.test_client()
    assert _status(client, tenant, document) == 200
    with repo.tx() as cur:  # revoked by hand, in SQL: nobody tells the cache
        cur.execute("UPDATE api_tokens SET revoked_at = now() WHERE user_id = %s", (str(tenant.user_id),))
    time.sleep(0.7)
    assert _status(client, tenant, document) == 401


def test_without_redis_every_check_asks_the_database(make_app, api_config, tenant, document):
    app = make_app(api_config.with_overrides(redis_url="redis://127.0.0.1:1/0", broker_timeout_s=0.2))
    calls = _counting(app)
    client = app.test_client()
    for _ in range(3):
        assert _status(client, tenant, document) == 200
    assert len(calls) == 3
    assert client.post("/auth/logout", headers=tenant.headers).status_code == 200
    assert _status(client, tenant, document) == 401


def test_ttl_zero_turns_the_cache_off(make_app, api_config, tenant, document):
    app = make_app(api_config.with_overrides(auth_cache_ttl_s=0))
    calls = _counting(app)
    client = app.test_client()
    for _ in range(3):
        assert _status(client, tenant, document) == 200
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
