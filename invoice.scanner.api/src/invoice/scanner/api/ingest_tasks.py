"""The ingest and mail queues' tasks: one poll of the watched folder (INGEST_DIR), one poll of the
mailboxes (all, on the beat's schedule; or one, when IDLE saw a message arrive or a poll broke
on its connection), run by their workers (`python -m invoice.scanner.processing.worker --queue
ingest|mail`). The mail worker's pool process also runs the IDLE watcher (mail_idle.py)."""
from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import Any

from celery.signals import worker_process_init, worker_process_shutdown

from invoice.scanner.processing.celery_app import (INGEST_POLL_TASK, MAIL_POLL_ONE_TASK, MAIL_POLL_TASK, MAIL_QUEUE,
                                                   app)

from invoice.scanner.api.config import ApiConfig
from invoice.scanner.api.ingest_folder import FolderIngest, scan_dict
from invoice.scanner.api.mail_ingest import TRANSIENT_ERRORS, MailIngest, PollBusy
from invoice.scanner.api.services import ApiState

logger = logging.getLogger(__name__)

_state: list[ApiState] = []  # one per worker process: pools and clients are reused across polls
_state_lock = threading.Lock()  # the IDLE watcher's threads and the task share it
_watcher: list[Any] = []
MAIL_RETRIES = 3


def _api_state() -> ApiState:
    with _state_lock:
        if not _state:
            _state.append(ApiState.build(ApiConfig.from_env()))
        return _state[0]


@app.task(name=INGEST_POLL_TASK, acks_late=True, time_limit=600, ignore_result=True)
def poll_folder() -> dict[str, Any]:
    state = _api_state()
    cfg = state.config
    if not cfg.ingest_dir:
        return {"files": []}
    results = FolderIngest(state, Path(cfg.ingest_dir), cfg.ingest_settle_s, cfg.ingest_claim_timeout_s).scan()
    return scan_dict(results)


def _retry_later(mailbox_id: str, retries_done: int) -> None:
    if retries_done < MAIL_RETRIES:
        countdown = _api_state().config.mail_retry_backoff_s * 2 ** retries_done
        logger.info("mail: mailbox %s polled again in %.0f s (retry %d of %d)", mailbox_id, countdown,
                    retries_done + 1, MAIL_RETRIES)
        poll_mailbox.apply_async(args=[mailbox_id], kwargs={"retries_done": retries_done + 1}, countdown=countdown)


@app.task(name=MAIL_POLL_TASK, acks_late=True, time_limit=900, ignore_result=True)
def poll_mailboxes() -> dict[str, Any]:
    """One poll of every enabled mailbox (a failing one is recorded on it and does not stop the
    others; one whose connection broke is tried again soon, on its own)."""
    results = MailIngest(_api_state()).poll_all()
    for mailbox_id, result in results.items():
        if isinstance(result, dict) and result.get("transient"):
            _retry_later(mailbox_id, 0)
    return results


@app.task(name=MAIL_POLL_ONE_TASK, acks_late=True, time_limit=900, ignore_result=True)
def poll_mailbox(mailbox_id: str, retries_done: int = 0) -> dict[str, Any]:
    """One poll of one mailbox (IDLE saw a message, or a retry after a broken connection)."""
    ingest = MailIngest(_api_state())
    box = ingest.mailbox(mailbox_id)
    if box is None:
        return {"skipped": "deleted or disabled"}
    try:
        return {"messages": [r.__dict__ for r in ingest.poll(box)]}
    except PollBusy:
        return {"busy": True}  # the poll under way takes the new messages
    except TRANSIENT_ERRORS as exc:
        _retry_later(mailbox_id, retries_done)
        return {"error": f"{type(exc).__name__}: {exc}"[:500]}
    except Exception as exc:  # noqa: BLE001 - recorded on the mailbox (poll); the beat tries again
        return {"error": f"{type(exc).__name__}: {exc}"[:500]}


def consumes_mail_queue() -> bool:
    """This worker was started with `-Q mail` (the queue selection is inherited by pool processes)."""
    try:
        return MAIL_QUEUE in app.amqp.queues.consume_from
    except Exception:  # noqa: BLE001 - no selection made: not a worker of ours
        return False


@worker_process_init.connect
def _start_idle_watcher(**_: Any) -> None:
    if not consumes_mail_queue():
        return
    state = _api_state()
    if not state.config.mail_idle:
        logger.info("mail idle: off (MAIL_IDLE=false); mailboxes are polled every MAIL_POLL_INTERVAL_S")
        return
    from invoice.scanner.api.mail_idle import IdleWatcher

    _watcher.append(IdleWatcher(state, lambda mailbox_id: poll_mailbox.apply_async(args=[mailbox_id])).start())
    logger.info("mail idle: watching the mailboxes whose server offers IDLE")


@worker_process_shutdown.connect
def _stop_idle_watcher(**_: Any) -> None:
    for watcher in _watcher:
        watcher.stop()
