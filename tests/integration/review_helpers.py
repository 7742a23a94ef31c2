"""Helpers for the review workflow's integration tests: users with roles, and documents
driven to `manual_review` through the pipeline's own repository and stage functions."""
from __future__ import annotations

import io
import logging
import uuid
from dataclasses import dataclass

from conftest_api import Tenant, _test_password_hash, make_pdf, upload
from invoice.scanner.api.auth import issue_token
from invoice.scanner.processing.config import get_settings
from invoice.scanner.processing.db.repository import Repository
from invoice.scanner.processing.models import (FieldPrediction, LineItemPrediction, LlmUsage, OcrLine, OcrPage, OcrWord,
                                               PageImage, Prediction)
from invoice.scanner.processing.runner import StageContext
from invoice.scanner.processing.status import Status

PAGE_W, PAGE_H = 1654, 2339


@dataclass
class Member:
    """One more user of a tenant's company, with a role and a token."""

    user_id: uuid.UUID
    email: str
    role: str
    token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


def add_member(repo, api_config, company_id, role: str, scopes: list[str] | None = None) -> Member:
    tag = uuid.uuid4().hex[:10]
    user = repo.create_user(company_id, f"{role}-{tag}@example.test", _test_password_hash(), role=role)
    token = issue_token(repo, user.id, api_config.token_ttl_s, scopes=scopes).access_token
    return Member(user.id, user.email, role, token)


def _line(text: str, x: int, y: int, char_w: int = 18, h: int = 30) -> OcrLine:
    words, cx = [], x
    for w in text.split(" "):
        words.append(OcrWord(w, (cx, y, cx + char_w * len(w), y + h), 0.99))
        cx += char_w * (len(w) + 1)
    return OcrLine(text, (x, y, cx - char_w, y + h), 0.99, words)


def invoice_page(vendor="Acme Widgets GmbH", vat="DE136695976", iban="DE89 3704 0044 0532 0130 00",
                 number="INV-1001", date="21.12.2024", net="1.000,00", tax="190,00", total="1.190,00",
                 items: list[tuple[str, str, str, str]] | None = None) -> OcrPage:
    """An OCR'd invoice page in pixel coordinates, as the OCR stage stores it."""
    items = items if items is not None else [("Consulting", "10", "100,00", net)]
    lines = [_line(vendor, 100, 80), _line(f"USt-IdNr: {vat}", 100, 130),
             _line(f"Rechnungsnummer: {number}", 100, 300), _line(f"Rechnungsdatum: {date}", 100, 350)]
    y = 500
    for desc, qty, unit, amount in items:
        lines.append(_line(f"{desc} {qty} {unit} {amount}", 100, y))
        y += 50
    lines += [_line(f"Nettobetrag: {net}", 900, y + 50), _line(f"MwSt 19%: {tax}", 900, y + 100),
              _line(f"Gesamtbetrag: {total} EUR", 900, y + 150), _line(f"IBAN: {iban}", 100, 2100)]
    return OcrPage(page_no=1, width=PAGE_W, height=PAGE_H, engine="test", lines=lines)


def prediction_from(page: OcrPage, overrides: dict[str, tuple[str | None, float]] | None = None,
                    items: list[tuple[str, str, str, str]] | None = None) -> Prediction:
    """What a sure provider would predict from the page: each labelled value with a confidence
    (0.999: a document this clean reaches the default APPROVAL_THRESHOLD, 0.99)."""
    text = {line.text.split(":")[0]: line.text.split(":", 1)[1].strip() for line in page.lines if ":" in line.text}
    values = {
        "vendor_name": (page.lines[0].text, 0.999),
        "vendor_tax_id": (text["USt-IdNr"], 0.999),
        "invoice_number": (text["Rechnungsnummer"], 0.999),
        "invoice_date": (text["Rechnungsdatum"], 0.999),
        "amount": (text["Nettobetrag"], 0.999),
        "vat": (text["MwSt 19%"], 0.999),
        "total": (text["Gesamtbetrag"].replace(" EUR", ""), 0.999),
        "currency": ("EUR", 0.999),
        "iban": (text["IBAN"], 0.999),
    }
    values.update(overrides or {})
    fields = {n: FieldPrediction(n, v, c, 1 if v else None) for n, (v, c) in values.items()}
    line_items = [LineItemPrediction(d, q, u, a, None, 0.9, 1) for d, q, u, a in
                  (items if items is not None else [("Consulting", "10", "100,00", "1.000,00")])]
    return Prediction(fields=fields, line_items=line_items, usage=LlmUsage(provider="test"))


def run_stages(database_url: str, doc_id: str, run: int, stages: list[str]) -> None:
    """Run stages for one document with the real stage functions, as a worker does
    (begin_stage, the stage's work, finish_stage), without a broker."""
    from invoice.scanner.processing.stages import evaluation, extraction

    works = {"extraction": extraction._work, "evaluation": evaluation._work}
    repo = Repository(database_url)
    settings = get_settings().with_overrides(database_url=database_url)
    for stage in stages:
        claim = repo.begin_stage(doc_id, stage, run, 0, "test-host")
        assert claim.action == "run", claim
        ctx = StageContext(repo.get_document(doc_id), settings, repo,
                           logging.LoggerAdapter(logging.getLogger("test"), {"document_id": doc_id}), 0)
        outcome = works[stage](ctx)
        assert repo.finish_stage(doc_id, stage, run, claim.history_id, outcome.detail,
                                 next_status=outcome.next_status, document_updates=outcome.document_updates)


def processed_document(client, tenant: Tenant, database_url: str, page: OcrPage | None = None,
                       prediction: Prediction | None = None, pdf: bytes | None = None) -> str:
    """Upload a document and drive it through extraction and evaluation with the real stage
    code (OCR and prediction given). Returns its id; its status is what evaluation decided."""
    resp = upload(client, tenant, pdf or make_pdf())
    assert resp.status_code == 201, resp.json
    doc_id = resp.json["document"]["id"]
    page = page or invoice_page()
    prediction = prediction or prediction_from(page)
    repo = Repository(database_url)
    run = repo.start_pipeline_run(doc_id, expected_run=0)
    claim = repo.begin_stage(doc_id, "preprocessing", run, 0, "test-host")
    repo.save_pages(doc_id, [PageImage(page_no=1, image_path="/x/p1.png", width=PAGE_W, height=PAGE_H, dpi=200)])
    repo.finish_stage(doc_id, "preprocessing", run, claim.history_id, {"pages": 1}, next_status=Status.PREPROCESSED)
    repo.save_ocr(doc_id, [page])
    repo.save_prediction(doc_id, prediction)
    run_stages(database_url, doc_id, run, ["extraction", "evaluation"])
    return doc_id


def redrive(database_url: str, doc_id: str, from_stage: str = "extraction") -> None:
    """Re-process the document from `from_stage` as the sweeper or a retry would: a new run."""
    repo = Repository(database_url)
    run = repo.start_pipeline_run(doc_id, from_stage, redrive=True)
    stages = ["extraction", "evaluation"][["extraction", "evaluation"].index(from_stage):]
    run_stages(database_url, doc_id, run, stages)


def manual_review_document(client, tenant: Tenant, database_url: str, **page_kwargs) -> str:
    """A document evaluation sent to review (its number was read with low confidence)."""
    page = invoice_page(**page_kwargs)
    prediction = prediction_from(page, {"invoice_number": (page.lines[2].text.split(": ")[1], 0.4)})
    doc_id = processed_document(client, tenant, database_url, page, prediction)
    status = client.get(f"/documents/{doc_id}/status", headers=tenant.headers).json["status"]
    assert status == "manual_review", status
    return doc_id


def unique_pdf() -> bytes:
    return make_pdf(text=f"Invoice {uuid.uuid4()}")


__all__ = ["Member", "add_member", "invoice_page", "prediction_from", "processed_document", "redrive",
           "manual_review_document", "run_stages", "unique_pdf", "io"]
