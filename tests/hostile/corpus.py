"""Hostile uploads, built in memory in about a second: what a careless or malicious client
can send to `POST /documents/upload`.

Every case says what a correct API does with it:

- `reject`: a 4xx JSON error whose code is one of `codes` (the contract's error shape);
- `accept`: 201, and the document then reaches a terminal status (never stuck, never 5xx);
- `either`: a clear 4xx or an accepted upload that ends terminal; both are safe, and which
  one is a policy choice (a huge MediaBox, say, can be rendered at a bounded size or refused).

Bombs are built cheaply: the 10,000-page PDF repeats one page object in the page tree; the
30000x30000 PNG is 1-bit zeros that compress about 1000:1; the 20000x20000 image inside a
PDF is a Flate stream of zeros. Nothing here is decoded while it is built.

    from hostile.corpus import build_corpus
    for case in build_corpus(): print(case.name, len(case.data), case.filename)
"""
from __future__ import annotations

import io
import struct
import zipfile
import zlib
from dataclasses import dataclass, field

from PIL import Image, ImageDraw
from reportlab.lib.pagesizes import A4
from reportlab.pdfgen import canvas


@dataclass(frozen=True)
class HostileCase:
    name: str
    data: bytes
    filename: str
    expect: str  # "reject" | "accept" | "either"
    codes: frozenset[int] = field(default_factory=frozenset)  # acceptable 4xx codes when rejected
    why: str = ""


# -- building blocks -------------------------------------------------------------------------

def text_pdf(label: str, password: str | None = None) -> bytes:
    """A small, valid one-page invoice-like PDF with a text layer; `label` makes its bytes unique."""
    buf = io.BytesIO()
    kwargs = {}
    if password is not None:
        from reportlab.lib.pdfencrypt import StandardEncryption

        kwargs["encrypt"] = StandardEncryption(password, ownerPassword=password + "-owner", canPrint=0)
    c = canvas.Canvas(buf, pagesize=A4, invariant=1, **kwargs)
    c.setFont("Helvetica", 12)
    c.drawString(72, 770, "INVOICE")
    c.drawString(72, 750, f"Invoice number: HX-{abs(hash(label)) % 100000:05d}")
    c.drawString(72, 730, "Date: 2024-03-01")
    c.drawString(72, 710, f"Case: {label}")
    c.drawString(72, 690, "Total: EUR 120.00")
    c.showPage()
    c.save()
    return buf.getvalue()


def png_image(label: str, size: tuple[int, int] = (600, 300)) -> bytes:
    img = Image.new("L", size, 255)
    ImageDraw.Draw(img).text((20, 20), f"INVOICE {label}", fill=0)
    out = io.BytesIO()
    img.save(out, "PNG")
    return out.getvalue()


def jpeg_image(label: str, size: tuple[int, int] = (600, 300)) -> bytes:
    img = Image.new("RGB", size, (255, 255, 255))
    ImageDraw.Draw(img).text((20, 20), f"INVOICE {label}", fill=(0, 0, 0))
    out = io.BytesIO()
    img.save(out, "JPEG", quality=80)
    return out.getvalue()


def raw_pdf(objects: list[bytes], root: int = 1) -> bytes:
    """A PDF from numbered object bodies (object i+1 = objects[i]) with a correct xref table."""
    out = bytearray(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    for off in offsets:
        out += b"%010d 00000 n \n" % off
    out += b"trailer\n<< /Size %d /Root %d 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, root, xref)
    return bytes(out)


def _stream(dictionary: bytes, data: bytes) -> bytes:
    return b"<< " + dictionary + b" /Length %d >>\nstream\n" % len(data) + data + b"\nendstream"


def many_pages_pdf(pages: int = 10_000) -> bytes:
    """One page object listed `pages` times in the page tree: about 9 bytes per page."""
    content = b"BT /F1 12 Tf 72 720 Td (page) Tj ET"
    kids = b" ".join([b"3 0 R"] * pages)
    return raw_pdf([
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [" + kids + b"] /Count %d >>" % pages,
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R"
        b" /Resources << /Font << /F1 5 0 R >> >> >>",
        _stream(b"", content),
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ])


def huge_mediabox_pdf(side: float = 14400.0) -> bytes:
    """One page 14400pt square (200 in, the PDF maximum): 40000x40000 pixels at 200 dpi."""
    content = b"BT /F1 400 Tf 720 7200 Td (INVOICE HUGE PAGE Total 120.00) Tj ET"
    return raw_pdf([
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 %d %d] /Contents 4 0 R"
        b" /Resources << /Font << /F1 5 0 R >> >> >>" % (int(side), int(side)),
        _stream(b"", content),
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ])


def huge_image_pdf(side: int = 20_000) -> bytes:
    """An A4 page drawing one 20000x20000 grey image: 400 MB decoded, ~400 KB as Flate zeros."""
    comp = zlib.compressobj(9)
    row = bytes(side)
    chunks = [comp.compress(row) for _ in range(side)]
    image = b"".join(chunks) + comp.flush()
    content = b"q 595 0 0 842 0 0 cm /Im1 Do Q"
    return raw_pdf([
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R"
        b" /Resources << /XObject << /Im1 5 0 R >> >> >>",
        _stream(b"", content),
        _stream(b"/Type /XObject /Subtype /Image /Width %d /Height %d /ColorSpace /DeviceGray"
                b" /BitsPerComponent 8 /Filter /FlateDecode" % (side, side), image),
    ])


def cyclic_pages_pdf() -> bytes:
    """The page tree lists itself as its own kid: a naive walker recurses forever."""
    return raw_pdf([
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [2 0 R 3 0 R] /Count 2 >>",
        b"<< /Type /Pages /Kids [2 0 R] /Parent 2 0 R /Count 1 >>",
    ])


def self_referencing_length_pdf() -> bytes:
    """A content stream whose /Length points at the stream object itself."""
    return raw_pdf([
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 3 0 R /MediaBox [0 0 612 792] /Contents 4 0 R >>",
        b"<< /Length 4 0 R >>\nstream\nBT ET\nendstream",
    ])


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def png_bomb(side: int = 30_000, complete: bool = True) -> bytes:
    """A 1-bit PNG `side` pixels square of zeros (about 110 KB for 30000x30000, 900 MP decoded).
    With `complete=False` only the header is real and the pixel data is cut short."""
    ihdr = struct.pack(">IIBBBBB", side, side, 1, 0, 0, 0, 0)  # 1-bit greyscale
    comp = zlib.compressobj(9)
    row = b"\x00" + bytes((side + 7) // 8)  # filter byte + packed pixels
    rows = side if complete else 64
    idat = b"".join(comp.compress(row) for _ in range(rows)) + comp.flush()
    return (b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", ihdr) + _png_chunk(b"IDAT", idat)
            + _png_chunk(b"IEND", b""))


def tiff_many_frames(frames: int = 300) -> bytes:
    img = Image.new("1", (16, 16), 1)
    out = io.BytesIO()
    img.save(out, "TIFF", save_all=True, append_images=[img] * (frames - 1))
    return out.getvalue()


def tiff_huge_header(side: int = 60_000) -> bytes:
    """A real 16x16 TIFF whose header claims `side` x `side` pixels."""
    img = Image.new("1", (16, 16), 1)
    out = io.BytesIO()
    img.save(out, "TIFF")
    data = bytearray(out.getvalue())
    # Rewrite ImageWidth (256) and ImageLength (257) in the first IFD (little-endian "II").
    ifd = struct.unpack_from("<I", data, 4)[0]
    count = struct.unpack_from("<H", data, ifd)[0]
    for i in range(count):
        entry = ifd + 2 + 12 * i
        tag, typ = struct.unpack_from("<HH", data, entry)
        if tag in (256, 257):
            if typ == 3:  # SHORT (60000 still fits in 16 bits)
                struct.pack_into("<H", data, entry + 8, side)
            else:
                struct.pack_into("<I", data, entry + 8, side)
    return bytes(data)


def zip_bytes(members: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in members.items():
            z.writestr(name, data)
    return out.getvalue()


PE_STUB = (b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff\x00\x00" + bytes(44) + struct.pack("<I", 64)
           + b"PE\x00\x00\x4c\x01" + bytes(200))

REJECT_TYPE = frozenset({415, 400, 422})
REJECT_UNREADABLE = frozenset({422, 400})


def build_corpus() -> list[HostileCase]:
    pdf_good = text_pdf("polyglot-base")
    cases = [
        # -- empty and truncated --------------------------------------------------------
        HostileCase("zero_bytes", b"", "empty.pdf", "reject", frozenset({400, 422}), "empty body"),
        HostileCase("one_byte", b"%", "one.pdf", "reject", REJECT_TYPE, "not a document"),
        HostileCase("pdf_header_only", b"%PDF-1.7\n", "header.pdf", "reject", REJECT_UNREADABLE,
                    "a PDF signature and nothing else"),
        HostileCase("truncated_pdf", text_pdf("truncated")[:700], "truncated.pdf", "either", REJECT_UNREADABLE,
                    "cut in the middle; PDFium may rebuild what is left"),
        HostileCase("corrupt_pdf", b"%PDF-1.4\n" + bytes(range(256)) * 40 + b"\n%%EOF\n", "corrupt.pdf", "reject",
                    REJECT_UNREADABLE, "a PDF header over random bytes"),
        HostileCase("truncated_png", png_image("truncated")[:200], "truncated.png", "reject", REJECT_UNREADABLE,
                    "PNG cut after its header"),
        HostileCase("truncated_jpeg", jpeg_image("truncated")[:300], "truncated.jpg", "either", REJECT_UNREADABLE,
                    "JPEG cut short; decoders fill the rest with grey"),
        # -- bombs ---------------------------------------------------------------------
        HostileCase("pdf_10k_pages", many_pages_pdf(10_000), "pages.pdf", "reject", REJECT_UNREADABLE,
                    "10,000 pages from one repeated page object"),
        HostileCase("pdf_huge_mediabox", huge_mediabox_pdf(), "mediabox.pdf", "either", REJECT_UNREADABLE,
                    "a 200x200 inch page: must render at a bounded size or be refused"),
        HostileCase("pdf_huge_image", huge_image_pdf(), "image.pdf", "either", REJECT_UNREADABLE,
                    "a 20000x20000 image inside an A4 page"),
        HostileCase("pdf_cyclic_pages", cyclic_pages_pdf(), "cycle.pdf", "either", REJECT_UNREADABLE,
                    "a page tree that contains itself (PDFium counts the pages it can reach)"),
        HostileCase("pdf_self_length", self_referencing_length_pdf(), "selfref.pdf", "either", REJECT_UNREADABLE,
                    "a stream /Length that refers to its own object, a cyclic /Parent"),
        HostileCase("png_bomb_30k", png_bomb(30_000), "bomb.png", "reject", frozenset({413, 422}),
                    "30000x30000 pixels declared and present (1-bit zeros)"),
        HostileCase("png_bomb_header_only", png_bomb(30_000, complete=False), "bomb2.png", "reject",
                    frozenset({413, 422}), "30000x30000 declared, pixel data cut short"),
        HostileCase("tiff_300_frames", tiff_many_frames(300), "frames.tiff", "reject", REJECT_UNREADABLE,
                    "300 pages in one TIFF"),
        HostileCase("tiff_huge_header", tiff_huge_header(), "huge.tiff", "reject", frozenset({413, 422}),
                    "a TIFF header claiming 60000x60000 pixels"),
        # -- polyglots and wrong names -------------------------------------------------
        HostileCase("pdf_zip_polyglot", text_pdf("pdf+zip") + zip_bytes({"evil.sh": b"rm -rf /\n"}),
                    "polyglot.pdf", "either", REJECT_UNREADABLE, "a valid PDF that is also a ZIP"),
        HostileCase("zip_then_pdf", zip_bytes({"a.txt": b"hello"}) + pdf_good, "zipfirst.pdf", "reject", REJECT_TYPE,
                    "a ZIP with a PDF appended: the content is a ZIP"),
        HostileCase("jpeg_with_html", jpeg_image("jpeg+html")
                    + b"<html><script>alert(document.cookie)</script></html>", "photo.jpg", "either",
                    REJECT_UNREADABLE, "a JPEG with HTML after its end marker"),
        HostileCase("png_named_pdf", png_image("png-named-pdf"), "invoice.pdf", "accept", frozenset(),
                    "type is judged by content: a PNG"),
        HostileCase("pdf_named_png", text_pdf("pdf-named-png"), "invoice.png", "accept", frozenset(),
                    "type is judged by content: a PDF"),
        HostileCase("exe_named_pdf", PE_STUB, "invoice.pdf", "reject", REJECT_TYPE, "a Windows executable"),
        HostileCase("elf_named_pdf", b"\x7fELF\x02\x01\x01" + bytes(120), "invoice.pdf", "reject", REJECT_TYPE,
                    "a Linux executable"),
        HostileCase("zip_named_pdf", zip_bytes({"invoice.pdf": pdf_good}), "invoice.pdf", "reject", REJECT_TYPE,
                    "a ZIP holding a PDF"),
        HostileCase("html_named_pdf", b"<!DOCTYPE html><html><body><script>alert(1)</script></body></html>",
                    "invoice.pdf", "reject", REJECT_TYPE, "an HTML page"),
        HostileCase("svg_named_pdf", b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg" '
                    b'onload="alert(1)"><text>INVOICE</text></svg>', "invoice.pdf", "reject", REJECT_TYPE,
                    "an SVG with a script"),
        HostileCase("text_named_pdf", b"INVOICE 42\nTotal 120.00\n" * 20, "invoice.pdf", "reject", REJECT_TYPE,
                    "plain text"),
        HostileCase("gzip_named_pdf", zlib.compress(pdf_good), "invoice.pdf", "reject", REJECT_TYPE,
                    "a compressed PDF"),
        HostileCase("encrypted_pdf", text_pdf("encrypted", password="s3cret"), "locked.pdf", "reject",
                    REJECT_UNREADABLE, "needs a password to open"),
        # -- filenames -----------------------------------------------------------------
        HostileCase("name_path_traversal", text_pdf("traversal"), "../../etc/passwd.pdf", "accept", frozenset(),
                    "a name that climbs out of the documents folder"),
        HostileCase("name_windows_traversal", text_pdf("win-traversal"), "..\\..\\..\\Windows\\win.ini.pdf", "accept",
                    frozenset(), "a Windows-style traversal"),
        HostileCase("name_absolute", text_pdf("absolute"), "/tmp/invoice-scanner-pwned.pdf", "accept", frozenset(),
                    "an absolute path"),
        HostileCase("name_control_chars", text_pdf("control"), "inv\x00oice\r\n\x1b[31m.pdf", "accept", frozenset(),
                    "NUL, CR/LF and a terminal escape in the name"),
        HostileCase("name_very_long", text_pdf("long"), "a" * 4000 + ".pdf", "accept", frozenset(),
                    "a 4,004-character name"),
        HostileCase("name_unicode", text_pdf("unicode"), "facture-été-請求書-\u202egpj.pdf-🧾.pdf", "accept", frozenset(),
                    "accents, CJK, an emoji and a right-to-left override"),
        HostileCase("name_only_dots", text_pdf("dots"), "..", "accept", frozenset(), "the name '..'"),
        HostileCase("name_empty", text_pdf("empty-name"), "", "either", frozenset({400, 422}),
                    "no file name at all"),
    ]
    return cases


if __name__ == "__main__":
    for case in build_corpus():
        print(f"{case.name:<26} {len(case.data):>10,} bytes  {case.expect:<7} {case.filename[:40]!r}")
