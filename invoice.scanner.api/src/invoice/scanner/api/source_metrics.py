"""Documents per source (upload, batch, mail, folder) and the mailboxes' polls for /metrics, read
from PostgreSQL at scrape time, so the figures are right across API replicas and include what
the ingest and mail workers recorded (the per-process counter `invoice_scanner_ingested_files`
sees only this process): polls and failed polls per mailbox (counted by every mail worker on
the mailbox's row) and the time of each one's last successful poll."""
from __future__ import annotations

import logging
from typing import Iterator

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from invoice.scanner.processing.db.connection import DatabaseUnavailable

logger = logging.getLogger(__name__)

SOURCES = ("upload", "batch", "mail", "folder")


class SourceCollector:
    def __init__(self, repo):
        self.repo = repo

    def describe(self) -> list[Metric]:
        return []  # read at scrape time, never at registration (the database may be down then)

    def collect(self) -> Iterator[Metric]:
        gauge = GaugeMetricFamily("invoice_scanner_documents_by_source",
                                  "Documents by how they came in (all companies)", labels=["source"])
        try:
            with self.repo.tx() as cur:
                cur.execute("SELECT source, count(*) AS n FROM documents GROUP BY source")
                counts = {r["source"]: r["n"] for r in cur.fetchall()}
                cur.execute("SELECT id, company_id, polls, poll_failures, last_success_at FROM mailboxes "
                            "WHERE enabled ORDER BY id")
                boxes = cur.fetchall()
        except DatabaseUnavailable as exc:  # the database figure is reported down elsewhere
            logger.warning("documents per source not read: %s", exc)
            return
        for source in SOURCES:
            gauge.add_metric([source], counts.get(source, 0))
        yield gauge
        labels = ["mailbox", "company"]
        polls = CounterMetricFamily("invoice_scanner_mail_polls", "Polls of each enabled mailbox", labels=labels)
        failures = CounterMetricFamily("invoice_scanner_mail_poll_failures",
                                       "Failed polls of each enabled mailbox (login, network, server)", labels=labels)
        success = GaugeMetricFamily("invoice_scanner_mail_last_success_timestamp_seconds",
                                    "When each enabled mailbox was last polled successfully (Unix time; 0: never)",
                                    labels=labels)
        for box in boxes:
            key = [str(box["id"]), str(box["company_id"])]
            polls.add_metric(key, box["polls"])
            failures.add_metric(key, box["poll_failures"])
            success.add_metric(key, box["last_success_at"].timestamp() if box["last_success_at"] else 0)
        yield polls
        yield failures
        yield success
