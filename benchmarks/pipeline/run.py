"""End-to-end time per document through the real stack (API, one worker per queue).

    python benchmarks/pipeline/run.py --docs 10 [--embedded]

Starts the stack on PostgreSQL/Redis (the ones at DATABASE_URL/REDIS_URL, or embedded ones
with --embedded), uploads generated born-digital PDFs and scans one after another (each
measured alone, upload -> terminal as seen by polling the status endpoint every 100 ms),
then a batch of all at once (throughput), and prints the figures. Time spent in each
stage comes from the status history rows.
"""
from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlparse

import requests

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tests"))

from invoicegen import generate  # noqa: E402

from invoice.scanner.processing.db.migrate import upgrade  # noqa: E402
from invoice.scanner.processing.db.repository import Repository  # noqa: E402
from invoice.scanner.processing.devstack import Stack, ensure_services, free_port, stack_env  # noqa: E402
from invoice.scanner.processing.status import STAGES, TERMINAL_STATUSES  # noqa: E402

TERMINAL = {s.value for s in TERMINAL_STATUSES}


def pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(round(q * (len(values) - 1))))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--docs", type=int, default=10, help="documents per kind")
    parser.add_argument("--embedded", action="store_true", help="start embedded PostgreSQL and Redis")
    args = parser.parse_args()

    root = Path(tempfile.mkdtemp(prefix="pipeline-bench-"))
    services = ensure_services(root, force_embedded=args.embedded)
    db_url = urlparse(services.database_url)._replace(path=f"/invoice_scanner_bench_{int(time.time())}").geturl()
    upgrade(db_url)
    services.database_url = db_url
    env = stack_env(services, root / "documents")
    stack = Stack(env, root / "logs", api_port=free_port(), with_flower=False, with_beat=False)
    stack.start()
    try:
        stack.wait_ready(240)
        subprocess.run([sys.executable, "-m", "invoice.scanner.api.cli", "create-user", "--company", "Bench",
                        "--email", "bench@example.com", "--password", "bench-password", "--if-missing"],
                       env=env, check=True, capture_output=True)
        base = f"http://127.0.0.1:{stack.api_port}"
        s = requests.Session()
        token = s.post(f"{base}/auth/login", json={"email": "bench@example.com", "password": "bench-password"}).json()
        s.headers["Authorization"] = f"Bearer {token['access_token']}"
        repo = Repository(db_url)

        def run_one(inv) -> tuple[float, str, str]:
            t0 = time.perf_counter()
            doc_id = s.post(f"{base}/documents/upload", files={"file": (inv.filename, inv.data)}).json()["document"]["id"]
            while True:
                st = s.get(f"{base}/documents/{doc_id}/status").json()["status"]
                if st in TERMINAL:
                    return time.perf_counter() - t0, st, doc_id
                time.sleep(0.1)

        results: dict[str, list[float]] = {}
        stage_times: dict[str, list[float]] = {sp.name: [] for sp in STAGES}
        # one warm-up document so model loading is not measured
        run_one(generate(seed=999_000, kind="born_digital", pages=1))
        run_one(generate(seed=999_001, kind="scanned", pages=1))
        for kind in ("born_digital", "scanned"):
            for i in range(args.docs):
                seconds, status, doc_id = run_one(generate(seed=500_000 + i, kind=kind, pages=1))
                results.setdefault(kind, []).append(seconds)
                for h in repo.history(doc_id):
                    if h["stage"] in stage_times and h["finished_at"] and (h["detail"] or {}).get("outcome") == "ok":
                        stage_times[h["stage"]].append((h["finished_at"] - h["started_at"]).total_seconds())

        batch = [generate(seed=600_000 + i, kind="born_digital", pages=1) for i in range(args.docs)]
        t0 = time.perf_counter()
        ids = [s.post(f"{base}/documents/upload", files={"file": (b.filename, b.data)}).json()["document"]["id"]
               for b in batch]
        pending = set(ids)
        while pending:
            for doc_id in list(pending):
                if s.get(f"{base}/documents/{doc_id}/status").json()["status"] in TERMINAL:
                    pending.discard(doc_id)
            time.sleep(0.2)
        batch_s = time.perf_counter() - t0

        print(f"\nEnd-to-end time per document, one at a time (upload -> terminal), {args.docs} per kind")
        print(f"{'kind':<14}{'median s':>10}{'p95 s':>10}{'min s':>10}{'max s':>10}")
        for kind, values in results.items():
            print(f"{kind:<14}{statistics.median(values):>10.2f}{pct(values, 0.95):>10.2f}"
                  f"{min(values):>10.2f}{max(values):>10.2f}")
        print("\nTime inside each stage (history rows, both kinds)")
        print(f"{'stage':<14}{'median s':>10}{'p95 s':>10}")
        for name, values in stage_times.items():
            if values:
                print(f"{name:<14}{statistics.median(values):>10.3f}{pct(values, 0.95):>10.3f}")
        print(f"\nBatch of {args.docs} born-digital PDFs uploaded at once: {batch_s:.1f} s "
              f"({args.docs / batch_s * 60:.1f} documents/min)")
    finally:
        stack.stop()
        services.stop()


if __name__ == "__main__":
    main()
