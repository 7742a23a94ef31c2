"""Celery task events are off unless TASK_EVENTS=true (they cost four broker messages per task);
every worker runs without gossip and mingle and keeps its heartbeats (Flower's worker list)."""
from __future__ import annotations

import json
import os
import subprocess
import sys

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
    monkeypatch.setattr(worker, "run_celery_worker", lambda argv: seen.append(argv))
    worker.main(["--queue", "ocr"])
    return seen[0]


def test_worker_runs_without_gossip_and_mingle_and_sends_task_events_only_when_asked(monkeypatch):
    default = _worker_argv(monkeypatch, {})
    assert "--without-gossip" in default and "--without-mingle" in default
    assert "--without-heartbeat" not in default
    assert "-E" not in default
    assert "-E" in _worker_argv(monkeypatch, {"TASK_EVENTS": "true"})


def test_the_worker_starts_through_celerys_worker_command_without_its_command_group(tmp_path):
    """worker.main hands Celery's `worker` command the argv it builds (the options reach the
    WorkController as `celery worker` would give them), without importing the `celery` group,
    which loads every sub-command and plugin (click_repl, Flower) on every worker start."""
    probe = tmp_path / "probe.py"
    probe.write_text(
        "import json, sys\n"
        "from invoice.scanner.processing import worker\n"
        "seen = {}\n"
        "class FakeWorker:\n"
        "    exitcode = 3\n"
        "    def __init__(self, **kw): seen.update(kw)\n"
        "    def start(self): pass\n"
        "worker.app.Worker = FakeWorker\n"
        "code = worker.main(['--queue', 'ocr', '--concurrency', '2'])\n"
        "print(json.dumps({'code': code, 'queues': seen['queues'], 'hostname': seen['hostname'],\n"
        "                  'concurrency': seen['concurrency'], 'gossip': seen['without_gossip'],\n"
        "                  'mingle': seen['without_mingle'], 'prefetch': seen['prefetch_multiplier'],\n"
        "                  'loaded': sorted(m for m in ('celery.bin.celery', 'click_repl', 'flower')\n"
        "                                   if m in sys.modules)}))\n")
    env = {"DATABASE_URL": "postgresql://nobody@127.0.0.1:1/none", "REDIS_URL": "redis://127.0.0.1:1/0"}
    out = subprocess.run([sys.executable, str(probe)], env={**os.environ, **env}, capture_output=True,
                         text=True, check=True, timeout=60).stdout
    got = json.loads(out.strip().splitlines()[-1])
    assert got["code"] == 3  # the worker's exit code is the process's
    assert got["queues"] == ["ocr.recovery", "ocr"] and got["hostname"].startswith("ocr@")
    assert (got["concurrency"], got["prefetch"], got["gossip"], got["mingle"]) == (2, 1, True, True)
    assert got["loaded"] == []
