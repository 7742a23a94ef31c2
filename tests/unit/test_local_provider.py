"""The offline provider on hand-built OCR pages: labels in five languages, values right of
or below their labels, distractors, totals chosen by arithmetic, line items from tables
(wrapped descriptions, tables running across pages)."""
from __future__ import annotations

import pytest

from invoice.scanner.processing.config import Settings
from invoice.scanner.processing.models import OcrLine, OcrPage
from invoice.scanner.processing.stages.llm.local import LocalProvider
from ocrpage import line

W, H = 1240, 1754


def page(items: list, no: int = 1, words: bool = True) -> OcrPage:
    lines = [it if isinstance(it, OcrLine) else line(*it, words=words) for it in items]
    return OcrPage(no, W, H, "test", lines)


def predict(*pages: OcrPage):
    return LocalProvider(Settings()).predict(list(pages), [])


def values(pred) -> dict:
    return {k: f.value for k, f in pred.fields.items()}


def german_invoice(words: bool = True) -> OcrPage:
    return page([
        line("Acme Widgets GmbH", 80, 80, cw=11, h=22),
        ("Hauptstraße 12", 80, 110), ("10115 Berlin", 80, 126),
        ("RECHNUNG", 800, 80),
        ("Rechnung an:", 80, 250), ("Beispiel AG", 80, 266), ("Musterweg 5", 80, 282), ("80331 München", 80, 298),
        ("Rechnungsnummer:", 800, 250), ("RE-2024-0042", 950, 250),
        ("Bestelldatum:", 800, 266), ("02.03.2024", 950, 266),
        ("Rechnungsdatum:", 800, 282), ("15.03.2024", 950, 282),
        ("Lieferdatum:", 800, 298), ("10.03.2024", 950, 298),
        ("Kundennummer:", 800, 314), ("K-10023", 950, 314),
        ("Fällig am:", 800, 330), ("14.04.2024", 950, 330),
        ("Pos", 80, 400), ("Beschreibung", 130, 400), ("Menge", 600, 400), ("Einzelpreis", 760, 400),
        ("Betrag", 1000, 400),
        ("1", 80, 430), ("Beratung Projekt Alpha", 130, 430), ("10", 612, 430), ("100,00 €", 760, 430),
        ("1.000,00 €", 1000, 430),
        ("Phase 1", 130, 446),
        ("2", 80, 470), ("Software Lizenz", 130, 470), ("2", 612, 470), ("250,00 €", 760, 470),
        ("500,00 €", 1000, 470),
        ("Nettobetrag", 760, 560), ("1.500,00 €", 1000, 560),
        ("zzgl. 19% MwSt.", 760, 580), ("285,00 €", 1000, 580),
        ("Gesamtbetrag", 760, 600), ("1.785,00 €", 1000, 600),
        ("Zahlungsbedingungen: 30 Tage netto", 80, 700),
        line("Acme Widgets GmbH · IBAN: DE89 3704 0044 0532 0130 00 · BIC: COBADEFFXXX · USt-IdNr.: DE136695976",
             80, 1650, cw=5),
        ("Tel.: +49 30 1234567 · BLZ 37040044", 80, 1670),
    ], words=words)


def test_german_invoice_fields_and_distractors():
    pred = predict(german_invoice())
    v = values(pred)
    assert v["invoice_number"] == "RE-2024-0042"
    assert v["invoice_date"] == "15.03.2024"  # not the order date above it, not the delivery date below
    assert v["due_date"] == "14.04.2024"
    assert v["vendor_name"] == "Acme Widgets GmbH"
    assert v["customer_name"] == "Beispiel AG"
    assert v["customer_address"] == "Musterweg 5, 80331 München"
    assert v["vendor_address"] == "Hauptstraße 12, 10115 Berlin"
    assert v["amount"] == "1.500,00 €" and v["vat"] == "285,00 €" and v["total"] == "1.785,00 €"
    assert v["currency"] == "€"
    assert v["iban"].replace(" ", "") == "DE89370400440532013000"
    assert v["bic"] == "COBADEFFXXX"
    assert v["vendor_tax_id"] == "DE136695976"
    assert v["payment_terms"] == "30 Tage netto"
    assert v["purchase_order"] is None and v["customer_tax_id"] is None
    assert "K-10023" not in v.values()
    assert pred.usage.provider == "local" and pred.usage.model


def test_confidences_and_bboxes_are_normalized():
    pred = predict(german_invoice())
    for f in pred.fields.values():
        assert 0.0 <= f.confidence <= 1.0
        if f.value is None:
            assert f.confidence == 0.0
        else:
            assert f.page == 1 and f.bbox is not None
            assert all(0.0 <= c <= 1.0 for c in f.bbox) and f.bbox[0] <= f.bbox[2] and f.bbox[1] <= f.bbox[3]
    # The invoice number's box is where it was printed (x 950 px of 1240).
    box = pred.fields["invoice_number"].bbox
    assert box[0] == pytest.approx(950 / W, abs=0.01)
    assert box[1] == pytest.approx(250 / H, abs=0.01)


def test_lines_without_word_boxes_give_the_same_fields():
    with_words = values(predict(german_invoice(words=True)))
    without = values(predict(german_invoice(words=False)))
    for k in ("invoice_number", "invoice_date", "due_date", "amount", "vat", "total", "iban", "customer_name"):
        assert with_words[k] == without[k], k


def test_german_line_items_with_wrapped_description():
    pred = predict(german_invoice())
    items = pred.line_items
    assert [i.description for i in items] == ["Beratung Projekt Alpha Phase 1", "Software Lizenz"]
    assert [(i.quantity, i.unit_price, i.amount) for i in items] == [
        ("10", "100,00 €", "1.000,00 €"), ("2", "250,00 €", "500,00 €")]
    assert all(0.9 <= i.confidence <= 1.0 for i in items)  # qty x price = amount on each row


def test_us_invoice_values_below_labels_and_sales_tax():
    p = page([
        line("Northwind Traders Inc.", 80, 70, cw=11, h=22),
        ("1200 Market Street", 80, 100), ("San Francisco, CA 94103", 80, 116),
        ("Phone: (415) 555-0134", 80, 132),
        ("INVOICE", 900, 70),
        ("Invoice #", 700, 200), ("Date", 850, 200), ("Due Date", 1000, 200),
        ("10057", 700, 216), ("03/04/2024", 850, 216), ("04/03/2024", 1000, 216),
        ("Bill To", 80, 200), ("Contoso LLC", 80, 216), ("42 Elm Ave", 80, 232), ("Springfield, IL 62701", 80, 248),
        ("P.O. Number: PO-7781", 80, 300), ("Customer ID: 55120", 700, 300),
        ("Description", 80, 380), ("Qty", 600, 380), ("Rate", 760, 380), ("Amount", 1000, 380),
        ("Consulting services", 80, 410), ("12", 606, 410), ("$150.00", 760, 410), ("$1,800.00", 1000, 410),
        ("Laptop stand, aluminium", 80, 430), ("3", 606, 430), ("$45.50", 760, 430), ("$136.50", 1000, 430),
        ("Subtotal", 800, 500), ("$1,936.50", 1000, 500),
        ("Sales Tax (8.25%)", 800, 520), ("$159.76", 1000, 520),
        ("Total", 800, 540), ("$2,096.26", 1000, 540),
        ("Terms: Net 30", 80, 600),
    ])
    v = values(predict(p))
    assert v["invoice_number"] == "10057"
    assert v["invoice_date"] == "03/04/2024" and v["due_date"] == "04/03/2024"
    assert v["vendor_name"] == "Northwind Traders Inc."
    assert v["customer_name"] == "Contoso LLC"
    assert v["purchase_order"] == "PO-7781"
    assert (v["amount"], v["vat"], v["total"]) == ("$1,936.50", "$159.76", "$2,096.26")
    assert v["currency"] == "$"
    assert v["payment_terms"] == "Net 30"
    assert v["iban"] is None and v["bic"] is None


@pytest.mark.parametrize("labels, amounts", [
    (("Total HT", "TVA 20 %", "Total TTC", "Facture n°", "Date de facture", "Date d'échéance", "Facturé à"),
     ("1 250,00 €", "250,00 €", "1 500,00 €")),
    (("Base imponible", "IVA 21%", "Total factura", "Nº de factura", "Fecha de factura", "Fecha de vencimiento",
      "Facturar a"), ("1.250,00 €", "262,50 €", "1.512,50 €")),
    (("Subtotaal", "btw 21%", "Totaal", "Factuurnummer", "Factuurdatum", "Vervaldatum", "Factuur aan"),
     ("€ 1.250,00", "€ 262,50", "€ 1.512,50")),
])
def test_french_spanish_dutch_labels(labels, amounts):
    net_l, vat_l, tot_l, num_l, date_l, due_l, to_l = labels
    p = page([
        line("Société Exemple SARL", 80, 80, cw=11, h=22), ("12 rue de la Paix", 80, 110),
        (f"{num_l} : F-2024-118", 700, 200), (f"{date_l} : 05/02/2024", 700, 220),
        (f"{due_l} : 06/03/2024", 700, 240),
        (to_l, 80, 200), ("Client Final SL", 80, 216), ("Calle Mayor 1", 80, 232),
        (net_l, 760, 500), (amounts[0], 1000, 500),
        (vat_l, 760, 520), (amounts[1], 1000, 520),
        (tot_l, 760, 540), (amounts[2], 1000, 540),
    ])
    v = values(predict(p))
    assert v["invoice_number"] == "F-2024-118"
    assert v["invoice_date"] == "05/02/2024" and v["due_date"] == "06/03/2024"
    assert (v["amount"], v["vat"], v["total"]) == amounts
    assert v["customer_name"] == "Client Final SL"
    assert v["vendor_name"] == "Société Exemple SARL"


def test_totals_chosen_by_arithmetic_and_vat_split_over_rates():
    p = page([
        line("Lieferant GmbH", 80, 80, cw=11, h=22),
        ("Rechnungsnummer: 4711", 700, 200), ("Datum: 01.02.2024", 700, 220),
        ("Zwischensumme", 760, 500), ("200,00", 1000, 500),
        ("MwSt. 19 %", 760, 520), ("19,00", 1000, 520),
        ("MwSt. 7 %", 760, 540), ("7,00", 1000, 540),
        ("Gesamtbetrag", 760, 560), ("226,00", 1000, 560),
        ("Bereits bezahlt", 760, 580), ("-100,00", 1000, 580),
        ("Zahlbetrag", 760, 600), ("126,00", 1000, 600),
    ])
    pred = predict(p)
    v = values(pred)
    assert v["amount"] == "200,00" and v["total"] == "226,00"
    assert v["vat"] == "26,00"  # both rates summed
    assert v["amount_due"] == "126,00"  # not the prepayment
    assert pred.fields["total"].confidence > 0.8


def test_inconsistent_totals_get_lower_confidence():
    ok = page([("Subtotal", 760, 500), ("100.00", 1000, 500), ("VAT 20%", 760, 520), ("20.00", 1000, 520),
               ("Total", 760, 540), ("120.00", 1000, 540)])
    bad = page([("Subtotal", 760, 500), ("100.00", 1000, 500), ("VAT 20%", 760, 520), ("20.00", 1000, 520),
                ("Total", 760, 540), ("126.00", 1000, 540)])
    c_ok = predict(ok).fields["total"].confidence
    c_bad = predict(bad).fields["total"].confidence
    assert c_bad < c_ok - 0.2


def test_line_items_across_pages_with_repeated_header_and_carry_rows():
    head = [("Description", 80, 300), ("Qty", 600, 300), ("Unit price", 740, 300), ("Amount", 1000, 300)]
    rows1 = []
    for k in range(5):
        y = 330 + 24 * k
        rows1 += [(f"Service item {k + 1}", 80, y), ("1", 606, y), ("10.00", 760, y), ("10.00", 1000, y)]
    p1 = page([line("Big Supplier Ltd", 80, 80, cw=11, h=22), ("Invoice No: A-77", 700, 150),
               ("Invoice Date: 12 March 2024", 700, 170), *head, *rows1, ("Carried forward", 760, 480),
               ("50.00", 1000, 480), ("Page 1 of 2", 560, 1700)], no=1)
    rows2 = []
    for k in range(3):
        y = 330 + 24 * k
        rows2 += [(f"Service item {k + 6}", 80, y), ("2", 606, y), ("5.00", 760, y), ("10.00", 1000, y)]
    p2 = page([("Brought forward", 760, 280), ("50.00", 1000, 280), *head, *rows2,
               ("Subtotal", 760, 500), ("80.00", 1000, 500), ("VAT 20%", 760, 520), ("16.00", 1000, 520),
               ("Total", 760, 540), ("96.00", 1000, 540), ("Page 2 of 2", 560, 1700)], no=2)
    pred = predict(p1, p2)
    assert [i.description for i in pred.line_items] == [f"Service item {k}" for k in range(1, 9)]
    assert [i.page for i in pred.line_items] == [1] * 5 + [2] * 3
    v = values(pred)
    assert (v["amount"], v["vat"], v["total"]) == ("80.00", "16.00", "96.00")
    assert v["invoice_date"] == "12 March 2024"
    assert pred.fields["total"].page == 2


def test_table_without_repeated_header_continues_on_next_page():
    head = [("Item", 40, 300), ("Description", 120, 300), ("Qty", 600, 300), ("Price", 760, 300),
            ("Total", 1000, 300)]
    p1 = page([*head, ("1", 40, 330), ("Widget", 120, 330), ("4", 606, 330), ("2.50", 760, 330),
               ("10.00", 1000, 330)], no=1)
    p2 = page([("2", 40, 100), ("Gadget", 120, 100), ("1", 606, 100), ("5.00", 760, 100), ("5.00", 1000, 100),
               ("Subtotal", 760, 200), ("15.00", 1000, 200)], no=2)
    items = predict(p1, p2).line_items
    assert [(i.description, i.quantity, i.amount) for i in items] == [("Widget", "4", "10.00"),
                                                                      ("Gadget", "1", "5.00")]


def test_iban_with_bad_checksum_is_kept_with_low_confidence():
    p = page([("IBAN: DE89 3704 0044 0532 0130 01", 80, 1600)])
    f = predict(p).fields["iban"]
    assert f.value is not None and f.confidence < 0.6


def test_customer_vat_id_is_not_the_vendor_vat_id():
    p = page([("Seller Ltd", 80, 80), ("VAT No.: GB980780684", 80, 100),
              ("Bill To:", 80, 250), ("Buyer BV", 80, 266), ("Customer VAT No.: NL004495445B01", 80, 282)])
    v = values(predict(p))
    assert v["vendor_tax_id"] == "GB980780684"
    assert v["customer_tax_id"] == "NL004495445B01"


def test_empty_document_gives_every_field_empty():
    pred = predict(OcrPage(1, W, H, "test", []))
    assert all(f.value is None for f in pred.fields.values()) and pred.line_items == []


def test_ocr_quirks_labels_mid_line_glued_values_and_percent_garbage():
    """OCR joins a row into one line, drops spaces after colons and reads '%' as LaTeX."""
    p = page([
        line("Brightline Supplies Ltd 190 High Street", 100, 90, cw=7, h=14),
        ("Invoice Date 16/09/2024 . Due 31/10/2024", 100, 240),
        ("Tax ID:52-9505881", 100, 270),
        ("Nettobetrag", 760, 500), ("USD 2.180,19", 1000, 500),
        ("MwSt. 19", 760, 520), ("$\\frac}$", 860, 520), ("USD 414,24", 1000, 520),
        ("Rechnungsbetrag", 760, 540), ("USD 2.594,43", 1000, 540),
    ])
    v = values(predict(p))
    assert v["invoice_date"] == "16/09/2024" and v["due_date"] == "31/10/2024"
    assert v["vendor_tax_id"] == "52-9505881"
    assert v["vat"] == "USD 414,24"  # not the rate "19"
    assert v["vendor_name"] == "Brightline Supplies Ltd"


def test_two_values_run_together_below_two_labels():
    p = page([("Fecha de factura", 460, 560), ("Vencimiento", 760, 560),
              line("10 de septiembre de 2022 10 de octubre de 2022", 415, 600, cw=11)])
    v = values(predict(p))
    assert v["invoice_date"] == "10 de septiembre de 2022" and v["due_date"] == "10 de octubre de 2022"


def test_calibration_is_monotone_and_keeps_weak_evidence_weak():
    from invoice.scanner.processing.stages.llm.local import calibrate

    for born_digital in (True, False):
        for name in ("total", "vendor_name"):
            ps = [calibrate(name, s / 20, born_digital) for s in range(21)]
            assert ps == sorted(ps) and 0.0 <= ps[0] and ps[-1] == 1.0
            assert calibrate(name, 0.3, born_digital) < 0.5
    # Free text read by OCR keeps more of its doubt than a number from a PDF text layer.
    assert calibrate("vendor_name", 0.9, False) < calibrate("total", 0.9, True)


def test_several_labels_read_as_one_line_each_take_the_value_under_them():
    # The detector boxed three header labels as one line; their values sit in three columns.
    pred = predict(page([
        line("Nordlicht GmbH", 80, 80, cw=11, h=22),
        ("Hauptstraße 12", 80, 110), ("10115 Berlin", 80, 126),
        ("RECHNUNG", 800, 80),
        ("Rechnungs-Nr. Leistungs- und Rechnungsdatum Fälligkeitsdatum", 80, 250),
        ("RE286770", 80, 268), ("15.02.2023", 180, 268), ("22.02.2023", 440, 268),
        ("Pos", 80, 400), ("Beschreibung", 130, 400), ("Menge", 600, 400), ("Einzelpreis", 760, 400),
        ("Betrag", 1000, 400),
        ("1", 80, 430), ("Beratung", 130, 430), ("10", 612, 430), ("100,00 €", 760, 430), ("1.000,00 €", 1000, 430),
        ("Nettobetrag", 760, 560), ("1.000,00 €", 1000, 560),
        ("zzgl. 19% MwSt.", 760, 580), ("190,00 €", 1000, 580),
        ("Gesamtbetrag", 760, 600), ("1.190,00 €", 1000, 600),
    ]))
    v = values(pred)
    assert (v["invoice_number"], v["invoice_date"], v["due_date"]) == ("RE286770", "15.02.2023", "22.02.2023")
