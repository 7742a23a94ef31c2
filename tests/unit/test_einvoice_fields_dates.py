"""Dates as e-invoice producers print them: a labelled delivery or service date is no missed due
date, due dates in payment terms, skonto dates that are not the due date."""
from __future__ import annotations

import pytest

from invoice.scanner.processing.config import Settings
from invoice.scanner.processing.models import OcrLine, OcrPage
from invoice.scanner.processing.stages.evaluation import evaluate
from invoice.scanner.processing.stages.extraction import extract
from invoice.scanner.processing.stages.llm.local import LocalProvider
from ocrpage import line

W, H = 1240, 1754


def page(items: list) -> OcrPage:
    return OcrPage(1, W, H, "test", [it if isinstance(it, OcrLine) else line(*it) for it in items])


def run(*pages: OcrPage):
    pred = LocalProvider(Settings()).predict(list(pages), [])
    ex = extract(pred, list(pages))
    return pred, ex, evaluate(ex, 0.5)


def invoice(extra: list) -> OcrPage:
    return page([
        line("Nordwind Handel GmbH", 80, 80, cw=11, h=22), ("Hafenstraße 7", 80, 110), ("20457 Hamburg", 80, 126),
        ("Rechnung an:", 80, 250), ("Beispiel AG", 80, 266), ("Musterweg 5", 80, 282), ("80331 München", 80, 298),
        ("Rechnungsnummer:", 800, 250), ("RE-2024-0042", 950, 250),
        ("Rechnungsdatum:", 800, 266), ("15.03.2024", 950, 266),
        ("Beschreibung", 80, 400), ("Menge", 600, 400), ("Einzelpreis", 760, 400), ("Betrag", 1000, 400),
        ("Beratung", 80, 430), ("10", 612, 430), ("100,00", 760, 430), ("1.000,00", 1000, 430),
        ("Gesamtbetrag", 760, 600), ("1.000,00", 1000, 600),
        *extra,
        ("USt-IdNr.: DE136695976 · IBAN: DE89 3704 0044 0532 0130 00", 80, 1650),
    ])


@pytest.mark.parametrize("extra", [
    [("Lieferdatum: 20.03.2024", 800, 282)],  # label and date on one line
    [("Leistungsdatum:", 800, 282), ("20.03.2024", 950, 282)],  # the label left of the date
    [("Liefer- und Leistungsdatum:", 800, 282), ("20.03.2024", 800, 298)],  # the label above it
    [("Delivery date", 800, 282), ("20.03.2024", 950, 282)],
    [("Leistungszeitraum:", 800, 282), ("01.03.2024 - 31.03.2024", 950, 282)],  # a period
])
def test_a_labelled_delivery_date_is_no_missed_due_date(extra):
    _, ex, ev = run(invoice(extra))
    due = ex.fields["due_date"]
    assert due.value is None and not due.error
    assert ev.checks["labelled_values_read"]["passed"] is True


def test_a_later_date_under_no_label_still_blocks():
    # The label to its left names nothing the reader knows: the date may be the due date.
    _, ex, ev = run(invoice([("Bitte beachten:", 800, 282), ("14.04.2024", 950, 282)]))
    assert "later date" in (ex.fields["due_date"].error or "")
    assert ev.checks["labelled_values_read"]["passed"] is False


@pytest.mark.parametrize("terms, due", [
    ("Bei Zahlung bis 25.03.2024 2 % Skonto, bis 14.04.2024 netto.", "2024-04-14"),
    ("Zahlbar innerhalb 30 Tagen netto bis 14.04.2024, 3% Skonto innerhalb 10 Tagen bis 25.03.2024", "2024-04-14"),
    ("3% Skonto innerhalb 10 Tagen bis 25.03.2024, zahlbar bis 14.04.2024 ohne Abzug", "2024-04-14"),
    ("Zahlungstermin: 14.04.2024", "2024-04-14"),
    ("Zahlbar bis 14.04.2024 ohne Abzug.", "2024-04-14"),
])
def test_the_net_date_is_the_due_date_not_the_discount_date(terms, due):
    _, ex, _ = run(invoice([(terms, 80, 700)]))
    assert ex.fields["due_date"].value == due


def test_day_counting_terms_give_a_derived_due_date():
    _, ex, _ = run(invoice([("Zahlungsziel: 14 Tage", 80, 700)]))
    due = ex.fields["due_date"]
    assert due.value == "2024-03-29" and due.raw_value is None  # derived from the invoice date
