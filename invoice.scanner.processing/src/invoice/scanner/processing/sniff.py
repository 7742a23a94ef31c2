"""What a file is, decided from its bytes: the one content sniffer of the API and the workers.

The declared content type and the file name are claims, not evidence. This module is part of
the light core (standard library and defusedxml only): the API imports it, and it must never
pull in OCR, OpenCV or NumPy.

XML is accepted only as an e-invoice (UBL 2.1 Invoice / CreditNote, UN/CEFACT CII, ZUGFeRD
1.0), and only when it is safe to parse: no DTD at all (so no entity expansion — the billion
laughs — and no external entities or network access), bounded size and nesting depth.
"""
from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path
from xml.etree.ElementTree import ParseError

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import iterparse

PDF = "application/pdf"
PNG = "image/png"
JPEG = "image/jpeg"
TIFF = "image/tiff"
XML = "application/xml"
SUPPORTED = (PDF, PNG, JPEG, TIFF, XML)
NAMES = {PDF: "PDF", PNG: "PNG", JPEG: "JPEG", TIFF: "TIFF", XML: "XML e-invoice"}

# How far into a file a PDF header may start: readers (and pdfium) accept `%PDF-` anywhere in
# the first KiB, and some producers and mail gateways prepend junk. Generic signature
# libraries check offset 0 only and refuse such files.
PDF_HEADER_WINDOW = 1024
HEAD_BYTES = 8192

# E-invoice syntaxes by root element (namespace, local name).
UBL_INVOICE = "ubl-invoice"
UBL_CREDIT_NOTE = "ubl-creditnote"
CII = "cii"
ZUGFERD1 = "zugferd1"
XML_ROOTS: dict[str, str] = {
    "{urn:oasis:names:specification:ubl:schema:xsd:Invoice-2}Invoice": UBL_INVOICE,
    "{urn:oasis:names:specification:ubl:schema:xsd:CreditNote-2}CreditNote": UBL_CREDIT_NOTE,
    "{urn:un:unece:uncefact:data:standard:CrossIndustryInvoice:100}CrossIndustryInvoice": CII,
    "{urn:ferd:CrossIndustryDocument:invoice:1p0}CrossIndustryDocument": ZUGFERD1,
}
# Real e-invoices nest about 8 levels deep (UBL) to 10 (CII); 64 leaves a wide margin.
MAX_XML_DEPTH = 64
MAX_XML_BYTES = 20 * 1024 * 1024

_BOMS = (b"\xef\xbb\xbf", b"\xff\xfe", b"\xfe\xff")


class XmlRejected(ValueError):
    """An XML file that is not accepted; `reason` is a short machine label."""

    def __init__(self, message: str, reason: str):
        super().__init__(message)
        self.message = message
        self.reason = reason


class UnsafeXml(XmlRejected):
    """A DTD, entity declarations, external references, or limits exceeded."""


class MalformedXml(XmlRejected):
    """Not well-formed XML."""


class NotAnEInvoice(XmlRejected):
    """Well-formed XML whose root is none of the e-invoice syntaxes we read."""


@dataclass(frozen=True)
class XmlInfo:
    kind: str  # ubl-invoice | ubl-creditnote | cii | zugferd1
    root: str  # Clark notation {namespace}local
    depth: int
    elements: int


def _looks_like_xml(head: bytes) -> bool:
    for bom in _BOMS:
        if head.startswith(bom):
            return True
    text = head.lstrip(b" \t\r\n")
    return text.startswith(b"<?xml") or (text[:1] == b"<" and (text[1:2].isalpha() or text[1:2] in b"!_"))


def sniff(head: bytes) -> str | None:
    """The content type the leading bytes prove, or None. XML here means "looks like XML":
    `inspect_xml` decides whether it is a safe e-invoice."""
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return PNG
    if head.startswith(b"\xff\xd8\xff"):
        return JPEG
    if head.startswith((b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+")):  # classic TIFF and BigTIFF
        return TIFF
    if describe(head) is not None:
        # Another format's signature at offset 0 decides, even with a PDF header behind it
        # (a ZIP with a PDF appended is a polyglot, not a PDF with junk in front).
        return None
    if b"%PDF-" in head[:PDF_HEADER_WINDOW]:
        return PDF
    if _looks_like_xml(head):
        return XML
    return None


# Formats we refuse, named in the answer so the client learns what it sent.
_OTHER_SIGNATURES: tuple[tuple[bytes, str], ...] = (
    (b"GIF87a", "image/gif"), (b"GIF89a", "image/gif"), (b"BM", "image/bmp"), (b"PK\x03\x04", "application/zip"),
    (b"\x1f\x8b", "application/gzip"), (b"Rar!", "application/x-rar"), (b"7z\xbc\xaf", "application/x-7z-compressed"),
    (b"\xd0\xcf\x11\xe0", "application/x-ole-storage"), (b"MZ", "application/x-msdownload"),
    (b"\x7fELF", "application/x-elf"),
)


def describe(head: bytes) -> str | None:
    """The type of a file we do not accept, when its signature is a well-known one."""
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    for signature, mime in _OTHER_SIGNATURES:
        if head.startswith(signature):
            return mime
    return None


def sniff_file(path: Path) -> str | None:
    with open(path, "rb") as fh:
        return sniff(fh.read(HEAD_BYTES))


def inspect_xml(data: bytes, max_bytes: int = MAX_XML_BYTES, max_depth: int = MAX_XML_DEPTH) -> XmlInfo:
    """Parse the whole document safely and name its e-invoice syntax; raises `XmlRejected`.

    defusedxml with `forbid_dtd`: an e-invoice never needs a DTD, so any DOCTYPE (the carrier
    of entity bombs and external entities) is refused before a single entity is expanded.
    """
    if len(data) > max_bytes:
        raise UnsafeXml(f"The XML is {len(data):,} bytes; at most {max_bytes:,} are accepted", "xml_too_large")
    depth = max_seen = elements = 0
    root: str | None = None
    try:
        for event, elem in iterparse(io.BytesIO(data), events=("start", "end"), forbid_dtd=True,
                                     forbid_entities=True, forbid_external=True):
            if event == "start":
                depth += 1
                elements += 1
                max_seen = max(max_seen, depth)
                if root is None:
                    root = elem.tag
                    if root not in XML_ROOTS:
                        raise NotAnEInvoice(
                            f"The XML's root element is {root}; an e-invoice is a UBL 2.1 Invoice or CreditNote, "
                            f"a UN/CEFACT CrossIndustryInvoice (CII) or a ZUGFeRD 1.0 CrossIndustryDocument",
                            "not_an_einvoice")
                if depth > max_depth:
                    raise UnsafeXml(f"The XML nests deeper than {max_depth} elements", "xml_too_deep")
            else:
                depth -= 1
                elem.clear()  # keep memory flat on large files
    except DefusedXmlException as exc:
        raise UnsafeXml("The XML declares a DTD or entities, which an e-invoice never needs; such files are "
                        f"refused unparsed (entity expansion and external references are unsafe): {exc}",
                        "unsafe_xml") from exc
    except ParseError as exc:
        raise MalformedXml(f"The XML is not well-formed: {exc}", "corrupt_xml") from exc
    if root is None:
        raise MalformedXml("The XML has no root element", "corrupt_xml")
    return XmlInfo(kind=XML_ROOTS[root], root=root, depth=max_seen, elements=elements)
