"""The invoice XML embedded in a hybrid PDF (Factur-X, ZUGFeRD 1.0/2.x, XRechnung in PDF/A-3).

The attachments are read with pypdf, as the `factur-x` package does, but the XML is not
parsed here: `terms.read` parses it with the hardened parser. Known names come first
(factur-x.xml, zugferd-invoice.xml, ZUGFeRD-invoice.xml, xrechnung.xml); any other XML
attachment whose root is an e-invoice syntax is taken after them.
"""
from __future__ import annotations

import logging
from pathlib import Path

from invoice.scanner.processing import sniff

logger = logging.getLogger(__name__)

KNOWN_NAMES = ("factur-x.xml", "zugferd-invoice.xml", "xrechnung.xml")
MAX_ATTACHMENT_BYTES = sniff.MAX_XML_BYTES


def embedded_xml(path: Path) -> tuple[str, bytes] | None:
    """(attachment name, exact bytes) of the invoice XML inside the PDF, or None."""
    from pypdf import PdfReader

    try:
        reader = PdfReader(str(path))
        attachments = list(reader.attachment_list)
    except Exception as exc:  # noqa: BLE001 - see below
        # pdfium renders many PDFs pypdf cannot walk (a broken names tree raises anything from
        # KeyError to RecursionError); such a PDF is treated as one without an e-invoice, the
        # usual path reads it, and the log says why. It never fails the document.
        logger.warning("attachments of %s not readable (%s: %s); treated as a PDF without e-invoice",
                       path.name, type(exc).__name__, exc)
        return None
    candidates: list[tuple[int, str, bytes]] = []
    for attachment in attachments:
        name = str(attachment.name or "")
        if not name.lower().endswith(".xml"):
            continue
        try:
            content = attachment.content
        except Exception as exc:  # noqa: BLE001 - one unreadable attachment never fails the document
            logger.warning("attachment %s not readable (%s: %s)", name, type(exc).__name__, exc)
            continue
        if not content or len(content) > MAX_ATTACHMENT_BYTES:
            continue
        rank = KNOWN_NAMES.index(name.lower()) if name.lower() in KNOWN_NAMES else len(KNOWN_NAMES)
        if rank == len(KNOWN_NAMES):
            try:
                sniff.inspect_xml(content)
            except sniff.XmlRejected:
                continue  # some other XML (metadata, a delivery note)
        candidates.append((rank, name, bytes(content)))
    if not candidates:
        return None
    _, name, content = min(candidates, key=lambda c: c[0])
    return name, content
