"""The PostgreSQL connection budget of a test run (tests/README.md, "Parallel runs").

`max_connections` is 100 on a default server, and a run must fit in it with every xdist worker
busy. Two things keep it there:

- `POOL_ENV`: the pools of the processes tests start (a stack, a `start_worker` worker). A stage
  worker of concurrency 1 keeps one connection (`WORKER_DB_POOL_SIZE`, 2 in a deployment), an
  API process 3 for its 4 gunicorn threads (`API_DB_POOL_SIZE`, 8 in a deployment; the ingest
  and mail workers read it too). A test stack then holds 19-20 sessions, not 48 (measured with
  `pg_stat_activity` after documents went through, the driving test's own included; 23-24 with
  an API pool of 4, which left room for 3 stacks at once, not 4).
- `StackSlots`: at most `slots` stacks on one PostgreSQL server at once across the workers of a
  run: a worker takes a slot (an flock on a file beside the run's var folder) before it starts a
  stack and gives it back when its next test needs none. A worker closes its own pools when it
  moves to another module (tests/conftest.py), so it holds a stack's sessions or a module's,
  not both. With an embedded PostgreSQL per worker
  each has its own server and slots of its own.
"""
from __future__ import annotations

import fcntl
import hashlib
import os
import time
from pathlib import Path
from urllib.parse import urlparse

POOL_ENV = {"WORKER_DB_POOL_SIZE": "1", "API_DB_POOL_SIZE": "3"}

# Measured sessions, with a margin of 2: a stack (8 stage workers x 1, gunicorn 2 x 3, the ingest
# and mail workers 3 each) and the test process driving it (20 measured, 2026-12-02); an xdist
# worker running integration tests (its API test client's pool of 8, a module's database, a
# worker or two it starts).
STACK_SESSIONS = 22
WORKER_SESSIONS = 12
BUDGET_SHARE = 0.9  # of max_connections: room for psql, an admin connection, a dying session


def slots_for(max_connections: int, workers: int) -> int:
    """How many stacks may run at once when `workers` xdist workers share the server.

    A worker runs one test at a time and holds either a stack (STACK_SESSIONS, its own driving
    sessions included) or an integration module's sessions (WORKER_SESSIONS), never both: it
    closes its pools when it leaves a module (tests/conftest.py) and gives its slot back after
    its stack's last test. So `slots` stacks and the other workers' modules must fit:
    slots x STACK_SESSIONS + (workers - slots) x WORKER_SESSIONS <= the budget."""
    budget = BUDGET_SHARE * max_connections
    fit = int((budget - workers * WORKER_SESSIONS) // (STACK_SESSIONS - WORKER_SESSIONS))
    return max(1, min(workers, fit))


class StackSlots:
    """`slots` lock files for one server; `acquire()` blocks until one is free."""

    def __init__(self, folder: Path, database_url: str, slots: int):
        where = urlparse(database_url)
        key = hashlib.sha256(f"{where.hostname}:{where.port}:{where.path if not where.hostname else ''}"
                             .encode()).hexdigest()[:12]
        self.folder = Path(folder) / f"pg-slots-{key}"
        self.folder.mkdir(parents=True, exist_ok=True)
        self.slots = slots
        self._held = None  # the open file whose lock this process holds

    @property
    def held(self) -> bool:
        return self._held is not None

    def acquire(self, timeout_s: float = 1800) -> float:
        """Take a slot (none if this process has one); returns the seconds waited."""
        if self._held is not None:
            return 0.0
        start = time.monotonic()
        while True:
            for n in range(self.slots):
                fh = open(self.folder / f"slot-{n}", "a")
                try:
                    fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    fh.close()
                    continue
                self._held = fh
                return time.monotonic() - start
            if time.monotonic() - start > timeout_s:
                raise TimeoutError(f"no PostgreSQL stack slot of {self.slots} free within {timeout_s:.0f} s")
            time.sleep(0.25)

    def release(self) -> None:
        if self._held is not None:
            fcntl.flock(self._held, fcntl.LOCK_UN)
            self._held.close()
            self._held = None


def xdist_workers() -> int:
    """The run's xdist worker count (1 without xdist)."""
    return int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1") or 1)


def var_dir() -> Path:
    """The run's var folder (TEST_VAR_DIR; var/test of the checkout), shared by its xdist workers."""
    return Path(os.environ.get("TEST_VAR_DIR", Path(__file__).resolve().parents[1] / "var" / "test"))


def configured_database_url() -> str:
    return os.environ.get("TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres")


def run_slots(config) -> StackSlots:
    """The run's `StackSlots` (made once per process, kept on `config`). On the machine's
    PostgreSQL: TEST_PG_STACKS slots, by default `slots_for` its max_connections and the worker
    count; when it does not answer (each worker then starts an embedded server) one per worker."""
    slots = getattr(config, "_invoice_stack_slots", None)
    if slots is None:
        from invoice.scanner.processing.devstack import postgres_answers

        url = configured_database_url()
        if postgres_answers(url):
            count = os.environ.get("TEST_PG_STACKS")
            if not count:
                import psycopg
                from psycopg.conninfo import make_conninfo

                with psycopg.connect(make_conninfo(url, dbname="postgres"), connect_timeout=5) as conn:
                    count = slots_for(int(conn.execute("SHOW max_connections").fetchone()[0]), xdist_workers())
            slots = StackSlots(var_dir(), url, int(count))
        else:
            slots = StackSlots(var_dir() / (os.environ.get("PYTEST_XDIST_WORKER") or "main"), url, 1)
        config._invoice_stack_slots = slots
    return slots
