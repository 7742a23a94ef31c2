"""PostgreSQL connections: one small pool per process, created lazily (fork-safe)."""
from __future__ import annotations

import os
import threading
from contextlib import contextmanager
from typing import Iterator

import psycopg2
import psycopg2.extras
from psycopg2.extras import Json  # noqa: F401  (re-exported: callers pass JSON parameters as Json(value))
from psycopg2.pool import ThreadedConnectionPool

psycopg2.extras.register_uuid()

_lock = threading.Lock()
_pools: dict[tuple[int, str], ThreadedConnectionPool] = {}


def _pool(database_url: str, size: int) -> ThreadedConnectionPool:
    key = (os.getpid(), database_url)
    pool = _pools.get(key)
    if pool is None:
        with _lock:
            pool = _pools.get(key)
            if pool is None:
                # minconn == maxconn: with minconn < maxconn psycopg2 closes every connection
                # handed back while minconn are idle (docs/LESSONS.md: 2,100 -> 600 req/s).
                pool = ThreadedConnectionPool(size, size, database_url, connect_timeout=5)
                _pools[key] = pool
    return pool


@contextmanager
def transaction(database_url: str, pool_size: int = 2) -> Iterator[psycopg2.extensions.cursor]:
    """A cursor inside one transaction: committed on success, rolled back on error.

    A connection that broke (database restarted) is discarded rather than handed back.
    """
    pool = _pool(database_url, pool_size)
    conn = pool.getconn()
    broken = False
    try:
        with conn.cursor(cursor_factory=psycopg2.extras.RealDictCursor) as cur:
            yield cur
        conn.commit()
    except (psycopg2.OperationalError, psycopg2.InterfaceError):
        broken = True
        raise
    except BaseException:
        try:
            conn.rollback()
        except (psycopg2.OperationalError, psycopg2.InterfaceError):
            broken = True
        raise
    finally:
        pool.putconn(conn, close=broken or conn.closed != 0)
        if broken:
            _discard_idle(pool)


def _discard_idle(pool: ThreadedConnectionPool) -> None:
    """When one connection broke, the server most likely restarted and every idle one in the
    pool is dead too: close them all now, so each process fails one transaction after a
    database restart instead of one per pooled connection (found by benchmarks/chaos)."""
    with pool._lock:  # psycopg2's pool has no public way to drop its idle connections
        idle, pool._pool[:] = list(pool._pool), []  # idle ones hold no key; new ones connect lazily
    for conn in idle:
        try:
            conn.close()
        except psycopg2.Error:
            pass


def close_pools() -> None:
    with _lock:
        for key, pool in list(_pools.items()):
            if key[0] == os.getpid():
                pool.closeall()
            del _pools[key]
