"""The chaos harness shared by `benchmarks/chaos/run.py` and `tests/e2e/test_chaos_short.py`.

It starts the real stack (one Celery worker process group per queue, beat running the
sweeper with short stage deadlines, the API under gunicorn) on a Redis server of its own, and
on a PostgreSQL server of its own unless it is handed a database URL. It uploads documents
over HTTP as a client would, injects faults while they travel, and then proves from the
database that every accepted upload ended terminal, exactly once:

- `worker_kill`: SIGKILL of a stage worker's whole process group (a lost container or host),
  restarted a moment later. Its unacknowledged message is stranded until Redis' visibility
  timeout, so the sweeper re-drives the document once it is past its stage deadline.
- `pool_kill`: SIGKILL of one pool process (the kernel's OOM killer): Celery's
  `reject_on_worker_lost` puts the message straight back on the queue.
- `redis_restart`: the broker stops (SIGTERM; append-only file flushed) and comes back on the
  same port a few seconds later; workers, beat and the API reconnect.
- `redis_kill`: Redis is SIGKILLed (a crash: its last second of append-only writes may be
  gone, and with them a message) and started again on its own data.
- `rabbitmq_restart` (with `broker="amqp"`): a RabbitMQ node of the harness' own
  (`EmbeddedRabbitMQ`) stops and starts again; its quorum queues keep their messages.
- `postgres_restart`: `pg_ctl stop` (fast: sessions are cut) and start again; every pooled
  connection in every process breaks at once.
- `memory_limit`: the OCR pool process's address-space limit (`RLIMIT_AS`, set from outside
  with `prlimit`) is lowered to its current size + 24 MiB while it works, so its next large
  allocation fails (MemoryError in Python, or an abort inside ONNX Runtime that kills the
  process). The limit is put back after 30 s if the process lives.

The verdict (`ChaosReport`) counts lost, duplicated and stuck documents; see `verify`.

Recovery is timed per fault, from the service being back (or the kill) to the end of the last
document the fault touched. A worker kill, pool kill or memory fault touches the documents its
stage was working on (open attempts of that stage in the document's current run). A broker or
database fault touches the documents mid-stage when it struck (open attempts of any stage: their
worker lost its connection or its session) and those it lost (in flight when it struck, then
re-driven by the sweeper as `lost` within 10 minutes of the service being back). Its "drain"
is the same clock to the end of every document in flight when it struck, queued ones included:
on a host that cannot keep up, that is the backlog's length, not the fault's. The floor beside
them is the time to terminal of the documents no fault touched or found in flight.
"""
from __future__ import annotations

import hashlib
import logging
import os
import random
import resource
import signal
import statistics
import subprocess
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import psutil
import requests

from invoice.scanner.processing.celery_app import STAGE_QUEUES
from invoice.scanner.processing.db.connection import DatabaseUnavailable
from invoice.scanner.processing.devstack import (
    EmbeddedPostgres,
    EmbeddedRabbitMQ,
    EmbeddedRedis,
    Services,
    Stack,
    free_port,
    stack_env,
)
from invoice.scanner.processing.status import STAGES, SUCCESS_STATUSES, TERMINAL_STATUSES

logger = logging.getLogger(__name__)

TERMINAL = {s.value for s in TERMINAL_STATUSES}
SUCCESS = {s.value for s in SUCCESS_STATUSES}
STAGE_ORDER = [s.name for s in STAGES]
SERVICE_FAULTS = {"redis_kill", "redis_restart", "rabbitmq_restart", "postgres_restart"}
LOST_WITHIN_S = 600  # a `lost` re-drive this long after a service fault is counted as its doing

# Short deadlines so the sweeper acts within the run; quick retries so a failed attempt is
# retried in seconds. A document waiting in a queue is on its stage's clock too, so the OCR
# deadline leaves room for a queue of scans on 2 cores.
CHAOS_ENV = {
    "SWEEPER_INTERVAL_S": "5",
    "SWEEPER_MAX_REDRIVES": "6",
    "PREPROCESSING_DEADLINE_S": "45",
    "OCR_DEADLINE_S": "60",
    "LLM_DEADLINE_S": "30",
    "EXTRACTION_DEADLINE_S": "30",
    "EVALUATION_DEADLINE_S": "30",
    "PREPROCESSING_RETRY_BACKOFF_S": "2",
    "OCR_RETRY_BACKOFF_S": "2",
    "LLM_RETRY_BACKOFF_S": "2",
    "EXTRACTION_RETRY_BACKOFF_S": "2",
    "EVALUATION_RETRY_BACKOFF_S": "2",
    "LLM_PROVIDER": "local",
    # Rate limits are not under test here; many harness logins must not trip them.
    "LOGIN_RATE_LIMIT": "1000",
}


@dataclass(frozen=True)
class Doc:
    index: int
    kind: str
    filename: str
    data: bytes

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()


@dataclass
class ChaosPlan:
    docs: int = 40
    duration_s: float = 300.0
    seed: int = 7
    scanned_share: float = 0.5
    upload_window_share: float = 0.6  # uploads are spread over this share of the duration
    fault_window_share: float = 0.85  # faults stop after this share, so recovery is also observed
    kill_every_s: tuple[float, float] = (6.0, 12.0)
    kills: int | None = None  # None: keep killing until the fault window ends
    pool_kill_share: float = 0.3  # share of kills that hit one pool process instead of the group
    kill_targets: tuple[str, ...] = STAGE_QUEUES
    kill_sequence: tuple[str, ...] | None = None  # kill exactly these workers, in order, instead of at random
    kill_when_busy_s: float = 0.0  # wait up to this long for the target stage to be mid-task
    redis_restarts: int = 1
    postgres_restarts: int = 1  # only with a PostgreSQL of the harness' own
    memory_faults: int = 1
    outage_s: float = 4.0  # how long Redis / PostgreSQL stay down
    settle_timeout_s: float = 420.0  # after the duration: time allowed for every document to end
    concurrency: int | None = 1  # per worker; None = the routing table's profiles
    extra_env: dict[str, str] = field(default_factory=dict)
    broker: str = "redis"  # "redis" | "amqp" (a RabbitMQ node of the harness' own; Redis stays for the API)
    redis_kills: int = 0  # SIGKILLs of Redis (a crash), each restarted on its own data
    rabbitmq_restarts: int = 0  # with broker="amqp"
    defaults: bool = False  # True: the deadlines and timeouts a user gets (no CHAOS_ENV)


@dataclass
class Fault:
    at_s: float
    kind: str
    target: str
    detail: str = ""
    at_wall: float = 0.0  # time.time() when the fault began
    back_wall: float = 0.0  # time.time() when the service was back (= at_wall for a kill)
    touched: list[str] = field(default_factory=list)  # documents it touched (see the module's docstring)
    in_flight: list[str] = field(default_factory=list)  # every document not terminal when it struck
    recovery_s: float | None = None  # back -> the last touched document terminal (set by verify)


@dataclass
class Upload:
    doc: Doc
    attempts: list[str] = field(default_factory=list)  # "201", "409", "503", "ConnectionError", ...
    status_code: int | None = None
    document_id: str | None = None
    sent_at: float = 0.0

    @property
    def accepted(self) -> bool:
        return self.document_id is not None


@dataclass
class ChaosReport:
    documents: int
    accepted: int
    terminal: int
    lost: list[str]
    duplicated: list[str]
    stuck: list[str]
    history_problems: list[str]
    statuses: Counter
    seconds_to_terminal: list[float]
    faults: list[Fault]
    upload_attempts: Counter
    redrives: int
    wall_s: float
    # per fault kind: seconds from the service being back to the last touched document ending
    recovery: dict[str, list[float]] = field(default_factory=dict)
    unrecovered: int = 0  # touched documents that never ended
    floor: list[float] = field(default_factory=list)  # time to terminal of documents no fault touched
    drain: dict[str, list[float]] = field(default_factory=dict)  # service faults: back -> all in flight terminal

    @property
    def ok(self) -> bool:
        return not (self.lost or self.duplicated or self.stuck or self.history_problems)

    def percentile(self, q: float) -> float | None:
        xs = sorted(self.seconds_to_terminal)
        if not xs:
            return None
        return xs[min(len(xs) - 1, max(0, round(q * (len(xs) - 1))))]

    def table(self) -> str:
        med = statistics.median(self.seconds_to_terminal) if self.seconds_to_terminal else None
        p95 = self.percentile(0.95)
        faults = Counter(f.kind for f in self.faults)
        rows = [
            ("documents uploaded", self.documents),
            ("accepted (201)", self.accepted),
            ("terminal", self.terminal),
            ("lost", len(self.lost)),
            ("duplicated", len(self.duplicated)),
            ("stuck", len(self.stuck)),
            ("history inconsistencies", len(self.history_problems)),
            ("median time to terminal (s)", f"{med:.1f}" if med is not None else "-"),
            ("p95 time to terminal (s)", f"{p95:.1f}" if p95 is not None else "-"),
            ("sweeper re-drives", self.redrives),
            ("wall time (s)", f"{self.wall_s:.0f}"),
        ]
        rows += [(f"faults: {kind}", n) for kind, n in sorted(faults.items())]
        for kind, xs in sorted(self.recovery.items()):
            if xs:
                rows.append((f"recovery after {kind} (s) p50 / max", f"{statistics.median(xs):.1f} / {max(xs):.1f}"))
        every = [x for xs in self.recovery.values() for x in xs]
        if every:
            rows.append(("recovery after any fault (s) p50 / max", f"{statistics.median(every):.1f} / {max(every):.1f}"))
        for kind, xs in sorted(self.drain.items()):
            if xs:
                rows.append((f"drain after {kind}: all in flight terminal (s) max", f"{max(xs):.1f}"))
        rows.append(("touched documents never recovered", self.unrecovered))
        if self.floor:
            rows.append(("floor: untouched documents' time to terminal (s) p50 / max",
                         f"{statistics.median(self.floor):.1f} / {max(self.floor):.1f} ({len(self.floor)} documents)"))
        rows += [(f"final status: {status}", n) for status, n in sorted(self.statuses.items())]
        rows += [(f"upload answers: {code}", n) for code, n in sorted(self.upload_attempts.items())]
        width = max(len(k) for k, _ in rows)
        lines = [f"{'metric':<{width}}  value", f"{'-' * width}  -----"]
        lines += [f"{k:<{width}}  {v}" for k, v in rows]
        for title, items in (("LOST", self.lost), ("DUPLICATED", self.duplicated), ("STUCK", self.stuck),
                             ("HISTORY", self.history_problems)):
            for item in items[:20]:
                lines.append(f"{title}: {item}")
        return "\n".join(lines)

    def fault_log(self) -> str:
        def recovered(f: Fault) -> str:
            if not f.touched:
                return "touched none"
            return (f"touched {len(f.touched)}, all terminal {f.recovery_s:.0f}s after"
                    if f.recovery_s is not None else f"touched {len(f.touched)}, not all terminal")
        return "\n".join(f"  {f.at_s:7.1f}s  {f.kind:<17} {f.target:<22} {f.detail}  [{recovered(f)}]"
                         for f in self.faults)


# -- documents -------------------------------------------------------------------------------

def make_documents(n: int, seed: int, scanned_share: float, pages: int | None = None) -> list[Doc]:
    """A reproducible mix of born-digital PDFs and scans from the test-data generator
    (`pages`: each document that long; None: the generator draws it, 1-3)."""
    from invoicegen import generate

    rng = random.Random(seed)
    docs = []
    for i in range(n):
        kind = "scanned" if rng.random() < scanned_share else "born_digital"
        inv = generate(seed * 1000 + i, kind=kind, pages=pages)
        docs.append(Doc(i, kind, inv.filename, inv.data))
    return docs


# -- the harness -----------------------------------------------------------------------------

class ChaosHarness:
    """Owns its Redis (and PostgreSQL unless `database_url` is given), the stack and the faults."""

    def __init__(self, root: Path, plan: ChaosPlan, database_url: str | None = None,
                 say: Callable[[str], None] | None = None):
        self.root = Path(root)
        self.plan = plan
        self.rng = random.Random(plan.seed)
        self.say = say or (lambda line: logger.info("%s", line))
        self.given_database_url = database_url
        self.redis: EmbeddedRedis | None = None
        self.postgres: EmbeddedPostgres | None = None
        self.rabbitmq: EmbeddedRabbitMQ | None = None
        self.database_url = ""
        self.stack: Stack | None = None
        self.session = requests.Session()
        self.base = ""
        self.faults: list[Fault] = []
        self.uploads: list[Upload] = []
        self.t0 = 0.0
        self._stop_faults = threading.Event()
        self._lock = threading.Lock()  # faults and restarts of the same process never overlap

    # -- life cycle ------------------------------------------------------------------------

    def start(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        self.redis = EmbeddedRedis(self.root / "redis")
        redis_url = self.redis.start()
        if self.given_database_url:
            self.database_url = self.given_database_url
        else:
            self.postgres = EmbeddedPostgres(self.root / "pg")
            self.database_url = self.postgres.start("invoice_scanner_chaos")
        from invoice.scanner.processing.db.migrate import upgrade

        upgrade(self.database_url)
        extra = {} if self.plan.defaults else dict(CHAOS_ENV)
        extra["LOGIN_RATE_LIMIT"] = CHAOS_ENV["LOGIN_RATE_LIMIT"]  # harness logins, not under test
        extra.pop("BROKER_URL", None)
        if self.plan.broker == "amqp":
            self.rabbitmq = EmbeddedRabbitMQ(self.root / "rabbitmq")
            extra["BROKER_URL"] = self.rabbitmq.start()
        env = stack_env(Services(self.database_url, redis_url), self.root / "documents",
                        {**extra, **self.plan.extra_env})
        if self.plan.broker != "amqp":
            env.pop("BROKER_URL", None)  # the machine's environment must not pick the broker
        self.stack = Stack(env, self.root / "logs", api_port=free_port(), with_flower=False, with_beat=True,
                           worker_concurrency=self.plan.concurrency)
        self.base = f"http://127.0.0.1:{self.stack.api_port}"
        email, password = "chaos@example.test", "chaos-password-1"
        subprocess.run([sys.executable, "-m", "invoice.scanner.api.cli", "create-user", "--company", "Chaos Co",
                        "--email", email, "--password", password, "--if-missing"], env=env, check=True,
                       capture_output=True, text=True)
        self.stack.start()
        self.stack.wait_ready(240)
        r = self.session.post(f"{self.base}/auth/login", json={"email": email, "password": password}, timeout=10)
        r.raise_for_status()
        self.session.headers["Authorization"] = f"Bearer {r.json()['access_token']}"

    def stop(self) -> None:
        self._stop_faults.set()
        if self.stack is not None:
            self.stack.stop()
        from invoice.scanner.processing.db.connection import close_pools

        close_pools()
        if self.redis is not None:
            self.redis.stop()
        if self.rabbitmq is not None:
            self.rabbitmq.stop()
        if self.postgres is not None:
            self.postgres.stop()

    def logs(self, tail: int = 3000) -> str:
        if self.stack is None:
            return ""
        return "\n".join(f"--- {p.name}\n{p.log_path.read_text(errors='replace')[-tail:]}"
                         for p in self.stack.procs.values() if p.log_path.exists())

    def now(self) -> float:
        return time.monotonic() - self.t0

    def _fault(self, kind: str, target: str, detail: str = "", touched: list[str] | None = None,
               in_flight: list[str] | None = None) -> Fault:
        """Record a fault; `touched` defaults to the documents mid-stage now (a service fault)."""
        fault = Fault(round(self.now(), 1), kind, target, detail, at_wall=time.time(), back_wall=time.time(),
                      touched=self._working_on(None) if touched is None else touched,
                      in_flight=self._in_flight() if in_flight is None else in_flight)
        self.faults.append(fault)
        self.say(f"[{fault.at_s:6.1f}s] fault {kind} {target} {detail} ({len(fault.touched)} documents touched, "
                 f"{len(fault.in_flight)} in flight)")
        return fault

    def _working_on(self, stage: str | None) -> list[str]:
        """Documents of the run with an open attempt of `stage` (None: of any stage) in their
        current run: the work a kill of that stage's worker (or a service fault) interrupts."""
        from invoice.scanner.processing.db.repository import Repository

        try:
            with Repository(self.database_url).tx() as cur:
                cur.execute("SELECT DISTINCT a.document_id::text AS id FROM stage_attempts a JOIN documents d "
                            "ON d.id = a.document_id AND d.pipeline_run = a.pipeline_run "
                            "WHERE (a.stage = %s OR %s::text IS NULL) AND a.finished_at IS NULL "
                            "AND NOT (d.status = ANY(%s))", (stage, stage, list(TERMINAL)))
                return [r["id"] for r in cur.fetchall()]
        except DatabaseUnavailable:  # the database is restarting: nothing known to be touched
            return []

    def _in_flight(self) -> list[str]:
        """Documents of the run not terminal now: the ones a fault can touch."""
        from invoice.scanner.processing.db.repository import Repository

        try:
            with Repository(self.database_url).tx() as cur:
                cur.execute("SELECT id::text AS id FROM documents WHERE NOT (status = ANY(%s))", (list(TERMINAL),))
                return [r["id"] for r in cur.fetchall()]
        except DatabaseUnavailable:  # the database is restarting: nothing known to be touched
            return []

    # -- faults ----------------------------------------------------------------------------

    def kill_worker(self, queue: str, pool_only: bool = False, note: str = "") -> None:
        proc = self.stack.procs[f"worker-{queue}"]
        with self._lock:
            if not proc.alive():
                proc.start()
                return
            working = self._working_on(queue)
            if pool_only:
                children = psutil.Process(proc.process.pid).children()
                if children:
                    victim = self.rng.choice(children)
                    os.kill(victim.pid, signal.SIGKILL)
                    self._fault("pool_kill", f"worker-{queue}", f"pid {victim.pid} {note}".strip(), touched=working)
                    return
            proc.kill()
            self._fault("worker_kill", f"worker-{queue}", f"SIGKILL to the process group {note}".strip(),
                        touched=working)
            time.sleep(self.rng.uniform(1.0, 3.0))
            proc.start()

    def restart_redis(self, kill: bool = False) -> None:
        with self._lock:
            port = self.redis.port
            if kill:
                self.redis.kill()
                fault = self._fault("redis_kill", f"redis:{port}", f"SIGKILL, down {self.plan.outage_s:.0f}s")
            else:
                self.redis.stop()
                fault = self._fault("redis_restart", f"redis:{port}", f"down {self.plan.outage_s:.0f}s")
            time.sleep(self.plan.outage_s)
            self.redis.port = port
            self.redis.start()
            fault.back_wall = time.time()

    def restart_rabbitmq(self) -> None:
        with self._lock:
            self.rabbitmq.stop()
            fault = self._fault("rabbitmq_restart", f"rabbitmq:{self.rabbitmq.port}",
                                f"down {self.plan.outage_s:.0f}s")
            time.sleep(self.plan.outage_s)
            self.rabbitmq.start()
            fault.back_wall = time.time()

    def restart_postgres(self) -> None:
        with self._lock:
            touched, in_flight = self._working_on(None), self._in_flight()  # asked before it goes
            self.postgres.stop()
            fault = self._fault("postgres_restart", "postgresql", f"fast shutdown, down {self.plan.outage_s:.0f}s",
                                touched=touched, in_flight=in_flight)
            time.sleep(self.plan.outage_s)
            self.postgres.start("invoice_scanner_chaos")
            fault.back_wall = time.time()

    def memory_fault(self) -> None:
        """Lower the OCR pool process's RLIMIT_AS to just above what it uses, while it works."""
        from invoice.scanner.processing.db.repository import Repository

        repo = Repository(self.database_url)
        deadline = time.monotonic() + 90
        busy = False
        while time.monotonic() < deadline and not self._stop_faults.is_set():
            try:
                with repo.tx() as cur:
                    cur.execute("SELECT count(*) AS n FROM stage_attempts "
                                "WHERE stage = 'ocr' AND finished_at IS NULL")
                    busy = cur.fetchone()["n"] > 0
            except Exception:  # the database may be restarting; try again
                busy = False
            if busy:
                break
            time.sleep(0.2)
        with self._lock:
            proc = self.stack.procs["worker-ocr"]
            if not proc.alive():
                return
            children = psutil.Process(proc.process.pid).children()
            if not children:
                return
            child = children[0]
            vms = child.memory_info().vms
            soft, hard = resource.prlimit(child.pid, resource.RLIMIT_AS)
            limit = vms + 24 * 1024 * 1024
            resource.prlimit(child.pid, resource.RLIMIT_AS, (limit, hard))
            self._fault("memory_limit", "worker-ocr", f"pid {child.pid} RLIMIT_AS {vms >> 20} MiB + 24 MiB "
                                                       f"({'mid-task' if busy else 'idle'})",
                        touched=self._working_on("ocr"))
            fault = self.faults[-1]
        # Watch until the limit bites (the process dies, or an attempt fails with a memory error),
        # then lift it: the fault is one limit hit, not a process capped for good.
        end = time.monotonic() + 60
        outcome = "no allocation hit the limit within 60s"
        while time.monotonic() < end:
            if not child.is_running() or child.status() == psutil.STATUS_ZOMBIE:
                outcome = "the pool process died"
                break
            try:
                with repo.tx() as cur:
                    cur.execute("SELECT detail->>'error' AS e FROM stage_attempts WHERE stage = 'ocr' "
                                "AND finished_at > now() - interval '60 seconds' AND detail->>'error' ILIKE ANY(%s) "
                                "LIMIT 1", (["%memory%", "%allocate%"],))
                    hit = cur.fetchone()
            except Exception:
                hit = None
            if hit:
                outcome = f"an OCR attempt failed: {hit['e'][:80]!r}"
                break
            time.sleep(0.1)
        if child.is_running() and child.status() != psutil.STATUS_ZOMBIE:
            try:
                resource.prlimit(child.pid, resource.RLIMIT_AS, (soft, hard))
                outcome += "; limit lifted"
            except (ProcessLookupError, psutil.NoSuchProcess):
                pass
        fault.detail += f"; {outcome}"
        self.say(f"[{self.now():6.1f}s] memory_limit outcome: {outcome}")

    def _fault_schedule(self) -> list[tuple[float, str]]:
        p = self.plan
        window = p.duration_s * p.fault_window_share
        events: list[tuple[float, str]] = []
        for i in range(p.memory_faults):
            events.append((window * (0.15 + 0.1 * i), "memory"))
        for i in range(p.redis_restarts):
            events.append((window * (0.35 + 0.1 * i), "redis"))
        for i in range(p.redis_kills):
            events.append((window * (0.45 + 0.1 * i), "redis_kill"))
        if self.rabbitmq is not None:
            for i in range(p.rabbitmq_restarts):
                events.append((window * (0.5 + 0.1 * i), "rabbitmq"))
        if self.postgres is not None:
            for i in range(p.postgres_restarts):
                events.append((window * (0.6 + 0.1 * i), "postgres"))
        t, kills = self.rng.uniform(*p.kill_every_s), 0
        limit = len(p.kill_sequence) if p.kill_sequence is not None else p.kills
        while t < window and (limit is None or kills < limit):
            events.append((t, "kill"))
            t += self.rng.uniform(*p.kill_every_s)
            kills += 1
        return sorted(events)

    def _wait_busy(self, stage: str) -> bool:
        """Wait (bounded) until `stage` has an attempt in flight, so the kill lands mid-task."""
        from invoice.scanner.processing.db.repository import Repository

        repo = Repository(self.database_url)
        end = time.monotonic() + self.plan.kill_when_busy_s
        while time.monotonic() < end and not self._stop_faults.is_set():
            try:
                with repo.tx() as cur:
                    cur.execute("SELECT 1 FROM stage_attempts WHERE stage = %s AND finished_at IS NULL "
                                "LIMIT 1", (stage,))
                    if cur.fetchone():
                        return True
            except Exception:  # the database may be restarting
                pass
            time.sleep(0.05)
        return False

    def _inject_faults(self) -> None:
        threads = []
        sequence = list(self.plan.kill_sequence or ())
        for at, kind in self._fault_schedule():
            if self._stop_faults.wait(max(0.0, at - self.now())):
                return
            try:
                if kind == "kill":
                    target = sequence.pop(0) if sequence else self.rng.choice(self.plan.kill_targets)
                    busy = self._wait_busy(target) if self.plan.kill_when_busy_s else False
                    self.kill_worker(target, pool_only=self.rng.random() < self.plan.pool_kill_share,
                                     note="mid-task" if busy else "")
                elif kind == "redis":
                    self.restart_redis()
                elif kind == "redis_kill":
                    self.restart_redis(kill=True)
                elif kind == "rabbitmq":
                    self.restart_rabbitmq()
                elif kind == "postgres":
                    self.restart_postgres()
                elif kind == "memory":
                    # It waits for OCR to be busy; the other faults go on meanwhile.
                    t = threading.Thread(target=self.memory_fault, daemon=True)
                    t.start()
                    threads.append(t)
            except Exception:
                logger.exception("fault %s could not be injected", kind)
        for t in threads:
            t.join(120)

    # -- uploads ---------------------------------------------------------------------------

    def upload(self, doc: Doc, give_up_s: float = 120.0) -> Upload:
        """Upload as a careful client does: retry on 5xx or a dropped connection; a 409 after an
        uncertain attempt means an earlier attempt was recorded and names the document."""
        up = Upload(doc, sent_at=self.now())
        deadline = time.monotonic() + give_up_s
        while time.monotonic() < deadline:
            try:
                r = self.session.post(f"{self.base}/documents/upload", files={"file": (doc.filename, doc.data)},
                                      timeout=30)
            except requests.RequestException as exc:
                up.attempts.append(type(exc).__name__)
                time.sleep(1.0)
                continue
            up.attempts.append(str(r.status_code))
            up.status_code = r.status_code
            if r.status_code == 201:
                up.document_id = r.json()["document"]["id"]
                return up
            if r.status_code == 409:
                up.document_id = r.json().get("document_id")
                return up
            if r.status_code < 500:
                return up  # a verdict on the file; not retried
            time.sleep(1.0)
        return up

    def _upload_all(self, docs: list[Doc]) -> None:
        window = self.plan.duration_s * self.plan.upload_window_share
        for doc in docs:
            at = window * doc.index / max(1, len(docs))
            delay = at - self.now()
            if delay > 0:
                time.sleep(delay)
            self.uploads.append(self.upload(doc))

    # -- the run ---------------------------------------------------------------------------

    def run(self, docs: list[Doc]) -> ChaosReport:
        from invoice.scanner.processing.db.repository import Repository

        self.t0 = time.monotonic()
        faults = threading.Thread(target=self._inject_faults, name="faults", daemon=True)
        uploader = threading.Thread(target=self._upload_all, args=(docs,), name="uploader", daemon=True)
        faults.start()
        uploader.start()
        repo = Repository(self.database_url)
        next_report = 0.0
        # An explicit kill sequence is the plan's promise (every worker it names is killed): on a
        # slow machine a broker restart can block the fault thread past the window, so the run
        # waits for its remaining faults (up to three times the duration) before it stops them.
        def faults_due() -> bool:
            return (self.plan.kill_sequence is not None and faults.is_alive()
                    and self.now() < 3 * self.plan.duration_s)

        while (self.now() < self.plan.duration_s or faults_due()) and (faults.is_alive() or uploader.is_alive()):
            if self.now() >= next_report:
                self.say(f"[{self.now():6.1f}s] {self._progress(repo)}")
                next_report = self.now() + 15
            self._revive()
            time.sleep(1)
        self._stop_faults.set()
        faults.join(180)
        uploader.join(600)
        self._revive()
        # Every accepted document must end; give the sweeper time to re-drive the last victims.
        # On a slow host a backlog of scans can outlast `settle_timeout_s`: the wait goes on
        # while documents keep finishing (up to three times as long), so a queue that is
        # draining is not reported as stuck, and a document nobody works on still is.
        settle_start = time.monotonic()
        last_open, last_progress = -1, time.monotonic()
        while True:
            now = time.monotonic()
            open_docs = self._open_documents(repo)
            if open_docs == 0:
                break
            if open_docs != last_open:
                last_open, last_progress = open_docs, now
            if now - settle_start > 3 * self.plan.settle_timeout_s:
                break
            if now - settle_start > self.plan.settle_timeout_s and now - last_progress > 120:
                break
            if self.now() >= next_report:
                self.say(f"[{self.now():6.1f}s] settling: {self._progress(repo)}")
                next_report = self.now() + 15
            self._revive()
            time.sleep(1)
        # Tasks of superseded runs may still be closing their history rows.
        quiet = time.monotonic() + 30
        while time.monotonic() < quiet and self._open_rows(repo):
            time.sleep(1)
        return verify(self.database_url, self.uploads, self.faults, self.now())

    def _revive(self) -> None:
        """The supervisor's part (docker's restart policy, `make run`'s loop): a process that
        exited by itself is restarted, and the exit is logged as a fault of its own."""
        with self._lock:
            for proc in self.stack.procs.values():
                if not proc.alive():
                    code = proc.process.returncode if proc.process else None
                    stage = proc.name.removeprefix("worker-")
                    self._fault("supervisor_restart", proc.name, f"exited by itself (code {code}); restarted",
                                touched=self._working_on(stage) if stage in STAGE_QUEUES else self._in_flight())
                    proc.start()

    def _progress(self, repo) -> str:
        try:
            with repo.tx() as cur:
                cur.execute("SELECT status, count(*) AS n FROM documents GROUP BY status ORDER BY status")
                counts = {r["status"]: r["n"] for r in cur.fetchall()}
        except Exception as exc:
            return f"(database unavailable: {type(exc).__name__})"
        accepted = sum(1 for u in self.uploads if u.accepted)
        return f"uploaded {accepted}/{self.plan.docs}, faults {len(self.faults)}, statuses {counts}"

    @staticmethod
    def _open_documents(repo) -> int:
        try:
            with repo.tx() as cur:
                cur.execute("SELECT count(*) AS n FROM documents WHERE NOT (status = ANY(%s))", (list(TERMINAL),))
                return cur.fetchone()["n"]
        except Exception:
            return -1

    @staticmethod
    def _open_rows(repo) -> int:
        try:
            with repo.tx() as cur:
                cur.execute("SELECT count(*) AS n FROM stage_attempts WHERE finished_at IS NULL")
                return cur.fetchone()["n"]
        except Exception:
            return -1


# -- the verdict -----------------------------------------------------------------------------

def verify(database_url: str, uploads: list[Upload], faults: list[Fault], wall_s: float) -> ChaosReport:
    """Prove from the database that nothing was lost, duplicated or left stuck.

    - lost: an upload answered 201 (or 409 naming a document) whose row is missing; or an
      upload whose answer was lost (timeout, 5xx) but whose row exists and is not terminal.
    - stuck: any document of the run not in a terminal status.
    - duplicated: two rows for one (company, sha256); a stage that succeeded twice within the
      document's final pipeline run; page rows that do not match the page count.
    - history: every row finished; each row starts where the previous one ended
      (from_status = previous to_status); the last row is the document's status; a document
      that succeeded has exactly one successful attempt of every stage of its final run.
    """
    from invoice.scanner.processing.db.repository import Repository

    repo = Repository(database_url)
    with repo.tx() as cur:
        cur.execute("SELECT id::text AS id, company_id::text AS company_id, sha256, status, pipeline_run, pages, "
                    "extract(epoch FROM completed_at - created_at) AS secs, redrive_count, "
                    "extract(epoch FROM completed_at) AS done_at FROM documents")
        docs = {r["id"]: r for r in cur.fetchall()}
        cur.execute("SELECT id, document_id::text AS document_id, from_status, to_status, stage, pipeline_run, "
                    "finished_at, detail FROM document_status_history ORDER BY document_id, id")
        history: dict[str, list[dict]] = {}
        for row in cur.fetchall():
            history.setdefault(row["document_id"], []).append(row)
        # A stage's successes are its attempts closed as ok (stage_attempts, migration 0002).
        cur.execute("SELECT document_id::text AS document_id, stage, pipeline_run FROM stage_attempts "
                    "WHERE outcome = 'ok'")
        ok_attempts: dict[str, list[dict]] = {}
        for row in cur.fetchall():
            ok_attempts.setdefault(row["document_id"], []).append(row)
        cur.execute("SELECT company_id::text AS c, sha256, count(*) AS n FROM documents GROUP BY 1, 2 HAVING count(*) > 1")
        dup_sha = [f"{r['sha256'][:12]} x{r['n']}" for r in cur.fetchall()]
        cur.execute("SELECT document_id::text AS id, count(*) AS n, max(page_no) AS max_page, "
                    "count(DISTINCT page_no) AS distinct_pages FROM document_pages GROUP BY 1")
        pages = {r["id"]: r for r in cur.fetchall()}

    by_sha = {d["sha256"]: d for d in docs.values()}
    lost, duplicated, history_problems = [], list(dup_sha), []
    for up in uploads:
        if up.accepted:
            if up.document_id not in docs:
                lost.append(f"{up.document_id} (upload {up.doc.index}, answered {up.attempts}) has no row")
        elif up.doc.sha256 in by_sha:
            # The client never heard back, yet the upload was recorded: it must still finish.
            row = by_sha[up.doc.sha256]
            if row["status"] not in TERMINAL:
                lost.append(f"{row['id']} (upload {up.doc.index}, answers {up.attempts}) recorded but {row['status']}")
    stuck = [f"{d['id']} {d['status']} (run {d['pipeline_run']}, re-drives {d['redrive_count']})"
             for d in docs.values() if d["status"] not in TERMINAL]

    for doc_id, doc in docs.items():
        rows = history.get(doc_id, [])
        if not rows:
            history_problems.append(f"{doc_id}: no history")
            continue
        prev = None
        for row in rows:
            if row["finished_at"] is None:
                history_problems.append(f"{doc_id}: row {row['id']} {row['stage']} -> {row['to_status']} never finished")
            if row["from_status"] != prev:
                history_problems.append(f"{doc_id}: row {row['id']} starts at {row['from_status']}, previous ended {prev}")
            prev = row["to_status"]
        if prev != doc["status"]:
            history_problems.append(f"{doc_id}: history ends at {prev}, document is {doc['status']}")
        final = [r for r in rows if r["pipeline_run"] == doc["pipeline_run"]]
        ok_by_stage = Counter(a["stage"] for a in ok_attempts.get(doc_id, [])
                              if a["pipeline_run"] == doc["pipeline_run"] and a["stage"] in STAGE_ORDER)
        for stage, n in ok_by_stage.items():
            if n > 1:
                duplicated.append(f"{doc_id}: {stage} succeeded {n} times in run {doc['pipeline_run']}")
        if doc["status"] in SUCCESS:
            start = _run_start_stage(final)
            missing = [s for s in STAGE_ORDER[STAGE_ORDER.index(start):] if ok_by_stage.get(s, 0) != 1]
            if missing:
                history_problems.append(f"{doc_id}: {doc['status']} without one successful {missing} "
                                        f"in run {doc['pipeline_run']}")
        page = pages.get(doc_id)
        if page and doc["pages"] is not None and (page["n"] != page["distinct_pages"] or page["n"] != doc["pages"]):
            duplicated.append(f"{doc_id}: {page['n']} page rows for {doc['pages']} page(s)")

    seconds = [float(d["secs"]) for d in docs.values() if d["secs"] is not None]
    # Recovery: from the service being back (or the kill) to the last document the fault
    # found in flight ending; a touched document that never ended counts as unrecovered.
    recovery: dict[str, list[float]] = {}
    drain: dict[str, list[float]] = {}
    unrecovered = 0
    lost_redrives = [(doc_id, row["finished_at"].timestamp()) for doc_id, rows in history.items() for row in rows
                     if (row["detail"] or {}).get("redrive_reason") == "lost" and row["finished_at"] is not None]
    for fault in faults:
        if fault.kind in SERVICE_FAULTS:
            in_flight = set(fault.in_flight)
            went_with_it = {doc_id for doc_id, at in lost_redrives
                            if doc_id in in_flight and fault.at_wall <= at <= fault.back_wall + LOST_WITHIN_S}
            fault.touched = sorted(set(fault.touched) | went_with_it)
            ends = [docs[i]["done_at"] for i in fault.in_flight if i in docs]
            if ends and all(e is not None for e in ends):
                drain.setdefault(fault.kind, []).append(max(0.0, float(max(ends)) - fault.back_wall))
        ends = []
        for doc_id in fault.touched:
            d = docs.get(doc_id)
            if d is None or d["done_at"] is None or d["status"] not in TERMINAL:
                unrecovered += 1
            else:
                ends.append(float(d["done_at"]))
        if ends and len(ends) == len(fault.touched):
            fault.recovery_s = max(0.0, max(ends) - fault.back_wall)
            recovery.setdefault(fault.kind, []).append(fault.recovery_s)
        elif ends:  # some never ended: counted in `unrecovered`; the others' ends are still timed
            recovery.setdefault(fault.kind, []).append(max(0.0, max(ends) - fault.back_wall))
    touched_any = {doc_id for fault in faults for doc_id in (*fault.touched, *fault.in_flight)
                   if fault.kind in SERVICE_FAULTS or doc_id in fault.touched}
    floor = [float(d["secs"]) for doc_id, d in docs.items() if d["secs"] is not None and doc_id not in touched_any]
    redrives = sum(int(d["redrive_count"]) for d in docs.values())
    attempts = Counter(a for up in uploads for a in up.attempts)
    return ChaosReport(
        documents=len(uploads), accepted=sum(1 for u in uploads if u.accepted),
        terminal=sum(1 for d in docs.values() if d["status"] in TERMINAL), lost=lost, duplicated=duplicated,
        stuck=stuck, history_problems=history_problems, statuses=Counter(d["status"] for d in docs.values()),
        seconds_to_terminal=seconds, faults=list(faults), upload_attempts=attempts, redrives=redrives,
        wall_s=wall_s, recovery=recovery, unrecovered=unrecovered, floor=floor, drain=drain,
    )


def _run_start_stage(rows: list[dict]) -> str:
    """The stage a run began at: from its orchestrator row, else the first stage."""
    for r in rows:
        if r["stage"] == "orchestrator":
            detail = r["detail"] or {}
            start = detail.get("redrive") or detail.get("queued") or detail.get("from_stage")
            if start in STAGE_ORDER:
                return start
    return STAGE_ORDER[0]
