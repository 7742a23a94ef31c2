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
