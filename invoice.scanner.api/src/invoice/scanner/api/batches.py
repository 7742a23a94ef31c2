"""Batch upload: many files in one request, or one ZIP, each through the single upload's path.

Every file offered goes through `services.upload_document` (same checks, duplicate rule,
tenancy and outbox) with `source="batch"`; the answer holds one result per file, in order,
with the status code and error body a single upload of that file would have had. The batch and
its results are kept (`batches`, `batch_items`) so `GET /batches/<id>` can be polled.

A ZIP is read from the spooled request body, one entry at a time, never extracted to disk and
never by its names (the stored name is generated, the entry's path is kept as metadata only):
- refused whole, before anything is read: not a ZIP, no file in it, more entries than
  BATCH_MAX_FILES, or declared sizes adding up to more than BATCH_MAX_BYTES;
- refused per entry: a path that climbs out (`..`, absolute, a drive letter), an encrypted
  entry, an archive inside (ZIP, gzip, 7z, RAR, bzip2, xz, tar by name or content), a declared
  size over MAX_UPLOAD_BYTES, an expansion ratio over BATCH_MAX_RATIO (a bomb), and while
  streaming: more bytes than declared or than the limits (headers can lie), a bad CRC;
- the bytes actually read are counted against BATCH_MAX_BYTES: past it, the remaining entries
  are answered 413 without being read.
"""
from __future__ import annotations

import http
import logging
import re
import uuid
import zipfile
import zlib
from dataclasses import dataclass
from typing import IO, Any, Iterable, Iterator

from flask import Request, current_app

from invoice.scanner.processing.status import TERMINAL_STATUSES

from invoice.scanner.api.errors import DuplicateDocument, FileTooLarge, UnreadableDocument, UploadRejected
from invoice.scanner.api.services import ApiState, upload_document
from invoice.scanner.api.uploads import sanitize_filename

logger = logging.getLogger(__name__)

BATCH_PATH = "/documents/batch"
CHUNK = 64 * 1024
# A small file may compress very well (a blank page); the ratio only counts past this size.
BOMB_FLOOR_BYTES = 1024 * 1024
ARCHIVE_SUFFIXES = (".zip", ".gz", ".tgz", ".tar", ".7z", ".rar", ".bz2", ".xz", ".zst", ".cab", ".jar")
ARCHIVE_MAGIC = (b"PK\x03\x04", b"PK\x05\x06", b"PK\x07\x08", b"\x1f\x8b", b"7z\xbc\xaf\x27\x1c", b"Rar!\x1a\x07",
                 b"BZh", b"\xfd7zXZ\x00", b"\x28\xb5\x2f\xfd", b"MSCF")
_DRIVE = re.compile(r"^[A-Za-z]:")


class BatchRejected(Exception):
    """The batch as a whole is refused (nothing is recorded)."""

    def __init__(self, http_status: int, message: str, reason: str):
        super().__init__(message)
        self.http_status = http_status
        self.message = message
        self.reason = reason


@dataclass
class BatchFile:
    """One file offered: its bytes, or why it was refused before the upload path saw it."""

    filename: str
    entry: str | None = None
    data: bytes | None = None
    rejection: UploadRejected | None = None


def is_archive(name: str, head: bytes) -> bool:
    return name.lower().endswith(ARCHIVE_SUFFIXES) or head.startswith(ARCHIVE_MAGIC) or head[257:262] == b"ustar"


def unsafe_entry(name: str) -> bool:
    """A ZIP path that would climb out of a folder it were extracted into."""
    path = name.replace("\\", "/")
    return path.startswith("/") or bool(_DRIVE.match(path)) or ".." in path.split("/") or "\x00" in name


class BatchRequest(Request):
    """Flask's request with the batch endpoint's own body and part limits (the app-wide
    MAX_CONTENT_LENGTH fits one file): decided by path, before any hook reads the form."""

    def _batch_config(self):
        if self.path == BATCH_PATH and current_app:
            return current_app.extensions["invoice_scanner"].config
        return None

    @property
    def max_content_length(self) -> int | None:
        cfg = self._batch_config()
        if cfg is not None and self._max_content_length is None:
            return cfg.batch_max_bytes + 1024 * 1024  # the multipart framing
        return super().max_content_length

    @max_content_length.setter
    def max_content_length(self, value: int | None) -> None:
        self._max_content_length = value

    @property
    def max_form_parts(self) -> int | None:
        cfg = self._batch_config()
        if cfg is not None and self._max_form_parts is None:
            return cfg.batch_max_files + 16
        return super().max_form_parts

    @max_form_parts.setter
    def max_form_parts(self, value: int | None) -> None:
        self._max_form_parts = value


# -- what the request offers -----------------------------------------------------------------


def request_files(parts: list, max_upload_bytes: int) -> Iterator[BatchFile]:
    """Many files in the request: each read up to one byte over the single file limit."""
    for part in parts:
        name = sanitize_filename(part.filename)
        data = part.stream.read(max_upload_bytes + 1)
        if is_archive(part.filename or "", data[:512]):
            yield BatchFile(name, rejection=UnreadableDocument(
                "An archive among several files is not opened; send one ZIP on its own", "nested_archive"))
        else:
            yield BatchFile(name, data=data)


class ZipBatch:
    """One ZIP's entries, checked on the central directory first, then read one by one."""

    def __init__(self, stream: IO[bytes], max_files: int, max_bytes: int, max_ratio: int, max_upload_bytes: int):
        try:
            self.zip = zipfile.ZipFile(stream)
        except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, OSError) as exc:
            raise BatchRejected(422, f"The archive cannot be read as a ZIP: {exc}", "corrupt_archive") from exc
        self.entries = [info for info in self.zip.infolist()
                        if not info.is_dir() and not info.filename.startswith("__MACOSX/")]
        if not self.entries:
            raise BatchRejected(400, "The archive holds no file", "empty")
        if len(self.entries) > max_files:
            raise BatchRejected(413, f"The archive holds {len(self.entries):,} files; at most {max_files:,} "
                                     "are accepted in one batch", "too_many_files")
        declared = sum(info.file_size for info in self.entries)
        if declared > max_bytes:
            raise BatchRejected(413, f"The archive's files add up to {declared:,} bytes; at most {max_bytes:,} "
                                     "are accepted in one batch", "batch_too_large")
        self.max_bytes, self.max_ratio, self.max_upload_bytes = max_bytes, max_ratio, max_upload_bytes
        self.read_total = 0

    def __len__(self) -> int:
        return len(self.entries)

    def __iter__(self) -> Iterator[BatchFile]:
        for info in self.entries:
            name = sanitize_filename(info.filename)
            try:
                yield BatchFile(name, info.filename, data=self._read(info))
            except UploadRejected as exc:
                yield BatchFile(name, info.filename, rejection=exc)

    def _ratio_over(self, size: int, compressed: int) -> bool:
        return size > BOMB_FLOOR_BYTES and size > self.max_ratio * max(compressed, 1)

    def _read(self, info: zipfile.ZipInfo) -> bytes:
        if unsafe_entry(info.filename):
            raise UnreadableDocument("The entry's path leaves the archive's folder (.., absolute or a drive); "
                                     "it is not read", "unsafe_path")
        if info.flag_bits & 0x1:
            raise UnreadableDocument("The entry is encrypted; put unprotected files in the archive",
                                     "encrypted_entry")
        if is_archive(info.filename, b""):
            raise UnreadableDocument("An archive inside the archive is not opened", "nested_archive")
        if info.file_size > self.max_upload_bytes:
            raise FileTooLarge(f"The file is {info.file_size:,} bytes; the limit is {self.max_upload_bytes:,} bytes",
                               "too_large")
        if self._ratio_over(info.file_size, info.compress_size):
            raise UnreadableDocument(f"The entry expands {info.file_size // max(info.compress_size, 1):,} times; "
                                     f"at most {self.max_ratio} is accepted (a decompression bomb)", "zip_bomb")
        if self.read_total >= self.max_bytes:
            raise FileTooLarge(f"The batch's files already add up to {self.max_bytes:,} bytes; this one is not read",
                               "batch_too_large")
        data = bytearray()
        try:
            with self.zip.open(info) as fh:
                while chunk := fh.read(CHUNK):
                    data += chunk
                    self.read_total += len(chunk)
                    # Headers can lie: what is actually read is checked as it comes.
                    if len(data) > info.file_size or len(data) > self.max_upload_bytes:
                        raise FileTooLarge("The entry holds more bytes than its header says or than the limit of "
                                           f"{self.max_upload_bytes:,} bytes", "too_large")
                    if self._ratio_over(len(data), info.compress_size):
                        raise UnreadableDocument("The entry expands more than the accepted ratio "
                                                 f"({self.max_ratio}); a decompression bomb", "zip_bomb")
                    if self.read_total > self.max_bytes:
                        raise FileTooLarge(f"The batch's files add up to more than {self.max_bytes:,} bytes",
                                           "batch_too_large")
        except (zipfile.BadZipFile, zlib.error, EOFError, OSError) as exc:
            raise UnreadableDocument(f"The entry cannot be read: {exc}", "corrupt_entry") from exc
        except (NotImplementedError, RuntimeError) as exc:  # unsupported compression, a password
            raise UnreadableDocument(f"The entry cannot be read: {exc}", "corrupt_entry") from exc
        if is_archive("", bytes(data[:512])):
            raise UnreadableDocument("An archive inside the archive is not opened", "nested_archive")
        return bytes(data)


def looks_like_zip(part) -> bool:
    head = part.stream.read(4)
    part.stream.seek(0)
    return head.startswith(b"PK\x03\x04") or head.startswith(b"PK\x05\x06")


# -- running a batch -------------------------------------------------------------------------


def _phrase(code: int) -> str:
    return http.HTTPStatus(code).phrase


def run_batch(state: ApiState, company_id: uuid.UUID, user_id: uuid.UUID | None, files: Iterable[BatchFile],
              file_count: int, archive_name: str | None) -> dict[str, Any]:
    """Record the batch, send each file through the upload path, keep one result per file."""
    batch_id = uuid.uuid4()
    with state.repo.tx() as cur:
        cur.execute("INSERT INTO batches (id, company_id, created_by, archive_name, file_count) "
                    "VALUES (%s, %s, %s, %s, %s) RETURNING created_at",
                    (str(batch_id), str(company_id), None if user_id is None else str(user_id), archive_name,
                     file_count))
        created_at = cur.fetchone()["created_at"]
    results = []
    for position, offered in enumerate(files):
        result: dict[str, Any] = {"position": position, "filename": offered.filename, "entry": offered.entry}
        detail = {"batch_id": str(batch_id), "position": position, "archive": archive_name, "entry": offered.entry}
        if offered.rejection is not None:
            state.ingested.labels("batch", offered.rejection.reason).inc()
            result.update(code=offered.rejection.http_status, message=offered.rejection.message,
                          reason=offered.rejection.reason)
        else:
            try:
                uploaded = upload_document(state, offered.data or b"", offered.filename, company_id, user_id,
                                           source="batch", source_detail=detail)
            except UploadRejected as exc:
                result.update(code=exc.http_status, message=exc.message, reason=exc.reason)
            except DuplicateDocument as exc:
                result.update(code=409, message="This file was already uploaded; it is not processed again",
                              reason="duplicate", document_id=exc.document_id)
            else:
                doc = uploaded.document
                result.update(code=201, message="Document uploaded and queued for processing",
                              document={"id": doc.id, "status": doc.status, "created_at": doc.created_at},
                              document_id=str(doc.id), task_id=uploaded.task_id)
        result["status"] = _phrase(result["code"])
        offered.data = None  # one file's bytes in memory at a time
        with state.repo.tx() as cur:
            cur.execute("INSERT INTO batch_items (batch_id, position, filename, entry, http_status, document_id, "
                        "reason, message) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
                        (str(batch_id), position, offered.filename, offered.entry, result["code"],
                         result.get("document_id"), result.get("reason"), result["message"]))
        results.append(result)
    accepted = sum(1 for r in results if r["code"] == 201)
    logger.info("batch %s for company %s: %d file(s), %d accepted", batch_id, company_id, len(results), accepted)
    return {"id": batch_id, "created_at": created_at, "archive_name": archive_name, "file_count": len(results),
            "accepted": accepted, "rejected": len(results) - accepted, "results": results}


def get_batch(state: ApiState, company_id: uuid.UUID, batch_id: str) -> dict[str, Any] | None:
    """The batch with each file's answer and its document's status now; None outside the company."""
    try:
        uuid.UUID(str(batch_id))
    except ValueError:
        return None
    with state.repo.tx() as cur:
        cur.execute("SELECT id, created_at, archive_name, file_count FROM batches WHERE id = %s AND company_id = %s",
                    (str(batch_id), str(company_id)))
        batch = cur.fetchone()
        if batch is None:
            return None
        cur.execute(
            """SELECT i.position, i.filename, i.entry, i.http_status, i.document_id, i.reason, i.message,
                      d.status AS document_status
                 FROM batch_items i LEFT JOIN documents d ON d.id = i.document_id AND d.company_id = %s
                WHERE i.batch_id = %s ORDER BY i.position""",
            (str(company_id), str(batch_id)))
        rows = cur.fetchall()
    terminal = {status.value for status in TERMINAL_STATUSES}
    items, statuses = [], {}
    for row in rows:
        items.append({"position": row["position"], "filename": row["filename"], "entry": row["entry"],
                      "code": row["http_status"], "status": _phrase(row["http_status"]), "message": row["message"],
                      "reason": row["reason"], "document_id": row["document_id"],
                      "document_status": row["document_status"] if row["http_status"] == 201 else None})
        if row["http_status"] == 201 and row["document_status"]:
            statuses[row["document_status"]] = statuses.get(row["document_status"], 0) + 1
    accepted = sum(1 for i in items if i["code"] == 201)
    return {**batch, "accepted": accepted, "rejected": len(items) - accepted, "statuses": statuses,
            "done": all(status in terminal for status in statuses), "items": items}
