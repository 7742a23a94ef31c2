"""How an e-invoice goes through the five stages. Each stage calls its hook here first; a
document without an e-invoice gets `None` back and takes the usual path.

- preprocessing: a bare XML is read (no pages to render); a PDF is rendered as always, then
  its attachments are searched for the invoice XML. The XML is stored byte for byte.
- ocr: unchanged (a hybrid's visible layer is read from its text layer or by OCR; a bare XML
  has no pages).
- llm: the predictions come from the XML (provider `xml`, confidence 1.0), not from a model;
  for a hybrid the local extractor also reads the visible layer, for the cross-check.
- extraction: the fields are the XML's business terms through the one mapping table
  (`fields.EN16931_TERMS`), normalized exactly, provenance `xml`; the line items are the XML's
  (MINIMUM and BASIC WL carry none: theirs come from the visible layer); the picture is
  cross-checked against the XML.
- evaluation: XSD and Schematron validation, then the verdict: a valid EN 16931 invoice whose
  picture agrees is approved on its own evidence; an invalid one never is.
"""
from __future__ import annotations

import logging
from dataclasses import asdict, dataclass
from datetime import date
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from invoice.scanner.processing import sniff
from invoice.scanner.processing.einvoice import store
from invoice.scanner.processing.einvoice.terms import EInvoice, SUB_EN16931_LEVELS
from invoice.scanner.processing.fields import CORE_FIELDS, DOCUMENT_TYPE, FIELD_BY_NAME, FIELD_NAMES
from invoice.scanner.processing.models import (Evaluation, Extraction, FieldPrediction, LineItemPrediction, LlmUsage,
                                               NormalizedField, NormalizedLineItem, Prediction)

logger = logging.getLogger(__name__)

XML_PROVIDER = "xml"
# EN 16931 BT-3 (UNTDID 1001) codes of a credit note: commercial, self-billed, factored, ...
CREDIT_NOTE_TYPE_CODES = ("381", "261", "396", "532")
REQUIRED = ("invoice_number", "invoice_date", "vendor_name", "currency", "total")
CENT = 0.011
MAX_RULE_REASONS = 20


@dataclass(frozen=True)
class Found:
    source: str  # "xml" (the upload is the XML) or the PDF attachment's name
    detail: dict[str, Any]

    @property
    def bare(self) -> bool:
        return self.source == "xml"


def _einvoice(row: store.EInvoiceRow) -> EInvoice:
    return EInvoice(row.syntax or "", row.profile, row.customization_id, list(row.claims or []), row.terms or {},
                    row.source)


# -- preprocessing ------------------------------------------------------------------------------

def at_preprocessing(database_url: str, document_id: str, source: Path) -> Found | None:
    """Find, read and store the document's e-invoice, if it has one."""
    from invoice.scanner.processing.einvoice import pdf, terms

    kind = sniff.sniff_file(source)
    if kind == sniff.XML:
        origin, data = "xml", source.read_bytes()
    elif kind == sniff.PDF:
        found = pdf.embedded_xml(source)
        if found is None:
            store.delete(database_url, document_id)
            return None
        origin, data = found
    else:
        store.delete(database_url, document_id)
        return None
    try:
        inv = terms.read(data, origin)
    except (sniff.XmlRejected, terms.EInvoiceError) as exc:
        # Not readable as an e-invoice: a format error, which evaluation reports; the XML is
        # still kept as received.
        message = getattr(exc, "message", None) or str(exc)
        store.save_read(database_url, document_id, origin, data, read_error=message[:1000])
        return Found(origin, {"source": origin, "read_error": message[:300]})
    store.save_read(database_url, document_id, origin, data, syntax=inv.syntax, profile=inv.level,
                    customization_id=inv.customization_id, claims=inv.claims, terms=inv.terms,
                    summary=terms.summary(inv))
    return Found(origin, {"source": origin, "syntax": inv.syntax, "profile": inv.level, "claims": inv.claims})


# -- llm -----------------------------------------------------------------------------------------

def xml_prediction(row: store.EInvoiceRow) -> Prediction:
    """The XML's values as a prediction: raw strings exactly as the XML writes them."""
    from invoice.scanner.processing.einvoice import terms

    values = terms.field_values(row.terms or {})
    fields = {name: FieldPrediction(name=name, value=values.get(name), confidence=1.0) for name in FIELD_NAMES}
    items = [LineItemPrediction(description=li["description"], quantity=li["quantity"], unit_price=li["unit_price"],
                                amount=li["amount"], tax_rate=li["tax_rate"], confidence=1.0)
             for li in terms.line_values(row.terms or {})]
    return Prediction(fields=fields, line_items=items,
                      usage=LlmUsage(provider=XML_PROVIDER, model=f"{row.syntax}/{row.profile}"))


def at_llm(ctx) -> Any:
    """Predictions from the XML; for a hybrid, the local extractor's reading of the picture too."""
    from invoice.scanner.processing.runner import StageOutcome

    doc_id = str(ctx.document.id)
    row = store.load(ctx.settings.database_url, doc_id)
    if row is None:
        return None
    prediction = xml_prediction(row) if row.terms is not None else Prediction(
        {n: FieldPrediction(n, None, 0.0) for n in FIELD_NAMES}, [], LlmUsage(provider=XML_PROVIDER))
    pages = ctx.repo.load_ocr(doc_id)
    visible = None
    if pages:
        from invoice.scanner.processing.stages.llm.local import LocalProvider

        visible = LocalProvider(ctx.settings).predict(pages, [])
        store.update(ctx.settings.database_url, doc_id, visible=_prediction_dict(visible))
    else:
        store.update(ctx.settings.database_url, doc_id, visible=None)
    ctx.repo.save_prediction(doc_id, prediction)
    return StageOutcome(detail={
        "provider": XML_PROVIDER, "model": prediction.usage.model, "einvoice": row.source,
        "fields_found": sum(1 for f in prediction.fields.values() if f.value), "line_items": len(prediction.line_items),
        "visible_layer": "local" if visible else None, "usage": asdict(prediction.usage)})


def _prediction_dict(p: Prediction) -> dict[str, Any]:
    return {"fields": {k: asdict(v) for k, v in p.fields.items()}, "line_items": [asdict(i) for i in p.line_items],
            "usage": asdict(p.usage)}


def _prediction_from(d: dict[str, Any]) -> Prediction:
    def bbox(v):
        return tuple(v) if v is not None else None

    return Prediction(
        fields={k: FieldPrediction(**{**v, "bbox": bbox(v.get("bbox"))}) for k, v in d["fields"].items()},
        line_items=[LineItemPrediction(**{**i, "bbox": bbox(i.get("bbox"))}) for i in d["line_items"]],
        usage=LlmUsage(**d["usage"]))


# -- extraction ----------------------------------------------------------------------------------

def normalize_xml_value(name: str, raw: str | None) -> NormalizedField:
    """A business term's value to our field, exactly: no guessing of formats, the syntax fixed them."""
    from invoice.scanner.processing.extract.normalize import validate_bic, validate_iban, validate_tax_id

    nf = NormalizedField(name=name, value=None, raw_value=raw, confidence=1.0)
    if raw is None or not str(raw).strip():
        nf.raw_value = None
        return nf
    raw = str(raw).strip()
    kind = FIELD_BY_NAME[name].kind
    if kind == "date":
        try:
            nf.value = date.fromisoformat(raw).isoformat()
        except ValueError:
            nf.valid, nf.error = False, f"not an ISO date {raw!r}"
    elif kind == "amount":
        try:
            nf.value = float(Decimal(raw))
        except InvalidOperation:
            nf.valid, nf.error = False, f"not a decimal amount {raw!r}"
    elif kind == "currency":
        nf.value = raw.upper()
    elif kind == "iban":
        nf.value, err = validate_iban(raw)
        if err:
            nf.valid, nf.error = False, err
    elif kind == "bic":
        nf.value, err = validate_bic(raw)
        if err:
            nf.valid, nf.error = False, err
    elif kind == "tax_id":
        nf.value, err = validate_tax_id(raw)
        if err:
            nf.valid, nf.error = False, err
    else:
        nf.value = " ".join(raw.split())
    return nf


def _decimal(raw: str | None) -> float | None:
    if raw is None:
        return None
    try:
        return float(Decimal(str(raw)))
    except InvalidOperation:
        return None


def xml_extraction(prediction: Prediction) -> Extraction:
    fields = {name: normalize_xml_value(name, (prediction.fields.get(name) or FieldPrediction(name, None, 1.0)).value)
              for name in FIELD_NAMES}
    items = [NormalizedLineItem(position=pos, description=li.description, quantity=_decimal(li.quantity),
                                unit_price=_decimal(li.unit_price), amount=_decimal(li.amount),
                                tax_rate=_decimal(li.tax_rate), confidence=1.0)
             for pos, li in enumerate(prediction.line_items, start=1)]
    return Extraction(fields=fields, line_items=items)


def combine(extraction: Extraction, profile: str | None, visible: Extraction | None, pages) -> tuple:
    """The XML's extraction with what the picture adds: the cross-check, the page and box of each
    value the picture shows, and (MINIMUM, BASIC WL) the line items. (extraction, check, item source)"""
    from invoice.scanner.processing.einvoice.crosscheck import AGREE, cross_check

    check = cross_check(extraction.fields, visible, pages) if visible is not None else None
    if check:
        # Where the picture shows the XML's value, point at it (page and box) for the reviewer.
        for name, r in check["fields"].items():
            if r["outcome"] == AGREE and r["bbox"]:
                extraction.fields[name].page, extraction.fields[name].bbox = r["page"], tuple(r["bbox"])
    item_source = "xml"
    if profile in SUB_EN16931_LEVELS and not extraction.line_items and visible is not None:
        extraction.line_items = visible.line_items  # MINIMUM and BASIC WL carry no lines
        item_source = "page"
    return extraction, check, item_source


def is_credit_note(row: store.EInvoiceRow) -> bool:
    return row.syntax == sniff.UBL_CREDIT_NOTE or (row.terms or {}).get("BT-3") in CREDIT_NOTE_TYPE_CODES


def document_type_field(row: store.EInvoiceRow) -> NormalizedField:
    """`document_type` from what the XML says it is (its syntax, BT-3): an e-invoice is an
    invoice or a credit note, never a receipt."""
    from invoice.scanner.processing.extract import doctype

    code = (row.terms or {}).get("BT-3")
    value = doctype.CREDIT_NOTE if is_credit_note(row) else doctype.INVOICE
    return NormalizedField(name=DOCUMENT_TYPE, value=value, raw_value=code, confidence=1.0)


def at_extraction(ctx) -> Any:
    from invoice.scanner.processing.runner import StageOutcome
    from invoice.scanner.processing.stages.extraction import extract

    doc_id = str(ctx.document.id)
    row = store.load(ctx.settings.database_url, doc_id)
    if row is None:
        return None
    pages = ctx.repo.load_ocr(doc_id)
    visible = extract(_prediction_from(row.visible), pages) if row.visible else None
    extraction, check, item_source = combine(xml_extraction(ctx.repo.load_prediction(doc_id)), row.profile,
                                             visible, pages)
    extraction.fields[DOCUMENT_TYPE] = document_type_field(row)
    provenance = {name: "xml" for name in (*FIELD_NAMES, DOCUMENT_TYPE)}
    # A person's corrections (review workflow) survive a re-run, as on the usual path.
    from invoice.scanner.processing.db import review as review_db

    with ctx.repo.tx() as cur:
        locks = review_db.load_locks(cur, doc_id)
    extraction.fields.update(locks.fields)
    provenance.update({name: "person" for name in locks.fields})
    if locks.line_items is not None:
        extraction.line_items, item_source = list(locks.line_items), "person"
    ctx.repo.save_extraction(doc_id, extraction)
    store.update(ctx.settings.database_url, doc_id, provenance={**provenance, "line_items": item_source},
                 cross_check=check)
    return StageOutcome(detail={
        "fields": sum(1 for f in extraction.fields.values() if f.value is not None),
        "invalid": sorted(f.name for f in extraction.fields.values() if not f.valid),
        "line_items": len(extraction.line_items), "line_items_from": item_source, "provenance": "xml",
        "cross_check": None if check is None else {"agrees": check["agrees"], "disagreements": check["disagreements"]},
    })


# -- evaluation ----------------------------------------------------------------------------------

def evaluate_einvoice(extraction: Extraction, row: store.EInvoiceRow, validation, threshold: float,
                      review=None) -> Evaluation:
    """The verdict of an e-invoice: approved only when it is a valid e-invoice (XSD and every
    rule set it claims), EN 16931 (or a Factur-X profile whose own rules pass), its picture does
    not contradict it, and the values it must have are there."""
    from invoice.scanner.processing.einvoice.crosscheck import disagreement_reasons

    fields = extraction.fields
    checks: dict[str, Any] = {}
    reasons: list[str] = []
    inv = _einvoice(row)

    errors = validation.errors
    checks["einvoice_validation"] = {
        "passed": validation.valid, "checked": validation.checked, "not_checked": validation.not_checked,
        "errors": sorted({f.rule for f in errors}),
        "warnings": sorted({f.rule for f in validation.findings if f.severity == "warning"}),
        "findings": [asdict(f) for f in validation.findings if f.severity != "information"][:200],
        "by_category": {c: sorted({f.rule for f in errors if f.category == c})
                        for c in ("format", "business_rule", "content")},
        "seconds": validation.seconds,
    }
    grouped: dict[str, list] = {}
    for finding in errors:  # one reason per rule and message, however often it fires
        grouped.setdefault(finding.reason(), []).append(finding)
    for reason, found in list(grouped.items())[:MAX_RULE_REASONS]:
        reasons.append(reason if len(found) == 1 else f"{reason} ({len(found)} times)")
    if len(grouped) > MAX_RULE_REASONS:
        reasons.append(f"… and {len(grouped) - MAX_RULE_REASONS} more rule violations (see checks).")

    if row.read_error:
        standard_ok = False
    elif inv.en16931:
        standard_ok = True
    elif row.profile in SUB_EN16931_LEVELS:
        standard_ok = True  # judged by its own profile rules and the visible layer's line items
    else:
        standard_ok = False
        reasons.append("ZUGFeRD 1.0 predates EN 16931 and is not an e-invoice under current rules; its values "
                       "were read from the XML for review.")
    checks["einvoice_standard"] = {"passed": standard_ok, "syntax": row.syntax, "profile": row.profile,
                                   "claims": row.claims, "customization_id": row.customization_id}

    check = row.cross_check
    checks["einvoice_cross_check"] = {"passed": None if check is None else check["agrees"],
                                      **({} if check is None else check)}
    if check:
        reasons.extend(disagreement_reasons(check))

    missing = [n for n in REQUIRED if fields.get(n) is None or fields[n].value is None]
    checks["required_fields"] = {"passed": not missing, "missing": missing}
    for n in missing:
        reasons.append(f"Required field '{n.replace('_', ' ')}' is not in the e-invoice.")
    invalid = {n: f.error for n, f in fields.items() if not f.valid}
    checks["valid_values"] = {"passed": not invalid, "invalid": invalid}
    for n, err in invalid.items():
        reasons.append(f"The {n.replace('_', ' ')} in the e-invoice is not valid: {err}.")

    def num(name: str) -> float | None:
        f = fields.get(name)
        return float(f.value) if f is not None and f.valid and isinstance(f.value, (int, float)) else None

    net, vat, total = num("amount"), num("vat"), num("total")
    if net is not None and vat is not None and total is not None:
        ok = abs(net + vat - total) <= CENT
        checks["totals_add_up"] = {"passed": ok, "net": net, "vat": vat, "total": total}
        if not ok:
            reasons.append(f"Net {net:.2f} plus VAT {vat:.2f} does not equal the total {total:.2f}.")
    else:
        checks["totals_add_up"] = {"passed": None, "net": net, "vat": vat, "total": total}
    credit = is_credit_note(row)
    negative = total is not None and total < 0
    checks["positive_total"] = {"passed": not (credit or negative), "credit_note": credit, "total": total}
    if credit or negative:
        reasons.append("The e-invoice is a credit note (or its total is negative): review before booking.")
    if (row.provenance or {}).get("line_items") == "page":
        items = [li.amount for li in extraction.line_items]
        ok = bool(items) and all(a is not None for a in items) and net is not None \
            and abs(round(sum(items), 2) - net) <= CENT
        checks["line_items_sum"] = {"passed": ok, "from": "page", "sum": round(sum(a for a in items if a), 2),
                                    "expected": net}
        if not ok:
            reasons.append("The line items read from the picture do not add up to the XML's net amount.")

    duplicate_of = getattr(review, "duplicate_of", None)
    checks["possible_duplicate"] = {"passed": duplicate_of is None, "duplicate_of": duplicate_of}
    if duplicate_of:
        reasons.append(f"Possible duplicate of document {duplicate_of}: same vendor, invoice number, date and total.")
    vendor = getattr(review, "vendor", None)
    if vendor:
        checks["vendor_memory"] = vendor
        if vendor.get("iban_changed"):
            reasons.append("The IBAN differs from the one confirmed for this vendor (possible payment fraud): "
                           "check it with the vendor before paying.")

    right = [n for n in CORE_FIELDS if fields.get(n) is not None and fields[n].valid
             and n not in (check or {}).get("disagreements", [])]
    predicted = round(len(right) / len(CORE_FIELDS), 4)
    hard_failed = sorted(k for k, v in checks.items() if isinstance(v, dict) and v.get("passed") is False)
    checks["hard_failures"] = hard_failed
    checks["threshold"] = threshold
    quality = 1.0 if not hard_failed else round(max(0.0, predicted - 0.5), 4)
    approved = not hard_failed and quality >= threshold
    return Evaluation(approved=approved, quality_score=quality, predicted_accuracy=predicted,
                      reasons=[] if approved else reasons, checks=checks)


@dataclass
class Verdict:
    evaluation: Evaluation
    detail: dict[str, Any]  # for the stage's history row


def at_evaluation(ctx, extraction: Extraction, review=None) -> Verdict | None:
    """Validate the stored XML and judge the e-invoice; None for other documents. `review` is
    the evaluation stage's review context (a business-key duplicate, vendor memory)."""
    from invoice.scanner.processing.einvoice.validate import format_error, get_validator

    doc_id = str(ctx.document.id)
    row = store.load(ctx.settings.database_url, doc_id)
    if row is None:
        return None
    if row.read_error:
        validation = format_error("not-an-e-invoice", row.read_error, "reader")
    else:
        validation = get_validator(ctx.settings.einvoice_peppol_xslt or None).validate(row.xml, _einvoice(row))
    store.update(ctx.settings.database_url, doc_id, validation=validation.to_dict())
    evaluation = evaluate_einvoice(extraction, row, validation, ctx.settings.approval_threshold, review)
    rules = sorted({f.rule for f in validation.errors})
    return Verdict(evaluation, {"einvoice_valid": validation.valid, "rules": rules,
                                "validation_seconds": validation.seconds})


def warm_up_validator(settings) -> None:
    """Load Saxon and compile the bundled stylesheets once, before the first task."""
    from invoice.scanner.processing.einvoice.validate import get_validator

    get_validator(settings.einvoice_peppol_xslt or None).warm_up()


# -- in one process (benchmarks, tests of the pure functions) -------------------------------------

@dataclass
class LocalResult:
    row: store.EInvoiceRow | None
    extraction: Extraction | None
    evaluation: Evaluation | None
    validation: Any
    seconds: float


def run_in_process(source: Path, settings, work_dir: Path) -> LocalResult:
    """The e-invoice path of one file through the real stage functions, without database or
    queues: what the stages compute, in the order they compute it."""
    import hashlib
    import time

    from invoice.scanner.processing.einvoice import pdf, terms
    from invoice.scanner.processing.einvoice.validate import format_error, get_validator
    from invoice.scanner.processing.stages.extraction import extract
    from invoice.scanner.processing.stages.llm.local import LocalProvider
    from invoice.scanner.processing.stages.ocr import ocr_pages
    from invoice.scanner.processing.stages.preprocessing import preprocess

    started = time.perf_counter()
    kind = sniff.sniff_file(source)
    if kind == sniff.XML:
        origin, data = "xml", source.read_bytes()
    else:
        found = pdf.embedded_xml(source) if kind == sniff.PDF else None
        if found is None:
            return LocalResult(None, None, None, None, time.perf_counter() - started)
        origin, data = found
    row = store.EInvoiceRow("local", origin, data, hashlib.sha256(data).hexdigest(), None, None, None, [], None,
                            None, None, None, None, None, None)
    try:
        inv = terms.read(data, origin)
        row.syntax, row.profile, row.customization_id = inv.syntax, inv.level, inv.customization_id
        row.claims, row.terms, row.summary = inv.claims, inv.terms, terms.summary(inv)
    except (sniff.XmlRejected, terms.EInvoiceError) as exc:
        row.read_error = getattr(exc, "message", None) or str(exc)
    pages = []
    if origin != "xml":
        pages = ocr_pages(preprocess(source, sniff.PDF, work_dir, settings), settings)
    prediction = xml_prediction(row) if row.terms is not None else Prediction(
        {n: FieldPrediction(n, None, 0.0) for n in FIELD_NAMES}, [], LlmUsage(provider=XML_PROVIDER))
    visible = extract(LocalProvider(settings).predict(pages, []), pages) if pages else None
    extraction, row.cross_check, item_source = combine(xml_extraction(prediction), row.profile, visible, pages)
    extraction.fields[DOCUMENT_TYPE] = document_type_field(row)
    row.provenance = {**{name: "xml" for name in (*FIELD_NAMES, DOCUMENT_TYPE)}, "line_items": item_source}
    if row.read_error:
        validation = format_error("not-an-e-invoice", row.read_error, "reader")
    else:
        validation = get_validator(settings.einvoice_peppol_xslt or None).validate(data, _einvoice(row))
    evaluation = evaluate_einvoice(extraction, row, validation, settings.approval_threshold)
    return LocalResult(row, extraction, evaluation, validation, time.perf_counter() - started)
