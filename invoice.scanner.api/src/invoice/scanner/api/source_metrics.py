"""Documents per source (upload, batch, mail, folder) for /metrics, read from PostgreSQL at
scrape time, so the figure is right across API replicas and includes what the ingest worker
recorded (the per-process counter `invoice_scanner_ingested_files` sees only this process)."""
from __future__ import annotations

import logging
from typing import Iterator

from prometheus_client.core import GaugeMetricFamily, Metric

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
        except DatabaseUnavailable as exc:  # the database figure is reported down elsewhere
            logger.warning("documents per source not read: %s", exc)
            return
        for source in SOURCES:
            gauge.add_metric([source], counts.get(source, 0))
        yield gauge
