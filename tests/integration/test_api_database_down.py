"""While PostgreSQL is unreachable (a restart), the API answers a clear, retryable 503."""
from __future__ import annotations

import io

import pytest

pytest.register_assert_rewrite("conftest_api")
from conftest_api import make_pdf  # noqa: E402

pytest_plugins = ["conftest_api"]


def test_requests_get_503_with_retry_after_when_the_database_is_down(make_app, api_config, tmp_path):
    client = make_app(api_config.with_overrides(database_url="postgresql://postgres@127.0.0.1:1/invoice_scanner",
                                                documents_dir=tmp_path)).test_client()
    headers = {"Authorization": "Bearer some-token"}
    for resp in (client.get("/documents", headers=headers),
                 client.post("/documents/upload", headers=headers,
                             data={"file": (io.BytesIO(make_pdf()), "a.pdf")})):
        assert resp.status_code == 503, resp.get_data(as_text=True)
        assert resp.json["code"] == 503 and "database" in resp.json["message"]
        assert resp.headers["Retry-After"] == "5"
    assert not any(tmp_path.rglob("original.*"))  # nothing stored for an upload that was not recorded
