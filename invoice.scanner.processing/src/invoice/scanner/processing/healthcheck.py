"""Liveness check for one stage worker: is *this container's* worker answering the broker?

    python -m invoice.scanner.processing.healthcheck [--queue ocr] [--timeout 10]

Exit 0 when the worker node `<queue>@<hostname>` answers a Celery `ping` control message,
1 when it does not (or the broker cannot be reached). docker-compose runs it as each worker
service's `healthcheck`; the worker's node name comes from `worker.py` (`-n <queue>@<host>`).

Why a ping of the own node and not "is the process running": a worker that lost its broker
connection, or whose main loop is wedged, keeps its process alive but stops taking tasks
(paperless-ngx #6260). The ping travels through the broker and the worker's consumer loop,
so it fails exactly in those cases. The pool's child processes do not answer control
messages, so a long OCR task does not make a busy worker look dead.

`--queue` may be left out: the queue is then read from the container's main command line
(`/proc/1/cmdline`, which holds `--queue <q>` or `-Q <q>`), so an image-level HEALTHCHECK
works for every worker service without knowing which queue it serves.

Importing the Celery app here imports no stage code (see `celery_app`), so the check is light.
"""
from __future__ import annotations

import argparse
import logging
import socket
import sys
from pathlib import Path
from typing import Callable, Sequence

from invoice.scanner.processing.celery_app import QUEUES

logger = logging.getLogger(__name__)

PROC_CMDLINE = Path("/proc/1/cmdline")

# (destination node names, timeout seconds) -> replies, like `app.control.ping`.
PingFn = Callable[[list[str], float], list[dict]]


def queue_from_argv(argv: Sequence[str]) -> str | None:
    """The queue a worker command line consumes: `--queue q`, `--queue=q`, `-Q q` or `-Qq`.

    Only a single known queue counts: a comma list (`-Q a,b`) has no single node name to ping.
    """
    for i, arg in enumerate(argv):
        value: str | None = None
        if arg in ("--queue", "-Q", "--queues") and i + 1 < len(argv):
            value = argv[i + 1]
        elif arg.startswith(("--queue=", "--queues=")):
            value = arg.split("=", 1)[1]
        elif arg.startswith("-Q") and len(arg) > 2:
            value = arg[2:]
        if value is not None:
            return value if value in QUEUES else None
    return None


def read_main_argv(path: Path = PROC_CMDLINE) -> list[str]:
    """The argv of the container's PID 1 (NUL-separated in procfs)."""
    try:
        raw = path.read_bytes()
    except OSError:
        return []
    return [part.decode("utf-8", "replace") for part in raw.split(b"\0") if part]


def node_name(queue: str, hostname: str | None = None) -> str:
    """The worker node name `worker.py` gives the worker for `queue` on this host."""
    return f"{queue}@{hostname or socket.gethostname()}"


def celery_ping(destination: list[str], timeout: float) -> list[dict]:
    from invoice.scanner.processing.celery_app import app

    # The app retries broker connections forever (right for a worker, wrong for a check that
    # must answer within the healthcheck's timeout): connect once, briefly, or fail.
    with app.connection_for_write() as connection:
        connection.ensure_connection(max_retries=1, timeout=timeout)
        return app.control.ping(destination=destination, timeout=timeout, connection=connection)


def check(node: str, timeout: float, ping: PingFn = celery_ping) -> bool:
    """True when `node` answered the ping with `pong`."""
    try:
        replies = ping([node], timeout)
    except Exception as exc:  # broker down or unreachable: the worker cannot be live for us
        logger.error("ping of %s failed: %s", node, exc)
        return False
    for reply in replies or []:
        answer = reply.get(node)
        if isinstance(answer, dict) and answer.get("ok") == "pong":
            return True
    logger.error("worker %s did not answer within %.1f s (replies: %r)", node, timeout, replies)
    return False


def main(argv: list[str] | None = None, ping: PingFn = celery_ping, main_argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--queue", choices=QUEUES, help="default: read from the container's main command line")
    parser.add_argument("--hostname", default=None, help="default: this host's name (the container's)")
    parser.add_argument("--timeout", type=float, default=10.0, help="seconds to wait for the pong")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")

    queue = args.queue or queue_from_argv(read_main_argv() if main_argv is None else main_argv)
    if queue is None:
        logger.error("no --queue given and none found on the main command line")
        return 2
    node = node_name(queue, args.hostname)
    if check(node, args.timeout, ping):
        logger.info("%s is live", node)
        return 0
    return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
