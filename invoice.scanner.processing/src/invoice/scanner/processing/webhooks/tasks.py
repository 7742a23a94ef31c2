"""The `webhooks` queue: the relay, and one delivery attempt per task.

The relay (sent by beat every `WEBHOOK_RELAY_INTERVAL_S`) leases the deliveries that are due
and sends one `deliver` task each. A delivery is retried with exponential backoff
(`WEBHOOK_RETRY_BACKOFF_S` doubling, at most `WEBHOOK_RETRY_BACKOFF_MAX_S`, a `Retry-After`
answer respected) until `WEBHOOK_MAX_ATTEMPTS`; when to try next is kept in PostgreSQL, not in
a broker countdown, so a retry an hour away survives worker and broker restarts. A worker
lost mid-attempt leaves a lease that runs out; the relay sends that delivery again.

Delivery is at least once: receivers deduplicate on the event id
(`Invoice-Scanner-Event-Id`). The subscription's secret is used to sign and never logged.
"""
from __future__ import annotations

import json
import logging
import random
import time
import uuid
from datetime import datetime, timezone
from functools import lru_cache

import requests

from invoice.scanner.processing.celery_app import WEBHOOK_DELIVER_TASK, WEBHOOK_RELAY_TASK, app
from invoice.scanner.processing.config import Settings, get_settings
from invoice.scanner.processing.webhooks import signing
from invoice.scanner.processing.webhooks.repository import WebhookRepository
from invoice.scanner.processing.webhooks.targets import InvalidTarget, check_url, redact

logger = logging.getLogger(__name__)

USER_AGENT = "invoice-scanner-webhooks/1"
RESPONSE_EXCERPT_CHARS = 1000


@lru_cache(maxsize=1)
def get_repository() -> WebhookRepository:
    settings = get_settings()
    return WebhookRepository(settings.database_url, settings.worker_db_pool_size)


@lru_cache(maxsize=1)
def _session() -> requests.Session:
    session = requests.Session()
    session.trust_env = False  # no proxy from the environment: the URL is checked, the proxy would not be
    return session


def backoff_s(attempt: int, settings: Settings, retry_after_s: float | None = None) -> float:
    """Seconds before attempt `attempt + 1`: doubling from the base, capped, with 10 % jitter
    so that many deliveries to an endpoint that was down do not return all at once."""
    delay = min(settings.webhook_retry_backoff_s * 2 ** (attempt - 1), settings.webhook_retry_backoff_max_s)
    delay *= random.uniform(0.9, 1.1)
    if retry_after_s:
        delay = max(delay, min(retry_after_s, settings.webhook_retry_backoff_max_s))
    return round(delay, 3)


def _retry_after(response: requests.Response) -> float | None:
    value = response.headers.get("Retry-After", "")
    try:
        return float(value) if value else None
    except ValueError:
        return None  # an HTTP date; the backoff applies


def body_bytes(payload: dict) -> bytes:
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()


@app.task(name=WEBHOOK_RELAY_TASK, acks_late=True, time_limit=60, ignore_result=True)
def relay_webhooks() -> int:
    """Send a `deliver` task for every delivery that is due."""
    settings = get_settings()
    leased = get_repository().lease_due(lease_s=int(settings.webhook_timeout_s) + 60)
    for delivery_id, token in leased:
        deliver_webhook.apply_async(args=(str(delivery_id), str(token)))
    if leased:
        logger.info("webhook relay: %s deliveries sent to workers", len(leased))
    return len(leased)


@app.task(name=WEBHOOK_DELIVER_TASK, acks_late=True, reject_on_worker_lost=True, ignore_result=True,
          time_limit=int(get_settings().webhook_timeout_s) + 30)
def deliver_webhook(delivery_id: str, lease_token: str) -> str:
    """One attempt of one delivery; returns its new state."""
    return attempt_delivery(uuid.UUID(delivery_id), uuid.UUID(lease_token), get_settings(), get_repository())


def attempt_delivery(delivery_id: uuid.UUID, lease_token: uuid.UUID, settings: Settings,
                     repo: WebhookRepository) -> str:
    attempt = repo.begin_attempt(delivery_id, lease_token, window_s=int(settings.webhook_timeout_s) + 30)
    if attempt is None:
        logger.info("webhook delivery %s: lease superseded or already done; skipped", delivery_id)
        return "skipped"
    out = repo.load_outgoing(delivery_id)
    if out is None or out.subscription_deleted:
        repo.give_up(delivery_id, "subscription deleted")
        return "failed"
    target = redact(out.url)
    body = body_bytes(out.payload)
    headers = {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        signing.EVENT_HEADER: out.event_type,
        signing.EVENT_ID_HEADER: str(out.event_id),
        signing.DELIVERY_HEADER: str(out.id),
        signing.SIGNATURE_HEADER: signing.sign(out.secret, body),
    }
    started_at = datetime.now(timezone.utc)
    started = time.monotonic()
    status_code: int | None = None
    error: str | None = None
    excerpt: str | None = None
    retry_after: float | None = None
    try:
        check_url(out.url, settings.webhook_allow_private_targets)
        response = _session().post(out.url, data=body, headers=headers, timeout=settings.webhook_timeout_s,
                                   allow_redirects=False)
        status_code = response.status_code
        excerpt = response.text[:RESPONSE_EXCERPT_CHARS]
        if not 200 <= status_code < 300:
            error = f"answered HTTP {status_code}"
            retry_after = _retry_after(response)
    except InvalidTarget as exc:
        error = f"target refused: {exc}"
    except requests.RequestException as exc:
        # The exception's text names the URL with its query string: keep only the kind of failure.
        error = f"{type(exc).__name__}: could not reach {target}"
    duration_ms = int((time.monotonic() - started) * 1000)
    delivered = error is None
    retry_in = None if delivered or attempt >= settings.webhook_max_attempts else backoff_s(attempt, settings,
                                                                                             retry_after)
    state = repo.record_attempt(delivery_id, attempt, started_at, duration_ms, status_code, error, excerpt,
                                delivered=delivered, retry_in_s=retry_in)
    if delivered:
        logger.info("webhook %s (%s) delivered to %s on attempt %s in %s ms", out.event_type, out.event_id, target,
                    attempt, duration_ms)
    elif retry_in is not None:
        logger.warning("webhook %s (%s) to %s, attempt %s: %s; next attempt in %.0fs", out.event_type, out.event_id,
                       target, attempt, error, retry_in)
    else:
        logger.error("webhook %s (%s) to %s failed after %s attempts: %s", out.event_type, out.event_id, target,
                     attempt, error)
    return state
