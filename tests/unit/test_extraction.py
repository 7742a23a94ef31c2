"""The extraction stage: amounts in every printed format, dates in many formats and languages
with the day/month order taken from evidence, currencies, IBAN/BIC/VAT validation, derived
values and line items."""
from __future__ import annotations

import pytest

from invoice.scanner.processing.extract.normalize import parse_amount, parse_date
from invoice.scanner.processing.fields import DOCUMENT_TYPE, FIELD_NAMES
from invoice.scanner.processing.models import (FieldPrediction, LineItemPrediction, LlmUsage, OcrLine, OcrPage,
                                               Prediction)
from invoice.scanner.processing.stages.extraction import extract


def prediction(values: dict[str, str | None], items: list[LineItemPrediction] | None = None,
               conf: float = 0.9) -> Prediction:
    fields = {n: FieldPrediction(n, values.get(n), conf if values.get(n) is not None else 0.0,
                                 page=1 if values.get(n) else None) for n in FIELD_NAMES}
    return Prediction(fields, items or [], LlmUsage("local", "test"))


def ocr(*texts: str) -> list[OcrPage]:
    lines = [OcrLine(t, (10, 20 * i, 400, 20 * i + 12), 0.99) for i, t in enumerate(texts)]
    return [OcrPage(1, 1000, 1400, "test", lines)]


@pytest.mark.parametrize("raw, sep, value", [
    ("1,234.56", None, 1234.56), ("1.234,56", None, 1234.56), ("1 234,56", None, 1234.56),
    ("1'234.56", None, 1234.56), ("1\u202f234,56 €", None, 1234.56), ("€ 1.234,56", None, 1234.56),
    ("$1,234.56", None, 1234.56), ("CHF 1'234.50", None, 1234.5), ("EUR -12,00", None, -12.0),
    ("(45.00)", None, -45.0), ("45.00-", None, -45.0), ("−5,00 €", None, -5.0), ("1.234", ",", 1234.0),
    ("1,234", ".", 1234.0), ("12,5", None, 12.5), ("1.234.567,891", None, 1234567.89), ("0.5", None, 0.5),
    ("abc", None, None), ("", None, None),
])
def test_parse_amount(raw, sep, value):
    assert parse_amount(raw, sep) == value


@pytest.mark.parametrize("raw, order, lang, iso", [
    ("2024-03-05", None, None, "2024-03-05"),
    ("15.03.2024", None, None, "2024-03-15"),
    ("03/15/2024", None, None, "2024-03-15"),
    ("05/03/2024", "DMY", None, "2024-03-05"),
    ("05/03/2024", "MDY", None, "2024-05-03"),
    ("5. März 2024", None, ("de",), "2024-03-05"),
    ("12 janvier 2025", None, ("fr",), "2025-01-12"),
    ("3 de febrero de 2023", None, ("es",), "2023-02-03"),
    ("17 abr. 2023", None, ("es",), "2023-04-17"),
    ("1 mei 2022", None, ("nl",), "2022-05-01"),
    ("March 5, 2024", None, ("en",), "2024-03-05"),
    ("5-Mar-24", None, None, "2024-03-05"),
])
def test_parse_date_formats_and_languages(raw, order, lang, iso):
    assert parse_date(raw, order, lang).iso == iso


def test_ambiguous_numeric_date_without_evidence_is_flagged():
    p = parse_date("05/03/2024", None, None)
    assert p.ambiguous
    ex = extract(prediction({"invoice_date": "05/03/2024", "total": "10.00"}), ocr("Invoice", "05/03/2024"))
    f = ex.fields["invoice_date"]
    assert f.value == "2024-03-05" and f.error and "ambiguous" in f.error and f.confidence < 0.5


def test_day_first_decided_by_another_date_on_the_page():
    pages = ocr("Invoice date: 05/03/2024", "Due date: 20/03/2024")
    ex = extract(prediction({"invoice_date": "05/03/2024", "due_date": "20/03/2024"}), pages)
    assert ex.fields["invoice_date"].value == "2024-03-05" and ex.fields["invoice_date"].error is None
    assert ex.fields["due_date"].value == "2024-03-20"


def test_month_first_decided_by_another_date_on_the_page():
    pages = ocr("Invoice date: 05/03/2024", "Due date: 05/30/2024")
    ex = extract(prediction({"invoice_date": "05/03/2024", "due_date": "05/30/2024"}), pages)
    assert ex.fields["invoice_date"].value == "2024-05-03"


def test_day_first_decided_by_language():
    pages = ocr("Rechnung", "Rechnungsdatum: 05.03.2024", "Gesamtbetrag 119,00 €", "zzgl. MwSt.")
    ex = extract(prediction({"invoice_date": "05.03.2024"}), pages)
    assert ex.fields["invoice_date"].value == "2024-03-05" and ex.fields["invoice_date"].error is None


def test_month_first_for_a_us_vendor_and_day_first_for_a_uk_vendor_billing_in_usd():
    us = extract(prediction({"invoice_date": "05/03/2024", "currency": "$", "vendor_tax_id": "12-3456789"}),
                 ocr("Invoice", "Boston, MA 02110", "Total $10.00"))
    assert us.fields["invoice_date"].value == "2024-05-03"
    uk = extract(prediction({"invoice_date": "05/03/2024", "currency": "USD", "iban": "GB33BUKB20201555555555"}),
                 ocr("Invoice", "Total 10.00 USD"))
    assert uk.fields["invoice_date"].value == "2024-03-05"


def test_amounts_currency_and_identifiers():
    ex = extract(prediction({
        "amount": "1.000,00 €", "vat": "190,00 €", "total": "1.190,00 €", "currency": "€",
        "iban": "DE89 3704 0044 0532 0130 00", "bic": "COBADEFFXXX", "vendor_tax_id": "DE 136 695 976",
        "customer_tax_id": "CHE-116.281.710 MWST", "invoice_number": "  RE-2024-1 ", "vendor_name": "Acme  GmbH",
    }), ocr("Nettobetrag 1.000,00 €"))
    f = ex.fields
    assert (f["amount"].value, f["vat"].value, f["total"].value) == (1000.0, 190.0, 1190.0)
    assert f["currency"].value == "EUR"
    assert f["iban"].value == "DE89370400440532013000" and f["iban"].valid
    assert f["bic"].value == "COBADEFFXXX" and f["bic"].valid
    assert f["vendor_tax_id"].value == "DE136695976" and f["vendor_tax_id"].valid
    assert f["customer_tax_id"].value == "CHE116281710MWST" and f["customer_tax_id"].valid
    assert f["invoice_number"].value == "RE-2024-1" and f["vendor_name"].value == "Acme GmbH"
    assert f["amount"].raw_value == "1.000,00 €"


@pytest.mark.parametrize("name, raw", [
    ("iban", "DE89 3704 0044 0532 0130 01"), ("bic", "XXXXDEFF1"), ("vendor_tax_id", "DE136695977"),
    ("invoice_date", "31.02.2024"), ("total", "twelve"), ("currency", "Taler"),
])
def test_invalid_values_are_marked_with_an_error(name, raw):
    f = extract(prediction({name: raw}), ocr("x")).fields[name]
    assert not f.valid and f.error


@pytest.mark.parametrize("code, raw", [("USD", "$"), ("GBP", "£"), ("CHF", "CHF"), ("EUR", "EUR"), ("SEK", "SEK")])
def test_currency_codes(code, raw):
    assert extract(prediction({"currency": raw}), ocr("x")).fields["currency"].value == code


def test_derived_net_vat_total_and_amount_due():
    f = extract(prediction({"vat": "19.00", "total": "119.00"}), ocr("x")).fields
    assert f["amount"].value == 100.0 and f["amount"].raw_value is None and f["amount"].confidence > 0
    assert f["amount_due"].value == 119.0
    f = extract(prediction({"amount": "100.00", "total": "119.00"}), ocr("x")).fields
    assert f["vat"].value == 19.0
    f = extract(prediction({"amount": "100.00", "vat": "19.00"}), ocr("x")).fields
    assert f["total"].value == 119.0
    f = extract(prediction({"amount": "100.00", "vat": "19.00", "total": "119.00", "amount_due": "50.00"}),
                ocr("x")).fields
    assert f["amount_due"].value == 50.0


def test_every_field_is_present_even_when_nothing_was_found():
    ex = extract(prediction({}), [])
    assert set(ex.fields) == set(FIELD_NAMES) | {DOCUMENT_TYPE}
    assert all(f.value is None for n, f in ex.fields.items() if n != DOCUMENT_TYPE)
    assert ex.fields[DOCUMENT_TYPE].value == "invoice"


def test_line_items_normalized_and_amount_computed_when_missing():
    items = [
        LineItemPrediction("  Beratung  ", "10", "100,00 €", "1.000,00 €", "19 %", 0.9, 1),
        LineItemPrediction("Lizenz", "2,5", "40,00", None, "7%", 0.8, 2),
        LineItemPrediction("Versand", None, None, "5,90", None, 0.7, 2),
    ]
    ex = extract(prediction({}, items), ocr("Summe 1.000,00 €"))
    a, b, c = ex.line_items
    assert (a.position, a.description, a.quantity, a.unit_price, a.amount, a.tax_rate) == (
        1, "Beratung", 10.0, 100.0, 1000.0, 19.0)
    assert (b.quantity, b.unit_price, b.amount, b.tax_rate, b.page) == (2.5, 40.0, 100.0, 7.0, 2)
    assert (c.quantity, c.unit_price, c.amount) == (None, None, 5.9)


@pytest.mark.parametrize("raw, rate", [("8.875%", 8.875), ("8,875 %", 8.875), ("5,5 %", 5.5), ("21%", 21.0),
                                       ("7.7 %", 7.7)])
def test_tax_rates_keep_their_decimals(raw, rate):
    ex = extract(prediction({}, [LineItemPrediction("Service", "1", "10.00", "10.00", raw, 0.9, 1)]), ocr("x"))
    assert ex.line_items[0].tax_rate == rate


def test_a_persons_document_type_decides_the_signs_and_stays():
    from invoice.scanner.processing.db.review import Locks
    from invoice.scanner.processing.models import NormalizedField

    pred = prediction({"amount": "100.00", "vat": "19.00", "total": "119.00"})
    pages = ocr("Invoice", "Total 119.00")
    assert extract(pred, pages).fields[DOCUMENT_TYPE].value == "invoice"
    lock = NormalizedField(name=DOCUMENT_TYPE, value="credit_note", raw_value="credit_note", confidence=1.0)
    ex = extract(pred, pages, Locks({DOCUMENT_TYPE: lock}, None))
    assert ex.fields[DOCUMENT_TYPE].value == "credit_note"
    assert (ex.fields["amount"].value, ex.fields["vat"].value, ex.fields["total"].value) == (-100.0, -19.0, -119.0)


def test_credit_note_line_items_keep_quantity_times_price_equal_to_the_amount():
    """A credit note's lines are negative; a quantity printed with its minus keeps the unit price
    positive, so quantity x unit price = amount still holds (and the evaluation's check passes)."""
    from invoice.scanner.processing.db.review import Locks
    from invoice.scanner.processing.models import NormalizedField

    lock = NormalizedField(name=DOCUMENT_TYPE, value="credit_note", raw_value="credit_note", confidence=1.0)
    items = [LineItemPrediction("Beratung", "-10", "114,00", "-1.140,00", "19 %", 0.9, 1),
             LineItemPrediction("Lizenz", "4", "25,00", "100,00", "19 %", 0.9, 1),
             LineItemPrediction("Versand", "2", "-5,00", "-10,00", "19 %", 0.9, 1)]
    ex = extract(prediction({"amount": "1.250,00"}, items), ocr("Gutschrift"), Locks({DOCUMENT_TYPE: lock}, None))
    got = [(li.quantity, li.unit_price, li.amount) for li in ex.line_items]
    assert got == [(-10.0, 114.0, -1140.0), (4.0, -25.0, -100.0), (2.0, -5.0, -10.0)]
    assert all(round(q * u, 2) == a for q, u, a in got)


def test_a_legal_form_of_one_country_in_the_vendor_name_sets_the_date_order():
    """'… Sdn Bhd' is Malaysian, and Malaysia writes the day first: 05/03/2018 is 5 March, and
    the date needs no look. A name with no such form leaves 05/03/2018 ambiguous."""
    pages = ocr("KEDAI MAKAN ABC SDN BHD", "Date: 05/03/2018", "TOTAL 10.60")
    ex = extract(prediction({"vendor_name": "KEDAI MAKAN ABC SDN BHD", "invoice_date": "05/03/2018",
                             "total": "10.60"}), pages)
    assert ex.fields["invoice_date"].value == "2018-03-05" and ex.fields["invoice_date"].error is None
    pages = ocr("KEDAI MAKAN ABC", "Date: 05/03/2018", "TOTAL 10.60")
    ex = extract(prediction({"vendor_name": "KEDAI MAKAN ABC", "invoice_date": "05/03/2018", "total": "10.60"}), pages)
    assert "ambiguous" in (ex.fields["invoice_date"].error or "")


def test_the_ringgit_sign_before_an_amount_with_cents_is_the_currency():
    from invoice.scanner.processing.extract.normalize import currency_in

    for text in ("TOTAL RM 12.00", "RM12.00", "Amount (RM)", "RM 1,234.50"):
        assert currency_in(text) == "MYR", text
    for text in ("RM 204, 5th Floor", "FIRM 12.00", "ROOM 12"):
        assert currency_in(text) is None, text
    pages = ocr("KEDAI MAKAN ABC S/B", "Date: 05/03/2018", "TOTAL RM 10.60")
    ex = extract(prediction({"vendor_name": "KEDAI MAKAN ABC S/B", "invoice_date": "05/03/2018", "currency": "RM",
                             "total": "10.60"}), pages)
    assert ex.fields["currency"].value == "MYR"
    assert ex.fields["invoice_date"].value == "2018-03-05" and ex.fields["invoice_date"].error is None


def test_a_net_read_equal_to_the_total_with_the_tax_included_in_it_is_derived():
    """'Total incl. GST 15.90' and 'GST 6 % 0.90': a net read as 15.90 cannot be, and 0.90 is the
    6 % a price of 15.90 includes, so the net is 15.00, derived (no raw value). A tax that is no
    rate's share of the total leaves the reading alone for the evaluation to question."""
    pages = ocr("Total incl. GST 15.90", "GST 6% 0.90")
    ex = extract(prediction({"amount": "15.90", "vat": "0.90", "total": "15.90"}), pages)
    assert (ex.fields["amount"].value, ex.fields["amount"].raw_value) == (15.0, None)
    ex = extract(prediction({"amount": "15.90", "vat": "1.33", "total": "15.90"}), pages)
    assert ex.fields["amount"].value == 15.9 and ex.fields["amount"].raw_value == "15.90"


def test_the_tax_of_a_breakdown_that_adds_up_to_the_total_is_read():
    """A till slip prints its tax only in the breakdown under the total, one cell a line: the tax
    and the net are the breakdown's (summed, so derived), because base + tax = the total. A row
    whose tax is not its rate's share of the base is not a breakdown; nor is one that does not add
    up to the total."""
    slip = ("Total Incl. GST@6%", "RM 37.10", "CASH", "RM 50.00", "GST Summary", "Amt(RM) Tax(RM)",
            "GST S@6%", "35.00", "2.10", "Z@0%", "0.00", "0.00", "14-03-18 21:49 SH03")
    ex = extract(prediction({"total": "37.10"}), ocr(*slip))
    assert (ex.fields["vat"].value, ex.fields["amount"].value, ex.fields["vat"].raw_value) == (2.1, 35.0, None)
    assert ex.fields["vat"].error is None
    wrong_rate = [t if t != "2.10" else "2.80" for t in slip]
    ex = extract(prediction({"total": "37.10"}), ocr(*wrong_rate))
    assert ex.fields["vat"].value is None
    ex = extract(prediction({"total": "40.00"}), ocr(*slip))
    assert ex.fields["vat"].value is None


def test_a_breakdown_row_with_its_gross_corrects_a_tax_that_does_not_add_up():
    """'MwSt% Netto MwSt Brutto' rows on one line each, decimal commas, two rates: a tax read
    from elsewhere (the 7 % line's 0,70) that breaks net + tax = total gives way to the table."""
    pages = ocr("Summe EUR 21,77", "MwSt% Netto MwSt Brutto", "A 19% 8,40 1,60 10,00", "B 7% 11,00 0,77 11,77",
                "Vielen Dank für Ihren Einkauf")
    ex = extract(prediction({"total": "21,77", "vat": "0,70", "amount": "19,40"}), pages)
    assert (ex.fields["vat"].value, ex.fields["amount"].value) == (2.37, 19.4)
