"""The short chaos run of `make test`, on each broker: a few documents on the real stack
while every stage worker is SIGKILLed (its whole process group, restarted a moment later) and
the broker restarts (Redis; or, with `BROKER_URL=amqp://`, a RabbitMQ node of the harness'
own). Nothing may be lost, duplicated or left stuck. The long run is `benchmarks/chaos/run.py`.

Redis and RabbitMQ are the harness' own (restarting them disturbs nothing else); PostgreSQL
is the test server with a database of this test's own, so it is not restarted here.
"""
from __future__ import annotations

import os

import pytest

from chaoskit import ChaosHarness, ChaosPlan, make_documents
from invoice.scanner.processing.celery_app import STAGE_QUEUES
from invoice.scanner.processing.devstack import rabbitmq_server_binary

pytestmark = pytest.mark.e2e

BROKERS = [
    pytest.param("redis", id="redis"),
    pytest.param("amqp", id="rabbitmq", marks=pytest.mark.skipif(
        rabbitmq_server_binary() is None, reason="rabbitmq-server is not installed")),
]


@pytest.mark.parametrize("broker", BROKERS)
def test_kills_and_a_broker_restart_lose_nothing(broker, fresh_database, drop_database, tmp_path):
    database_url = fresh_database(f"invoice_scanner_e2e_chaos_short_{broker}_{os.getpid()}")
    # The smallest run that still proves the property (benchmarks/chaos/run.py is the long one):
    # every stage worker SIGKILLed once and one broker restart, while documents of both kinds
    # (born-digital, scanned) are in flight. One page each: a page count is not under test, and a
    # 3-page scan's OCR took ~30 s of the run at load 9. A stranded document is found lost after
    # LOST_AFTER_S (6 s here, 60 by default: the sweeper's rule, not its timer, is under test)
    # instead of its stage deadline, so the run settles seconds after the last fault.
    plan = ChaosPlan(
        docs=4, duration_s=30 if broker == "redis" else 40,  # a RabbitMQ node restarts in ~8 s
        seed=11, scanned_share=0.5, upload_window_share=0.3, fault_window_share=0.9,
        kill_every_s=(4.0, 5.0), kill_sequence=tuple(STAGE_QUEUES), kill_when_busy_s=3.0, pool_kill_share=0.0,
        broker=broker, redis_restarts=1 if broker == "redis" else 0,
        rabbitmq_restarts=1 if broker == "amqp" else 0, postgres_restarts=0, memory_faults=0, outage_s=3.0, settle_timeout_s=240,
        # Shorter deadlines than the long run: a stranded message is re-driven within ~25 s.
        extra_env={"OCR_DEADLINE_S": "40", "PREPROCESSING_DEADLINE_S": "25", "LLM_DEADLINE_S": "20",
                   "EXTRACTION_DEADLINE_S": "20", "EVALUATION_DEADLINE_S": "20", "SWEEPER_INTERVAL_S": "2",
                   "LOST_AFTER_S": "6"},
    )
    docs = make_documents(plan.docs, plan.seed, plan.scanned_share, pages=1)
    lines: list[str] = []
    harness = ChaosHarness(tmp_path / "chaos", plan, database_url=database_url, say=lines.append)
    try:
        harness.start()
        report = harness.run(docs)
    finally:
        harness.stop()
        drop_database(database_url)
    print("\n".join(lines) + "\n" + report.fault_log() + "\n" + report.table())
    kinds = [f.kind for f in report.faults]
    assert kinds.count("worker_kill") == len(STAGE_QUEUES), report.fault_log()
    assert {f.target for f in report.faults if f.kind == "worker_kill"} == {f"worker-{q}" for q in STAGE_QUEUES}
    assert kinds.count("redis_restart" if broker == "redis" else "rabbitmq_restart") == 1
    assert report.accepted == plan.docs, report.upload_attempts
    assert report.lost == [] and report.duplicated == [] and report.stuck == [], report.table()
    assert report.history_problems == [], report.table()
    assert report.terminal == plan.docs
