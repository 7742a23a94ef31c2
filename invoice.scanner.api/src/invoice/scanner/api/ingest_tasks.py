"""The ingest and mail queues' tasks: one poll of the watched folder (INGEST_DIR), one poll of the
mailboxes, run by their workers (`python -m invoice.scanner.processing.worker --queue ingest|mail`)
on the beat's schedule."""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from invoice.scanner.processing.celery_app import INGEST_POLL_TASK, MAIL_POLL_TASK, app

from invoice.scanner.api.config import ApiConfig
from invoice.scanner.api.ingest_folder import FolderIngest, scan_dict
from invoice.scanner.api.mail_ingest import MailIngest
from invoice.scanner.api.services import ApiState

logger = logging.getLogger(__name__)

_state: list[ApiState] = []  # one per worker process: pools and clients are reused across polls


def _api_state() -> ApiState:
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


@app.task(name=MAIL_POLL_TASK, acks_late=True, time_limit=900, ignore_result=True)
def poll_mailboxes() -> dict[str, Any]:
    """One poll of every enabled mailbox (a failing one is recorded on it and does not stop the others)."""
    return MailIngest(_api_state()).poll_all()
