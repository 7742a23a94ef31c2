"""The sweeper leaves a document alone while its message waits in a queue: a backlog longer
than a stage deadline is not a lost message (benchmarks/chaos showed queued documents
re-driven to the back of the queue until they failed). Real Redis, no workers."""
from __future__ import annotations

import uuid

import pytest

from invoice.scanner.processing import liveness, maintenance, orchestrator
from invoice.scanner.processing.celery_app import ORCHESTRATE_TASK, create_app
from invoice.scanner.processing.config import Settings


@pytest.fixture
def broker_app(redis_db_url, monkeypatch):
    app = create_app(Settings(redis_url=redis_db_url(9)))
    monkeypatch.setattr(orchestrator, "app", app)
    monkeypatch.setattr(maintenance, "app", app)
    # Its connection pool is left open: Kombu keeps one pool per broker URL for the process, and
    # the next test's app gets the same one (closed, every acquire on it fails).
    return app


def test_waiting_messages_lists_queued_stage_and_orchestrator_messages(broker_app):
    queued, orchestrated = str(uuid.uuid4()), str(uuid.uuid4())
    orchestrator.send_pipeline(queued, 3, "ocr")  # the chain's first message waits on the ocr queue
    broker_app.send_task(ORCHESTRATE_TASK, args=[orchestrated, str(uuid.uuid4())], kwargs={"expected_run": 0})
    waiting = maintenance.waiting_messages()
    assert (queued, 3) in waiting
    assert (orchestrated, 0) in waiting
    assert (queued, 2) not in waiting  # a message of an older run does not count


def test_no_waiting_messages_on_an_empty_broker(broker_app):
    assert maintenance.waiting_messages() == set()


def test_with_no_worker_answering_nothing_is_held_and_no_worker_answered(broker_app):
    """No reply to any of the three inspect questions: the sweeper cannot tell held from lost
    and calls nothing lost (liveness.judge: "unknown")."""
    assert liveness.held_by_live_workers(broker_app, timeout_s=0.5) == (set(), False)
