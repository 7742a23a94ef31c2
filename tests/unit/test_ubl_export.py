"""The UBL 2.1 writer on its own: addresses, countries, VAT breakdown per rate."""
from __future__ import annotations

import uuid
import xml.etree.ElementTree as ET
from datetime import datetime, timezone

from invoice.scanner.api.exports import ubl
from invoice.scanner.api.exports.repository import ExportDocument

NS = {"cbc": ubl.NS_CBC, "cac": ubl.NS_CAC}


def _doc(fields, lines=()):
    return ExportDocument(uuid.uuid4(), "a.pdf", datetime(2026, 11, 20, tzinfo=timezone.utc),
                          datetime(2026, 11, 19, tzinfo=timezone.utc), 0.9, fields, list(lines))


def test_country_from_vat_id_or_iban():
    assert ubl.country_of("DE136695976") == "DE"
    assert ubl.country_of(None, "NL91 ABNA 0417 1643 00") == "NL"
    assert ubl.country_of("EL094259216") == "GR"  # Greece's VAT prefix is not its ISO code
    assert ubl.country_of("136695976", None) is None


def test_address_block_becomes_street_post_code_city():
    root = ubl.invoice_element(_doc({"vendor_name": "A", "vendor_address": "Hauptstraße 1\nHinterhaus\n10115 Berlin",
                                     "vendor_tax_id": "DE136695976"}))
    postal = root.find("cac:AccountingSupplierParty/cac:Party/cac:PostalAddress", NS)
    assert [(el.tag.split("}")[1], el.text) for el in postal.iter() if el.text and el is not postal] == [
        ("StreetName", "Hauptstraße 1"), ("CityName", "Berlin"), ("PostalZone", "10115"),
        ("Line", "Hinterhaus"), ("IdentificationCode", "DE")]


def test_one_vat_breakdown_per_rate():
    lines = [{"position": 1, "description": "Books", "quantity": 1, "unit_price": 100, "amount": 100, "tax_rate": 7},
             {"position": 2, "description": "Pens", "quantity": 2, "unit_price": 50, "amount": 100, "tax_rate": 19}]
    root = ubl.invoice_element(_doc({"currency": "EUR", "amount": 200, "vat": 26, "total": 226}, lines))
    groups = [(g.findtext("cbc:TaxableAmount", namespaces=NS), g.findtext("cbc:TaxAmount", namespaces=NS),
               g.findtext("cac:TaxCategory/cbc:Percent", namespaces=NS))
              for g in root.findall("cac:TaxTotal/cac:TaxSubtotal", NS)]
    assert groups == [("100.00", "7.00", "7"), ("100.00", "19.00", "19")]
    assert root.findtext("cac:TaxTotal/cbc:TaxAmount", namespaces=NS) == "26.00"


def test_without_line_items_the_rate_comes_from_the_totals():
    root = ubl.invoice_element(_doc({"currency": "EUR", "amount": 100, "vat": 20, "total": 120}))
    [line] = root.findall("cac:InvoiceLine", NS)
    assert line.findtext("cac:Item/cac:ClassifiedTaxCategory/cbc:Percent", namespaces=NS) == "20"
    assert root.findtext("cac:TaxTotal/cac:TaxSubtotal/cbc:TaxAmount", namespaces=NS) == "20.00"
    assert root.findtext("cbc:IssueDate", namespaces=NS) == "2026-11-20"  # no printed date: the approval day


def test_well_formed_with_hostile_text():
    xml = ubl.invoice_xml(_doc({"vendor_name": "<script>&\"'", "invoice_number": "]]>"}))
    assert ET.fromstring(xml).findtext("cac:AccountingSupplierParty/cac:Party/cac:PartyName/cbc:Name",
                                       namespaces=NS) == "<script>&\"'"
