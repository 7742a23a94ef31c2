"""Poll load: many clients polling `GET /documents/<id>/status` while uploads arrive steadily.

    python benchmarks/load/run.py --pollers 50 --duration 300 --upload-every 2

Starts its own stack (embedded PostgreSQL and Redis under a temporary folder, one worker per
queue, the API under gunicorn) unless `--base` names a running API (loopback only). Each
poller is a thread with its own keep-alive session that polls one document's status in a
bounded loop (until the duration ends), as the React client does; an uploader thread posts a
new born-digital invoice every `--upload-every` seconds, so pollers also see documents
change status. Prints requests, errors, p50/p95/p99 poll latency and throughput.
"""
from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path
from urllib.parse import urlparse

import requests

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tests"))


def percentile(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, max(0, round(q * (len(xs) - 1))))] if xs else float("nan")


class Load:
    def __init__(self, base: str, token: str, duration_s: float, pollers: int, upload_every_s: float, seed: int):
        self.base, self.duration_s, self.pollers, self.upload_every_s, self.seed = (
            base, duration_s, pollers, upload_every_s, seed)
        self.headers = {"Authorization": f"Bearer {token}"}
        self.latencies: list[list[float]] = [[] for _ in range(pollers)]
        self.errors: list[Counter] = [Counter() for _ in range(pollers)]
        self.uploads: Counter = Counter()
        self.doc_ids: list[str] = []
        self.end = 0.0

    def upload(self, n: int) -> str | None:
        from invoicegen import generate

        inv = generate(self.seed * 10_000 + n, kind="born_digital")
        r = requests.post(f"{self.base}/documents/upload", headers=self.headers,
                          files={"file": (inv.filename, inv.data)}, timeout=30)
        self.uploads[r.status_code] += 1
        if r.status_code == 201:
            return r.json()["document"]["id"]
        if r.status_code == 409:
            return r.json().get("document_id")
        return None

    def poller(self, i: int) -> None:
        session = requests.Session()
        session.headers.update(self.headers)
        lat, err = self.latencies[i], self.errors[i]
        n = 0
        while time.monotonic() < self.end:  # bounded by the run's end
            doc_id = self.doc_ids[(i + n) % len(self.doc_ids)]
            n += 1
            t = time.perf_counter()
            try:
                r = session.get(f"{self.base}/documents/{doc_id}/status", timeout=10)
            except requests.RequestException as exc:
                err[type(exc).__name__] += 1
                continue
            lat.append(time.perf_counter() - t)
            if r.status_code != 200:
                err[str(r.status_code)] += 1

    def uploader(self) -> None:
        n = 100
        while time.monotonic() < self.end:
            start = time.monotonic()
            doc_id = self.upload(n)
            n += 1
            if doc_id:
                self.doc_ids.append(doc_id)
            time.sleep(max(0.0, self.upload_every_s - (time.monotonic() - start)))

    def run(self) -> dict:
        for n in range(5):  # documents to poll from the start
            doc_id = self.upload(n)
            if doc_id:
                self.doc_ids.append(doc_id)
        if not self.doc_ids:
            raise RuntimeError(f"no upload was accepted: {dict(self.uploads)}")
        started = time.monotonic()
        self.end = started + self.duration_s
        threads = [threading.Thread(target=self.poller, args=(i,), daemon=True) for i in range(self.pollers)]
        threads.append(threading.Thread(target=self.uploader, daemon=True))
        for t in threads:
            t.start()
        for t in threads:
            t.join(self.duration_s + 60)
        elapsed = time.monotonic() - started
        lat = [x for xs in self.latencies for x in xs]
        errors = sum((c for c in self.errors), Counter())
        return {
            "pollers": self.pollers, "duration_s": round(elapsed, 1), "requests": len(lat) + sum(
                v for k, v in errors.items() if not k.isdigit()),
            "errors": dict(errors), "throughput_rps": round(len(lat) / elapsed, 1),
            "p50_ms": round(percentile(lat, 0.50) * 1000, 1), "p95_ms": round(percentile(lat, 0.95) * 1000, 1),
            "p99_ms": round(percentile(lat, 0.99) * 1000, 1),
            "mean_ms": round(statistics.fmean(lat) * 1000, 1) if lat else None,
            "uploads": dict(self.uploads), "documents_polled": len(self.doc_ids),
        }


def start_own_stack(root: Path):
    import subprocess

    from invoice.scanner.processing.db.migrate import upgrade
    from invoice.scanner.processing.devstack import ensure_services, free_port, stack_env, Stack

    services = ensure_services(root, force_embedded=True)
    upgrade(services.database_url)
    env = stack_env(services, root / "documents", {"LOGIN_RATE_LIMIT": "1000"})
    stack = Stack(env, root / "logs", api_port=free_port(), with_flower=False, with_beat=True, worker_concurrency=1)
    subprocess.run([sys.executable, "-m", "invoice.scanner.api.cli", "create-user", "--company", "Load Co", "--email",
                    "load@example.test", "--password", "load-password-1", "--if-missing"], env=env, check=True,
                   capture_output=True)
    stack.start()
    stack.wait_ready(240)
    return services, stack


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pollers", type=int, default=50)
    parser.add_argument("--duration", type=float, default=300, help="seconds (default 300)")
    parser.add_argument("--upload-every", type=float, default=2.0, help="seconds between uploads (default 2)")
    parser.add_argument("--seed", type=int, default=3)
    parser.add_argument("--base", default=None, help="a running API on loopback (default: start one)")
    parser.add_argument("--email", default="load@example.test")
    parser.add_argument("--password", default="load-password-1")
    args = parser.parse_args(argv)
    services = stack = root = None
    base = args.base
    if base and urlparse(base).hostname not in {"127.0.0.1", "localhost", "::1"}:
        parser.error("--base must be a loopback address")
    try:
        if not base:
            root = Path(tempfile.mkdtemp(prefix="load-", dir="/tmp"))
            services, stack = start_own_stack(root)
            base = f"http://127.0.0.1:{stack.api_port}"
        r = requests.post(f"{base}/auth/login", json={"email": args.email, "password": args.password}, timeout=10)
        r.raise_for_status()
        load = Load(base, r.json()["access_token"], args.duration, args.pollers, args.upload_every, args.seed)
        print(f"{args.pollers} pollers for {args.duration:.0f}s against {base}, an upload every "
              f"{args.upload_every}s ...", flush=True)
        result = load.run()
    finally:
        if stack is not None:
            stack.stop()
        if services is not None:
            services.stop()
        if root is not None:
            shutil.rmtree(root, ignore_errors=True)
    width = max(len(k) for k in result)
    for key, value in result.items():
        print(f"{key:<{width}}  {value}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
