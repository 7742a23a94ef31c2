"""Documents as they come, not as one generator draws them: credit notes, till receipts, due
dates in a sentence or counted from the terms, names over two lines or split on one, the vendor
only in the footer, the buyer's block where the vendor usually sits, VAT in a separate
breakdown, two-digit years. Each page is built here by hand (no corpus, no generator), so the
rules are tested as the laws they are."""
from __future__ import annotations

import pytest

from invoice.scanner.processing.config import Settings
from invoice.scanner.processing.extract.doctype import classify
from invoice.scanner.processing.extract.normalize import expand_year, parse_date, terms_days
from invoice.scanner.processing.fields import DOCUMENT_TYPE
from invoice.scanner.processing.models import OcrLine, OcrPage
from invoice.scanner.processing.stages.evaluation import evaluate
from invoice.scanner.processing.stages.extraction import extract
from invoice.scanner.processing.stages.llm.local import LocalProvider
from ocrpage import line

W, H = 1240, 1754


def page(items: list, width: int = W, height: int = H) -> OcrPage:
    return OcrPage(1, width, height, "test", [it if isinstance(it, OcrLine) else line(*it) for it in items])


def run(*pages: OcrPage):
    pred = LocalProvider(Settings()).predict(list(pages), [])
    ex = extract(pred, list(pages))
    return pred, ex, evaluate(ex, 0.5)


def values(pred) -> dict:
    return {k: f.value for k, f in pred.fields.items()}


def invoice_body(total_block: list, extra: list | None = None, head: list | None = None) -> OcrPage:
    return page([
        *(head if head is not None else [line("Nordwind Handel GmbH", 80, 80, cw=11, h=22),
                                         ("Hafenstraße 7", 80, 110), ("20457 Hamburg", 80, 126)]),
        ("Rechnung an:", 80, 250), ("Beispiel AG", 80, 266), ("Musterweg 5", 80, 282), ("80331 München", 80, 298),
        ("Rechnungsnummer:", 800, 250), ("RE-2024-0042", 950, 250),
        ("Rechnungsdatum:", 800, 266), ("15.03.2024", 950, 266),
        ("Beschreibung", 80, 400), ("Menge", 600, 400), ("Einzelpreis", 760, 400), ("Betrag", 1000, 400),
        ("Beratung", 80, 430), ("10", 612, 430), ("100,00", 760, 430), ("1.000,00", 1000, 430),
        *total_block,
        *(extra or []),
        ("USt-IdNr.: DE136695976 · IBAN: DE89 3704 0044 0532 0130 00", 80, 1650),
    ])


# --- two-digit years ------------------------------------------------------------------------

def test_a_two_digit_year_takes_the_century_nearest_to_the_document():
    assert expand_year(24, 2026) == 2024 and expand_year(97, 2026) == 1997 and expand_year(70, 2026) == 1970
    assert expand_year(12, 2026) == 2012 and expand_year(41, 2026) == 2041  # at most 15 years ahead
    assert parse_date("12.03.24", "DMY").iso == "2024-03-12"
    assert parse_date("12-Dec-18", "DMY", ("en",)).iso == "2018-12-12"  # not dateparser's own rule, never 1818
    assert parse_date("3 Dec 97", "DMY", ("en",)).iso == "1997-12-03"
    assert parse_date("05/06/99", "DMY", ref_year=2001).iso == "1999-06-05"


def test_a_date_with_an_implausible_year_is_not_approved():
    pred, ex, ev = run(invoice_body([("Gesamtbetrag", 760, 600), ("1.000,00", 1000, 600)]))
    pred.fields["invoice_date"].value = "15.03.1812"  # a misread, e.g. "15.03. 18 12"
    ex = extract(pred, [])
    assert not ex.fields["invoice_date"].valid and "implausible year" in ex.fields["invoice_date"].error
    assert not evaluate(ex, 0.0).approved


# --- credit notes -----------------------------------------------------------------------------

def test_a_credit_note_has_negative_amounts_and_may_be_approved():
    doc = invoice_body([("Nettobetrag", 760, 560), ("1.000,00", 1000, 560), ("zzgl. 19% MwSt.", 760, 580),
                        ("190,00", 1000, 580), ("Gesamtbetrag", 760, 600), ("1.190,00", 1000, 600)])
    doc.lines.insert(0, line("Gutschrift Nr. GS-2024-17", 800, 200, cw=9, h=18))
    pred, ex, ev = run(doc)
    f = ex.fields
    assert f[DOCUMENT_TYPE].value == "credit_note" and f[DOCUMENT_TYPE].bbox is not None
    assert (f["amount"].value, f["vat"].value, f["total"].value) == (-1000.0, -190.0, -1190.0)
    assert f["amount_due"].value == -1190.0
    assert [i.amount for i in ex.line_items] == [-1000.0]
    assert ev.checks["totals_add_up"]["passed"] and ev.checks["positive_total"]["passed"] is not False
    assert not any("negative" in r for r in ev.reasons)


def test_a_negative_total_on_an_invoice_still_needs_review():
    pred, ex, ev = run(invoice_body([("Gesamtbetrag", 760, 600), ("-1.000,00", 1000, 600)]))
    assert ex.fields[DOCUMENT_TYPE].value == "credit_note"  # a negative total is a credit
    ex.fields[DOCUMENT_TYPE].value = "invoice"  # a person says: an invoice after all
    assert evaluate(ex, 0.0).checks["positive_total"]["passed"] is False


# --- receipts ---------------------------------------------------------------------------------

def receipt(head: list[OcrLine]) -> OcrPage:
    y = 40 + 30 * len(head)
    rows = [line("=" * 40, 20, y), line("Date: 02/01/2019 14:35", 20, y + 24),
            line("2 x Coffee", 20, y + 48), line("7.00", 380, y + 48),
            line("1 x Croissant", 20, y + 72), line("3.50", 380, y + 72),
            line("=" * 40, 20, y + 96),
            line("TOTAL", 20, y + 120), line("10.50", 380, y + 120),
            line("CASH", 20, y + 144), line("20.00", 380, y + 144),
            line("CHANGE", 20, y + 168), line("9.50", 380, y + 168),
            line("Thank you, come again", 60, y + 200)]
    return page(head + rows, width=480, height=1000)


def test_a_receipt_vendor_is_the_header_with_no_label():
    doc = receipt([line("Corner Bakery", 120, 40, cw=12, h=24), line("(Co. Reg 123456-X)", 110, 70),
                   line("12 Market Street", 110, 100), line("Tel 03-5551234", 120, 130)])
    pred, ex, ev = run(doc)
    v = values(pred)
    assert ex.fields[DOCUMENT_TYPE].value == "receipt"
    assert v["vendor_name"] == "Corner Bakery"
    assert ex.fields["total"].value == 10.5  # not the cash handed over, not the change
    assert ex.fields["invoice_date"].value == "2019-01-02"
    assert "invoice_number" not in ev.checks["required_fields"]["missing"]


def test_a_receipt_header_after_an_address_line_and_over_two_lines():
    doc = receipt([line("GST ID: 000123456789", 100, 40), line("SUNRISE", 160, 70, cw=12, h=24),
                   line("TRADING SDN BHD", 120, 100, cw=12, h=24), line("No 5, Jalan Besar 3", 100, 130)])
    v = values(run(doc)[0])
    assert v["vendor_name"] == "SUNRISE TRADING SDN BHD"


def test_a_receipt_name_with_its_registration_number_on_the_same_line():
    # The shop's name is the line that ends in its company registration number; the name is
    # what precedes it, not the address under it.
    doc = receipt([line("NORTHGATE CO. (M) BHD (126926-H)", 60, 40, cw=10, h=20),
                   line("3RD FLR, NORTHGATE MALL", 80, 70), line("JLN MAWAR, TAMAN INDAH", 80, 100),
                   line("GST ID : 002017394688", 80, 130)])
    assert values(run(doc)[0])["vendor_name"] == "NORTHGATE CO. (M) BHD"


def test_a_receipt_name_that_starts_with_a_number_and_ends_in_s_b():
    # "99 ... S/B" is a name with its legal form (Sendirian Berhad), not "12 High Street"; the
    # recognizer's "5/B" is the form's S read as 5; a registration number after the form is cut.
    doc = receipt([line("88 QUICK MART 5/B (519537-X)", 60, 40, cw=10, h=20),
                   line("LOT 2811, JALAN ANGSA,", 80, 70), line("TAMAN BERKELEY", 80, 100),
                   line("41150 KLANG, SELANGOR", 80, 130)])
    assert values(run(doc)[0])["vendor_name"] == "88 QUICK MART S/B"


def test_an_a4_invoice_that_mentions_cash_is_not_a_receipt():
    doc = invoice_body([("Gesamtbetrag", 760, 600), ("1.000,00", 1000, 600)],
                       extra=[("Cash discount 2% within 10 days; change of address: see below", 80, 700)])
    assert classify([doc]).value == "invoice"


# --- due dates in sentences and from terms --------------------------------------------------

@pytest.mark.parametrize("sentence, due", [
    ("Please pay by 15 April 2024 quoting the invoice number.", "2024-04-15"),
    ("Der Betrag ist zahlbar bis zum 12.04.2024 ohne Abzug.", "2024-04-12"),
    ("Merci de régler avant le 30/04/2024 par virement.", "2024-04-30"),
    ("Le rogamos que realice el pago antes del 30/04/2024.", "2024-04-30"),
    ("Gelieve het bedrag te betalen vóór 30-04-2024.", "2024-04-30"),
])
def test_a_due_date_in_a_sentence(sentence, due):
    pred, ex, ev = run(invoice_body([("Gesamtbetrag", 760, 600), ("1.000,00", 1000, 600)],
                                    extra=[(sentence, 80, 700)]))
    assert ex.fields["due_date"].value == due
    assert ex.fields["invoice_date"].value == "2024-03-15"  # the sentence's date is not taken for it
    assert ex.fields["amount_due"].value == 1000.0  # "pay by 15 April 2024" is no amount of 2024


def test_a_due_date_counted_from_the_terms_is_derived():
    pred, ex, ev = run(invoice_body([("Gesamtbetrag", 760, 600), ("1.000,00", 1000, 600)],
                                    extra=[("Payment is payable within 30 days of the invoice date.", 80, 700)]))
    due = ex.fields["due_date"]
    assert due.value == "2024-04-14" and due.raw_value is None  # no raw value: the API says "derived"
    assert terms_days("14 Tage 2 % Skonto, 30 Tage netto") == 30
    assert terms_days("à 30 jours fin de mois") is None  # counted to a month's end: not derived


# --- parties ----------------------------------------------------------------------------------

def test_a_vendor_name_over_two_lines_and_split_on_one():
    two_lines = invoice_body([("Gesamtbetrag", 760, 600), ("1.000,00", 1000, 600)], head=[
        line("Müller, Schmidt und", 80, 80, cw=11, h=22), line("Partner GmbH", 80, 106, cw=11, h=22),
        ("Hafenstraße 7", 80, 136), ("20457 Hamburg", 80, 152), ("Tel. 040 123456", 80, 168)])
    assert values(run(two_lines)[0])["vendor_name"] == "Müller, Schmidt und Partner GmbH"
    one_row = invoice_body([("Gesamtbetrag", 760, 600), ("1.000,00", 1000, 600)], head=[
        line("Smith, Jones and", 80, 80, cw=11, h=22), line("Partners LLP", 300, 80, cw=11, h=22),
        ("Hafenstraße 7", 80, 110), ("20457 Hamburg", 80, 126), ("Tel. 040 123456", 80, 142)])
    assert values(run(one_row)[0])["vendor_name"] == "Smith, Jones and Partners LLP"


def test_a_vendor_named_only_in_the_footer():
    doc = invoice_body([("Gesamtbetrag", 760, 600), ("1.000,00", 1000, 600)], head=[])
    doc.lines.append(line("Nordwind Handel GmbH · Hafenstraße 7 · 20457 Hamburg · Tel. 040 123456", 80, 1620))
    assert values(run(doc)[0])["vendor_name"] == "Nordwind Handel GmbH"


def test_the_buyers_window_block_is_not_the_vendor():
    doc = page([
        line("Nordwind Handel GmbH · Hafenstraße 7 · 20457 Hamburg", 80, 230, cw=4, h=8),
        ("Beispiel AG", 80, 250), ("Musterweg 5", 80, 266), ("80331 München", 80, 282),
        ("Rechnungsnummer:", 800, 250), ("RE-2024-0042", 950, 250),
        ("Rechnungsdatum:", 800, 266), ("15.03.2024", 950, 266),
        ("Gesamtbetrag", 760, 600), ("1.000,00", 1000, 600),
        ("Nordwind Handel GmbH · IBAN: DE89 3704 0044 0532 0130 00 · USt-IdNr.: DE136695976", 80, 1650),
    ])
    v = values(run(doc)[0])
    assert v["vendor_name"] == "Nordwind Handel GmbH"
    assert v["customer_name"] == "Beispiel AG"


def test_a_street_line_is_never_the_vendor():
    doc = invoice_body([("Gesamtbetrag", 760, 600), ("1.000,00", 1000, 600)], head=[
        line("Hafenstraße 7", 80, 80, cw=11, h=22), ("20457 Hamburg", 80, 110)])
    assert values(run(doc)[0])["vendor_name"] != "Hafenstraße 7"


# --- amounts ----------------------------------------------------------------------------------

def test_net_and_vat_from_a_separate_breakdown_when_the_totals_show_only_the_gross():
    pred, ex, ev = run(invoice_body([
        ("Gesamtbetrag", 760, 600), ("1.190,00", 1000, 600),
        ("MwSt.-Satz", 80, 660), ("Netto", 300, 660), ("MwSt.", 500, 660), ("Brutto", 700, 660),
        ("19 %", 80, 680), ("1.000,00", 300, 680), ("190,00", 500, 680), ("1.190,00", 700, 680),
    ]))
    f = ex.fields
    assert (f["amount"].value, f["vat"].value, f["total"].value) == (1000.0, 190.0, 1190.0)
    assert f["amount"].value != f["total"].value


def test_several_rates_in_the_breakdown_add_up():
    pred, ex, ev = run(invoice_body([
        ("Gesamtbetrag", 760, 600), ("1.235,00", 1000, 600),
        ("19 %", 80, 680), ("500,00", 300, 680), ("95,00", 500, 680), ("595,00", 700, 680),
        ("7 %", 80, 700), ("598,13", 300, 700), ("41,87", 500, 700), ("640,00", 700, 700),
    ]))
    f = ex.fields
    assert (f["amount"].value, f["vat"].value, f["total"].value) == (1098.13, 136.87, 1235.0)


def test_a_credit_notes_negative_breakdown_rows_add_up():
    """Every amount of a credit note's breakdown is negative; the rows' law holds all the same."""
    pred, ex, ev = run(invoice_body([
        ("Gesamt netto", 760, 600), ("-1.098,13", 1000, 600), ("Gesamtbetrag", 760, 620), ("-1.235,00", 1000, 620),
        ("Steuersatz", 80, 660), ("Bemessungsgrundlage", 300, 660), ("MwSt.", 500, 660), ("Brutto", 700, 660),
        ("19 %", 80, 680), ("-500,00", 300, 680), ("-95,00", 500, 680), ("-595,00", 700, 680),
        ("7 %", 80, 700), ("-598,13", 300, 700), ("-41,87", 500, 700), ("-640,00", 700, 700),
    ]))
    f = ex.fields
    assert (f["amount"].value, f["vat"].value, f["total"].value) == (-1098.13, -136.87, -1235.0)


def test_a_band_of_totals_with_a_label_over_each_value():
    """'Base HT | TVA à 20 % | TVA à 10 % Total toutes taxes comprises' over one row of values,
    the last two labels read as one line: each label keeps its rate and finds the value under it,
    and the two rates' VAT add up."""
    pred, ex, ev = run(invoice_body([
        ("Base HT", 80, 600), ("TVA à 20 %", 300, 600), ("TVA à 10 % Total toutes taxes comprises", 520, 600),
        ("1.000,00 EUR", 60, 620), ("100,00 EUR", 280, 620), ("50,00 EUR", 500, 620), ("1.150,00 EUR", 640, 620),
    ]))
    f = ex.fields
    assert (f["amount"].value, f["vat"].value, f["total"].value) == (1000.0, 150.0, 1150.0)


def test_a_name_that_opens_with_a_lower_case_connector_lost_its_first_line():
    from invoice.scanner.processing.extract.labels import looks_cut_at_start

    assert looks_cut_at_start("de Servicios Suministros S.L.") and looks_cut_at_start("& Partner mbB")
    assert not looks_cut_at_start("De Vries NV") and not looks_cut_at_start("Mediterránea de Servicios S.L.")
    pred, ex, ev = run(invoice_body([("Gesamtbetrag", 760, 600), ("1.000,00", 1000, 600)],
                                    head=[line("und Partner mbB", 80, 80, cw=11, h=22), ("Hafenstraße 7", 80, 110),
                                          ("20457 Hamburg", 80, 126)]))
    assert ex.fields["vendor_name"].value == "und Partner mbB"
    assert ev.checks["complete_names"]["passed"] is False and not ev.approved


# --- trust: a label on the page whose value was not read ---------------------------------------

def test_a_due_label_whose_date_was_not_read_blocks_approval():
    doc = invoice_body([("Gesamtbetrag", 760, 600), ("1.000,00", 1000, 600)],
                       extra=[("Fälligkeitsdatum:", 800, 282), ("14.O4.2O24", 950, 282)])  # O for 0: no date
    pred, ex, ev = run(doc)
    assert ex.fields["due_date"].value is None and "label on the page" in ex.fields["due_date"].error
    assert ev.checks["labelled_values_read"]["passed"] is False and not ev.approved
    assert any("due date was not read" in r for r in ev.reasons)


def test_due_terms_without_a_date_do_not_block():
    doc = invoice_body([("Gesamtbetrag", 760, 600), ("1.000,00", 1000, 600)],
                       extra=[("Zahlungsziel: sofort ohne Abzug", 80, 700)])
    pred, ex, ev = run(doc)
    assert ev.checks["labelled_values_read"]["passed"] is True


def test_a_later_date_no_field_took_blocks_approval_without_a_due_date():
    # A due date in words the reader does not know as a due date's: none read, but a date after
    # the invoice date that no field took is on the page, so the due date may have been missed.
    doc = invoice_body([("Gesamtbetrag", 760, 600), ("1.000,00", 1000, 600)],
                       extra=[("Bitte beachten Sie den 14.04.2024.", 80, 700)])
    pred, ex, ev = run(doc)
    due = ex.fields["due_date"]
    assert due.value is None and "later date" in due.error
    assert ev.checks["labelled_values_read"]["passed"] is False and not ev.approved
    assert any("due date was not read although the page has a later date" in r for r in ev.reasons)


def test_no_later_date_no_due_date_block():
    # An earlier date (the delivery) is no due date missed.
    doc = invoice_body([("Gesamtbetrag", 760, 600), ("1.000,00", 1000, 600)],
                       extra=[("Geliefert am 01.03.2024", 80, 700)])
    pred, ex, ev = run(doc)
    assert ex.fields["due_date"].value is None and not ex.fields["due_date"].error
    assert ev.checks["labelled_values_read"]["passed"] is True


# --- dates as tills and title lines print them ----------------------------------------------------

def test_a_receipt_date_at_the_foot_beside_its_time():
    # No label: the till prints its date at the foot with the time; the lower half counts on a receipt.
    head = [line("Corner Bakery", 120, 40, cw=12, h=24), line("12 Market Street", 110, 70)]
    y = 40 + 30 * len(head)
    doc = page(head + [line("2 x Coffee", 20, y), line("7.00", 380, y), line("=" * 40, 20, y + 24),
                       line("TOTAL", 20, y + 48), line("7.00", 380, y + 48),
                       line("CASH", 20, y + 72), line("10.00", 380, y + 72),
                       line("CHANGE", 20, y + 96), line("3.00", 380, y + 96),
                       line("Thank you, come again", 60, 800), line("25/01/2018 1:22:56PM #0042", 60, 830)],
               width=480, height=1000)
    pred, ex, ev = run(doc)
    assert ex.fields[DOCUMENT_TYPE].value == "receipt"
    assert ex.fields["invoice_date"].value == "2018-01-25"


def test_a_date_with_its_time_glued_on():
    from invoice.scanner.processing.extract.normalize import find_dates

    for text, raw in (("11/02/1819:21", "11/02/18"), ("14/03/20185:57:07PM", "14/03/2018"),
                      ("04/03/201815:41:52", "04/03/2018"), ("12-01-19 21:13", "12-01-19"),
                      ("Datum 12.03.2024", "12.03.2024")):
        assert [r for r, _, _ in find_dates(text)] == [raw], text
    assert parse_date("11/02/18", "DMY").iso == "2018-02-11"


def test_the_invoice_date_in_the_title_sentence():
    # The first date on the page is a version line's; the invoice names its own date in its title.
    doc = invoice_body([("Gesamtbetrag", 760, 600), ("1.000,00", 1000, 600)], head=[
        line("Nordwind Handel GmbH", 80, 60, cw=11, h=22), ("Formular-Version: 2.1 vom 24.03.2020", 80, 110),
        ("Hafenstraße 7, 20457 Hamburg", 80, 140), ("Handelsrechnung Nr. 471102 vom 13.11.2019", 80, 200)])
    for ln in doc.lines[:]:
        if ln.text in ("Rechnungsdatum:", "15.03.2024"):
            doc.lines.remove(ln)
    pred, ex, ev = run(doc)
    assert ex.fields["invoice_date"].value == "2019-11-13"


def test_a_slip_photographed_on_a_wide_page_is_a_receipt_by_its_tender_lines():
    # No title, no rules, no till number, a page as wide as A4: the cash tendered and the change
    # given, each on a line of its own, make it a till slip ("cash discount" in a sentence does not).
    doc = page([line("Corner Bakery", 120, 40, cw=12, h=24), line("2 x Coffee", 20, 100), line("7.00", 380, 100),
                line("TOTAL", 20, 130), line("7.00", 380, 130), line("CASH :", 20, 160), line("10.00", 380, 160),
                line("Change :", 20, 190), line("3.00", 380, 190)], width=700, height=1000)
    assert classify([doc]).value == "receipt"


def test_a_receipt_items_column_headings_are_never_its_vendor():
    # A till slip whose header is only an address: the row of the items' column headings
    # ("DESC QTY PRICE AMOUNT") is not the shop's name.
    doc = receipt([line("LOT 2811, JALAN ANGSA,", 80, 40), line("41150 KLANG, SELANGOR", 80, 70),
                   line("DESC     QTY     PRICE     AMOUNT", 20, 100)])
    v = values(run(doc)[0])
    assert "QTY" not in (v.get("vendor_name") or "")


# --- the title sentence names the document's number --------------------------------------------

@pytest.mark.parametrize("title, number, date", [
    ("Handelsrechnung (380) Nr. 471102 vom 05.03.2018", "471102", "2018-03-05"),
    ("Rechnung des Versicherers (575) Nr. 00.123.456.7-2018-1 vom 11.03.2018", "00.123.456.7-2018-1", "2018-03-11"),
    ("Rechnungskorrektur Nr. RK21012345 vom 16.09.2019", "RK21012345", "2019-09-16"),
    ("Commercial Invoice No. INV-7731 dated 5 March 2024", "INV-7731", "2024-03-05"),
    ("Facture d'acompte n° FA-2024-12 du 03/04/2024", "FA-2024-12", "2024-04-03"),
])
def test_the_invoice_number_in_the_title_sentence(title, number, date):
    # No number label: the title names the number; a "Nummer" under the seller heading is the
    # seller's own number, and a settlement period's year is no invoice number.
    doc = invoice_body([("Gesamtbetrag", 760, 600), ("1.000,00", 1000, 600)], head=[
        ("Formular-Version: 2.1 vom 24.03.2020", 80, 40), (title, 80, 70),
        ("Abrechnung 2010", 800, 100),
        ("Verkäufer", 80, 130), ("Nummer:", 80, 150), ("549910", 300, 150),
        line("Nordwind Handel GmbH", 300, 170, cw=11, h=22), ("Hafenstraße 7, 20457 Hamburg", 300, 200)])
    for ln in doc.lines[:]:
        if ln.text in ("Rechnungsnummer:", "RE-2024-0042", "Rechnungsdatum:", "15.03.2024"):
            doc.lines.remove(ln)
    pred, ex, ev = run(doc)
    assert ex.fields["invoice_number"].value == number
    assert ex.fields["invoice_date"].value == date


def test_the_title_date_on_the_row_under_a_long_title():
    doc = invoice_body([("Gesamtbetrag", 760, 600), ("1.000,00", 1000, 600)], head=[
        ("Stylesheet-Version: 2.0 vom 18.10.2018", 80, 40),
        ("Rechnung des Versicherers Nr. 00.123.456.7-2018-1 vom", 80, 70), ("11.03.2018", 80, 90),
        line("Nordwind Handel GmbH", 80, 130, cw=11, h=22), ("Hafenstraße 7, 20457 Hamburg", 80, 160)])
    for ln in doc.lines[:]:
        if ln.text in ("Rechnungsdatum:", "15.03.2024"):
            doc.lines.remove(ln)
    assert run(doc)[1].fields["invoice_date"].value == "2018-03-11"


@pytest.mark.parametrize("text", [
    "Rechnung gemäß Bestellung Nr. 2013-471331 vom 01.03.2013",  # the order's number
    "Gutschrift zu Rechnung Nr. 2013-471331",  # the corrected invoice's number
    "Rechnungsempfänger Nr. 2013-471331",  # the recipient's number
])
def test_a_title_that_refers_to_another_document_does_not_name_the_number(text):
    from invoice.scanner.processing.stages.llm.local.candidates import _title_number

    assert _title_number(text) is None
    doc = invoice_body([("Gesamtbetrag", 760, 600), ("1.000,00", 1000, 600)], extra=[(text, 800, 320)])
    assert run(doc)[1].fields["invoice_number"].value == "RE-2024-0042"


def test_a_date_that_ends_a_clause_before_a_comma():
    from invoice.scanner.processing.extract.normalize import find_dates

    text = "Zahlbar innerhalb 30 Tagen netto bis 04.07.2013, 3% Skonto innerhalb 10 Tagen bis 15.06.2013"
    assert [r for r, _, _ in find_dates(text)] == ["04.07.2013", "15.06.2013"]
    assert find_dates("12.03.2024,50") == []  # a comma and a digit: part of a number
    pred, ex, ev = run(invoice_body([("Gesamtbetrag", 760, 600), ("1.000,00", 1000, 600)],
                                    extra=[(text, 80, 700)]))
    assert ex.fields["due_date"].value == "2013-07-04"


def test_a_breakdown_of_bases_and_taxes_without_the_gross():
    # "Steuerbasisbetrag USt. 7 %  275,00  19,25": each rate row prints its base and its tax, the
    # gross is printed once; the document's VAT is printed nowhere, it is the rows' sum.
    pred, ex, ev = run(invoice_body([
        ("Rechnungssumme Netto", 760, 560), ("473,00", 1000, 560),
        ("Steuerbasisbetrag USt. 7%", 600, 580), ("275,00", 860, 580), ("19,25", 1000, 580),
        ("Steuerbasisbetrag USt. 19%", 600, 600), ("198,00", 860, 600), ("37,62", 1000, 600),
        ("Rechnungssumme Brutto", 760, 620), ("529,87", 1000, 620),
        ("3% Skonto", 600, 640), ("529,87", 860, 640), ("15,90", 1000, 640),  # a discount, no tax
    ]))
    f = ex.fields
    assert (f["amount"].value, f["vat"].value, f["total"].value) == (473.0, 56.87, 529.87)


def test_a_title_word_broken_by_the_text_layer_still_names_the_number():
    # A PDF that kerns a word is read with a space inside it ("Rechnungskor rektur"): the rest of
    # the word in lower case before "Nr." closes the break.
    from invoice.scanner.processing.stages.llm.local.candidates import _title_number

    text = "Rechnungskor rektur Nr. RK21012345 vom 16.09.2019"
    assert text[_title_number(text):].startswith("RK21012345")
    assert _title_number("Rechnung gemäß bestellung Nr. 5") is None  # still a reference
    doc = invoice_body([("Gesamtbetrag", 760, 600), ("1.000,00", 1000, 600)], head=[
        (text, 80, 70), line("Nordwind Handel GmbH", 80, 130, cw=11, h=22), ("Hafenstraße 7, 20457 Hamburg", 80, 160)])
    for ln in doc.lines[:]:
        if ln.text in ("Rechnungsnummer:", "RE-2024-0042"):
            doc.lines.remove(ln)
    assert run(doc)[1].fields["invoice_number"].value == "RK21012345"


@pytest.mark.parametrize("sentence, due", [
    ("Der Betrag in Höhe von EUR 1.000,00 wird am 20.04.2024 von Ihrem Konto per SEPA-Lastschrift eingezogen.",
     "2024-04-20"),
    ("Wir buchen den Betrag am 22.04.2024 von Ihrem Konto ab.", "2024-04-22"),
    ("The amount will be debited from your account on 25 April 2024.", "2024-04-25"),
    ("Le montant sera prélevé sur votre compte le 26/04/2024.", "2024-04-26"),
])
def test_a_direct_debit_date_is_the_due_date(sentence, due):
    pred, ex, ev = run(invoice_body([("Gesamtbetrag", 760, 600), ("1.000,00", 1000, 600)],
                                    extra=[(sentence, 80, 700)]))
    assert ex.fields["due_date"].value == due
    assert ex.fields["invoice_date"].value == "2024-03-15"


def test_a_delivery_or_pickup_date_in_a_sentence_is_no_due_date():
    pred, ex, ev = run(invoice_body([("Gesamtbetrag", 760, 600), ("1.000,00", 1000, 600)],
                                    extra=[("Die Ware wird am 20.04.2024 geliefert.", 80, 700)]))
    assert ex.fields["due_date"].value != "2024-04-20"


@pytest.mark.parametrize("title, number", [
    ("Selbst ausgestellte Rechnung (389) Nr. SB-4711 vom 05.03.2018", "SB-4711"),
    ("Korrigierte Rechnung (384) Nr. K-2018-1 vom 05.03.2018", "K-2018-1"),
    ("Gutschriftsanzeige (381) Nr. G-12 vom 05.03.2018", "G-12"),
])
def test_the_titles_of_the_e_invoice_document_types_name_the_number(title, number):
    # EN 16931's document types (UNTDID 1001) as a visualization prints them: attributes before
    # the document word, a notice after it.
    doc = invoice_body([("Gesamtbetrag", 760, 600), ("1.000,00", 1000, 600)], head=[
        (title, 80, 70), line("Nordwind Handel GmbH", 80, 130, cw=11, h=22), ("Hafenstraße 7, 20457 Hamburg", 80, 160)])
    for ln in doc.lines[:]:
        if ln.text in ("Rechnungsnummer:", "RE-2024-0042"):
            doc.lines.remove(ln)
    assert run(doc)[1].fields["invoice_number"].value == number


@pytest.mark.parametrize("model", ["bundled", "off"])  # the rules' reading is a feature of the learned one
def test_a_party_word_with_a_legal_form_is_the_whole_vendor_name(model, monkeypatch):
    # "Lieferant GmbH" (a sample supplier's name): the word that opens a seller's block and the
    # legal form after it are the name, not a label and its value.
    if model == "off":
        monkeypatch.setenv("LOCAL_MODEL_PATH", "off")
    doc = invoice_body([("Gesamtbetrag", 760, 600), ("1.000,00", 1000, 600)], head=[
        ("Rechnungsersteller", 80, 60), line("Lieferant GmbH", 80, 80, cw=11, h=22),
        ("Lieferantenstraße 20", 80, 110), ("80333 München", 80, 126)])
    assert values(run(doc)[0])["vendor_name"] == "Lieferant GmbH"


def test_a_party_block_of_keys_and_values_names_the_party_right_of_its_key():
    doc = invoice_body([("Gesamtbetrag", 760, 600), ("1.000,00", 1000, 600)], head=[
        ("Verkäufer", 80, 40), ("Name:", 80, 70), line("Grundbesitz GmbH & Co. KG", 400, 70),
        ("Anschrift:", 80, 90), ("Musterstraße 42", 400, 90), ("75645 Frankfurt", 400, 106)])
    from invoice.scanner.processing.stages.llm.local.parties import _value_beside_key
    from invoice.scanner.processing.extract.layout import build_layout

    lay = build_layout(doc)
    key = next(s for r in lay.rows for s in r.segments if s.text == "Name:")
    assert _value_beside_key(lay, key).text == "Grundbesitz GmbH & Co. KG"
    assert values(run(doc)[0])["vendor_name"] == "Grundbesitz GmbH & Co. KG"


def test_a_slip_on_a_wide_page_is_a_receipt_by_who_served_and_its_sign_off():
    # No title, no tender lines, a page as wide as A4: the cashier's label and the till's
    # sign-off make it a slip; a payment sentence naming a cashier's cheque on an invoice does not.
    doc = page([line("Warung Sate Kajang", 120, 40, cw=12, h=24), line("Cashier: 03", 20, 90),
                line("2 x Sate", 20, 130), line("12.00", 380, 130), line("TOTAL", 20, 160), line("12.00", 380, 160),
                line("Thank you! Please come again", 40, 220)], width=700, height=1000)
    assert classify([doc]).value == "receipt"
    inv = invoice_body([("Gesamtbetrag", 760, 600), ("1.000,00", 1000, 600)],
                       extra=[("Payment by bank transfer or cashier's cheque within 14 days", 80, 700),
                              ("Thank you for your business", 80, 760)])
    assert classify([inv]).value == "invoice"


def test_a_tax_registration_after_the_tax_name_is_an_identifier_not_the_tax():
    # "GST ID No" names the seller's registration, "Total GST" the tax amount.
    from invoice.scanner.processing.extract.labels import match_label
    assert match_label("(GST ID No : 000656195584)", fuzzy=False)[0] == "vendor_tax_id"
    assert match_label("HST Reg No: 123456789", fuzzy=False)[0] == "vendor_tax_id"
    assert match_label("Total GST 1.20", fuzzy=False)[0] == "vat"
    assert match_label("GST 6%: 0.90", fuzzy=False)[0] == "vat"
