"""Short-lived processes (the admin CLI, migrations, scripts) leave nothing of the connection
pool behind when they exit: the pool is closed while the process's threads still run.

On Python 3.13 a pool left to the garbage collector at interpreter shutdown waited 5 s for each
of its threads, which no longer ran, and said so on stderr: `invoice-scanner-admin create-token
--ttl 2` printed its token and exited 20 s later, so the caller's first request with the token
was already refused (tests/e2e/test_security_live.py failed on 3.13 only).
"""
from __future__ import annotations

import os
import subprocess
import sys
import uuid

import pytest

from invoice.scanner.api.auth import token_digest

pytest.register_assert_rewrite("conftest_api")
from conftest_api import _test_password_hash  # noqa: E402

pytest_plugins = ["conftest_api"]


def _run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, *args], env=env, capture_output=True, text=True, timeout=120)


def test_a_process_that_used_the_pool_exits_without_waiting_on_its_threads(api_database_url):
    code = ("import sys\n"
            "from invoice.scanner.processing.db.connection import transaction\n"
            "with transaction(sys.argv[1], 1) as cur:\n"
            "    cur.execute('SELECT 1 AS one')\n"
            "    print(cur.fetchone()['one'])\n")
    done = _run(["-c", code, api_database_url], env=None)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "1"
    assert "couldn't stop thread" not in done.stderr, done.stderr


def test_a_short_token_from_the_admin_cli_works_when_the_cli_returns(api_config, repo):
    env = {**os.environ, "DATABASE_URL": api_config.database_url, "REDIS_URL": api_config.redis_url}
    company, _ = repo.get_or_create_company("Short Token Co")
    email = f"short-token-{uuid.uuid4().hex[:8]}@example.test"
    repo.create_user(company.id, email, _test_password_hash())
    issued = _run(["-m", "invoice.scanner.api.cli", "create-token", "--email", email, "--ttl", "8"], env)
    assert issued.returncode == 0, issued.stderr
    assert "couldn't stop thread" not in issued.stderr, issued.stderr
    token = issued.stdout.strip()
    # Valid for 8 s from its making: still valid once the CLI has exited.
    assert repo.authenticate_token(token_digest(token)) is not None
