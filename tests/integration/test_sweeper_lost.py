"""Lost is not slow: the sweeper re-drives a document whose message is in no queue and held by
no live worker after LOST_AFTER_S, long before its stage deadline; a queued or held document
is never re-driven. On each broker: real Redis, and real RabbitMQ (a vhost of this module's own
on the machine's server), with a real Celery worker answering the sweeper's inspect broadcast
and a real worker holding a task.

The lost message is made as Redis' crash makes it: the document's next message simply is not
anywhere (as after a SIGKILLed Redis lost its last second, or a killed worker's unacknowledged
message hides behind the visibility timeout).
"""
from __future__ import annotations

import time

import pytest

from invoice.scanner.processing import liveness, maintenance, orchestrator
from invoice.scanner.processing.celery_app import STAGE_TASKS, create_app, declare_amqp_topology
from invoice.scanner.processing.config import Settings
from invoice.scanner.processing.db.repository import Repository


@pytest.fixture(scope="module", params=["redis", "amqp"])
def broker(request, redis_db_url, amqp_vhost):
    """(REDIS_URL, BROKER_URL): Redis alone, or a RabbitMQ vhost of the module's own as the broker."""
    return redis_db_url(12), (amqp_vhost() if request.param == "amqp" else "")


@pytest.fixture(scope="module")
def maintenance_worker(broker, fresh_database, start_worker, tmp_path_factory):
    """One real worker (the maintenance queue's) per broker, answering inspect as every worker
    of the stack does; it runs no task here, so the tests' own databases are not its concern."""
    redis_url, broker_url = broker
    database_url = fresh_database("invoice_scanner_test_sweeper_lost_worker")
    env = {"DATABASE_URL": database_url, "REDIS_URL": redis_url, "BROKER_URL": broker_url,
           "DOCUMENTS_DIR": str(tmp_path_factory.mktemp("sweeper-worker"))}
    app = create_app(Settings.from_env({}, database_url=database_url, redis_url=redis_url, broker_url=broker_url))
    if broker_url:
        declare_amqp_topology(app)
    with start_worker("maintenance", env, app) as worker:
        yield worker


@pytest.fixture
def world(broker, maintenance_worker, fresh_database, monkeypatch):
    """The sweeper bound to the broker and to a database of this test's own (a sweep looks at
    every document: each test starts from none), beside the live maintenance worker."""
    redis_url, broker_url = broker
    database_url = fresh_database("invoice_scanner_test_sweeper_lost")
    settings = Settings.from_env({}, database_url=database_url, redis_url=redis_url, broker_url=broker_url)
    app = create_app(settings)
    if broker_url:
        declare_amqp_topology(app)
    app.control.purge()  # no message of an earlier test's documents: a busy queue would hide a lost one
    repo = Repository(database_url)
    monkeypatch.setattr(orchestrator, "app", app)
    monkeypatch.setattr(maintenance, "app", app)
    monkeypatch.setattr(maintenance, "get_settings", lambda: settings)
    monkeypatch.setattr(maintenance, "get_repository", lambda: repo)
    assert maintenance_worker.poll() is None, maintenance_worker.log.read_text(errors="replace")[-4000:]
    yield repo, app, settings


def _redrive_reasons(repo: Repository, doc: str) -> list[str]:
    with repo.tx() as cur:
        cur.execute("SELECT detail->>'redrive_reason' AS r FROM document_status_history "
                    "WHERE document_id = %s AND detail ? 'redrive' ORDER BY id", (doc,))
        return [r["r"] for r in cur.fetchall()]


def test_a_lost_document_is_re_driven_after_lost_after_s_not_its_deadline(world, running_document):
    repo, app, settings = world
    assert settings.retry["ocr"].deadline_s == 1800 and settings.lost_after_s == 60  # the defaults a user gets
    lost, run = running_document(repo, status="preprocessed", quiet_s=90)  # its OCR message went with the broker
    recent, recent_run = running_document(repo, status="preprocessed", quiet_s=20)  # a hand-off between stages
    # Waits behind a backlog, past its deadline (in another stage's queue: with RabbitMQ the
    # sweeper sees how many messages a queue holds, not which).
    queued, queued_run = running_document(repo, status="extraction", quiet_s=4000)
    orchestrator.send_pipeline(queued, queued_run, "extraction")

    counts = maintenance.sweep_stuck_documents()

    assert counts["lost"] == 1 and counts["redriven"] == 1, counts
    assert repo.get_document(lost).pipeline_run == run + 1
    assert _redrive_reasons(repo, lost) == ["lost"]
    assert repo.get_document(recent).pipeline_run == recent_run  # not yet: within the grace period
    assert repo.get_document(queued).pipeline_run == queued_run  # queued is not lost, even past the deadline
    assert counts["queued"] == 1
    # The re-drive's message is on the OCR queue for the new run.
    view = liveness.look(app)
    assert view.queued(lost, run + 1, "ocr")


def test_past_its_deadline_with_no_message_is_recorded_as_deadline(world, running_document):
    repo, app, settings = world
    slow, run = running_document(repo, status="extraction", quiet_s=settings.retry["extraction"].deadline_s + 30)
    maintenance.sweep_stuck_documents()
    assert _redrive_reasons(repo, slow) == ["deadline"]
    assert repo.get_document(slow).pipeline_run == run + 1


def test_a_document_in_a_retry_countdown_is_not_lost(world, running_document):
    """Its last attempt failed and asked for a retry a moment ago: the countdown is on the
    broker (RabbitMQ's delayed delivery) or in a worker (Redis), and the attempt row says when
    it is due; the document is waited for, not re-driven."""
    repo, app, settings = world
    held, run = running_document(repo, status="preprocessed", quiet_s=90)
    with repo.tx() as cur:  # the attempt that failed and asked for a retry a moment ago
        cur.execute("INSERT INTO stage_attempts (document_id, stage, pipeline_run, attempt, started_at, finished_at, "
                    "outcome) VALUES (%s, 'ocr', %s, 0, now() - interval '5 seconds', now(), 'retry')", (held, run))
    counts = maintenance.sweep_stuck_documents()
    assert repo.get_document(held).pipeline_run == run, counts
    assert counts.get("lost", 0) == 0


def test_a_document_a_live_worker_holds_for_its_countdown_is_held_not_lost(world, running_document):
    """Its OCR message waits out a retry countdown (no attempt row says so here): with Redis the
    worker that took it holds it in its timer and answers `inspect scheduled` with it, so the
    sweeper leaves the document; with RabbitMQ the countdown is in the broker's delay queues
    (native delayed delivery), and no worker holds it (liveness.py)."""
    repo, app, settings = world
    doc, run = running_document(repo, status="preprocessed", quiet_s=90)
    app.send_task(STAGE_TASKS["ocr"], args=[doc, run], queue="maintenance", countdown=3600)
    on_redis = not settings.broker_url
    deadline = time.monotonic() + 30
    held, answered = liveness.held_by_live_workers(app)
    while on_redis and (doc, run) not in held:  # the worker may not have taken the message yet
        assert time.monotonic() < deadline, f"the worker does not hold {doc}: {held}"
        held, answered = liveness.held_by_live_workers(app)
    assert answered  # the live maintenance worker answers
    if on_redis:
        counts = maintenance.sweep_stuck_documents()
        assert counts["redriven"] == 0, counts
        assert repo.get_document(doc).pipeline_run == run and _redrive_reasons(repo, doc) == []
    else:
        assert (doc, run) not in held


def test_a_document_a_stage_claims_while_the_sweeper_asks_the_workers_is_not_re_driven(world, running_document, monkeypatch):
    """Asking the workers takes seconds; a document that looked lost when the sweep read it and
    was claimed by its next stage meanwhile keeps its run (benchmarks/chaos --defaults saw the
    sweeper supersede an OCR that had just begun, and 106 s of OCR thrown away)."""
    repo, app, settings = world
    doc, run = running_document(repo, status="preprocessed", quiet_s=90)  # looks lost: in no queue, held by no worker
    real_look = liveness.look

    def look_while_ocr_claims_it(app_):
        view = real_look(app_)
        assert repo.begin_stage(doc, "ocr", run, 0, "ocr@another-host").action == "run"
        return view

    monkeypatch.setattr(liveness, "look", look_while_ocr_claims_it)
    counts = maintenance.sweep_stuck_documents()
    assert counts["redriven"] == 0, counts
    after = repo.get_document(doc)
    assert (after.pipeline_run, after.status) == (run, "ocr_extracting")
    assert _redrive_reasons(repo, doc) == []
