"""Celery task events are off unless TASK_EVENTS=true (they cost four broker messages per task);
every worker runs without gossip and mingle and keeps its heartbeats (Flower's worker list)."""
from __future__ import annotations

from celery import Celery

from invoice.scanner.processing import worker
from invoice.scanner.processing.celery_app import configure
from invoice.scanner.processing.config import Settings


def _conf(env: dict[str, str]):
    app = Celery("test")
    configure(app, Settings.from_env(env))
    return app.conf


def test_task_events_are_off_by_default_and_on_with_the_setting():
    off, on = _conf({}), _conf({"TASK_EVENTS": "true"})
    assert (off.worker_send_task_events, off.task_send_sent_event) == (False, False)
    assert (on.worker_send_task_events, on.task_send_sent_event) == (True, True)


def _worker_argv(monkeypatch, env: dict[str, str]) -> list[str]:
    seen: list[list[str]] = []
    monkeypatch.setattr(worker, "get_settings", lambda: Settings.from_env(env))
    monkeypatch.setattr(worker.app, "worker_main", lambda argv: seen.append(argv))
    worker.main(["--queue", "ocr"])
    return seen[0]


def test_worker_runs_without_gossip_and_mingle_and_sends_task_events_only_when_asked(monkeypatch):
    default = _worker_argv(monkeypatch, {})
    assert "--without-gossip" in default and "--without-mingle" in default
    assert "--without-heartbeat" not in default
    assert "-E" not in default
    assert "-E" in _worker_argv(monkeypatch, {"TASK_EVENTS": "true"})
