"""Recovered documents do not wait behind the backlog, and a document is failed for killing its
worker only when the evidence says it does.

- A run the sweeper re-drives goes through the stages' recovery lanes (`<stage>.recovery`),
  which a stage's worker drains before its own queue: on a real broker (Redis, and a RabbitMQ
  vhost of the test's own), a real preprocessing worker started on a backlog of real PDFs
  takes the re-driven document first, and its next stage's message waits in the OCR recovery
  lane, not behind the others in `ocr`. (Kombu's Redis transport rotates a worker's queues
  round-robin unless `queue_order_strategy` is `priority`; RabbitMQ 3.x quorum queues have no
  message priorities.)
- A redelivery after a worker died under the document takes the recovery lane for the rest of
  its run; its third death with no other document's worker of the stage dying ends it
  `<stage>_error` (a poison document); deaths that strike the stage's other documents too are
  the infrastructure's, and the document goes on (real PostgreSQL; the stage task run as a
  worker runs one delivery).
"""
from __future__ import annotations

import shutil
import time
import uuid
from pathlib import Path

import pytest
from celery.exceptions import Ignore

from invoice.scanner.processing import liveness, maintenance, orchestrator, runner
from invoice.scanner.processing.celery_app import (ORCHESTRATOR_QUEUE, RECOVERY_QUEUES, STAGE_QUEUES, create_app,
                                                   declare_amqp_topology, recovery_queue)
from invoice.scanner.processing.config import Settings
from invoice.scanner.processing.db.connection import close_pools
from invoice.scanner.processing.db.repository import Repository
from invoice.scanner.processing.runner import StageOutcome, run_stage

SAMPLE = Path(__file__).resolve().parents[2] / "samples" / "inv-000101-en-classic.pdf"
BACKLOG = 6


@pytest.fixture(scope="module", params=["redis", "amqp"])
def broker(request, redis_db_url, amqp_vhost):
    """(REDIS_URL, BROKER_URL): Redis alone, or a RabbitMQ vhost of the module's own as the broker."""
    return redis_db_url(14), (amqp_vhost() if request.param == "amqp" else "")


@pytest.fixture(scope="module")
def maintenance_worker(broker, fresh_database, start_worker, tmp_path_factory):
    """One real worker of the maintenance queue per broker, answering the sweeper's inspect as
    every worker does; it runs no task here, so the tests' own databases are not its concern."""
    redis_url, broker_url = broker
    database_url = fresh_database("invoice_scanner_test_recovery_lane_worker")
    env = {"DATABASE_URL": database_url, "REDIS_URL": redis_url, "BROKER_URL": broker_url,
           "DOCUMENTS_DIR": str(tmp_path_factory.mktemp("recovery-lane-worker"))}
    app = create_app(Settings.from_env({}, database_url=database_url, redis_url=redis_url, broker_url=broker_url))
    if broker_url:
        declare_amqp_topology(app)
    with start_worker("maintenance", env, app) as worker:
        yield worker


def _log_tail(worker) -> str:
    return "\n".join(worker.log.read_text(errors="replace").splitlines()[-40:])


def _purge(app) -> None:
    """Empty every pipeline queue: the module's broker carries an earlier test's messages, and
    these tests count what waits where (`_ready`)."""
    with app.connection_for_write() as conn:
        for queue in (ORCHESTRATOR_QUEUE, *STAGE_QUEUES, *RECOVERY_QUEUES.values()):
            conn.default_channel.queue_purge(queue)


@pytest.fixture
def world(broker, maintenance_worker, fresh_database, monkeypatch, tmp_path):
    """The sweeper bound to the module's broker and a database of this test's own (a sweep looks
    at every document), beside the live maintenance worker; `env` starts a worker of the test's."""
    redis_url, broker_url = broker
    database_url = fresh_database("invoice_scanner_test_recovery_lane")
    settings = Settings.from_env({}, database_url=database_url, redis_url=redis_url, broker_url=broker_url,
                                 documents_dir=str(tmp_path))
    app = create_app(settings)
    if broker_url:
        declare_amqp_topology(app)
    _purge(app)
    repo = Repository(database_url)
    monkeypatch.setattr(orchestrator, "app", app)
    monkeypatch.setattr(maintenance, "app", app)
    monkeypatch.setattr(maintenance, "get_settings", lambda: settings)
    monkeypatch.setattr(maintenance, "get_repository", lambda: repo)
    env = {"DATABASE_URL": database_url, "REDIS_URL": redis_url, "BROKER_URL": broker_url,
           "DOCUMENTS_DIR": str(tmp_path), "LLM_PROVIDER": "local"}
    assert maintenance_worker.poll() is None, _log_tail(maintenance_worker)
    yield repo, app, settings, env
    close_pools()


def _document(repo: Repository, folder: Path, status: str = "preprocessing", quiet_s: int = 0) -> tuple[str, int]:
    company, doc = uuid.uuid4(), uuid.uuid4()
    path = folder / f"{doc}.pdf"
    shutil.copyfile(SAMPLE, path)
    with repo.tx() as cur:
        cur.execute("INSERT INTO companies (id, name) VALUES (%s, %s)", (company, f"c-{company}"))
        cur.execute(
            """INSERT INTO documents (id, company_id, original_filename, stored_path, sha256, content_type,
                                      size_bytes, status, enqueued_at)
               VALUES (%s, %s, 'a.pdf', %s, %s, 'application/pdf', %s, 'queued', now())""",
            (doc, company, str(path), uuid.uuid4().hex, path.stat().st_size),
        )
    run = repo.start_pipeline_run(str(doc), expected_run=0)
    with repo.tx() as cur:
        cur.execute("UPDATE documents SET status = %s, updated_at = now() - make_interval(secs => %s) WHERE id = %s",
                    (status, quiet_s, doc))
    return str(doc), run


def _preprocessing_order(repo: Repository) -> list[str]:
    with repo.tx() as cur:
        cur.execute("SELECT document_id FROM stage_attempts WHERE stage = 'preprocessing' ORDER BY started_at, id")
        return [str(r["document_id"]) for r in cur.fetchall()]


def _ready(app, queue: str) -> int:
    with app.connection_for_read() as conn:
        if conn.transport.driver_type == "redis":
            return conn.default_channel.client.llen(queue)
        channel = conn.channel()
        try:
            return channel.queue_declare(queue=queue, passive=True)[1]
        finally:
            channel.close()


def test_a_re_driven_document_overtakes_the_backlog(world, tmp_path, start_worker):
    repo, app, settings, env = world
    backlog = []
    for _ in range(BACKLOG):  # uploads waiting for preprocessing, oldest first
        doc, run = _document(repo, tmp_path)
        orchestrator.send_pipeline(doc, run)
        backlog.append(doc)
    # Its preprocessing message went with a crashed broker: in no queue, held by no worker.
    lost, lost_run = _document(repo, tmp_path, status="preprocessing", quiet_s=90)
    if env["BROKER_URL"]:
        # RabbitMQ's queues can be counted, not read: with a backlog in its stage's queue the
        # document may be queued, and the sweeper leaves it (liveness.py). Re-driven here as the
        # sweeper re-drives one (after the backlog, so the order below is the lane's doing).
        assert maintenance.sweep_stuck_documents()["redriven"] == 0
        assert repo.start_pipeline_run(lost, "preprocessing", expected_run=lost_run, redrive=True,
                                       detail={"redrive": "preprocessing", "redrive_reason": "lost"}) == lost_run + 1
        orchestrator.send_pipeline(lost, lost_run + 1, "preprocessing", recovery=True)
    else:
        counts = maintenance.sweep_stuck_documents()
        assert counts["lost"] == 1 and counts["redriven"] == 1, counts  # the backlog is queued, not lost
    assert _ready(app, recovery_queue("preprocessing")) == 1
    assert _ready(app, "preprocessing") == BACKLOG

    with start_worker("preprocessing", env, app) as worker:
        deadline = time.monotonic() + 240
        while len(order := _preprocessing_order(repo)) < BACKLOG + 1:
            assert worker.poll() is None, _log_tail(worker)
            assert time.monotonic() < deadline, f"{len(order)} of {BACKLOG + 1} began: {_log_tail(worker)}"
            time.sleep(0.5)
        # First: the worker drains its recovery lane before its own queue.
        assert order.index(lost) == 0, order
        # And the rest of its run follows the lane: its OCR message waits in ocr.recovery, the
        # backlog's in ocr (no OCR worker runs here).
        deadline = time.monotonic() + 120
        while _ready(app, "ocr") + _ready(app, recovery_queue("ocr")) < BACKLOG + 1:
            assert time.monotonic() < deadline, "preprocessing did not finish"
            time.sleep(0.5)
    assert _ready(app, recovery_queue("ocr")) == 1 and _ready(app, "ocr") == BACKLOG
    assert liveness.look(app).queued(lost, lost_run + 1, "ocr")
    assert repo.get_document(lost).pipeline_run == lost_run + 1


# --- The poison rule, on the redelivery path (runner) and the sweeper's ---------------------


@pytest.fixture
def db(fresh_database, redis_db_url, monkeypatch):
    url = fresh_database("invoice_scanner_test_recovery_poison")
    # Not db 14: flushing it would pull it from under the module's live maintenance worker.
    settings = Settings.from_env({}, database_url=url, redis_url=redis_db_url(15))
    repo = Repository(url)
    monkeypatch.setattr(runner, "get_settings", lambda: settings)
    monkeypatch.setattr(runner, "get_repository", lambda: repo)
    yield settings, repo, create_app(settings)
    close_pools()


def _died_under(repo: Repository, doc: str, run: int, closed: bool = True) -> None:
    """One OCR delivery whose worker died under it: closed as abandoned by a later claim, or
    still open (the delivery in flight when the worker died)."""
    with repo.tx() as cur:
        cur.execute(
            "INSERT INTO stage_attempts (document_id, stage, pipeline_run, attempt, started_at, finished_at, outcome) "
            "VALUES (%s, 'ocr', %s, 0, now() - interval '60 seconds', "
            + ("now() - interval '30 seconds', 'abandoned')" if closed else "NULL, NULL)"),
            (doc, run),
        )


def _ocr_task(app, ran: list):
    @app.task(bind=True, name=f"test.ocr.{uuid.uuid4().hex}", max_retries=3)
    def task(self, document_id: str, run: int):
        return run_stage(self, "ocr", document_id, run, lambda ctx: ran.append(document_id) or StageOutcome())

    return task


def _redeliver(task, document_id: str, run: int, chain: list | None = None):
    task.push_request(id=str(uuid.uuid4()), args=(document_id, run), kwargs={}, retries=0, called_directly=False,
                      hostname="ocr@test-host", delivery_info={"routing_key": "ocr", "redelivered": True},
                      chain=chain)
    try:
        return task.run(document_id, run)
    finally:
        task.pop_request()


def _next_steps() -> list[dict]:
    """The rest of an OCR delivery's chain as the message carries it (last = next)."""
    return [{"task": "invoice.scanner.stages.evaluation", "args": [], "options": {}},
            {"task": "invoice.scanner.stages.extraction", "args": [], "options": {}},
            {"task": "invoice.scanner.stages.llm", "args": [], "options": {"routing_key": "llm"}}]


def test_two_deaths_under_a_document_are_not_yet_poison(db, running_document):
    settings, repo, app = db
    assert settings.max_worker_deaths == 3 and settings.sweeper_max_redrives == 10  # the defaults a user gets
    twice, twice_run = running_document(repo, "ocr")
    _died_under(repo, twice, twice_run)
    _died_under(repo, twice, twice_run, closed=False)  # the second death: the claim below closes it
    ran: list = []
    task = _ocr_task(app, ran)
    assert _redeliver(task, twice, twice_run) == twice and ran == [twice]  # two deaths: not yet


def test_the_third_death_under_a_document_alone_fails_it_as_poison(db, running_document):
    settings, repo, app = db
    ran: list = []
    task = _ocr_task(app, ran)
    doc, run = running_document(repo, "ocr")
    _died_under(repo, doc, run)
    _died_under(repo, doc, run)
    _died_under(repo, doc, run, closed=False)  # the third, the delivery before this one
    with pytest.raises(Ignore):
        _redeliver(task, doc, run)
    after = repo.get_document(doc)
    assert after.status == "ocr_error" and "kills its worker" in after.error and "3 times" in after.error
    assert ran == []  # its work was not tried a fourth time


def test_deaths_that_strike_other_documents_too_are_the_infrastructures(db, running_document):
    settings, repo, app = db
    doc, run = running_document(repo, "ocr")
    other, other_run = running_document(repo, "ocr")
    for _ in range(3):
        _died_under(repo, doc, run)
    _died_under(repo, other, other_run)  # the same stage's worker died under another document too
    _died_under(repo, doc, run, closed=False)
    ran: list = []
    steps = _next_steps()
    assert _redeliver(_ocr_task(app, ran), doc, run, chain=steps) == doc
    assert ran == [doc] and repo.get_document(doc).status == "ocr_extracting"
    # Recovered: the rest of its run goes through the recovery lanes.
    assert [s["options"]["queue"] for s in steps] == ["evaluation.recovery", "extraction.recovery", "llm.recovery"]
    assert "routing_key" not in steps[-1]["options"]


def test_the_sweeper_fails_a_document_lost_after_its_third_death_alone(world, tmp_path):
    repo, app, settings, env = world
    poison, run = _document(repo, tmp_path, status="ocr_extracting", quiet_s=90)
    _document(repo, tmp_path, status="approved")  # the stage's other documents went through
    _died_under(repo, poison, run)
    _died_under(repo, poison, run)
    _died_under(repo, poison, run, closed=False)  # the third: in flight when its worker died

    counts = maintenance.sweep_stuck_documents()

    after = repo.get_document(poison)
    assert counts["failed"] == 1 and counts["redriven"] == 0, counts
    assert after.status == "ocr_error" and "kills its worker" in after.error, after.error


def test_the_sweeper_re_drives_an_unlucky_document_up_to_its_ceiling(world, tmp_path):
    """Its worker died under it three times, but the stage's workers died under another document
    too: re-driven again, past the old budget of 3 re-drives (a scan hit by four SIGKILLs in a
    row ended ocr_error in benchmarks/chaos); a document re-driven SWEEPER_MAX_REDRIVES times
    for any reason is failed."""
    repo, app, settings, env = world
    unlucky, run = _document(repo, tmp_path, status="ocr_extracting", quiet_s=90)
    bystander, bystander_run = _document(repo, tmp_path, status="approved")
    worn, worn_run = _document(repo, tmp_path, status="preprocessed", quiet_s=90)
    _died_under(repo, unlucky, run)
    _died_under(repo, unlucky, run)
    _died_under(repo, unlucky, run, closed=False)
    _died_under(repo, bystander, bystander_run)
    with repo.tx() as cur:
        cur.execute("UPDATE documents SET redrive_count = 4 WHERE id = %s", (unlucky,))
        cur.execute("UPDATE documents SET redrive_count = %s WHERE id = %s", (settings.sweeper_max_redrives, worn))

    counts = maintenance.sweep_stuck_documents()

    assert counts["redriven"] == 1 and counts["failed"] == 1, counts
    assert repo.get_document(unlucky).pipeline_run == run + 1
    assert _ready(app, recovery_queue("ocr")) == 1  # through the recovery lane
    after = repo.get_document(worn)
    assert after.status == "ocr_error" and "after 10 re-drives" in after.error, after.error
