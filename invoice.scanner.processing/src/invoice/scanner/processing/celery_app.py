"""All Celery wiring in one place: the queues, the routing table, per-stage retry policy
and limits, and the broker settings that keep documents from being lost.

docker-compose's worker commands and `make run` read `QUEUES` / `STAGE_QUEUES` from here
(`python -m invoice.scanner.processing.worker --queue ocr`).

Importing this module does not import any stage (heavy) code: the API uses `app` only to
send the orchestrator task by name.
"""
from __future__ import annotations

from dataclasses import dataclass

from celery import Celery, signals
from kombu import Exchange, Queue

from invoice.scanner.processing import logcontext
from invoice.scanner.processing.config import Settings, get_settings
from invoice.scanner.processing.status import STAGES

ORCHESTRATOR_QUEUE = "orchestrator"
STAGE_QUEUES: tuple[str, ...] = tuple(s.name for s in STAGES)  # preprocessing, ocr, llm, extraction, evaluation
MAINTENANCE_QUEUE = "maintenance"  # the stuck-document sweeper
WEBHOOKS_QUEUE = "webhooks"  # outgoing webhook deliveries (webhooks/tasks.py)
INGEST_QUEUE = "ingest"  # the watched folder INGEST_DIR (api/ingest_folder.py)
MAIL_QUEUE = "mail"  # the companies' IMAP mailboxes (api/mail_ingest.py)
QUEUES: tuple[str, ...] = (ORCHESTRATOR_QUEUE, *STAGE_QUEUES, MAINTENANCE_QUEUE, WEBHOOKS_QUEUE, INGEST_QUEUE,
                           MAIL_QUEUE)

ORCHESTRATE_TASK = "invoice.scanner.orchestrate_document_processing"
SWEEP_TASK = "invoice.scanner.sweep_stuck_documents"
WEBHOOK_RELAY_TASK = "invoice.scanner.webhooks.relay"
WEBHOOK_DELIVER_TASK = "invoice.scanner.webhooks.deliver"
INGEST_POLL_TASK = "invoice.scanner.ingest.poll_folder"
MAIL_POLL_TASK = "invoice.scanner.ingest.poll_mailboxes"
MAIL_POLL_ONE_TASK = "invoice.scanner.ingest.poll_mailbox"  # one mailbox: IDLE saw mail, or a retry
# The folder's files go through the API's upload path, so its task module lives in the API
# package; only the ingest and mail workers import it (worker.py), where that package is installed.
INGEST_TASK_MODULE = "invoice.scanner.api.ingest_tasks"
STAGE_TASKS: dict[str, str] = {q: f"invoice.scanner.stages.{q}" for q in STAGE_QUEUES}

# The recovery lane: one more queue per stage, `<stage>.recovery`, which the stage's workers
# drain before their own queue. A run the sweeper re-drives, and an attempt retried because
# the infrastructure failed under it (the database restarting), travel it for the rest of their
# run, so a recovered document does not wait again behind the backlog that formed while it was
# lost (benchmarks/chaos --defaults: re-driven documents waited a median 200-300 s per stage
# behind about 100 others). One mechanism for both brokers: RabbitMQ 3.x quorum queues have no
# message priorities (4.0 brings two levels) and classic priority queues have no delivery
# limit; Kombu's Redis transport serves a worker's queues in the order given only with
# `queue_order_strategy="priority"` (its default rotates them round-robin).
RECOVERY_SUFFIX = ".recovery"
RECOVERY_QUEUES: dict[str, str] = {q: f"{q}{RECOVERY_SUFFIX}" for q in STAGE_QUEUES}


def recovery_queue(stage: str) -> str:
    return RECOVERY_QUEUES[stage]


def consumed_queues(queue: str) -> list[str]:
    """What a worker started for `queue` consumes, first served first: a stage's recovery lane
    before its own queue; any other queue alone."""
    return [RECOVERY_QUEUES[queue], queue] if queue in RECOVERY_QUEUES else [queue]



@dataclass(frozen=True)
class RetryPolicy:
    max_retries: int
    backoff_s: int  # first countdown; doubles on each retry
    time_limit_s: int  # hard limit for one attempt (the soft limit; the hard one is 30 s later)
    deadline_s: int  # how long a document may sit in this stage before the sweeper acts

    def countdown(self, retries_done: int) -> int:
        return self.backoff_s * (2 ** retries_done)


@dataclass(frozen=True)
class Recycling:
    """When a worker's pool process is replaced by a fresh fork (Celery's
    `worker_max_tasks_per_child` / `worker_max_memory_per_child`), per worker type.

    The guard against a process that grows (OCR runtimes do: docs/LESSONS.md) costs a fresh
    child's start-up each time: the OCR model (0.61 s of CPU), Saxon's stylesheets in evaluation
    (1.2 s), the orchestrator's and the stages' first tasks; every 200 tasks that was 12-15 ms of
    CPU per born-digital document (benchmarks/throughput, ARCHITECTURE.md "Capacity"). So each
    worker type is recycled by its own measure: the text stages by size (a child whose peak
    resident size passed `max_memory_kb` after a task), with a task count far above their
    start-up's cost as a backstop against leaks that are not memory; OCR by size and by count.
    `WORKER_MAX_TASKS_PER_CHILD` / `WORKER_MAX_MEMORY_PER_CHILD_KB` set one worker's values
    over these (0: no limit by that measure)."""

    max_tasks: int | None  # replaced after this many tasks; None: never by count
    max_memory_kb: int | None  # replaced after a task that left its peak RSS above this (KiB); None: never by size


@dataclass(frozen=True)
class StagePolicy:
    """Everything about one stage's queue, in one place: its task (queue name = stage name =
    module name under stages/), retries, backoff, time limit, deadline and worker profile."""

    retry: RetryPolicy  # the defaults; <STAGE>_MAX_RETRIES, _RETRY_BACKOFF_S, _TIME_LIMIT_S,
    #                     _DEADLINE_S override them (config.Settings.retry)
    concurrency: int  # worker processes per worker of this queue (docker-compose, make run, k8s)
    recycling: Recycling  # when a pool process of this queue's worker is replaced


# Recycling (see Recycling). Peak resident sizes of the pool processes in
# benchmarks/throughput (born-digital, 316 documents, none replaced): evaluation 296 MB (Saxon's
# stylesheets), llm 166 MB, OCR 181 MB with its model, every other text worker under 95 MB; a
# forked child starts at its warmed parent's size (shared pages count). OCR on scans peaks at
# 0.6-0.75 GiB per process (benchmarks/ocr), and the issue bounds it at 1.2 GiB; rendering big
# scans is preprocessing's risk. Each limit is below its worker's container memory limit
# (docker-compose, k8s; tests/unit/test_recycling.py). The task counts are a backstop for
# leaks that are not memory: a re-fork's start-up (at most 1.2 s of CPU, evaluation's) over
# 5,000 tasks, the OCR model's 0.61 s over 1,000, are under 0.3 and 0.7 ms per task.
TEXT_MAX_TASKS = 5000
TEXT_MAX_MEMORY_KB = 400_000
PREPROCESSING_MAX_MEMORY_KB = 1_500_000
OCR_MAX_TASKS = 1000
OCR_MAX_MEMORY_KB = 1_300_000
TEXT_RECYCLING = Recycling(max_tasks=TEXT_MAX_TASKS, max_memory_kb=TEXT_MAX_MEMORY_KB)
PREPROCESSING_RECYCLING = Recycling(max_tasks=TEXT_MAX_TASKS, max_memory_kb=PREPROCESSING_MAX_MEMORY_KB)
OCR_RECYCLING = Recycling(max_tasks=OCR_MAX_TASKS, max_memory_kb=OCR_MAX_MEMORY_KB)

# Retries from the pipeline issue: preprocessing 2 from 60 s, ocr 3 from 120 s, llm 3 from
# 300 s, extraction and evaluation 2 from 30 s.
STAGE_POLICIES: dict[str, StagePolicy] = {
    "preprocessing": StagePolicy(RetryPolicy(2, 60, 300, 900), concurrency=2, recycling=PREPROCESSING_RECYCLING),
    # one model copy per process; one task at a time on a GPU
    "ocr": StagePolicy(RetryPolicy(3, 120, 900, 1800), concurrency=1, recycling=OCR_RECYCLING),
    # I/O bound with vendor providers
    "llm": StagePolicy(RetryPolicy(3, 300, 600, 3600), concurrency=4, recycling=TEXT_RECYCLING),
    "extraction": StagePolicy(RetryPolicy(2, 30, 120, 600), concurrency=2, recycling=TEXT_RECYCLING),
    "evaluation": StagePolicy(RetryPolicy(2, 30, 120, 600), concurrency=2, recycling=TEXT_RECYCLING),
}
assert tuple(STAGE_POLICIES) == STAGE_QUEUES, "one policy per stage, in pipeline order"
DEFAULT_RETRY: dict[str, RetryPolicy] = {name: p.retry for name, p in STAGE_POLICIES.items()}

# The orchestrator's and the sweeper's task options (their decorators use these).
ORCHESTRATE_TASK_OPTIONS = {"acks_late": True, "reject_on_worker_lost": True, "retry_backoff": 5,
                            "retry_backoff_max": 300, "max_retries": 10, "time_limit": 60}
SWEEP_TASK_OPTIONS = {"acks_late": True, "time_limit": 120}

TASK_ROUTES: dict[str, dict[str, str]] = {
    ORCHESTRATE_TASK: {"queue": ORCHESTRATOR_QUEUE},
    SWEEP_TASK: {"queue": MAINTENANCE_QUEUE},
    WEBHOOK_RELAY_TASK: {"queue": WEBHOOKS_QUEUE},
    WEBHOOK_DELIVER_TASK: {"queue": WEBHOOKS_QUEUE},
    INGEST_POLL_TASK: {"queue": INGEST_QUEUE},
    MAIL_POLL_TASK: {"queue": MAIL_QUEUE},
    MAIL_POLL_ONE_TASK: {"queue": MAIL_QUEUE},
    **{task: {"queue": queue} for queue, task in STAGE_TASKS.items()},
}

# What each worker type should run with (docker-compose, `make run` and k8s use these): its
# processes, and when one of them is replaced (RECYCLING; worker.py passes it to Celery).
WORKER_PROFILES: dict[str, dict[str, int]] = {
    ORCHESTRATOR_QUEUE: {"concurrency": 2},
    **{name: {"concurrency": p.concurrency} for name, p in STAGE_POLICIES.items()},
    MAINTENANCE_QUEUE: {"concurrency": 1},
    WEBHOOKS_QUEUE: {"concurrency": 4},  # I/O bound: waiting on receivers' answers
    INGEST_QUEUE: {"concurrency": 1},  # one poll at a time; more workers on one folder are safe (claims)
    MAIL_QUEUE: {"concurrency": 1},  # one poll of all mailboxes at a time
}
RECYCLING: dict[str, Recycling] = {
    **{q: TEXT_RECYCLING for q in QUEUES},
    **{name: p.recycling for name, p in STAGE_POLICIES.items()},
}


def recycling(queue: str, settings: Settings) -> Recycling:
    """The queue's recycling, with WORKER_MAX_TASKS_PER_CHILD / WORKER_MAX_MEMORY_PER_CHILD_KB
    over it where set (0: no limit by that measure)."""
    policy = RECYCLING[queue]
    tasks, memory = settings.worker_max_tasks_per_child, settings.worker_max_memory_per_child_kb
    return Recycling(max_tasks=policy.max_tasks if tasks is None else (tasks or None),
                     max_memory_kb=policy.max_memory_kb if memory is None else (memory or None))


# A module per queue: orchestrator, maintenance, webhooks, and the stage modules (whose tasks
# go through runner.run_stage).
TASK_MODULES = [
    "invoice.scanner.processing.orchestrator",
    "invoice.scanner.processing.maintenance",
    "invoice.scanner.processing.webhooks.tasks",
    *(f"invoice.scanner.processing.stages.{q}" for q in STAGE_QUEUES),
]


# RabbitMQ (BROKER_URL=amqp://...): a message delivered this many times without an ack (its
# consumer died each time: a poison document that kills its worker) is dropped; the sweeper
# then sees the document lost, and a document whose worker died under it again and again while
# the stage's other documents went through ends `<stage>_error` (runner.poison_reason, MAX_WORKER_DEATHS).
QUORUM_DELIVERY_LIMIT = 10
AMQP_SCHEMES = ("amqp", "amqps", "pyamqp")


def broker_url(settings: Settings) -> str:
    """BROKER_URL when set, else REDIS_URL (the embedded default)."""
    return settings.broker_url or settings.redis_url


def is_amqp(url: str) -> bool:
    return url.split("://", 1)[0].lower() in AMQP_SCHEMES


def amqp_queues() -> list[Queue]:
    """Every queue as a RabbitMQ quorum queue (replicated, fsynced, delivery-limited). Topic
    exchanges, one per queue, so Celery's native delayed delivery carries retry countdowns
    on the broker instead of in a worker's memory (quorum queues have no global QoS)."""
    return [Queue(q, Exchange(q, type="topic"), routing_key=q, durable=True,
                  queue_arguments={"x-queue-type": "quorum", "x-delivery-limit": QUORUM_DELIVERY_LIMIT})
            for q in (*QUEUES, *RECOVERY_QUEUES.values())]


def _broker_conf(settings: Settings) -> dict:
    if is_amqp(broker_url(settings)):
        return {
            "task_queues": amqp_queues(),
            "task_create_missing_queues": False,
            # The publish returns only once RabbitMQ has the message (publisher confirms).
            # No visibility timeout: an unacked message returns the moment its consumer's
            # connection dies.
            "broker_transport_options": {"confirm_publish": True},
        }
    # Redis redelivers an unacknowledged message after the visibility timeout: keep it
    # longer than the longest task with its retries, or long tasks run twice.
    # `priority`: a worker's queues are served in the order it consumes them (its recovery lane
    # first, see RECOVERY_QUEUES), not rotated.
    return {"broker_transport_options": {"visibility_timeout": settings.visibility_timeout_s,
                                         "queue_order_strategy": "priority"}}


def configure(app: Celery, settings: Settings) -> None:
    app.conf.update(
        broker_url=broker_url(settings),
        result_backend=None,
        task_ignore_result=True,
        task_routes=TASK_ROUTES,
        task_default_queue=ORCHESTRATOR_QUEUE,
        task_serializer="json",
        accept_content=["json"],
        # Not lost: acknowledge after the work, and give the message back when the worker
        # process dies under it (celery/celery#1628).
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        **_broker_conf(settings),
        # Workers survive broker restarts (paperless-ngx#6260).
        broker_connection_retry_on_startup=True,
        broker_connection_retry=True,
        broker_connection_max_retries=None,
        broker_heartbeat=10,
        worker_cancel_long_running_tasks_on_connection_loss=True,
        # Flower's task list needs task events (TASK_EVENTS=true); workers, queues and their
        # lengths show without them (heartbeats and the broker), at a seventh less CPU per document.
        worker_send_task_events=settings.task_events,
        task_send_sent_event=settings.task_events,
        # A worker started by worker.py gets its queue's recycling (RECYCLING) on its command
        # line; these are the environment's values for one started otherwise.
        worker_max_tasks_per_child=settings.worker_max_tasks_per_child or None,
        worker_max_memory_per_child=settings.worker_max_memory_per_child_kb or None,
        # A new pool process loads its OCR model in worker_process_init before it reports
        # "up"; Celery's default 4 s kills it and forks another, forever, on a busy host
        # (seen in benchmarks/chaos: the OCR worker never took a task again).
        worker_proc_alive_timeout=120.0,
        beat_schedule={
            "sweep-stuck-documents": {"task": SWEEP_TASK, "schedule": float(settings.sweeper_interval_s)},
            # The webhook outbox's relay; a relay message older than a few intervals is dropped
            # (the next one does its work), so a stopped webhooks worker does not pile them up.
            "relay-webhooks": {"task": WEBHOOK_RELAY_TASK, "schedule": float(settings.webhook_relay_interval_s),
                               "options": {"expires": max(10.0, 5 * settings.webhook_relay_interval_s)}},
            # The watched folder, when INGEST_DIR is set; a poll older than two intervals is dropped.
            **({"poll-ingest-folder": {"task": INGEST_POLL_TASK, "schedule": float(settings.ingest_poll_interval_s),
                                       "options": {"expires": max(5.0, 2 * settings.ingest_poll_interval_s)}}}
               if settings.ingest_dir else {}),
            # Every enabled mailbox (one SELECT when there is none); dropped when older than an interval.
            "poll-mailboxes": {"task": MAIL_POLL_TASK, "schedule": float(settings.mail_poll_interval_s),
                               "options": {"expires": max(5.0, settings.mail_poll_interval_s)}},
        },
    )


def declare_amqp_topology(app: Celery) -> None:
    """Declare every queue and exchange on RabbitMQ. A worker consumes only its own queue, but
    Celery's native delayed delivery binds *all* of them to its delay exchanges at start-up,
    and a retry countdown for a queue left unbound would be unroutable (dropped)."""
    with app.connection_for_write() as conn:
        conn.ensure_connection(max_retries=30, interval_start=1, interval_step=1, interval_max=5)
        channel = conn.default_channel
        for queue in amqp_queues():
            queue.bind(channel).declare()


def _on_worker_init(sender=None, **_) -> None:
    app = getattr(sender, "app", None)
    if app is not None and is_amqp(app.conf.broker_url or ""):
        declare_amqp_topology(app)


signals.worker_init.connect(_on_worker_init, weak=False, dispatch_uid="invoice-scanner-amqp-topology")


# Every log line of a task carries its document id, task and queue (LOG_FORMAT=json: as fields).
logcontext.connect_celery_signals()

# A worker's main process warms its stages' lazy state before forking its pool (warmup.py).
from invoice.scanner.processing import warmup  # noqa: E402,F401


def create_app(settings: Settings | None = None) -> Celery:
    app = Celery("invoice.scanner", include=TASK_MODULES)
    configure(app, settings or get_settings())
    return app


app = create_app()
