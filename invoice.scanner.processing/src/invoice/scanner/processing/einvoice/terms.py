"""An e-invoice's XML read into EN 16931 business terms (BT-1, BG-4, ...), whatever its syntax.

UBL 2.1 (Invoice, CreditNote; Peppol BIS 3, XRechnung UBL) and UN/CEFACT CII (Factur-X /
ZUGFeRD 2.x profiles, XRechnung CII) are read by the `factur-x` package's parser, which knows
both syntax bindings of EN 16931. ZUGFeRD 1.0 predates EN 16931 and is read here with its
own paths (the core terms only). Every parse goes through `sniff.inspect_xml` first (no DTD,
bounded size and depth), then lxml with a hardened parser (no entities, no network).
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from invoice.scanner.processing import sniff
from invoice.scanner.processing.fields import EN16931_LINE_TERMS, EN16931_TERMS

# Factur-X profile of a CII invoice, from its guideline (BT-24); UBL has none.
EN16931_LEVELS = ("basic", "en16931", "extended")  # compliant or conformant: EN 16931 rules apply
SUB_EN16931_LEVELS = ("minimum", "basicwl")  # not EN 16931 invoices: no line items, fewer terms
FLAVORS = {sniff.UBL_INVOICE: "ubl-2.1-invoice", sniff.UBL_CREDIT_NOTE: "ubl-2.1-creditnote",
           sniff.CII: "factur-x", sniff.ZUGFERD1: "zugferd"}


class EInvoiceError(ValueError):
    """The XML cannot be read as an e-invoice (a BMF "format error")."""


@dataclass
class EInvoice:
    syntax: str  # sniff.UBL_INVOICE | UBL_CREDIT_NOTE | CII | ZUGFERD1
    level: str | None  # Factur-X profile for CII (minimum ... extended); "en16931" for UBL
    customization_id: str | None  # BT-24 as written
    claims: list[str]  # rule sets the invoice claims: EN16931, XRechnung, Peppol BIS 3
    terms: dict[str, Any]  # the business terms, JSON-ready (strings, lists, dicts)
    source: str = "xml"  # "xml" (a bare XML upload) or the PDF attachment's name
    notes: list[str] = field(default_factory=list)

    @property
    def en16931(self) -> bool:
        return self.syntax in (sniff.UBL_INVOICE, sniff.UBL_CREDIT_NOTE) or self.level in EN16931_LEVELS

    @property
    def has_line_items(self) -> bool:
        return self.level not in SUB_EN16931_LEVELS


def parse_tree(data: bytes):
    """A hardened lxml parse of bytes that `sniff.inspect_xml` accepted; (tree, XmlInfo)."""
    from lxml import etree

    info = sniff.inspect_xml(data)
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, dtd_validation=False,
                             huge_tree=False, remove_pis=True)
    try:
        return etree.fromstring(data, parser), info
    except etree.XMLSyntaxError as exc:
        raise sniff.MalformedXml(f"The XML is not well-formed: {exc}", "corrupt_xml") from exc


def claims_of(customization_id: str | None, business_process: str | None, level: str | None) -> list[str]:
    cid = (customization_id or "").lower()
    claims = []
    if level in EN16931_LEVELS or level == "en16931" or "urn:cen.eu:en16931" in cid:
        claims.append("EN16931")
    if "xrechnung" in cid:
        claims.append("XRechnung")
    if "peppol.eu:2017:poacc:billing:3.0" in cid or "peppol.eu:2017:poacc:billing:01" in (business_process or ""):
        if "urn:fdc:peppol.eu:2017:poacc:billing:3.0" in cid:
            claims.append("Peppol BIS 3")
    return claims


def read(data: bytes, source: str = "xml") -> EInvoice:
    """Parse an e-invoice. Raises `sniff.XmlRejected` (unsafe or malformed) or `EInvoiceError`."""
    tree, info = parse_tree(data)
    if info.kind == sniff.ZUGFERD1:
        terms, level = _read_zugferd1(tree), "zugferd1"
        cid = terms.get("BT-24")
        return EInvoice(info.kind, level, cid, [], terms, source,
                        notes=["ZUGFeRD 1.0 predates EN 16931; only its core terms are read"])
    from facturx import get_level
    from facturx.parse_xml import parse_ubl_cii_xml

    flavor = FLAVORS[info.kind]
    try:
        level = get_level(tree, flavor) if info.kind == sniff.CII else "en16931"
    except (ValueError, IndexError) as exc:
        raise EInvoiceError(f"The invoice names no known guideline or profile (BT-24): {exc}") from exc
    try:
        terms = parse_ubl_cii_xml(tree, flavor=flavor, level=level if info.kind == sniff.CII else "autodetect",
                                  float_as="string", date_as="string", bytes_as="string", check_xsd=False)
    except ValueError as exc:  # a date or number not in the syntax's format
        raise EInvoiceError(f"The invoice's XML does not follow its syntax: {exc}") from exc
    terms = _jsonable(terms)
    cid = terms.get("BT-24")
    return EInvoice(info.kind, level, cid, claims_of(cid, terms.get("BT-23"), level), terms, source)


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {("_" if k is None else str(k)): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_jsonable(v) for v in value]
    return value


# -- ZUGFeRD 1.0 --------------------------------------------------------------------------------

_ZF1 = {"rsm": "urn:ferd:CrossIndustryDocument:invoice:1p0",
        "ram": "urn:un:unece:uncefact:data:standard:ReusableAggregateBusinessInformationEntity:12",
        "udt": "urn:un:unece:uncefact:data:standard:UnqualifiedDataType:15"}
_TX = "rsm:SpecifiedSupplyChainTradeTransaction"
_AG = f"{_TX}/ram:ApplicableSupplyChainTradeAgreement"
_ST = f"{_TX}/ram:ApplicableSupplyChainTradeSettlement"
_SUM = f"{_ST}/ram:SpecifiedTradeSettlementMonetarySummation"
_ZF1_TERMS = {
    "BT-1": "rsm:HeaderExchangedDocument/ram:ID",
    "BT-2": "rsm:HeaderExchangedDocument/ram:IssueDateTime/udt:DateTimeString",
    "BT-3": "rsm:HeaderExchangedDocument/ram:TypeCode",
    "BT-24": "rsm:SpecifiedExchangedDocumentContext/ram:GuidelineSpecifiedDocumentContextParameter/ram:ID",
    "BT-5": f"{_ST}/ram:InvoiceCurrencyCode",
    "BT-9": f"{_ST}/ram:SpecifiedTradePaymentTerms/ram:DueDateDateTime/udt:DateTimeString",
    "BT-20": f"{_ST}/ram:SpecifiedTradePaymentTerms/ram:Description",
    "BT-13": f"{_AG}/ram:BuyerOrderReferencedDocument/ram:ID",
    "BT-84": f"{_ST}/ram:SpecifiedTradeSettlementPaymentMeans/ram:PayeePartyCreditorFinancialAccount/ram:IBANID",
    "BT-86": f"{_ST}/ram:SpecifiedTradeSettlementPaymentMeans/ram:PayeeSpecifiedCreditorFinancialInstitution"
             f"/ram:BICID",
    "BT-106": f"{_SUM}/ram:LineTotalAmount",
    "BT-109": f"{_SUM}/ram:TaxBasisTotalAmount",
    "BT-110": f"{_SUM}/ram:TaxTotalAmount",
    "BT-112": f"{_SUM}/ram:GrandTotalAmount",
    "BT-115": f"{_SUM}/ram:DuePayableAmount",
}


def _first(node, path: str) -> str | None:
    found = node.xpath(path, namespaces=_ZF1)
    if not found:
        return None
    text = found[0] if isinstance(found[0], str) else found[0].text
    return text.strip() if text and text.strip() else None


def _zf1_date(raw: str | None) -> str | None:
    """Format 102 (YYYYMMDD) to ISO; other formats are kept as written."""
    if raw and re.fullmatch(r"\d{8}", raw):
        return f"{raw[:4]}-{raw[4:6]}-{raw[6:]}"
    return raw


def _zf1_party(node) -> dict[str, Any]:
    if node is None:
        return {}
    party: dict[str, Any] = {}
    for key, path in (("name", "ram:Name"), ("postcode", "ram:PostalTradeAddress/ram:PostcodeCode"),
                      ("addr_l1", "ram:PostalTradeAddress/ram:LineOne"),
                      ("addr_l2", "ram:PostalTradeAddress/ram:LineTwo"),
                      ("city", "ram:PostalTradeAddress/ram:CityName"),
                      ("country_code", "ram:PostalTradeAddress/ram:CountryID"),
                      ("vat_identifier", "ram:SpecifiedTaxRegistration/ram:ID[@schemeID='VA']"),
                      ("tax_identifier", "ram:SpecifiedTaxRegistration/ram:ID[@schemeID='FC']")):
        value = _first(node, path)
        if value:
            party[key] = value
    return party


def _read_zugferd1(tree) -> dict[str, Any]:
    terms: dict[str, Any] = {}
    for bt, path in _ZF1_TERMS.items():
        value = _first(tree, path)
        if value:
            terms[bt] = _zf1_date(value) if bt in ("BT-2", "BT-9") else value
    for group, path in (("BG-4", f"{_AG}/ram:SellerTradeParty"), ("BG-7", f"{_AG}/ram:BuyerTradeParty")):
        nodes = tree.xpath(path, namespaces=_ZF1)
        party = _zf1_party(nodes[0] if nodes else None)
        if party:
            terms[group] = party
    breakdown = []
    for tax in tree.xpath(f"{_ST}/ram:ApplicableTradeTax", namespaces=_ZF1):
        row = {bt: _first(tax, p) for bt, p in (("BT-116", "ram:BasisAmount"), ("BT-117", "ram:CalculatedAmount"),
                                                  ("BT-118", "ram:CategoryCode"), ("BT-119", "ram:ApplicablePercent"))}
        breakdown.append({k: v for k, v in row.items() if v})
    if breakdown:
        terms["BG-23"] = breakdown
    lines = []
    for item in tree.xpath(f"{_TX}/ram:IncludedSupplyChainTradeLineItem", namespaces=_ZF1):
        row = {
            "BT-126": _first(item, "ram:AssociatedDocumentLineDocument/ram:LineID"),
            "BT-153": _first(item, "ram:SpecifiedTradeProduct/ram:Name"),
            "BT-129": _first(item, "ram:SpecifiedSupplyChainTradeDelivery/ram:BilledQuantity"),
            "BT-146": _first(item, "ram:SpecifiedSupplyChainTradeAgreement/ram:NetPriceProductTradePrice"
                                   "/ram:ChargeAmount"),
            "BT-131": _first(item, "ram:SpecifiedSupplyChainTradeSettlement"
                                   "/ram:SpecifiedTradeSettlementMonetarySummation/ram:LineTotalAmount"),
            "BT-152": _first(item, "ram:SpecifiedSupplyChainTradeSettlement/ram:ApplicableTradeTax"
                                   "/ram:ApplicablePercent"),
        }
        lines.append({k: v for k, v in row.items() if v})
    if lines:
        terms["BG-25"] = lines
    return terms


# -- business terms -> our fields ---------------------------------------------------------------

def _pick(terms: dict[str, Any], path: str) -> Any:
    group, _, key = path.partition(".")
    value = terms.get(group)
    if key:
        if not isinstance(value, dict):
            return None
        if key == "address":
            return _address(value)
        value = value.get(key)
    if isinstance(value, list):  # several payment accounts, say: the first is the one of record
        value = value[0] if value else None
    if isinstance(value, dict):
        return None
    return None if value in (None, "") else str(value)


def _address(party: dict[str, Any]) -> str | None:
    city = " ".join(p for p in (party.get("postcode"), party.get("city")) if p)
    parts = [party.get("addr_l1"), party.get("addr_l2"), party.get("addr_l3"), city,
             party.get("country_subdivision"), party.get("country_code")]
    text = ", ".join(str(p) for p in parts if p)
    return text or None


def field_values(terms: dict[str, Any]) -> dict[str, str | None]:
    """Our fields (fields.FIELD_NAMES) as the XML writes them, by the one mapping table."""
    return {name: _pick(terms, path) for name, (_bt, path) in EN16931_TERMS.items()}


def line_values(terms: dict[str, Any]) -> list[dict[str, str | None]]:
    rows = []
    for line in terms.get("BG-25") or []:
        row = {name: (str(line[bt]) if line.get(bt) not in (None, "") else None)
               for name, bt in EN16931_LINE_TERMS.items()}
        if row["description"] is None and line.get("BT-154"):
            row["description"] = str(line["BT-154"])  # item description when the name is missing
        rows.append(row)
    return rows


def summary(inv: EInvoice) -> dict[str, Any]:
    """What the API shows beside the fields: syntax, profile, parties with their identifiers,
    the VAT breakdown and the payment instructions."""
    t = inv.terms

    def party(group: str) -> dict[str, Any] | None:
        p = t.get(group)
        if not isinstance(p, dict):
            return None
        return {"name": p.get("name"), "trading_name": p.get("biz_name"), "vat_id": p.get("vat_identifier"),
                "tax_id": p.get("tax_identifier"), "legal_id": p.get("legal_identifier"),
                "identifiers": p.get("identifiers"), "electronic_address": p.get("einvoicing_addr"),
                "address": _address(p), "country": p.get("country_code")}

    return {
        "syntax": inv.syntax, "profile": inv.level, "customization_id": inv.customization_id,
        "claims": inv.claims, "source": inv.source, "type_code": t.get("BT-3"),
        "seller": party("BG-4"), "buyer": party("BG-7"),
        "vat_breakdown": [{"category": r.get("BT-118"), "rate": r.get("BT-119"), "taxable_amount": r.get("BT-116"),
                           "tax_amount": r.get("BT-117"), "exemption_reason": r.get("BT-120")}
                          for r in t.get("BG-23") or [] if isinstance(r, dict)],
        "payment": {"means_code": t.get("BT-81"), "iban": t.get("BT-84"), "bic": t.get("BT-86"),
                    "remittance": t.get("BT-83"), "terms": t.get("BT-20"), "due_date": t.get("BT-9")},
        "notes": inv.notes,
    }
