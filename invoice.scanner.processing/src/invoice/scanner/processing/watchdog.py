"""The guard that stops the local stack's processes when the supervisor dies without cleaning up.

`devstack` starts this as its first child, in a session of its own (a Ctrl-C or a hang-up of
the terminal does not reach it), and tells it on a pipe which process groups it started:

    group <pgid> <stop signal>     a process group to stop (a worker, the API, Redis, PostgreSQL)
    forget <pgid>                  that group was stopped by the supervisor itself
    done                           the supervisor cleaned up; exit quietly

When the pipe closes without `done` (the supervisor was SIGKILLed, or crashed), it sends each
remembered group its stop signal (SIGTERM for Celery and gunicorn, SIGINT for PostgreSQL's
fast shutdown), waits up to the grace period, and SIGKILLs what is left. The children also
carry PR_SET_PDEATHSIG, so most of them are already going; this is for the grandchildren
(pool processes, gunicorn workers, PostgreSQL back-ends) and for the process groups started
from a thread, where PDEATHSIG (tied to the creating thread) cannot be used.

    python -m invoice.scanner.processing.watchdog --grace 15
"""
from __future__ import annotations

import argparse
import os
import signal
import sys
import time


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _signal_group(pgid: int, sig: int) -> None:
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def reap(groups: dict[int, int], grace_s: float, say=lambda line: None) -> None:
    """Stop every group with its own signal, then SIGKILL whatever outlived the grace period."""
    for pgid, sig in groups.items():
        if _group_alive(pgid):
            say(f"watchdog: stopping process group {pgid} with {signal.Signals(sig).name}")
            _signal_group(pgid, sig)
    deadline = time.monotonic() + grace_s
    while time.monotonic() < deadline and any(_group_alive(g) for g in groups):
        time.sleep(0.1)
    for pgid in groups:
        if _group_alive(pgid):
            say(f"watchdog: process group {pgid} outlived {grace_s:.0f}s; SIGKILL")
            _signal_group(pgid, signal.SIGKILL)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Stop the local stack's process groups when the supervisor dies.")
    parser.add_argument("--grace", type=float, default=15.0, help="seconds between the stop signal and SIGKILL")
    args = parser.parse_args(argv)
    # Only the pipe ends this process: a terminal's Ctrl-C or hang-up is the supervisor's to handle.
    for sig in (signal.SIGINT, signal.SIGHUP, signal.SIGTERM):
        signal.signal(sig, signal.SIG_IGN)
    groups: dict[int, int] = {}
    for line in sys.stdin:
        word, *rest = line.split()
        if word == "done":
            return 0
        if word == "group" and len(rest) == 2:
            groups[int(rest[0])] = int(rest[1])
        elif word == "forget" and rest:
            groups.pop(int(rest[0]), None)
    # The pipe closed without "done": the supervisor is gone.
    reap(groups, args.grace, say=lambda line: print(line, file=sys.stderr, flush=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
