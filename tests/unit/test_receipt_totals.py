"""A till receipt's total read twice: from its totals block and from its payment lines (the cash
handed over less the change), and amounts that a till prints with a currency sign or a tax-class
letter glued on. Each slip is built here by hand, so the laws are tested, not a corpus."""
from __future__ import annotations

from invoice.scanner.processing.config import Settings
from invoice.scanner.processing.extract.layout import build_layout, split_glued_amounts
from invoice.scanner.processing.models import OcrPage, OcrWord
from invoice.scanner.processing.stages.evaluation import evaluate
from invoice.scanner.processing.stages.extraction import extract
from invoice.scanner.processing.stages.llm.local import LocalProvider
from ocrpage import line


def slip(rows: list[tuple[str, str]]) -> OcrPage:
    """A narrow till slip: the shop's header, two items, then `rows` (label, amount) one a line."""
    head = [line("Corner Bakery", 120, 40, cw=12, h=24), line("12 Market Street", 110, 70),
            line("Date: 25/01/2019 14:35", 20, 110)]
    body = [line("2 x Coffee", 20, 150), line("7.00", 380, 150), line("1 x Croissant", 20, 174), line("3.49", 380, 174)]
    y = 210
    for label, amount in rows:
        body += [line(label, 20, y), line(amount, 380, y)]
        y += 24
    body.append(line("Thank you, come again", 60, y + 30))
    return OcrPage(1, 480, 1000, "test", head + body)


def run(page: OcrPage):
    pred = LocalProvider(Settings()).predict([page], [])
    ex = extract(pred, [page])
    return pred, ex, evaluate(ex, 0.5)


def test_the_total_after_rounding_is_what_the_payment_lines_say_was_paid():
    # "Total 10.49 / Rounding 0.01 / Total 10.50 / Cash 20.00 / Change 9.50": the customer paid
    # 10.50; the total before rounding is not the receipt's total.
    _, ex, _ = run(slip([("Total Incl. GST", "10.49"), ("Rounding Adj", "0.01"), ("Total", "10.50"),
                         ("CASH", "20.00"), ("CHANGE", "9.50")]))
    assert ex.fields["total"].value == 10.5
    assert ex.fields["total"].confidence >= 0.9


def test_a_total_the_payment_lines_agree_with_is_kept_and_sure():
    _, ex, ev = run(slip([("TOTAL", "10.49"), ("CASH", "50.00"), ("CHANGE", "39.51")]))
    assert ex.fields["total"].value == 10.49
    assert ex.fields["total"].confidence >= 0.9
    assert ev.approved  # vendor, date and total sure: the slips below are held back by their total alone


def test_a_total_printed_only_beside_its_currency_sign_is_read():
    # "SUBTOTAL RM10.49": the sign glued to the amount; the payment lines confirm it is the total.
    _, ex, _ = run(slip([("SUBTOTAL", "RM10.49"), ("CASH", "RM20.00"), ("CHANGE", "RM9.51")]))
    assert ex.fields["total"].value == 10.49


def test_a_cash_line_printed_as_a_negative_amount_still_counts():
    _, ex, _ = run(slip([("Total RM Incl. of GST", "10.49"), ("Cash", "-50.00"), ("CHANGE", "39.51")]))
    assert ex.fields["total"].value == 10.49


def test_exact_cash_with_no_other_agreeing_line_is_the_total_but_doubtful():
    # The totals block's reading (10.48) and the cash handed over with no change (10.49) differ by
    # a cent: one of them is misread; what was paid wins, and stays unsure (no approval).
    _, ex, ev = run(slip([("Total (RM) :", "10.48"), ("CASH :", "10.49"), ("Change (RM) :", "0.00")]))
    assert ex.fields["total"].value == 10.49
    assert ex.fields["total"].confidence < 0.9
    assert not ev.approved


def test_less_cash_than_the_total_and_no_change_is_a_split_payment():
    # 5.00 in cash, no change, a total of 10.49: a card or voucher paid the rest; the total stands.
    _, ex, _ = run(slip([("TOTAL", "10.49"), ("CASH", "5.00"), ("CHANGE", "0.00")]))
    assert ex.fields["total"].value == 10.49


def test_payment_lines_that_agree_with_no_printed_amount_make_the_total_doubtful():
    # Cash 20.00 less change 9.00 = 11.00, printed nowhere: the total read (10.49) is kept but
    # the disagreement keeps it from approval.
    _, ex, ev = run(slip([("TOTAL", "10.49"), ("CASH", "20.00"), ("CHANGE", "9.00")]))
    assert ex.fields["total"].value == 10.49
    assert ex.fields["total"].confidence < 0.5
    assert not ev.approved


def test_paid_and_change_are_payment_lines_too():
    _, ex, _ = run(slip([("Total Amt Incl GST :", "10.52"), ("Rounding Adjustment:", "(0.02)"),
                         ("Total Amt Payable :", "10.50"), ("Paid Amount :", "20.00"), ("Change :", "9.50")]))
    assert ex.fields["total"].value == 10.5


def test_glued_currency_signs_and_tax_letters_are_split_from_the_amount():
    def split(text: str) -> list[str]:
        return [w.text for w in split_glued_amounts([OcrWord(text, (0, 0, 10 * len(text), 10), 0.9)])]

    assert split("RM51.50") == ["RM", "51.50"]
    assert split("RM2.70S") == ["RM", "2.70", "S"]
    assert split("35.66S") == ["35.66", "S"]
    assert split("S$4.20") == ["S$", "4.20"]
    assert split("MYR1,234.50") == ["MYR", "1,234.50"]
    # Not amounts with a sign: an identifier, a paper size, a version, a year, a tax code's letters.
    for text in ("INV2024.05", "A4", "V1.20", "2016", "GST12.00", "ABC12.00", "12.00", "$4.20"):
        assert split(text) == [text]
    row = build_layout(OcrPage(1, 480, 200, "test", [line("SUBTOTAL RM53.60", 20, 20)])).rows[0]
    assert row.text == "SUBTOTAL RM 53.60"


def test_a_till_number_or_a_label_over_a_number_is_no_us_state_and_zip():
    # "03/02/2018" on a slip whose invoice number is "CS 24198" (or whose "NO" label stands over
    # "10256"): nothing says month first, so it is not read as March 2.
    from invoice.scanner.processing.stages.extraction import _US_HINTS

    assert not _US_HINTS.search("Invoice No: CS 24198")
    assert not _US_HINTS.search("NO\n10256")
    assert _US_HINTS.search("San Francisco, CA 94103")
    assert _US_HINTS.search("Austin, TX 78701-1234")
    page = OcrPage(1, 480, 1000, "test", [
        line("Corner Hardware Trading", 60, 40, cw=10, h=20), line("Invoice No: CS 24198", 20, 80),
        line("Date 03/02/2018 15:28", 20, 104), line("TOTAL", 20, 140), line("7.00", 380, 140)])
    _, ex, _ = run(page)
    assert ex.fields["invoice_date"].value == "2018-02-03"


def test_exact_cash_with_no_change_line_confirms_a_labelled_total():
    # No change line: the cash equal to the amount under a total's label says it was exact; an
    # amount under a label that only starts like a total ("Total Savings 0.00") is not the total.
    _, ex, _ = run(slip([("Total RM Incl. of GST", "10.49"), ("Total Savings", "0.00"), ("Cash", "-10.49")]))
    assert ex.fields["total"].value == 10.49
    assert ex.fields["total"].confidence >= 0.9


def test_a_total_read_from_the_cash_line_itself_is_not_confirmed_by_it():
    # Only the cash handed over and no change: one reading, not two; a person looks.
    _, ex, ev = run(slip([("CASH", "10.49"), ("CHANGE", "0.00")]))
    assert ex.fields["total"].value == 10.49
    assert ex.fields["total"].confidence < 0.5
    assert not ev.approved


def test_a_total_line_under_two_parts_it_adds_up_is_the_whole():
    # A slip that totals each tax rate apart: "Total 6% supplies (Inc. GST)" is itself net + VAT,
    # but the line under it that adds it to the 0 % part is the total payable.
    page = OcrPage(1, 480, 1000, "test", [
        line("Corner Bakeries Sdn Bhd", 60, 40, cw=10, h=20), line("Cash Inv No.: 7805F712", 20, 80),
        line("Date: 25/01/2019", 20, 104),
        line("WHITE BREAD", 20, 140), line("8.52", 380, 140), line("WHOLEMEAL", 20, 164), line("3.16", 380, 164),
        line("Total 0% supplies:", 20, 188), line("11.68", 380, 188),
        line("BUTTERSCOTCH", 20, 212), line("7.20", 380, 212),
        line("Total 6% supplies (excl. GST):", 20, 236), line("7.20", 380, 236),
        line("GST:", 20, 260), line("0.43", 380, 260),
        line("Total 6% supplies (Inc. GST):", 20, 284), line("7.63", 380, 284),
        line("Total 0% supplies:", 20, 308), line("11.68", 380, 308),
        line("Total Payable:", 20, 332), line("19.31", 380, 332),
        line("Received above goods in good order condition.", 20, 380)])
    _, ex, _ = run(page)
    assert ex.fields["document_type"].value == "receipt"
    assert ex.fields["total"].value == 19.31


def test_total_payable_is_a_total_label_of_its_own():
    from invoice.scanner.processing.extract.labels import match_label

    assert match_label("Total Payable:", fuzzy=False)[:3] == ("total", 1.0, 2)
    assert match_label("Total Amount Payable", fuzzy=False)[:3] == ("total", 1.0, 3)


def test_the_tax_included_in_a_till_total_and_its_transaction_number():
    """'enth. MwSt. 19 %  0,95' / 'enth. MwSt. 7 %  0,47': the tax included in the total, one line
    per rate, adds up; 'Trans.-Nr.  4475' numbers the slip."""
    from ocrpage import line as ln

    page = OcrPage(1, 640, 900, "test", [
        ln("Eisenwaren Huber", 140, 35, cw=12, h=24), ln("Am Markt 30", 240, 91), ln("20095 Hamburg", 229, 121),
        ln("KASSENBON", 248, 222), ln("Datum: 05.09.24", 28, 285), ln("Trans.-Nr.", 28, 316), ln("4475", 550, 316),
        ln("Butterbrezel", 28, 374), ln("4 x 1,78", 56, 405), ln("7,12", 550, 405),
        ln("Notizblock A5", 28, 435), ln("2 x 2,98", 56, 466), ln("5,96", 550, 466),
        ln("Gesamtbetrag EUR", 28, 524), ln("13,08", 536, 524), ln("EC-Karte", 28, 555), ln("13,08", 536, 555),
        ln("enth. MwSt. 19 %", 28, 674), ln("0,95", 550, 674), ln("enth. MwSt. 7 %", 28, 705), ln("0,47", 550, 705),
        ln("Danke und auf Wiedersehen", 149, 777)])
    pred = LocalProvider(Settings()).predict([page], [])
    ex = extract(pred, [page])
    assert ex.fields["invoice_number"].value == "4475"
    assert (ex.fields["vat"].value, ex.fields["total"].value) == (1.42, 13.08)
