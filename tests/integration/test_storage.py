"""The storage interface against both backends: a local folder and an S3 bucket served by a
local server that speaks the S3 wire protocol (moto's server mode, real boto3 over HTTP)."""
from __future__ import annotations

import hashlib
import io
import os
import uuid
from pathlib import Path

import pytest

pytest.register_assert_rewrite("conftest_api")
from conftest_api import make_image, make_pdf, upload  # noqa: E402
from invoice.scanner.processing.config import Settings
from invoice.scanner.processing.storage import (LocalStorage, ObjectMissing, S3Storage, StorageError, get_storage,
                                                open_storage, original_key, page_key)

pytest_plugins = ["conftest_api", "s3server"]


class Chunks(io.RawIOBase):
    """A stream that is never whole in memory: `n` MiB of pseudo-random bytes, made as read."""

    def __init__(self, n: int):
        self.left, self.block, self.digest = n * 1024 * 1024, 0, hashlib.sha256()
        self.pending = b""

    def readable(self) -> bool:
        return True

    def readinto(self, buf) -> int:
        if not self.pending and self.left:
            self.block += 1
            self.pending = hashlib.sha256(str(self.block).encode()).digest() * 2048  # 64 KiB
        n = min(len(buf), len(self.pending), self.left)
        buf[:n] = self.pending[:n]
        self.digest.update(self.pending[:n])
        self.pending, self.left = self.pending[n:], self.left - n
        return n


@pytest.fixture(params=["local", "s3"])
def store(request, tmp_path, s3_server, s3_env):
    if request.param == "local":
        return LocalStorage(tmp_path / "documents")
    return S3Storage(s3_server.storage_url(s3_server.new_bucket()))


def test_round_trip_streams_both_ways(store):
    company, doc = str(uuid.uuid4()), str(uuid.uuid4())
    key = original_key(company, doc, "application/pdf")
    source = Chunks(9)  # 9 MiB: over boto3's 8 MiB multipart threshold
    ref = store.put_file(key, io.BufferedReader(source, 256 * 1024))
    assert store.exists(ref) and store.size(ref) == 9 * 1024 * 1024
    if store.kind == "s3":
        assert ref == store.ref(key) and ref.startswith(f"s3://{store.location.bucket}/docs/{company}/{doc}/")
    else:
        assert Path(ref) == store.root / company / doc / "original.pdf"

    digest = hashlib.sha256()
    with store.open(ref) as fh:
        while chunk := fh.read(64 * 1024):  # never the whole object at once
            digest.update(chunk)
    assert digest.hexdigest() == source.digest.hexdigest()

    with store.local_copy(ref, suffix=".pdf") as path:
        assert path.is_file() and path.stat().st_size == 9 * 1024 * 1024
        copy = path
    if store.kind == "s3":
        assert not copy.exists(), "the temporary copy outlived the stage"


def test_list_delete_and_missing(store):
    company, doc = str(uuid.uuid4()), str(uuid.uuid4())
    for n in (1, 2, 3):
        store.put_bytes(page_key(company, doc, n), b"png %d" % n)
    other = store.put_bytes(page_key(company, str(uuid.uuid4()), 1), b"other")
    prefix = f"{company}/{doc}"
    assert store.list_keys(prefix) == [f"{prefix}/pages/page-000{n}.png" for n in (1, 2, 3)]
    assert store.read_bytes(store.ref(page_key(company, doc, 2))) == b"png 2"

    store.delete(page_key(company, doc, 3))
    assert not store.exists(store.ref(page_key(company, doc, 3)))
    with pytest.raises(ObjectMissing):
        store.read_bytes(store.ref(page_key(company, doc, 3)))
    with pytest.raises(ObjectMissing):
        with store.local_copy(store.ref(page_key(company, doc, 3))):
            pass

    store.delete_prefix(prefix)
    assert store.list_keys(prefix) == []
    assert store.read_bytes(other) == b"other"  # another document's files are untouched
    store.check()


@pytest.mark.parametrize("key", ["../etc/passwd", "/abs/path", "a/../../b", "", "a//b"])
def test_keys_never_leave_the_root(store, key):
    with pytest.raises(ValueError):
        store.put_bytes(key, b"x")


def test_storage_url_is_checked():
    with pytest.raises(ValueError, match="s3://bucket"):
        open_storage("gs://bucket/x", "var")
    with pytest.raises(ValueError, match="unknown parameter"):
        S3Storage("s3://bucket/x?endpoint=http://h")
    with pytest.raises(ValueError):
        S3Storage("s3:///nobucket")
    assert isinstance(open_storage("", "var/documents"), LocalStorage)
    assert open_storage("file:///srv/documents", "ignored").root == Path("/srv/documents")


def test_a_bucket_that_does_not_exist_is_a_storage_error(s3_server, s3_env):
    store = S3Storage(s3_server.storage_url(f"missing-{uuid.uuid4().hex[:8]}"))
    with pytest.raises(StorageError):
        store.check()


def test_preprocessing_writes_pages_into_the_bucket(s3_server, s3_env, tmp_path):
    from invoice.scanner.processing.stages.preprocessing import PageWriter, preprocess
    from invoice.scanner.processing.vision.page_image import open_page

    bucket = s3_server.new_bucket()
    settings = Settings.from_env({}, storage_url=s3_server.storage_url(bucket), documents_dir=tmp_path / "unused")
    store = get_storage(settings)
    source = tmp_path / "scan.png"
    source.write_bytes(make_image("PNG", size=(400, 300)))
    writer = PageWriter(store, "c/d/pages")
    # A stale page from an earlier, longer run goes.
    store.put_bytes("c/d/pages/page-0002.png", b"stale")
    [page] = preprocess(source, "image/png", writer, settings)
    assert page.image_path == f"s3://{bucket}/docs/c/d/pages/page-0001.png"
    assert s3_server.keys(bucket) == ["docs/c/d/pages/page-0001.png"]
    with open_page(page, settings) as im:
        assert im.size == (page.width, page.height)
    assert not list(tmp_path.glob("unused*")), "nothing written to the local documents folder"


def test_api_upload_stores_the_original_in_the_bucket(s3_server, s3_env, make_app, api_config, make_tenant, repo):
    bucket = s3_server.new_bucket()
    config = api_config.with_overrides(storage_url=s3_server.storage_url(bucket))
    client = make_app(config).test_client()
    tenant = make_tenant()
    data = make_pdf(pages=1)
    resp = upload(client, tenant, data, "invoice.pdf")
    assert resp.status_code == 201, resp.json
    doc_id = resp.json["document"]["id"]
    with repo.tx() as cur:
        cur.execute("SELECT stored_path FROM documents WHERE id = %s", (doc_id,))
        stored = cur.fetchone()["stored_path"]
    assert stored == f"s3://{bucket}/docs/{tenant.company_id}/{doc_id}/original.pdf"
    assert s3_server.client().get_object(Bucket=bucket, Key=stored.split("/", 3)[3])["Body"].read() == data
    assert not Path(config.documents_dir).exists() or not any(Path(config.documents_dir).rglob("*.pdf"))

    # Downloaded through the API, streamed from the bucket, with a validator for caches.
    got = client.get(f"/documents/{doc_id}/file", headers=tenant.headers)
    assert got.status_code == 200 and got.data == data and got.headers["ETag"]
    again = client.get(f"/documents/{doc_id}/file", headers={**tenant.headers, "If-None-Match": got.headers["ETag"]})
    assert again.status_code == 304
    s3_server.client().delete_object(Bucket=bucket, Key=stored.split("/", 3)[3])
    assert client.get(f"/documents/{doc_id}/file", headers=tenant.headers).status_code == 404

    health = client.get("/health")
    assert health.json["dependencies"]["documents_dir"]["ok"] is True

    # The same content again is a duplicate; nothing more lands in the bucket.
    assert upload(client, tenant, data, "again.pdf").status_code == 409
    assert s3_server.keys(bucket) == []


def test_api_health_reports_an_unreachable_bucket(s3_server, s3_env, make_app, api_config):
    config = api_config.with_overrides(storage_url=s3_server.storage_url(f"gone-{uuid.uuid4().hex[:8]}"))
    body = make_app(config).test_client().get("/health")
    assert body.status_code == 503
    assert body.json["dependencies"]["documents_dir"]["ok"] is False


def test_s3_extra_is_not_needed_for_local_storage():
    # The default deployment (a folder) never imports boto3, in the API or in a stage.
    import subprocess
    import sys

    code = ("import sys\nfrom invoice.scanner.processing.storage import open_storage\n"
            "s = open_storage('', 'var/x')\nprint('boto3' in sys.modules)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={**os.environ, "PYTHONPATH": ""})
    assert out.stdout.strip() == "False"
