"""The commands and healthchecks docker-compose.yml gives its services, run here on the host
against real PostgreSQL and Redis (no Docker engine is needed): the container-internal
addresses are swapped for the test services, everything else is taken from the files.

Covers `migrate`, `api` (gunicorn with the image's GUNICORN_CMD_ARGS), `flower` (basic auth)
and `beat` (sends the sweeper task to the `maintenance` queue).
"""
from __future__ import annotations

import base64
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
import redis
import yaml

from invoice.scanner.processing.celery_app import MAINTENANCE_QUEUE

REPO = Path(__file__).resolve().parents[2]
DATABASE = "invoice_scanner_test_deploy"
REDIS_DB = 8  # this module's own Redis database (e2e uses 10-15, the API tests 5)
BIN = Path(sys.executable).parent


@pytest.fixture(scope="module")
def services_yaml() -> dict:
    return yaml.safe_load((REPO / "docker-compose.yml").read_text(encoding="utf-8"))["services"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def resolve(argv: list[str]) -> list[str]:
    """Run `python`/`gunicorn`/`celery` from this test's virtual environment."""
    head = argv[0]
    if head in ("python", "python3"):
        return [sys.executable, *argv[1:]]
    if (BIN / head).exists():
        return [str(BIN / head), *argv[1:]]
    return argv


def healthcheck_argv(service: dict, replacements: dict[str, str]) -> list[str]:
    test = service["healthcheck"]["test"]
    assert test[0] == "CMD"
    argv = [a for a in test[1:]]
    for old, new in replacements.items():
        argv = [a.replace(old, new) for a in argv]
    return resolve(argv)


def wait_until(argv: list[str], env: dict[str, str], proc: subprocess.Popen, seconds: float = 60) -> int:
    deadline = time.monotonic() + seconds
    while True:
        rc = subprocess.run(argv, env=env, capture_output=True, timeout=60).returncode
        if rc == 0 or time.monotonic() > deadline or proc.poll() is not None:
            return rc
        time.sleep(0.5)


def stop(proc: subprocess.Popen, timeout: float = 30) -> int:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
    try:
        return proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        raise


@pytest.fixture(scope="module")
def stack_env(services, redis_db_url, tmp_path_factory) -> dict[str, str]:
    from urllib.parse import urlparse

    database_url = urlparse(services.database_url)._replace(path=f"/{DATABASE}").geturl()
    import psycopg
    from psycopg import sql
    from psycopg.conninfo import make_conninfo

    with psycopg.connect(make_conninfo(services.database_url, dbname="postgres"), autocommit=True) as admin:
        admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(DATABASE)))
    return {
        **os.environ,
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_db_url(REDIS_DB),
        "DOCUMENTS_DIR": str(tmp_path_factory.mktemp("documents")),
    }


def test_migrate_then_api_serves_health_through_the_compose_healthcheck(services_yaml, stack_env):
    migrate = subprocess.run(resolve(services_yaml["migrate"]["command"]), env=stack_env,
                             capture_output=True, text=True, timeout=120)
    assert migrate.returncode == 0, migrate.stderr
    # A second run (a redeploy) is a no-op that also succeeds.
    assert subprocess.run(resolve(services_yaml["migrate"]["command"]), env=stack_env,
                          capture_output=True, timeout=120).returncode == 0

    dockerfile = (REPO / "docker" / "api.Dockerfile").read_text(encoding="utf-8")
    gunicorn_args = re.search(r'GUNICORN_CMD_ARGS="([^"]+)"', dockerfile).group(1)
    port = free_port()
    env = {**stack_env, "GUNICORN_CMD_ARGS": gunicorn_args.replace("0.0.0.0:5000", f"127.0.0.1:{port}")
           .replace("--workers=2", "--workers=1")}
    api = subprocess.Popen(resolve(services_yaml["api"]["command"]), env=env,
                           stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        check = healthcheck_argv(services_yaml["api"], {"127.0.0.1:5000": f"127.0.0.1:{port}"})
        assert wait_until(check, env, api) == 0, api.stderr.read() if api.poll() is not None else "not healthy"
    finally:
        # gunicorn's graceful shutdown on SIGTERM (what `docker compose stop` sends).
        assert stop(api) == 0


def test_flower_requires_its_basic_auth_and_answers_its_healthcheck(services_yaml, stack_env):
    port = free_port()
    argv = [a.replace("redis://redis:6379/0", stack_env["REDIS_URL"]).replace("--port=5555", f"--port={port}")
            for a in services_yaml["flower"]["command"]]
    assert argv != services_yaml["flower"]["command"]
    env = {**stack_env, "FLOWER_BASIC_AUTH": "ops:s3cret", "FLOWER_ADDRESS": "127.0.0.1"}
    flower = subprocess.Popen(resolve(argv), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        check = healthcheck_argv(services_yaml["flower"], {"127.0.0.1:5555": f"127.0.0.1:{port}"})
        assert wait_until(check, env, flower) == 0, flower.stderr.read() if flower.poll() is not None else "not healthy"
        with pytest.raises(urllib.error.HTTPError) as denied:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/workers", timeout=10)
        assert denied.value.code == 401
        request = urllib.request.Request(f"http://127.0.0.1:{port}/workers", headers={
            "Authorization": "Basic " + base64.b64encode(b"ops:s3cret").decode()})
        assert urllib.request.urlopen(request, timeout=10).status == 200
    finally:
        stop(flower)


def test_beat_sends_the_sweeper_to_the_maintenance_queue(services_yaml, stack_env, tmp_path):
    argv = [a.replace("/tmp/celerybeat-schedule", str(tmp_path / "schedule")) for a in services_yaml["beat"]["command"]]
    env = {**stack_env, "SWEEPER_INTERVAL_S": "1"}
    client = redis.Redis.from_url(stack_env["REDIS_URL"])
    client.delete(MAINTENANCE_QUEUE)
    beat = subprocess.Popen(resolve(argv), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 45
        while client.llen(MAINTENANCE_QUEUE) == 0 and time.monotonic() < deadline and beat.poll() is None:
            time.sleep(0.5)
        assert client.llen(MAINTENANCE_QUEUE) > 0, beat.stderr.read() if beat.poll() is not None else "no sweep sent"
    finally:
        stop(beat)
