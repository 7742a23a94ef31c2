"""Status-read benchmark: `GET /documents/<id>/status` (auth on) beside a trivial endpoint, one run.

    python benchmarks/http/status_read.py [--database-url URL] [--clients 16] [--duration 10] [--rounds 3]

Starts the API under gunicorn (2 workers x 4 threads, as `make run`) on a free port against a
database it migrates (default `invoice_scanner_bench_http` on the machine's PostgreSQL), makes a
company, a user, a token and a few documents, then alternates rounds of two loads, each from
`--clients` keep-alive client threads for `--duration` seconds:

- `status`: `GET /documents/<id>/status` with the bearer token (token lookup + document read:
  two transactions from the connection pool per request);
- `floor`: the same URL without a token, answered `401` before any database work: the cost of
  gunicorn, Flask and the client itself on this machine.

Prints requests/s, p50 and p99 for each and the ratio status/floor, which stays comparable across
runs on a loaded machine where the absolute figures move. Compare drivers or pool changes by the
ratio printed in one run of each.
"""
from __future__ import annotations

import argparse
import os
import signal
import statistics
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import requests

REPO = Path(__file__).resolve().parents[2]


def percentile(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, max(0, round(q * (len(xs) - 1))))] if xs else float("nan")


def prepare(database_url: str, documents: int) -> tuple[str, list[str]]:
    """A token and `documents` document ids in a freshly migrated database."""
    from invoice.scanner.api.auth import issue_token
    from invoice.scanner.api.repository import ApiRepository, NewDocument
    from invoice.scanner.processing.db.migrate import upgrade

    upgrade(database_url)
    repo = ApiRepository(database_url)
    tag = uuid.uuid4().hex[:8]
    company, _ = repo.get_or_create_company(f"Bench {tag}")
    # The password is never checked: the benchmark holds a token issued directly.
    user = repo.create_user(company.id, f"bench-{tag}@example.test", "unused")
    token = issue_token(repo, user.id, 3600).access_token
    ids = []
    for n in range(documents):
        doc = repo.create_document(NewDocument(
            id=uuid.uuid4(), company_id=company.id, uploaded_by=user.id, original_filename=f"bench-{n}.pdf",
            stored_path=f"/nonexistent/bench-{n}.pdf", sha256=uuid.uuid4().hex * 2, content_type="application/pdf",
            size_bytes=1000, pages=1))
        ids.append(str(doc.id))
    return token, ids


def load(base: str, paths: list[str], headers: dict[str, str], clients: int, duration_s: float,
         expect: int) -> dict[str, float]:
    latencies: list[list[float]] = [[] for _ in range(clients)]
    errors = [0] * clients
    end = time.monotonic() + duration_s

    def client(i: int) -> None:
        session = requests.Session()
        session.headers.update(headers)
        n = i
        while time.monotonic() < end:
            path = paths[n % len(paths)]
            n += 1
            t = time.perf_counter()
            try:
                r = session.get(base + path, timeout=10)
            except requests.RequestException:
                errors[i] += 1
                continue
            latencies[i].append(time.perf_counter() - t)
            if r.status_code != expect:
                errors[i] += 1

    started = time.monotonic()
    threads = [threading.Thread(target=client, args=(i,), daemon=True) for i in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(duration_s + 30)
    elapsed = time.monotonic() - started
    lat = [x for xs in latencies for x in xs]
    return {"requests": len(lat), "errors": sum(errors), "rps": len(lat) / elapsed,
            "p50_ms": percentile(lat, 0.5) * 1000, "p99_ms": percentile(lat, 0.99) * 1000}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database-url", default="postgresql://postgres@127.0.0.1:5432/invoice_scanner_bench_http")
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per round and load (default 10)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=4)
    args = parser.parse_args(argv)

    from invoice.scanner.processing.devstack import free_port, wait_for

    token, ids = prepare(args.database_url, documents=20)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {**os.environ, "DATABASE_URL": args.database_url}
    gunicorn = str(Path(sys.executable).parent / "gunicorn")
    api = subprocess.Popen([gunicorn, "-b", f"127.0.0.1:{port}", "-w", str(args.workers), "--threads",
                            str(args.threads), "--log-level", "warning", "invoice.scanner.api.wsgi:app"],
                           env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        wait_for(lambda: _answers(base), 120, "the API")
        paths = [f"/documents/{i}/status" for i in ids]
        auth = {"Authorization": f"Bearer {token}"}
        load(base, paths, auth, args.clients, 2.0, 200)  # warm the pools and the interpreters
        results: dict[str, list[dict[str, float]]] = {"status": [], "floor": []}
        for _ in range(args.rounds):
            results["status"].append(load(base, paths, auth, args.clients, args.duration, 200))
            results["floor"].append(load(base, paths, {}, args.clients, args.duration, 401))
    finally:
        os.killpg(api.pid, signal.SIGTERM)
        api.wait(30)

    import invoice.scanner.processing.db.connection as connection

    print(f"driver module: {connection.__name__} ({_driver()}); {args.clients} clients, {args.rounds} rounds of "
          f"{args.duration:.0f}s each, gunicorn -w {args.workers} --threads {args.threads}")
    summary = {}
    for name, rounds in results.items():
        rps = statistics.median(r["rps"] for r in rounds)
        p50 = statistics.median(r["p50_ms"] for r in rounds)
        p99 = statistics.median(r["p99_ms"] for r in rounds)
        errors = sum(r["errors"] for r in rounds)
        summary[name] = rps
        print(f"{name:<7} {rps:8.1f} req/s   p50 {p50:6.2f} ms   p99 {p99:6.2f} ms   errors {errors}   "
              f"(rounds: {', '.join(str(round(r['rps'])) for r in rounds)} req/s)")
    print(f"status/floor throughput ratio: {summary['status'] / summary['floor']:.3f}")
    return 0


def _driver() -> str:
    """The driver the connection module uses (imported by it, so in sys.modules)."""
    if "psycopg_pool" in sys.modules:
        return f"psycopg {sys.modules['psycopg'].__version__} + psycopg_pool"
    if "psycopg2" in sys.modules:
        return f"psycopg2 {sys.modules['psycopg2'].__version__}"
    return "unknown"


def _answers(base: str) -> bool:
    try:
        return requests.get(base + "/health", timeout=2).status_code in (200, 503)
    except requests.RequestException:
        return False


if __name__ == "__main__":
    sys.exit(main())
