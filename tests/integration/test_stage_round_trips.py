"""How often each stage waits on PostgreSQL for a born-digital invoice: every wait is a round
trip (and, on a busy host, a trip through the scheduler for the server process and back), so
the count is what bookkeeping costs, independent of the machine's speed. The five stage tasks
run in this process as a worker runs one delivery (real PostgreSQL, the real stage code, the
local provider); what is counted is each time psycopg waits for the server to answer
(every statement, BEGIN and COMMIT outside a pipeline; each sync or fetch in pipeline mode,
where an execute that finds earlier answers waiting may count once more: an upper bound).

The bounds are today's counts: a change that adds round trips to the hot path fails here and
says which stage; lower them when a change removes some.
"""
from __future__ import annotations

import sys
import uuid
from collections import Counter
from pathlib import Path

import pytest
from psycopg import waiting

from invoice.scanner.processing import runner
from invoice.scanner.processing.config import Settings
from invoice.scanner.processing.db.connection import close_pools
from invoice.scanner.processing.db.repository import Repository

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from invoicegen import generate  # noqa: E402

# Waits per stage for one born-digital page (claim + the stage's reads and writes + finish): the
# most seen in runs of this test plus 2, as pipelined statements make the count vary by one or two.
# Before the claim, finish and result writes were pipelined and single reads went outside a
# transaction (commit 96414c8) the counts were 20, 19, 23, 54 and 27.
BOUNDS = {"preprocessing": 14, "ocr": 15, "llm": 16, "extraction": 24, "evaluation": 22}


@pytest.fixture
def world(fresh_database, tmp_path, monkeypatch):
    url = fresh_database("invoice_scanner_test_round_trips")
    settings = Settings.from_env({}, database_url=url, documents_dir=tmp_path / "documents")
    repo = Repository(url)
    monkeypatch.setattr(runner, "get_settings", lambda: settings)
    monkeypatch.setattr(runner, "get_repository", lambda: repo)
    yield settings, repo
    close_pools()


def _document(repo: Repository, settings: Settings) -> tuple[str, int]:
    company, doc = uuid.uuid4(), uuid.uuid4()
    folder = Path(settings.documents_dir) / str(company) / str(doc)
    folder.mkdir(parents=True)
    path = folder / "original.pdf"
    path.write_bytes(generate(seed=4242, kind="born_digital", pages=1).data)
    with repo.tx() as cur:
        cur.execute("INSERT INTO companies (id, name) VALUES (%s, %s)", (company, f"c-{company}"))
        cur.execute(
            """INSERT INTO documents (id, company_id, original_filename, stored_path, sha256, content_type,
                                      size_bytes, status, enqueued_at)
               VALUES (%s, %s, 'a.pdf', %s, %s, 'application/pdf', %s, 'queued', now())""",
            (doc, company, str(path), uuid.uuid4().hex, path.stat().st_size),
        )
    return str(doc), repo.start_pipeline_run(str(doc), "preprocessing", expected_run=0)


def _deliver(task, document_id: str, run: int):
    task.push_request(id=str(uuid.uuid4()), args=(document_id, run), kwargs={}, retries=0, called_directly=False,
                      hostname="test@host", delivery_info={"routing_key": task.name})
    try:
        return task.run(document_id, run)
    finally:
        task.pop_request()


def _stage_tasks():
    from invoice.scanner.processing.stages import evaluation, extraction, llm, ocr, preprocessing

    return {"preprocessing": preprocessing.preprocess_document, "ocr": ocr.ocr_document,
            "llm": llm.predict_document, "extraction": extraction.extract_document,
            "evaluation": evaluation.evaluate_document}


def test_each_stage_waits_on_postgresql_a_bounded_number_of_times(world, monkeypatch):
    settings, repo = world
    doc_id, run = _document(repo, settings)
    tasks = _stage_tasks()
    waits: Counter[str] = Counter()
    current = {"stage": None}
    real_wait = waiting.wait

    def counted(gen):
        """The same generator, counting each time it waits for the server to answer."""
        try:
            state = next(gen)
            while True:
                if state == waiting.Wait.R and current["stage"]:
                    waits[current["stage"]] += 1
                state = gen.send((yield state))
        except StopIteration as stop:
            return stop.value

    monkeypatch.setattr(waiting, "wait", lambda gen, fileno, *a, **k: real_wait(counted(gen), fileno, *a, **k))
    for name, task in tasks.items():
        current["stage"] = name
        assert _deliver(task, doc_id, run) == doc_id
        current["stage"] = None
    status = repo.get_document(doc_id).status
    assert status in {"approved", "manual_review"}, status
    print({name: waits[name] for name in tasks})
    over = {name: (waits[name], bound) for name, bound in BOUNDS.items() if waits[name] > bound}
    assert not over, f"stages waiting on PostgreSQL more often than before (count, bound): {over}"
