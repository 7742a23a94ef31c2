"""The `orchestrator` queue: starting (or resuming) a document's run of the five-stage chain."""
from __future__ import annotations

import logging

from celery import chain
from celery.exceptions import Ignore

from invoice.scanner.processing.celery_app import (ORCHESTRATE_TASK, ORCHESTRATE_TASK_OPTIONS, STAGE_TASKS, app,
                                                   recovery_queue)
from invoice.scanner.processing.db.repository import DocumentNotFound
from invoice.scanner.processing.runner import DocumentLogger, get_repository
from invoice.scanner.processing.status import STAGES

logger = logging.getLogger(__name__)


def stages_from(from_stage: str) -> list[str]:
    names = [s.name for s in STAGES]
    return names[names.index(from_stage):]


def send_pipeline(document_id: str, run: int, from_stage: str = "preprocessing", recovery: bool = False):
    """The run's chain from `from_stage`; with `recovery` (a re-drive) every stage of it goes
    through the stage's recovery lane, which its workers drain before the backlog."""
    signatures = [
        app.signature(STAGE_TASKS[name], args=(document_id, run), immutable=True,
                      **({"queue": recovery_queue(name)} if recovery else {}))
        for name in stages_from(from_stage)
    ]
    return chain(*signatures).apply_async()


@app.task(name=ORCHESTRATE_TASK, bind=True, autoretry_for=(Exception,), dont_autoretry_for=(DocumentNotFound,),
          **ORCHESTRATE_TASK_OPTIONS)
def orchestrate_document_processing(self, document_id: str, company_id: str, from_stage: str = "preprocessing",
                                    expected_run: int | None = None) -> str:
    """Start (or resume from `from_stage`) the five-stage chain for one document.

    `expected_run` makes a redelivered orchestrator message harmless: the run only starts
    if the document is still at the run the sender saw.
    """
    repo = get_repository()
    log = DocumentLogger(logger, {"document_id": document_id})
    doc = repo.get_document(document_id)
    if str(doc.company_id) != str(company_id):
        log.error("company mismatch: task for company %s, document belongs to %s", company_id, doc.company_id)
        raise Ignore()
    run = repo.start_pipeline_run(document_id, from_stage, expected_run=expected_run)
    if run is None:
        log.info("orchestration skipped: the document is already at a newer run")
        raise Ignore()
    send_pipeline(document_id, run, from_stage)
    log.info("pipeline run %s queued from %s", run, from_stage)
    return document_id
