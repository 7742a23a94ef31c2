"""API log lines carry the request id and, on document routes, the document id."""
from __future__ import annotations

import io
import logging
import uuid

import pytest

pytest.register_assert_rewrite("conftest_api")
from conftest_api import make_pdf  # noqa: E402
from invoice.scanner.processing import logcontext

pytest_plugins = ["conftest_api"]  # the API fixtures


class _Records(logging.Handler):
    def __init__(self):
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record):
        self.records.append(record)


@pytest.fixture
def records():
    """Records reaching the root logger, through the context filter (as under gunicorn)."""
    handler = _Records()
    logcontext.install([handler], "text")
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    yield handler.records
    root.removeHandler(handler)
    root.setLevel(level)


def test_upload_lines_carry_the_request_and_the_document(client, make_tenant, records):
    tenant = make_tenant()
    resp = client.post("/documents/upload", data={"file": (io.BytesIO(make_pdf()), "invoice.pdf")},
                       headers={**tenant.headers, "X-Request-ID": "client-req-42"}, content_type="multipart/form-data")
    assert resp.status_code == 201, resp.json
    assert resp.headers["X-Request-ID"] == "client-req-42"
    doc_id = resp.json["document"]["id"]
    stored = [r for r in records if r.name == "invoice.scanner.api.services" and "stored" in r.getMessage()]
    assert stored, [r.getMessage() for r in records]
    assert stored[0].document_id == doc_id and stored[0].request_id == "client-req-42"
    assert f"[document_id={doc_id} request_id=client-req-42] " == stored[0].context


def test_document_routes_bind_the_document_id_from_the_url(client, make_tenant, records):
    tenant = make_tenant()
    doc_id = str(uuid.uuid4())
    logger = logging.getLogger("invoice.scanner.api.views.documents")

    @client.application.before_request
    def _log_something():  # a line written while the request is served, by any module
        logger.info("serving %s", doc_id)

    resp = client.get(f"/documents/{doc_id}/status", headers=tenant.headers)
    assert resp.status_code == 404
    line = next(r for r in records if r.getMessage() == f"serving {doc_id}")
    assert line.document_id == doc_id
    assert len(line.request_id) == 32 and resp.headers["X-Request-ID"] == line.request_id  # a new id
    assert logcontext.current() == {}  # nothing leaks past the request


def test_a_client_request_id_that_is_not_plain_is_replaced(client):
    resp = client.get("/health", headers={"X-Request-ID": "bad id; with spaces"})
    assert len(resp.headers["X-Request-ID"]) == 32  # a new one: client text never reaches log lines unchecked
