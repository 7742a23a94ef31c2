"""Invoice numbers as e-invoice producers print them: labels in DE/EN/FR, the number under its
label in a header box, and a label that names another document (the invoice a credit note
corrects) whose number is not this document's."""
from __future__ import annotations

import pytest

from invoice.scanner.processing.config import Settings
from invoice.scanner.processing.models import OcrLine, OcrPage
from invoice.scanner.processing.stages.llm.local import LocalProvider
from ocrpage import line

W, H = 1240, 1754


def page(items: list) -> OcrPage:
    return OcrPage(1, W, H, "test", [it if isinstance(it, OcrLine) else line(*it) for it in items])


def number(head: list) -> str | None:
    doc = page([
        line("Nordwind Handel GmbH", 80, 80, cw=11, h=22), ("Hafenstraße 7", 80, 110), ("20457 Hamburg", 80, 126),
        ("Beispiel AG", 80, 250), ("Musterweg 5", 80, 266), ("80331 München", 80, 282),
        *head,
        ("Beschreibung", 80, 400), ("Menge", 600, 400), ("Einzelpreis", 760, 400), ("Betrag", 1000, 400),
        ("Beratung", 80, 430), ("10", 612, 430), ("100,00", 760, 430), ("1.000,00", 1000, 430),
        ("Nettobetrag", 760, 600), ("1.000,00", 1000, 600), ("MwSt. 19 %", 760, 620), ("190,00", 1000, 620),
        ("Gesamtbetrag", 760, 640), ("1.190,00", 1000, 640),
    ])
    return LocalProvider(Settings()).predict([doc], []).fields["invoice_number"].value


DATE = [("Datum:", 800, 180), ("15.03.2024", 950, 180)]


@pytest.mark.parametrize("head, want", [
    ([("Rechnungsnummer:", 800, 160), ("RE-2024-0042", 950, 160), *DATE], "RE-2024-0042"),
    ([("Rechnung Nr. 2024-117", 800, 160), *DATE], "2024-117"),
    ([("Beleg-Nr.:", 800, 160), ("481516", 950, 160), *DATE], "481516"),
    ([("Invoice No.", 800, 160), ("INV-3321", 950, 160), *DATE], "INV-3321"),
    ([("N° de facture :", 800, 160), ("FA-2024-12", 950, 160), *DATE], "FA-2024-12"),
    # a header box: labels in a row, each value under its label
    ([("Rechnungs-Nr.", 600, 160), ("Kunden-Nr.", 750, 160), ("Datum", 900, 160),
      ("R-77812", 600, 178), ("K-100", 750, 178), ("15.03.2024", 900, 178)], "R-77812"),
])
def test_invoice_number_labels(head, want):
    assert number(head) == want


@pytest.mark.parametrize("head, want", [
    # abbreviations and column heads: German, French, Spanish, Dutch, English
    ([("RG-Nr.:", 800, 160), ("29160", 950, 160), *DATE], "29160"),
    ([("Pièce n°", 800, 160), ("FAC-176656", 800, 178), *DATE], "FAC-176656"),
    ([("Serie/Número:", 800, 160), ("A-40343", 950, 160), *DATE], "A-40343"),
    ([("NR.", 800, 160), ("F2022-0740", 800, 178), *DATE], "F2022-0740"),
    ([("Number", 800, 160), ("2025-2730", 950, 160), *DATE], "2025-2730"),
    ([("Nº ticket", 800, 160), ("62-50118", 800, 178), *DATE], "62-50118"),
])
def test_short_number_labels(head, want):
    assert number(head) == want


def test_a_value_printed_left_of_its_label():
    """A band of values with their labels to the right ("F2023-0383   Factuurnr"), and another
    block's street number far to the right on the same row: the value left of the label is the
    number, not the "130" across the page."""
    head = [("F2023-0383", 80, 160), ("Rechnungsnummer", 220, 160), ("Avenue Louise 130", 1000, 158),
            ("15.03.2024", 80, 180), ("Rechnungsdatum", 220, 180)]
    assert number(head) == "F2023-0383"


@pytest.mark.parametrize("ref", ["Réf. facture d'origine : FA20235759", "Facture d'origine n° FA20235759"])
def test_the_invoice_a_credit_note_refers_to_is_not_its_number(ref):
    head = [("AVOIR", 600, 120), ("Numéro d'avoir", 800, 160), ("AV-2023-58641", 800, 178),
            ("Date d'émission", 1000, 160), ("11/11/2023", 1000, 178), (ref, 80, 330)]
    assert number(head) == "AV-2023-58641"


def test_the_rules_decide_a_number_a_strong_label_names():
    from invoice.scanner.processing.stages.llm.local.candidates import Candidate
    from invoice.scanner.processing.stages.llm.local.reader import RULES_SURE, DocumentReader

    sure = Candidate("invoice_number", "4711", RULES_SURE, 1, (0, 0, 1, 1))
    unsure = Candidate("invoice_number", "4711", RULES_SURE - 0.1, 1, (0, 0, 1, 1))
    assert DocumentReader._rules_sure("invoice_number", {"invoice_number": sure})
    assert not DocumentReader._rules_sure("invoice_number", {"invoice_number": unsure})
    assert not DocumentReader._rules_sure("invoice_number", {"invoice_number": None})
    assert not DocumentReader._rules_sure("total", {"total": sure})  # the amounts stay the model's
