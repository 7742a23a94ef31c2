"""The sweeper's rule for a quiet document: slow (leave it) or lost (re-drive it now)."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

from invoice.scanner.processing.liveness import BrokerView, judge

DOC, RUN = "00000000-0000-0000-0000-000000000001", 2
NOW = datetime(2026, 12, 1, 9, 0, tzinfo=timezone.utc)


def verdict(view: BrokerView, quiet_s: float, deadline_s: float = 1800, retry_due_at=None):
    return judge(view, DOC, RUN, "ocr", quiet_s, deadline_s, 60, retry_due_at, now=NOW)


def test_a_message_in_no_queue_and_held_by_no_worker_is_lost_after_the_grace_period():
    assert verdict(BrokerView(), quiet_s=61) == ("redrive", "lost")
    assert verdict(BrokerView(), quiet_s=30).action == "leave"  # the hand-off between stages


def test_a_document_held_by_a_live_worker_is_slow_not_lost_even_past_its_deadline():
    view = BrokerView(held={(DOC, RUN)})
    assert verdict(view, quiet_s=5000) == ("leave", "held")


def test_a_queued_document_is_never_re_driven():
    assert verdict(BrokerView(waiting={(DOC, RUN)}), quiet_s=5000) == ("leave", "queued")
    # RabbitMQ: its stage queue has messages we cannot read; it may be one of them.
    assert verdict(BrokerView(busy_queues={"ocr"}), quiet_s=5000) == ("leave", "queued")
    # A document keeps its stage's status until the next stage claims it: that queue counts too.
    assert verdict(BrokerView(busy_queues={"llm"}), quiet_s=5000) == ("leave", "queued")
    # ... but a message of another run, or a busy queue of another stage, does not count.
    assert verdict(BrokerView(waiting={(DOC, RUN - 1)}, busy_queues={"evaluation"}), quiet_s=61).reason == "lost"


def test_a_retry_countdown_on_the_broker_is_waited_for():
    due = NOW + timedelta(seconds=100)
    assert verdict(BrokerView(), quiet_s=120, retry_due_at=due) == ("leave", "countdown")
    past = NOW - timedelta(seconds=61)
    assert verdict(BrokerView(), quiet_s=400, retry_due_at=past) == ("redrive", "lost")


def test_past_the_deadline_is_recorded_as_deadline():
    assert verdict(BrokerView(), quiet_s=2000) == ("redrive", "deadline")


def test_no_worker_answering_is_not_evidence_of_loss():
    assert verdict(BrokerView(workers_answered=False), quiet_s=120) == ("leave", "unknown")
