"""The varied generator (`generate(..., varied=True)`): every family in every language,
no two documents on one template, truth that adds up for invoices, credit notes and receipts,
the 'documents as they come' traits present and printed as the truth says, families that can
be left out (leave-one-family-out)."""
from __future__ import annotations

import random
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal

import pypdfium2 as pdfium
import pytest

from invoice.scanner.processing.fields import FIELD_NAMES
from invoicegen import (DOCUMENT_TYPES, FAMILIES, LANGUAGES, LAYOUT_NAMES, corpus_plan, generate,
                        generate_corpus)
from invoicegen.documents import build_document
from invoicegen.layouts import LAYOUTS
from invoicegen.variation import draw_variation
from invoicegen.vocab import DUE_SENTENCES


def pdf_text(data: bytes) -> str:
    doc = pdfium.PdfDocument(data)
    try:
        return "\n".join(page.get_textpage().get_text_range() for page in doc)
    finally:
        doc.close()


def squash(s: str) -> str:
    return "".join(s.split()).casefold()


def cents(x) -> Decimal:
    return Decimal(str(x)).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


@pytest.fixture(scope="module")
def sample() -> list:
    """Each of the 13 families once per language would be 65 documents; one family per
    language in rotation, plus every document type, keeps this module fast."""
    docs = []
    for i, family in enumerate(FAMILIES):
        docs.append(generate(20_000 + i, varied=True, family=family, language=LANGUAGES[i % len(LANGUAGES)]))
    for i, family in enumerate(LAYOUT_NAMES[:5]):
        docs.append(generate(20_100 + i, varied=True, family=family, document_type="credit_note",
                             language=LANGUAGES[(i + 2) % len(LANGUAGES)]))
    for i, lang in enumerate(LANGUAGES):
        docs.append(generate(20_200 + i, varied=True, document_type="receipt", language=lang))
    return docs


def test_same_seed_same_bytes_and_truth_and_other_seeds_differ():
    a, b = generate(77, varied=True), generate(77, varied=True)
    assert a.data == b.data and a.truth == b.truth and a.filename == b.filename
    s1 = generate(7, kind="scanned", varied=True, family="sidebar", language="nl")
    s2 = generate(7, kind="scanned", varied=True, family="sidebar", language="nl")
    assert s1.data == s2.data and s1.truth == s2.truth
    # The varied document is not the classic one for the same seed.
    assert generate(77).data != a.data


def test_every_family_renders_with_a_text_layer_and_its_truth(sample):
    seen_families, seen_types = set(), set()
    for g in sample:
        t = g.truth
        seen_families.add(t["family"])
        seen_types.add(t["document_type"])
        assert set(FIELD_NAMES) <= set(t) and t["meta"]["varied"] is True
        assert t["family"] == t["meta"]["family"] == t["meta"]["layout"]
        assert t["document_type"] == t["meta"]["document_type"]
        assert g.content_type == "application/pdf"
        text = squash(pdf_text(g.data))
        assert squash(t["invoice_number"]) in text
        # Names may be printed over two lines or in capitals; every word is on the page.
        assert all(squash(w) in text for w in t["vendor_name"].split()), t["vendor_name"]
        if t["customer_name"]:
            assert all(squash(w) in text for w in t["customer_name"].split())
        if t["iban"]:
            assert t["iban"].casefold() in text
        # Dates as the document prints them: the invoice date always, the due date unless the
        # truth says it is derived from the terms (or there is none).
        inv = build_document(t["meta"]["seed"], t["meta"]["language"], t["document_type"], len(t["line_items"]))
        assert squash(inv.d(date.fromisoformat(t["invoice_date"]))) in text, (g.filename, t["invoice_date"])
        if t["due_date"] and not t["due_date_derived"]:
            assert squash(inv.d(date.fromisoformat(t["due_date"]))) in text, (g.filename, t["due_date"])
    assert seen_families == set(FAMILIES)
    assert seen_types == set(DOCUMENT_TYPES)


def test_no_two_documents_share_a_template():
    # Layout signatures are drawn without rendering: 400 documents over all families.
    sigs = set()
    for i in range(400):
        plan = corpus_plan(1, seed=900 + i, varied=True)[0]
        if plan["layout"] == "receipt":
            continue
        inv = build_document(plan["seed"], plan["language"], plan["document_type"], 1)
        v = draw_variation(random.Random(f"{plan['seed']}-variation"), plan["layout"],
                           LAYOUTS[plan["layout"]].column_orders, plan["language"],
                           len(inv.vendor.name.split()) >= 3, plan["document_type"])
        sigs.add(v.signature())
    assert len(sigs) == sum(1 for i in range(400) if corpus_plan(1, seed=900 + i, varied=True)[0]["layout"]
                            != "receipt")


def test_rendered_documents_have_distinct_signatures(sample):
    layout = [g.truth["meta"]["layout_signature"] for g in sample]
    full = [g.truth["meta"]["signature"] for g in sample]
    assert len(set(layout)) == len(layout) and len(set(full)) == len(full)


def test_totals_add_up_for_every_document_type(sample):
    for g in sample:
        t = g.truth
        items = t["line_items"]
        for it in items:
            assert cents(it["amount"]) == cents(Decimal(str(it["quantity"])) * Decimal(str(it["unit_price"])))
        rates = sorted({Decimal(str(it["tax_rate"])) for it in items})
        by_rate = {r: sum(cents(it["amount"]) for it in items if Decimal(str(it["tax_rate"])) == r) for r in rates}
        if t["meta"]["prices_gross"]:
            # Receipts: the lines are gross, VAT is the part of each rate's gross sum.
            assert cents(t["total"]) == sum(by_rate.values())
            assert cents(t["vat"]) == sum(cents(b * r / (100 + r)) for r, b in by_rate.items())
        else:
            assert cents(t["amount"]) == sum(by_rate.values())
            assert cents(t["vat"]) == sum(cents(b * r / 100) for r, b in by_rate.items())
        assert cents(t["total"]) == cents(t["amount"]) + cents(t["vat"])
        assert abs(cents(t["amount_due"])) <= abs(cents(t["total"]))


def test_credit_notes_are_negative_and_receipts_are_receipts(sample):
    credits = [g for g in sample if g.truth["document_type"] == "credit_note"]
    receipts = [g for g in sample if g.truth["document_type"] == "receipt"]
    assert credits and receipts
    for g in credits:
        t = g.truth
        assert t["amount"] < 0 and t["total"] < 0 and t["vat"] <= 0 and t["amount_due"] == t["total"]
        assert all(it["amount"] < 0 for it in t["line_items"])
        assert t["due_date"] is None and t["payment_terms"] is None
        assert "negative_amounts" in t["meta"]["features"]
        # The credited invoice's number is printed (a distractor) and is not the credit note's.
        assert t["meta"]["credit_ref"] != t["invoice_number"]
        assert squash(t["meta"]["credit_ref"]) in squash(pdf_text(g.data))
    for g in receipts:
        t = g.truth
        assert t["family"] == "receipt" and t["due_date"] is None and t["customer_name"] is None
        assert t["iban"] is None and t["payment_terms"] is None and t["total"] > 0
        doc = pdfium.PdfDocument(g.data)
        width, height = doc[0].get_size()
        doc.close()
        assert width <= 260 and height > 200  # a narrow slip (58-92 mm), as long as its content
        text = pdf_text(g.data)
        assert all(squash(it["description"]) in squash(text) for it in t["line_items"])
        # The currency is on the slip, as a symbol or a code.
        assert t["currency"] in text or {"EUR": "€", "GBP": "£", "USD": "$", "CHF": "CHF"}[t["currency"]] in text


def test_due_dates_in_sentences_and_derived_from_terms():
    sentence = derived = 0
    for i in range(200):
        inv = build_document(40_000 + i, LANGUAGES[i % 5], "invoice", 3)
        if inv.due_print == "sentence" and sentence < 2:
            sentence += 1
            g = generate(40_000 + i, varied=True, language=LANGUAGES[i % 5], document_type="invoice",
                         family="classic", pages=1)
            t = g.truth
            text = pdf_text(g.data)
            due = inv.d(date.fromisoformat(t["due_date"]))
            assert t["due_date_derived"] is False and "due_in_sentence" in t["meta"]["features"]
            templates = DUE_SENTENCES[t["meta"]["language"]]
            assert any(squash(s.format(due=due)) in squash(text) for s in templates)
            assert squash(inv.label("due_date")) not in squash(text) or squash(due) in squash(text)
        if inv.due_print == "terms" and derived < 2:
            derived += 1
            g = generate(40_000 + i, varied=True, language=LANGUAGES[i % 5], document_type="invoice",
                         family="minimal", pages=1)
            t = g.truth
            assert t["due_date_derived"] is True and t["payment_terms"]
            days = (date.fromisoformat(t["due_date"]) - date.fromisoformat(t["invoice_date"])).days
            assert str(days) in t["payment_terms"]
            # The due date itself is printed nowhere.
            assert squash(inv.d(date.fromisoformat(t["due_date"]))) not in squash(pdf_text(g.data))
            assert squash(t["payment_terms"]) in squash(pdf_text(g.data))
    assert sentence == 2 and derived == 2


def test_documents_as_they_come_traits_all_occur():
    """Every trait the issue lists shows up in a modest corpus (drawn without rendering)."""
    features = set()
    for i in range(300):
        plan = corpus_plan(1, seed=3000 + i, varied=True)[0]
        if plan["layout"] == "receipt":
            features.add("receipt")
            continue
        inv = build_document(plan["seed"], plan["language"], plan["document_type"], 1)
        v = draw_variation(random.Random(f"{plan['seed']}-variation"), plan["layout"],
                           LAYOUTS[plan["layout"]].column_orders, plan["language"],
                           len(inv.vendor.name.split()) >= 3, plan["document_type"])
        features |= {f"due_{inv.due_print}", f"vendor_{v.vendor_place}", f"vat_table_{v.vat_table}"}
        if "%y" in inv.dates.pattern and inv.dates.kind == "numeric":
            features.add("two_digit_year")
        features |= {name for name, on in (("two_line_name", v.name_lines == 2), ("swap", v.swap_parties),
                                           ("mono", v.font == "courier"), ("mirror", v.mirror),
                                           ("credit", inv.document_type == "credit_note"),
                                           ("comma_name", "," in inv.vendor.name)) if on}
    assert {"receipt", "due_label", "due_sentence", "due_terms", "due_none", "vendor_block", "vendor_letterhead",
            "vendor_footer", "vat_table_before", "vat_table_after", "two_digit_year", "two_line_name", "swap",
            "mono", "mirror", "credit", "comma_name"} <= features


def test_two_digit_years_print_two_digits():
    for i in range(300):
        inv = build_document(50_000 + i, "de", "invoice", 2)
        if inv.dates.kind == "numeric" and "%y" in inv.dates.pattern:
            g = generate(50_000 + i, varied=True, language="de", document_type="invoice", family="classic",
                         pages=1)
            assert g.truth["meta"]["two_digit_year"] and "two_digit_year" in g.truth["meta"]["features"]
            d = date.fromisoformat(g.truth["invoice_date"])
            assert d.strftime(inv.dates.pattern) in pdf_text(g.data)
            assert len(d.strftime(inv.dates.pattern).split(".")[-1]) == 2
            return
    raise AssertionError("no two-digit year in 300 documents")


def test_family_exclusion_and_selection():
    plan = corpus_plan(130, seed=5, varied=True, exclude_families=("banded", "receipt"))
    families = {p["layout"] for p in plan}
    assert "banded" not in families and "receipt" not in families
    assert families == set(FAMILIES) - {"banded", "receipt"}
    assert {p["language"] for p in plan} == set(LANGUAGES)
    only = corpus_plan(20, seed=6, varied=True, families=("banded",))
    assert {p["layout"] for p in only} == {"banded"}
    receipts = corpus_plan(10, seed=6, varied=True, document_types=("receipt",))
    assert {(p["layout"], p["document_type"]) for p in receipts} == {("receipt", "receipt")}
    credits = corpus_plan(30, seed=6, varied=True, document_types=("credit_note",))
    assert {p["document_type"] for p in credits} == {"credit_note"} and "receipt" not in {p["layout"] for p in credits}
    full = corpus_plan(65, seed=8, varied=True)
    assert {(p["language"], p["layout"]) for p in full} == {(lang, f) for lang in LANGUAGES for f in FAMILIES}
    assert {"invoice", "credit_note", "receipt"} == {p["document_type"] for p in full}
    with pytest.raises(ValueError):
        corpus_plan(5, seed=1, varied=True, exclude_families=("nope",))
    with pytest.raises(ValueError):
        corpus_plan(5, seed=1, exclude_families=("banded",))  # family options need the varied corpus
    with pytest.raises(ValueError):
        corpus_plan(5, seed=1, varied=True, families=("banded",), exclude_families=("banded",))


def test_generate_corpus_varied_writes_truth_with_family_and_type(tmp_path):
    truths = generate_corpus(3, seed=4, out_dir=tmp_path, kinds=("born_digital",), varied=True,
                             exclude_families=tuple(f for f in FAMILIES if f != "customer_first"))
    assert len((tmp_path / "truth.jsonl").read_text(encoding="utf-8").splitlines()) == 3
    assert {t["family"] for t in truths} == {"customer_first"}
    assert all(t["document_type"] in ("invoice", "credit_note") for t in truths)


def test_scanned_receipt_is_an_image_of_a_narrow_slip():
    g = generate(61, kind="scanned", varied=True, document_type="receipt", language="fr")
    meta = g.truth["meta"]
    assert meta["kind"] == "scanned" and g.truth["document_type"] == "receipt"
    w, h = meta["scan"]["image_sizes"][0]
    if meta["scan"]["rotation"] in (90, 270):
        w, h = h, w
    doc = pdfium.PdfDocument(generate(61, varied=True, document_type="receipt", language="fr").data)
    pw, ph = (x * meta["scan"]["dpi"] / 72 for x in doc[0].get_size())
    doc.close()
    assert pw <= 260 * meta["scan"]["dpi"] / 72  # the slip's width, not a page's
    # The same slip, at the recorded resolution (a skew grows the canvas a little).
    assert pw - 2 <= w <= pw * 1.1 + 0.06 * ph and ph - 2 <= h <= ph * 1.1 + 0.06 * pw


def test_rejects_bad_arguments():
    with pytest.raises(ValueError):
        generate(1, document_type="receipt")  # the classic generator makes invoices only
    with pytest.raises(ValueError):
        generate(1, varied=True, document_type="memo")
    with pytest.raises(ValueError):
        generate(1, varied=True, family="receipt", document_type="credit_note")
    with pytest.raises(ValueError):
        generate(1, varied=True, family="nope")
    with pytest.raises(ValueError):
        generate(1, varied=True, family="banded", layout="classic")


def test_classic_generator_is_unchanged_by_the_varied_one():
    g = generate(42)
    assert g.truth["meta"]["varied"] is False and g.truth["document_type"] == "invoice"
    assert g.truth["family"] == g.truth["meta"]["layout"] and g.truth["due_date_derived"] is False
    assert "signature" not in g.truth["meta"]
    assert timedelta(0) <= (date.fromisoformat(g.truth["due_date"] or g.truth["invoice_date"])
                            - date.fromisoformat(g.truth["invoice_date"]))
