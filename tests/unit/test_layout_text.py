"""OCR text repairs in the layout: phrases the detector boxed apart stay apart, a legal form
glued to the address after it is split, and look-alike glyphs in a legal form are restored."""
from __future__ import annotations

import pytest

from invoice.scanner.processing.extract.labels import fix_legal_form_glyphs
from invoice.scanner.processing.extract.layout import build_layout, split_glued_legal_forms
from invoice.scanner.processing.models import OcrLine, OcrPage, OcrWord


def line(text: str, x: float, y: float, cw: float = 10.0, h: float = 40.0) -> OcrLine:
    ws, pos = [], x
    for tok in text.split(" "):
        ws.append(OcrWord(tok, (pos, y, pos + cw * len(tok), y + h), 0.99))
        pos += cw * (len(tok) + 1)
    return OcrLine(text, (x, y, pos - cw, y + h), 0.99, ws)


def row_texts(engine: str, *lines: OcrLine) -> list[str]:
    layout = build_layout(OcrPage(1, 2400, 3400, engine, list(lines)))
    return [s.text for r in layout.rows for s in r.segments]


def test_two_ocr_lines_a_little_apart_on_one_row_stay_two_phrases():
    # "Leistungs- und Rechnungsdatum" ends at x=1080; "Zahlbar bis" starts 30 px (0.75 h) later.
    a = line("Leistungs- und Rechnungsdatum", 790, 880)
    b = line("Zahlbar bis", a.bbox[2] + 30, 880)
    assert row_texts("rapidocr", a, b) == ["Leistungs- und Rechnungsdatum", "Zahlbar bis"]
    # Within one OCR line the same gap is a (wide) space, and a PDF text layer's lines are
    # our own grouping: both stay one phrase.
    wide = OcrLine("Zahlbar bis", (790, 880, 1100, 920), 0.99,
                   [OcrWord("Zahlbar", (790, 880, 860, 920), 0.99), OcrWord("bis", (890, 880, 920, 920), 0.99)])
    assert row_texts("rapidocr", wide) == ["Zahlbar bis"]
    assert row_texts("pdf-text", a, b) == ["Leistungs- und Rechnungsdatum Zahlbar bis"]


@pytest.mark.parametrize("text, expected", [
    ("Chêne Bleu Logistique NVVeldstraat 143 · 4000 Liège", "Chêne Bleu Logistique NV Veldstraat 143 · 4000 Liège"),
    ("Bernard & Fils Logistique SAGrand-Place 125", "Bernard & Fils Logistique SA Grand-Place 125"),
    ("Polderwerk SRLVeldstraat 240·1000 Bruxelles", "Polderwerk SRL Veldstraat 240·1000 Bruxelles"),
    ("ABCorp Consulting", "ABCorp Consulting"),  # no address follows: a brand, left whole
    ("NVidia 12", "NVidia 12"),  # the form must be followed by a capitalised word
    ("AGent Services 5", "AGent Services 5"),
])
def test_a_legal_form_glued_to_the_address_is_split(text, expected):
    words = line(text, 100, 100).words
    assert " ".join(w.text for w in split_glued_legal_forms(words)) == expected


def test_split_word_boxes_share_the_original_box():
    words = split_glued_legal_forms(line("Acme NVVeldstraat 143", 100, 100).words)
    nv, street = words[1], words[2]
    assert nv.bbox[0] == 150 and street.bbox[2] == 150 + 10 * len("NVVeldstraat")
    assert nv.bbox[2] == street.bbox[0]


@pytest.mark.parametrize("read, fixed", [
    ("Dupont S.à r.I.", "Dupont S.à r.l."),
    ("Bernard & Fils S.à r.1.", "Bernard & Fils S.à r.l."),
    ("Rossi S.r.I.", "Rossi S.r.l."),
    ("Acme Ltd", "Acme Ltd"),
    ("Lumière S.à r.l.", "Lumière S.à r.l."),
    ("Izmir Imports", "Izmir Imports"),  # only a legal form at the end is touched
    ("SRL", "SRL"),
])
def test_look_alike_glyphs_in_a_legal_form_are_restored(read, fixed):
    assert fix_legal_form_glyphs(read) == fixed


@pytest.mark.parametrize("text, language, dropped", [
    ("Levante Digital Logistica S.A.", "es", True),
    ("Levante Digital Logística S.A.", "es", False),
    ("Soluciones Iberia Distribucion S.L.", "es", True),
    ("Soluciones Iberia S.L.", "es", False),  # plural -ciones and Iberia carry no accent
    ("Martinez y Asociados", "es", True),
    ("Societe Generale d'Electricite", "fr", True),
    ("Société Générale", "fr", False),
    ("Muller & Sohne KG", "de", True),
    ("Bergmann GmbH", "de", False),
    ("Vision Consulting Ltd", "en", False),  # the rules are the document language's
])
def test_a_name_spelled_without_an_accent_its_language_always_writes_is_doubted(text, language, dropped):
    from invoice.scanner.processing.extract.labels import accent_dropped

    assert accent_dropped(text, language) is dropped
