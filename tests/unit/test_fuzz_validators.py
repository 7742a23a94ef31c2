"""Property tests (hypothesis) on what hostile or garbled input reaches first: the upload
validator in the API, the worker's content sniffer, and the extraction normalizers that read
amounts, dates and identifiers from OCR text. None may raise an unexpected exception or
return a value of the wrong type, whatever bytes or text they are given.
"""
from __future__ import annotations

import io
import math
import re
from datetime import date

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from invoice.scanner.api.errors import UploadRejected
from invoice.scanner.api.uploads import ALLOWED_TYPES, InspectedUpload, inspect_upload, sanitize_filename
from invoice.scanner.processing.extract import normalize as N
from invoice.scanner.processing.sniff import sniff

FAST = settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
LIMITS = {"max_bytes": 2_000_000, "max_pages": 50, "max_pixels": 40_000_000}

SIGNATURES = [b"%PDF-1.7\n", b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff\xe0", b"II*\x00", b"MM\x00*", b"PK\x03\x04",
              b"MZ", b"GIF89a", b"<svg", b"\x7fELF", b""]


def _pdf(text: str = "x") -> bytes:
    from reportlab.pdfgen import canvas

    buf = io.BytesIO()
    c = canvas.Canvas(buf)
    c.drawString(72, 720, text)
    c.save()
    return buf.getvalue()


def _png() -> bytes:
    from PIL import Image

    out = io.BytesIO()
    Image.new("L", (40, 20), 200).save(out, "PNG")
    return out.getvalue()


VALID = {"pdf": _pdf(), "png": _png()}


def _check_inspect(data: bytes) -> None:
    try:
        result = inspect_upload(data, LIMITS["max_bytes"], LIMITS["max_pages"], LIMITS["max_pixels"])
    except UploadRejected as exc:
        assert 400 <= exc.http_status < 500
        assert isinstance(exc.message, str) and exc.message.strip()
        assert isinstance(exc.reason, str) and exc.reason
        return
    assert isinstance(result, InspectedUpload)
    assert result.content_type in ALLOWED_TYPES
    # An XML e-invoice has no pages to render; every other accepted file has at least one.
    low = 0 if result.content_type == "application/xml" else 1
    assert isinstance(result.pages, int) and low <= result.pages <= LIMITS["max_pages"]
    assert re.fullmatch(r"[0-9a-f]{64}", result.sha256) and result.size_bytes == len(data)


# -- the upload validator --------------------------------------------------------------------

@FAST
@given(prefix=st.sampled_from(SIGNATURES), body=st.binary(max_size=4096))
def test_inspect_upload_answers_any_bytes_with_a_verdict(prefix, body):
    _check_inspect(prefix + body)


@FAST
@given(kind=st.sampled_from(sorted(VALID)), data=st.data())
def test_inspect_upload_on_mutated_valid_files(kind, data):
    """Valid files cut, flipped or spliced: still a verdict, never a crash."""
    original = bytearray(VALID[kind])
    op = data.draw(st.sampled_from(["truncate", "flip", "splice", "repeat"]))
    if op == "truncate":
        mutated = bytes(original[: data.draw(st.integers(0, len(original)))])
    elif op == "flip":
        for _ in range(data.draw(st.integers(1, 20))):
            i = data.draw(st.integers(0, len(original) - 1))
            original[i] = data.draw(st.integers(0, 255))
        mutated = bytes(original)
    elif op == "splice":
        i = data.draw(st.integers(0, len(original)))
        mutated = bytes(original[:i]) + data.draw(st.binary(max_size=256)) + bytes(original[i:])
    else:
        mutated = bytes(original) * data.draw(st.integers(2, 4))
    _check_inspect(mutated)


@FAST
@given(name=st.one_of(st.none(), st.text(max_size=600),
                      st.lists(st.sampled_from(["..", ".", "/", "\\", "etc", "passwd", "\x00", "\r\n", "\u202e",
                                                "C:", "~", "%2e%2e", "a" * 100, ".pdf"]), max_size=30).map("".join)))
def test_sanitize_filename_never_yields_a_path(name):
    safe = sanitize_filename(name)
    assert isinstance(safe, str) and 1 <= len(safe) <= 255
    assert "/" not in safe and "\\" not in safe and "\x00" not in safe
    assert safe not in {".", ".."} and not safe.startswith(".")
    assert not any(ord(ch) < 32 or ord(ch) == 127 for ch in safe)


@FAST
@given(prefix=st.sampled_from(SIGNATURES), body=st.binary(max_size=512))
def test_worker_sniffer_agrees_or_abstains(prefix, body):
    found = sniff(prefix + body)
    assert found is None or isinstance(found, str)


# -- the extraction normalizers --------------------------------------------------------------

OCR_ALPHABET = st.sampled_from(list("0123456789.,'’ -−–()€$£¥₹%/:EURUSDCHFkrFr.\u00a0\u202fOolI") + ["EUR", "USD"])
ocr_text = st.one_of(st.text(max_size=40), st.lists(OCR_ALPHABET, max_size=25).map("".join))


@FAST
@given(text=st.one_of(st.none(), ocr_text), sep=st.sampled_from([None, ".", ","]))
def test_parse_amount_is_a_finite_number_or_none(text, sep):
    value = N.parse_amount(text, sep)
    assert value is None or (isinstance(value, float) and math.isfinite(value))
    if value is not None:
        assert round(value, 2) == value


@FAST
@given(units=st.integers(0, 10**9), cents=st.integers(0, 99), style=st.sampled_from(["en", "de", "fr", "ch", "plain"]),
       negative=st.booleans())
def test_parse_amount_reads_formatted_amounts_exactly(units, cents, style, negative):
    groups = f"{units:,}"
    nnbsp, apostrophe = "\u202f", "'"
    text = {
        "en": f"{groups}.{cents:02d}",
        "de": f"{groups.replace(',', '.')},{cents:02d}",
        "fr": f"{groups.replace(',', nnbsp)},{cents:02d}",
        "ch": f"{groups.replace(',', apostrophe)}.{cents:02d}",
        "plain": f"{units}.{cents:02d}",
    }[style]
    if negative:
        text = f"-{text}"
    expected = (units + cents / 100) * (-1 if negative else 1)
    assert N.parse_amount(text) == pytest.approx(expected, abs=0.005)


@FAST
@given(text=st.text(max_size=200), sep=st.sampled_from([None, ".", ","]))
def test_find_amounts_spans_point_into_the_text(text, sep):
    for raw, value, start, end in N.find_amounts(text, sep):
        assert isinstance(raw, str) and isinstance(value, float) and math.isfinite(value)
        assert 0 <= start < end <= len(text) and text[start:end].strip() == raw


@FAST
@given(texts=st.lists(ocr_text, max_size=8))
def test_detect_decimal_separator_and_currency(texts):
    assert N.detect_decimal_separator(texts) in {None, ".", ","}
    for t in texts:
        cur = N.currency_in(t)
        assert cur is None or (isinstance(cur, str) and cur.isupper() and 2 <= len(cur) <= 4)


DATE_ALPHABET = st.sampled_from(list("0123456789./- ,") + ["Jan", "März", "déc", "de", "st", "2024", "31", "13"])
date_text = st.one_of(st.text(max_size=30), st.lists(DATE_ALPHABET, max_size=12).map("".join))


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(raw=st.one_of(st.none(), date_text), order=st.sampled_from([None, "DMY", "MDY"]))
def test_parse_date_is_an_iso_date_or_none(raw, order):
    parsed = N.parse_date(raw, order)
    if parsed is None:
        return
    assert isinstance(parsed.iso, str) and date.fromisoformat(parsed.iso).isoformat() == parsed.iso
    assert isinstance(parsed.ambiguous, bool)


@FAST
@given(d=st.dates(min_value=date(1971, 1, 1), max_value=date(2068, 12, 31)),
       fmt=st.sampled_from(["%Y-%m-%d", "%d.%m.%Y", "%d/%m/%Y", "%m/%d/%Y"]))
def test_parse_date_round_trips_numeric_dates_with_the_document_order(d, fmt):
    order = "MDY" if fmt.startswith("%m") else "DMY"
    parsed = N.parse_date(d.strftime(fmt), order)
    assert parsed is not None and parsed.iso == d.isoformat()


@FAST
@given(text=st.text(max_size=120))
def test_find_dates_spans_do_not_overlap(text):
    spans = N.find_dates(text)
    assert all(isinstance(raw, str) for raw, _, _ in spans)
    ends = [(s, e) for _, s, e in spans]
    assert all(0 <= s < e <= len(text) for s, e in ends)
    assert all(a[1] <= b[0] for a, b in zip(ends, ends[1:]))
    assert N.date_order_from_dates([raw for raw, _, _ in spans]) in {None, "DMY", "MDY"}


@FAST
@given(raw=st.one_of(st.text(max_size=40),
                     st.from_regex(r"[A-Z]{2}[0-9]{2}( ?[A-Z0-9]{4}){2,7}", fullmatch=True),
                     st.from_regex(r"(DE|FR|NL|ATU|CHE|GB|IT|BE)[ .\-]?[0-9A-Z]{8,12}", fullmatch=True)))
def test_identifier_validators_return_a_value_and_an_optional_reason(raw):
    assume(raw.strip())
    for fn in (N.validate_iban, N.validate_bic, N.validate_tax_id):
        value, error = fn(raw)
        assert value is None or isinstance(value, str)
        assert error is None or (isinstance(error, str) and error)
        if error is None:
            assert value  # a valid identifier has a value
