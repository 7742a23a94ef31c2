"""The seller's block of an invoice names the seller under its label, after whatever the
producer prints above the name: the party's identifiers ("GLN 4333741000005 Lief-Nr:",
"Nummer: 549910", "Globale Nummer: … (GLN)"), a label set letter-spaced by the text layer
("Ver käufer:"), a name whose legal form is a German mutual's "a.G." on its second line. Each
page is built here by hand; the rules' reading is checked alone and with the learned scorer,
whose feature it is."""
from __future__ import annotations

import pytest

from invoice.scanner.processing.config import Settings
from invoice.scanner.processing.extract.labels import LEGAL_FORMS
from invoice.scanner.processing.extract.layout import build_layout
from invoice.scanner.processing.models import OcrLine, OcrPage
from invoice.scanner.processing.stages.extraction import extract
from invoice.scanner.processing.stages.llm.local import LocalProvider
from invoice.scanner.processing.stages.llm.local.parties import _identifier_line
from ocrpage import line

W, H = 1240, 1754


def invoice(head: list) -> OcrPage:
    items = [*head,
             ("Rechnungsnummer:", 800, 600), ("RE-2024-0042", 950, 600),
             ("Rechnungsdatum:", 800, 616), ("15.03.2024", 950, 616),
             ("Beschreibung", 80, 700), ("Menge", 600, 700), ("Einzelpreis", 760, 700), ("Betrag", 1000, 700),
             ("Beratung", 80, 730), ("10", 612, 730), ("100,00", 760, 730), ("1.000,00", 1000, 730),
             ("Gesamtbetrag", 760, 800), ("1.000,00", 1000, 800)]
    return OcrPage(1, W, H, "test", [it if isinstance(it, OcrLine) else line(*it) for it in items])


def vendor(page: OcrPage) -> str | None:
    pred = LocalProvider(Settings()).predict([page], [])
    return extract(pred, [page]).fields["vendor_name"].value


@pytest.fixture(params=["bundled", "off"])
def model(request, monkeypatch):
    if request.param == "off":
        monkeypatch.setenv("LOCAL_MODEL_PATH", "off")
    return request.param


def test_the_partys_identifiers_above_its_name_are_not_the_name(model):
    page = invoice([("Lieferant", 80, 80), ("Käufer", 600, 80),
                    ("GLN 4333741000005 Lief-Nr:", 80, 100), ("549910", 400, 100), ("GLN 4304171000002", 600, 100),
                    line("MUSTERLIEFERANT GMBH", 80, 120, cw=10, h=18), line("MUSTER-KUNDE GMBH", 600, 120, cw=10, h=18),
                    ("BAHNHOFSTRASSE 99", 80, 146), ("KUNDENWEG 88", 600, 146),
                    ("99199 MUSTERHAUSEN", 80, 162), ("40235 DUESSELDORF", 600, 162)])
    assert vendor(page) == "MUSTERLIEFERANT GMBH"


def test_a_number_key_under_the_seller_label_is_skipped(model):
    page = invoice([("Verkäufer:", 80, 80), ("Nummer", 80, 100), (": 12345676", 240, 100),
                    ("Rohstoff AG Salzgitter", 80, 116), ("Marktstr. 153", 80, 132), ("DE 38226 Salzgitter", 80, 148),
                    ("Käufer:", 80, 200), ("Nummer", 80, 216), (": 75969813", 240, 216),
                    ("Metallbau Leipzig GmbH & Co. KG", 80, 232), ("Pappelallee 15", 80, 248)])
    assert vendor(page) == "Rohstoff AG Salzgitter"


def test_a_letter_spaced_seller_label_is_the_label(model):
    page = invoice([("Geschäftsprozess", 80, 40), (": Beispielgeschäftsprozess", 300, 40),
                    ("Ver käufer:", 80, 80), ("Nummer", 80, 100), (": 12345676", 240, 100),
                    ("Rohstoff AG Salzgitter", 80, 116), ("Marktstr. 153", 80, 132), ("DE 38226 Salzgitter", 80, 148),
                    ("Käufer:", 80, 200), ("Metallbau Leipzig GmbH & Co. KG", 80, 216), ("Pappelallee 15", 80, 232)])
    assert vendor(page) == "Rohstoff AG Salzgitter"


def test_a_mutuals_name_over_two_lines_ends_in_its_legal_form(model):
    assert LEGAL_FORMS.search("Versicherungsverein Musterstadt a.G.")
    page = invoice([("Verkäufer:", 80, 80), ("Nummer", 80, 100), (": 549910", 240, 100),
                    ("MVM Musterhafter", 80, 116), ("Versicherungsverein Musterstadt a.G.", 80, 132),
                    ("Musterstr. 12", 80, 160), ("DE 12345 Musterstadt", 80, 176),
                    ("Käufer:", 80, 220), ("Herrn", 80, 236), ("Max Mustermann", 80, 252)])
    assert vendor(page) == "MVM Musterhafter Versicherungsverein Musterstadt a.G."


def test_what_an_identifier_line_is():
    page = invoice([("GLN 4333741000005 Lief-Nr:", 80, 100), ("Nummer:", 80, 120), ("549910", 300, 120),
                    ("Globale Nummer:", 80, 140), ("4000001123452 (GLN)", 300, 140),
                    ("Name:", 80, 160), ("4000001123452", 300, 160),
                    ("Muster 12345 GmbH", 80, 180), ("Musterstraße 42", 80, 200), ("DE 75645 Frankfurt", 80, 220),
                    ("Rohstoff AG Salzgitter", 80, 240)])
    lay = build_layout(page)
    seg = {s.text: s for r in lay.rows for s in r.segments}
    for text in ("GLN 4333741000005 Lief-Nr:", "Nummer:", "Globale Nummer:"):
        assert _identifier_line(lay, seg[text]), text
    # A name key, a legal form, an address, a postcode and town, a name: not identifiers.
    for text in ("Name:", "Muster 12345 GmbH", "Musterstraße 42", "Rohstoff AG Salzgitter"):
        assert not _identifier_line(lay, seg[text]), text


def test_a_name_of_two_lines_whose_key_stands_beside_the_second(model):
    # The e-invoice viewer's table: keys on the left, values on the right; a two-line name has
    # its "Name:" key beside the second line. "Herrn" above the buyer's name is a salutation.
    page = invoice([("Verkäufer", 80, 80), ("Nummer:", 80, 110), ("549910", 400, 110),
                    ("MVM Musterhafter", 400, 140), ("Name:", 80, 156), ("Versicherungsverein Musterstadt a.G.", 400, 156),
                    ("Anschrift:", 80, 190), ("Musterstr. 12", 400, 190), ("DE 12345 Musterstadt", 400, 220),
                    ("Käufer/Leistungsempfänger", 80, 300), ("Herrn", 400, 330),
                    ("Name:", 80, 346), ("Max Mustermann", 400, 346), ("Anschrift:", 80, 380), ("Musterstr. 11", 400, 380)])
    pred = LocalProvider(Settings()).predict([page], [])
    fields = extract(pred, [page]).fields
    assert fields["vendor_name"].value == "MVM Musterhafter Versicherungsverein Musterstadt a.G."
    assert not (fields["customer_name"].value or "").startswith("Herrn")
