"""PostgreSQL connections: psycopg 3 with one `psycopg_pool` pool per process, created lazily
(fork-safe: a pool belongs to the process that made it).

Callers use `transaction(url)` and pass JSON parameters as `Json(value)` from here, so no other
module imports the driver for its daily work.
"""
from __future__ import annotations

import atexit
import logging
import os
import threading
import time
from contextlib import contextmanager
from typing import Any, Iterator

import psycopg
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb as Json  # noqa: F401  (re-exported: JSON parameters are Json(value))
from psycopg_pool import ConnectionPool, PoolTimeout

__all__ = ["Json", "DatabaseError", "DatabaseUnavailable", "UniqueViolation", "transaction", "pipelined",
           "single_statement", "close_pools", "fail_fast_while_refused"]

# The driver's exceptions callers name, so that they never import the driver themselves.
DatabaseError = psycopg.Error
UniqueViolation = psycopg.errors.UniqueViolation  # `.diag.constraint_name` names the constraint
# What a caller catches for "the database is unreachable or restarting" (the API's 503, the stage
# runner's short retry). psycopg_pool's PoolTimeout is an OperationalError too.
DatabaseUnavailable = (psycopg.OperationalError, psycopg.InterfaceError)

# Seconds a transaction waits for a pooled connection before DatabaseUnavailable, and libpq's
# connect_timeout: the bound on a request while PostgreSQL does not answer at all (a host gone).
CONNECT_TIMEOUT_S = 5
# For a database named to `fail_fast_while_refused()` (the API's), while the pool's latest attempt
# to connect failed (PostgreSQL refuses: down, restarting, wrong database) and none succeeded
# since, a transaction that got no connection within this many seconds fails at once instead of
# waiting CONNECT_TIMEOUT_S: a request is answered 503 in a fraction of a second. Workers keep
# waiting: each of their attempts counts against the stage's retries.
FAIL_FAST_S = 0.25
_fail_fast: set[str] = set()  # database URLs (not process-wide: a test process also runs stage code)
# A slot whose reconnection keeps failing this long is given up and regrown on demand, so after a
# long outage the pool reconnects within seconds of the database's return, not after a backoff
# that has grown to minutes.
RECONNECT_TIMEOUT_S = 10.0

# psycopg_pool logs every checkout at INFO; our processes log at INFO. Keep its warnings.
_pool_logger = logging.getLogger("psycopg.pool")
if _pool_logger.level == logging.NOTSET:
    _pool_logger.setLevel(logging.WARNING)

_lock = threading.Lock()
_pools: dict[tuple[int, str], ConnectionPool] = {}
_refused: set[str] = set()  # conninfo strings whose latest connection attempt failed


class _Connection(psycopg.Connection):
    """The pool's connections: each attempt to connect records whether it failed."""

    @classmethod
    def connect(cls, conninfo: str = "", **kwargs: Any) -> "_Connection":
        try:
            conn = super().connect(conninfo, **kwargs)
        except psycopg.OperationalError:
            _refused.add(conninfo)
            raise
        _refused.discard(conninfo)
        return conn


def _pool(database_url: str, size: int) -> ConnectionPool:
    key = (os.getpid(), database_url)
    pool = _pools.get(key)
    if pool is None:
        with _lock:
            pool = _pools.get(key)
            if pool is None:
                # min_size == max_size: every thread of the process keeps its connection; a pool
                # that closes connections handed back costs a connect per request (LESSONS.md).
                pool = ConnectionPool(
                    database_url, min_size=size, max_size=size, open=True, name=f"invoice-scanner-{os.getpid()}",
                    connection_class=_Connection, kwargs={"row_factory": dict_row, "connect_timeout": CONNECT_TIMEOUT_S},
                    timeout=CONNECT_TIMEOUT_S, reconnect_timeout=RECONNECT_TIMEOUT_S,
                )
                _pools[key] = pool
    return pool


def fail_fast_while_refused(database_url: str) -> None:
    """Transactions on this database give up within FAIL_FAST_S while PostgreSQL refuses connections."""
    _fail_fast.add(database_url)


def _getconn(pool: ConnectionPool) -> psycopg.Connection:
    """A connection from the pool within CONNECT_TIMEOUT_S; for a `fail_fast_while_refused`
    database, PoolTimeout sooner when the pool cannot connect (asked for in FAIL_FAST_S slices)."""
    if pool.conninfo not in _fail_fast:
        return pool.getconn()
    deadline = time.monotonic() + CONNECT_TIMEOUT_S
    while True:
        left = deadline - time.monotonic()
        try:
            return pool.getconn(timeout=max(min(FAIL_FAST_S, left), 0.001))
        except PoolTimeout:
            if left <= FAIL_FAST_S or pool.conninfo in _refused:
                raise


@contextmanager
def _connection(pool: ConnectionPool) -> Iterator[psycopg.Connection]:
    """`pool.connection()` that gives up early while the database refuses connections:
    committed on success, rolled back on error, handed back to the pool."""
    conn = _getconn(pool)
    try:
        with conn:
            yield conn
    finally:
        pool.putconn(conn)


@contextmanager
def transaction(database_url: str, pool_size: int = 2) -> Iterator[psycopg.Cursor[dict[str, Any]]]:
    """A dict-row cursor inside one transaction: committed on success, rolled back on error.

    A connection that broke (database restarted) is discarded by the pool rather than reused;
    the pool then checks its idle ones, which most likely broke with it, so each process fails
    one transaction after a database restart instead of one per pooled connection (found by
    benchmarks/chaos).
    """
    pool = _pool(database_url, pool_size)
    conn: psycopg.Connection | None = None
    try:
        with _connection(pool) as conn:  # commits on success, rolls back on error, returns it
            with conn.cursor() as cur:
                yield cur
    finally:
        if conn is not None and conn.broken:
            pool.check()


@contextmanager
def pipelined(database_url: str, pool_size: int = 2) -> Iterator[psycopg.Cursor[dict[str, Any]]]:
    """`transaction`, in psycopg's pipeline mode: a statement is sent without waiting for its
    result, so statements whose results nobody reads travel together, BEGIN with the first and
    COMMIT with the last; a fetch waits for what was sent before it. For the hot write paths
    (a stage's claim and finish, its result rows), which took a round trip per statement plus
    BEGIN and COMMIT. `cursor()` of the yielded cursor's connection gives more cursors in the
    same pipeline, so a caller can send several queries before fetching any.

    An error surfaces at the next fetch or at the commit instead of at its statement (the
    transaction rolls back either way), so code that catches one statement's error to carry on
    uses `transaction`. Falls back to `transaction` where libpq has no pipeline mode (< 14).
    """
    if not psycopg.Pipeline.is_supported():
        with transaction(database_url, pool_size) as cur:
            yield cur
        return
    pool = _pool(database_url, pool_size)
    conn: psycopg.Connection | None = None
    try:
        with _connection(pool) as conn:  # commits on success, rolls back on error, returns it
            with conn.pipeline():
                with conn.cursor() as cur:
                    yield cur
                conn.commit()  # COMMIT goes with the statements still queued
    finally:
        if conn is not None and conn.broken:
            pool.check()


@contextmanager
def single_statement(database_url: str, pool_size: int = 2) -> Iterator[psycopg.Cursor[dict[str, Any]]]:
    """A dict-row cursor for one statement outside a transaction (autocommit): one round trip to
    the server where `transaction` takes three (BEGIN, the statement, COMMIT). For hot reads
    such as the status poll and a stage's inputs, and a single write that needs nothing around it
    (one statement is atomic by itself); anything that writes twice, or must read and write in
    one transaction, uses `transaction`."""
    pool = _pool(database_url, pool_size)
    conn: psycopg.Connection | None = None
    try:
        with _connection(pool) as conn:
            conn.autocommit = True  # a client-side switch: no round trip
            try:
                with conn.cursor() as cur:
                    yield cur
            finally:
                if not conn.closed:
                    conn.autocommit = False  # the pool's other users expect transactions
    finally:
        if conn is not None and conn.broken:
            pool.check()


def close_pools() -> None:
    with _lock:
        for key, pool in list(_pools.items()):
            if key[0] == os.getpid():
                pool.close()
            del _pools[key]


# A process closes its pools on the way out, while its threads still run. Left to the garbage
# collector at interpreter shutdown, a pool's __del__ waits 5 s for each of its worker threads
# (4 for a pool of one), which on Python 3.13 no longer run by then: `invoice-scanner-admin
# create-token --ttl 2` returned 20 s after its token was made, expired.
atexit.register(close_pools)
