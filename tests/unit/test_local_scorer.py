"""The local provider's learned scorer: candidate generation, the features, the laws that stay
rules on top of the model, and the bundled model file."""
from __future__ import annotations

import json

import pytest

from invoice.scanner.processing.config import Settings
from invoice.scanner.processing.stages.llm.local import scorer
from invoice.scanner.processing.stages.llm.local.reader import DocumentReader
from test_local_provider import german_invoice, page


def _reader(*pages):
    r = DocumentReader(list(pages))
    r.read()
    return r


def test_every_amount_and_date_is_a_candidate_with_its_features():
    r = _reader(german_invoice())
    cands = scorer.candidates_of(r, r.rule_chosen)
    assert set(cands) == set(scorer.FIELDS)
    for name, cs in cands.items():
        assert all(len(c.features) == len(scorer.FEATURES) for c in cs)
        assert all(c.field == name for c in cs)
    dates = {c.span.raw for c in cands["invoice_date"]}
    assert {"02.03.2024", "15.03.2024", "10.03.2024", "14.04.2024"} <= dates
    # The same spans are candidates of both date fields, and of all three amount fields.
    assert dates == {c.span.raw for c in cands["due_date"]}
    assert {c.span.raw for c in cands["amount"]} == {c.span.raw for c in cands["total"]}
    # The rules' own choice is marked.
    chosen = [c for c in cands["invoice_date"] if c.features[scorer.FEATURES.index("rule_chosen")] == 1.0]
    assert [c.span.raw for c in chosen] == ["15.03.2024"]


def test_label_features_are_language_independent():
    de = _reader(page([("Rechnungsdatum:", 80, 100), ("15.03.2024", 300, 100)]))
    en = _reader(page([("Invoice date:", 80, 100), ("15.03.2024", 300, 100)]))
    f_de = scorer.candidates_of(de, de.rule_chosen)["invoice_date"][0].features
    f_en = scorer.candidates_of(en, en.rule_chosen)["invoice_date"][0].features
    k = scorer.FEATURES.index("left_key")
    assert f_de[k] == f_en[k] == scorer.LABEL_KEYS.index("invoice_date")


def test_extra_words_between_label_and_value_are_counted():
    r = _reader(page([("Gesamtbetrag der Zuschläge", 80, 100), ("0,00", 400, 100),
                      ("Gesamtbetrag", 80, 130), ("220,00", 400, 130)]))
    totals = {c.span.raw: c for c in scorer.candidates_of(r, r.rule_chosen)["total"]}
    extra = scorer.FEATURES.index("left_extra_words")
    assert totals["0,00"].features[extra] == 2.0
    assert totals["220,00"].features[extra] == 0.0
    assert totals["0,00"].features[scorer.FEATURES.index("zero")] == 1.0


def _scored(field: str, raw: str, number: float | None, p: float, days: float = 0.0) -> scorer.Scored:
    span = scorer.Span("amount" if number is not None else "date", raw, 1, 0, (0, 0, 10, 10), None, 0, len(raw),
                       number=number)
    feats = [0.0] * len(scorer.FEATURES)
    feats[scorer.FEATURES.index("days_from_first")] = days
    return scorer.Scored(field, span, feats, 0.0, p)


def test_totals_that_add_up_beat_likelier_ones_that_do_not():
    cands = {
        "amount": [_scored("amount", "100.00", 100.0, 0.7), _scored("amount", "90.00", 90.0, 0.75)],
        "vat": [_scored("vat", "19.00", 19.0, 0.8)],
        "total": [_scored("total", "119.00", 119.0, 0.7)],
    }
    out = scorer.choose(cands, ("amount", "vat", "total"))
    assert (out["amount"].value, out["vat"].value, out["total"].value) == ("100.00", "19.00", "119.00")


def test_a_due_date_before_the_invoice_date_is_not_taken():
    cands = {
        "invoice_date": [_scored("invoice_date", "15.03.2024", None, 0.9, days=10)],
        "due_date": [_scored("due_date", "05.03.2024", None, 0.8, days=0),
                     _scored("due_date", "14.04.2024", None, 0.6, days=40)],
    }
    out = scorer.choose(cands, ("invoice_date", "due_date"))
    assert out["due_date"].value == "14.04.2024"
    cands["due_date"] = cands["due_date"][:1]
    assert scorer.choose(cands, ("invoice_date", "due_date"))["due_date"] is None


def test_unlikely_candidates_leave_the_field_empty_or_to_the_rules():
    out = scorer.choose({"invoice_number": [_scored("invoice_number", "K-1", None, 0.2)]}, ("invoice_number",))
    assert out["invoice_number"] is None
    ruled = _scored("invoice_number", "K-2", None, 0.3)
    ruled.features[scorer.FEATURES.index("rule_chosen")] = 1.0
    out = scorer.choose({"invoice_number": [_scored("invoice_number", "K-1", None, 0.4), ruled]}, ("invoice_number",))
    assert (out["invoice_number"].value, out["invoice_number"].score) == ("K-2", 0.3)  # kept, as unsure as it is


def test_model_path_setting_and_off(monkeypatch, tmp_path):
    monkeypatch.delenv(scorer.MODEL_ENV, raising=False)
    assert scorer.model_path(Settings.from_env({})) == scorer.MODEL_FILE
    assert scorer.model_path(Settings.from_env({}, local_model_path="off")) is None
    monkeypatch.setenv(scorer.MODEL_ENV, str(tmp_path / "m.json"))
    assert scorer.model_path(Settings.from_env({})) == tmp_path / "m.json"
    assert scorer.load_model(str(tmp_path / "missing.json")) is None


def test_a_model_trained_on_other_features_is_not_used(tmp_path):
    pytest.importorskip("lightgbm")
    f = tmp_path / "old.json"
    f.write_text(json.dumps({"features": ["x"], "label_keys": [], "fields": [], "booster": ""}))
    assert scorer.load_model(str(f)) is None


def test_the_bundled_model_loads_and_decides_known_fields():
    pytest.importorskip("lightgbm")
    model = scorer.load_model(str(scorer.MODEL_FILE))
    assert model is not None
    assert set(model.fields) <= set(scorer.FIELDS)
    meta = json.loads(scorer.MODEL_FILE.read_text(encoding="utf-8"))
    assert meta["excluded_families"] == [] and meta["trained_on"]["invoicegen"] > 0
    r = _reader(german_invoice())
    cands = scorer.candidates_of(r, r.rule_chosen)
    scorer.score_all(model, cands)
    assert all(0.0 <= c.probability <= 1.0 for cs in cands.values() for c in cs)


def test_llm_workers_read_the_model_at_start_where_the_local_provider_runs():
    pytest.importorskip("lightgbm")
    from invoice.scanner.processing.stages.llm import warm_up_local_model

    assert warm_up_local_model(Settings.from_env({}, llm_provider="local")) is True
    assert warm_up_local_model(Settings.from_env({}, llm_provider="openai", llm_fallback="local")) is True
    assert warm_up_local_model(Settings.from_env({}, llm_provider="openai")) is False
    assert warm_up_local_model(Settings.from_env({}, llm_provider="local", local_model_path="off")) is False
