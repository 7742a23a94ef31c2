"""Page images, OCR words, the original file, the list's search and dates, and the web client at `/`."""
from __future__ import annotations

import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from werkzeug.routing import IntegerConverter

pytest.register_assert_rewrite("conftest_api")
from conftest_api import make_image, make_pdf, upload  # noqa: E402
from invoice.scanner.api.webapp import CONTENT_SECURITY_POLICY
from invoice.scanner.processing.db.repository import Repository
from invoice.scanner.processing.models import (
    Extraction,
    NormalizedField,
    OcrLine,
    OcrPage,
    OcrWord,
    PageImage,
)
from invoice.scanner.processing.status import Status

pytest_plugins = ["conftest_api"]  # the API fixtures

WIDTH, HEIGHT = 400, 600


def _upload_id(client, tenant, data=None, filename="invoice.pdf") -> str:
    resp = upload(client, tenant, data or make_pdf(), filename=filename)
    assert resp.status_code == 201, resp.json
    return resp.json["document"]["id"]


def _stored_path(repo, doc_id: str) -> Path:
    with repo.tx() as cur:
        cur.execute("SELECT stored_path FROM documents WHERE id = %s", (doc_id,))
        return Path(cur.fetchone()["stored_path"])


def _render_and_ocr(api_config, repo, doc_id: str) -> bytes:
    """What preprocessing and OCR leave behind: a page PNG beside the original, and its OCR lines."""
    from PIL import Image

    page_file = _stored_path(repo, doc_id).parent / "pages" / "page-0001.png"
    page_file.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (WIDTH, HEIGHT), "white").save(page_file, "PNG")
    pipeline = Repository(api_config.database_url)
    pipeline.save_pages(doc_id, [PageImage(page_no=1, image_path=str(page_file), width=WIDTH, height=HEIGHT,
                                           dpi=200)])
    words = [OcrWord("Invoice", (40, 60, 140, 90), 0.99), OcrWord("INV-7", (150, 60, 230, 90), 0.91)]
    pipeline.save_ocr(doc_id, [OcrPage(page_no=1, width=WIDTH, height=HEIGHT, engine="rapidocr",
                                       lines=[OcrLine("Invoice INV-7", (40, 60, 230, 90), 0.95, words)],
                                       seconds=0.1)])
    return page_file.read_bytes()


# -- the original file ---------------------------------------------------------------------


def test_file_is_the_original_bytes_as_a_safe_attachment(client, tenant, repo):
    data = make_pdf()
    doc_id = _upload_id(client, tenant, data)
    with repo.tx() as cur:  # a name as hostile as a stored one can be (an older row, another client)
        cur.execute("UPDATE documents SET original_filename = %s WHERE id = %s",
                    ('Rechnung "März"\r\nX-Evil: 1 <1>.pdf', doc_id))
    resp = client.get(f"/documents/{doc_id}/file", headers=tenant.headers)
    assert resp.status_code == 200
    assert resp.data == data
    assert resp.mimetype == "application/pdf"
    disposition = resp.headers["Content-Disposition"]
    assert disposition.startswith("attachment;")
    assert "filename*=UTF-8''" in disposition  # the non-ASCII name, percent-encoded (RFC 5987)
    assert "\n" not in disposition and "\r" not in disposition and "X-Evil" not in resp.headers
    assert 'filename="Rechnung \\"Marz\\"X-Evil: 1 <1>.pdf"' in disposition  # ASCII fallback, quoted
    assert resp.headers["X-Content-Type-Options"] == "nosniff"
    assert resp.headers["Content-Security-Policy"].startswith("sandbox")
    assert "private" in resp.headers["Cache-Control"]


def test_file_of_an_image_upload_keeps_its_type(client, tenant):
    data = make_image("PNG")
    doc_id = _upload_id(client, tenant, data, filename="scan.png")
    resp = client.get(f"/documents/{doc_id}/file", headers=tenant.headers)
    assert resp.status_code == 200 and resp.data == data and resp.mimetype == "image/png"


def test_file_page_and_ocr_of_another_company_are_404(client, tenant, make_tenant, api_config, repo):
    doc_id = _upload_id(client, tenant)
    _render_and_ocr(api_config, repo, doc_id)
    other = make_tenant()
    for path in ("file", "pages/1/image", "ocr"):
        resp = client.get(f"/documents/{doc_id}/{path}", headers=other.headers)
        assert resp.status_code == 404, path
        assert resp.json["code"] == 404 and resp.json["message"]
        assert client.get(f"/documents/{doc_id}/{path}").status_code == 401, path
        assert client.get(f"/documents/{uuid.uuid4()}/{path}", headers=tenant.headers).status_code == 404
        assert client.get(f"/documents/not-an-id/{path}", headers=tenant.headers).status_code == 404


def test_file_missing_on_the_volume_is_404(client, tenant, repo):
    doc_id = _upload_id(client, tenant)
    _stored_path(repo, doc_id).unlink()
    resp = client.get(f"/documents/{doc_id}/file", headers=tenant.headers)
    assert resp.status_code == 404 and resp.json["message"] == "The file is not available"


# -- page images ---------------------------------------------------------------------------


def test_page_image_is_the_rendered_png_cached_privately(client, tenant, api_config, repo):
    doc_id = _upload_id(client, tenant)
    png = _render_and_ocr(api_config, repo, doc_id)
    resp = client.get(f"/documents/{doc_id}/pages/1/image", headers=tenant.headers)
    assert resp.status_code == 200
    assert resp.mimetype == "image/png" and resp.data == png
    cache = resp.headers["Cache-Control"]
    assert "private" in cache and "max-age=3600" in cache and "public" not in cache
    assert "Authorization" in resp.headers["Vary"]
    etag = resp.headers["ETag"]
    again = client.get(f"/documents/{doc_id}/pages/1/image", headers={**tenant.headers, "If-None-Match": etag})
    assert again.status_code == 304 and again.data == b""


def test_page_that_does_not_exist_is_404(client, tenant, api_config, repo):
    doc_id = _upload_id(client, tenant)
    assert client.get(f"/documents/{doc_id}/pages/1/image", headers=tenant.headers).status_code == 404  # not rendered
    _render_and_ocr(api_config, repo, doc_id)
    for n in (0, 2):
        resp = client.get(f"/documents/{doc_id}/pages/{n}/image", headers=tenant.headers)
        assert resp.status_code == 404 and resp.json["message"] == "Page not found"


# -- OCR -----------------------------------------------------------------------------------


def test_ocr_words_and_lines_are_normalized_like_field_boxes(client, tenant, api_config, repo):
    doc_id = _upload_id(client, tenant)
    _render_and_ocr(api_config, repo, doc_id)
    resp = client.get(f"/documents/{doc_id}/ocr", headers=tenant.headers)
    assert resp.status_code == 200
    (page,) = resp.json["pages"]
    assert resp.json["document_id"] == doc_id
    assert page["page_no"] == 1 and page["width"] == WIDTH and page["height"] == HEIGHT
    assert page["engine"] == "rapidocr" and page["confidence"] == pytest.approx(0.95)
    (line,) = page["lines"]
    assert line["text"] == "Invoice INV-7"
    assert line["bbox"] == pytest.approx([40 / WIDTH, 60 / HEIGHT, 230 / WIDTH, 90 / HEIGHT])
    assert [w["text"] for w in line["words"]] == ["Invoice", "INV-7"]
    assert line["words"][1]["bbox"] == pytest.approx([150 / WIDTH, 0.1, 230 / WIDTH, 0.15])
    assert line["words"][1]["confidence"] == pytest.approx(0.91)


def test_ocr_before_the_ocr_stage_has_pages_without_lines(client, tenant, api_config):
    doc_id = _upload_id(client, tenant)
    assert client.get(f"/documents/{doc_id}/ocr", headers=tenant.headers).json["pages"] == []
    Repository(api_config.database_url).save_pages(
        doc_id, [PageImage(page_no=1, image_path="/nowhere.png", width=WIDTH, height=HEIGHT, dpi=200)])
    (page,) = client.get(f"/documents/{doc_id}/ocr", headers=tenant.headers).json["pages"]
    assert page["lines"] == [] and page["engine"] is None


# -- the list: search and dates ------------------------------------------------------------


def _with_fields(api_config, doc_id: str, vendor: str, number: str) -> None:
    pipeline = Repository(api_config.database_url)
    pipeline.save_extraction(doc_id, Extraction(fields={
        "vendor_name": NormalizedField("vendor_name", vendor, vendor, 0.9),
        "invoice_number": NormalizedField("invoice_number", number, number, 0.9),
    }, line_items=[]))


def test_list_searches_vendor_number_and_file_name(client, make_tenant, api_config):
    tenant = make_tenant()
    acme = _upload_id(client, tenant, filename="a.pdf")
    _with_fields(api_config, acme, "Acme Corp", "INV-100")
    globex = _upload_id(client, tenant, filename="b.pdf")
    _with_fields(api_config, globex, "Globex 50%_off", "G-7")
    named = _upload_id(client, tenant, filename="march-acme.pdf")

    def ids(q: str) -> list[str]:
        resp = client.get("/documents", query_string={"q": q}, headers=tenant.headers)
        assert resp.status_code == 200, resp.json
        assert resp.json["total"] == len(resp.json["documents"])
        return [d["id"] for d in resp.json["documents"]]

    assert ids("acme") == [named, acme]  # vendor (any case) and file name, newest first
    assert ids("inv-100") == [acme]
    assert ids("50%_") == [globex]
    assert ids("%") == [globex]  # wildcards match literally
    assert ids("nothing like it") == []
    assert make_tenant() and ids("acme") == [named, acme]  # never another company's


def test_list_filters_by_upload_date_and_pages_within_the_filter(client, make_tenant, repo):
    tenant = make_tenant()
    docs = [_upload_id(client, tenant) for _ in range(3)]
    old = datetime(2024, 3, 10, 23, 30, tzinfo=timezone.utc)
    with repo.tx() as cur:
        for n, doc_id in enumerate(docs[:2]):
            cur.execute("UPDATE documents SET created_at = %s WHERE id = %s", (old - timedelta(minutes=n), doc_id))

    def get(**query):
        resp = client.get("/documents", query_string=query, headers=tenant.headers)
        assert resp.status_code == 200, resp.json
        return resp.json

    day = get(created_from="2024-03-10", created_to="2024-03-10")
    assert [d["id"] for d in day["documents"]] == docs[:2] and day["total"] == 2
    assert [d["id"] for d in get(created_from="2024-03-11")["documents"]] == [docs[2]]
    assert [d["id"] for d in get(created_to="2024-03-09")["documents"]] == []
    first = get(created_to="2024-03-10", limit=1)
    assert [d["id"] for d in first["documents"]] == [docs[0]] and first["next_cursor"]
    second = get(created_to="2024-03-10", limit=1, cursor=first["next_cursor"])
    assert [d["id"] for d in second["documents"]] == [docs[1]] and second["next_cursor"] is None
    both = get(created_to="2024-03-10", status=Status.PREPROCESSING.value)
    assert both["total"] == 2


@pytest.mark.parametrize("query", [{"created_from": "10/03/2024"}, {"created_to": "2024-02-30"},
                                   {"created_from": "2024-03-11", "created_to": "2024-03-10"}, {"q": ""},
                                   {"q": "x" * 201}])
def test_list_rejects_bad_dates_and_search(client, tenant, query):
    resp = client.get("/documents", query_string=query, headers=tenant.headers)
    assert resp.status_code == 422 and resp.json["errors"]


# -- the web client at / -------------------------------------------------------------------


@pytest.fixture
def web_client(make_app, api_config, tmp_path):
    dist = tmp_path / "dist"
    (dist / "assets").mkdir(parents=True)
    (dist / "index.html").write_text('<!doctype html><script type="module" src="/assets/index-abc.js"></script>')
    (dist / "assets" / "index-abc.js").write_text("console.log('hi')")
    return make_app(api_config.with_overrides(web_dist_dir=dist)).test_client()


@pytest.mark.parametrize("path", ["/", "/app", "/app/documents", "/app/documents/5d1a/pages"])
def test_client_routes_answer_the_index_with_a_csp(web_client, path):
    resp = web_client.get(path)
    assert resp.status_code == 200
    assert b"/assets/index-abc.js" in resp.data
    assert resp.headers["Content-Security-Policy"] == CONTENT_SECURITY_POLICY
    assert "script-src 'self'" in CONTENT_SECURITY_POLICY and "unsafe-inline" not in CONTENT_SECURITY_POLICY
    assert "no-cache" in resp.headers["Cache-Control"]
    assert resp.headers["X-Frame-Options"] == "DENY"


def test_assets_are_cached_for_good(web_client):
    resp = web_client.get("/assets/index-abc.js")
    assert resp.status_code == 200 and resp.data == b"console.log('hi')"
    assert "immutable" in resp.headers["Cache-Control"]
    assert web_client.get("/assets/../index.html").status_code == 404
    assert web_client.get("/assets/missing.js").status_code == 404


def test_api_paths_are_unchanged_beside_the_client(web_client, tenant):
    assert web_client.get("/health").status_code in (200, 503)
    assert web_client.get("/openapi.json").json["info"]["title"] == "Invoice Scanner API"
    assert web_client.get("/docs").status_code == 200
    assert web_client.get("/metrics").status_code == 401
    listed = web_client.get("/documents")
    assert listed.status_code == 401 and listed.is_json  # the API's, not the client's index
    assert web_client.get("/documents", headers=tenant.headers).json["documents"] == []
    assert web_client.post("/auth/login", json={"email": "x@y.z", "password": "no"}).status_code == 401
    assert web_client.get("/no-such-path").status_code == 404
    assert "Content-Security-Policy" not in web_client.get("/documents", headers=tenant.headers).headers


def test_client_not_built_is_a_clear_404(make_app, api_config, tmp_path):
    client = make_app(api_config.with_overrides(web_dist_dir=tmp_path / "nothing")).test_client()
    resp = client.get("/")
    assert resp.status_code == 404 and "make setup" in resp.json["message"]


def test_no_api_route_is_shadowed_by_the_client(web_client, tenant):
    """Every GET route of the API still answers itself (JSON, a file, Swagger UI), never the client's index."""
    app = web_client.application
    seen = 0
    for rule in app.url_map.iter_rules():
        if rule.endpoint.startswith("webapp.") or "GET" not in rule.methods:
            continue
        values = {arg: 1 if isinstance(rule._converters.get(arg), IntegerConverter) else str(uuid.uuid4())
                  for arg in rule.arguments}
        path = rule.build(values, append_unknown=False)[1] if rule.arguments else rule.rule
        for headers in ({}, tenant.headers):
            resp = web_client.get(path, headers=headers)
            assert b"/assets/index-abc.js" not in resp.data, (rule.rule, resp.status_code)
        seen += 1
    assert seen >= 20  # the documents, review, vendors, users, stats, exports, webhooks, health, metrics, docs routes
