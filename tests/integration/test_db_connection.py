"""db.connection on a real PostgreSQL: dict rows, commit/rollback, Json parameters, and what
happens to the pool when the server drops every connection (a restart)."""
from __future__ import annotations

import uuid

import psycopg
import pytest

from invoice.scanner.processing.db.connection import (
    DatabaseUnavailable,
    Json,
    UniqueViolation,
    close_pools,
    transaction,
)

POOL = 3


@pytest.fixture(scope="module")
def url(fresh_database, drop_database):
    url = fresh_database("invoice_scanner_test_connection")
    with transaction(url, POOL) as cur:  # a process's first call sizes its pool
        cur.execute("CREATE TABLE t (id uuid PRIMARY KEY, doc jsonb)")
    yield url
    drop_database(url)


def _count(url: str) -> int:
    with transaction(url, POOL) as cur:
        cur.execute("SELECT count(*) AS n FROM t")
        return cur.fetchone()["n"]


def test_rows_are_dicts_and_json_round_trips(url):
    key = uuid.uuid4()
    with transaction(url, POOL) as cur:
        cur.execute("INSERT INTO t VALUES (%s, %s)", (str(key), Json({"a": [1, 2], "b": None})))
    with transaction(url, POOL) as cur:
        cur.execute("SELECT id, doc FROM t WHERE id = %s", (key,))
        row = cur.fetchone()
    assert row == {"id": key, "doc": {"a": [1, 2], "b": None}}


def test_an_error_rolls_the_whole_transaction_back(url):
    before = _count(url)
    key = uuid.uuid4()
    with pytest.raises(UniqueViolation) as err:
        with transaction(url, POOL) as cur:
            cur.execute("INSERT INTO t VALUES (%s, NULL)", (str(uuid.uuid4()),))
            cur.execute("INSERT INTO t VALUES (%s, NULL)", (str(key),))
            cur.execute("INSERT INTO t VALUES (%s, NULL)", (str(key),))
    assert err.value.diag.constraint_name == "t_pkey"
    assert _count(url) == before
    with pytest.raises(ZeroDivisionError):
        with transaction(url, POOL) as cur:
            cur.execute("INSERT INTO t VALUES (%s, NULL)", (str(uuid.uuid4()),))
            1 / 0
    assert _count(url) == before


def _pid(url: str) -> int:
    with transaction(url, POOL) as cur:
        cur.execute("SELECT pg_backend_pid() AS pid")
        return cur.fetchone()["pid"]


def test_after_the_server_drops_every_connection_one_transaction_fails_then_all_work(url):
    close_pools()
    # Fill the pool: POOL connections opened, all idle afterwards.
    old = set()
    with transaction(url, POOL) as a, transaction(url, POOL) as b, transaction(url, POOL) as c:
        for cur in (a, b, c):
            cur.execute("SELECT pg_backend_pid() AS pid")
            old.add(cur.fetchone()["pid"])
    assert len(old) == POOL
    with psycopg.connect(url, autocommit=True) as admin:  # what a restart does to every backend
        admin.execute("SELECT pg_terminate_backend(pid) FROM unnest(%s::int[]) AS pid", (list(old),))

    failures, pids = 0, set()
    for _ in range(POOL + 2):
        try:
            pids.add(_pid(url))
        except DatabaseUnavailable:
            failures += 1
    assert failures == 1  # the broken one, not one per pooled connection
    assert pids and not (pids & old)  # every connection in use now is a new one
    close_pools()


def test_an_unreachable_database_is_database_unavailable(monkeypatch):
    from invoice.scanner.processing.db import connection

    # The pool gives up after CONNECT_TIMEOUT_S (5 s); 1 s shows the same DatabaseUnavailable.
    monkeypatch.setattr(connection, "CONNECT_TIMEOUT_S", 1)
    with pytest.raises(DatabaseUnavailable):
        with transaction("postgresql://postgres@127.0.0.1:1/nothing", 1) as cur:
            cur.execute("SELECT 1")
    close_pools()
