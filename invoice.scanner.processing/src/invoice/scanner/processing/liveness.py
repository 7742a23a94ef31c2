"""Is a quiet document slow, or lost? What the sweeper asks before it re-drives one.

A document that has not changed for a while is in one of these states:

- **queued**: its next message waits in a queue behind others. Re-driving it would only send
  it to the back of the queue again (found by benchmarks/chaos), so it is left alone.
- **held**: a live worker runs it, has reserved it, or holds it for a retry countdown
  (`inspect active / reserved / scheduled`). A stage that runs long on a live worker is slow,
  not lost: its own time limit ends it.
- **in a retry countdown on the broker**: with RabbitMQ, Celery's native delayed delivery keeps
  the countdown in the broker's delay queues, not in a worker; the attempt's row says when the
  retry is due (`stage_attempts`: outcome `retry`, finished at, attempt number).
- **lost**: none of the above. A SIGKILLed Redis loses its last second of writes, a worker
  killed with an unacknowledged Redis message leaves it invisible until the visibility
  timeout (2 h): nothing will ever move such a document. After `LOST_AFTER_S` (60 s, well
  above the hand-off between two stages) the sweeper re-drives it, whatever its stage deadline.

What "queued" can know depends on the broker:
- Redis: the queues are lists; every waiting message is read, so the answer is exact, per
  document and run.
- RabbitMQ: messages cannot be read without taking them, so the probe asks each queue how many
  messages are ready (a passive declare). A document whose stage queue has none waiting is not
  queued; one whose queue has some *may* be behind them, and is left to its stage deadline
  until the queue drains (a document is never re-driven while it may still be queued).
"""
from __future__ import annotations

import base64
import json
import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import NamedTuple

from celery import Celery

from invoice.scanner.processing.celery_app import (ORCHESTRATE_TASK, ORCHESTRATOR_QUEUE, RECOVERY_QUEUES,
                                                   STAGE_QUEUES, STAGE_TASKS)
from invoice.scanner.processing.config import Settings

logger = logging.getLogger(__name__)

Key = tuple[str, "int | None"]  # (document id, pipeline run); None: an orchestrator message without a run


@dataclass
class BrokerView:
    """One look at the broker and the workers, taken once per sweep when something is quiet."""

    waiting: set[Key] = field(default_factory=set)  # exact (Redis)
    busy_queues: set[str] = field(default_factory=set)  # queues with messages we cannot read (RabbitMQ)
    held: set[Key] = field(default_factory=set)
    workers_answered: bool = True  # False: the inspect broadcast failed; nothing is called lost

    def queued(self, document_id: str, run: int, stage: str) -> bool:
        """Its next message may be waiting: exactly (Redis), or its stage's queue or the next
        stage's (a document keeps its stage's running status until the next stage claims it)
        or the orchestrator's has messages we cannot read (RabbitMQ)."""
        if (document_id, run) in self.waiting or (document_id, None) in self.waiting:
            return True
        stages = {stage, *_next_stage(stage)}
        return bool(self.busy_queues & {ORCHESTRATOR_QUEUE, *stages, *(RECOVERY_QUEUES[s] for s in stages)})

    def is_held(self, document_id: str, run: int) -> bool:
        return (document_id, run) in self.held


def _next_stage(stage: str) -> list[str]:
    i = STAGE_QUEUES.index(stage) if stage in STAGE_QUEUES else -1
    return list(STAGE_QUEUES[i + 1:i + 2]) if i >= 0 else []


# Every queue a pipeline message can wait in: the stages' recovery lanes included.
_PIPELINE_QUEUES = (ORCHESTRATOR_QUEUE, *STAGE_QUEUES, *RECOVERY_QUEUES.values())


def redis_waiting(conn, max_per_queue: int = 50_000) -> set[Key]:
    """(document id, run) of every pipeline message waiting in a Redis queue, not yet taken."""
    found: set[Key] = set()
    client = conn.default_channel.client
    for queue in _PIPELINE_QUEUES:
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


def _amqp_busy_queues(conn) -> set[str]:
    """Queues with ready messages (a passive declare: it creates nothing, reads nothing)."""
    busy: set[str] = set()
    for queue in _PIPELINE_QUEUES:
        channel = conn.channel()
        try:
            _, ready, _ = channel.queue_declare(queue=queue, passive=True)
        except Exception as exc:  # a queue not declared yet (no worker started it) holds nothing
            logger.debug("queue %s: %s", queue, exc)
            ready = 0
        finally:
            try:
                channel.close()
            except Exception:  # the passive declare of a missing queue closed it already
                pass
        if ready:
            busy.add(queue)
    return busy


def held_by_live_workers(app: Celery, timeout_s: float = 2.0) -> tuple[set[Key], bool]:
    """(document id, run) of every stage task a live worker runs, has reserved, or holds for a
    retry countdown; and whether any worker answered at all.

    A worker answers as Celery's inspect counts it: its reply comes before `timeout_s` pass with
    none. The three questions go out at once, one thread each (Kombu gives each broadcast its
    own reply queue), so a sweep waits out that silence once, not three times (~2 s, not ~6)."""
    found: set[Key] = set()
    answered = False
    inspect = app.control.inspect(timeout=timeout_s)
    with ThreadPoolExecutor(max_workers=3, thread_name_prefix="inspect") as pool:
        answers = list(pool.map(lambda ask: ask(), (inspect.active, inspect.reserved, inspect.scheduled)))
    for replies in answers:
        if replies:
            answered = True
        for tasks in (replies or {}).values():
            for task in tasks:
                request = task.get("request", task)  # scheduled() wraps the request
                args = request.get("args") or []
                if request.get("name") in STAGE_TASKS.values() and len(args) >= 2:
                    found.add((str(args[0]), int(args[1])))
    return found, answered


def look(app: Celery, max_per_queue: int = 50_000) -> BrokerView:
    """Queues first, then workers: a message taken in between is seen in one of the two."""
    view = BrokerView()
    with app.connection_for_read() as conn:
        if conn.transport.driver_type == "redis":
            view.waiting = redis_waiting(conn, max_per_queue)
        else:
            view.busy_queues = _amqp_busy_queues(conn)
    view.held, view.workers_answered = held_by_live_workers(app)
    return view


def retry_due(cur, document_id: str, run: int, stage: str, settings: Settings) -> datetime | None:
    """When the pending retry of this stage is due, if its last attempt ended asking for one
    (the countdown lives on the broker with RabbitMQ, in a worker with Redis)."""
    cur.execute(
        """SELECT attempt, finished_at, outcome FROM stage_attempts
           WHERE document_id = %s AND pipeline_run = %s AND stage = %s
           ORDER BY id DESC LIMIT 1""",
        (document_id, run, stage),
    )
    row = cur.fetchone()
    if row is None or row["outcome"] != "retry" or row["finished_at"] is None:
        return None
    policy = settings.retry[stage]
    return row["finished_at"] + timedelta(seconds=policy.countdown(int(row["attempt"] or 0)))


class Verdict(NamedTuple):
    action: str  # "leave" | "redrive"
    reason: str  # queued | held | countdown | unknown | lost | deadline


def judge(view: BrokerView, document_id: str, run: int, stage: str, quiet_s: float, deadline_s: float,
          lost_after_s: float, retry_due_at: datetime | None, now: datetime | None = None) -> Verdict:
    """The sweeper's rule for one quiet document (quiet_s: seconds since it last changed)."""
    now = now or datetime.now(timezone.utc)
    if view.is_held(document_id, run):
        return Verdict("leave", "held")
    if view.queued(document_id, run, stage):
        return Verdict("leave", "queued")
    if retry_due_at is not None and now < retry_due_at + timedelta(seconds=lost_after_s):
        return Verdict("leave", "countdown")
    if quiet_s >= deadline_s:
        return Verdict("redrive", "deadline")
    if not view.workers_answered:
        return Verdict("leave", "unknown")  # no worker answered the inspect: cannot tell held from lost
    if quiet_s >= lost_after_s:
        return Verdict("redrive", "lost")
    return Verdict("leave", "recent")
