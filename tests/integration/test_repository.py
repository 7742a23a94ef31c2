"""The pipeline's state machine in PostgreSQL: claims, idempotence, stale runs, errors, sweeper queries."""
from __future__ import annotations

import uuid

import pytest

from invoice.scanner.processing.db.connection import UniqueViolation
from invoice.scanner.processing.db.repository import Repository
from invoice.scanner.processing.models import (
    Extraction,
    FieldPrediction,
    LineItemPrediction,
    LlmUsage,
    NormalizedField,
    NormalizedLineItem,
    OcrLine,
    OcrPage,
    OcrWord,
    PageImage,
    Prediction,
)
from invoice.scanner.processing.status import Status


@pytest.fixture(scope="module")
def repo(fresh_database):
    return Repository(fresh_database("invoice_scanner_test_repository"))


def _new_document(repo: Repository) -> str:
    company, doc = uuid.uuid4(), uuid.uuid4()
    with repo.tx() as cur:
        cur.execute("INSERT INTO companies (id, name) VALUES (%s, %s)", (company, f"c-{company}"))
        cur.execute(
            """INSERT INTO documents (id, company_id, original_filename, stored_path, sha256, content_type,
                                      size_bytes, status)
               VALUES (%s, %s, 'a.pdf', '/tmp/a.pdf', %s, 'application/pdf', 10, 'preprocessing')""",
            (doc, company, uuid.uuid4().hex),
        )
    return str(doc)


def test_stage_claims_are_idempotent_and_runs_supersede(repo):
    doc = _new_document(repo)
    run = repo.start_pipeline_run(doc, expected_run=0)
    assert run == 1
    assert repo.start_pipeline_run(doc, expected_run=0) is None  # duplicated orchestrator message

    claim = repo.begin_stage(doc, "preprocessing", run, 0, "preprocessing@h")
    assert claim.action == "run"
    # a redelivery of the same message while the first delivery never finished: the first is abandoned
    again = repo.begin_stage(doc, "preprocessing", run, 0, "preprocessing@h2")
    assert again.action == "run"
    assert repo.finish_stage(doc, "preprocessing", run, again.history_id, {"pages": 1}, next_status=Status.PREPROCESSED)
    assert repo.get_document(doc).status == "preprocessed"
    # a redelivery after completion does no work
    assert repo.begin_stage(doc, "preprocessing", run, 0, "h").action == "done"

    ocr = repo.begin_stage(doc, "ocr", run, 0, "ocr@h")
    newer = repo.start_pipeline_run(doc, "ocr", expected_run=run, redrive=True)
    assert newer == run + 1
    # the old attempt finishing late changes nothing; its next stage is stale
    assert repo.finish_stage(doc, "ocr", run, ocr.history_id, {}) is False
    assert repo.begin_stage(doc, "llm", run, 0, "llm@h").action == "stale"
    doc_row = repo.get_document(doc)
    assert doc_row.status == "ocr_extracting" and doc_row.pipeline_run == newer and doc_row.redrive_count == 1

    history = repo.history(doc)
    outcomes = [(h["stage"], (h["detail"] or {}).get("outcome")) for h in history]
    assert ("preprocessing", "abandoned") in outcomes and ("ocr", "stale") in outcomes
    assert all(h["finished_at"] is not None for h in history)


def test_fail_stage_records_error_once_and_only_for_current_run(repo):
    doc = _new_document(repo)
    run = repo.start_pipeline_run(doc, expected_run=0)
    claim = repo.begin_stage(doc, "llm", run, 0, "llm@h")
    repo.record_attempt_failure(claim.history_id, "connection refused", will_retry=False)
    assert repo.fail_stage(doc, "llm", run - 1, "old run", "h") is False
    assert repo.fail_stage(doc, "llm", run, "llm failed after 4 attempts: connection refused", "llm@h")
    assert repo.fail_stage(doc, "llm", run, "again", "llm@h") is False  # terminal already
    d = repo.get_document(doc)
    assert d.status == "predict_error" and d.error.startswith("llm failed after 4 attempts")
    assert repo.begin_stage(doc, "extraction", run, 0, "h").action == "stale"


def test_stage_outputs_are_replaced_not_duplicated(repo):
    doc = _new_document(repo)
    word = OcrWord("INV-1", (10, 10, 60, 20), 0.99)
    pages = [PageImage(1, "/tmp/p1.png", 1000, 1400, 200, 0, 0.0, [word])]
    page = OcrPage(1, 1000, 1400, "pdf-text", [OcrLine("INV-1", (10, 10, 60, 20), 0.99, [word])])
    prediction = Prediction({"invoice_number": FieldPrediction("invoice_number", "INV-1", 0.9, 1, (0.01, 0.01, 0.06, 0.02))},
                            [LineItemPrediction("Work", "1", "10", "10")], LlmUsage("local", "rules"))
    extraction = Extraction({"invoice_number": NormalizedField("invoice_number", "INV-1", "INV-1", 0.9, 1, (0.0, 0.0, 0.1, 0.1))},
                            [NormalizedLineItem(1, "Work", 1.0, 10.0, 10.0, None, 0.9)])
    for _ in range(2):  # a stage run twice leaves the same rows
        repo.save_pages(doc, pages)
        repo.save_ocr(doc, [page])
        repo.save_prediction(doc, prediction)
        repo.save_extraction(doc, extraction)
    assert repo.load_pages(doc) == pages
    assert repo.load_ocr(doc)[0].lines[0].words[0] == word
    assert repo.load_prediction(doc).fields["invoice_number"].value == "INV-1"
    loaded = repo.load_extraction(doc)
    assert loaded.fields["invoice_number"].bbox == (0.0, 0.0, 0.1, 0.1) and len(loaded.line_items) == 1
    with repo.tx() as cur:
        cur.execute("SELECT count(*) AS n FROM line_items WHERE document_id = %s", (doc,))
        assert cur.fetchone()["n"] == 1


def test_sweeper_queries_find_stuck_and_unenqueued(repo):
    doc = _new_document(repo)
    assert doc in {str(d.id) for d in repo.find_unenqueued(older_than_s=0)}
    repo.mark_enqueued(doc)
    assert doc not in {str(d.id) for d in repo.find_unenqueued(older_than_s=0)}
    deadlines = {s: 3600 for s in ("preprocessing", "ocr", "llm", "extraction", "evaluation")}
    assert doc not in {str(d.id) for d in repo.find_stuck(deadlines)}
    with repo.tx() as cur:
        cur.execute("UPDATE documents SET updated_at = now() - interval '2 hours' WHERE id = %s", (doc,))
    assert doc in {str(d.id) for d in repo.find_stuck(deadlines)}


def test_duplicate_content_per_company_is_refused_by_the_schema(repo):
    doc = _new_document(repo)
    d = repo.get_document(doc)
    with pytest.raises(UniqueViolation):
        with repo.tx() as cur:
            cur.execute(
                """INSERT INTO documents (id, company_id, original_filename, stored_path, sha256, content_type,
                                          size_bytes, status)
                   VALUES (%s, %s, 'b.pdf', '/tmp/b.pdf', %s, 'application/pdf', 10, 'preprocessing')""",
                (uuid.uuid4(), d.company_id, d.sha256),
            )
