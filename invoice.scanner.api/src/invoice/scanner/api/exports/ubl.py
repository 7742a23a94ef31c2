"""One approved document as a UBL 2.1 Invoice (OASIS UBL 2.1, `Invoice-2` root), elements in
the order the UBL 2.1 schema's sequences require, with the EN 16931 business terms (BT-n)
our fields map to. Validated in tests/integration/test_exports.py against UBL-Invoice-2.1.xsd and
the EN 16931 UBL Schematron the e-invoice stage uses. Countries (BT-40/55) are taken from the
party's VAT id or IBAN, so a buyer without a VAT id on the invoice has none (BR-11 then fails).

Values are what the document holds after review (corrections included). Where a mandatory
UBL element has no value we could read, the rule is written beside it.
"""
from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from decimal import Decimal, InvalidOperation
from typing import Any

from invoice.scanner.api.exports.repository import ExportDocument

NS_INVOICE = "urn:oasis:names:specification:ubl:schema:xsd:Invoice-2"
NS_CAC = "urn:oasis:names:specification:ubl:schema:xsd:CommonAggregateComponents-2"
NS_CBC = "urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2"
CUSTOMIZATION_ID = "urn:cen.eu:en16931:2017"
INVOICE_TYPE_COMMERCIAL = "380"  # UNTDID 1001: commercial invoice
PAYMENT_MEANS_CREDIT_TRANSFER = "58"  # UNTDID 4461: SEPA credit transfer
PAYMENT_MEANS_UNKNOWN = "1"  # UNTDID 4461: instrument not defined
NO_CURRENCY = "XXX"  # ISO 4217: no currency involved

ET.register_namespace("", NS_INVOICE)
ET.register_namespace("cac", NS_CAC)
ET.register_namespace("cbc", NS_CBC)


def _cac(parent: ET.Element, name: str) -> ET.Element:
    return ET.SubElement(parent, f"{{{NS_CAC}}}{name}")


def _cbc(parent: ET.Element, name: str, value: Any, **attrs: str) -> ET.Element:
    el = ET.SubElement(parent, f"{{{NS_CBC}}}{name}", attrs)
    el.text = str(value)
    return el


def _decimal(value: Any) -> Decimal | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        d = Decimal(str(value))
    except (InvalidOperation, ValueError):
        return None
    return d if d.is_finite() else None


def _plain(value: Decimal) -> str:
    """A decimal as the schema's xsd:decimal reads it: no exponent (`100`, never `1E+2`)."""
    return format(value.normalize(), "f")


def _money(value: Decimal) -> str:
    return str(value.quantize(Decimal("0.01")))


def _text(value: Any) -> str | None:
    return str(value).strip() or None if value is not None else None


_POSTAL_CITY = re.compile(r"^(?:[A-Z]{1,2}[- ])?(\d{4,5}(?:-\d{3,4})?)\s+(\S.*)$")
_COUNTRY_PREFIX = re.compile(r"^([A-Z]{2})[0-9A-Z]")


def country_of(*identifiers: str | None) -> str | None:
    """BT-40/55: the country a VAT id or an IBAN starts with (DE136695976, DE89 3704 ...);
    Greece's VAT prefix EL is ISO GR."""
    for value in identifiers:
        match = _COUNTRY_PREFIX.match((value or "").replace(" ", "").upper())
        if match:
            return "GR" if match.group(1) == "EL" else match.group(1)
    return None


def _address(postal: ET.Element, address: str | None, country: str | None) -> None:
    """BG-5/8 from one printed block: the first line is the street (BT-35/50), a line such as
    "10115 Berlin" the post code and city (BT-38/53, BT-37/52), the rest one more line (BT-162);
    UBL's EN 16931 binding allows a single such line (UBL-SR-51)."""
    lines = [part.strip() for part in (address or "").replace(",", "\n").splitlines() if part.strip()]
    street, zone, city, rest = None, None, None, []
    for i, line in enumerate(lines):
        match = _POSTAL_CITY.match(line)
        if match and zone is None and i > 0:
            zone, city = match.group(1), match.group(2)
        elif street is None:
            street = line
        else:
            rest.append(line)
    if street:
        _cbc(postal, "StreetName", street)
    if city:
        _cbc(postal, "CityName", city)
    if zone:
        _cbc(postal, "PostalZone", zone)
    if rest:
        _cbc(_cac(postal, "AddressLine"), "Line", ", ".join(rest))
    if country:
        _cbc(_cac(postal, "Country"), "IdentificationCode", country)


def _party(parent: ET.Element, role: str, name: str | None, address: str | None, tax_id: str | None,
           iban: str | None = None) -> None:
    """BG-4 seller / BG-7 buyer: BT-27/44 name, BG-5/8 address, BT-31/48 VAT id."""
    party = _cac(_cac(parent, role), "Party")
    if name:
        _cbc(_cac(party, "PartyName"), "Name", name)
    _address(_cac(party, "PostalAddress"), address, country_of(tax_id, iban))
    if tax_id:
        scheme = _cac(party, "PartyTaxScheme")
        _cbc(scheme, "CompanyID", tax_id)
        _cbc(_cac(scheme, "TaxScheme"), "ID", "VAT")
    # BT-27/44 (registration name) is mandatory in EN 16931; the printed name is the best we have.
    _cbc(_cac(party, "PartyLegalEntity"), "RegistrationName", name or "unknown")


def _tax_category(parent: ET.Element, name: str, rate: Decimal) -> None:
    category = _cac(parent, name)
    _cbc(category, "ID", "S" if rate > 0 else "Z")  # UNCL 5305: standard rate, or zero rated
    _cbc(category, "Percent", _plain(rate))
    _cbc(_cac(category, "TaxScheme"), "ID", "VAT")


def invoice_element(doc: ExportDocument) -> ET.Element:
    f = doc.fields
    currency = (_text(f.get("currency")) or NO_CURRENCY).upper()
    net, tax, gross = _decimal(f.get("amount")), _decimal(f.get("vat")), _decimal(f.get("total"))
    due = _decimal(f.get("amount_due"))
    if net is None and gross is not None and tax is not None:
        net = gross - tax
    if gross is None and net is not None:
        gross = net + (tax or Decimal(0))

    root = ET.Element(f"{{{NS_INVOICE}}}Invoice")
    _cbc(root, "UBLVersionID", "2.1")
    _cbc(root, "CustomizationID", CUSTOMIZATION_ID)
    _cbc(root, "ID", _text(f.get("invoice_number")) or str(doc.id))  # BT-1
    # BT-2: the printed issue date; when none was read, the date a person or the pipeline approved it.
    _cbc(root, "IssueDate", _text(f.get("invoice_date")) or doc.approved_at.date().isoformat())
    if _text(f.get("due_date")):
        _cbc(root, "DueDate", f["due_date"])  # BT-9
    _cbc(root, "InvoiceTypeCode", INVOICE_TYPE_COMMERCIAL)  # BT-3
    _cbc(root, "Note", f"Invoice Scanner document {doc.id} ({doc.original_filename})")  # BT-22
    _cbc(root, "DocumentCurrencyCode", currency)  # BT-5
    if _text(f.get("purchase_order")):
        _cbc(_cac(root, "OrderReference"), "ID", f["purchase_order"])  # BT-13
    _party(root, "AccountingSupplierParty", _text(f.get("vendor_name")), _text(f.get("vendor_address")),
           _text(f.get("vendor_tax_id")), _text(f.get("iban")))
    _party(root, "AccountingCustomerParty", _text(f.get("customer_name")), _text(f.get("customer_address")),
           _text(f.get("customer_tax_id")))
    iban = _text(f.get("iban"))
    means = _cac(root, "PaymentMeans")  # BG-16
    _cbc(means, "PaymentMeansCode", PAYMENT_MEANS_CREDIT_TRANSFER if iban else PAYMENT_MEANS_UNKNOWN)  # BT-81
    if iban:
        account = _cac(means, "PayeeFinancialAccount")
        _cbc(account, "ID", iban.replace(" ", ""))  # BT-84
        if _text(f.get("bic")):
            _cbc(_cac(account, "FinancialInstitutionBranch"), "ID", f["bic"])  # BT-86
    if _text(f.get("payment_terms")):
        _cbc(_cac(root, "PaymentTerms"), "Note", f["payment_terms"])  # BT-20
    # BG-25: at least one line. An invoice read without line items is one line for its net amount.
    default_rate = (tax / net * 100).quantize(Decimal("0.01")) if net and tax is not None else None
    items = doc.line_items or [{"position": 1, "description": "Invoice total (no line items were read)",
                                "quantity": 1, "unit_price": net, "amount": net, "tax_rate": default_rate}]
    rates = [_decimal(i.get("tax_rate")) for i in items]
    if all(r is None for r in rates) and default_rate is not None:
        rates = [default_rate] * len(items)

    # BG-23: one VAT breakdown per rate the lines carry (BT-116 taxable, BT-117 tax, BT-118/119).
    tax_total = _cac(root, "TaxTotal")
    _cbc(tax_total, "TaxAmount", _money(tax or Decimal(0)), currencyID=currency)  # BT-110
    groups: dict[Decimal, Decimal] = {}
    for item, rate in zip(items, rates):
        if rate is not None:
            groups[rate] = groups.get(rate, Decimal(0)) + (_decimal(item.get("amount")) or Decimal(0))
    for rate, taxable in sorted(groups.items()):
        subtotal = _cac(tax_total, "TaxSubtotal")
        _cbc(subtotal, "TaxableAmount", _money(taxable), currencyID=currency)
        # One rate: the tax as the invoice states it; several: each group's share at its rate.
        amount = tax if len(groups) == 1 and tax is not None else taxable * rate / 100
        _cbc(subtotal, "TaxAmount", _money(amount), currencyID=currency)
        _tax_category(subtotal, "TaxCategory", rate)

    totals = _cac(root, "LegalMonetaryTotal")  # BG-22
    lines_sum = sum((_decimal(i["amount"]) or Decimal(0) for i in doc.line_items), Decimal(0))
    _cbc(totals, "LineExtensionAmount", _money(lines_sum if doc.line_items else (net or Decimal(0))),
         currencyID=currency)  # BT-106
    if net is not None:
        _cbc(totals, "TaxExclusiveAmount", _money(net), currencyID=currency)  # BT-109
    if gross is not None:
        _cbc(totals, "TaxInclusiveAmount", _money(gross), currencyID=currency)  # BT-112
    payable = due if due is not None else (gross if gross is not None else Decimal(0))
    _cbc(totals, "PayableAmount", _money(payable), currencyID=currency)  # BT-115

    for i, (item, rate) in enumerate(zip(items, rates), start=1):
        line = _cac(root, "InvoiceLine")
        _cbc(line, "ID", item.get("position") or i)  # BT-126
        quantity = _decimal(item.get("quantity"))
        _cbc(line, "InvoicedQuantity", _plain(quantity) if quantity is not None else "1", unitCode="C62")  # BT-129/130
        _cbc(line, "LineExtensionAmount", _money(_decimal(item.get("amount")) or Decimal(0)),
             currencyID=currency)  # BT-131
        product = _cac(line, "Item")
        _cbc(product, "Name", _text(item.get("description")) or f"Line {i}")  # BT-153
        if rate is not None:
            _tax_category(product, "ClassifiedTaxCategory", rate)  # BT-151, BT-152
        price = _decimal(item.get("unit_price"))
        if price is not None:
            _cbc(_cac(line, "Price"), "PriceAmount", _plain(abs(price)),
                 currencyID=currency)  # BT-146
    return root


def invoice_xml(doc: ExportDocument) -> bytes:
    return ET.tostring(invoice_element(doc), encoding="utf-8", xml_declaration=True)
