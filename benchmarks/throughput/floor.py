"""The orchestration floor: a Celery chain of no-op tasks through the pipeline's own queues
(orchestrator, then the five stage queues), each stage doing the same bookkeeping a real stage
does and nothing else: two UPDATEs and two INSERTs in PostgreSQL (begin: document status +
attempt row; finish: document status + transition row), with the project's own connection
helper, acks_late and prefetch 1 as in celery_app. Started by run.py as one solo worker per
queue:

    FLOOR_BROKER_URL=redis://... FLOOR_DATABASE_URL=postgresql://... \\
        celery -A floor worker -Q ocr -P solo -c 1 --prefetch-multiplier 1
"""
from __future__ import annotations

import os

from celery import Celery, chain

from invoice.scanner.processing.celery_app import ORCHESTRATOR_QUEUE, STAGE_QUEUES
from invoice.scanner.processing.db.connection import transaction

DATABASE_URL = os.environ.get("FLOOR_DATABASE_URL", "")
app = Celery("floor", broker=os.environ.get("FLOOR_BROKER_URL", "redis://127.0.0.1:6379/15"))
app.conf.update(
    task_routes={"floor.orchestrate": {"queue": ORCHESTRATOR_QUEUE},
                 **{f"floor.{q}": {"queue": q} for q in STAGE_QUEUES}},
    task_ignore_result=True, result_backend=None, task_acks_late=True, task_reject_on_worker_lost=True,
    worker_prefetch_multiplier=1, task_serializer="json", accept_content=["json"],
    worker_hijack_root_logger=False,
)

SCHEMA = """
CREATE TABLE IF NOT EXISTS floor_documents (
    id uuid PRIMARY KEY, status text NOT NULL, created_at timestamptz NOT NULL DEFAULT clock_timestamp(),
    updated_at timestamptz NOT NULL DEFAULT clock_timestamp(), completed_at timestamptz);
CREATE TABLE IF NOT EXISTS floor_history (
    id bigserial PRIMARY KEY, document_id uuid NOT NULL REFERENCES floor_documents(id), stage text,
    to_status text NOT NULL, started_at timestamptz NOT NULL DEFAULT clock_timestamp(), finished_at timestamptz);
"""


@app.task(name="floor.orchestrate", acks_late=True)
def orchestrate(document_id: str) -> None:
    chain(*(app.signature(f"floor.{q}", args=(document_id,), immutable=True) for q in STAGE_QUEUES)).apply_async()


def _stage(name: str, last: bool) -> None:
    @app.task(name=f"floor.{name}", acks_late=True)
    def stage(document_id: str) -> None:
        with transaction(DATABASE_URL) as cur:  # begin: like begin_stage
            cur.execute("UPDATE floor_documents SET status = %s, updated_at = clock_timestamp() WHERE id = %s",
                        (f"{name}:running", document_id))
            cur.execute("INSERT INTO floor_history (document_id, stage, to_status) VALUES (%s, %s, %s)",
                        (document_id, name, "running"))
        # (the stage's own work would run here)
        with transaction(DATABASE_URL) as cur:  # finish: like finish_stage
            cur.execute("UPDATE floor_documents SET status = %s, updated_at = clock_timestamp(), "
                        "completed_at = CASE WHEN %s THEN clock_timestamp() END WHERE id = %s",
                        ("done" if last else f"{name}:done", last, document_id))
            cur.execute("INSERT INTO floor_history (document_id, stage, to_status, finished_at) "
                        "VALUES (%s, %s, %s, clock_timestamp())", (document_id, name, "done"))


for _i, _q in enumerate(STAGE_QUEUES):
    _stage(_q, _i == len(STAGE_QUEUES) - 1)
