"""E-invoice benchmark on a local copy of the ZUGFeRD corpus (and, optionally, the KoSIT
XRechnung test suite): exactness of the business terms, agreement of the validity verdict
with the corpus's own correct/fail folders, and time per document beside a born-digital PDF
without XML, in the same run.

    git clone https://github.com/ZUGFeRD/corpus /tmp/zugferd-corpus         # Apache-2.0
    git clone https://github.com/itplr-kosit/xrechnung-testsuite /tmp/xrts   # optional
    python benchmarks/einvoice/run.py --corpus /tmp/zugferd-corpus [--xrechnung /tmp/xrts] [--limit N]

What it measures
----------------
1. **Terms exact**: for every file with an e-invoice, the values the pipeline stores (the
   extraction stage's normalized fields) against the XML read independently here with plain
   XPath (CII and UBL paths of EN 16931, ZUGFeRD 1.0 paths): invoice number (BT-1), issue date
   (BT-2), currency (BT-5), net (BT-109), VAT (BT-110), total (BT-112), amount due (BT-115),
   seller name (BT-27), seller VAT id (BT-31). Share of files with every one of them exact, and
   per term.
2. **Validity verdict**: our offline validation (XSD + EN 16931 + XRechnung where claimed)
   against the folder the corpus put the file in (`correct` / `fail`; in `XML-Rechnung`,
   files named `not_validating*` are expected invalid). Agreement, and the confusion counts.
3. **Time per document**: the whole e-invoice path (find the XML, read it, render and read the
   picture of a hybrid, cross-check, validate, judge), median and p90, beside the usual path
   (render, text layer, local extractor, extraction, evaluation) of a born-digital PDF without
   XML, measured in the same process, as a ratio. `--plain N` generated invoices are timed
   twice, alternately: as a PDF without XML and as the same PDF with its Factur-X XML (twins, the
   fair comparison); the corpus's hybrids (often several pages with images) and bare XML files
   are reported beside them.

Everything runs in one process through the real stage functions (no Celery, no database),
as `benchmarks/accuracy/run.py` does.
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

from lxml import etree

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests"))

from invoice.scanner.processing import sniff  # noqa: E402
from invoice.scanner.processing.config import Settings  # noqa: E402
from invoice.scanner.processing.einvoice import flow, pdf  # noqa: E402

CII = {"rsm": "urn:un:unece:uncefact:data:standard:CrossIndustryInvoice:100",
       "ram": "urn:un:unece:uncefact:data:standard:ReusableAggregateBusinessInformationEntity:100",
       "udt": "urn:un:unece:uncefact:data:standard:UnqualifiedDataType:100"}
UBL = {"cbc": "urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2",
       "cac": "urn:oasis:names:specification:ubl:schema:xsd:CommonAggregateComponents-2"}
ZF1 = {"rsm": "urn:ferd:CrossIndustryDocument:invoice:1p0",
       "ram": "urn:un:unece:uncefact:data:standard:ReusableAggregateBusinessInformationEntity:12",
       "udt": "urn:un:unece:uncefact:data:standard:UnqualifiedDataType:15"}
_CS = "rsm:SupplyChainTradeTransaction/ram:ApplicableHeaderTradeSettlement"
_CA = "rsm:SupplyChainTradeTransaction/ram:ApplicableHeaderTradeAgreement"
_CM = f"{_CS}/ram:SpecifiedTradeSettlementHeaderMonetarySummation"
# field -> XPath per syntax, written here independently of the pipeline's reader.
REFERENCE = {
    "invoice_number": {"cii": "rsm:ExchangedDocument/ram:ID", "ubl": "cbc:ID",
                       "zugferd1": "rsm:HeaderExchangedDocument/ram:ID"},
    "invoice_date": {"cii": "rsm:ExchangedDocument/ram:IssueDateTime/udt:DateTimeString", "ubl": "cbc:IssueDate",
                     "zugferd1": "rsm:HeaderExchangedDocument/ram:IssueDateTime/udt:DateTimeString"},
    "currency": {"cii": f"{_CS}/ram:InvoiceCurrencyCode", "ubl": "cbc:DocumentCurrencyCode",
                 "zugferd1": "rsm:SpecifiedSupplyChainTradeTransaction/ram:ApplicableSupplyChainTradeSettlement"
                             "/ram:InvoiceCurrencyCode"},
    "amount": {"cii": f"{_CM}/ram:TaxBasisTotalAmount", "ubl": "cac:LegalMonetaryTotal/cbc:TaxExclusiveAmount",
               "zugferd1": "rsm:SpecifiedSupplyChainTradeTransaction/ram:ApplicableSupplyChainTradeSettlement"
                           "/ram:SpecifiedTradeSettlementMonetarySummation/ram:TaxBasisTotalAmount"},
    "vat": {"cii": f"{_CM}/ram:TaxTotalAmount", "ubl": "cac:TaxTotal/cbc:TaxAmount",
            "zugferd1": "rsm:SpecifiedSupplyChainTradeTransaction/ram:ApplicableSupplyChainTradeSettlement"
                        "/ram:SpecifiedTradeSettlementMonetarySummation/ram:TaxTotalAmount"},
    "total": {"cii": f"{_CM}/ram:GrandTotalAmount", "ubl": "cac:LegalMonetaryTotal/cbc:TaxInclusiveAmount",
              "zugferd1": "rsm:SpecifiedSupplyChainTradeTransaction/ram:ApplicableSupplyChainTradeSettlement"
                          "/ram:SpecifiedTradeSettlementMonetarySummation/ram:GrandTotalAmount"},
    "amount_due": {"cii": f"{_CM}/ram:DuePayableAmount", "ubl": "cac:LegalMonetaryTotal/cbc:PayableAmount",
                   "zugferd1": "rsm:SpecifiedSupplyChainTradeTransaction/ram:ApplicableSupplyChainTradeSettlement"
                               "/ram:SpecifiedTradeSettlementMonetarySummation/ram:DuePayableAmount"},
    "vendor_name": {"cii": f"{_CA}/ram:SellerTradeParty/ram:Name",
                    "ubl": "cac:AccountingSupplierParty/cac:Party/cac:PartyLegalEntity/cbc:RegistrationName",
                    "zugferd1": "rsm:SpecifiedSupplyChainTradeTransaction/ram:ApplicableSupplyChainTradeAgreement"
                                "/ram:SellerTradeParty/ram:Name"},
    "vendor_tax_id": {"cii": f"{_CA}/ram:SellerTradeParty/ram:SpecifiedTaxRegistration/ram:ID[@schemeID='VA']",
                      "ubl": "cac:AccountingSupplierParty/cac:Party/cac:PartyTaxScheme[cac:TaxScheme/cbc:ID='VAT']"
                             "/cbc:CompanyID",
                      "zugferd1": "rsm:SpecifiedSupplyChainTradeTransaction/ram:ApplicableSupplyChainTradeAgreement"
                                  "/ram:SellerTradeParty/ram:SpecifiedTaxRegistration/ram:ID[@schemeID='VA']"},
}
AMOUNTS = {"amount", "vat", "total", "amount_due"}


def reference_values(xml: bytes, syntax: str) -> dict[str, str | None]:
    tree = etree.fromstring(xml, etree.XMLParser(resolve_entities=False, no_network=True))
    key = "ubl" if syntax.startswith("ubl") else syntax
    ns = {"cii": CII, "ubl": UBL, "zugferd1": ZF1}[key]
    out = {}
    for name, paths in REFERENCE.items():
        found = tree.xpath(paths[key], namespaces=ns)
        if name == "vat" and key == "ubl":  # the TaxTotal in the document currency
            found = [n for n in found if n.get("currencyID") in (None, tree.findtext("cbc:DocumentCurrencyCode",
                                                                                    namespaces=UBL))]
        if name == "vat" and key == "cii":
            cur = tree.findtext(f"{_CS}/ram:InvoiceCurrencyCode", namespaces=CII)
            found = [n for n in found if n.get("currencyID") in (None, cur)]
        out[name] = found[0].text.strip() if found and found[0].text and found[0].text.strip() else None
    return out


def _normal(name: str, raw: str | None):
    if raw is None:
        return None
    if name in AMOUNTS:
        return round(float(raw), 2)
    if name == "invoice_date":
        digits = raw.replace("-", "")
        return f"{digits[:4]}-{digits[4:6]}-{digits[6:8]}" if len(digits) == 8 and digits.isdigit() else raw
    if name == "vendor_tax_id":
        return raw.replace(" ", "").upper()
    return " ".join(raw.split())


def expected_validity(path: Path) -> bool | None:
    parts = {p.lower() for p in path.parts}
    if "fail" in parts:
        return False
    if "correct" in parts or "valid" in parts:
        return True
    if "xml-rechnung" in parts:
        return not path.name.startswith("not_validating")
    if "business-cases" in parts:
        return True  # the KoSIT suite's business cases are valid XRechnung
    return None


def files(corpus: Path, xrechnung: Path | None) -> list[Path]:
    found = []
    for sub in ("ZUGFeRDv1", "ZUGFeRDv2", "XML-Rechnung", "PEPPOL"):
        found += sorted(p for p in (corpus / sub).rglob("*") if p.suffix.lower() in (".pdf", ".xml"))
    if xrechnung:
        found += sorted((xrechnung / "src" / "test" / "business-cases" / "standard").glob("*.xml"))
    return found


def twin_seconds(settings: Settings, work: Path, n: int) -> tuple[list[float], list[float]]:
    """Generated twins: the same one-page invoice as a born-digital PDF without XML (usual path)
    and as a Factur-X hybrid (e-invoice path), alternately, so both see the same machine load."""
    import einvoicegen as gen

    plain, hybrid = [], []
    for i in range(n):
        spec = gen.Spec(number=f"TWIN-{i}")
        path = work / f"twin-{i}.pdf"
        path.write_bytes(gen.zugferd_pdf(spec))
        started = time.perf_counter()
        flow.run_in_process(path, settings, work / f"twin-pages-{i}")
        hybrid.append(time.perf_counter() - started)
        plain += plain_pdf_seconds(settings, work, 1, spec)
    return plain, hybrid


def plain_pdf_seconds(settings: Settings, work: Path, n: int, spec=None) -> list[float]:
    """The usual path for a born-digital PDF without XML (the same visible layer as the hybrids)."""
    import einvoicegen as gen

    from invoice.scanner.processing.stages.evaluation import evaluate
    from invoice.scanner.processing.stages.extraction import extract
    from invoice.scanner.processing.stages.llm.local import LocalProvider
    from invoice.scanner.processing.stages.ocr import ocr_pages
    from invoice.scanner.processing.stages.preprocessing import preprocess

    times = []
    for i in range(n):
        path = work / f"plain-{i}.pdf"
        path.write_bytes(gen.visible_pdf(spec or gen.Spec(number=f"PLAIN-{i}")))
        started = time.perf_counter()
        pages = ocr_pages(preprocess(path, sniff.PDF, work / f"plain-pages-{i}", settings), settings)
        extraction = extract(LocalProvider(settings).predict(pages, []), pages)
        evaluate(extraction, settings.approval_threshold)
        times.append(time.perf_counter() - started)
    return times


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--corpus", type=Path, required=True, help="local copy of github.com/ZUGFeRD/corpus")
    ap.add_argument("--xrechnung", type=Path, help="local copy of github.com/itplr-kosit/xrechnung-testsuite")
    ap.add_argument("--limit", type=int, default=0)
    ap.add_argument("--plain", type=int, default=10,
                    help="generated invoices timed twice: as a PDF without XML and as a Factur-X hybrid")
    ap.add_argument("--json", type=Path, help="write per-file results here")
    args = ap.parse_args()
    settings = Settings()
    from invoice.scanner.processing.einvoice.validate import get_validator

    get_validator(settings.einvoice_peppol_xslt or None).warm_up()  # once per process, as in a worker
    todo = files(args.corpus, args.xrechnung)
    if args.limit:
        todo = todo[:args.limit]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        plain, twins = twin_seconds(settings, work, args.plain)
        for i, path in enumerate(todo):
            row = {"file": str(path.relative_to(path.parents[len(path.parents) - 1])), "expected_valid":
                   expected_validity(path)}
            try:
                result = flow.run_in_process(path, settings, work / f"pages-{i}")
            except Exception as exc:  # a benchmark reports every failure and goes on
                row["error"] = f"{type(exc).__name__}: {exc}"[:300]
                rows.append(row)
                continue
            row["seconds"] = round(result.seconds, 4)
            row["kind"] = "pdf" if path.suffix.lower() == ".pdf" else "xml"
            if result.row is None:
                row["einvoice"] = False
                rows.append(row)
                continue
            row.update(einvoice=True, syntax=result.row.syntax, profile=result.row.profile,
                       valid=result.validation.valid, approved=result.evaluation.approved,
                       rules=sorted({f.rule for f in result.validation.errors})[:10])
            if result.row.syntax and not result.row.read_error:
                ref = reference_values(result.row.xml, result.row.syntax)
                ours = {n: result.extraction.fields[n].value for n in REFERENCE}
                row["terms"] = {n: _normal(n, ref[n]) == (round(ours[n], 2) if n in AMOUNTS and ours[n] is not None
                                                          else ours[n]) for n in REFERENCE}
                row["mismatch"] = {n: (ours[n], ref[n]) for n, ok in row["terms"].items() if not ok}
            rows.append(row)
            print(f"{i + 1}/{len(todo)} {row['file']}: {row.get('syntax')} valid={row.get('valid')} "
                  f"expected={row['expected_valid']} {row.get('mismatch') or ''}", file=sys.stderr)
    report(rows, plain, twins)
    if args.json:
        args.json.write_text(json.dumps({"rows": rows, "plain_seconds": plain, "hybrid_twin_seconds": twins},
                                        indent=1, default=str))


def report(rows: list[dict], plain: list[float], twins: list[float]) -> None:
    einv = [r for r in rows if r.get("einvoice")]
    termed = [r for r in einv if "terms" in r]
    print(f"files: {len(rows)}; with an e-invoice: {len(einv)}; without: "
          f"{sum(1 for r in rows if r.get('einvoice') is False)}; errors: {sum(1 for r in rows if 'error' in r)}")
    if termed:
        exact = sum(1 for r in termed if all(r["terms"].values()))
        print(f"\nterms exact (all {len(REFERENCE)} checked terms equal the XML): {exact}/{len(termed)} = "
              f"{exact / len(termed):.1%}")
        for name in REFERENCE:
            ok = sum(1 for r in termed if r["terms"][name])
            print(f"  {name:15s} {ok}/{len(termed)} = {ok / len(termed):.1%}")
    judged = [r for r in einv if r["expected_valid"] is not None]
    if judged:
        agree = sum(1 for r in judged if r["valid"] == r["expected_valid"])
        tp = sum(1 for r in judged if r["valid"] and r["expected_valid"])
        tn = sum(1 for r in judged if not r["valid"] and not r["expected_valid"])
        fp = sum(1 for r in judged if r["valid"] and not r["expected_valid"])
        fn = sum(1 for r in judged if not r["valid"] and r["expected_valid"])
        print(f"\nvalidity verdict agrees with the corpus folder: {agree}/{len(judged)} = {agree / len(judged):.1%}")
        print(f"  correct->valid {tp}, fail->invalid {tn}, fail->valid {fp}, correct->invalid {fn}")
        by_syntax: dict[str, list[dict]] = {}
        for r in judged:
            by_syntax.setdefault(f"{r['syntax']}/{r['profile']}", []).append(r)
        for key, rs in sorted(by_syntax.items()):
            a = sum(1 for r in rs if r["valid"] == r["expected_valid"])
            print(f"  {key:28s} {a}/{len(rs)}")
    t_pdf = [r["seconds"] for r in einv if r.get("kind") == "pdf"]
    t_xml = [r["seconds"] for r in einv if r.get("kind") == "xml"]

    def stats(ts):
        ts = sorted(ts)
        return f"median {statistics.median(ts):.3f} s, p90 {ts[int(0.9 * (len(ts) - 1))]:.3f} s (n={len(ts)})"

    print("\ntime per document (one process):")
    if plain:
        print(f"  generated born-digital PDF without XML (usual path): {stats(plain)}")
    if twins:
        print(f"  the same invoices as Factur-X hybrids (e-invoice path): {stats(twins)}"
              + (f"; ratio {statistics.median(twins) / statistics.median(plain):.2f}" if plain else ""))
    if t_pdf:
        print(f"  corpus hybrid PDFs (e-invoice path, incl. reading the picture): {stats(t_pdf)}"
              + (f"; ratio to the usual path {statistics.median(t_pdf) / statistics.median(plain):.2f}" if plain else ""))
    if t_xml:
        print(f"  bare XML (e-invoice path): {stats(t_xml)}"
              + (f"; ratio to the usual path {statistics.median(t_xml) / statistics.median(plain):.2f}" if plain else ""))


if __name__ == "__main__":
    main()
