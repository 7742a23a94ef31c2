"""All webhook SQL, named by intent, returning dataclasses. Company-scoped: every read and
write of a subscription takes the caller's company id, so another company's subscription is
simply not found."""
from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from invoice.scanner.processing.db.connection import Json, transaction

PING_EVENT = "webhook.ping"


class SubscriptionNotFound(LookupError):
    pass


class DeliveryNotFound(LookupError):
    pass


@dataclass(frozen=True)
class Subscription:
    id: uuid.UUID
    company_id: uuid.UUID
    url: str
    events: list[str]
    description: str | None
    created_by: uuid.UUID | None
    created_at: datetime
    secret: str  # never logged, never returned after creation


@dataclass(frozen=True)
class Attempt:
    attempt: int
    started_at: datetime
    duration_ms: int
    status_code: int | None
    error: str | None
    response_excerpt: str | None


@dataclass(frozen=True)
class Delivery:
    id: uuid.UUID
    subscription_id: uuid.UUID
    event_id: uuid.UUID
    event_type: str
    document_id: uuid.UUID | None
    state: str
    attempts: int
    next_attempt_at: datetime | None
    last_status_code: int | None
    last_error: str | None
    delivered_at: datetime | None
    redelivery_of: uuid.UUID | None
    created_at: datetime
    attempt_log: list[Attempt]


@dataclass(frozen=True)
class OutgoingDelivery:
    """What one attempt needs: where, with which key, what."""

    id: uuid.UUID
    company_id: uuid.UUID
    url: str
    secret: str
    event_id: uuid.UUID
    event_type: str
    payload: dict[str, Any]
    attempts: int
    state: str
    subscription_deleted: bool


_SUB_COLUMNS = "id, company_id, url, events, description, created_by, created_at, secret"


def _subscription(row: dict[str, Any]) -> Subscription:
    return Subscription(**{k: row[k] for k in Subscription.__dataclass_fields__})


class WebhookRepository:
    def __init__(self, database_url: str, pool_size: int = 2):
        self.database_url = database_url
        self.pool_size = pool_size

    def tx(self):
        return transaction(self.database_url, self.pool_size)

    # -- subscriptions -------------------------------------------------------------------

    def create_subscription(self, company_id: uuid.UUID, url: str, events: list[str], secret: str,
                            description: str | None, created_by: uuid.UUID | None) -> Subscription:
        with self.tx() as cur:
            cur.execute(
                f"""INSERT INTO webhook_subscriptions (id, company_id, url, secret, events, description, created_by)
                    VALUES (%s, %s, %s, %s, %s, %s, %s) RETURNING {_SUB_COLUMNS}""",
                (uuid.uuid4(), company_id, url, secret, events, description, created_by),
            )
            return _subscription(cur.fetchone())

    def list_subscriptions(self, company_id: uuid.UUID) -> list[Subscription]:
        with self.tx() as cur:
            cur.execute(
                f"""SELECT {_SUB_COLUMNS} FROM webhook_subscriptions
                    WHERE company_id = %s AND deleted_at IS NULL ORDER BY created_at, id""",
                (company_id,),
            )
            return [_subscription(r) for r in cur.fetchall()]

    def get_subscription(self, company_id: uuid.UUID, subscription_id: uuid.UUID) -> Subscription:
        with self.tx() as cur:
            cur.execute(
                f"""SELECT {_SUB_COLUMNS} FROM webhook_subscriptions
                    WHERE id = %s AND company_id = %s AND deleted_at IS NULL""",
                (subscription_id, company_id),
            )
            row = cur.fetchone()
        if row is None:
            raise SubscriptionNotFound(str(subscription_id))
        return _subscription(row)

    def delete_subscription(self, company_id: uuid.UUID, subscription_id: uuid.UUID) -> None:
        """Soft delete: the delivery log stays readable to operators; nothing more is sent."""
        with self.tx() as cur:
            cur.execute(
                """UPDATE webhook_subscriptions SET deleted_at = now()
                   WHERE id = %s AND company_id = %s AND deleted_at IS NULL""",
                (subscription_id, company_id),
            )
            if cur.rowcount == 0:
                raise SubscriptionNotFound(str(subscription_id))
            cur.execute(
                """UPDATE webhook_deliveries SET state = 'failed', last_error = 'subscription deleted',
                          lease_until = NULL
                   WHERE subscription_id = %s AND state = 'pending'""",
                (subscription_id,),
            )

    # -- deliveries ------------------------------------------------------------------------

    def list_deliveries(self, company_id: uuid.UUID, subscription_id: uuid.UUID, limit: int = 50,
                        state: str | None = None) -> list[Delivery]:
        """The subscription's deliveries, newest first, each with its attempts."""
        self.get_subscription(company_id, subscription_id)  # not found for another company's
        return self._deliveries("d.subscription_id = %s AND d.company_id = %s AND (%s::text IS NULL OR d.state = %s)",
                                (subscription_id, company_id, state, state), limit)

    def _deliveries(self, where: str, args: tuple, limit: int) -> list[Delivery]:
        with self.tx() as cur:
            cur.execute(
                f"""SELECT d.id, d.subscription_id, d.event_id, e.type AS event_type, e.document_id, d.state,
                           d.attempts, d.next_attempt_at, d.last_status_code, d.last_error, d.delivered_at,
                           d.redelivery_of, d.created_at
                    FROM webhook_deliveries d JOIN webhook_events e ON e.id = d.event_id
                    WHERE {where} ORDER BY d.created_at DESC, d.id DESC LIMIT %s""",
                (*args, limit),
            )
            rows = cur.fetchall()
            attempts: dict[uuid.UUID, list[Attempt]] = {r["id"]: [] for r in rows}
            if rows:
                cur.execute(
                    """SELECT delivery_id, attempt, started_at, duration_ms, status_code, error, response_excerpt
                       FROM webhook_delivery_attempts WHERE delivery_id = ANY(%s) ORDER BY id""",
                    (list(attempts),),
                )
                for a in cur.fetchall():
                    attempts[a.pop("delivery_id")].append(Attempt(**a))
        return [Delivery(**r, attempt_log=attempts[r["id"]]) for r in rows]

    def redeliver(self, company_id: uuid.UUID, subscription_id: uuid.UUID, delivery_id: uuid.UUID) -> Delivery:
        """A new delivery of the same event to the same subscription, due now; the old one and
        its attempts stay in the log as they were."""
        self.get_subscription(company_id, subscription_id)
        with self.tx() as cur:
            cur.execute(
                """INSERT INTO webhook_deliveries (id, company_id, subscription_id, event_id, redelivery_of)
                   SELECT %s, company_id, subscription_id, event_id, id FROM webhook_deliveries
                   WHERE id = %s AND subscription_id = %s AND company_id = %s
                   RETURNING id""",
                (uuid.uuid4(), delivery_id, subscription_id, company_id),
            )
            row = cur.fetchone()
        if row is None:
            raise DeliveryNotFound(str(delivery_id))
        return self.get_delivery(company_id, row["id"])

    def ping(self, company_id: uuid.UUID, subscription_id: uuid.UUID) -> Delivery:
        """A `webhook.ping` event for this one subscription, due now: lets an integrator check
        the URL and the signature check before any document arrives."""
        self.get_subscription(company_id, subscription_id)
        event_id, delivery_id = uuid.uuid4(), uuid.uuid4()
        created = datetime.now(timezone.utc).isoformat().replace("+00:00", "Z")
        payload = {"id": str(event_id), "type": PING_EVENT, "created_at": created, "company_id": str(company_id),
                   "data": {"webhook_id": str(subscription_id)}}
        with self.tx() as cur:
            cur.execute("""INSERT INTO webhook_events (id, company_id, document_id, type, payload)
                           VALUES (%s, %s, NULL, %s, %s)""", (event_id, company_id, PING_EVENT, Json(payload)))
            cur.execute("""INSERT INTO webhook_deliveries (id, company_id, subscription_id, event_id)
                           VALUES (%s, %s, %s, %s)""", (delivery_id, company_id, subscription_id, event_id))
        return self.get_delivery(company_id, delivery_id)

    def get_delivery(self, company_id: uuid.UUID, delivery_id: uuid.UUID) -> Delivery:
        found = self._deliveries("d.id = %s AND d.company_id = %s", (delivery_id, company_id), 1)
        if not found:
            raise DeliveryNotFound(str(delivery_id))
        return found[0]

    # -- the relay and the sender ------------------------------------------------------------

    def lease_due(self, lease_s: int, limit: int = 200) -> list[tuple[uuid.UUID, uuid.UUID]]:
        """Pending deliveries whose time has come and that no worker holds, leased for `lease_s`:
        (delivery id, lease token). Only the task carrying the current token may attempt it, so
        a relay that re-leases after a lost worker never makes two attempts run at once."""
        with self.tx() as cur:
            cur.execute(
                """UPDATE webhook_deliveries SET lease_until = now() + make_interval(secs => %s),
                          lease_token = gen_random_uuid()
                   WHERE id IN (SELECT id FROM webhook_deliveries
                                WHERE state = 'pending' AND next_attempt_at <= now()
                                  AND (lease_until IS NULL OR lease_until < now())
                                ORDER BY next_attempt_at LIMIT %s FOR UPDATE SKIP LOCKED)
                   RETURNING id, lease_token""",
                (lease_s, limit),
            )
            return [(r["id"], r["lease_token"]) for r in cur.fetchall()]

    def begin_attempt(self, delivery_id: uuid.UUID, lease_token: uuid.UUID, window_s: int) -> int | None:
        """Count the attempt and hold the delivery for `window_s` while it runs; None when the
        token is stale (re-leased, already delivered, subscription deleted)."""
        with self.tx() as cur:
            cur.execute(
                """UPDATE webhook_deliveries SET attempts = attempts + 1, lease_token = NULL,
                          lease_until = now() + make_interval(secs => %s)
                   WHERE id = %s AND lease_token = %s AND state = 'pending' RETURNING attempts""",
                (window_s, delivery_id, lease_token),
            )
            row = cur.fetchone()
        return row["attempts"] if row else None

    def load_outgoing(self, delivery_id: uuid.UUID | str) -> OutgoingDelivery | None:
        with self.tx() as cur:
            cur.execute(
                """SELECT d.id, d.company_id, s.url, s.secret, e.id AS event_id, e.type AS event_type, e.payload,
                          d.attempts, d.state, s.deleted_at IS NOT NULL AS subscription_deleted
                   FROM webhook_deliveries d
                   JOIN webhook_subscriptions s ON s.id = d.subscription_id
                   JOIN webhook_events e ON e.id = d.event_id
                   WHERE d.id = %s""",
                (str(delivery_id),),
            )
            row = cur.fetchone()
        return OutgoingDelivery(**row) if row else None

    def record_attempt(self, delivery_id: uuid.UUID, attempt: int, started_at: datetime, duration_ms: int,
                       status_code: int | None, error: str | None, response_excerpt: str | None,
                       delivered: bool, retry_in_s: float | None) -> str:
        """Log one attempt and move the delivery on: delivered, pending again at
        now + `retry_in_s`, or failed when `retry_in_s` is None. Returns the new state."""
        state = "delivered" if delivered else ("pending" if retry_in_s is not None else "failed")
        with self.tx() as cur:
            cur.execute(
                """INSERT INTO webhook_delivery_attempts
                       (delivery_id, attempt, started_at, duration_ms, status_code, error, response_excerpt)
                   VALUES (%s, %s, %s, %s, %s, %s, %s)""",
                (delivery_id, attempt, started_at, duration_ms, status_code, error, response_excerpt),
            )
            cur.execute(
                """UPDATE webhook_deliveries SET state = %s, last_status_code = %s, last_error = %s,
                          lease_until = NULL,
                          delivered_at = CASE WHEN %s THEN now() END,
                          next_attempt_at = CASE WHEN %s::double precision IS NULL THEN next_attempt_at
                                                 ELSE now() + make_interval(secs => %s) END
                   WHERE id = %s AND state = 'pending'""",
                (state, status_code, error, delivered, retry_in_s, retry_in_s or 0, delivery_id),
            )
        return state

    def delivery_backlog(self) -> tuple[dict[str, int], float]:
        """Deliveries per state (all companies) and the age in seconds of the oldest one still
        pending: what an operator alerts on when receivers stop answering."""
        with self.tx() as cur:
            cur.execute("SELECT state, count(*) AS n FROM webhook_deliveries GROUP BY state")
            counts = {r["state"]: r["n"] for r in cur.fetchall()}
            cur.execute("""SELECT coalesce(extract(epoch FROM now() - min(created_at)), 0) AS age
                           FROM webhook_deliveries WHERE state = 'pending'""")
            age = float(cur.fetchone()["age"])
        return counts, age

    def give_up(self, delivery_id: uuid.UUID, reason: str) -> None:
        with self.tx() as cur:
            cur.execute(
                """UPDATE webhook_deliveries SET state = 'failed', last_error = %s, lease_until = NULL
                   WHERE id = %s AND state = 'pending'""",
                (reason, delivery_id),
            )
