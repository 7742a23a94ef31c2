"""The watched folder: files dropped into `INGEST_DIR/<company>/` become documents.

`<company>` is the company's id (`INGEST_DIR/5b0c…/`) or its slug, its name in lower case with
every run of other characters than letters and digits as one `-` (`Acme GmbH` -> `acme-gmbh`).
A poll (the `ingest` queue's beat task, or `scan()` directly) looks at each company folder's
top-level files and takes a file only once it is complete:
- dotfiles and names ending `.part`, `.tmp`, `.crdownload`, `.partial` are never taken (write
  under such a name, then rename into place: a rename is atomic and the file is complete);
- any other file must show the same size and modification time on two polls
  (`INGEST_SETTLE_S` apart at least), remembered in Redis, so a file still being written slowly
  is left until it stops growing.
A worker claims a file by renaming it into `.claims/` (atomic on one filesystem: of several
workers polling the same folder, exactly one rename succeeds; the others see it gone). The
claimed bytes go through the single upload's path (`services.upload_document`, `source="folder"`)
and the file then moves to `processed/` (201) or `failed/` (any refusal, a duplicate included)
with `<name>.reason.json` beside it (code, reason, message, document id). A claim left behind by
a worker that died is returned to the folder after `INGEST_CLAIM_TIMEOUT_S`.
"""
from __future__ import annotations

import json
import logging
import os
import re
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from invoice.scanner.api.errors import DuplicateDocument, UploadRejected
from invoice.scanner.api.services import ApiState, upload_document
from invoice.scanner.api.uploads import sanitize_filename

logger = logging.getLogger(__name__)

PROCESSED, FAILED, CLAIMS = "processed", "failed", ".claims"
PARTIAL_SUFFIXES = (".part", ".tmp", ".crdownload", ".partial", ".reason.json")
SEEN_KEY = "invoice-scanner:ingest:seen:"  # + path -> "size:mtime_ns:first-seen"
SEEN_TTL_S = 3600


def slug(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")


def company_folders(state: ApiState, root: Path) -> dict[Path, uuid.UUID]:
    """Each folder under `root` that names a company (by id or slug)."""
    with state.repo.tx() as cur:
        cur.execute("SELECT id, name FROM companies")
        companies = cur.fetchall()
    by_name = {str(c["id"]): c["id"] for c in companies}
    by_name.update({slug(c["name"]): c["id"] for c in companies if slug(c["name"]) not in by_name})
    out = {}
    for folder in sorted(root.iterdir()) if root.is_dir() else []:
        if folder.is_dir() and not folder.name.startswith(".") and folder.name.lower() in by_name:
            out[folder] = by_name[folder.name.lower()]
    return out


def ignored(name: str) -> bool:
    return name.startswith(".") or name.lower().endswith(PARTIAL_SUFFIXES)


@dataclass
class FolderResult:
    path: str
    code: int
    reason: str | None
    document_id: str | None
    moved_to: str


def _unique(target_dir: Path, name: str) -> Path:
    target_dir.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S")
    target = target_dir / f"{stamp}_{name}"
    while target.exists():
        target = target_dir / f"{stamp}_{uuid.uuid4().hex[:6]}_{name}"
    return target


class FolderIngest:
    def __init__(self, state: ApiState, root: Path, settle_s: float = 2.0, claim_timeout_s: float = 900.0):
        self.state, self.root, self.settle_s, self.claim_timeout_s = state, Path(root), settle_s, claim_timeout_s

    def complete(self, path: Path) -> bool:
        """Same size and mtime as on an earlier poll at least `settle_s` ago (remembered in Redis)."""
        st = path.stat()
        key = SEEN_KEY + str(path)
        now = time.time()
        seen = self.state.redis.get(key)
        if seen is not None:
            size, mtime, first = seen.decode().split(":")
            if int(size) == st.st_size and int(mtime) == st.st_mtime_ns:
                return now - float(first) >= self.settle_s
        self.state.redis.set(key, f"{st.st_size}:{st.st_mtime_ns}:{now}", ex=SEEN_TTL_S)
        return False

    def claim(self, path: Path) -> Path | None:
        """Rename into `.claims/`; None when another worker was first."""
        claims = path.parent / CLAIMS
        claims.mkdir(exist_ok=True)
        target = claims / f"{time.time_ns()}_{uuid.uuid4().hex[:8]}_{path.name}"
        try:
            os.rename(path, target)
        except FileNotFoundError:
            return None
        self.state.redis.delete(SEEN_KEY + str(path))
        return target

    def return_stale_claims(self, folder: Path) -> None:
        claims = folder / CLAIMS
        for claimed in claims.iterdir() if claims.is_dir() else []:
            stamp, _, rest = claimed.name.partition("_")
            if stamp.isdigit() and time.time() - int(stamp) / 1e9 > self.claim_timeout_s:
                original = rest.partition("_")[2]
                try:
                    os.rename(claimed, folder / original)
                    logger.warning("ingest: claim %s abandoned by its worker; returned to the folder", claimed)
                except FileNotFoundError:
                    pass

    def ingest(self, claimed: Path, company_id: uuid.UUID, original: Path) -> FolderResult:
        name = sanitize_filename(original.name)
        detail = {"path": str(original.relative_to(self.root)), "size": claimed.stat().st_size,
                  "modified_at": datetime.fromtimestamp(claimed.stat().st_mtime, timezone.utc).isoformat()}
        code, reason, message, document_id = 201, None, "Document uploaded and queued for processing", None
        try:
            data = claimed.read_bytes()[: self.state.config.max_upload_bytes + 1]
            document_id = str(upload_document(self.state, data, name, company_id, None, source="folder",
                                              source_detail=detail).document.id)
        except UploadRejected as exc:
            code, reason, message = exc.http_status, exc.reason, exc.message
        except DuplicateDocument as exc:
            code, reason, message, document_id = (409, "duplicate", "This file was already uploaded; it is not "
                                                  "processed again", exc.document_id)
        folder = original.parent
        target = _unique(folder / (PROCESSED if code == 201 else FAILED), original.name)
        os.rename(claimed, target)
        if code != 201:
            target.with_name(target.name + ".reason.json").write_text(json.dumps(
                {"code": code, "reason": reason, "message": message, "document_id": document_id}, indent=2) + "\n")
        logger.info("ingest: %s -> %s (%s%s)", detail["path"], target.relative_to(self.root), code,
                    f", document {document_id}" if document_id else "")
        return FolderResult(detail["path"], code, reason, document_id, str(target.relative_to(self.root)))

    def scan(self) -> list[FolderResult]:
        """One poll over every company folder."""
        results = []
        for folder, company_id in company_folders(self.state, self.root).items():
            self.return_stale_claims(folder)
            for path in sorted(folder.iterdir()):
                if ignored(path.name) or not path.is_file() or path.is_symlink():
                    continue
                try:
                    if not self.complete(path):
                        continue
                except FileNotFoundError:
                    continue  # taken by another worker meanwhile
                claimed = self.claim(path)
                if claimed is not None:
                    results.append(self.ingest(claimed, company_id, path))
        return results


def scan_dict(results: list[FolderResult]) -> dict[str, Any]:
    return {"files": [r.__dict__ for r in results]}
