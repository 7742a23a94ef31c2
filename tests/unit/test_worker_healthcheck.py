"""The worker liveness check docker-compose runs (`invoice.scanner.processing.healthcheck`)."""
from __future__ import annotations

import pytest

from invoice.scanner.processing import healthcheck
from invoice.scanner.processing.celery_app import QUEUES


@pytest.mark.parametrize("argv, queue", [
    (["python", "-m", "invoice.scanner.processing.worker", "--queue", "ocr"], "ocr"),
    (["/sbin/docker-init", "--", "python3", "-m", "invoice.scanner.processing.worker", "--queue", "llm"], "llm"),
    (["celery", "worker", "-Q", "evaluation"], "evaluation"),
    (["celery", "worker", "-Qmaintenance"], "maintenance"),
    (["python", "-m", "x", "--queue=preprocessing"], "preprocessing"),
    (["celery", "worker", "-Q", "ocr,llm"], None),  # no single node to ping
    (["celery", "worker", "-Q", "nope"], None),
    (["celery", "beat"], None),
    ([], None),
])
def test_queue_from_argv(argv, queue):
    assert healthcheck.queue_from_argv(argv) == queue


def test_read_main_argv_splits_procfs_cmdline(tmp_path):
    cmdline = tmp_path / "cmdline"
    cmdline.write_bytes(b"python\0-m\0invoice.scanner.processing.worker\0--queue\0ocr\0")
    assert healthcheck.read_main_argv(cmdline)[-2:] == ["--queue", "ocr"]
    assert healthcheck.read_main_argv(tmp_path / "missing") == []


def test_node_name_matches_the_worker_module():
    # worker.py names its node f"{queue}@{socket.gethostname()}".
    assert healthcheck.node_name("ocr", "a1b2c3") == "ocr@a1b2c3"
    assert healthcheck.node_name("llm").startswith("llm@")


class FakePing:
    def __init__(self, replies=None, error: Exception | None = None):
        self.replies, self.error, self.calls = replies or [], error, []

    def __call__(self, destination, timeout):
        self.calls.append((destination, timeout))
        if self.error:
            raise self.error
        return self.replies


def test_live_worker_exits_0_and_pings_only_its_own_node():
    ping = FakePing([{"ocr@box": {"ok": "pong"}}])
    assert healthcheck.main(["--queue", "ocr", "--hostname", "box", "--timeout", "3"], ping=ping) == 0
    assert ping.calls == [(["ocr@box"], 3.0)]


@pytest.mark.parametrize("ping", [
    FakePing([]),  # nobody answered within the timeout
    FakePing([{"ocr@other": {"ok": "pong"}}]),  # another node's answer does not count
    FakePing([{"ocr@box": {"error": "x"}}]),
    FakePing(error=ConnectionRefusedError("redis down")),
], ids=["silent", "other-node", "bad-answer", "broker-down"])
def test_dead_or_unreachable_worker_exits_1(ping):
    assert healthcheck.main(["--queue", "ocr", "--hostname", "box"], ping=ping) == 1


def test_queue_comes_from_the_main_command_line_when_not_given():
    ping = FakePing([{"llm@box": {"ok": "pong"}}])
    main_argv = ["/sbin/docker-init", "--", "python", "-m", "invoice.scanner.processing.worker", "--queue", "llm"]
    assert healthcheck.main(["--hostname", "box"], ping=ping, main_argv=main_argv) == 0
    assert ping.calls[0][0] == ["llm@box"]


def test_no_queue_anywhere_is_a_configuration_error():
    ping = FakePing([{"x": {"ok": "pong"}}])
    assert healthcheck.main([], ping=ping, main_argv=["celery", "beat"]) == 2
    assert ping.calls == []


def test_every_queue_is_accepted():
    for queue in QUEUES:
        ping = FakePing([{f"{queue}@h": {"ok": "pong"}}])
        assert healthcheck.main(["--queue", queue, "--hostname", "h"], ping=ping) == 0
