"""Where documents live: a local folder (`DOCUMENTS_DIR`, the default) or an S3-compatible
bucket (`STORAGE_URL=s3://bucket/prefix?endpoint_url=http://minio:9000`: AWS S3, MinIO, Ceph,
Azure through its S3 gateway), behind one small interface used by the API (uploads, file
downloads) and every stage.

Objects are named by key, `<company>/<document>/original.pdf` and
`<company>/<document>/pages/page-0001.png`: generated, never taken from the upload. The
database keeps a *ref* per object (`documents.stored_path`, `document_pages.image_path`): the
absolute path for the local folder (as before), `s3://bucket/key` for a bucket. Whatever a
stage needs from an earlier one it reads through the ref, so workers of one deployment can run
on different hosts with no shared filesystem when the storage is a bucket; the only local
files are temporary copies a stage deletes when it is done (`local_copy`).

boto3 is imported only by the S3 backend (the `s3` extra); the API and a local-folder
deployment never import it.
"""
from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING, BinaryIO, Iterator
from urllib.parse import parse_qs, urlparse

if TYPE_CHECKING:
    from invoice.scanner.processing.config import Settings

EXTENSIONS = {
    "application/pdf": ".pdf",
    "image/png": ".png",
    "image/jpeg": ".jpg",
    "image/tiff": ".tif",
    "application/xml": ".xml",  # an XML e-invoice (UBL, CII, ZUGFeRD 1.0)
}
CHUNK = 1024 * 1024


class StorageError(Exception):
    """The storage could not be reached or refused the operation (transient for a stage)."""


class ObjectMissing(StorageError, FileNotFoundError):
    """No object under this ref."""


def document_prefix(company_id: str, document_id: str) -> str:
    return f"{company_id}/{document_id}"


def original_key(company_id: str, document_id: str, content_type: str) -> str:
    return f"{document_prefix(company_id, document_id)}/original{EXTENSIONS[content_type]}"


def page_key(company_id: str, document_id: str, page_no: int) -> str:
    return f"{document_prefix(company_id, document_id)}/pages/page-{page_no:04d}.png"


def _safe_key(key: str) -> str:
    parts = key.split("/")
    if any(p in ("..", ".", "") or "\\" in p or "\x00" in p for p in parts):
        raise ValueError(f"not a storage key: {key!r}")
    return key


class Storage:
    """The interface. `ref`s are what the database stores; `key`s are relative names."""

    kind = "abstract"

    def ref(self, key: str) -> str:
        raise NotImplementedError

    def put_file(self, key: str, fileobj: IO[bytes]) -> str:
        """Store the stream under `key` (whole or not at all); returns its ref."""
        raise NotImplementedError

    def put_bytes(self, key: str, data: bytes) -> str:
        import io

        return self.put_file(key, io.BytesIO(data))

    def reader(self, ref: str) -> BinaryIO:
        """A streaming binary reader the caller closes (an HTTP response, say); `ObjectMissing`."""
        raise NotImplementedError

    def open(self, ref: str) -> contextlib.AbstractContextManager[BinaryIO]:
        """`reader` as a context manager."""
        return contextlib.closing(self.reader(ref))

    def read_bytes(self, ref: str) -> bytes:
        with self.open(ref) as fh:
            return fh.read()

    @contextlib.contextmanager
    def local_copy(self, ref: str, suffix: str = "") -> Iterator[Path]:
        """A local file with the object's bytes for libraries that want a path (pdfium);
        streamed to a temporary file that is deleted on exit."""
        fd, tmp = tempfile.mkstemp(prefix="invoice-scanner-", suffix=suffix)
        try:
            with os.fdopen(fd, "wb") as out, self.open(ref) as src:
                shutil.copyfileobj(src, out, CHUNK)
            yield Path(tmp)
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)

    def exists(self, ref: str) -> bool:
        raise NotImplementedError

    def size(self, ref: str) -> int:
        raise NotImplementedError

    def list_keys(self, prefix: str) -> list[str]:
        raise NotImplementedError

    def delete(self, key: str) -> None:
        raise NotImplementedError

    def delete_prefix(self, prefix: str) -> None:
        for key in self.list_keys(prefix):
            self.delete(key)

    def check(self) -> None:
        """Raise unless the storage answers and takes writes (the API's /health)."""
        raise NotImplementedError


class LocalStorage(Storage):
    """A folder on a volume every process of the deployment mounts (the default)."""

    kind = "local"

    def __init__(self, root: Path | str):
        self.root = Path(root).resolve()

    def path(self, key: str) -> Path:
        return self.root / _safe_key(key)

    def ref(self, key: str) -> str:
        return str(self.path(key))

    def path_of(self, ref: str) -> Path:
        path = Path(ref)
        # Refs written by this backend are absolute paths under the root; a relative one is a key.
        return path if path.is_absolute() else self.path(ref)

    def put_file(self, key: str, fileobj: IO[bytes]) -> str:
        """Write to a temporary file in the same folder, fsync, then rename: a crash never
        leaves a half-written file under the final name."""
        path = self.path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".upload-")
        try:
            with os.fdopen(fd, "wb") as fh:
                shutil.copyfileobj(fileobj, fh, CHUNK)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, path)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            raise
        return str(path)

    def reader(self, ref: str) -> BinaryIO:
        try:
            return open(self.path_of(ref), "rb")
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError) as exc:
            raise ObjectMissing(ref) from exc

    @contextlib.contextmanager
    def local_copy(self, ref: str, suffix: str = "") -> Iterator[Path]:
        path = self.path_of(ref)
        if not path.is_file():
            raise ObjectMissing(ref)
        yield path  # already local: no copy

    def exists(self, ref: str) -> bool:
        return self.path_of(ref).is_file()

    def size(self, ref: str) -> int:
        try:
            return self.path_of(ref).stat().st_size
        except FileNotFoundError as exc:
            raise ObjectMissing(ref) from exc

    def list_keys(self, prefix: str) -> list[str]:
        base = self.path(prefix)
        if not base.is_dir():
            return []
        return sorted(str(p.relative_to(self.root).as_posix()) for p in base.rglob("*") if p.is_file())

    def delete(self, key: str) -> None:
        self.path(key).unlink(missing_ok=True)

    def delete_prefix(self, prefix: str) -> None:
        shutil.rmtree(self.path(prefix), ignore_errors=True)

    def check(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=self.root, prefix=".health-"):
            pass
        if not os.access(self.root, os.W_OK):
            raise PermissionError(f"{self.root} is not writable")


@dataclass(frozen=True)
class S3Location:
    bucket: str
    prefix: str
    endpoint_url: str | None
    region: str | None
    addressing_style: str | None

    @classmethod
    def parse(cls, url: str) -> "S3Location":
        u = urlparse(url)
        if u.scheme != "s3" or not u.netloc:
            raise ValueError(f"STORAGE_URL must look like s3://bucket/prefix, not {url!r}")
        q = {k: v[-1] for k, v in parse_qs(u.query).items()}
        unknown = set(q) - {"endpoint_url", "region", "addressing_style"}
        if unknown:
            raise ValueError(f"STORAGE_URL: unknown parameter(s) {sorted(unknown)}")
        return cls(u.netloc, u.path.strip("/"), q.get("endpoint_url") or None, q.get("region") or None,
                   q.get("addressing_style") or None)


class S3Storage(Storage):
    """An S3-compatible bucket. Credentials come the way boto3 finds them (AWS_ACCESS_KEY_ID /
    AWS_SECRET_ACCESS_KEY, a profile, an instance or pod role), never from STORAGE_URL."""

    kind = "s3"

    def __init__(self, url: str):
        self.location = S3Location.parse(url)
        self._local = threading.local()  # boto3 clients are thread-safe, sessions are not: one per thread

    @property
    def client(self):
        client = getattr(self._local, "client", None)
        if client is None:
            import boto3
            from botocore.config import Config

            loc = self.location
            config = Config(retries={"max_attempts": 5, "mode": "standard"}, connect_timeout=5, read_timeout=60,
                            s3={"addressing_style": loc.addressing_style} if loc.addressing_style else None)
            client = boto3.session.Session().client("s3", endpoint_url=loc.endpoint_url, region_name=loc.region,
                                                    config=config)
            self._local.client = client
        return client

    def _key(self, key: str) -> str:
        key = _safe_key(key)
        return f"{self.location.prefix}/{key}" if self.location.prefix else key

    def ref(self, key: str) -> str:
        return f"s3://{self.location.bucket}/{self._key(key)}"

    def _object_key(self, ref: str) -> str:
        if ref.startswith("s3://"):
            u = urlparse(ref)
            if u.netloc != self.location.bucket:
                raise ObjectMissing(f"{ref} is not in bucket {self.location.bucket}")
            return u.path.lstrip("/")
        if ref.startswith("/"):
            raise ObjectMissing(f"{ref} is a local path; this deployment stores documents in a bucket")
        return self._key(ref)

    def _errors(self):
        from botocore.exceptions import BotoCoreError, ClientError

        return BotoCoreError, ClientError

    @staticmethod
    def _missing(exc) -> bool:
        code = str(getattr(exc, "response", {}).get("Error", {}).get("Code", ""))
        return code in {"NoSuchKey", "404", "NotFound"}

    def put_file(self, key: str, fileobj: IO[bytes]) -> str:
        # upload_fileobj streams in parts (multipart above 8 MiB); S3 makes an object visible
        # only when the whole upload completed, so readers never see half a file.
        try:
            self.client.upload_fileobj(fileobj, self.location.bucket, self._key(key))
        except self._errors() as exc:
            raise StorageError(f"could not store {key}: {exc}") from exc
        return self.ref(key)

    def reader(self, ref: str) -> BinaryIO:
        try:
            # botocore's StreamingBody: read(n) pulls from the socket as it goes.
            return self.client.get_object(Bucket=self.location.bucket, Key=self._object_key(ref))["Body"]
        except self._errors() as exc:
            if self._missing(exc):
                raise ObjectMissing(ref) from exc
            raise StorageError(f"could not read {ref}: {exc}") from exc

    def exists(self, ref: str) -> bool:
        try:
            self.size(ref)
        except ObjectMissing:
            return False
        return True

    def size(self, ref: str) -> int:
        try:
            head = self.client.head_object(Bucket=self.location.bucket, Key=self._object_key(ref))
        except self._errors() as exc:
            if self._missing(exc):
                raise ObjectMissing(ref) from exc
            raise StorageError(f"could not stat {ref}: {exc}") from exc
        return int(head["ContentLength"])

    def list_keys(self, prefix: str) -> list[str]:
        full = self._key(prefix).rstrip("/") + "/"
        strip = len(self.location.prefix) + 1 if self.location.prefix else 0
        keys: list[str] = []
        try:
            for page in self.client.get_paginator("list_objects_v2").paginate(Bucket=self.location.bucket, Prefix=full):
                keys.extend(obj["Key"][strip:] for obj in page.get("Contents", []))
        except self._errors() as exc:
            raise StorageError(f"could not list {prefix}: {exc}") from exc
        return sorted(keys)

    def delete(self, key: str) -> None:
        try:
            self.client.delete_object(Bucket=self.location.bucket, Key=self._key(key))
        except self._errors() as exc:
            raise StorageError(f"could not delete {key}: {exc}") from exc

    def check(self) -> None:
        key = f".health/{os.getpid()}-{threading.get_ident()}"
        self.put_bytes(key, b"ok")
        self.delete(key)


_cache: dict[tuple[str, str], Storage] = {}
_cache_lock = threading.Lock()


def open_storage(storage_url: str, documents_dir: Path | str) -> Storage:
    """The backend `STORAGE_URL` names (`s3://...`), else the local folder `DOCUMENTS_DIR`."""
    url = (storage_url or "").strip()
    if not url or url.startswith("file:"):
        root = urlparse(url).path if url.startswith("file:") else documents_dir
        return LocalStorage(root)
    if url.startswith("s3://"):
        return S3Storage(url)
    raise ValueError(f"STORAGE_URL must be empty (the DOCUMENTS_DIR folder), file:///path or s3://bucket/prefix, "
                     f"not {url!r}")


def get_storage(settings: "Settings") -> Storage:
    """One backend per process and configuration (its S3 clients are reused)."""
    key = (settings.storage_url, str(settings.documents_dir))
    with _cache_lock:
        if key not in _cache:
            _cache[key] = open_storage(*key)
        return _cache[key]

