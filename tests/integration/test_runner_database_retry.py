"""A stage attempt that fails because PostgreSQL went away (a restart cuts every session) is
retried within seconds, not after the stage's backoff (5 minutes for the LLM); and work done
but not recorded because the database went away is retried, never acknowledged without a next
message (with RabbitMQ and a busy queue the sweeper could not tell that document from a
queued one). Real PostgreSQL, whose sessions are cut as a fast shutdown cuts them
(`pg_terminate_backend`), and a real Celery task called in the test process, its retry
published to a real Redis broker.
"""
from __future__ import annotations

import uuid

import psycopg
import pytest
from celery.exceptions import Retry

from invoice.scanner.processing import liveness, runner
from invoice.scanner.processing.celery_app import create_app
from invoice.scanner.processing.config import Settings
from invoice.scanner.processing.db.connection import close_pools
from invoice.scanner.processing.db.repository import Repository
from invoice.scanner.processing.runner import DATABASE_RETRY_S, StageOutcome, run_stage


@pytest.fixture
def world(fresh_database, redis_db_url, monkeypatch):
    url = fresh_database("invoice_scanner_test_runner_db_retry")
    settings = Settings.from_env({}, database_url=url, redis_url=redis_db_url(13))
    repo = Repository(url)
    monkeypatch.setattr(runner, "get_settings", lambda: settings)
    monkeypatch.setattr(runner, "get_repository", lambda: repo)
    yield url, settings, repo, create_app(settings)
    close_pools()


def _cut_every_session(url: str) -> None:
    """What PostgreSQL's fast shutdown does to each session of this database."""
    with psycopg.connect(url, autocommit=True) as admin:
        admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                      "WHERE datname = current_database() AND pid <> pg_backend_pid()")


def _llm_task(app, work):
    @app.task(bind=True, name=f"test.llm.{uuid.uuid4().hex}", max_retries=3)
    def task(self, document_id: str, run: int):
        return run_stage(self, "llm", document_id, run, work)

    return task


def _deliver(task, document_id: str, run: int, retries: int = 0):
    """Run the task as a worker runs one delivery of its message (not called directly: its
    retry is published to the broker and raised as Retry)."""
    task.push_request(id=str(uuid.uuid4()), args=(document_id, run), kwargs={}, retries=retries,
                      called_directly=False, hostname="llm@test-host", delivery_info={"routing_key": "llm"})
    try:
        return task.run(document_id, run)
    finally:
        task.pop_request()


def _retry_waiting(app) -> set:
    with app.connection_for_read() as conn:
        return liveness.redis_waiting(conn)


def _attempts(repo: Repository, doc: str) -> list[tuple[str | None, bool]]:
    with repo.tx() as cur:
        cur.execute("SELECT outcome, finished_at IS NOT NULL AS finished FROM stage_attempts "
                    "WHERE document_id = %s ORDER BY id", (doc,))
        return [(r["outcome"], r["finished"]) for r in cur.fetchall()]


def test_work_cut_off_by_a_database_restart_is_retried_in_seconds_not_after_the_backoff(world, running_document):
    url, settings, repo, app = world
    assert settings.retry["llm"].countdown(0) == 300  # the LLM stage's own backoff, for vendors

    def work(ctx):
        _cut_every_session(url)
        ctx.repo.load_pages(str(ctx.document.id))  # the stage's next query meets the cut session
        return StageOutcome()

    doc, run = running_document(repo, "llm")
    with pytest.raises(Retry) as retry:
        _deliver(_llm_task(app, work), doc, run)
    assert retry.value.when == DATABASE_RETRY_S
    assert _attempts(repo, doc) == [("retry", True)]
    assert _retry_waiting(app) == {(doc, run)}  # the retry's message is on the broker

    # Any other failure keeps the stage's backoff.
    def broken(ctx):
        raise ValueError("a bug")

    other, other_run = running_document(repo, "llm")
    with pytest.raises(Retry) as retry:
        _deliver(_llm_task(app, broken), other, other_run)
    assert retry.value.when == 300


def test_work_whose_record_meets_a_cut_session_is_recorded_without_doing_it_again(world, running_document):
    """The restart lands between the work and its record: the pooled session is gone, the first
    transaction on it fails; the record is tried once more on a fresh session, and the work (a
    scan's OCR: minutes on a busy host) is kept, not retried."""
    url, settings, repo, app = world
    calls = []

    def work(ctx):
        calls.append(ctx.attempt)
        _cut_every_session(url)
        return StageOutcome(detail={"call": len(calls)})

    doc, run = running_document(repo, "llm")
    repo.get_document(doc)  # the pool holds sessions, as a worker's does
    assert _deliver(_llm_task(app, work), doc, run) == doc
    assert calls == [0]
    assert _attempts(repo, doc) == [("ok", True)]
    assert _retry_waiting(app) == set()


def test_work_done_while_the_database_stays_away_is_retried_then_recorded_once(world, running_document):
    url, settings, repo, app = world
    calls = []
    name = url.rsplit("/", 1)[1]

    def allow(on: bool) -> None:
        with psycopg.connect(url.rsplit("/", 1)[0] + "/postgres", autocommit=True) as admin:
            admin.execute(f'ALTER DATABASE "{name}" WITH ALLOW_CONNECTIONS {"true" if on else "false"}')

    def work(ctx):
        calls.append(ctx.attempt)
        if len(calls) == 1:  # the database goes away between the work and its record, and stays away
            _cut_every_session(url)
            allow(False)
        return StageOutcome(detail={"call": len(calls)})

    doc, run = running_document(repo, "llm")
    task = _llm_task(app, work)
    try:
        with pytest.raises(Retry) as retry:
            _deliver(task, doc, run)
    finally:
        allow(True)
    assert retry.value.when == DATABASE_RETRY_S
    assert _attempts(repo, doc) == [(None, False)]  # open: nothing was recorded
    assert _retry_waiting(app) == {(doc, run)}  # but the retry's message is on the broker

    assert _deliver(task, doc, run, retries=1) == doc  # the retry's delivery
    assert calls == [0, 1]
    assert _attempts(repo, doc) == [("abandoned", True), ("ok", True)]  # the cut-off attempt closed, one success
    assert repo.get_document(doc).status == "predicting"


def test_a_sweep_that_meets_a_database_restart_is_tried_again_in_seconds(world, monkeypatch):
    """Each process's first transaction after a restart fails; for the sweeper that was a whole
    sweep, and the next came a beat interval later (found by benchmarks/chaos --defaults)."""
    from invoice.scanner.processing import maintenance

    url, settings, repo, app = world
    monkeypatch.setattr(maintenance, "get_settings", lambda: settings)
    monkeypatch.setattr(maintenance, "get_repository", lambda: repo)
    repo.find_unenqueued(older_than_s=10)  # the pool holds a session, as a worker's does
    _cut_every_session(url)
    task = maintenance.sweep_stuck_documents
    # is_eager: the retry is raised, not published (the task's own app is the process's one)
    task.push_request(id=str(uuid.uuid4()), args=(), kwargs={}, retries=0, called_directly=False, is_eager=True)
    try:
        with pytest.raises(Retry) as retry:
            task.run()
    finally:
        task.pop_request()
    assert retry.value.when == maintenance.SWEEP_DATABASE_RETRY_S
    assert task.run()["redriven"] == 0  # the retry finds the database back
