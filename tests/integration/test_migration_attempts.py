"""Migration 0002 on a real database: history rows written before it (attempts and transitions in
one table) are carried over into transitions (`document_status_history`) and attempts
(`stage_attempts`), and the audit trail reads as it did."""
from __future__ import annotations

import uuid
from datetime import datetime, timedelta, timezone

import pytest
from alembic import command

from invoice.scanner.processing.db.connection import Json, close_pools, transaction
from invoice.scanner.processing.db.documents import load_attempts, load_history, load_transitions
from invoice.scanner.processing.db.migrate import alembic_config, ensure_database

T0 = datetime(2026, 11, 30, 12, 0, tzinfo=timezone.utc)


def _at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


# (from, to, stage, run, attempt, host, started, finished, detail): what the code before 0002 wrote.
OLD_ROWS = [
    (None, "preprocessing", "upload", 0, 0, None, 0, 0, {"user_id": "u1"}),
    ("preprocessing", "preprocessing", "preprocessing", 1, 0, "preprocessing@a", 1, 9, {"outcome": "abandoned"}),
    ("preprocessing", "preprocessing", "preprocessing", 1, 0, "preprocessing@b", 10, 12, {"outcome": "ok", "pages": 1}),
    ("preprocessing", "preprocessed", "preprocessing", 1, 0, "preprocessing@b", 12, 12, {}),
    ("preprocessed", "ocr_extracting", "ocr", 1, 0, "ocr@a", 13, 15,
     {"outcome": "retry", "error": "engine crashed"}),
    ("ocr_extracting", "ocr_extracting", "ocr", 1, 1, "ocr@a", 20, 25, {"outcome": "ok", "engines": ["rapidocr"]}),
    ("ocr_extracting", "predicting", "llm", 1, 0, "llm@a", 26, None, None),  # its worker was lost
    ("predicting", "ocr_extracting", "orchestrator", 2, 0, None, 90, 90, {"redrive": "ocr", "stuck_in": "predicting"}),
]


@pytest.fixture
def database(services, drop_database, fresh_database):
    url = fresh_database("invoice_scanner_test_migration_0002")  # made at head: empty it, start from 0001
    drop_database(url)
    ensure_database(url)
    cfg = alembic_config(url)
    command.upgrade(cfg, "0001")
    close_pools()
    yield url, cfg
    drop_database(url)


def test_upgrade_carries_old_history_rows_into_transitions_and_attempts(database):
    url, cfg = database
    doc, company = uuid.uuid4(), uuid.uuid4()
    with transaction(url) as cur:
        cur.execute("INSERT INTO companies (id, name) VALUES (%s, %s)", (str(company), f"Old {company}"))
        cur.execute(
            """INSERT INTO documents (id, company_id, original_filename, stored_path, sha256, content_type,
                                      size_bytes, status, pipeline_run)
               VALUES (%s, %s, 'a.pdf', '/x/a.pdf', %s, 'application/pdf', 10, 'ocr_extracting', 2)""",
            (str(doc), str(company), uuid.uuid4().hex * 2))
        for f, t, stage, run, attempt, host, started, finished, detail in OLD_ROWS:
            cur.execute(
                """INSERT INTO document_status_history (document_id, from_status, to_status, stage, pipeline_run,
                                                        attempt, worker_host, started_at, finished_at, detail)
                   VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)""",
                (str(doc), f, t, stage, run, attempt, host, _at(started),
                 _at(finished) if finished is not None else None, Json(detail) if detail is not None else None))
    close_pools()

    command.upgrade(cfg, "head")

    with transaction(url) as cur:
        transitions = load_transitions(cur, doc)
        attempts = load_attempts(cur, doc)
        history = load_history(cur, doc)
    close_pools()

    # Transitions: every status change and event, none of the pure attempt rows.
    assert [(t.from_status, t.to_status, t.stage) for t in transitions] == [
        (None, "preprocessing", "upload"),
        ("preprocessing", "preprocessed", "preprocessing"),
        ("preprocessed", "ocr_extracting", "ocr"),
        ("ocr_extracting", "predicting", "llm"),
        ("predicting", "ocr_extracting", "orchestrator"),
    ]
    moved = transitions[2]  # a begin row that changed the status stays, as an instant without the outcome
    assert moved.started_at == moved.finished_at == _at(13) and moved.detail is None
    assert transitions[4].detail == {"redrive": "ocr", "stuck_in": "predicting"}

    # Attempts: every begin row, its outcome as a column, the rest of its detail kept.
    assert [(a.stage, a.pipeline_run, a.attempt, a.worker_host, a.outcome) for a in attempts] == [
        ("preprocessing", 1, 0, "preprocessing@a", "abandoned"),
        ("preprocessing", 1, 0, "preprocessing@b", "ok"),
        ("ocr", 1, 0, "ocr@a", "retry"),
        ("ocr", 1, 1, "ocr@a", "ok"),
        ("llm", 1, 0, "llm@a", None),
    ]
    assert attempts[0].detail is None and attempts[1].detail == {"pages": 1}
    assert attempts[2].detail == {"error": "engine crashed"} and attempts[2].finished_at == _at(15)
    assert attempts[4].finished_at is None

    # The audit trail reads as the single table did, each line now saying what it is.
    assert [(h.kind, h.from_status, h.to_status, h.stage, (h.detail or {}).get("outcome")) for h in history] == [
        ("transition", None, "preprocessing", "upload", None),
        ("attempt", "preprocessing", "preprocessing", "preprocessing", "abandoned"),
        ("attempt", "preprocessing", "preprocessing", "preprocessing", "ok"),
        ("transition", "preprocessing", "preprocessed", "preprocessing", None),
        ("attempt", "preprocessed", "ocr_extracting", "ocr", "retry"),
        ("attempt", "ocr_extracting", "ocr_extracting", "ocr", "ok"),
        ("attempt", "ocr_extracting", "predicting", "llm", None),
        ("transition", "predicting", "ocr_extracting", "orchestrator", None),
    ]


def test_downgrade_puts_attempts_back_as_history_rows(database):
    url, cfg = database
    command.upgrade(cfg, "0002")
    doc, company = uuid.uuid4(), uuid.uuid4()
    with transaction(url) as cur:
        cur.execute("INSERT INTO companies (id, name) VALUES (%s, %s)", (str(company), f"New {company}"))
        cur.execute(
            """INSERT INTO documents (id, company_id, original_filename, stored_path, sha256, content_type,
                                      size_bytes, status, pipeline_run)
               VALUES (%s, %s, 'a.pdf', '/x/a.pdf', %s, 'application/pdf', 10, 'predicting', 1)""",
            (str(doc), str(company), uuid.uuid4().hex * 2))
        cur.execute("""INSERT INTO stage_attempts (document_id, stage, pipeline_run, attempt, worker_host, started_at,
                                                   finished_at, outcome, detail)
                       VALUES (%s, 'llm', 1, 0, 'llm@a', now(), now(), 'ok', %s)""", (str(doc), Json({"model": "m"})))
    close_pools()
    command.downgrade(cfg, "0001")
    with transaction(url) as cur:
        cur.execute("SELECT from_status, to_status, stage, detail FROM document_status_history WHERE document_id = %s",
                    (str(doc),))
        rows = cur.fetchall()
    close_pools()
    assert rows == [{"from_status": "predicting", "to_status": "predicting", "stage": "llm",
                     "detail": {"model": "m", "outcome": "ok"}}]
