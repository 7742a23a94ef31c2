"""The invoice fields the pipeline extracts: one list for every provider, the extraction
stage, the evaluation stage and the API.

The first block are the flat keys of docs/API_CONTRACT.md (`amount` = net, `vat` = tax,
`total` = gross). The rest sit beside them in `fields`.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class FieldSpec:
    name: str
    kind: str  # text | date | amount | currency | iban | bic | tax_id
    description: str
    core: bool = False  # must be right for a document to be auto-approved


FIELDS: tuple[FieldSpec, ...] = (
    FieldSpec("invoice_number", "text", "The invoice's own number or identifier", core=True),
    FieldSpec("invoice_date", "date", "Date the invoice was issued", core=True),
    FieldSpec("due_date", "date", "Date payment is due", core=True),
    FieldSpec("vendor_name", "text", "Name of the company that issued the invoice (seller)", core=True),
    FieldSpec("customer_name", "text", "Name of the billed company or person (buyer)"),
    FieldSpec("currency", "currency", "ISO 4217 code of the invoice currency", core=True),
    FieldSpec("amount", "amount", "Net amount: subtotal before tax", core=True),
    FieldSpec("vat", "amount", "Tax (VAT/GST/sales tax) amount", core=True),
    FieldSpec("total", "amount", "Gross total including tax", core=True),
    FieldSpec("amount_due", "amount", "Amount still to pay (total less payments already made)"),
    FieldSpec("vendor_address", "text", "Seller's postal address"),
    FieldSpec("vendor_tax_id", "tax_id", "Seller's VAT or tax identification number"),
    FieldSpec("customer_address", "text", "Buyer's postal address"),
    FieldSpec("customer_tax_id", "tax_id", "Buyer's VAT or tax identification number"),
    FieldSpec("purchase_order", "text", "Buyer's purchase order number"),
    FieldSpec("payment_terms", "text", "Payment terms as written, e.g. 'Net 30'"),
    FieldSpec("iban", "iban", "Seller's bank account IBAN"),
    FieldSpec("bic", "bic", "Seller's bank BIC/SWIFT code"),
)

FIELD_NAMES: tuple[str, ...] = tuple(f.name for f in FIELDS)
FIELD_BY_NAME = {f.name: f for f in FIELDS}
CORE_FIELDS: tuple[str, ...] = tuple(f.name for f in FIELDS if f.core)
CONTRACT_FLAT_FIELDS: tuple[str, ...] = (
    "invoice_number", "invoice_date", "due_date", "vendor_name", "customer_name",
    "currency", "amount", "vat", "total",
)
LINE_ITEM_FIELDS: tuple[str, ...] = ("description", "quantity", "unit_price", "amount", "tax_rate")
# Beside the fields, every result says what kind of document it is (`extract.doctype`):
# invoice | credit_note | receipt. Decided by the extraction stage from the pages, whatever
# the provider, so it is not one of the provider's fields above.
DOCUMENT_TYPE = "document_type"


def json_schema() -> dict:
    """One JSON schema for every vendor's structured output (OpenAI response_format,
    Anthropic tool input, Gemini response schema). Values are strings exactly as printed
    on the invoice; the extraction stage normalizes them."""
    nullable_str = {"type": ["string", "null"]}
    return {
        "type": "object",
        "additionalProperties": False,
        "properties": {
            **{f.name: {**nullable_str, "description": f.description} for f in FIELDS},
            "line_items": {
                "type": "array",
                "items": {
                    "type": "object",
                    "additionalProperties": False,
                    "properties": {k: nullable_str for k in LINE_ITEM_FIELDS},
                    "required": list(LINE_ITEM_FIELDS),
                },
            },
        },
        "required": [*FIELD_NAMES, "line_items"],
    }


# E-invoices (UBL and CII alike) carry EN 16931 business terms; this is the one table from
# those terms to our fields. Each entry: (business term, where it sits in the parsed terms:
# a BT key, or "BG-x.<party field>" inside a party group, as `einvoice.terms` produces them).
EN16931_TERMS: dict[str, tuple[str, str]] = {
    "invoice_number": ("BT-1", "BT-1"),              # Invoice number
    "invoice_date": ("BT-2", "BT-2"),                # Invoice issue date
    "due_date": ("BT-9", "BT-9"),                    # Payment due date
    "vendor_name": ("BT-27", "BG-4.name"),           # Seller name
    "customer_name": ("BT-44", "BG-7.name"),         # Buyer name
    "currency": ("BT-5", "BT-5"),                    # Invoice currency code
    "amount": ("BT-109", "BT-109"),                  # Invoice total amount without VAT
    "vat": ("BT-110", "BT-110"),                     # Invoice total VAT amount
    "total": ("BT-112", "BT-112"),                   # Invoice total amount with VAT
    "amount_due": ("BT-115", "BT-115"),              # Amount due for payment
    "vendor_address": ("BG-5", "BG-4.address"),      # Seller postal address
    "vendor_tax_id": ("BT-31", "BG-4.vat_identifier"),  # Seller VAT identifier
    "customer_address": ("BG-8", "BG-7.address"),    # Buyer postal address
    "customer_tax_id": ("BT-48", "BG-7.vat_identifier"),  # Buyer VAT identifier
    "purchase_order": ("BT-13", "BT-13"),            # Purchase order reference
    "payment_terms": ("BT-20", "BT-20"),             # Payment terms
    "iban": ("BT-84", "BT-84"),                      # Payment account identifier
    "bic": ("BT-86", "BT-86"),                       # Payment service provider identifier
}
# Invoice line (BG-25) terms behind `LINE_ITEM_FIELDS`.
EN16931_LINE_TERMS: dict[str, str] = {
    "description": "BT-153",  # Item name
    "quantity": "BT-129",     # Invoiced quantity
    "unit_price": "BT-146",   # Item net price
    "amount": "BT-131",       # Invoice line net amount
    "tax_rate": "BT-152",     # Invoiced item VAT rate
}
