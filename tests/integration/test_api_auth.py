"""Login, bearer tokens (expiry, revocation), the login rate limit and the admin CLI."""
from __future__ import annotations

import pytest

from invoice.scanner.api import cli
from invoice.scanner.api.auth import issue_token, token_digest

pytest_plugins = ["conftest_api"]  # the API fixtures


def test_login_returns_a_bearer_token_that_works(client, tenant, api_config, repo):
    resp = client.post("/auth/login", json={"email": tenant.email, "password": tenant.password})
    assert resp.status_code == 200
    body = resp.json
    assert set(body) == {"access_token", "token_type", "expires_in"}
    assert body["token_type"] == "Bearer" and body["expires_in"] == api_config.token_ttl_s
    assert len(body["access_token"]) >= 40
    assert client.get("/documents", headers={"Authorization": f"Bearer {body['access_token']}"}).status_code == 200
    # only the digest is stored
    with repo.tx() as cur:
        cur.execute("SELECT count(*) AS n FROM api_tokens WHERE token_sha256 = %s", (token_digest(body["access_token"]),))
        assert cur.fetchone()["n"] == 1
        cur.execute("SELECT count(*) AS n FROM api_tokens WHERE token_sha256 = %s", (body["access_token"],))
        assert cur.fetchone()["n"] == 0


def test_login_email_is_case_insensitive(client, tenant):
    resp = client.post("/auth/login", json={"email": tenant.email.upper(), "password": tenant.password})
    assert resp.status_code == 200


@pytest.mark.parametrize("who", ["wrong-password", "unknown-email"])
def test_bad_login_is_401(client, tenant, who):
    email = tenant.email if who == "wrong-password" else "nobody@example.test"
    password = "wrong" if who == "wrong-password" else tenant.password
    resp = client.post("/auth/login", json={"email": email, "password": password})
    assert resp.status_code == 401
    assert resp.json == {"code": 401, "status": "Unauthorized", "message": "Wrong email or password"}


def test_login_with_missing_fields_is_422(client):
    resp = client.post("/auth/login", json={"email": "a@b.c"})
    assert resp.status_code == 422 and "password" in resp.json["errors"]["json"]


@pytest.mark.parametrize("header", [None, "", "Bearer", "Bearer ", "Basic dXNlcjpwYXNz", "Bearer not-a-token",
                                    "Token abc"])
def test_protected_endpoints_need_a_valid_bearer_token(client, header):
    headers = {"Authorization": header} if header is not None else {}
    for method, path in (("get", "/documents"), ("get", "/documents/00000000-0000-0000-0000-000000000000"),
                         ("get", "/documents/00000000-0000-0000-0000-000000000000/status"),
                         ("post", "/documents/upload"), ("post", "/auth/logout"), ("get", "/metrics")):
        resp = getattr(client, method)(path, headers=headers)
        assert resp.status_code == 401, (method, path)
        assert resp.json["code"] == 401 and resp.json["status"] == "Unauthorized" and resp.json["message"]


def test_logout_revokes_the_token(client, tenant):
    assert client.get("/documents", headers=tenant.headers).status_code == 200
    resp = client.post("/auth/logout", headers=tenant.headers)
    assert resp.status_code == 200
    after = client.get("/documents", headers=tenant.headers)
    assert after.status_code == 401 and "revoked" in after.json["message"]


def test_expired_token_is_401(client, tenant, repo):
    expired = issue_token(repo, tenant.user_id, ttl_s=-1).access_token
    resp = client.get("/documents", headers={"Authorization": f"Bearer {expired}"})
    assert resp.status_code == 401 and "expired" in resp.json["message"]


def test_inactive_users_tokens_stop_working(client, tenant, repo):
    with repo.tx() as cur:
        cur.execute("UPDATE users SET is_active = false WHERE id = %s", (str(tenant.user_id),))
    assert client.get("/documents", headers=tenant.headers).status_code == 401
    assert client.post("/auth/login", json={"email": tenant.email, "password": tenant.password}).status_code == 401


def test_login_rate_limit_per_email_and_address(make_app, api_config, tenant):
    client = make_app(api_config.with_overrides(login_rate_limit=3)).test_client()
    for _ in range(3):
        assert client.post("/auth/login", json={"email": tenant.email, "password": "wrong"}).status_code == 401
    resp = client.post("/auth/login", json={"email": tenant.email, "password": tenant.password})
    assert resp.status_code == 429 and resp.json["code"] == 429 and resp.headers["Retry-After"] == "60"
    # another address is not locked out
    other = client.post("/auth/login", json={"email": tenant.email, "password": tenant.password},
                        environ_base={"REMOTE_ADDR": "10.1.2.3"})
    assert other.status_code == 200


def test_login_still_works_when_redis_is_down(make_app, api_config, tenant):
    client = make_app(api_config.with_overrides(redis_url="redis://127.0.0.1:1/5")).test_client()
    resp = client.post("/auth/login", json={"email": tenant.email, "password": tenant.password})
    assert resp.status_code == 200


def test_admin_cli_creates_company_user_and_token(client, api_config, monkeypatch, capsys):
    monkeypatch.setenv("DATABASE_URL", api_config.database_url)
    monkeypatch.setenv("REDIS_URL", api_config.redis_url)
    assert cli.main(["migrate"]) == 0
    email = "cli-user@example.test"
    assert cli.main(["create-user", "--company", "CLI Co", "--email", email, "--password", "s3cret"]) == 0
    assert cli.main(["create-user", "--company", "CLI Co", "--email", email, "--password", "x", "--if-missing"]) == 0
    out = capsys.readouterr().out
    assert "company_id=" in out and "user_id=" in out
    # a second create without --if-missing fails cleanly
    assert cli.main(["create-user", "--company", "CLI Co", "--email", email, "--password", "x"]) == 1
    capsys.readouterr()
    assert cli.main(["create-token", "--email", email]) == 0
    token = capsys.readouterr().out.strip()
    assert client.get("/documents", headers={"Authorization": f"Bearer {token}"}).status_code == 200
    assert cli.main(["create-token", "--email", "missing@example.test"]) == 1


def test_rate_limit_uses_the_forwarded_address_behind_a_trusted_proxy(make_app, api_config, tenant):
    client = make_app(api_config.with_overrides(login_rate_limit=1, proxy_hops=1)).test_client()
    wrong = {"email": tenant.email, "password": "wrong"}
    assert client.post("/auth/login", json=wrong, headers={"X-Forwarded-For": "203.0.113.1"}).status_code == 401
    assert client.post("/auth/login", json=wrong, headers={"X-Forwarded-For": "203.0.113.1"}).status_code == 429
    assert client.post("/auth/login", json=wrong, headers={"X-Forwarded-For": "203.0.113.2"}).status_code == 401
