"""A reviewer's values (extract/corrections.py) and vendor memory's pure functions
(extract/vendor_memory.py): no services."""
from __future__ import annotations

import pytest

from invoice.scanner.processing.extract import vendor_memory as vm
from invoice.scanner.processing.extract.corrections import CorrectionError, correct_field, correct_line_items
from invoice.scanner.processing.models import FieldPrediction


@pytest.mark.parametrize("name, value, expected", [
    ("total", "1.250,00", 1250.0),
    ("total", "1,250.00", 1250.0),
    ("total", 99.5, 99.5),
    ("amount", "€ 12,50", 12.5),
    ("invoice_date", "2024-03-01", "2024-03-01"),
    ("invoice_date", "3 March 2024", "2024-03-03"),
    ("due_date", "31.12.2024", "2024-12-31"),
    ("currency", "eur", "EUR"),
    ("currency", "€", "EUR"),
    ("iban", "de89 3704 0044 0532 0130 00", "DE89370400440532013000"),
    ("vendor_tax_id", "DE 136 695 976", "DE136695976"),
    ("vendor_name", "  Acme   Widgets GmbH ", "Acme Widgets GmbH"),
    ("purchase_order", "PO-4711", "PO-4711"),
    ("due_date", None, None),
    ("customer_name", "   ", None),
])
def test_valid_corrections_are_normalized_like_extracted_values(name, value, expected):
    assert correct_field(name, value)[0] == expected


@pytest.mark.parametrize("name, value, why", [
    ("invoice_date", "03/04/2024", "two different dates"),
    ("invoice_date", "yesterday-ish", "not a date"),
    ("total", "twelve", "not a valid amount"),
    ("total", True, "not a valid amount"),
    ("total", float("nan"), "not a valid amount"),
    ("currency", "XYZ", "unknown currency"),
    ("iban", "DE89 3704 0044 0532 0130 01", "checksum"),
    ("vendor_tax_id", "DE123456789", "invalid VAT"),
    ("bic", "NOTABIC", "invalid BIC"),
    ("colour", "red", "unknown field"),
    ("vendor_name", 42, "expected text"),
    ("vendor_name", "x" * 1001, "longer than"),
])
def test_invalid_corrections_are_refused_with_a_reason(name, value, why):
    with pytest.raises(CorrectionError, match=why):
        correct_field(name, value)


def test_line_items_are_renumbered_and_completed():
    items = correct_line_items([{"description": " Paper  A4 ", "quantity": "10", "unit_price": "2,50",
                                 "tax_rate": "8.875%"}, {"position": 9, "description": "Toner", "amount": 40}])
    assert [(i.position, i.description, i.amount, i.tax_rate) for i in items] == [
        (1, "Paper A4", 25.0, 8.875), (2, "Toner", 40.0, None)]
    with pytest.raises(CorrectionError, match="line item 2: not a valid quantity"):
        correct_line_items([{"amount": 1}, {"quantity": "many"}])
    with pytest.raises(CorrectionError, match="unknown column"):
        correct_line_items([{"colour": "red"}])


def test_vendor_names_normalize_across_spellings_and_legal_forms():
    assert vm.normalize_name("ACME Widgets GmbH.") == vm.normalize_name("Acme  widgets gmbh") == "acme widgets"
    assert vm.normalize_name("Müller & Söhne S.à r.l.") == "muller sohne"
    assert vm.normalize_name(None) is None


def test_business_key_is_the_same_for_a_rescan_and_differs_for_another_invoice():
    a = {"vendor_name": "Acme GmbH", "invoice_number": "INV-1", "invoice_date": "2024-01-01", "total": 12.5}
    rescan = {"vendor_name": "ACME gmbh", "invoice_number": "inv 1", "invoice_date": "2024-01-01", "total": "12.50"}
    assert vm.business_key(a) == vm.business_key(rescan) is not None
    assert vm.business_key({**a, "total": 12.51}) != vm.business_key(a)
    assert vm.business_key({**a, "invoice_number": None}) is None


def _page(lines: list[tuple[str, int, int]]) -> list[dict]:
    out = []
    for text, x, y in lines:
        words, cx = [], x
        for w in text.split(" "):
            words.append({"text": w, "bbox": [cx, y, cx + 10 * len(w), y + 20], "confidence": 1.0})
            cx += 10 * (len(w) + 1)
        out.append({"text": text, "bbox": [x, y, cx - 10, y + 20], "confidence": 1.0, "words": words})
    return [{"page_no": 1, "width": 1000, "height": 1400, "lines": out}]


def test_a_lesson_remembers_label_and_region_and_the_prior_reads_there_next_time():
    first = _page([("Nordlicht GmbH", 50, 50), ("Rechnungsnummer: NL-1", 50, 200), ("Gesamtbetrag: 119,00", 600, 900)])
    fields = {"vendor_name": {"value": "Nordlicht GmbH"}, "invoice_number": {"value": "NL-1"},
              "total": {"value": 119.0}, "amount_due": {"value": 119.0, "derived": True},
              "vendor_tax_id": {"value": "DE136695976"}, "currency": {"value": "EUR"}}
    lesson = vm.lesson(fields, first)
    assert lesson.layout["total"]["label"] == "gesamtbetrag"
    assert lesson.layout["invoice_number"]["label"] == "rechnungsnummer"
    assert "amount_due" not in lesson.layout  # derived, not printed where it was found
    match = vm.Match("v1", "vat_id", lesson.name, lesson.vat_id, "DE89370400440532013000", "EUR", lesson.layout, 1, 1)
    # The next invoice has more line items: the total moved down; the reader missed it and read
    # the vendor's name badly.
    nxt = vm.page_lines(_page([("Nordllcht GmbH", 50, 50), ("Rechnungsnummer: NL-2", 50, 200),
                               ("Gesamtbetrag: 238,00", 600, 1100)]))

    def make(name, value, conf, page, bbox):
        return FieldPrediction(name, value, conf, page, bbox)

    predicted = {"vendor_name": FieldPrediction("vendor_name", "Nordllcht GmbH", 0.7),
                 "invoice_number": FieldPrediction("invoice_number", "NL-2", 0.6),
                 "vendor_tax_id": FieldPrediction("vendor_tax_id", "DE136695976", 0.9)}
    changed = vm.apply_prior(predicted, match, nxt, make)
    assert predicted["total"].value == "238,00" and predicted["total"].confidence == vm.PRIOR_CONFIDENCE
    assert predicted["vendor_name"].value == "Nordlicht GmbH"  # recognised by VAT id
    assert predicted["invoice_number"].confidence == vm.AGREE_CONFIDENCE  # the memory's place agrees
    assert predicted["currency"].value == "EUR"
    assert set(changed) == {"vendor_name", "total", "currency"}
    # A field this invoice does not print (its label is absent) is not filled from the region.
    bare = vm.page_lines(_page([("Nordlicht GmbH", 50, 50), ("Thank you", 600, 900)]))
    empty: dict = {}
    vm.apply_prior(empty, vm.Match("v1", "name", lesson.name, None, None, None, lesson.layout, 1, 0), bare, make)
    assert "total" not in empty and "invoice_number" not in empty


def test_evidence_counts_confirmations_and_flags_a_changed_iban():
    m = vm.Match("v1", "vat_id", "Acme GmbH", "DE136695976", "DE89370400440532013000", "EUR", {}, 12, 12)
    same = vm.evidence(m, "DE89 3704 0044 0532 0130 00")
    assert same["passed"] and not same["iban_changed"]
    assert any("confirmed 12 time(s) for VAT id DE136695976" in e for e in same["evidence"])
    other = vm.evidence(m, "GB82WEST12345698765432")
    assert other["passed"] is False and other["iban_changed"]
    assert vm.evidence(None, "X")["known"] is False


def test_a_missing_iban_is_read_at_the_vendors_place_only_when_its_checksum_holds():
    first = _page([("Nordlicht GmbH", 50, 50), ("DE89 3704 0044 0532 0130 00", 50, 1300)])
    lesson = vm.lesson({"vendor_name": {"value": "Nordlicht GmbH"}, "iban": {"value": "DE89370400440532013000"}},
                       first)
    assert lesson.layout["iban"]["label"] is None  # printed on its own line: only its region is known
    match = vm.Match("v1", "name", lesson.name, None, lesson.iban, None, lesson.layout, 1, 1)

    def make(name, value, conf, page, bbox):
        return FieldPrediction(name, value, conf, page, bbox)

    diverted: dict = {}
    vm.apply_prior(diverted, match, vm.page_lines(_page([("GB82 WEST 1234 5698 7654 32", 50, 1300)])), make)
    assert diverted["iban"].value == "GB82 WEST 1234 5698 7654 32"  # read, so evaluation sees the change
    assert vm.evidence(match, diverted["iban"].value)["iban_changed"]
    cut: dict = {}
    vm.apply_prior(cut, match, vm.page_lines(_page([("DE89 3704 0044 0532", 50, 1300)])), make)
    assert "iban" not in cut  # a wrapped, partial IBAN is not a value


def test_document_type_is_correctable_to_one_of_the_types():
    assert correct_field("document_type", "credit_note") == ("credit_note", "credit_note")
    assert correct_field("document_type", "receipt") == ("receipt", "receipt")
    for bad in (None, "bill", 3):
        with pytest.raises(CorrectionError, match="document_type is one of"):
            correct_field("document_type", bad)
