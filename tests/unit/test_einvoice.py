"""The e-invoice path's pure functions: reading UBL and CII into EN 16931 business terms, the one
mapping table to our fields, offline validation with the bundled artefacts (rule ids and the BMF
classes), the picture-vs-XML cross-check and the verdict. No services."""
from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import einvoicegen as gen
import pytest

from invoice.scanner.processing import sniff
from invoice.scanner.processing.config import Settings
from invoice.scanner.processing.einvoice import flow, pdf, terms
from invoice.scanner.processing.einvoice.validate import BUSINESS_RULE, CONTENT, FORMAT, classify, get_validator
from invoice.scanner.processing.fields import EN16931_TERMS, FIELD_NAMES

DATA = Path(__file__).resolve().parents[1] / "data" / "einvoice"
SETTINGS = Settings.from_env({})


def _run(path: Path, tmp_path: Path) -> flow.LocalResult:
    return flow.run_in_process(path, SETTINGS, tmp_path / "pages")


def test_every_field_has_a_business_term():
    assert set(EN16931_TERMS) == set(FIELD_NAMES)
    assert EN16931_TERMS["total"][0] == "BT-112" and EN16931_TERMS["iban"][0] == "BT-84"


@pytest.mark.parametrize("name", ["xrechnung-ubl.xml", "xrechnung-cii.xml"])
def test_xrechnung_ubl_and_cii_read_to_the_same_terms(name):
    inv = terms.read((DATA / name).read_bytes())
    assert inv.claims == ["EN16931", "XRechnung"] and inv.level == "en16931"
    values = terms.field_values(inv.terms)
    assert values["invoice_number"] == "123456XX" and values["invoice_date"] == "2016-04-04"
    assert (values["amount"], values["vat"], values["total"]) == ("314.86", "22.04", "336.9")
    assert values["iban"] == "DE79000000001234567890" and values["currency"] == "EUR"
    lines = terms.line_values(inv.terms)
    assert [li["amount"] for li in lines] == ["288.79", "26.07"]
    summary = terms.summary(inv)
    assert summary["vat_breakdown"] == [{"category": "S", "rate": "7", "taxable_amount": "314.86",
                                         "tax_amount": "22.04", "exemption_reason": None}]
    assert summary["seller"]["name"] == "[Seller name]"


def test_hybrid_pdf_attachment_is_found_byte_for_byte():
    name, data = pdf.embedded_xml(DATA / "zugferd-en16931-einfach.pdf")
    assert name == "factur-x.xml" and data.startswith(b"<?xml")
    inv = terms.read(data, name)
    assert inv.syntax == sniff.CII and inv.level == "en16931" and inv.source == "factur-x.xml"


def test_a_pdf_without_xml_has_no_einvoice(tmp_path):
    path = tmp_path / "plain.pdf"
    path.write_bytes(gen.visible_pdf(gen.Spec()))
    assert pdf.embedded_xml(path) is None


def test_valid_generated_invoices_validate_against_every_claimed_rule_set():
    validator = get_validator()
    for data in (gen.peppol_ubl(), gen.xrechnung_cii(), gen.cii()):
        inv = terms.read(data)
        result = validator.validate(data, inv)
        assert result.valid, [(f.rule, f.message) for f in result.errors]
    xr = validator.validate(gen.xrechnung_cii(), terms.read(gen.xrechnung_cii()))
    assert any("XRechnung" in c for c in xr.checked) and any("EN 16931" in c for c in xr.checked)
    peppol = validator.validate(gen.peppol_ubl(), terms.read(gen.peppol_ubl()))
    assert any("Peppol" in n for n in peppol.not_checked)  # honest about the rules it did not run


def test_wrong_total_is_a_content_error_with_its_rule_id():
    data = gen.cii().replace(b"<ram:GrandTotalAmount>1492.26<", b"<ram:GrandTotalAmount>1592.26<")
    result = get_validator().validate(data, terms.read(data))
    assert not result.valid
    rules = {f.rule: f for f in result.errors}
    assert "BR-CO-15" in rules and rules["BR-CO-15"].category == CONTENT


def test_missing_xrechnung_buyer_reference_is_a_business_rule_error():
    data = gen.xrechnung_cii().replace(b"<ram:BuyerReference>04011000-12345-34</ram:BuyerReference>", b"")
    result = get_validator().validate(data, terms.read(data))
    rules = {f.rule: f for f in result.errors}
    assert "BR-DE-15" in rules and rules["BR-DE-15"].category == BUSINESS_RULE and rules["BR-DE-15"].source == \
        "XRechnung"


def test_schema_violation_is_a_format_error():
    data = gen.peppol_ubl().replace(b"<cbc:IssueDate>", b"<cbc:Bogus>x</cbc:Bogus><cbc:IssueDate>")
    result = get_validator().validate(data, terms.read(data))
    assert [(f.category, f.rule) for f in result.errors] == [(FORMAT, "XSD")]


def test_rule_classes():
    assert classify("BR-CO-10") == CONTENT and classify("BR-S-08") == CONTENT
    assert classify("BR-01") == BUSINESS_RULE and classify("BR-DE-1") == BUSINESS_RULE
    assert classify("BR-CL-23") == BUSINESS_RULE


def test_valid_hybrid_whose_picture_agrees_is_approved_with_exact_xml_values(tmp_path):
    path = tmp_path / "zf.pdf"
    path.write_bytes(gen.zugferd_pdf())
    result = _run(path, tmp_path)
    assert result.evaluation.approved, result.evaluation.reasons
    truth = gen.Spec().truth()
    fields = result.extraction.fields
    for key in ("invoice_number", "invoice_date", "due_date", "vendor_name", "currency", "amount", "vat", "total",
                "iban", "bic", "vendor_tax_id", "customer_tax_id"):
        assert fields[key].value == truth[key], key
        assert fields[key].confidence == 1.0
    assert [li.amount for li in result.extraction.line_items] == [960.0, 294.0]
    assert result.row.cross_check["agrees"] and fields["total"].page == 1 and fields["total"].bbox
    assert fields["document_type"].value == "invoice"


def test_tampered_hybrid_goes_to_review_with_both_values(tmp_path):
    data, picture = gen.tampered()
    path = tmp_path / "tampered.pdf"
    path.write_bytes(data)
    result = _run(path, tmp_path)
    assert not result.evaluation.approved
    check = result.row.cross_check
    assert check["disagreements"] == ["iban", "total"]
    assert check["fields"]["total"]["xml"] == float(gen.Spec().total)
    assert check["fields"]["total"]["picture"] == float(picture.total)
    # The XML stays the value of record.
    assert result.extraction.fields["total"].value == float(gen.Spec().total)
    assert any("picture-vs-xml" in r and "2392.26" in r for r in result.evaluation.reasons)


def test_invalid_corpus_file_carries_its_rule_ids(tmp_path):
    result = _run(DATA / "facturx-fail-fr-en16931.pdf", tmp_path)
    assert not result.evaluation.approved
    assert "CII-DT-031" in result.evaluation.checks["einvoice_validation"]["errors"]
    assert any("[CII-DT-031]" in r for r in result.evaluation.reasons)


def test_invalid_vat_id_in_the_xml_is_never_approved(tmp_path):
    # The KoSIT test case's seller VAT id "DE 123456789" has a wrong check digit.
    result = _run(DATA / "xrechnung-cii.xml", tmp_path)
    assert result.validation.valid and not result.evaluation.approved
    assert "vendor_tax_id" in result.evaluation.checks["valid_values"]["invalid"]


def test_xrechnung_xml_is_approved(tmp_path):
    result = _run(DATA / "xrechnung-ubl.xml", tmp_path)
    assert result.evaluation.approved, result.evaluation.reasons
    assert result.extraction.fields["total"].value == 336.9


def test_credit_note_goes_to_review(tmp_path):
    data = gen.peppol_ubl().replace(b"<cbc:InvoiceTypeCode>380<", b"<cbc:InvoiceTypeCode>381<")
    path = tmp_path / "cn.xml"
    path.write_bytes(data)
    result = _run(path, tmp_path)
    assert not result.evaluation.approved and result.evaluation.checks["positive_total"]["credit_note"]
    # The XML's type code (BT-3) is the document type, as on the pages' path.
    assert result.extraction.fields["document_type"].value == "credit_note"
    assert result.extraction.fields["document_type"].raw_value == "381"


def test_unreadable_xml_is_a_format_error(tmp_path):
    data = gen.cii().replace(b'format="102">20261120<', b'format="102">2026-11-20<')
    path = tmp_path / "bad-date.xml"
    path.write_bytes(data)
    result = _run(path, tmp_path)
    assert not result.evaluation.approved
    assert result.evaluation.checks["einvoice_validation"]["by_category"]["format"]


def test_line_items_are_exact_decimals():
    prediction = flow.xml_prediction(flow.store.EInvoiceRow(
        "x", "xml", b"", "", "cii", "en16931", None, [], terms.read(gen.cii()).terms, None, None, None, None, None,
        None))
    extraction = flow.xml_extraction(prediction)
    assert [(li.quantity, li.unit_price) for li in extraction.line_items] == [(8.0, 120.0), (12.0, 24.5)]
    assert Decimal(str(extraction.fields["vat"].value)) == Decimal("238.26")


def test_basic_wl_takes_its_line_items_from_the_picture(tmp_path):
    path = tmp_path / "wl.pdf"
    path.write_bytes(gen.basicwl_pdf(gen.Spec(number="WL-1")))
    result = _run(path, tmp_path)
    assert result.row.profile == "basicwl" and result.validation.valid
    assert result.row.provenance["line_items"] == "page"
    assert [(li.description, li.amount) for li in result.extraction.line_items] == [
        ("Beratung Datenschutz", 960.0), ("Schulungsunterlagen", 294.0)]
    assert result.extraction.fields["total"].value == 1492.26 and result.evaluation.approved


def test_zugferd1_is_read_validated_by_its_xsd_and_sent_to_review(tmp_path):
    path = DATA / "zugferd1-basic-einfach.xml"
    inv = terms.read(path.read_bytes())
    assert inv.syntax == sniff.ZUGFERD1 and not inv.en16931
    values = terms.field_values(inv.terms)
    assert (values["invoice_number"], values["invoice_date"], values["total"]) == ("471102", "2013-03-05", "235.62")
    assert values["iban"] == "DE08700901001234567890" and values["vendor_name"] == "Lieferant GmbH"
    result = _run(path, tmp_path)
    assert result.validation.valid and result.validation.checked == ["XSD ZUGFeRD 1.0"]
    assert not result.evaluation.approved
    assert any("ZUGFeRD 1.0 predates EN 16931" in r for r in result.evaluation.reasons)


def test_a_locally_compiled_peppol_stylesheet_is_run_when_configured():
    """EINVOICE_PEPPOL_XSLT: the operator's own compiled Peppol BIS stylesheet runs on invoices
    that claim Peppol (any compiled Schematron shows the wiring; the XRechnung one is bundled)."""
    from invoice.scanner.processing.einvoice.validate import SCHEMATRON, Validator

    validator = Validator(peppol_xslt=str(SCHEMATRON["xrechnung-ubl"].path))
    data = gen.peppol_ubl()
    result = validator.validate(data, terms.read(data))
    assert any(c.startswith("Peppol BIS 3 Schematron") for c in result.checked) and not result.not_checked
    assert {f.source for f in result.findings} >= {"Peppol BIS 3"}


def test_hostile_pdfs_are_pdfs_without_einvoice(tmp_path):
    """A PDF whose attachments pypdf cannot walk (truncated, corrupt, encrypted, cyclic) is read
    by the usual path: looking for an e-invoice never fails the document."""
    from hostile.corpus import build_corpus

    checked = 0
    for case in build_corpus():
        if sniff.sniff(case.data[:sniff.HEAD_BYTES]) != sniff.PDF:
            continue
        path = tmp_path / f"{case.name}.pdf"
        path.write_bytes(case.data)
        assert pdf.embedded_xml(path) is None, case.name
        checked += 1
    assert checked >= 10
