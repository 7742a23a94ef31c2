"""Throughput of the pipeline beside its orchestration floor, in one run.

    python benchmarks/throughput/run.py [--docs 100] [--in-flight 25] [--lone 5] [--rounds 3]
                                        [--scanned-docs 20] [--kinds born_digital,scanned]

1. **Floor** (benchmarks/throughput/floor.py): a Celery chain of no-op tasks through the same
   six queues (orchestrator + the five stages), two UPDATEs and two INSERTs per stage in
   PostgreSQL, one solo worker per queue. What Celery, Redis and the bookkeeping alone cost.
2. **The real stack**: the API under gunicorn and one worker per queue with the routing
   table's concurrency, as `make run` starts them (without Flower and beat), fed generated
   invoices over HTTP.

For each: `--lone` documents one at a time (latency and the orchestration overhead: end to end
minus the stages' own time), then `--docs` documents with at most `--in-flight` in the
pipeline at once (documents/min, median and p95 latency). Latency is measured by PostgreSQL
(`created_at` when the upload is recorded -> `completed_at` at the terminal status), stage time
from the history rows. Completion is watched with one SQL query every 50 ms, never by polling
the API, so the watcher does not load the API it measures.

Both stay up for the whole run and are measured `--rounds` times, alternated (floor, then each
kind; fresh documents every round): a floor batch lasts 1-3 s, so its documents/min swings with
the load from one batch to the next, and a ratio taken against the floor measured next to it,
then the median over the rounds, is steadier than one batch's. Prints a table per kind (all
rounds' samples pooled, CPU per document over all batches), the figures of each round, their
medians and the median ratio; on a machine shared with other work, the ratios are what to
compare, not the absolute figures. `--rounds 1` measures as before.
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable
from urllib.parse import urlparse

import requests

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
sys.path.insert(0, str(REPO / "tests"))
sys.path.insert(0, str(HERE))
sys.path.append(str(HERE.parent))  # benchmarks/profiling.py (appended: benchmarks/http must not shadow http)

from invoicegen import generate  # noqa: E402
from profiling import CpuMeter  # noqa: E402

from invoice.scanner.processing.celery_app import ORCHESTRATOR_QUEUE, STAGE_QUEUES  # noqa: E402
from invoice.scanner.processing.db.connection import transaction  # noqa: E402
from invoice.scanner.processing.db.migrate import upgrade  # noqa: E402
from invoice.scanner.processing.devstack import Proc, Stack, ensure_services, free_port, stack_env, wait_for  # noqa: E402
from invoice.scanner.processing.status import STAGES, TERMINAL_STATUSES  # noqa: E402

TERMINAL = [s.value for s in TERMINAL_STATUSES]
POLL_S = 0.05
ROUND_SEED_STEP = 1_000_000  # invoice seeds of round r: base + r * ROUND_SEED_STEP


def pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(round(q * (len(values) - 1))))] if values else float("nan")


@dataclass
class Result:
    name: str
    latencies: list[float] = field(default_factory=list)  # seconds, lone documents
    overheads: list[float] = field(default_factory=list)  # latency minus the stages' own time
    stage_s: dict[str, list[float]] = field(default_factory=dict)
    batch_latencies: list[float] = field(default_factory=list)
    batch_wall_s: float = 0.0
    batch_docs: int = 0
    batch_cpu_s: dict[str, float] = field(default_factory=dict)  # CPU seconds per part during the batch

    @property
    def per_min(self) -> float:
        return self.batch_docs / self.batch_wall_s * 60 if self.batch_wall_s else float("nan")


class Target:
    """How to submit one document and where to read its timings."""

    documents_table = "documents"
    done_sql = ""

    def submit(self, item) -> str:
        raise NotImplementedError

    def timings(self, ids: list[str]) -> dict[str, tuple[float, dict[str, float]]]:
        raise NotImplementedError


def drive(database_url: str, target: Target, items: list, in_flight: int) -> tuple[float, list[str]]:
    """Keep `in_flight` documents in the pipeline until all `items` are terminal."""
    queue = list(items)
    pending: set[str] = set()
    done: list[str] = []
    t0 = time.perf_counter()
    while queue or pending:
        while queue and len(pending) < in_flight:
            pending.add(target.submit(queue.pop(0)))
        time.sleep(POLL_S)
        with transaction(database_url) as cur:
            cur.execute(target.done_sql, (list(pending),))
            finished = {str(r["id"]) for r in cur.fetchall()}
        pending -= finished
        done.extend(finished)
    return time.perf_counter() - t0, done


def measure(name: str, database_url: str, target: Target, lone: list, batch: list, in_flight: int,
            cpu: "CpuMeter | None" = None) -> Result:
    result = Result(name)
    for item in lone:
        _, ids = drive(database_url, target, [item], 1)
        latency, stages = target.timings(ids)[ids[0]]
        result.latencies.append(latency)
        result.overheads.append(latency - sum(stages.values()))
        for stage, seconds in stages.items():
            result.stage_s.setdefault(stage, []).append(seconds)
    if batch:
        before = cpu.snapshot() if cpu else {}
        wall, ids = drive(database_url, target, batch, in_flight)
        if cpu:
            result.batch_cpu_s = CpuMeter.delta(before, cpu.snapshot())
        result.batch_wall_s, result.batch_docs = wall, len(ids)
        result.batch_latencies = [lat for lat, _ in target.timings(ids).values()]
    return result


def combine(name: str, rounds: list[Result]) -> Result:
    """The rounds of one target pooled: lone and batch samples together, batch documents, wall
    time and CPU summed (so `per_min` is the pooled rate)."""
    out = Result(name)
    for r in rounds:
        out.latencies += r.latencies
        out.overheads += r.overheads
        for stage, values in r.stage_s.items():
            out.stage_s.setdefault(stage, []).extend(values)
        out.batch_latencies += r.batch_latencies
        out.batch_wall_s += r.batch_wall_s
        out.batch_docs += r.batch_docs
        for part, seconds in r.batch_cpu_s.items():
            out.batch_cpu_s[part] = out.batch_cpu_s.get(part, 0.0) + seconds
    return out


@dataclass
class RoundsSummary:
    floor_per_min: list[float]
    project_per_min: list[float]
    ratios: list[float]  # project/floor documents/min, round by round
    lone_ratios: list[float]  # project's lone overhead / floor's lone latency, round by round

    @property
    def median_ratio(self) -> float:
        return statistics.median(self.ratios)

    @property
    def median_lone_ratio(self) -> float:
        return statistics.median(self.lone_ratios)


def summarize_rounds(floors: list[Result], projects: list[Result]) -> RoundsSummary:
    """Round i's project batch against round i's floor batch (measured next to each other)."""
    if len(floors) != len(projects) or not floors:
        raise ValueError("one floor result per project result, at least one round")
    return RoundsSummary(
        floor_per_min=[f.per_min for f in floors], project_per_min=[p.per_min for p in projects],
        ratios=[p.per_min / f.per_min for f, p in zip(floors, projects)],
        lone_ratios=[statistics.median(p.overheads) / statistics.median(f.latencies) for f, p in zip(floors, projects)])


# -- the floor -----------------------------------------------------------------------------

class Floor(Target):
    done_sql = "SELECT id FROM floor_documents WHERE id = ANY(%s::uuid[]) AND status = 'done'"

    def __init__(self, database_url: str):
        import floor

        self.database_url = database_url
        self.app = floor.app

    def submit(self, item) -> str:
        doc_id = str(uuid.uuid4())
        with transaction(self.database_url) as cur:
            cur.execute("INSERT INTO floor_documents (id, status) VALUES (%s, 'queued')", (doc_id,))
        self.app.send_task("floor.orchestrate", args=(doc_id,))
        return doc_id

    def timings(self, ids):
        with transaction(self.database_url) as cur:
            cur.execute("""SELECT d.id, extract(epoch FROM d.completed_at - d.created_at) AS latency, h.stage,
                                  extract(epoch FROM max(h.finished_at) - min(h.started_at)) AS seconds
                           FROM floor_documents d JOIN floor_history h ON h.document_id = d.id
                           WHERE d.id = ANY(%s::uuid[]) GROUP BY d.id, h.stage""", (ids,))
            rows = cur.fetchall()
        out: dict[str, tuple[float, dict[str, float]]] = {}
        for r in rows:
            latency, stages = out.get(str(r["id"]), (float(r["latency"]), {}))
            stages[r["stage"]] = float(r["seconds"])
            out[str(r["id"])] = (latency, stages)
        return out


def start_floor(env: dict, log_dir: Path) -> list[Proc]:
    procs = [Proc(f"floor-{q}", [sys.executable, "-m", "celery", "-A", "floor", "worker", "-Q", q, "-P", "solo",
                                 "-c", "1", "--prefetch-multiplier", "1", "-n", f"floor-{q}@%h", "--loglevel",
                                 "WARNING"], log_dir / f"floor-{q}.log", {**env, "PYTHONPATH": str(HERE)})
             for q in (ORCHESTRATOR_QUEUE, *STAGE_QUEUES)]
    for p in procs:
        p.start()
    return procs


# -- the real stack ------------------------------------------------------------------------

class RealStack(Target):
    done_sql = "SELECT id FROM documents WHERE id = ANY(%s::uuid[]) AND status = ANY(%s)"

    def __init__(self, database_url: str, base: str, session: requests.Session):
        self.database_url, self.base, self.session = database_url, base, session
        self.done_sql = self.done_sql.replace("ANY(%s)", "ANY(ARRAY[" + ",".join(f"'{t}'" for t in TERMINAL) + "])")

    def submit(self, inv) -> str:
        r = self.session.post(f"{self.base}/documents/upload", files={"file": (inv.filename, inv.data)}, timeout=60)
        r.raise_for_status()
        return r.json()["document"]["id"]

    def timings(self, ids):
        running = {s.name: s.running.value for s in STAGES}
        with transaction(self.database_url) as cur:
            cur.execute("""SELECT id, extract(epoch FROM completed_at - created_at) AS latency
                           FROM documents WHERE id = ANY(%s::uuid[])""", (ids,))
            latency = {str(r["id"]): float(r["latency"]) for r in cur.fetchall()}
            cur.execute("SELECT to_regclass('stage_attempts') IS NOT NULL AS attempts")
            if cur.fetchone()["attempts"]:  # attempts in their own table (migration 0002)
                cur.execute("""SELECT document_id, stage, extract(epoch FROM finished_at - started_at) AS seconds
                               FROM stage_attempts WHERE document_id = ANY(%s::uuid[]) AND outcome = 'ok'""", (ids,))
                rows = [dict(r, to_status=running.get(r["stage"])) for r in cur.fetchall()]
            else:  # attempts as begin rows of the history
                cur.execute("""SELECT document_id, stage, to_status,
                                      extract(epoch FROM finished_at - started_at) AS seconds
                               FROM document_status_history WHERE document_id = ANY(%s::uuid[])
                                 AND stage IS NOT NULL AND finished_at IS NOT NULL""", (ids,))
                rows = cur.fetchall()
        stages: dict[str, dict[str, float]] = {i: {} for i in ids}
        for r in rows:
            if running.get(r["stage"]) == r["to_status"]:
                stages[str(r["document_id"])][r["stage"]] = float(r["seconds"])
        return {i: (latency[i], stages[i]) for i in ids}


def print_results(kind: str, floor: Result | None, real: Result, in_flight: int,
                  rounds: RoundsSummary | None = None) -> None:
    def row(label: str, f: float | None, r: float, unit: str, ratio: Callable[[float, float], float] | None):
        fs = f"{f:>12.3f}" if f is not None else f"{'-':>12}"
        rs = ratio(f, r) if (ratio and f) else None
        print(f"  {label:<52}{fs}{r:>12.3f}  {unit:<8}" + (f"{rs:>8.1%}" if rs is not None else ""))

    print(f"\n== {kind}: project vs floor ==")
    print(f"  {'':<52}{'floor':>12}{'project':>12}  {'unit':<8}{'ratio':>8}")
    f = floor
    row(f"batch of {real.batch_docs}, {in_flight} in flight: documents/min", f.per_min if f else None, real.per_min,
        "docs/min", lambda a, b: b / a)
    row("  median latency", statistics.median(f.batch_latencies) if f else None,
        statistics.median(real.batch_latencies), "s", None)
    row("  p95 latency", pct(f.batch_latencies, .95) if f else None, pct(real.batch_latencies, .95), "s", None)
    row(f"lone document ({len(real.latencies)}x): median latency", statistics.median(f.latencies) if f else None,
        statistics.median(real.latencies), "s", None)
    row("  median orchestration overhead (latency - stages)", statistics.median(f.overheads) if f else None,
        statistics.median(real.overheads), "s", lambda a, b: b / a)
    for stage in STAGE_QUEUES:
        row(f"  median time in {stage}", statistics.median(f.stage_s[stage]) if f else None,
            statistics.median(real.stage_s.get(stage, [float("nan")])), "s", None)
    if real.batch_cpu_s:
        print(f"  CPU ms per document in the batch, by part{'':<14}{'floor':>12}{'project':>12}")
        fcpu = f.batch_cpu_s if f else {}
        for part in sorted(set(real.batch_cpu_s) | set(fcpu), key=lambda k: -real.batch_cpu_s.get(k, 0.0)):
            fv = fcpu.get(part)
            rv = real.batch_cpu_s.get(part)
            print(f"    {part:<58}{(f'{fv / f.batch_docs * 1000:12.1f}' if fv is not None else f'{chr(45):>12}')}"
                  f"{(f'{rv / real.batch_docs * 1000:12.1f}' if rv is not None else f'{chr(45):>12}')}")
        ftotal = sum(fcpu.values()) / f.batch_docs * 1000 if fcpu else None
        rtotal = sum(real.batch_cpu_s.values()) / real.batch_docs * 1000
        print(f"    {'total':<58}{(f'{ftotal:12.1f}' if ftotal is not None else f'{chr(45):>12}')}{rtotal:12.1f}")
    if rounds and len(rounds.ratios) > 1:
        print(f"  rounds (floor batch, then project batch, alternated): {len(rounds.ratios)}")
        for i, (fr, pr, r, lr) in enumerate(zip(rounds.floor_per_min, rounds.project_per_min, rounds.ratios,
                                                rounds.lone_ratios), 1):
            print(f"    round {i}: floor {fr:8.0f}  project {pr:8.0f} docs/min  throughput {r:6.1%}  lone {lr:5.2f} x")
        print(f"    median:  floor {statistics.median(rounds.floor_per_min):8.0f}  project "
              f"{statistics.median(rounds.project_per_min):8.0f} docs/min  throughput {rounds.median_ratio:6.1%}  "
              f"lone {rounds.median_lone_ratio:5.2f} x")
        # the lone line pools all rounds' lone documents (medians over every round's samples)
        print(f"  ratios: throughput {rounds.median_ratio:.1%} of the floor (median of {len(rounds.ratios)} rounds; "
              f"target >= 25 %); lone overhead "
              f"{statistics.median(real.overheads) / statistics.median(f.latencies):.2f} x the floor's latency "
              f"(all rounds' lone documents; target <= 2)")
    elif f:
        print(f"  ratios: throughput {real.per_min / f.per_min:.1%} of the floor (target >= 25 %); lone overhead "
              f"{statistics.median(real.overheads) / statistics.median(f.latencies):.2f} x the floor's latency "
              f"(target <= 2)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--docs", type=int, default=100, help="born-digital documents in the batch")
    parser.add_argument("--scanned-docs", type=int, default=20, help="scanned documents in the batch")
    parser.add_argument("--in-flight", type=int, default=25)
    parser.add_argument("--lone", type=int, default=5, help="documents measured one at a time, per kind")
    parser.add_argument("--kinds", default="born_digital,scanned")
    parser.add_argument("--embedded", action="store_true", help="start embedded PostgreSQL and Redis")
    parser.add_argument("--rounds", type=int, default=3,
                        help="floor and project batches alternated this many times (fresh documents each round); "
                             "per-round figures, their medians and the median ratio are printed")
    parser.add_argument("--keep-logs", action="store_true")
    parser.add_argument("--profile", type=Path, metavar="DIR",
                        help="py-spy every process of the real stack while it is measured (raw stacks in DIR, "
                             "summary printed; benchmarks/profiling.py)")
    args = parser.parse_args()
    if args.rounds < 1:
        parser.error("--rounds must be >= 1")
    kinds = [k for k in args.kinds.split(",") if k]

    root = Path(tempfile.mkdtemp(prefix="throughput-bench-"))
    services = ensure_services(root, force_embedded=args.embedded)
    db_url = urlparse(services.database_url)._replace(path=f"/invoice_scanner_bench_tp_{os.getpid()}").geturl()
    admin = urlparse(services.database_url)._replace(path="/postgres").geturl()
    import psycopg

    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{urlparse(db_url).path[1:]}"')
    upgrade(db_url)
    with transaction(db_url) as cur:
        import floor

        cur.execute(floor.SCHEMA)
    services.database_url = db_url
    redis_base = urlparse(services.redis_url)
    floor_broker = redis_base._replace(path="/14").geturl()
    stack_broker = redis_base._replace(path="/13").geturl()

    print("generating invoices ...", flush=True)
    # round r's documents: seeds shifted by r * ROUND_SEED_STEP (the API rejects a duplicate upload);
    # round 0 keeps the seeds of a one-round run
    docs = {k: [[generate(seed=700_000 + r * ROUND_SEED_STEP + i + (0 if k == "born_digital" else 50_000), kind=k,
                          pages=1)
                 for i in range((args.docs if k == "born_digital" else args.scanned_docs) + args.lone)]
                for r in range(args.rounds)] for k in kinds}

    per_round: dict[str, list[Result]] = {k: [] for k in kinds}
    floor_rounds: list[Result] = []
    profiled: list = []
    try:
        # 1. the floor's workers (kept up beside the stack, idle while the project is measured)
        env = {**os.environ, "FLOOR_BROKER_URL": floor_broker, "FLOOR_DATABASE_URL": db_url}
        os.environ.update({"FLOOR_BROKER_URL": floor_broker, "FLOOR_DATABASE_URL": db_url})
        procs = start_floor(env, root / "logs")
        try:
            client = floor.app
            client.conf.broker_url = floor_broker
            expected = {f"floor-{q}@{os.uname().nodename}" for q in (ORCHESTRATOR_QUEUE, *STAGE_QUEUES)}
            wait_for(lambda: expected <= {n for r in (client.control.ping(timeout=1.0) or []) for n in r}, 120,
                     "the floor workers", interval=1.0)
            floor_target = Floor(db_url)
            measure("warm-up", db_url, floor_target, [None] * 3, [], 1)
            floor_cpu = CpuMeter({p.name: p.process.pid for p in procs}, db_url, floor_broker)

            # 2. the real stack
            env = stack_env(services, root / "documents", {"REDIS_URL": stack_broker})
            stack = Stack(env, root / "logs", api_port=free_port(), with_flower=False, with_beat=False)
            stack.start()
            try:
                stack.wait_ready(300)
                subprocess.run([sys.executable, "-m", "invoice.scanner.api.cli", "create-user", "--company", "Bench",
                                "--email", "bench@example.com", "--password", "bench-password", "--if-missing"],
                               env=env, check=True, capture_output=True)
                base = f"http://127.0.0.1:{stack.api_port}"
                s = requests.Session()
                login = s.post(f"{base}/auth/login", json={"email": "bench@example.com", "password": "bench-password"})
                s.headers["Authorization"] = f"Bearer {login.json()['access_token']}"
                target = RealStack(db_url, base, s)
                # warm-up: models loaded, connections open
                measure("warm-up", db_url, target, [generate(seed=990_000 + i, kind=k, pages=1)
                                                    for i, k in enumerate(kinds)], [], 1)
                stack_cpu = CpuMeter({name: p.process.pid for name, p in stack.procs.items()
                                      if p.process is not None}, db_url, stack_broker)
                profiler = None
                if args.profile:
                    from profiling import Profiler

                    profiler = Profiler(args.profile, {name: p.process.pid for name, p in stack.procs.items()
                                                       if p.process is not None})
                try:
                    for r in range(args.rounds):
                        tag = f"round {r + 1}/{args.rounds}: " if args.rounds > 1 else ""
                        fr = measure("floor", db_url, floor_target, [None] * args.lone, [None] * args.docs,
                                     args.in_flight, floor_cpu)
                        floor_rounds.append(fr)
                        print(f"{tag}floor: {fr.per_min:.0f} documents/min, lone "
                              f"{statistics.median(fr.latencies) * 1000:.0f} ms", flush=True)
                        for kind in kinds:
                            items = docs[kind][r]
                            res = measure(kind, db_url, target, items[: args.lone], items[args.lone:],
                                          args.in_flight, stack_cpu)
                            per_round[kind].append(res)
                            print(f"{tag}{kind}: {res.per_min:.0f} documents/min", flush=True)
                finally:
                    profiled = profiler.stop() if profiler else []
            finally:
                stack.stop()
        finally:
            for p in procs:
                p.stop()
    finally:
        from invoice.scanner.processing.db.connection import close_pools

        close_pools()
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{urlparse(db_url).path[1:]}" WITH (FORCE)')
        services.stop()
    print(f"\nmachine: {os.cpu_count()} CPUs; PostgreSQL latency clock; floor and project in the same run")
    floor_result = combine("floor", floor_rounds) if floor_rounds else None
    for kind, rounds in per_round.items():
        if rounds:
            print_results(kind, floor_result, combine(kind, rounds), args.in_flight,
                          summarize_rounds(floor_rounds[: len(rounds)], rounds))
    if args.profile:
        from profiling import summarize

        print(summarize(profiled, top=25))
    if not args.keep_logs:
        import shutil

        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
