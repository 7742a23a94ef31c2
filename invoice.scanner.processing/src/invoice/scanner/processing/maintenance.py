"""The `maintenance` queue: the sweeper and the upload outbox.

`sweep_stuck_documents` (on beat's schedule) enqueues uploads whose orchestrator task never
reached the broker (the outbox), and re-drives documents stuck past their stage deadline, or
fails them after `SWEEPER_MAX_REDRIVES` re-drives. Before it acts it asks the broker which
pipeline messages still wait in a queue (the parsing of Kombu's Redis message format lives
here) and the workers which tasks they hold, so a document queued behind others is left alone.
"""
from __future__ import annotations

import base64
import json
import logging
import socket

from invoice.scanner.processing.celery_app import (
    ORCHESTRATE_TASK,
    ORCHESTRATOR_QUEUE,
    STAGE_QUEUES,
    STAGE_TASKS,
    SWEEP_TASK,
    SWEEP_TASK_OPTIONS,
    app,
)
from invoice.scanner.processing.config import get_settings
from invoice.scanner.processing.orchestrator import orchestrate_document_processing, send_pipeline
from invoice.scanner.processing.runner import DocumentLogger, get_repository
from invoice.scanner.processing.status import TERMINAL_STATUSES, Status, stage_for_status

logger = logging.getLogger(__name__)


def waiting_messages(max_per_queue: int = 50_000) -> set[tuple[str, int | None]]:
    """(document id, run) of every pipeline message waiting in a Redis queue, not yet taken
    by a worker. Such a document is queued behind others, not lost: re-driving it would only
    send it to the back of the queue again, and under a backlog longer than the stage deadline
    it would be re-driven until it failed (found by benchmarks/chaos)."""
    found: set[tuple[str, int | None]] = set()
    with app.connection_for_read() as conn:
        if conn.transport.driver_type != "redis":
            return found
        client = conn.default_channel.client
        for queue in (ORCHESTRATOR_QUEUE, *STAGE_QUEUES):
            for raw in client.lrange(queue, 0, max_per_queue - 1):
                try:
                    message = json.loads(raw)
                    body = message["body"]
                    if message.get("properties", {}).get("body_encoding") == "base64":
                        body = base64.b64decode(body)
                    args, kwargs, _ = json.loads(body)
                    if message["headers"].get("task") == ORCHESTRATE_TASK:
                        found.add((str(args[0]), kwargs.get("expected_run")))
                    else:
                        found.add((str(args[0]), int(args[1])))
                except (ValueError, KeyError, IndexError, TypeError):
                    continue  # not one of ours
    return found


def held_by_live_workers(timeout_s: float = 2.0) -> set[tuple[str, int | None]]:
    """(document id, run) of every stage task a live worker is running, has reserved, or holds
    for a retry countdown. A stage that runs past its deadline on a live worker is slow, not
    lost: its own time limit ends it. Only work no live worker holds is re-driven."""
    found: set[tuple[str, int | None]] = set()
    inspect = app.control.inspect(timeout=timeout_s)
    for method in (inspect.active, inspect.reserved, inspect.scheduled):
        for tasks in (method() or {}).values():
            for task in tasks:
                request = task.get("request", task)  # scheduled() wraps the request
                args = request.get("args") or []
                if request.get("name") in STAGE_TASKS.values() and len(args) >= 2:
                    found.add((str(args[0]), int(args[1])))
    return found


@app.task(name=SWEEP_TASK, **SWEEP_TASK_OPTIONS)
def sweep_stuck_documents() -> dict[str, int]:
    """Re-drive documents stuck past their stage deadline, or fail them after K re-drives;
    enqueue uploads whose orchestrator task never reached the broker (the outbox)."""
    settings = get_settings()
    repo = get_repository()
    counts = {"enqueued": 0, "redriven": 0, "failed": 0, "queued": 0}
    for doc in repo.find_unenqueued(older_than_s=10):
        orchestrate_document_processing.apply_async(args=(str(doc.id), str(doc.company_id)),
                                                    kwargs={"expected_run": doc.pipeline_run})
        repo.mark_enqueued(str(doc.id))
        counts["enqueued"] += 1
    deadlines = {name: policy.deadline_s for name, policy in settings.retry.items()}
    waiting: set[tuple[str, int | None]] | None = None  # asked only when something looks stuck
    for doc in repo.find_stuck(deadlines):
        stage = stage_for_status(Status(doc.status))
        if stage is None or Status(doc.status) in TERMINAL_STATUSES:
            continue
        if waiting is None:
            waiting = waiting_messages() | held_by_live_workers()
        if (str(doc.id), doc.pipeline_run) in waiting:
            counts["queued"] += 1
            continue
        log = DocumentLogger(logger, {"document_id": str(doc.id)})
        if doc.redrive_count >= settings.sweeper_max_redrives:
            reason = f"{stage.name} did not finish within {deadlines[stage.name]}s after {doc.redrive_count} re-drives"
            if repo.fail_stage(str(doc.id), stage.name, doc.pipeline_run, reason, socket.gethostname()):
                counts["failed"] += 1
                log.error("sweeper: %s", reason)
            continue
        resume = stage.name
        run = repo.start_pipeline_run(str(doc.id), resume, expected_run=doc.pipeline_run,
                                      detail={"redrive": resume, "stuck_in": doc.status}, redrive=True)
        if run is not None:
            send_pipeline(str(doc.id), run, resume)
            counts["redriven"] += 1
            log.warning("sweeper: re-driven from %s (was %s since %s)", resume, doc.status, doc.updated_at)
    return counts
