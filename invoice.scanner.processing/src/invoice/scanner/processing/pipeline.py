"""The orchestrator, the stage runner every stage task goes through, and the sweeper.

Each stage task is thin: `run_stage` claims the document for this stage (recording the
transition), calls the stage's pure work function, persists its outcome, and turns
failures into retries with exponential backoff or, after the last retry, `<stage>_error`.
"""
from __future__ import annotations

import base64
import json
import logging
import socket
import time
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Callable

from celery import chain
from celery.exceptions import Ignore, SoftTimeLimitExceeded

from invoice.scanner.processing.celery_app import (
    ORCHESTRATE_TASK,
    ORCHESTRATOR_QUEUE,
    STAGE_QUEUES,
    STAGE_TASKS,
    SWEEP_TASK,
    app,
)
from invoice.scanner.processing.config import Settings, get_settings
from invoice.scanner.processing.db.connection import DatabaseUnavailable
from invoice.scanner.processing.db.repository import Document, DocumentNotFound, Repository
from invoice.scanner.processing.errors import PermanentStageError, TransientStageError
from invoice.scanner.processing.status import (
    STAGE_BY_NAME,
    STAGES,
    TERMINAL_STATUSES,
    Status,
    stage_for_status,
)

logger = logging.getLogger(__name__)


class DocumentLogger(logging.LoggerAdapter):
    """Lines about one document: its id as the record's `document_id`, which the log format
    shows (logcontext.py) as it does for every line of a task."""

    def process(self, msg, kwargs):
        kwargs["extra"] = {**self.extra, **(kwargs.get("extra") or {})}
        return msg, kwargs


@lru_cache(maxsize=1)
def get_repository() -> Repository:
    return Repository(get_settings().database_url)


@dataclass
class StageContext:
    document: Document
    settings: Settings
    repo: Repository
    log: logging.LoggerAdapter
    attempt: int


@dataclass
class StageOutcome:
    """What a stage's work function hands back to the runner, which persists it with the attempt."""

    detail: dict[str, Any] = field(default_factory=dict)  # kept on the attempt row (stage_attempts)
    next_status: Status | None = None  # a status of the stage's own at its end (preprocessed, approved, ...)
    document_updates: dict[str, Any] | None = None
    transition_detail: dict[str, Any] | None = None  # kept on the transition to next_status


def _reason(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    if isinstance(exc, SoftTimeLimitExceeded):
        text = "the stage ran past its time limit"
    return text[:500]


def run_stage(task, stage_name: str, document_id: str, run: int,
              work: Callable[[StageContext], StageOutcome]) -> str:
    settings = get_settings()
    repo = get_repository()
    stage = STAGE_BY_NAME[stage_name]
    policy = settings.retry[stage_name]
    host = task.request.hostname or socket.gethostname()
    log = DocumentLogger(logging.getLogger(f"invoice.scanner.stages.{stage_name}"), {"document_id": document_id})

    try:
        claim = repo.begin_stage(document_id, stage_name, run, task.request.retries, host)
    except DatabaseUnavailable as exc:
        # The database is restarting: try again shortly instead of dropping the message and
        # leaving the document to the sweeper's deadline (found by benchmarks/chaos).
        log.warning("%s could not start, database unreachable (%s); retrying", stage_name, _reason(exc))
        raise task.retry(exc=exc, countdown=min(policy.countdown(task.request.retries), 10),
                         max_retries=policy.max_retries)
    if claim.action == "stale":
        log.info("%s skipped: %s", stage_name, claim.reason)
        raise Ignore()
    if claim.action == "done":
        doc = claim.document
        if doc.status in {stage.running.value, (stage.done or stage.running).value}:
            log.info("%s already done in run %s; continuing the chain", stage_name, run)
            return document_id
        log.info("%s already done in run %s and the document moved on; nothing to do", stage_name, run)
        raise Ignore()

    started = time.monotonic()
    ctx = StageContext(claim.document, settings, repo, log, task.request.retries)
    log.info("%s started (run %s, attempt %s, host %s)", stage_name, run, task.request.retries + 1, host)
    try:
        outcome = work(ctx)
    except PermanentStageError as exc:
        reason = _reason(exc)
        log.warning("%s failed permanently: %s", stage_name, reason)
        repo.record_attempt_failure(claim.attempt_id, reason, will_retry=False)
        repo.fail_stage(document_id, stage_name, run, reason, host)
        raise
    except Exception as exc:  # everything else is worth a retry: a bug shows up after the last one
        reason = _reason(exc)
        retries = task.request.retries
        if retries < policy.max_retries:
            countdown = policy.countdown(retries)
            retry_after = getattr(exc, "retry_after_s", None)
            if retry_after:
                countdown = max(countdown, int(retry_after))
            log.warning("%s attempt %s failed (%s); retrying in %ss", stage_name, retries + 1, reason, countdown)
            _safely(log, repo.record_attempt_failure, claim.attempt_id, reason, True)
            raise task.retry(exc=exc, countdown=countdown, max_retries=policy.max_retries)
        final = f"{stage_name} failed after {retries + 1} attempts: {reason}"
        log.error(final)
        _safely(log, repo.record_attempt_failure, claim.attempt_id, reason, False)
        _safely(log, repo.fail_stage, document_id, stage_name, run, final, host)
        raise
    detail = {"seconds": round(time.monotonic() - started, 3), **outcome.detail}
    if not repo.finish_stage(document_id, stage_name, run, claim.attempt_id, detail,
                             next_status=outcome.next_status, worker_host=host,
                             document_updates=outcome.document_updates,
                             transition_detail=outcome.transition_detail):
        log.info("%s finished for superseded run %s; a newer run owns the document", stage_name, run)
        raise Ignore()
    log.info("%s finished in %.2fs", stage_name, detail["seconds"])
    return document_id


def _safely(log: logging.LoggerAdapter, fn, *args) -> None:
    """Record a failure without hiding the original error if the database is down too;
    the sweeper finds the document later."""
    try:
        fn(*args)
    except Exception:
        log.exception("could not record the failure; the sweeper will re-drive the document")


def stages_from(from_stage: str) -> list[str]:
    names = [s.name for s in STAGES]
    return names[names.index(from_stage):]


def send_pipeline(document_id: str, run: int, from_stage: str = "preprocessing"):
    signatures = [
        app.signature(STAGE_TASKS[name], args=(document_id, run), immutable=True) for name in stages_from(from_stage)
    ]
    return chain(*signatures).apply_async()


@app.task(name=ORCHESTRATE_TASK, bind=True, acks_late=True, reject_on_worker_lost=True,
          autoretry_for=(Exception,), dont_autoretry_for=(DocumentNotFound,), retry_backoff=5,
          retry_backoff_max=300, max_retries=10, time_limit=60)
def orchestrate_document_processing(self, document_id: str, company_id: str, from_stage: str = "preprocessing",
                                    expected_run: int | None = None) -> str:
    """Start (or resume from `from_stage`) the five-stage chain for one document.

    `expected_run` makes a redelivered orchestrator message harmless: the run only starts
    if the document is still at the run the sender saw.
    """
    repo = get_repository()
    log = DocumentLogger(logger, {"document_id": document_id})
    doc = repo.get_document(document_id)
    if str(doc.company_id) != str(company_id):
        log.error("company mismatch: task for company %s, document belongs to %s", company_id, doc.company_id)
        raise Ignore()
    run = repo.start_pipeline_run(document_id, from_stage, expected_run=expected_run)
    if run is None:
        log.info("orchestration skipped: the document is already at a newer run")
        raise Ignore()
    send_pipeline(document_id, run, from_stage)
    log.info("pipeline run %s queued from %s", run, from_stage)
    return document_id


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


@app.task(name=SWEEP_TASK, acks_late=True, time_limit=120)
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


def stage_task(stage_name: str):
    """The decorator of every stage task: its name and queue from the routing table, its
    retry policy and time limits from config, late acks with redelivery on a lost worker."""
    policy = get_settings().retry[stage_name]
    return app.task(
        name=STAGE_TASKS[stage_name],
        bind=True,
        acks_late=True,
        reject_on_worker_lost=True,
        max_retries=policy.max_retries,
        soft_time_limit=policy.time_limit_s,
        time_limit=policy.time_limit_s + 30,
    )
