"""Line-item tables as printed on many layouts: the table ends at its subtotal whatever the label,
a VAT breakdown is not an item table, a number printed with a space between its digit groups is
one number, and a header cell of several known words is one column."""
from __future__ import annotations

from ocrpage import line

from invoice.scanner.processing.extract import tables
from invoice.scanner.processing.extract.layout import build_layout
from invoice.scanner.processing.models import OcrPage, OcrWord

COLS = {"description": 40, "quantity": 500, "unit_price": 620, "amount": 760}


def page(rows: list[dict[str, str]], header: dict[str, str], cw: float = 6.0) -> OcrPage:
    lines = [line(text, COLS[k], 100, cw=cw) for k, text in header.items()]
    for i, row in enumerate(rows, start=1):
        lines += [line(text, COLS[k], 100 + 24 * i, cw=cw) for k, text in row.items()]
    return OcrPage(1, 1000, 1400, "pdf-text", lines)


def items_of(p: OcrPage) -> list[dict]:
    drafts, _ = tables.extract_items([build_layout(p)], ",")
    return [tables.item_fields(d, ",") for d in drafts]


HEADER = {"description": "Beschreibung", "quantity": "Menge", "unit_price": "Einzelpreis", "amount": "Betrag"}


def test_the_table_ends_at_the_sum_of_its_items_whatever_the_label():
    rows = [{"description": "Beratung", "quantity": "2", "unit_price": "100,00", "amount": "200,00"},
            {"description": "Lizenz", "quantity": "1", "unit_price": "50,00", "amount": "50,00"},
            {"description": "Importe bruto", "amount": "250,00"},
            {"description": "I.V.A. 21 %", "amount": "52,50"}]
    got = items_of(page(rows, HEADER))
    assert [i["description"] for i in got] == ["Beratung", "Lizenz"]


def test_a_row_that_is_not_the_sum_stays_an_item():
    rows = [{"description": "Beratung", "quantity": "2", "unit_price": "100,00", "amount": "200,00"},
            {"description": "Versandpauschale", "amount": "9,90"}]
    assert [i["amount"] for i in items_of(page(rows, HEADER))] == ["200,00", "9,90"]


def test_a_vat_breakdown_is_not_an_item_table():
    p = page([{"description": "19 %", "quantity": "100,00", "unit_price": "100,00", "amount": "19,00"}],
             {"description": "Rate", "unit_price": "Net amount", "amount": "Tax"})
    assert tables.find_header(build_layout(p)) is None


def test_digit_groups_separated_by_a_space_are_one_number():
    words = [OcrWord("Wartung", (40, 10, 82, 22)), OcrWord("1", (760, 10, 765, 22)),
             OcrWord("541,00", (769, 10, 805, 22)), OcrWord("3", (900, 10, 905, 22)),
             OcrWord("100,00", (960, 10, 996, 22))]
    joined = [w.text for w in tables.join_digit_groups(words)]
    assert joined == ["Wartung", "1 541,00", "3", "100,00"]  # a column's gap does not join


def test_a_header_cell_of_two_known_words_is_one_column_and_precio_ud_is_the_unit_price():
    header = {"description": "Descripción del servicio", "quantity": "Cant.", "unit_price": "Precio/ud.",
              "amount": "Importe"}
    rows = [{"description": "Licencia de software", "quantity": "10", "unit_price": "2199,30",
             "amount": "21993,00"}]
    p = page(rows, header)
    _, cols = tables.find_header(build_layout(p))
    assert [c.key for c in cols] == ["description", "quantity", "unit_price", "amount"]
    assert items_of(p) == [{"description": "Licencia de software", "quantity": "10", "unit_price": "2199,30",
                            "amount": "21993,00", "tax_rate": None}]
