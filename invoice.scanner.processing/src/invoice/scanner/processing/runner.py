"""The stage runner every stage task goes through (`run_stage`) and the decorator of stage tasks.

Each stage task is thin: `run_stage` claims the document for this stage (`begin_stage`, which
records the transition and opens an attempt and hands back the document), calls the stage's
pure work function, persists its `StageOutcome`, and turns failures into retries with
exponential backoff or, after the last retry, `<stage>_error`. The queues this serves are the
five stage queues (preprocessing, ocr, llm, extraction, evaluation), each with its module
under `stages/`.
"""
from __future__ import annotations

import logging
import socket
import time
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Callable

from celery.exceptions import Ignore, SoftTimeLimitExceeded

from invoice.scanner.processing.celery_app import STAGE_TASKS, app, recovery_queue
from invoice.scanner.processing.config import Settings, get_settings
from invoice.scanner.processing.db.connection import DatabaseUnavailable
from invoice.scanner.processing.db.repository import Document, Repository
from invoice.scanner.processing.errors import PermanentStageError
from invoice.scanner.processing.status import STAGE_BY_NAME, Status

# The longest countdown before retrying an attempt that failed because PostgreSQL was
# unreachable (restarting): an outage of the database is not the document's fault, and the
# stage's backoff (up to 5 minutes for the LLM) would hold it long after the database is back
# (found by benchmarks/chaos --defaults).
DATABASE_RETRY_S = 10


class DocumentLogger(logging.LoggerAdapter):
    """Lines about one document: its id as the record's `document_id`, which the log format
    shows (logcontext.py) as it does for every line of a task."""

    def process(self, msg, kwargs):
        kwargs["extra"] = {**self.extra, **(kwargs.get("extra") or {})}
        return msg, kwargs


@lru_cache(maxsize=1)
def get_repository() -> Repository:
    settings = get_settings()
    return Repository(settings.database_url, settings.worker_db_pool_size)


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


_STAGE_OF_TASK = {task: stage for stage, task in STAGE_TASKS.items()}


def take_recovery_lane(task) -> None:
    """The rest of this run goes through the stages' recovery lanes, ahead of the backlog: the
    chain's next steps travel in this delivery's message (`request.chain`, sent by Celery from
    there when the task returns or retries). For a document the infrastructure failed under (its
    worker died, the database restarted): it has waited its turn once already."""
    for step in task.request.chain or ():
        stage = _STAGE_OF_TASK.get(step.get("task"))
        if stage is not None:
            options = step.setdefault("options", {})
            options.pop("exchange", None)
            options.pop("routing_key", None)
            options["queue"] = recovery_queue(stage)


def _retry_after_outage(task, policy, exc, stage_name: str):
    """Retry an attempt the database's outage cut off: within DATABASE_RETRY_S, through the
    stage's recovery lane, and the rest of the run after it."""
    take_recovery_lane(task)
    return task.retry(exc=exc, countdown=min(policy.countdown(task.request.retries), DATABASE_RETRY_S),
                      max_retries=policy.max_retries, queue=recovery_queue(stage_name))


def poison_reason(repo: Repository, settings: Settings, document_id: str, stage_name: str,
                  include_open: bool = False) -> str | None:
    """Why the document is failed as one that kills its worker, or None: its stage's worker
    died under it MAX_WORKER_DEATHS times while no other document's worker of that stage died
    (from the stage's deadline before its first death on). Deaths that strike the stage's other
    documents too are the infrastructure's (SIGKILLs, an OOM-killed host, restarts): those
    documents are re-driven again, up to SWEEPER_MAX_REDRIVES."""
    deaths, others = repo.worker_deaths(document_id, stage_name, settings.retry[stage_name].deadline_s,
                                        include_open=include_open)
    if deaths < settings.max_worker_deaths or others:
        return None
    return (f"{stage_name}: its worker died {deaths} times while processing this document, and under no "
            f"other document meanwhile: the document kills its worker")


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
        raise _retry_after_outage(task, policy, exc, stage_name)
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

    if claim.abandoned:
        # An earlier delivery of this stage never finished: its worker died under it.
        poison = poison_reason(repo, settings, document_id, stage_name)
        if poison is not None:
            log.error(poison)
            _safely(log, repo.record_attempt_failure, claim.attempt_id, poison, False)
            _safely(log, repo.fail_stage, document_id, stage_name, run, poison, host)
            raise Ignore()
        log.info("%s: a worker died under an earlier delivery; the rest of the run takes the recovery lane",
                 stage_name)
        take_recovery_lane(task)

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
            elif isinstance(exc, DatabaseUnavailable):
                countdown = min(countdown, DATABASE_RETRY_S)
            log.warning("%s attempt %s failed (%s); retrying in %ss", stage_name, retries + 1, reason, countdown)
            _safely(log, repo.record_attempt_failure, claim.attempt_id, reason, True)
            if isinstance(exc, DatabaseUnavailable) and not retry_after:
                take_recovery_lane(task)  # the database's outage, not the document's
                raise task.retry(exc=exc, countdown=countdown, max_retries=policy.max_retries,
                                 queue=recovery_queue(stage_name))
            raise task.retry(exc=exc, countdown=countdown, max_retries=policy.max_retries)
        final = f"{stage_name} failed after {retries + 1} attempts: {reason}"
        log.error(final)
        _safely(log, repo.record_attempt_failure, claim.attempt_id, reason, False)
        _safely(log, repo.fail_stage, document_id, stage_name, run, final, host)
        raise
    detail = {"seconds": round(time.monotonic() - started, 3), **outcome.detail}

    def record() -> bool:
        return repo.finish_stage(document_id, stage_name, run, claim.attempt_id, detail,
                                 next_status=outcome.next_status, worker_host=host,
                                 document_updates=outcome.document_updates,
                                 transition_detail=outcome.transition_detail)

    try:
        try:
            finished = record()
        except DatabaseUnavailable as exc:
            # A pooled connection that a database restart broke fails its first transaction;
            # the pool has replaced it by now. Once more, before the work is thrown away (a
            # scan's OCR or preprocessing takes minutes on a busy host: benchmarks/chaos).
            log.warning("%s could not be recorded (%s); once more", stage_name, _reason(exc))
            finished = record()
    except DatabaseUnavailable as exc:
        # The database is still away: do the work again shortly. Failing the task instead
        # would acknowledge the message and leave no next one; with RabbitMQ and a busy queue
        # the sweeper cannot tell that from queued, and waits for the deadline.
        log.warning("%s could not be recorded, database unreachable (%s); retrying", stage_name, _reason(exc))
        raise _retry_after_outage(task, policy, exc, stage_name)
    if not finished:
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


def stage_task(stage_name: str):
    """The decorator of every stage task: its name, queue, retry policy and time limits from the
    routing table's `STAGE_POLICIES` (with the environment's overrides, `Settings.retry`), late
    acks with redelivery on a lost worker."""
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
