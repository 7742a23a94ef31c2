"""E-invoices uploaded over HTTP travel the five queues on real workers: an XRechnung XML, a
Peppol UBL and a ZUGFeRD hybrid PDF end `approved` with the XML's exact values (provenance
`xml`); a tampered hybrid ends in `manual_review` with both values; an invalid one carries its
rule ids; the XML is kept unchanged and served company-scoped; a billion-laughs file is 4xx."""
from __future__ import annotations

from pathlib import Path

import einvoicegen as gen
import pytest

from invoice.scanner.processing.db.repository import Repository
from invoice.scanner.processing.status import STAGES

pytestmark = pytest.mark.e2e

DATA = Path(__file__).resolve().parents[1] / "data" / "einvoice"
BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>
<Invoice xmlns="urn:oasis:names:specification:ubl:schema:xsd:Invoice-2">&lol3;</Invoice>
"""


def _process(api, data: bytes, filename: str) -> tuple[str, dict, dict]:
    r = api.upload(data, filename)
    assert r.status_code == 201, r.text
    doc_id = r.json()["document"]["id"]
    status = api.wait_terminal(doc_id, timeout_s=240)
    doc = api.get(f"/documents/{doc_id}").json()
    return doc_id, status, doc


def _assert_exact(doc: dict, truth: dict, keys) -> None:
    for key in keys:
        field = doc["fields"][key]
        assert field["value"] == truth[key], (key, field["value"], truth[key])
        assert field["provenance"] == "xml" and field["confidence"] == 1.0, (key, field)


def _every_stage_ran(stack, doc_id: str) -> list[dict]:
    history = Repository(stack.database_url).history(doc_id)
    for spec in STAGES:
        rows = [h for h in history if h["stage"] == spec.name and h["to_status"] == spec.running.value]
        assert len(rows) == 1 and rows[0]["detail"]["outcome"] == "ok", (spec.name, rows)
    return history


def test_xrechnung_xml_is_approved_with_exact_values_and_kept_unchanged(stack):
    api = stack.user("E-Invoice Buyer", "ap@einvoice.test")
    data = (DATA / "xrechnung-ubl.xml").read_bytes()
    doc_id, status, doc = _process(api, data, "xrechnung.xml")
    assert status["status"] == "approved", (doc["evaluation"], stack.logs())
    assert doc["content_type"] == "application/xml" and doc["page_count"] == 0
    assert (doc["invoice_number"], doc["invoice_date"], doc["currency"]) == ("123456XX", "2016-04-04", "EUR")
    assert (doc["amount"], doc["vat"], doc["total"]) == (314.86, 22.04, 336.9)
    assert doc["fields"]["iban"]["value"] == "DE79000000001234567890"
    assert doc["fields"]["vendor_tax_id"]["value"] == "DE136695976"
    assert all(f["provenance"] == "xml" for f in doc["fields"].values())
    assert [(li["description"], li["amount"]) for li in doc["line_items"]] == [
        ("Zeitschrift [...]", 288.79), ("Porto + Versandkosten", 26.07)]
    einv = doc["einvoice"]
    assert einv["syntax"] == "ubl-invoice" and einv["claims"] == ["EN16931", "XRechnung"]
    assert einv["validation"]["valid"] is True
    assert any("XRechnung" in c for c in einv["validation"]["checked"])
    assert einv["vat_breakdown"][0]["rate"] == "7" and einv["seller"]["vat_id"] == "DE136695976"
    xml = api.get(f"/documents/{doc_id}/xml")
    assert xml.status_code == 200 and xml.content == data  # byte for byte
    assert xml.headers["Content-Type"].startswith("application/xml")
    history = _every_stage_ran(stack, doc_id)
    llm = [h for h in history if h["stage"] == "llm" and h["to_status"] == "predicting"][0]
    assert llm["detail"]["provider"] == "xml"
    # Another company sees nothing.
    other = stack.user("Someone Else", "x@else.test")
    assert other.get(f"/documents/{doc_id}/xml").status_code == 404
    assert other.get(f"/documents/{doc_id}").status_code == 404


def test_peppol_ubl_is_approved(stack):
    api = stack.user("E-Invoice Buyer", "ap@einvoice.test")
    spec = gen.Spec(number="PEPPOL-7")
    doc_id, status, doc = _process(api, gen.peppol_ubl(spec), "peppol.xml")
    assert status["status"] == "approved", doc["evaluation"]
    _assert_exact(doc, spec.truth(), ("invoice_number", "invoice_date", "due_date", "vendor_name", "currency",
                                      "amount", "vat", "total", "iban", "bic", "vendor_tax_id", "customer_tax_id"))
    assert doc["einvoice"]["claims"] == ["EN16931", "Peppol BIS 3"]
    assert doc["einvoice"]["validation"]["not_checked"]  # Peppol's own rules are not bundled, and it says so


def test_zugferd_hybrid_pdf_is_approved_and_cross_checked(stack):
    api = stack.user("E-Invoice Buyer", "ap@einvoice.test")
    spec = gen.Spec(number="ZF-2026-11")
    doc_id, status, doc = _process(api, gen.zugferd_pdf(spec), "rechnung.pdf")
    assert status["status"] == "approved", doc["evaluation"]
    truth = spec.truth()
    _assert_exact(doc, truth, ("invoice_number", "invoice_date", "vendor_name", "amount", "vat", "total", "iban",
                               "vendor_tax_id"))
    assert [li["amount"] for li in doc["line_items"]] == [li["amount"] for li in truth["line_items"]]
    assert doc["einvoice"]["source"] == "factur-x.xml" and doc["einvoice"]["profile"] == "en16931"
    cross = doc["einvoice"]["cross_check"]
    assert cross["agrees"] and cross["fields"]["total"]["outcome"] == "agree"
    assert doc["fields"]["total"]["page"] == 1 and len(doc["fields"]["total"]["bbox"]) == 4
    assert api.get(f"/documents/{doc_id}/xml").content == gen.cii(spec)
    _every_stage_ran(stack, doc_id)


def test_tampered_hybrid_goes_to_review_with_both_values(stack):
    api = stack.user("E-Invoice Buyer", "ap@einvoice.test")
    spec = gen.Spec(number="ZF-TAMPER-1")
    data, picture = gen.tampered(spec)
    doc_id, status, doc = _process(api, data, "tampered.pdf")
    assert status["status"] == "manual_review"
    assert doc["total"] == float(spec.total)  # the XML stays the value of record
    cross = doc["einvoice"]["cross_check"]
    assert cross["disagreements"] == ["iban", "total"]
    assert cross["fields"]["total"]["xml"] == float(spec.total)
    assert cross["fields"]["total"]["picture"] == float(picture.total)
    reasons = " ".join(doc["evaluation"]["reasons"])
    assert str(float(spec.total)) in reasons and str(float(picture.total)) in reasons
    assert "DE02120300000000202051" in reasons and spec.iban in reasons


def test_invalid_einvoice_carries_its_rule_ids(stack):
    api = stack.user("E-Invoice Buyer", "ap@einvoice.test")
    doc_id, status, doc = _process(api, (DATA / "facturx-fail-fr-en16931.pdf").read_bytes(), "fail.pdf")
    assert status["status"] == "manual_review"
    validation = doc["evaluation"]["checks"]["einvoice_validation"]
    assert validation["passed"] is False and "CII-DT-031" in validation["errors"]
    assert "CII-DT-031" in validation["by_category"]["business_rule"]
    assert any("[CII-DT-031]" in r for r in doc["evaluation"]["reasons"])
    assert doc["einvoice"]["validation"]["findings"]


def test_billion_laughs_and_non_invoice_xml_are_refused(stack):
    api = stack.user("E-Invoice Buyer", "ap@einvoice.test")
    r = api.upload(BILLION_LAUGHS, "lol.xml")
    assert r.status_code == 422 and "DTD" in r.json()["message"]
    r = api.upload(b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg"/>', "invoice.xml")
    assert r.status_code == 415 and "e-invoice" in r.json()["message"]


def test_a_document_without_xml_has_no_xml_endpoint(stack):
    api = stack.user("E-Invoice Buyer", "ap@einvoice.test")
    doc_id, status, doc = _process(api, gen.visible_pdf(gen.Spec(number="PLAIN-1")), "plain.pdf")
    assert doc["einvoice"] is None, doc["einvoice"]
    assert status["status"] in {"approved", "manual_review"}, (status["error"], [l for l in stack.logs().splitlines() if "Error" in l or "error" in l][-15:])
    assert doc["fields"]["invoice_number"]["provenance"] == "page"
    assert api.get(f"/documents/{doc_id}/xml").status_code == 404
