"""Start a worker for one queue with the profile from the routing table:

    python -m invoice.scanner.processing.worker --queue ocr [--concurrency N] [celery args...]

A worker started for one queue consumes only that queue (`-Q <queue>`); a stage's worker
consumes its recovery lane first (`-Q ocr.recovery,ocr`: celery_app.RECOVERY_QUEUES). Its pool
processes are replaced by the queue's recycling policy (celery_app.RECYCLING, or
WORKER_MAX_TASKS_PER_CHILD / WORKER_MAX_MEMORY_PER_CHILD_KB over it).
"""
from __future__ import annotations

import argparse
import socket
import sys

from invoice.scanner.processing.celery_app import (INGEST_QUEUE, INGEST_TASK_MODULE, MAIL_QUEUE, QUEUES,
                                                   WORKER_PROFILES, app, consumed_queues, recycling)
from invoice.scanner.processing.config import get_settings


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--queue", required=True, choices=QUEUES)
    parser.add_argument("--concurrency", type=int, default=None)
    parser.add_argument("--loglevel", default="INFO")
    parser.add_argument("--beat", action="store_true", help="also run the periodic sweeper schedule (one per deployment)")
    args, extra = parser.parse_known_args(argv)
    concurrency = args.concurrency or WORKER_PROFILES[args.queue]["concurrency"]
    settings = get_settings()
    recycle = recycling(args.queue, settings)
    celery_args = [
        "worker", "-Q", ",".join(consumed_queues(args.queue)), "-n", f"{args.queue}@{socket.gethostname()}",
        "--concurrency", str(concurrency), "--loglevel", args.loglevel, "--prefetch-multiplier", "1",
        # Gossip (every worker processing every other worker's events) and mingle (a start-up
        # exchange of revoked task ids, which nothing here uses) cost broker traffic and CPU on
        # every worker, idle or not; heartbeats stay, so Flower sees who is up.
        "--without-gossip", "--without-mingle",
        *(["-E"] if settings.task_events else []),
        # When a pool process is replaced: the queue's own measure (celery_app.RECYCLING).
        *(["--max-tasks-per-child", str(recycle.max_tasks)] if recycle.max_tasks else []),
        *(["--max-memory-per-child", str(recycle.max_memory_kb)] if recycle.max_memory_kb else []),
    ]
    if args.beat:
        celery_args.append("--beat")
    if args.queue in (INGEST_QUEUE, MAIL_QUEUE):  # their tasks run the API's upload path (the API package)
        app.conf.include = [*app.conf.include, INGEST_TASK_MODULE]
    return run_celery_worker([*celery_args, *extra])


def run_celery_worker(argv: list[str]) -> int:
    """`celery worker ...` on our app (argv as `app.worker_main` takes it: "worker", then its
    options), through Celery's own `worker` command (celery.bin.worker: the same options, parsing
    and start-up) but not the `celery` command group that `app.worker_main` goes through.
    Importing that group loads every sub-command and every installed plugin, `celery amqp`'s REPL
    (click_repl, prompt_toolkit) and Flower's command (Flower, Tornado): ~40 % of a worker's
    start-up CPU (py-spy, 2026-12-02), paid on every worker start and restart. For `worker` the
    group makes the context object made here and adds the app's user and preload options; an app
    that declares some goes through `worker_main`. Returns the worker's exit code."""
    if argv[:1] != ["worker"]:
        raise ValueError(f"not a worker command line: {argv[:1]}")
    if app.user_options.get("worker") or app.user_options.get("preload"):
        app.worker_main(argv)
        return 0
    from celery.bin.base import CLIContext
    from celery.bin.worker import worker as worker_command

    code = worker_command.main(args=argv[1:], prog_name="celery worker", standalone_mode=False,
                               obj=CLIContext(app=app, no_color=None, workdir=None, quiet=False))
    return code if isinstance(code, int) else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
