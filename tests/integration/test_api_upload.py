"""POST /documents/upload against real PostgreSQL and Redis."""
from __future__ import annotations

import struct
import uuid
import zlib
from pathlib import Path

import pytest

pytest.register_assert_rewrite("conftest_api")
from conftest_api import make_image, make_pdf, queued_messages, upload  # noqa: E402
from invoice.scanner.processing.celery_app import ORCHESTRATE_TASK
from invoice.scanner.processing.status import Status

pytest_plugins = ["conftest_api"]  # the API fixtures


def _row(repo, sql: str, *args):
    with repo.tx() as cur:
        cur.execute(sql, args)
        return cur.fetchone()


def _documents_of(repo, company_id) -> int:
    return _row(repo, "SELECT count(*) AS n FROM documents WHERE company_id = %s", str(company_id))["n"]


def _stored_files(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file()] if root.exists() else []


def test_pdf_upload_is_recorded_and_queued(client, tenant, repo, redis_client, api_config):
    data = make_pdf(pages=2)
    resp = upload(client, tenant, data, "invoice.pdf")

    assert resp.status_code == 201, resp.json
    body = resp.json
    assert body["message"] == "Document uploaded and queued for processing"
    assert set(body) == {"message", "document", "task_id"}
    doc = body["document"]
    assert set(doc) == {"id", "status", "created_at"}
    assert doc["status"] == "preprocessing"
    assert doc["created_at"].endswith("Z") and len(doc["created_at"]) == 20
    assert isinstance(body["task_id"], str) and body["task_id"]

    row = _row(repo, "SELECT * FROM documents WHERE id = %s", doc["id"])
    assert str(row["company_id"]) == str(tenant.company_id)
    assert str(row["uploaded_by"]) == str(tenant.user_id)
    assert row["status"] == Status.PREPROCESSING.value
    assert row["pipeline_run"] == 0
    assert row["content_type"] == "application/pdf" and row["pages"] == 2 and row["size_bytes"] == len(data)
    assert row["enqueued_at"] is not None and row["task_id"] == body["task_id"]
    stored = Path(row["stored_path"])
    assert stored.read_bytes() == data
    assert stored.is_relative_to(Path(api_config.documents_dir).resolve())

    with repo.tx() as cur:
        cur.execute("SELECT from_status, to_status, stage, detail FROM document_status_history WHERE document_id = %s",
                    (doc["id"],))
        history = cur.fetchall()
    assert len(history) == 1
    assert history[0]["from_status"] is None and history[0]["to_status"] == "preprocessing"
    assert history[0]["stage"] == "upload" and history[0]["detail"]["user_id"] == str(tenant.user_id)

    assert redis_client.llen("orchestrator") == 1
    (message,) = queued_messages(redis_client)
    assert message["task"] == ORCHESTRATE_TASK
    assert message["id"] == body["task_id"]
    assert message["args"] == [doc["id"], str(tenant.company_id)]
    assert message["kwargs"] == {"expected_run": 0}


@pytest.mark.parametrize("fmt,mime", [("PNG", "image/png"), ("JPEG", "image/jpeg"), ("TIFF", "image/tiff")])
def test_image_uploads_are_accepted(client, tenant, repo, fmt, mime):
    resp = upload(client, tenant, make_image(fmt), f"scan.{fmt.lower()}")
    assert resp.status_code == 201, resp.json
    row = _row(repo, "SELECT content_type, pages FROM documents WHERE id = %s", resp.json["document"]["id"])
    assert row["content_type"] == mime and row["pages"] == 1


def test_multipage_tiff_counts_its_pages(client, tenant, repo):
    resp = upload(client, tenant, make_image("TIFF", frames=3), "scan.tif")
    assert resp.status_code == 201, resp.json
    assert _row(repo, "SELECT pages FROM documents WHERE id = %s", resp.json["document"]["id"])["pages"] == 3


def _assert_rejected(resp, code: int, words: str, repo, tenant, api_config, redis_client):
    assert resp.status_code == code, resp.json
    assert resp.json["code"] == code and resp.json["status"] and words in resp.json["message"].lower()
    # nothing half-written: no row, no file, no message
    assert _documents_of(repo, tenant.company_id) == 0
    assert _stored_files(Path(api_config.documents_dir)) == []
    assert redis_client.llen("orchestrator") == 0


def test_empty_file_is_400(client, tenant, repo, api_config, redis_client):
    _assert_rejected(upload(client, tenant, b"", "empty.pdf"), 400, "empty", repo, tenant, api_config, redis_client)


def test_type_is_judged_by_content_not_name(client, tenant, repo, api_config, redis_client):
    resp = upload(client, tenant, b"PK\x03\x04" + b"\x00" * 200, "invoice.pdf")  # a ZIP named .pdf
    _assert_rejected(resp, 415, "unsupported file type", repo, tenant, api_config, redis_client)
    resp = upload(client, tenant, b"just some text, not an invoice\n" * 10, "invoice.png")
    _assert_rejected(resp, 415, "unsupported", repo, tenant, api_config, redis_client)
    resp = upload(client, tenant, make_image("GIF"), "invoice.pdf")
    _assert_rejected(resp, 415, "image/gif", repo, tenant, api_config, redis_client)


def test_missing_file_field_is_422(client, tenant):
    resp = client.post("/documents/upload", data={"other": "x"}, headers=tenant.headers,
                       content_type="multipart/form-data")
    assert resp.status_code == 422
    assert resp.json["code"] == 422 and "file" in resp.json["errors"]["files"]


def test_oversize_upload_is_413_before_reading_the_body(make_app, api_config, tenant, repo, redis_client):
    cfg = api_config.with_overrides(max_upload_bytes=10_000)
    client = make_app(cfg).test_client()
    data = make_pdf(text="x" * 50) + b"%" + b"0" * 200_000  # a valid PDF padded past the limit
    resp = upload(client, tenant, data, "big.pdf")
    _assert_rejected(resp, 413, "size limit of 10,000 bytes", repo, tenant, cfg, redis_client)
    assert resp.json["status"] == "Request Entity Too Large"
    # a file just over the limit inside a body that the framing margin lets through is caught too
    resp = upload(client, tenant, make_pdf() + b"%" + b"0" * 10_000, "big.pdf")
    _assert_rejected(resp, 413, "limit", repo, tenant, cfg, redis_client)


def test_corrupt_pdf_is_422(client, tenant, repo, api_config, redis_client):
    data = make_pdf()
    corrupt = data[:200] + b"\x00garbage" * 20  # PDF magic bytes, broken body
    _assert_rejected(upload(client, tenant, corrupt, "broken.pdf"), 422, "cannot be opened", repo, tenant,
                     api_config, redis_client)


def test_password_protected_pdf_is_422(client, tenant, repo, api_config, redis_client):
    data = make_pdf(encrypt_password="secret")
    _assert_rejected(upload(client, tenant, data, "locked.pdf"), 422, "encrypted", repo, tenant, api_config,
                     redis_client)


def test_too_many_pages_is_422(make_app, api_config, tenant, repo, redis_client):
    cfg = api_config.with_overrides(max_pages=3)
    client = make_app(cfg).test_client()
    _assert_rejected(upload(client, tenant, make_pdf(pages=4), "long.pdf"), 422, "at most 3", repo, tenant, cfg,
                     redis_client)
    _assert_rejected(upload(client, tenant, make_image("TIFF", frames=4), "long.tif"), 422, "at most 3", repo,
                     tenant, cfg, redis_client)
    assert upload(client, tenant, make_pdf(pages=3), "ok.pdf").status_code == 201


def _png_header_bomb(width: int, height: int) -> bytes:
    """A tiny PNG whose header claims width x height pixels (a decompression bomb's shape)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)  # 1-bit greyscale
    idat = zlib.compress(b"\x00" * 1024)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def test_decompression_bomb_png_is_422(client, make_app, api_config, tenant, repo, redis_client):
    bomb = _png_header_bomb(100_000, 100_000)  # 10 gigapixels in about 100 bytes
    assert len(bomb) < 200
    _assert_rejected(upload(client, tenant, bomb, "bomb.png"), 422, "pixels", repo, tenant, api_config, redis_client)
    # a real, fully decodable image over a configured limit
    cfg = api_config.with_overrides(max_image_pixels=1_000_000)
    small_limit = make_app(cfg).test_client()
    _assert_rejected(upload(small_limit, tenant, make_image("PNG", size=(2000, 1000), mode="L"), "big.png"), 422,
                     "at most 1,000,000 pixels", repo, tenant, cfg, redis_client)


def test_truncated_image_is_422(client, tenant, repo, api_config, redis_client):
    data = make_image("PNG", size=(300, 300))
    _assert_rejected(upload(client, tenant, data[: len(data) // 2], "cut.png"), 422, "cannot be read", repo, tenant,
                     api_config, redis_client)


def test_path_traversal_filename_is_kept_only_as_safe_metadata(client, tenant, repo, api_config):
    resp = upload(client, tenant, make_pdf(), "../../etc/\x00pass\x1bwd\x07.pdf")
    assert resp.status_code == 201, resp.json
    row = _row(repo, "SELECT original_filename, stored_path FROM documents WHERE id = %s", resp.json["document"]["id"])
    assert row["original_filename"] == "passwd.pdf"
    root = Path(api_config.documents_dir).resolve()
    assert Path(row["stored_path"]).resolve().is_relative_to(root)
    assert Path(row["stored_path"]).name == "original.pdf"
    assert [p.name for p in _stored_files(root)] == ["original.pdf"]
    resp = upload(client, tenant, make_pdf(), "..\\..\\windows\\evil.pdf")
    name = _row(repo, "SELECT original_filename FROM documents WHERE id = %s",
                resp.json["document"]["id"])["original_filename"]
    assert name.endswith("evil.pdf") and "/" not in name and "\\" not in name and not name.startswith(".")


def test_duplicate_content_is_409_with_the_existing_id_and_not_requeued(client, tenant, make_tenant, repo,
                                                                         redis_client):
    data = make_pdf()
    first = upload(client, tenant, data, "a.pdf")
    assert first.status_code == 201
    again = upload(client, tenant, data, "renamed.pdf")
    assert again.status_code == 409
    assert again.json["code"] == 409 and again.json["status"] == "Conflict" and again.json["message"]
    assert again.json["document_id"] == first.json["document"]["id"]
    assert _documents_of(repo, tenant.company_id) == 1
    assert redis_client.llen("orchestrator") == 1
    # the same file from another company is that company's own document
    other = make_tenant()
    assert upload(client, other, data, "a.pdf").status_code == 201


def test_duplicate_race_on_insert_is_409_and_leaves_no_file(app, tenant, repo, api_config):
    """Two uploads of one file at once: the unique constraint decides, the loser's file is removed."""
    from invoice.scanner.api.errors import DuplicateDocument
    from invoice.scanner.api.services import upload_document

    state = app.extensions["invoice_scanner"]
    data = make_pdf()
    first = upload_document(state, data, "a.pdf", tenant.company_id, tenant.user_id)
    # skip the early look-up, as a concurrent request would have
    original = state.repo.find_document_by_sha256
    state.repo.find_document_by_sha256 = lambda company_id, sha: None
    try:
        with pytest.raises(DuplicateDocument) as err:
            upload_document(state, data, "b.pdf", tenant.company_id, tenant.user_id)
    finally:
        state.repo.find_document_by_sha256 = original
    assert err.value.document_id == str(first.document.id)
    assert len(_stored_files(Path(api_config.documents_dir))) == 1


def test_broker_down_still_answers_201_and_leaves_the_document_for_the_sweeper(make_app, api_config, tenant, repo):
    cfg = api_config.with_overrides(redis_url="redis://127.0.0.1:1/5")  # nothing listens there
    client = make_app(cfg).test_client()
    resp = upload(client, tenant, make_pdf(), "invoice.pdf")
    assert resp.status_code == 201, resp.json
    assert resp.json["task_id"] is None
    row = _row(repo, "SELECT status, enqueued_at, task_id FROM documents WHERE id = %s", resp.json["document"]["id"])
    assert row["status"] == "preprocessing" and row["enqueued_at"] is None and row["task_id"] is None

    # the outbox query the sweeper runs finds it
    from invoice.scanner.processing.db.repository import Repository

    unenqueued = Repository(api_config.database_url).find_unenqueued(older_than_s=0)
    assert uuid.UUID(resp.json["document"]["id"]) in {d.id for d in unenqueued}


def test_upload_needs_a_token(client):
    resp = client.post("/documents/upload", data={"file": (b"x", "a.pdf")}, content_type="multipart/form-data")
    assert resp.status_code == 401 and resp.json["code"] == 401


@pytest.mark.parametrize("raw,expected", [
    ("../../etc/passwd", "passwd"),
    ("C:\\Users\\x\\invoice.pdf", "invoice.pdf"),
    ("in\x00voi\x1bce\u202e.pdf", "invoice.pdf"),
    ("..", "upload"),
    ("", "upload"),
    (None, "upload"),
    ("a" * 400 + ".pdf", "a" * 255),
])
def test_sanitize_filename(raw, expected):
    from invoice.scanner.api.uploads import sanitize_filename

    assert sanitize_filename(raw) == expected
