"""E-invoices made for the tests, with exact ground truth: a Peppol BIS 3 UBL invoice, an
XRechnung CII invoice, and a Factur-X / ZUGFeRD 2 hybrid PDF (CII EN 16931 embedded with the
`factur-x` package into a PDF whose visible layer reportlab draws). `picture` overrides what
the visible layer shows, to make a tampered hybrid whose picture and XML disagree.

The identifiers are checksum-valid (VAT ids with python-stdnum, IBAN with schwifty), so a
valid invoice can be approved on its own evidence.
"""
from __future__ import annotations

import io
from dataclasses import dataclass, field, replace
from decimal import Decimal
from xml.sax.saxutils import escape

SELLER_VAT = "DE136695976"
BUYER_VAT = "DE811569869"
IBAN = "DE89370400440532013000"
BIC = "COBADEFFXXX"


@dataclass(frozen=True)
class Line:
    name: str
    quantity: Decimal
    price: Decimal
    rate: Decimal = Decimal("19")

    @property
    def amount(self) -> Decimal:
        return (self.quantity * self.price).quantize(Decimal("0.01"))


@dataclass(frozen=True)
class Spec:
    number: str = "RE-2026-0415"
    issue_date: str = "2026-11-20"
    due_date: str = "2026-12-20"
    currency: str = "EUR"
    seller: str = "Musterlieferant GmbH"
    seller_vat: str = SELLER_VAT
    buyer: str = "Bürokunde AG"
    buyer_vat: str = BUYER_VAT
    buyer_reference: str = "04011000-12345-34"
    iban: str = IBAN
    bic: str = BIC
    lines: tuple[Line, ...] = (Line("Beratung Datenschutz", Decimal("8"), Decimal("120.00")),
                               Line("Schulungsunterlagen", Decimal("12"), Decimal("24.50")))

    @property
    def net(self) -> Decimal:
        return sum((li.amount for li in self.lines), Decimal("0"))

    @property
    def vat(self) -> Decimal:
        return (self.net * Decimal("0.19")).quantize(Decimal("0.01"))

    @property
    def total(self) -> Decimal:
        return self.net + self.vat

    def truth(self) -> dict:
        return {"invoice_number": self.number, "invoice_date": self.issue_date, "due_date": self.due_date,
                "vendor_name": self.seller, "customer_name": self.buyer, "currency": self.currency,
                "amount": float(self.net), "vat": float(self.vat), "total": float(self.total),
                "iban": self.iban, "bic": self.bic, "vendor_tax_id": self.seller_vat,
                "customer_tax_id": self.buyer_vat,
                "line_items": [{"description": li.name, "quantity": float(li.quantity),
                                "unit_price": float(li.price), "amount": float(li.amount),
                                "tax_rate": float(li.rate)} for li in self.lines]}


def peppol_ubl(spec: Spec = Spec()) -> bytes:
    """A Peppol BIS Billing 3.0 UBL invoice (EN 16931 compliant)."""
    s = spec
    lines = "".join(f"""
  <cac:InvoiceLine>
    <cbc:ID>{i}</cbc:ID>
    <cbc:InvoicedQuantity unitCode="C62">{li.quantity}</cbc:InvoicedQuantity>
    <cbc:LineExtensionAmount currencyID="{s.currency}">{li.amount}</cbc:LineExtensionAmount>
    <cac:Item>
      <cbc:Name>{escape(li.name)}</cbc:Name>
      <cac:ClassifiedTaxCategory><cbc:ID>S</cbc:ID><cbc:Percent>{li.rate}</cbc:Percent>
        <cac:TaxScheme><cbc:ID>VAT</cbc:ID></cac:TaxScheme></cac:ClassifiedTaxCategory>
    </cac:Item>
    <cac:Price><cbc:PriceAmount currencyID="{s.currency}">{li.price}</cbc:PriceAmount></cac:Price>
  </cac:InvoiceLine>""" for i, li in enumerate(s.lines, start=1))
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<Invoice xmlns="urn:oasis:names:specification:ubl:schema:xsd:Invoice-2"
         xmlns:cac="urn:oasis:names:specification:ubl:schema:xsd:CommonAggregateComponents-2"
         xmlns:cbc="urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2">
  <cbc:CustomizationID>urn:cen.eu:en16931:2017#compliant#urn:fdc:peppol.eu:2017:poacc:billing:3.0</cbc:CustomizationID>
  <cbc:ProfileID>urn:fdc:peppol.eu:2017:poacc:billing:01:1.0</cbc:ProfileID>
  <cbc:ID>{escape(s.number)}</cbc:ID>
  <cbc:IssueDate>{s.issue_date}</cbc:IssueDate>
  <cbc:DueDate>{s.due_date}</cbc:DueDate>
  <cbc:InvoiceTypeCode>380</cbc:InvoiceTypeCode>
  <cbc:DocumentCurrencyCode>{s.currency}</cbc:DocumentCurrencyCode>
  <cbc:BuyerReference>{escape(s.buyer_reference)}</cbc:BuyerReference>
  <cac:AccountingSupplierParty><cac:Party>
    <cbc:EndpointID schemeID="9930">{s.seller_vat}</cbc:EndpointID>
    <cac:PostalAddress><cbc:StreetName>Lieferantenstraße 20</cbc:StreetName><cbc:CityName>München</cbc:CityName>
      <cbc:PostalZone>80333</cbc:PostalZone><cac:Country><cbc:IdentificationCode>DE</cbc:IdentificationCode></cac:Country>
    </cac:PostalAddress>
    <cac:PartyTaxScheme><cbc:CompanyID>{s.seller_vat}</cbc:CompanyID><cac:TaxScheme><cbc:ID>VAT</cbc:ID></cac:TaxScheme></cac:PartyTaxScheme>
    <cac:PartyLegalEntity><cbc:RegistrationName>{escape(s.seller)}</cbc:RegistrationName></cac:PartyLegalEntity>
  </cac:Party></cac:AccountingSupplierParty>
  <cac:AccountingCustomerParty><cac:Party>
    <cbc:EndpointID schemeID="9930">{s.buyer_vat}</cbc:EndpointID>
    <cac:PostalAddress><cbc:StreetName>Kundenweg 7</cbc:StreetName><cbc:CityName>Berlin</cbc:CityName>
      <cbc:PostalZone>10115</cbc:PostalZone><cac:Country><cbc:IdentificationCode>DE</cbc:IdentificationCode></cac:Country>
    </cac:PostalAddress>
    <cac:PartyTaxScheme><cbc:CompanyID>{s.buyer_vat}</cbc:CompanyID><cac:TaxScheme><cbc:ID>VAT</cbc:ID></cac:TaxScheme></cac:PartyTaxScheme>
    <cac:PartyLegalEntity><cbc:RegistrationName>{escape(s.buyer)}</cbc:RegistrationName></cac:PartyLegalEntity>
  </cac:Party></cac:AccountingCustomerParty>
  <cac:PaymentMeans><cbc:PaymentMeansCode>58</cbc:PaymentMeansCode>
    <cac:PayeeFinancialAccount><cbc:ID>{s.iban}</cbc:ID>
      <cac:FinancialInstitutionBranch><cbc:ID>{s.bic}</cbc:ID></cac:FinancialInstitutionBranch></cac:PayeeFinancialAccount>
  </cac:PaymentMeans>
  <cac:PaymentTerms><cbc:Note>Zahlbar innerhalb von 30 Tagen ohne Abzug</cbc:Note></cac:PaymentTerms>
  <cac:TaxTotal>
    <cbc:TaxAmount currencyID="{s.currency}">{s.vat}</cbc:TaxAmount>
    <cac:TaxSubtotal>
      <cbc:TaxableAmount currencyID="{s.currency}">{s.net}</cbc:TaxableAmount>
      <cbc:TaxAmount currencyID="{s.currency}">{s.vat}</cbc:TaxAmount>
      <cac:TaxCategory><cbc:ID>S</cbc:ID><cbc:Percent>19</cbc:Percent><cac:TaxScheme><cbc:ID>VAT</cbc:ID></cac:TaxScheme></cac:TaxCategory>
    </cac:TaxSubtotal>
  </cac:TaxTotal>
  <cac:LegalMonetaryTotal>
    <cbc:LineExtensionAmount currencyID="{s.currency}">{s.net}</cbc:LineExtensionAmount>
    <cbc:TaxExclusiveAmount currencyID="{s.currency}">{s.net}</cbc:TaxExclusiveAmount>
    <cbc:TaxInclusiveAmount currencyID="{s.currency}">{s.total}</cbc:TaxInclusiveAmount>
    <cbc:PayableAmount currencyID="{s.currency}">{s.total}</cbc:PayableAmount>
  </cac:LegalMonetaryTotal>{lines}
</Invoice>
""".encode()


def cii(spec: Spec = Spec(), guideline: str = "urn:cen.eu:en16931:2017") -> bytes:
    """A UN/CEFACT CII invoice (Factur-X / ZUGFeRD 2 EN 16931 profile by default)."""
    s = spec
    d = s.issue_date.replace("-", "")
    due = s.due_date.replace("-", "")
    lines = "".join(f"""
    <ram:IncludedSupplyChainTradeLineItem>
      <ram:AssociatedDocumentLineDocument><ram:LineID>{i}</ram:LineID></ram:AssociatedDocumentLineDocument>
      <ram:SpecifiedTradeProduct><ram:Name>{escape(li.name)}</ram:Name></ram:SpecifiedTradeProduct>
      <ram:SpecifiedLineTradeAgreement><ram:NetPriceProductTradePrice><ram:ChargeAmount>{li.price}</ram:ChargeAmount></ram:NetPriceProductTradePrice></ram:SpecifiedLineTradeAgreement>
      <ram:SpecifiedLineTradeDelivery><ram:BilledQuantity unitCode="C62">{li.quantity}</ram:BilledQuantity></ram:SpecifiedLineTradeDelivery>
      <ram:SpecifiedLineTradeSettlement>
        <ram:ApplicableTradeTax><ram:TypeCode>VAT</ram:TypeCode><ram:CategoryCode>S</ram:CategoryCode><ram:RateApplicablePercent>{li.rate}</ram:RateApplicablePercent></ram:ApplicableTradeTax>
        <ram:SpecifiedTradeSettlementLineMonetarySummation><ram:LineTotalAmount>{li.amount}</ram:LineTotalAmount></ram:SpecifiedTradeSettlementLineMonetarySummation>
      </ram:SpecifiedLineTradeSettlement>
    </ram:IncludedSupplyChainTradeLineItem>""" for i, li in enumerate(s.lines, start=1))
    xrechnung = "xrechnung" in guideline
    contact = """
        <ram:DefinedTradeContact><ram:PersonName>Max Muster</ram:PersonName>
          <ram:TelephoneUniversalCommunication><ram:CompleteNumber>+49 89 1234567</ram:CompleteNumber></ram:TelephoneUniversalCommunication>
          <ram:EmailURIUniversalCommunication><ram:URIID>rechnung@musterlieferant.de</ram:URIID></ram:EmailURIUniversalCommunication>
        </ram:DefinedTradeContact>""" if xrechnung else ""
    seller_uri = '<ram:URIUniversalCommunication><ram:URIID schemeID="EM">rechnung@musterlieferant.de</ram:URIID>' \
                 '</ram:URIUniversalCommunication>' if xrechnung else ""
    buyer_uri = '<ram:URIUniversalCommunication><ram:URIID schemeID="EM">eingang@buerokunde.de</ram:URIID>' \
                '</ram:URIUniversalCommunication>' if xrechnung else ""
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<rsm:CrossIndustryInvoice xmlns:rsm="urn:un:unece:uncefact:data:standard:CrossIndustryInvoice:100"
    xmlns:ram="urn:un:unece:uncefact:data:standard:ReusableAggregateBusinessInformationEntity:100"
    xmlns:udt="urn:un:unece:uncefact:data:standard:UnqualifiedDataType:100"
    xmlns:qdt="urn:un:unece:uncefact:data:standard:QualifiedDataType:100">
  <rsm:ExchangedDocumentContext>
    <ram:GuidelineSpecifiedDocumentContextParameter><ram:ID>{guideline}</ram:ID></ram:GuidelineSpecifiedDocumentContextParameter>
  </rsm:ExchangedDocumentContext>
  <rsm:ExchangedDocument>
    <ram:ID>{escape(s.number)}</ram:ID>
    <ram:TypeCode>380</ram:TypeCode>
    <ram:IssueDateTime><udt:DateTimeString format="102">{d}</udt:DateTimeString></ram:IssueDateTime>
  </rsm:ExchangedDocument>
  <rsm:SupplyChainTradeTransaction>{lines}
    <ram:ApplicableHeaderTradeAgreement>
      <ram:BuyerReference>{escape(s.buyer_reference)}</ram:BuyerReference>
      <ram:SellerTradeParty>
        <ram:Name>{escape(s.seller)}</ram:Name>{contact}
        <ram:PostalTradeAddress><ram:PostcodeCode>80333</ram:PostcodeCode><ram:LineOne>Lieferantenstraße 20</ram:LineOne><ram:CityName>München</ram:CityName><ram:CountryID>DE</ram:CountryID></ram:PostalTradeAddress>
        {seller_uri}
        <ram:SpecifiedTaxRegistration><ram:ID schemeID="VA">{s.seller_vat}</ram:ID></ram:SpecifiedTaxRegistration>
      </ram:SellerTradeParty>
      <ram:BuyerTradeParty>
        <ram:Name>{escape(s.buyer)}</ram:Name>
        <ram:PostalTradeAddress><ram:PostcodeCode>10115</ram:PostcodeCode><ram:LineOne>Kundenweg 7</ram:LineOne><ram:CityName>Berlin</ram:CityName><ram:CountryID>DE</ram:CountryID></ram:PostalTradeAddress>
        {buyer_uri}
        <ram:SpecifiedTaxRegistration><ram:ID schemeID="VA">{s.buyer_vat}</ram:ID></ram:SpecifiedTaxRegistration>
      </ram:BuyerTradeParty>
    </ram:ApplicableHeaderTradeAgreement>
    <ram:ApplicableHeaderTradeDelivery>
      <ram:ActualDeliverySupplyChainEvent><ram:OccurrenceDateTime><udt:DateTimeString format="102">{d}</udt:DateTimeString></ram:OccurrenceDateTime></ram:ActualDeliverySupplyChainEvent>
    </ram:ApplicableHeaderTradeDelivery>
    <ram:ApplicableHeaderTradeSettlement>
      <ram:InvoiceCurrencyCode>{s.currency}</ram:InvoiceCurrencyCode>
      <ram:SpecifiedTradeSettlementPaymentMeans>
        <ram:TypeCode>58</ram:TypeCode>
        <ram:PayeePartyCreditorFinancialAccount><ram:IBANID>{s.iban}</ram:IBANID></ram:PayeePartyCreditorFinancialAccount>
        <ram:PayeeSpecifiedCreditorFinancialInstitution><ram:BICID>{s.bic}</ram:BICID></ram:PayeeSpecifiedCreditorFinancialInstitution>
      </ram:SpecifiedTradeSettlementPaymentMeans>
      <ram:ApplicableTradeTax>
        <ram:CalculatedAmount>{s.vat}</ram:CalculatedAmount><ram:TypeCode>VAT</ram:TypeCode>
        <ram:BasisAmount>{s.net}</ram:BasisAmount><ram:CategoryCode>S</ram:CategoryCode>
        <ram:RateApplicablePercent>19</ram:RateApplicablePercent>
      </ram:ApplicableTradeTax>
      <ram:SpecifiedTradePaymentTerms>
        <ram:Description>Zahlbar innerhalb von 30 Tagen ohne Abzug</ram:Description>
        <ram:DueDateDateTime><udt:DateTimeString format="102">{due}</udt:DateTimeString></ram:DueDateDateTime>
      </ram:SpecifiedTradePaymentTerms>
      <ram:SpecifiedTradeSettlementHeaderMonetarySummation>
        <ram:LineTotalAmount>{s.net}</ram:LineTotalAmount>
        <ram:TaxBasisTotalAmount>{s.net}</ram:TaxBasisTotalAmount>
        <ram:TaxTotalAmount currencyID="{s.currency}">{s.vat}</ram:TaxTotalAmount>
        <ram:GrandTotalAmount>{s.total}</ram:GrandTotalAmount>
        <ram:DuePayableAmount>{s.total}</ram:DuePayableAmount>
      </ram:SpecifiedTradeSettlementHeaderMonetarySummation>
    </ram:ApplicableHeaderTradeSettlement>
  </rsm:SupplyChainTradeTransaction>
</rsm:CrossIndustryInvoice>
""".encode()


def xrechnung_cii(spec: Spec = Spec()) -> bytes:
    return cii(spec, "urn:cen.eu:en16931:2017#compliant#urn:xeinkauf.de:kosit:xrechnung_3.0")


def _de(value: Decimal) -> str:
    """German amount formatting, as the picture prints it: 1.234,56."""
    return f"{value:,.2f}".replace(",", "X").replace(".", ",").replace("X", ".")


def _de_date(iso: str) -> str:
    y, m, d = iso.split("-")
    return f"{d}.{m}.{y}"


@dataclass(frozen=True)
class Picture:
    """What the visible layer prints; each None means "as in the XML"."""

    number: str | None = None
    total: Decimal | None = None
    iban: str | None = None
    extra: dict = field(default_factory=dict)


def visible_pdf(spec: Spec, picture: Picture = Picture()) -> bytes:
    from reportlab.lib.pagesizes import A4
    from reportlab.pdfgen import canvas

    buf = io.BytesIO()
    c = canvas.Canvas(buf, pagesize=A4)
    w, h = A4
    y = h - 60
    c.setFont("Helvetica-Bold", 14)
    c.drawString(50, y, spec.seller)
    c.setFont("Helvetica", 9)
    c.drawString(50, y - 14, "Lieferantenstraße 20, 80333 München")
    c.drawString(50, y - 26, f"USt-IdNr.: {spec.seller_vat}")
    c.setFont("Helvetica", 10)
    c.drawString(50, y - 70, spec.buyer)
    c.drawString(50, y - 84, "Kundenweg 7")
    c.drawString(50, y - 98, "10115 Berlin")
    c.setFont("Helvetica-Bold", 16)
    c.drawString(50, y - 140, "Rechnung")
    c.setFont("Helvetica", 10)
    rows = [("Rechnungsnummer:", picture.number or spec.number), ("Rechnungsdatum:", _de_date(spec.issue_date)),
            ("Fällig am:", _de_date(spec.due_date))]
    for i, (label, value) in enumerate(rows):
        c.drawString(50, y - 165 - 14 * i, label)
        c.drawString(170, y - 165 - 14 * i, value)
    ty = y - 230
    c.setFont("Helvetica-Bold", 10)
    for x, title in ((50, "Pos."), (90, "Beschreibung"), (300, "Menge"), (370, "Einzelpreis"), (470, "Betrag")):
        c.drawString(x, ty, title)
    c.setFont("Helvetica", 10)
    for i, li in enumerate(spec.lines, start=1):
        ly = ty - 16 * i
        c.drawString(50, ly, str(i))
        c.drawString(90, ly, li.name)
        c.drawRightString(340, ly, f"{li.quantity}")
        c.drawRightString(430, ly, f"{_de(li.price)} €")
        c.drawRightString(530, ly, f"{_de(li.amount)} €")
    sy = ty - 16 * (len(spec.lines) + 2)
    total = picture.total if picture.total is not None else spec.total
    for i, (label, value) in enumerate((("Nettobetrag:", spec.net), ("USt. 19 %:", spec.vat),
                                        ("Gesamtbetrag:", total))):
        c.drawString(370, sy - 14 * i, label)
        c.drawRightString(530, sy - 14 * i, f"{_de(value)} €")
    c.setFont("Helvetica", 9)
    iban = picture.iban or spec.iban
    c.drawString(50, 90, f"Bankverbindung: IBAN {' '.join(iban[i:i + 4] for i in range(0, len(iban), 4))}  "
                         f"BIC {spec.bic}")
    c.drawString(50, 78, "Zahlbar innerhalb von 30 Tagen ohne Abzug.")
    c.showPage()
    c.save()
    return buf.getvalue()


def zugferd_pdf(spec: Spec = Spec(), picture: Picture = Picture()) -> bytes:
    """A Factur-X / ZUGFeRD 2 (EN 16931 profile) hybrid: the CII XML embedded as factur-x.xml."""
    from facturx import generate_from_binary

    return generate_from_binary(visible_pdf(spec, picture), cii(spec), flavor="factur-x", level="en16931",
                                check_xsd=True, check_schematron=False)


def basicwl_pdf(spec: Spec = Spec()) -> bytes:
    """A Factur-X BASIC WL hybrid: header and totals in the XML, no invoice lines (the picture
    shows them)."""
    import re

    from facturx import generate_from_binary

    xml = cii(spec, "urn:factur-x.eu:1p0:basicwl").decode()
    for element in ("IncludedSupplyChainTradeLineItem", "PayeeSpecifiedCreditorFinancialInstitution"):
        xml = re.sub(rf"\s*<ram:{element}>.*?</ram:{element}>", "", xml, flags=re.S)
    return generate_from_binary(visible_pdf(spec), xml.encode(), flavor="factur-x", level="basicwl", check_xsd=True)


def tampered(spec: Spec = Spec()) -> tuple[bytes, Picture]:
    """A hybrid whose picture shows another total and another IBAN than its XML."""
    picture = Picture(total=spec.total + Decimal("900.00"), iban="DE02120300000000202051")
    return zugferd_pdf(spec, picture), picture


__all__ = ["Line", "Picture", "Spec", "basicwl_pdf", "cii", "peppol_ubl", "replace", "tampered", "visible_pdf", "xrechnung_cii",
           "zugferd_pdf"]
