"""The synthetic invoice generator: determinism, exact arithmetic, valid identifiers,
real text layers, scans of the promised size, every layout in every language."""
from __future__ import annotations

import io
from datetime import date
from decimal import ROUND_HALF_UP, Decimal

import pypdfium2 as pdfium
import pytest
from PIL import Image
from schwifty import BIC, IBAN

from invoice.scanner.processing.fields import FIELD_NAMES, LINE_ITEM_FIELDS
from invoicegen import LANGUAGES, LAYOUT_NAMES, corpus_plan, generate, generate_corpus
from stdnum import get_cc_module


def pdf_text(data: bytes) -> list[str]:
    doc = pdfium.PdfDocument(data)
    try:
        return [page.get_textpage().get_text_range() for page in doc]
    finally:
        doc.close()


def squash(s: str) -> str:
    # pdfium separates words with spaces or line breaks depending on the layout; compare without them.
    return "".join(s.split())


@pytest.fixture(scope="module")
def one_per_layout_language() -> list:
    return [generate(seed=1000 + i, language=lang, layout=lay)
            for i, (lang, lay) in enumerate((lang, lay) for lang in LANGUAGES for lay in LAYOUT_NAMES)]


def test_there_are_many_layouts_and_all_languages():
    assert len(LAYOUT_NAMES) >= 10
    assert set(LANGUAGES) == {"en", "de", "fr", "es", "nl"}


def test_same_seed_same_bytes_and_truth():
    a, b = generate(42), generate(42)
    assert a.data == b.data and a.truth == b.truth and a.filename == b.filename
    c = generate(43)
    assert c.data != a.data


def test_scans_are_deterministic_too():
    a = generate(7, kind="scanned", layout="banded", language="fr")
    b = generate(7, kind="scanned", layout="banded", language="fr")
    assert a.data == b.data and a.truth == b.truth


def test_truth_has_every_field_and_line_item_key():
    t = generate(5).truth
    assert set(FIELD_NAMES) <= set(t)
    assert t["line_items"] and all(set(LINE_ITEM_FIELDS) == set(item) for item in t["line_items"])
    assert {"language", "layout", "kind", "pages", "seed"} <= set(t["meta"])


def test_every_layout_renders_in_every_language_with_a_text_layer(one_per_layout_language):
    seen = set()
    for inv in one_per_layout_language:
        t = inv.truth
        seen.add((t["meta"]["language"], t["meta"]["layout"]))
        assert inv.content_type == "application/pdf" and inv.filename.endswith(".pdf")
        pages = pdf_text(inv.data)
        assert len(pages) == t["meta"]["pages"]
        text = squash("\n".join(pages))
        assert squash(t["invoice_number"]) in text
        assert squash(t["vendor_name"]).lower() in text.lower()
        if t["iban"]:
            # IBANs print in groups of four; the compact form survives squashing.
            assert t["iban"] in text
    assert seen == {(lang, lay) for lang in LANGUAGES for lay in LAYOUT_NAMES}


def test_arithmetic_is_exact(one_per_layout_language):
    for inv in one_per_layout_language:
        t = inv.truth
        # Commercial rounding (half up), as invoicing software rounds.
        cents = lambda x: Decimal(str(x)).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)  # noqa: E731
        items = t["line_items"]
        for it in items:
            assert cents(it["amount"]) == cents(Decimal(str(it["quantity"])) * Decimal(str(it["unit_price"])))
        assert cents(t["amount"]) == sum(cents(it["amount"]) for it in items)
        # VAT is rounded per rate, from the net at each rate.
        rates = {Decimal(str(it["tax_rate"])) for it in items}
        vat = sum(cents(sum(cents(it["amount"]) for it in items if Decimal(str(it["tax_rate"])) == r) * r / 100)
                  for r in rates)
        assert cents(t["vat"]) == vat
        assert cents(t["total"]) == cents(t["amount"]) + cents(t["vat"])
        assert cents(t["amount_due"]) <= cents(t["total"])
        assert (cents(t["amount_due"]) < cents(t["total"])) == t["meta"]["prepaid"]


def test_identifiers_validate(one_per_layout_language):
    for inv in one_per_layout_language:
        t = inv.truth
        if t["iban"]:
            assert IBAN(t["iban"], validate_bban=True).compact == t["iban"]
        if t["bic"]:
            BIC(t["bic"])  # raises when malformed
        country = t["meta"]["country"]
        if t["vendor_tax_id"] and country != "US":
            module = get_cc_module(country.lower(), "vat")
            assert module.is_valid(t["vendor_tax_id"]), t["vendor_tax_id"]


def test_dates_are_iso_and_due_after_issue(one_per_layout_language):
    with_due = without_due = 0
    for inv in one_per_layout_language:
        t = inv.truth
        issued = date.fromisoformat(t["invoice_date"])
        if t["due_date"] is None:
            without_due += 1
            assert t["payment_terms"] is None  # terms would imply a due date the truth lacks
        else:
            with_due += 1
            assert date.fromisoformat(t["due_date"]) > issued
    assert with_due and without_due


def test_corpus_covers_prepayments_foreign_currencies_and_formats(one_per_layout_language):
    truths = [inv.truth for inv in one_per_layout_language]
    assert any(t["meta"]["prepaid"] for t in truths)
    assert {t["currency"] for t in truths} >= {"EUR", "USD", "GBP", "CHF"}
    assert {t["meta"]["number_style"] for t in truths} >= {"en", "de", "fr", "ch"}
    assert {t["meta"]["date_style"] for t in truths} >= {"numeric", "long", "iso"}


@pytest.mark.parametrize("pages", [2, 3])
def test_multi_page_invoice_has_exactly_the_pages_asked_and_totals_on_the_last(pages):
    inv = generate(11, language="de", layout="classic", pages=pages)
    assert inv.truth["meta"]["pages"] == pages
    texts = pdf_text(inv.data)
    assert len(texts) == pages
    last = squash(texts[-1])
    total = f"{inv.truth['total']:,.2f}".replace(",", "X").replace(".", ",").replace("X", ".")
    de_plain = f"{inv.truth['total']:.2f}".replace(".", ",")
    assert total in last or de_plain in last
    assert all(squash(d["description"]) in squash("".join(texts)) for d in inv.truth["line_items"])


def test_scan_is_an_image_of_the_recorded_size():
    for seed in (3, 4, 8):
        inv = generate(seed, kind="scanned", pages=1)
        meta = inv.truth["meta"]["scan"]
        assert inv.truth["meta"]["kind"] == "scanned"
        if inv.content_type == "application/pdf":
            doc = pdfium.PdfDocument(inv.data)
            # An image-only PDF: no text layer to read the invoice number from.
            assert squash(inv.truth["invoice_number"]) not in squash(doc[0].get_textpage().get_text_range())
            w_pt, h_pt = doc[0].get_size()
            size = (round(w_pt * meta["dpi"] / 72), round(h_pt * meta["dpi"] / 72))
            doc.close()
        else:
            img = Image.open(io.BytesIO(inv.data))
            size = img.size
            assert {"image/png": "PNG", "image/jpeg": "JPEG", "image/tiff": "TIFF"}[inv.content_type] == img.format
        assert list(size) == meta["image_sizes"][0]
        # Rendered at the recorded DPI: an A4/Letter page, grown a little by any skew.
        w, h = sorted(size)
        assert 7.5 * meta["dpi"] <= w <= 9.5 * meta["dpi"]
        assert 10.5 * meta["dpi"] <= h <= 12.7 * meta["dpi"]


def test_generate_corpus_writes_files_and_truth_lines(tmp_path):
    truths = generate_corpus(4, seed=3, out_dir=tmp_path, kinds=("born_digital",))
    lines = (tmp_path / "truth.jsonl").read_text(encoding="utf-8").splitlines()
    assert len(lines) == len(truths) == 4
    for t in truths:
        assert (tmp_path / t["meta"]["filename"]).stat().st_size > 1000


def test_corpus_plan_covers_every_layout_language_pair_first():
    n = len(LANGUAGES) * len(LAYOUT_NAMES)
    plan = corpus_plan(n, seed=9)
    assert {(p["language"], p["layout"]) for p in plan} == {(lang, lay) for lang in LANGUAGES for lay in LAYOUT_NAMES}
    assert {p["kind"] for p in plan} == {"born_digital", "scanned"}


def test_rejects_unknown_arguments():
    with pytest.raises(ValueError):
        generate(1, kind="fax")
    with pytest.raises(ValueError):
        generate(1, language="it")
    with pytest.raises(ValueError):
        generate(1, layout="nope")
