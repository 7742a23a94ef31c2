"""POST /documents/batch and GET /batches/<id> against real PostgreSQL and Redis: many files, one
ZIP (traversal paths, bombs, lying headers, nested archives, 500 files), tenancy."""
from __future__ import annotations

import io
import struct
import uuid
import zipfile
import zlib
from pathlib import Path

import pytest

pytest.register_assert_rewrite("conftest_api")
from conftest_api import make_image, make_pdf, queued_messages, upload  # noqa: E402

pytest_plugins = ["conftest_api"]  # the API fixtures


def _batch(client, tenant, parts: list[tuple[bytes, str]]):
    return client.post("/documents/batch", data={"files": [(io.BytesIO(data), name) for data, name in parts]},
                       headers=tenant.headers, content_type="multipart/form-data")


def _zip(entries: list[tuple[str, bytes]], compression=zipfile.ZIP_DEFLATED) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression) as zf:
        for name, data in entries:
            zf.writestr(zipfile.ZipInfo(name), data, compress_type=compression)
    return buf.getvalue()


def _row(repo, sql: str, *args):
    with repo.tx() as cur:
        cur.execute(sql, args)
        return cur.fetchone()


def _files_under(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file()] if root.exists() else []


def test_many_files_get_one_result_each_like_single_uploads(client, tenant, repo, redis_client):
    first = make_pdf()
    earlier = upload(client, tenant, make_image("PNG"), "earlier.png")
    assert earlier.status_code == 201
    earlier_png = _row(repo, "SELECT sha256 FROM documents WHERE id = %s", earlier.json["document"]["id"])
    png_again = None
    with repo.tx() as cur:
        cur.execute("SELECT stored_path FROM documents WHERE id = %s", (earlier.json["document"]["id"],))
        png_again = Path(cur.fetchone()["stored_path"]).read_bytes()
    assert earlier_png

    resp = _batch(client, tenant, [(first, "a.pdf"), (b"", "empty.pdf"), (b"just text", "notes.txt"),
                                   (first, "a-again.pdf"), (png_again, "earlier-again.png"),
                                   (make_image("JPEG"), "scan.jpg")])
    assert resp.status_code == 201, resp.json
    body = resp.json
    assert resp.headers["Location"].endswith(f"/batches/{body['id']}")
    assert body["file_count"] == 6 and body["accepted"] == 2 and body["rejected"] == 4
    codes = [(r["filename"], r["code"], r["status"]) for r in body["results"]]
    assert codes == [("a.pdf", 201, "Created"), ("empty.pdf", 400, "Bad Request"),
                     ("notes.txt", 415, "Unsupported Media Type"), ("a-again.pdf", 409, "Conflict"),
                     ("earlier-again.png", 409, "Conflict"), ("scan.jpg", 201, "Created")]
    results = body["results"]
    # The same error bodies as a single upload: message, and the duplicate's existing id.
    single_415 = upload(client, tenant, b"just text", "notes.txt").json
    assert results[2]["message"] == single_415["message"] and results[2]["reason"] == "unsupported_type"
    assert results[3]["document_id"] == results[0]["document"]["id"]
    assert results[4]["document_id"] == earlier.json["document"]["id"]
    assert [r["position"] for r in results] == list(range(6))

    new_ids = [results[0]["document"]["id"], results[5]["document"]["id"]]
    for position, doc_id in zip((0, 5), new_ids):
        row = _row(repo, "SELECT company_id, uploaded_by, source, source_detail, status FROM documents WHERE id = %s",
                   doc_id)
        assert row["source"] == "batch" and str(row["company_id"]) == str(tenant.company_id)
        assert str(row["uploaded_by"]) == str(tenant.user_id) and row["status"] == "preprocessing"
        assert row["source_detail"] == {"batch_id": body["id"], "position": position, "archive": None, "entry": None}
    # The single upload's document says where it came from too.
    assert _row(repo, "SELECT source FROM documents WHERE id = %s", earlier.json["document"]["id"])["source"] == "upload"
    # Same outbox: each accepted file's orchestrator task is queued.
    queued = {m["args"][0] for m in queued_messages(redis_client)}
    assert set(new_ids) <= queued

    detail = client.get(f"/documents/{new_ids[0]}", headers=tenant.headers).json
    assert detail["source"] == "batch" and detail["source_detail"]["batch_id"] == body["id"]

    polled = client.get(f"/batches/{body['id']}", headers=tenant.headers)
    assert polled.status_code == 200, polled.json
    batch = polled.json
    assert batch["file_count"] == 6 and batch["accepted"] == 2 and batch["rejected"] == 4
    assert batch["statuses"] == {"preprocessing": 2} and batch["done"] is False
    assert [i["code"] for i in batch["items"]] == [201, 400, 415, 409, 409, 201]
    assert batch["items"][0]["document_status"] == "preprocessing"
    assert batch["items"][3]["document_status"] is None  # a duplicate's document is not this batch's


def test_a_batch_without_files_is_422_as_the_document_says(client, tenant):
    """`files` is required with at least one item in the OpenAPI document, and refused without."""
    schema = client.get("/openapi.json").json["components"]["schemas"]["BatchFiles"]
    assert schema["required"] == ["files"] and schema["properties"]["files"]["minItems"] == 1
    resp = client.post("/documents/batch", data={}, headers=tenant.headers, content_type="multipart/form-data")
    assert resp.status_code == 422 and "files" in resp.json["errors"]["files"]


def test_batch_is_company_scoped(client, tenant, make_tenant):
    pdf = make_pdf()
    resp = _batch(client, tenant, [(pdf, "a.pdf")])
    assert resp.status_code == 201
    other = make_tenant()
    for batch_id in (resp.json["id"], str(uuid.uuid4()), "not-a-uuid"):
        answer = client.get(f"/batches/{batch_id}", headers=other.headers)
        assert answer.status_code == 404 and answer.json["message"] == "Batch not found"
    # The other company may upload the same content: duplicates are per company.
    again = _batch(client, other, [(pdf, "b.pdf")])
    assert again.json["results"][0]["code"] == 201
    assert client.get(f"/batches/{resp.json['id']}").status_code == 401


def test_zip_with_traversal_paths_stores_nothing_outside(client, tenant, repo, api_config, tmp_path):
    good = make_pdf()
    archive = _zip([("../../outside.pdf", make_pdf()), ("/etc/absolute.pdf", make_pdf()),
                    ("C:/windows/drive.pdf", make_pdf()), ("..\\back\\slash.pdf", make_pdf()),
                    ("invoices/2024/good.pdf", good), ("invoices/", b"")])
    resp = _batch(client, tenant, [(archive, "month.zip")])
    assert resp.status_code == 201, resp.json
    body = resp.json
    assert body["archive_name"] == "month.zip" and body["file_count"] == 5  # the folder entry is no file
    by_entry = {r["entry"]: r for r in body["results"]}
    for entry in ("../../outside.pdf", "/etc/absolute.pdf", "C:/windows/drive.pdf", "..\\back\\slash.pdf"):
        assert by_entry[entry]["code"] == 422 and by_entry[entry]["reason"] == "unsafe_path"
    ok = by_entry["invoices/2024/good.pdf"]
    assert ok["code"] == 201 and ok["filename"] == "good.pdf"
    row = _row(repo, "SELECT original_filename, source_detail, stored_path FROM documents WHERE id = %s",
               ok["document"]["id"])
    assert row["original_filename"] == "good.pdf"
    assert row["source_detail"]["archive"] == "month.zip" and row["source_detail"]["entry"] == "invoices/2024/good.pdf"
    documents = Path(api_config.documents_dir).resolve()
    assert [p.read_bytes() for p in _files_under(documents)] == [good]
    assert not any(p.name in ("outside.pdf", "absolute.pdf") for p in tmp_path.parent.rglob("*.pdf"))


def test_zip_bombs_and_lying_headers_are_refused_without_being_expanded(make_app, api_config, tenant, repo):
    client = make_app(api_config.with_overrides(max_upload_bytes=4 * 1024 * 1024)).test_client()
    good = make_pdf()
    over_limit = b"\0" * (6 * 1024 * 1024)        # declared bigger than one file may be
    ratio_bomb = b"\0" * (3 * 1024 * 1024)        # under the file limit, but ~1000x
    nested = _zip([("inner.pdf", make_pdf())])
    archive = _zip([("big.pdf", over_limit), ("bomb.pdf", ratio_bomb), ("inner.zip", nested),
                    ("hidden-zip.pdf", nested), ("ok.pdf", good)])
    resp = _batch(client, tenant, [(archive, "bombs.zip")])
    assert resp.status_code == 201, resp.json
    by_name = {r["filename"]: r for r in resp.json["results"]}
    assert (by_name["big.pdf"]["code"], by_name["big.pdf"]["reason"]) == (413, "too_large")
    assert (by_name["bomb.pdf"]["code"], by_name["bomb.pdf"]["reason"]) == (422, "zip_bomb")
    assert (by_name["inner.zip"]["code"], by_name["inner.zip"]["reason"]) == (422, "nested_archive")
    assert (by_name["hidden-zip.pdf"]["code"], by_name["hidden-zip.pdf"]["reason"]) == (422, "nested_archive")
    assert by_name["ok.pdf"]["code"] == 201


def _lie_about_size(archive: bytes, name: bytes, real: int, claimed: int) -> bytes:
    """Rewrite the uncompressed size of one entry in its local header and the central directory."""
    out = bytearray(archive)
    for signature, offset in ((b"PK\x03\x04", 22), (b"PK\x01\x02", 24)):
        start = 0
        while (pos := out.find(signature, start)) != -1:
            start = pos + 4
            name_at = pos + (30 if signature == b"PK\x03\x04" else 46)
            if out[name_at:name_at + len(name)] == name:
                assert struct.unpack_from("<I", out, pos + offset)[0] == real
                struct.pack_into("<I", out, pos + offset, claimed)
    return bytes(out)


def test_a_zip_whose_header_understates_an_entry_is_caught_while_reading(client, tenant):
    payload = make_pdf(pages=3)
    archive = _lie_about_size(_zip([("liar.pdf", payload), ("fine.pdf", make_pdf())]), b"liar.pdf",
                              len(payload), 100)
    resp = _batch(client, tenant, [(archive, "liar.zip")])
    assert resp.status_code == 201, resp.json
    liar, fine = resp.json["results"]
    assert liar["code"] == 422 and liar["reason"] == "corrupt_entry"  # truncated at the claim, CRC fails
    assert fine["code"] == 201


def test_whole_batch_limits(make_app, api_config, tenant):
    client = make_app(api_config.with_overrides(batch_max_files=3, batch_max_bytes=200_000)).test_client()
    many = _zip([(f"{i}.pdf", make_pdf()) for i in range(4)])
    resp = _batch(client, tenant, [(many, "many.zip")])
    assert resp.status_code == 413 and "at most 3" in resp.json["message"]
    resp = _batch(client, tenant, [(make_pdf(), f"{i}.pdf") for i in range(4)])
    assert resp.status_code == 413
    declared = _zip([("zeros.pdf", b"\0" * 300_000)])
    resp = _batch(client, tenant, [(declared, "declared.zip")])
    assert resp.status_code == 413 and resp.json["message"].startswith("The archive's files add up to")
    assert _batch(client, tenant, [(b"PK\x03\x04 not really a zip", "broken.zip")]).status_code == 422
    assert _batch(client, tenant, [(_zip([("empty-folder/", b"")]), "empty.zip")]).status_code == 400
    assert _batch(client, tenant, [(make_pdf(), "a.zip"), (make_pdf(), "b.pdf")]).json["results"][0]["reason"] \
        == "nested_archive"
    refused = client.post("/documents/batch", data={"file": (io.BytesIO(make_pdf()), "a.pdf")},
                          headers=tenant.headers, content_type="multipart/form-data")
    assert refused.status_code == 422


def test_a_zip_of_500_small_files(client, tenant, repo, redis_client):
    images = [make_image("PNG", size=(40, 30)) for _ in range(500)]
    archive = _zip([(f"scans/{i:03}.png", data) for i, data in enumerate(images)], zipfile.ZIP_STORED)
    resp = _batch(client, tenant, [(archive, "backlog.zip")])
    assert resp.status_code == 201, resp.json
    body = resp.json
    assert body["file_count"] == 500 and body["accepted"] == len(set(images))
    assert [r["position"] for r in body["results"]] == list(range(500))
    count = _row(repo, "SELECT count(*) AS n FROM documents WHERE company_id = %s AND source = 'batch'",
                 str(tenant.company_id))["n"]
    assert count == len(set(images))
    assert redis_client.llen("orchestrator") >= len(set(images))
    polled = client.get(f"/batches/{body['id']}", headers=tenant.headers).json
    assert len(polled["items"]) == 500 and polled["statuses"] == {"preprocessing": len(set(images))}


def test_batch_needs_upload_permission(client, tenant, repo, make_tenant, api_config):
    from invoice.scanner.api.auth import issue_token

    tag = uuid.uuid4().hex[:8]
    user = repo.create_user(tenant.company_id, f"reader-{tag}@example.test", "x", role="uploader")
    token = issue_token(repo, user.id, api_config.token_ttl_s, scopes=["documents:read"]).access_token
    resp = client.post("/documents/batch", data={"files": [(io.BytesIO(make_pdf()), "a.pdf")]},
                       headers={"Authorization": f"Bearer {token}"}, content_type="multipart/form-data")
    assert resp.status_code == 403


def test_zip_crc_and_ratio_helpers():
    from invoice.scanner.api.batches import is_archive, unsafe_entry

    assert unsafe_entry("../x.pdf") and unsafe_entry("a/../../x.pdf") and unsafe_entry("/x") and unsafe_entry("D:x")
    assert not unsafe_entry("a/b..c.pdf") and not unsafe_entry("invoices/x.pdf")
    assert is_archive("x.PDF", zlib.compress(b"x")[:0] + b"\x1f\x8b\x08") and is_archive("x.tar.gz", b"")
    assert not is_archive("x.pdf", b"%PDF-1.7")


def test_metrics_count_documents_and_files_per_source(client, tenant):
    assert upload(client, tenant, make_pdf(), "one.pdf").status_code == 201
    assert _batch(client, tenant, [(make_pdf(), "two.pdf"), (b"", "empty.pdf")]).status_code == 201
    text = client.get("/metrics", headers=tenant.headers).get_data(as_text=True)

    def value(line_start: str) -> float:
        (line,) = [line for line in text.splitlines() if line.startswith(line_start + " ")]
        return float(line.rsplit(" ", 1)[1])

    assert value('invoice_scanner_documents_by_source{source="batch"}') >= 1
    assert value('invoice_scanner_documents_by_source{source="upload"}') >= 1
    assert 'invoice_scanner_documents_by_source{source="folder"}' in text
    assert value('invoice_scanner_ingested_files_total{outcome="accepted",source="batch"}') == 1
    assert value('invoice_scanner_ingested_files_total{outcome="empty",source="batch"}') == 1
    assert value('invoice_scanner_ingested_files_total{outcome="accepted",source="upload"}') == 1
