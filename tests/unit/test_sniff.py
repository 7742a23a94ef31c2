"""The one content sniffer (`invoice.scanner.processing.sniff`): the API's upload check and the
workers' preprocessing judge a file by the same rules, and the API stays free of heavy libraries."""
from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from invoice.scanner.api.errors import UnreadableDocument, UnsupportedFileType
from invoice.scanner.api.uploads import inspect_upload
from invoice.scanner.processing import sniff as S
from invoice.scanner.processing.vision import sniff as worker_sniff

LIMITS = dict(max_bytes=20_000_000, max_pages=50, max_pixels=40_000_000)
DATA = Path(__file__).resolve().parents[1] / "data" / "einvoice"


def _pdf() -> bytes:
    from reportlab.pdfgen import canvas

    buf = io.BytesIO()
    c = canvas.Canvas(buf)
    c.drawString(72, 720, "Invoice 42")
    c.save()
    return buf.getvalue()


def _bigtiff() -> bytes:
    out = io.BytesIO()
    Image.new("L", (60, 40), 200).save(out, "TIFF", big_tiff=True)
    return out.getvalue()


BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
]>
<Invoice xmlns="urn:oasis:names:specification:ubl:schema:xsd:Invoice-2">&lol4;</Invoice>
"""
XXE = b"""<?xml version="1.0"?>
<!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]>
<CrossIndustryInvoice xmlns="urn:un:unece:uncefact:data:standard:CrossIndustryInvoice:100">&x;</CrossIndustryInvoice>
"""
ROOTS = {
    S.UBL_INVOICE: b'<Invoice xmlns="urn:oasis:names:specification:ubl:schema:xsd:Invoice-2"/>',
    S.UBL_CREDIT_NOTE: b'<CreditNote xmlns="urn:oasis:names:specification:ubl:schema:xsd:CreditNote-2"/>',
    S.CII: b'<rsm:CrossIndustryInvoice xmlns:rsm="urn:un:unece:uncefact:data:standard:CrossIndustryInvoice:100"/>',
    S.ZUGFERD1: b'<rsm:CrossIndustryDocument xmlns:rsm="urn:ferd:CrossIndustryDocument:invoice:1p0"/>',
}


def test_junk_before_the_pdf_header_is_a_pdf_for_api_and_worker(tmp_path):
    data = b"X-Mailer: gateway 1.0\r\n" * 20 + _pdf()
    assert data.index(b"%PDF-") > 0
    assert S.sniff(data) == S.PDF
    path = tmp_path / "upload.bin"
    path.write_bytes(data)
    assert worker_sniff.sniff_file(path) == S.PDF
    inspected = inspect_upload(data, **LIMITS)
    assert inspected.content_type == "application/pdf" and inspected.pages == 1


def test_another_formats_signature_wins_over_a_pdf_header_behind_it():
    assert S.sniff(b"PK\x03\x04" + b"\x00" * 40 + _pdf()) is None  # a ZIP with a PDF appended
    assert S.describe(b"PK\x03\x04") == "application/zip"


def test_a_pdf_header_past_the_first_kib_is_not_a_pdf():
    assert S.sniff(b"\x00" * 1100 + b"%PDF-1.7\n") is None


def test_bigtiff_is_a_tiff_for_api_and_worker(tmp_path):
    data = _bigtiff()
    assert data[:4] == b"II+\x00"
    assert S.sniff(data) == S.TIFF
    (tmp_path / "big.tif").write_bytes(data)
    assert worker_sniff.sniff_file(tmp_path / "big.tif") == S.TIFF
    assert inspect_upload(data, **LIMITS).content_type == "image/tiff"


@pytest.mark.parametrize("kind", sorted(ROOTS))
def test_xml_kinds_are_named_by_their_root(kind):
    data = b'<?xml version="1.0" encoding="UTF-8"?>\n<!-- an e-invoice -->\n' + ROOTS[kind]
    assert S.sniff(data) == S.XML
    assert S.inspect_xml(data).kind == kind


def test_xml_with_bom_and_leading_whitespace_is_xml():
    data = b"\xef\xbb\xbf  \n" + ROOTS[S.CII]
    assert S.sniff(data) == S.XML and S.inspect_xml(data).kind == S.CII


@pytest.mark.parametrize("name", ["xrechnung-ubl.xml", "xrechnung-cii.xml", "peppol"])
def test_real_e_invoices_are_accepted_by_the_api(name):
    import einvoicegen

    data = einvoicegen.peppol_ubl() if name == "peppol" else (DATA / name).read_bytes()
    inspected = inspect_upload(data, **LIMITS)
    assert inspected.content_type == "application/xml" and inspected.pages == 0


def test_billion_laughs_is_refused_unexpanded():
    with pytest.raises(S.UnsafeXml) as info:
        S.inspect_xml(BILLION_LAUGHS)
    assert info.value.reason == "unsafe_xml"
    with pytest.raises(UnreadableDocument) as api:
        inspect_upload(BILLION_LAUGHS, **LIMITS)
    assert api.value.http_status == 422 and "DTD" in api.value.message


def test_external_entities_are_refused():
    with pytest.raises(S.UnsafeXml):
        S.inspect_xml(XXE)


def test_depth_and_size_limits():
    deep = b'<Invoice xmlns="urn:oasis:names:specification:ubl:schema:xsd:Invoice-2">' + b"<a>" * 80 + b"</a>" * 80 \
        + b"</Invoice>"
    with pytest.raises(S.UnsafeXml) as info:
        S.inspect_xml(deep)
    assert info.value.reason == "xml_too_deep"
    with pytest.raises(S.UnsafeXml) as info:
        S.inspect_xml(ROOTS[S.CII], max_bytes=10)
    assert info.value.reason == "xml_too_large"


def test_other_xml_and_broken_xml_are_refused_with_4xx():
    with pytest.raises(UnsupportedFileType) as info:
        inspect_upload(b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg"/>', **LIMITS)
    assert info.value.http_status == 415 and "e-invoice" in info.value.message
    with pytest.raises(UnreadableDocument) as info:
        inspect_upload(b'<Invoice xmlns="urn:oasis:names:specification:ubl:schema:xsd:Invoice-2"><a></Invoice>',
                       **LIMITS)
    assert info.value.reason == "corrupt_xml"


def test_refused_formats_are_named():
    assert S.sniff(b"GIF89a....") is None and S.describe(b"GIF89a....") == "image/gif"
    assert S.describe(b"PK\x03\x04rest") == "application/zip"


def test_the_api_imports_no_heavy_library():
    """The API (its app, uploads and the sniffer) must not load OCR, OpenCV, NumPy or the XSLT engine."""
    code = ("import sys, json; from invoice.scanner.api.app import create_app; import invoice.scanner.api.uploads; "
            "import invoice.scanner.processing.sniff; "
            "print(json.dumps(sorted(m for m in ('numpy', 'cv2', 'onnxruntime', 'rapidocr_onnxruntime', 'paddleocr', "
            "'saxonche', 'lxml', 'facturx') if m in sys.modules)))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    assert json.loads(out.stdout.strip().splitlines()[-1]) == []
