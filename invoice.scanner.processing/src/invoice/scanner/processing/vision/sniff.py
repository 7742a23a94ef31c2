"""What a file is, decided from its bytes (the declared content type is a claim, not evidence)."""
from __future__ import annotations

from pathlib import Path

PDF = "application/pdf"
PNG = "image/png"
JPEG = "image/jpeg"
TIFF = "image/tiff"
SUPPORTED = (PDF, PNG, JPEG, TIFF)


def sniff(head: bytes) -> str | None:
    """The content type the leading bytes prove, or None."""
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return PNG
    if head.startswith(b"\xff\xd8\xff"):
        return JPEG
    if head.startswith((b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+")):  # classic and BigTIFF
        return TIFF
    # Readers (and pdfium) accept a PDF header anywhere in the first KiB: some producers and
    # mail gateways prepend junk. A generic signature library checks offset 0 only.
    if b"%PDF-" in head[:1024]:
        return PDF
    return None


def sniff_file(path: Path) -> str | None:
    with open(path, "rb") as fh:
        return sniff(fh.read(1024))
