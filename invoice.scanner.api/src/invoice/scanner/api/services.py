"""What the endpoints do, between HTTP and SQL: upload, retry, health.

A task is sent only after the database transaction that records the document commits, so
a worker never receives an id it cannot read. A broker that is down never fails an upload:
the row stays with `enqueued_at` NULL and the sweeper (the outbox reader) sends it later.
"""
from __future__ import annotations

import logging
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import redis
from celery import Celery
from kombu.exceptions import OperationalError as KombuOperationalError
from prometheus_client import CollectorRegistry, Counter

from invoice.scanner.processing import storage
from invoice.scanner.processing.celery_app import ORCHESTRATE_TASK, is_amqp
from invoice.scanner.processing.celery_app import create_app as create_celery
from invoice.scanner.processing.db.connection import DatabaseUnavailable

from invoice.scanner.api.auth import LoginRateLimiter, TokenCache
from invoice.scanner.api.config import ApiConfig
from invoice.scanner.api.errors import BrokerUnavailable, DuplicateDocument, UploadRejected
from invoice.scanner.api.repository import ApiRepository, DocumentRecord, NewDocument, RetryClaim
from invoice.scanner.api.uploads import inspect_upload

logger = logging.getLogger(__name__)

# Errors a publish raises when Redis cannot be reached.
BROKER_ERRORS = (KombuOperationalError, redis.RedisError, OSError)


def _doc_log(document_id: Any) -> logging.LoggerAdapter:
    return logging.LoggerAdapter(logger, {"document_id": str(document_id)})


def make_celery_client(config: ApiConfig) -> Celery:
    """A Celery client with the pipeline's routing table, bound to this config's broker.

    Built from processing's `create_app` (queues and routes in one place); the API only
    sends tasks by name, so no stage code is imported. Short socket timeouts keep an upload
    from hanging on a broker that does not answer.
    """
    client = create_celery(config.processing)
    client.conf.broker_transport_options = {
        **client.conf.broker_transport_options,
        "socket_connect_timeout": config.broker_timeout_s,
        "socket_timeout": config.broker_timeout_s,
    }
    client.conf.broker_connection_timeout = config.broker_timeout_s
    return client


@dataclass
class ApiState:
    """Everything one Flask app holds: config, repository, broker clients, metrics."""

    config: ApiConfig
    repo: ApiRepository
    celery: Celery
    redis: redis.Redis
    rate_limiter: LoginRateLimiter
    registry: CollectorRegistry
    storage: storage.Storage
    token_cache: TokenCache
    uploads: Counter = field(init=False)
    ingested: Counter = field(init=False)

    def __post_init__(self) -> None:
        self.uploads = Counter("invoice_scanner_uploads", "Upload requests by outcome (this process)",
                               ["outcome"], registry=self.registry)
        self.ingested = Counter("invoice_scanner_ingested_files", "Files offered by source (upload, batch) and "
                                "outcome (accepted, duplicate or the refusal's reason), this process",
                                ["source", "outcome"], registry=self.registry)

    @classmethod
    def build(cls, config: ApiConfig) -> "ApiState":
        client = redis.Redis.from_url(config.redis_url, socket_connect_timeout=config.broker_timeout_s,
                                      socket_timeout=config.broker_timeout_s)
        return cls(
            config=config,
            repo=ApiRepository(config.database_url, config.db_pool_size),
            celery=make_celery_client(config),
            redis=client,
            rate_limiter=LoginRateLimiter(client, config.login_rate_limit, config.login_rate_window_s),
            registry=CollectorRegistry(auto_describe=True),
            # boto3 is imported only when STORAGE_URL names a bucket.
            storage=storage.open_storage(config.processing.storage_url, config.documents_dir),
            token_cache=TokenCache(client, config.auth_cache_ttl_s),
        )

    def ping_broker(self) -> None:
        """The Celery broker answers: RabbitMQ (a fresh connection) or Redis (PING)."""
        if is_amqp(self.celery.conf.broker_url or ""):
            with self.celery.connection_for_write() as conn:
                conn.connect()
        else:
            self.redis.ping()

    # -- pipeline ------------------------------------------------------------------------

    def send_orchestrate(self, document_id: Any, company_id: Any, **kwargs: Any) -> str:
        """Publish the orchestrator task (routed to the `orchestrator` queue); its task id."""
        try:
            result = self.celery.send_task(
                ORCHESTRATE_TASK, args=[str(document_id), str(company_id)], kwargs=kwargs,
                retry=True, retry_policy={"max_retries": 1, "interval_start": 0, "interval_step": 0.2,
                                          "interval_max": 0.2},
            )
        except BROKER_ERRORS as exc:
            raise BrokerUnavailable(str(exc)) from exc
        return result.id


@dataclass(frozen=True)
class UploadResult:
    document: DocumentRecord
    task_id: str | None


def upload_document(state: ApiState, data: bytes, filename: str, company_id: uuid.UUID,
                    user_id: uuid.UUID | None, source: str = "upload",
                    source_detail: dict[str, Any] | None = None) -> UploadResult:
    """Check, store, record, then start the pipeline. Raises `UploadRejected` or `DuplicateDocument`.

    Every way in (one upload, a batch or its ZIP) goes through here: `source` and
    `source_detail` only label the document (`documents.source`, `source_detail`).
    """
    cfg = state.config
    try:
        inspected = inspect_upload(data, cfg.max_upload_bytes, cfg.max_pages, cfg.max_image_pixels)
    except UploadRejected as exc:
        state.uploads.labels(exc.reason).inc()
        state.ingested.labels(source, exc.reason).inc()
        raise
    existing = state.repo.find_document_by_sha256(company_id, inspected.sha256)
    if existing is not None:
        state.uploads.labels("duplicate").inc()
        state.ingested.labels(source, "duplicate").inc()
        raise DuplicateDocument(str(existing))

    document_id = uuid.uuid4()
    log = _doc_log(document_id)
    key = storage.original_key(str(company_id), str(document_id), inspected.content_type)
    ref = state.storage.put_bytes(key, data)
    try:
        doc = state.repo.create_document(NewDocument(
            id=document_id, company_id=company_id, uploaded_by=user_id, original_filename=filename,
            stored_path=ref, sha256=inspected.sha256, content_type=inspected.content_type,
            size_bytes=inspected.size_bytes, pages=inspected.pages,
        ), source=source, source_detail=source_detail)
    except BaseException as exc:
        # Nothing half-written: the row did not commit, so the file goes too.
        state.storage.delete_prefix(storage.document_prefix(str(company_id), str(document_id)))
        outcome = "duplicate" if isinstance(exc, DuplicateDocument) else "error"
        state.uploads.labels(outcome).inc()
        state.ingested.labels(source, outcome).inc()
        raise
    log.info("document %s stored (%s, %d bytes, %d page(s)) for company %s", document_id,
             inspected.content_type, inspected.size_bytes, inspected.pages, company_id)

    task_id: str | None = None
    try:
        task_id = state.send_orchestrate(doc.id, company_id, expected_run=doc.pipeline_run)
    except BrokerUnavailable as exc:
        log.warning("document %s recorded but not queued, broker unreachable (%s); the sweeper will queue it",
                    document_id, exc)
    else:
        try:
            state.repo.record_enqueued(doc.id, task_id)
        except DatabaseUnavailable as exc:
            # The document is recorded and its task sent; only the bookkeeping failed (the
            # database went away just now). The orchestrator sets enqueued_at itself, so
            # answering 500 here would only make the client retry into a 409 (benchmarks/chaos).
            log.warning("document %s queued, but enqueued_at not recorded (%s)", document_id, exc)
        log.info("document %s queued for processing, task %s", document_id, task_id)
    state.uploads.labels("accepted" if task_id else "accepted_not_queued").inc()
    state.ingested.labels(source, "accepted").inc()
    return UploadResult(doc, task_id)


def retry_document(state: ApiState, company_id: uuid.UUID, document_id: str, user_id: uuid.UUID) -> RetryClaim:
    """Resume a failed document from its failed stage. Raises `NotRetryable`, `BrokerUnavailable`."""
    claim = state.repo.claim_retry(company_id, document_id, user_id)
    log = _doc_log(claim.document_id)
    try:
        state.send_orchestrate(claim.document_id, claim.company_id, from_stage=claim.from_stage,
                               expected_run=claim.pipeline_run)
    except BrokerUnavailable as exc:
        state.repo.release_retry(claim, f"broker unreachable: {exc}")
        log.warning("retry of document %s not queued, broker unreachable: %s", claim.document_id, exc)
        raise
    log.info("document %s retried from stage %s by user %s", claim.document_id, claim.from_stage, user_id)
    return claim


# -- health ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class DependencyCheck:
    ok: bool
    latency_ms: float | None = None
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"ok": self.ok, "latency_ms": None if self.latency_ms is None
                               else round(self.latency_ms, 2)}
        if self.error:
            out["error"] = self.error
        return out


def _timed(check) -> DependencyCheck:
    start = time.perf_counter()
    try:
        check()
    except Exception as exc:  # a health probe reports any failure as the dependency being down
        return DependencyCheck(False, error=f"{type(exc).__name__}: {exc}")
    return DependencyCheck(True, latency_ms=(time.perf_counter() - start) * 1000)


def check_health(state: ApiState) -> tuple[bool, dict[str, Any]]:
    deps = {
        "database": _timed(state.repo.ping),
        "broker": _timed(state.ping_broker),
        # The name predates object storage: it checks whichever backend STORAGE_URL selects.
        "documents_dir": _timed(state.storage.check),
    }
    if is_amqp(state.celery.conf.broker_url or ""):
        deps["redis"] = _timed(state.redis.ping)  # the login rate limiter's store
    ok = all(d.ok for d in deps.values())
    body: dict[str, Any] = {
        "status": "ok" if ok else "degraded",
        "dependencies": {name: d.to_dict() for name, d in deps.items()},
    }
    if deps["database"].ok:
        try:
            stuck = state.repo.count_stuck(state.config.stuck_after_s)
        except Exception as exc:  # informational only; the database check above decides
            logger.warning("could not count stuck documents: %s", exc)
        else:
            body["stuck_documents"] = {"older_than_s": state.config.stuck_after_s,
                                       "total": sum(stuck.values()), "by_status": stuck}
        try:
            mail = mailbox_health(state)
        except Exception as exc:  # informational only, like the stuck count
            logger.warning("could not read the mailboxes' polls: %s", exc)
        else:
            body["mailboxes"] = mail
            if mail["failing"]:
                # Degraded, not down: the API itself serves (200); a mailbox needs attention.
                body["status"] = "degraded"
    return ok, body


def mailbox_health(state: ApiState, listed: int = 50) -> dict[str, Any]:
    """Counts (/health needs no token), and per enabled mailbox only its id, last successful poll
    and whether it is failing (no name, host, account or company): mailboxes, those whose polls
    have failed for longer than MAIL_FAILING_AFTER_S, the oldest last successful poll, and the
    `listed` most urgent mailboxes (failing first, then the longest without a successful poll)."""
    failing_sql = """enabled AND last_error IS NOT NULL
                     AND coalesce(last_success_at, created_at) < now() - make_interval(secs => %(after)s)"""
    with state.repo.tx() as cur:
        cur.execute(
            f"""SELECT count(*) FILTER (WHERE enabled) AS enabled,
                       count(*) FILTER (WHERE {failing_sql}) AS failing,
                       min(last_success_at) FILTER (WHERE enabled) AS oldest_success
                  FROM mailboxes""", {"after": state.config.mail_failing_after_s})
        row = cur.fetchone()
        cur.execute(
            f"""SELECT id, last_success_at, last_poll_at, ({failing_sql}) AS failing FROM mailboxes WHERE enabled
                 ORDER BY ({failing_sql}) DESC, last_success_at ASC NULLS FIRST, id LIMIT %(n)s""",
            {"after": state.config.mail_failing_after_s, "n": listed})
        boxes = cur.fetchall()
    iso = lambda t: t.isoformat() if t else None  # noqa: E731
    return {"enabled": row["enabled"], "failing": row["failing"], "failing_after_s": state.config.mail_failing_after_s,
            "oldest_last_success_at": iso(row["oldest_success"]),
            "by_mailbox": [{"id": str(b["id"]), "last_success_at": iso(b["last_success_at"]),
                            "last_poll_at": iso(b["last_poll_at"]), "failing": b["failing"]} for b in boxes]}
