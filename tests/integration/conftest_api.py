"""Fixtures for the API's integration tests (imported by `test_api_*.py`).

Real PostgreSQL (database `invoice_scanner_test_api`, created and migrated once per session)
and real Redis (db 5, flushed before each test).
"""
from __future__ import annotations

import base64
import io
import json
import uuid
from dataclasses import dataclass
from typing import Any, Callable

import pytest
import redis

from invoice.scanner.api import create_app
from invoice.scanner.api.auth import hash_password, issue_token
from invoice.scanner.api.config import ApiConfig
from invoice.scanner.api.repository import ApiRepository

API_DATABASE = "invoice_scanner_test_api"
API_REDIS_DB = 5
TEST_PASSWORD = "correct horse battery staple"
_created: dict[str, str] = {}
_password_hash: list[str] = []  # scrypt is slow by design; hash the shared test password once


def _test_password_hash() -> str:
    if not _password_hash:
        _password_hash.append(hash_password(TEST_PASSWORD))
    return _password_hash[0]


@dataclass
class Tenant:
    company_id: uuid.UUID
    user_id: uuid.UUID
    email: str
    password: str
    token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


@pytest.fixture
def api_database_url(fresh_database) -> str:
    # Created once per session even though each test module imports this fixture.
    if API_DATABASE not in _created:
        _created[API_DATABASE] = fresh_database(API_DATABASE)
    return _created[API_DATABASE]


@pytest.fixture
def api_redis_url(redis_db_url) -> str:
    return redis_db_url(API_REDIS_DB)


@pytest.fixture
def redis_client(api_redis_url) -> redis.Redis:
    return redis.Redis.from_url(api_redis_url)


@pytest.fixture
def api_config(tmp_path, api_database_url, api_redis_url) -> ApiConfig:
    return ApiConfig.from_env({}).with_overrides(
        database_url=api_database_url, redis_url=api_redis_url, documents_dir=tmp_path / "documents")


@pytest.fixture
def make_app() -> Callable[[ApiConfig], Any]:
    def make(config: ApiConfig):
        app = create_app(config)
        app.config["TESTING"] = True
        return app

    return make


@pytest.fixture
def app(make_app, api_config):
    return make_app(api_config)


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def repo(api_database_url) -> ApiRepository:
    return ApiRepository(api_database_url)


@pytest.fixture
def make_tenant(repo, api_config) -> Callable[[], Tenant]:
    """A new company with one user and a valid token."""

    def make() -> Tenant:
        tag = uuid.uuid4().hex[:10]
        company, _ = repo.get_or_create_company(f"Company {tag}")
        user = repo.create_user(company.id, f"user-{tag}@example.test", _test_password_hash())
        token = issue_token(repo, user.id, api_config.token_ttl_s).access_token
        return Tenant(company.id, user.id, user.email, TEST_PASSWORD, token)

    return make


@pytest.fixture
def tenant(make_tenant) -> Tenant:
    return make_tenant()


# -- test files ------------------------------------------------------------------------------


def make_pdf(pages: int = 1, text: str | None = None, encrypt_password: str | None = None) -> bytes:
    from reportlab.lib import pdfencrypt
    from reportlab.pdfgen import canvas

    buf = io.BytesIO()
    encrypt = pdfencrypt.StandardEncryption(encrypt_password, "owner") if encrypt_password else None
    c = canvas.Canvas(buf, encrypt=encrypt)
    text = text or f"Invoice {uuid.uuid4()}"
    for n in range(pages):
        c.drawString(72, 720, f"{text} page {n + 1}")
        c.drawString(72, 700, "Total: 1,250.00 EUR")
        c.showPage()
    c.save()
    return buf.getvalue()


def make_image(fmt: str = "PNG", size: tuple[int, int] = (120, 80), mode: str = "RGB", frames: int = 1) -> bytes:
    from PIL import Image, ImageDraw

    images = []
    for _ in range(frames):
        img = Image.new(mode, size, "white")
        ImageDraw.Draw(img).text((5, 5), uuid.uuid4().hex[:8], fill="black")
        images.append(img)
    buf = io.BytesIO()
    if frames > 1:
        images[0].save(buf, fmt, save_all=True, append_images=images[1:])
    else:
        images[0].save(buf, fmt)
    return buf.getvalue()


def upload(client, tenant: Tenant, data: bytes, filename: str = "invoice.pdf", **kwargs):
    return client.post("/documents/upload", data={"file": (io.BytesIO(data), filename)}, headers=tenant.headers,
                       content_type="multipart/form-data", **kwargs)


def queued_messages(redis_client: redis.Redis, queue: str = "orchestrator") -> list[dict[str, Any]]:
    """Celery messages waiting in a Redis queue: task name, args and kwargs."""
    out = []
    for raw in redis_client.lrange(queue, 0, -1):
        message = json.loads(raw)
        args, kwargs, _ = json.loads(base64.b64decode(message["body"]))
        out.append({"task": message["headers"]["task"], "id": message["headers"]["id"], "args": args,
                    "kwargs": kwargs})
    return out
