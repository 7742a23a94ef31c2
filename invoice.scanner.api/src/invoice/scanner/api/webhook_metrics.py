"""Prometheus figures about outgoing webhooks, read from PostgreSQL at scrape time (every API
replica reports the same): deliveries per state and the age of the oldest pending one."""
from __future__ import annotations

import logging
from typing import Iterator

from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from invoice.scanner.processing.db.connection import DatabaseError
from invoice.scanner.processing.webhooks.repository import WebhookRepository

logger = logging.getLogger(__name__)

STATES = ("pending", "delivered", "failed")


class WebhookCollector(Collector):
    def __init__(self, repo: WebhookRepository):
        self.repo = repo

    def describe(self) -> list[Metric]:
        return []

    def collect(self) -> Iterator[Metric]:
        try:
            counts, oldest = self.repo.delivery_backlog()
        except DatabaseError as exc:
            logger.warning("webhook metrics: database unreachable: %s", exc)
            return
        deliveries = GaugeMetricFamily("invoice_scanner_webhook_deliveries",
                                       "Webhook deliveries by state (all companies)", labels=["state"])
        for state in STATES:
            deliveries.add_metric([state], counts.get(state, 0))
        yield deliveries
        yield GaugeMetricFamily("invoice_scanner_webhook_oldest_pending_seconds",
                                "Age of the oldest webhook delivery not yet delivered nor given up", value=oldest)
