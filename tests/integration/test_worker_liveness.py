"""The worker liveness check against a real Celery worker on each broker (a real Redis; a
real RabbitMQ, a vhost of the test's own): what every worker container's healthcheck runs in
docker-compose, with Redis or with docker-compose.rabbitmq.yml."""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys

import pytest

REDIS_DB = 7  # this module's own Redis database (e2e uses 10-15, the API tests 5)


def _check(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "invoice.scanner.processing.healthcheck", *args],
                          env=env, capture_output=True, text=True, timeout=60)


@pytest.fixture(params=["redis", "amqp"])
def maintenance_worker(request, redis_db_url, amqp_vhost, start_worker, tmp_path):
    """A real maintenance worker, already answering a ping (tests/conftest.py `start_worker`)."""
    from invoice.scanner.processing.celery_app import create_app
    from invoice.scanner.processing.config import Settings

    env = {**os.environ, "REDIS_URL": redis_db_url(REDIS_DB), "DOCUMENTS_DIR": str(tmp_path),
           "BROKER_URL": amqp_vhost() if request.param == "amqp" else ""}
    app = create_app(Settings.from_env({}, redis_url=env["REDIS_URL"], broker_url=env["BROKER_URL"]))
    with start_worker("maintenance", env, app, "--loglevel", "WARNING") as proc:
        yield env, proc


def test_healthcheck_passes_for_the_live_worker_and_fails_for_a_missing_one(maintenance_worker):
    env, proc = maintenance_worker
    result = _check(env, "--queue", "maintenance", "--timeout", "2")
    assert result.returncode == 0, result.stderr + proc.log.read_text(errors="replace")[-4000:]

    # Same broker, but no worker consumes as this node (another container, another queue).
    assert _check(env, "--queue", "ocr", "--timeout", "1").returncode == 1
    assert _check(env, "--queue", "maintenance", "--hostname", f"not-{socket.gethostname()}",
                  "--timeout", "1").returncode == 1

    # SIGTERM: the worker shuts down warm and exits 0; afterwards it no longer answers.
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=30) == 0
    assert _check(env, "--queue", "maintenance", "--timeout", "2").returncode == 1


@pytest.mark.parametrize("broker", [{"REDIS_URL": "redis://127.0.0.1:1/0", "BROKER_URL": ""},
                                    {"BROKER_URL": "amqp://guest:guest@127.0.0.1:1//"}], ids=["redis", "amqp"])
def test_healthcheck_fails_when_the_broker_is_unreachable(broker, tmp_path):
    env = {**os.environ, **broker, "DOCUMENTS_DIR": str(tmp_path)}
    result = _check(env, "--queue", "maintenance", "--timeout", "2")
    assert result.returncode == 1
