"""Where files live on the shared documents volume. Names are generated, never taken from
the upload, and the folder is never served over HTTP."""
from __future__ import annotations

import os
import tempfile
from pathlib import Path

EXTENSIONS = {
    "application/pdf": ".pdf",
    "image/png": ".png",
    "image/jpeg": ".jpg",
    "image/tiff": ".tif",
}


def document_dir(root: Path, company_id: str, document_id: str) -> Path:
    return Path(root) / str(company_id) / str(document_id)


def original_path(root: Path, company_id: str, document_id: str, content_type: str) -> Path:
    return document_dir(root, company_id, document_id) / f"original{EXTENSIONS[content_type]}"


def pages_dir(document_path: str | Path) -> Path:
    """Rendered pages sit beside the original."""
    return Path(document_path).parent / "pages"


def write_atomically(path: Path, data: bytes) -> None:
    """Write to a temporary file in the same folder, fsync, then rename: a crash never leaves
    a half-written file under the final name."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".upload-")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
