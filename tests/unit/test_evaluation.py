"""The evaluation stage: required fields, arithmetic and date checks, identifier validity,
quality score and predicted accuracy, and the approval rule (a value that breaks
arithmetic is never auto-approved, whatever the confidences)."""
from __future__ import annotations

from invoice.scanner.processing.fields import CORE_FIELDS, FIELD_NAMES
from invoice.scanner.processing.models import Extraction, NormalizedField, NormalizedLineItem
from invoice.scanner.processing.stages.evaluation import evaluate

GOOD = {
    "invoice_number": "INV-1", "invoice_date": "2024-03-01", "due_date": "2024-03-31", "vendor_name": "Acme Ltd",
    "customer_name": "Buyer BV", "currency": "EUR", "amount": 100.0, "vat": 20.0, "total": 120.0,
    "amount_due": 120.0, "iban": "DE89370400440532013000",
}


def extraction(values: dict | None = None, conf: float = 0.97, items: list[tuple] | None = None,
               **overrides: NormalizedField) -> Extraction:
    values = dict(GOOD if values is None else values)
    fields = {}
    for n in FIELD_NAMES:
        v = values.get(n)
        fields[n] = NormalizedField(n, v, None if v is None else str(v), conf if v is not None else 0.0, page=1)
    fields.update(overrides)
    line_items = [NormalizedLineItem(i + 1, d, q, u, a, 20.0, 0.95, 1) for i, (d, q, u, a) in enumerate(items or [])]
    return Extraction(fields, line_items)


def test_a_clean_consistent_invoice_is_approved():
    ev = evaluate(extraction(items=[("A", 2.0, 25.0, 50.0), ("B", 1.0, 50.0, 50.0)]), 0.8)
    assert ev.approved and ev.reasons == []
    assert 0.9 <= ev.quality_score <= 1.0 and 0.9 <= ev.predicted_accuracy <= 1.0
    assert ev.checks["totals_add_up"]["passed"] is True
    assert ev.checks["line_items_sum"]["passed"] is True
    assert ev.checks["hard_failures"] == []


def test_totals_that_do_not_add_up_are_never_approved_even_at_full_confidence():
    ev = evaluate(extraction({**GOOD, "total": 126.0, "amount_due": 126.0}, conf=1.0), 0.0)
    assert not ev.approved
    assert ev.checks["totals_add_up"]["passed"] is False
    assert any("does not equal the total" in r for r in ev.reasons)


def test_one_cent_rounding_is_tolerated():
    ev = evaluate(extraction({**GOOD, "amount": 100.01}), 0.8)
    assert ev.checks["totals_add_up"]["passed"] is True


def test_line_items_that_do_not_sum_to_net_block_approval():
    ev = evaluate(extraction(items=[("A", 2.0, 25.0, 50.0), ("B", 1.0, 45.0, 45.0)]), 0.5)
    assert not ev.approved
    assert ev.checks["line_items_sum"]["passed"] is False
    assert any("line items add up to 95.00" in r for r in ev.reasons)


def test_a_line_item_whose_quantity_times_price_differs_is_reported():
    ev = evaluate(extraction(items=[("A", 2.0, 25.0, 60.0), ("B", 1.0, 40.0, 40.0)]), 0.5)
    assert ev.checks["line_items_rows"]["mismatched_positions"] == [1]
    assert not ev.approved


def test_missing_required_fields_are_listed():
    ev = evaluate(extraction({**GOOD, "invoice_number": None, "vendor_name": None}), 0.5)
    assert not ev.approved
    assert set(ev.checks["required_fields"]["missing"]) == {"invoice_number", "vendor_name"}
    assert any("invoice number" in r for r in ev.reasons) and any("vendor name" in r for r in ev.reasons)


def test_due_date_before_invoice_date_fails():
    ev = evaluate(extraction({**GOOD, "due_date": "2024-02-01"}), 0.5)
    assert not ev.approved and ev.checks["due_after_invoice_date"]["passed"] is False


def test_amount_due_above_total_fails():
    ev = evaluate(extraction({**GOOD, "amount_due": 150.0}), 0.5)
    assert not ev.approved and ev.checks["amount_due_within_total"]["passed"] is False


def test_invalid_iban_blocks_approval():
    bad = NormalizedField("iban", "DE89370400440532013001", "DE89 3704 0044 0532 0130 01", 0.9, 1,
                          valid=False, error="invalid IBAN: Invalid checksum digits")
    ev = evaluate(extraction(iban=bad), 0.5)
    assert not ev.approved
    assert "iban" in ev.checks["valid_values"]["invalid"]
    assert any("IBAN" in r for r in ev.reasons)


def test_ambiguous_date_blocks_approval():
    amb = NormalizedField("invoice_date", "2024-03-05", "05/03/2024", 0.45, 1,
                          error="ambiguous date '05/03/2024': day/month order unknown, read as day first")
    ev = evaluate(extraction(invoice_date=amb), 0.5)
    assert not ev.approved and "invoice_date" in ev.checks["unambiguous_values"]["ambiguous"]


def test_low_confidence_lowers_quality_below_threshold():
    ev = evaluate(extraction(conf=0.6), 0.8)
    assert not ev.approved
    assert ev.quality_score < 0.8
    assert any("below the approval threshold" in r for r in ev.reasons)


def test_predicted_accuracy_follows_confidence_and_scores_stay_in_range():
    high = evaluate(extraction(conf=0.99), 0.8).predicted_accuracy
    low = evaluate(extraction(conf=0.5), 0.8).predicted_accuracy
    assert 0.0 <= low < high <= 1.0
    empty = evaluate(extraction({}), 0.8)
    assert 0.0 <= empty.quality_score <= 1.0 and not empty.approved


def test_derived_values_do_not_count_as_independent_agreement():
    derived = NormalizedField("amount", 100.0, None, 0.9, 1)
    ev = evaluate(extraction(conf=0.9, amount=derived), 0.8)
    assert ev.checks["totals_add_up"]["derived"] == ["amount"]
    independent = evaluate(extraction(conf=0.9), 0.8)
    # Three amounts read apart that add up raise each other; a derived one raises nothing. (The
    # calibrated prediction is a monotone step curve: it keeps the order, not always a gap.)
    probs, derived_probs = independent.checks["field_probabilities"], ev.checks["field_probabilities"]
    assert probs["amount"] > derived_probs["amount"] and probs["total"] > derived_probs["total"]
    assert independent.predicted_accuracy >= ev.predicted_accuracy


def test_every_check_is_recorded():
    ev = evaluate(extraction(), 0.8)
    for key in ("required_fields", "valid_values", "unambiguous_values", "totals_add_up", "line_items_sum",
                "line_items_rows", "due_after_invoice_date", "amount_due_within_total", "field_confidence"):
        assert key in ev.checks
    assert set(ev.checks["field_confidence"]["confidences"]) == set(CORE_FIELDS)
    assert ev.to_dict()["approved"] is True


def test_a_party_name_cut_at_a_line_wrap_goes_to_review():
    from invoice.scanner.processing.stages.evaluation import looks_cut_off

    for cut in ("Mediterránea de", "Bakkerij Van", "Schmidt &", "Dupont et", "Acme,"):
        assert looks_cut_off(cut), cut
    for whole in ("Acme Ltd", "Schmidt & Co.", "Chêne Bleu Ingénierie S.à r.l.", "Van Dijk BV", "De Vries SRL"):
        assert not looks_cut_off(whole), whole
    ev = evaluate(extraction({**GOOD, "vendor_name": "Mediterránea de"}, conf=0.99), 0.8)
    assert not ev.approved
    assert ev.checks["complete_names"] == {"passed": False, "cut_off": ["vendor_name"]}
    assert any("looks cut off" in r for r in ev.reasons)
    assert looks_cut_off("Hoffmann Systeme UG (haftungsbeschri")  # the bracket never closes
    assert not looks_cut_off("Hoffmann Systeme UG (haftungsbeschränkt)")


def test_an_address_or_a_sentence_in_the_name_field_goes_to_review():
    from invoice.scanner.processing.stages.evaluation import not_a_name

    for odd in ("Grand-Place 88", "Polderwerk SRL Veldstraat 240·1000 Bruxelles", "Règlement par virement",
                "Acme Ltd SW1A 1AA", "Payable within thirty days"):
        assert not_a_name(odd), odd
    for name in ("Acme Ltd", "Bernard & Fils", "Bäckerei am Markt", "3M Deutschland GmbH", "Bank of Ireland",
                 "Chêne Bleu Ingénierie", "Hoffmann Systeme UG (haftungsbeschränkt)", "John Smith",
                 "Martínez y Asociados S.A.", "Van der Berg Techniek B.V."):
        assert not_a_name(name) is None, name
    ev = evaluate(extraction({**GOOD, "vendor_name": "Grand-Place 88"}, conf=0.99), 0.8)
    assert not ev.approved
    assert ev.checks["plausible_names"] == {"passed": False,
                                            "implausible": {"vendor_name": "it reads like an address"}}
    assert any("does not look like a name" in r for r in ev.reasons)


def test_a_doubtful_customer_name_is_reported_and_does_not_block_approval():
    """The customer's name is not a core field: an address or a cut line read as the customer is
    listed in its check, and the document's core fields decide the approval."""
    ev = evaluate(extraction({**GOOD, "customer_name": "Rue du Lac 12"}, conf=0.99), 0.8)
    assert ev.checks["plausible_names"] == {"passed": True,
                                            "implausible": {"customer_name": "it reads like an address"}}
    assert ev.approved
    ev = evaluate(extraction({**GOOD, "customer_name": "Mediterránea de"}, conf=0.99), 0.8)
    assert ev.checks["complete_names"] == {"passed": True, "cut_off": ["customer_name"]} and ev.approved
    ev = evaluate(extraction({**GOOD, "vendor_name": "Rue du Lac 12"}, conf=0.99), 0.8)
    assert ev.checks["plausible_names"]["passed"] is False and not ev.approved


def test_an_invoice_number_with_a_look_alike_glyph_goes_to_review():
    from invoice.scanner.processing.stages.evaluation import confusable_glyphs

    for odd in ("Sl-49853", "INV-2O23-001", "R2022O905"):
        assert confusable_glyphs(odd), odd
    for plain in ("SI-49853", "INV-2023-001", "PO12345", "FOOD-12", "Rechnung-12", "inv-001", "F2022-26489"):
        assert confusable_glyphs(plain) is None, plain
    ev = evaluate(extraction({**GOOD, "invoice_number": "Sl-49853"}, conf=0.99), 0.8)
    assert not ev.approved
    assert ev.checks["unambiguous_glyphs"]["confusable"] == {"invoice_number": "'l' or 'I'"}
    assert evaluate(extraction(), 0.8).checks["unambiguous_glyphs"]["passed"] is True


def test_a_name_joined_from_two_lines_or_missing_its_partnership_form_goes_to_review():
    from invoice.scanner.processing.stages.evaluation import joined_cases

    assert joined_cases("MEDITERRÁNEA DE SERVICIOS DISTRIBUCIÓN Sol S.L.")
    for name in ("IKEA Deutschland GmbH", "MR D.I.Y. (JOHOR) SDN BHD", "SAM SAM TRADING CO", "Acme Ltd",
                 "Martínez y Asociados S.A."):
        assert not joined_cases(name), name
    ev = evaluate(extraction({**GOOD, "vendor_name": "Meyer und Jansen GmbH & Co."}, conf=0.99), 0.8)
    assert not ev.approved and ev.checks["complete_names"]["cut_off"] == ["vendor_name"]
    ev = evaluate(extraction({**GOOD, "vendor_name": "Meyer und Jansen GmbH & Co. KG"}, conf=0.99), 0.8)
    assert ev.checks["complete_names"]["passed"] is True


def test_a_receipt_is_approved_on_its_shop_date_and_total():
    """A receipt's core is its shop, date and total: a net and tax line read with low confidence
    (printed on some tills, in many shapes) does not hold it, and its predicted accuracy is over
    those three fields; net + tax that disagree with the total still block (arithmetic)."""
    receipt = {"vendor_name": "Kedai Makan Sdn Bhd", "invoice_date": "2018-03-05", "total": 10.6,
               "amount": 10.0, "vat": 0.6}
    low = {n: NormalizedField(n, receipt[n], str(receipt[n]), 0.3, page=1) for n in ("amount", "vat")}
    low["document_type"] = NormalizedField("document_type", "receipt", None, 0.95)
    ev = evaluate(extraction(receipt, conf=0.999, **low), 0.9)
    assert ev.approved, ev.reasons
    assert ev.checks["field_confidence"]["low"] == []
    assert ev.predicted_accuracy > 0.9
    invoice = {**receipt, "invoice_number": "R-1", "currency": "MYR"}
    as_invoice = {**low, "document_type": NormalizedField("document_type", "invoice", None, 0.95)}
    assert evaluate(extraction(invoice, conf=0.999, **as_invoice), 0.9).checks["field_confidence"]["low"] == [
        "amount", "vat"]
    bad = evaluate(extraction({**receipt, "vat": 0.9}, conf=0.999, document_type=low["document_type"]), 0.9)
    assert not bad.approved and bad.checks["totals_add_up"]["passed"] is False
