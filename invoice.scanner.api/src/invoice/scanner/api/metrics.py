"""Prometheus metrics. Pipeline figures are read from PostgreSQL at scrape time, so every API
replica reports the same numbers whatever process handled the uploads or ran the stages."""
from __future__ import annotations

import logging
from typing import Iterator

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric, SummaryMetricFamily
from prometheus_client.registry import Collector

from invoice.scanner.processing.db.connection import DatabaseError
from invoice.scanner.processing.status import Status

from invoice.scanner.api.repository import ApiRepository

logger = logging.getLogger(__name__)

STAGE_WINDOW_S = 24 * 3600


class PipelineCollector(Collector):
    def __init__(self, repo: ApiRepository, window_s: int = STAGE_WINDOW_S):
        self.repo = repo
        self.window_s = window_s

    def describe(self) -> list[Metric]:
        return []  # figures come from the database at scrape time, never at registration

    def collect(self) -> Iterator[Metric]:
        up = GaugeMetricFamily("invoice_scanner_metrics_database_up",
                               "1 when the pipeline figures below could be read from PostgreSQL")
        try:
            snap = self.repo.metrics_snapshot(self.window_s)
        except DatabaseError as exc:
            logger.warning("metrics: database unreachable: %s", exc)
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up

        docs = GaugeMetricFamily("invoice_scanner_documents", "Documents by current status (all companies)",
                                 labels=["status"])
        for status in Status:
            docs.add_metric([status.value], snap.documents_by_status.get(status.value, 0))
        yield docs

        durations = SummaryMetricFamily(
            "invoice_scanner_stage_duration_seconds",
            f"Successful stage runs and their total seconds over the last {self.window_s // 3600} h",
            labels=["stage"])
        for stage, d in sorted(snap.stage_durations.items()):
            durations.add_metric([stage], count_value=d.count, sum_value=d.sum_s)
        yield durations

        tokens = CounterMetricFamily("invoice_scanner_llm_tokens", "LLM tokens used, all time",
                                     labels=["provider", "model", "direction"])
        cost = CounterMetricFamily("invoice_scanner_llm_cost_usd", "LLM cost in US dollars, all time",
                                   labels=["provider", "model"])
        llm_docs = CounterMetricFamily("invoice_scanner_llm_documents", "Documents with an LLM prediction",
                                       labels=["provider", "model"])
        for t in snap.llm:
            tokens.add_metric([t.provider, t.model, "input"], t.input_tokens)
            tokens.add_metric([t.provider, t.model, "output"], t.output_tokens)
            cost.add_metric([t.provider, t.model], t.cost_usd)
            llm_docs.add_metric([t.provider, t.model], t.documents)
        yield tokens
        yield cost
        yield llm_docs
