"""The `maintenance` queue: the sweeper and the upload outbox.

`sweep_stuck_documents` (on beat's schedule) enqueues uploads whose orchestrator task never
reached the broker (the outbox), and re-drives documents that are lost (in no queue, held by
no live worker, for `LOST_AFTER_S`) or stuck past their stage deadline, through the stages'
recovery lanes (ahead of the backlog: celery_app.RECOVERY_QUEUES); it fails a document whose
worker died under it `MAX_WORKER_DEATHS` times and under no other document meanwhile (poison:
runner.poison_reason), or one re-driven `SWEEPER_MAX_REDRIVES` times for any reason; the
re-drive's history row says why (`redrive_reason`: lost | deadline). What is queued or held is left alone: `liveness.py` asks the broker (Redis
or RabbitMQ) and the workers, and holds the parsing of Kombu's Redis message format.
"""
from __future__ import annotations

import logging
import socket
from datetime import datetime, timezone

from invoice.scanner.processing import liveness
from invoice.scanner.processing.celery_app import SWEEP_TASK, SWEEP_TASK_OPTIONS, app
from invoice.scanner.processing.config import get_settings
from invoice.scanner.processing.db.connection import DatabaseUnavailable
from invoice.scanner.processing.orchestrator import orchestrate_document_processing, send_pipeline
from invoice.scanner.processing.runner import DocumentLogger, get_repository, poison_reason
from invoice.scanner.processing.status import TERMINAL_STATUSES, Status, stage_for_status

logger = logging.getLogger(__name__)


def waiting_messages(max_per_queue: int = 50_000) -> set[tuple[str, int | None]]:
    """(document id, run) of every pipeline message waiting in a Redis queue (liveness.py)."""
    with app.connection_for_read() as conn:
        return liveness.redis_waiting(conn, max_per_queue) if conn.transport.driver_type == "redis" else set()


def held_by_live_workers(timeout_s: float = 2.0) -> set[tuple[str, int | None]]:
    """(document id, run) of every stage task a live worker runs, reserved or holds (liveness.py)."""
    return liveness.held_by_live_workers(app, timeout_s)[0]


# A sweep that meets PostgreSQL restarting (each process's first transaction after a restart
# fails) is tried again this much later instead of waiting for the next beat.
SWEEP_DATABASE_RETRY_S = 5


@app.task(name=SWEEP_TASK, **SWEEP_TASK_OPTIONS)
def sweep_stuck_documents() -> dict[str, int]:
    """Re-drive documents stuck past their stage deadline, or fail them after K re-drives;
    enqueue uploads whose orchestrator task never reached the broker (the outbox)."""
    try:
        return _sweep()
    except DatabaseUnavailable as exc:
        logger.warning("sweep: database unreachable (%s); again in %ss", exc, SWEEP_DATABASE_RETRY_S)
        raise sweep_stuck_documents.retry(exc=exc, countdown=SWEEP_DATABASE_RETRY_S, max_retries=3)


def _sweep() -> dict[str, int]:
    settings = get_settings()
    repo = get_repository()
    counts = {"enqueued": 0, "redriven": 0, "failed": 0, "queued": 0}
    for doc in repo.find_unenqueued(older_than_s=10):
        orchestrate_document_processing.apply_async(args=(str(doc.id), str(doc.company_id)),
                                                    kwargs={"expected_run": doc.pipeline_run})
        repo.mark_enqueued(str(doc.id))
        counts["enqueued"] += 1
    deadlines = {name: policy.deadline_s for name, policy in settings.retry.items()}
    # Quiet for LOST_AFTER_S is enough to be looked at: lost is not slow (liveness.py).
    quiet_after = {name: min(deadline, settings.lost_after_s) for name, deadline in deadlines.items()}
    view: liveness.BrokerView | None = None  # asked only when something looks stuck
    now = datetime.now(timezone.utc)
    for doc in repo.find_stuck(quiet_after):
        stage = stage_for_status(Status(doc.status))
        if stage is None or Status(doc.status) in TERMINAL_STATUSES:
            continue
        if view is None:
            view = liveness.look(app)
        with repo.tx() as cur:
            due = liveness.retry_due(cur, str(doc.id), doc.pipeline_run, stage.name, settings)
        quiet_s = (now - doc.updated_at).total_seconds()
        verdict = liveness.judge(view, str(doc.id), doc.pipeline_run, stage.name, quiet_s, deadlines[stage.name],
                                 settings.lost_after_s, due, now=now)
        if verdict.action == "leave":
            if verdict.reason in {"queued", "held", "countdown"} and quiet_s >= deadlines[stage.name]:
                counts["queued"] += 1
            continue
        log = DocumentLogger(logger, {"document_id": str(doc.id)})
        # Its open attempt, if any, is held by no live worker: that worker died under it.
        poison = poison_reason(repo, settings, str(doc.id), stage.name, include_open=True)
        if poison is not None or doc.redrive_count >= settings.sweeper_max_redrives:
            reason = poison or (
                f"{stage.name} did not finish within {deadlines[stage.name]}s after {doc.redrive_count} re-drives"
                if verdict.reason == "deadline" else
                f"{stage.name}: its message was lost again after {doc.redrive_count} re-drives")
            if repo.fail_stage(str(doc.id), stage.name, doc.pipeline_run, reason, socket.gethostname()):
                counts["failed"] += 1
                log.error("sweeper: %s", reason)
            continue
        resume = stage.name
        # Only if it has not moved since the sweep read it: asking the workers takes seconds, and
        # a stage that claimed it meanwhile must not be superseded (benchmarks/chaos saw a
        # 106 s OCR thrown away so).
        run = repo.start_pipeline_run(str(doc.id), resume, expected_run=doc.pipeline_run,
                                      detail={"redrive": resume, "stuck_in": doc.status,
                                              "redrive_reason": verdict.reason, "quiet_s": round(quiet_s)},
                                      redrive=True, expected_updated_at=doc.updated_at)
        if run is not None:
            send_pipeline(str(doc.id), run, resume, recovery=True)  # ahead of the backlog
            counts["redriven"] += 1
            counts[verdict.reason] = counts.get(verdict.reason, 0) + 1
            log.warning("sweeper: re-driven from %s (%s: was %s for %.0fs)", resume, verdict.reason, doc.status,
                        quiet_s)
    return counts
