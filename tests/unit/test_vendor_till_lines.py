"""A till slip's own lines are never the shop's name: who served and at which till, the copy's
status, a banner between rules of stars; nor a speck after the legal form, nor the company's
registration number after its name. Each slip is built here by hand."""
from __future__ import annotations

from invoice.scanner.processing.config import Settings
from invoice.scanner.processing.models import OcrPage
from invoice.scanner.processing.stages.extraction import extract
from invoice.scanner.processing.stages.llm.local import LocalProvider
from invoice.scanner.processing.stages.llm.local.parties import _header_name, _stray_tail, _till_line
from ocrpage import line


def slip(head: list) -> OcrPage:
    y = 40 + 30 * len(head)
    rows = [line("Date: 25/01/2019 14:35", 20, y), line("2 x Coffee", 20, y + 24), line("7.00", 380, y + 24),
            line("TOTAL", 20, y + 80), line("7.00", 380, y + 80), line("CASH", 20, y + 104), line("10.00", 380, y + 104),
            line("CHANGE", 20, y + 128), line("3.00", 380, y + 128)]
    return OcrPage(1, 480, 1000, "test", head + rows)


def vendor(page: OcrPage):
    pred = LocalProvider(Settings()).predict([page], [])
    return extract(pred, [page]).fields["vendor_name"].value


def test_the_tills_own_lines_are_not_names():
    for text in ("Cashier [P.NISANTHI] Machine [003]", "Served by ASHOK KUMAR", "Kasir: 03", "POSTED",
                 "CUSTOMER COPY", "REPRINT", "**** PROMO ****", "===== MEMBER DAY ====="):
        assert _till_line(text) and not _header_name(text), text
    for text in ("FIVE STAR CASH & CARRY", "COUNTRY FARM ORGANICS", "TABLEWARE HOUSE SDN BHD", "COPYTECH ENTERPRISE",
                 "POSTEDGE TRADING"):
        assert not _till_line(text), text


def test_a_status_word_above_the_shop_is_not_the_shop():
    page = slip([line("POSTED", 160, 40), line("YONG CEN ENTERPRISE", 80, 70, cw=10, h=20),
                 line("NO 12, JALAN PASAR, 43000 KAJANG", 40, 100)])
    assert vendor(page) == "YONG CEN ENTERPRISE"


def test_the_cashier_line_above_the_shop_is_not_the_shop():
    page = slip([line("Cashier [P.NISANTHI] Machine [003]", 20, 40), line("FIVE STAR CASH & CARRY", 80, 70, cw=10, h=20),
                 line("G.23 & G.22, Plaza Seri Setia,", 40, 100)])
    assert vendor(page) == "FIVE STAR CASH & CARRY"


def test_a_speck_after_the_legal_form_and_the_registration_number_are_not_the_name():
    assert _stray_tail("BEMED (SP) SDN. BHD. P") == "BEMED (SP) SDN. BHD."
    assert _stray_tail("POPULAR BOOK CO. (M) SDN BHD") == "POPULAR BOOK CO. (M) SDN BHD"
    assert _stray_tail("VITAMIN B") == "VITAMIN B"  # no legal form before it: part of the name
    page = slip([line("BEMED (SP) SDN. BHD.", 60, 40, cw=10, h=20), line("P", 400, 40, cw=10, h=20),
                 line("No.49, Jalan Dinar G U3/G,", 60, 70)])
    assert vendor(page) == "BEMED (SP) SDN. BHD."
    page = slip([line("THE TOAST F&B SDN BHD (965752-T)", 40, 40, cw=10, h=20), line("LOT 1, JALAN 2, 50000 KL", 60, 70)])
    assert vendor(page) == "THE TOAST F&B SDN BHD"


def test_the_title_over_the_letterhead_is_not_its_first_line():
    # A slip photographed on a page of invoice proportions (not narrow, so not read as a slip):
    # "TAX INVOICE" set right over the shop's name in one block.
    page = OcrPage(1, 1240, 1754, "test", [
        line("TAX INVOICE", 500, 100, cw=10, h=20), line("DOMINO'S PIZZA", 480, 126, cw=10, h=20),
        line("GST REF NO : 001694261248", 420, 170), line("30, Jln Kebudayaan 7, Tmn Universiti", 400, 200),
        line("Order", 100, 300), line("1 x Pizza", 100, 330), line("25.00", 900, 330),
        line("TOTAL", 100, 380), line("25.00", 900, 380), line("CASH", 100, 410), line("30.00", 900, 410),
        line("CHANGE", 100, 440), line("5.00", 900, 440)])
    assert vendor(page) == "DOMINO'S PIZZA"


def test_an_exclamation_mark_between_capitals_is_an_i():
    from invoice.scanner.processing.stages.llm.local.parties import _letter_glyphs

    assert _letter_glyphs("GARDEN!A BAKERIES (KL) SDN BHD") == "GARDENIA BAKERIES (KL) SDN BHD"
    assert _letter_glyphs("YAHOO! CAFE") == "YAHOO! CAFE"
