"""A born-digital page is not rendered by preprocessing; the web client's page image is rendered
from the original on request, at the size its words were measured in (local folder and bucket)."""
from __future__ import annotations

import io

import pytest

pytest.register_assert_rewrite("conftest_api")
from conftest_api import make_pdf, upload  # noqa: E402
from invoice.scanner.processing.db.repository import Repository
from invoice.scanner.processing.stages.preprocessing import PageWriter, preprocess
from invoice.scanner.processing.storage import document_prefix, get_storage
from invoice.scanner.processing.vision.page_image import lazy_page

pytest_plugins = ["conftest_api", "s3server"]


def _preprocess(config, doc_id: str) -> list:
    """What the preprocessing stage does for the document, with this config's storage."""
    pipeline = Repository(config.database_url)
    doc = pipeline.get_document(doc_id)
    storage = get_storage(config.processing)
    writer = PageWriter(storage, f"{document_prefix(str(doc.company_id), doc_id)}/pages", doc.stored_path)
    with storage.local_copy(doc.stored_path, suffix=".pdf") as source:
        pages = preprocess(source, doc.content_type, writer, config.processing)
    pipeline.save_pages(doc_id, pages)
    return pages


@pytest.mark.parametrize("backend", ["local", "s3"])
def test_page_image_of_a_born_digital_page_is_rendered_on_request(backend, make_app, api_config, tenant,
                                                                    s3_server, s3_env):
    from PIL import Image

    config = api_config
    if backend == "s3":
        config = api_config.with_overrides(storage_url=s3_server.storage_url(s3_server.new_bucket()))
    client = make_app(config).test_client()
    resp = upload(client, tenant, make_pdf(pages=2), "invoice.pdf")
    assert resp.status_code == 201, resp.json
    doc_id = resp.json["document"]["id"]
    pages = _preprocess(config, doc_id)
    assert all(lazy_page(p.image_path) for p in pages) and all(p.text_layer for p in pages)
    storage = get_storage(config.processing)
    assert storage.list_keys(f"{document_prefix(str(tenant.company_id), doc_id)}/pages") == []  # nothing rendered

    for page in pages:
        got = client.get(f"/documents/{doc_id}/pages/{page.page_no}/image", headers=tenant.headers)
        assert got.status_code == 200 and got.mimetype == "image/png"
        assert Image.open(io.BytesIO(got.data)).size == (page.width, page.height)
        assert "private" in got.headers["Cache-Control"] and got.headers["ETag"]
        again = client.get(f"/documents/{doc_id}/pages/{page.page_no}/image",
                           headers={**tenant.headers, "If-None-Match": got.headers["ETag"]})
        assert again.status_code == 304
    assert client.get(f"/documents/{doc_id}/pages/3/image", headers=tenant.headers).status_code == 404


def test_a_lazy_page_whose_original_is_gone_is_404(make_app, api_config, tenant):
    client = make_app(api_config).test_client()
    doc_id = upload(client, tenant, make_pdf(), "invoice.pdf").json["document"]["id"]
    pages = _preprocess(api_config, doc_id)
    storage = get_storage(api_config.processing)
    storage.delete(storage.path_of(lazy_page(pages[0].image_path).source).relative_to(storage.root).as_posix())
    assert client.get(f"/documents/{doc_id}/pages/1/image", headers=tenant.headers).status_code == 404
