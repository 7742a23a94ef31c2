"""IMAP IDLE (RFC 2177) for the mailboxes whose server offers it: a message is polled as soon as
it arrives instead of at the next of the beat's polls, which stay the fallback (and the only
way for a server without IDLE).

The mail worker's pool process runs one `IdleWatcher` (ingest_tasks.py starts it when the
worker consumes the `mail` queue and MAIL_IDLE is on). It re-reads the enabled mailboxes every
MAIL_IDLE_REFRESH_S and keeps one thread per mailbox: log in (as the poll does), select the
folder read-only, and, if the server has the IDLE capability, wait in IDLE. Any untagged EXISTS
or RECENT response (a message arrived) ends the IDLE and asks for a poll of that mailbox
(`trigger`, the `mail` queue's poll_mailbox task); the IDLE is renewed every MAIL_IDLE_RENEW_S.
A server without IDLE is left to the polls (the thread ends); a broken connection is opened
again after a backoff (1 s doubling to 60 s). A mailbox changed (host, folder, secret...) or
deleted stops its thread at the next refresh. The watcher only starts polls: the import, its
dedup and its marking are the poll's (mail_ingest.py), so a spurious trigger costs one empty
poll and several watchers (several mail workers) cannot import anything twice.
"""
from __future__ import annotations

import logging
import threading
import time
from typing import Any, Callable

from invoice.scanner.api.mail_ingest import MailIngest
from invoice.scanner.api.services import ApiState

logger = logging.getLogger(__name__)

ARRIVALS = (b"EXISTS", b"RECENT")
# What makes a watch out of date: any of these changed since it started.
WATCH_KEY = ("host", "port", "security", "username", "auth", "secret_encrypted", "folder")


def _key(box: dict[str, Any]) -> tuple:
    return tuple(box.get(k) for k in WATCH_KEY)


def arrived(responses: list[Any]) -> bool:
    """An IDLE response saying a message came in (`(n, b'EXISTS')`, `(n, b'RECENT')`)."""
    return any(isinstance(r, tuple) and len(r) >= 2 and r[1] in ARRIVALS for r in responses)


class _Watch:
    def __init__(self, watcher: "IdleWatcher", box: dict[str, Any]):
        self.watcher, self.box, self.key = watcher, box, _key(box)
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.run, name=f"mail-idle-{box['id']}", daemon=True)
        self.supported: bool | None = None  # the server's IDLE capability, once known

    def run(self) -> None:
        backoff = 1.0
        while not self.stop.is_set():
            try:
                self.session()
                if self.supported is False:
                    return  # no IDLE on this server: the beat's polls serve it
                backoff = 1.0
            except Exception as exc:  # noqa: BLE001 - a broken connection: log (never the secret), reconnect
                logger.warning("mail idle: mailbox %s (%s@%s): %s: %s; reconnecting in %.0f s", self.box["id"],
                               self.box["username"], self.box["host"], type(exc).__name__, str(exc)[:300], backoff)
                self.stop.wait(backoff)
                backoff = min(60.0, backoff * 2)

    def session(self) -> None:
        cfg = self.watcher.state.config
        ingest = MailIngest(self.watcher.state)
        # The socket timeout bounds each wait below, so a dead server is noticed.
        with ingest.connect(self.box, timeout=max(cfg.mail_timeout_s, 10.0)) as client:
            self.supported = client.has_capability("IDLE")
            if not self.supported:
                logger.info("mail idle: mailbox %s: the server offers no IDLE; polled every interval", self.box["id"])
                return
            client.select_folder(self.box["folder"], readonly=True)
            self.watcher.trigger(str(self.box["id"]))  # what came in while nobody was idling
            while not self.stop.is_set():
                client.idle()
                renew_at = time.monotonic() + cfg.mail_idle_renew_s
                new = False
                try:
                    while not self.stop.is_set() and not new and time.monotonic() < renew_at:
                        new = arrived(client.idle_check(timeout=1.0))
                finally:
                    _, rest = client.idle_done()
                new = new or arrived(rest)
                if new:
                    logger.info("mail idle: mailbox %s: a message arrived; polling it", self.box["id"])
                    self.watcher.trigger(str(self.box["id"]))


class IdleWatcher:
    def __init__(self, state: ApiState, trigger: Callable[[str], None]):
        self.state, self.trigger = state, trigger
        self.watches: dict[str, _Watch] = {}
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._supervise, name="mail-idle", daemon=True)

    def start(self) -> "IdleWatcher":
        self.thread.start()
        return self

    def stop(self) -> None:
        self.stopped.set()
        for watch in self.watches.values():
            watch.stop.set()

    def refresh(self) -> None:
        """Start a watch per enabled mailbox not watched yet; stop those deleted, disabled or changed."""
        boxes = {str(b["id"]): b for b in MailIngest(self.state).mailboxes()}
        for box_id, watch in list(self.watches.items()):
            box = boxes.get(box_id)
            if box is None or _key(box) != watch.key or (not watch.thread.is_alive() and watch.supported is not False):
                watch.stop.set()
                del self.watches[box_id]
        for box_id, box in boxes.items():
            if box_id not in self.watches:
                watch = self.watches[box_id] = _Watch(self, box)
                watch.thread.start()

    def _supervise(self) -> None:
        while not self.stopped.is_set():
            try:
                self.refresh()
            except Exception as exc:  # noqa: BLE001 - the database away: try again at the next refresh
                logger.warning("mail idle: could not read the mailboxes: %s", exc)
            self.stopped.wait(self.state.config.mail_idle_refresh_s)
