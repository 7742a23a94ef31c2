"""All SQL the pipeline runs, named by intent, returning dataclasses.

Every write a stage makes replaces that stage's rows for the document (delete + insert in
one transaction), so running a stage twice leaves the same rows: `acks_late` redelivery,
sweeper re-drives and manual retries are safe.
"""
from __future__ import annotations

import json
import uuid
from dataclasses import asdict, dataclass, replace
from datetime import datetime
from typing import Any

from invoice.scanner.processing.db.connection import Json, pipelined, single_statement, transaction
from invoice.scanner.processing.db.documents import (
    DOCUMENT_COLUMNS,
    Document,
    DocumentNotFound,
    attempts_from_rows,
    attempts_query,
    close_open_attempts,
    document_from_row,
    document_query,
    finish_attempt,
    load_document,
    load_fields,
    load_history,
    load_line_items,
    record_transition,
    send_attempt,
)
from invoice.scanner.processing.models import (
    Evaluation,
    Extraction,
    FieldPrediction,
    LineItemPrediction,
    LlmUsage,
    OcrLine,
    OcrPage,
    OcrWord,
    PageImage,
    Prediction,
)
from invoice.scanner.processing.status import (
    STAGE_BY_NAME,
    TERMINAL_STATUSES,
    Status,
)


@dataclass
class StageClaim:
    """What `begin_stage` decided for one delivery of a stage task, with the document as the
    claim left it (the runner reads it from here, not again)."""

    action: str  # "run" | "stale" | "done"
    attempt_id: int | None = None  # the attempt row this delivery closes (stage_attempts)
    reason: str = ""
    document: Document | None = None
    abandoned: int = 0  # earlier deliveries of this stage and run that never finished (their worker died)

    @property
    def history_id(self) -> int | None:
        """The attempt's id (the name callers used before attempts had their own table)."""
        return self.attempt_id


class Repository:
    def __init__(self, database_url: str, pool_size: int = 2):
        """`pool_size`: this process's pool on `database_url` (connections it keeps open), when
        this repository is the first to use it (a worker's: `WORKER_DB_POOL_SIZE`)."""
        self.database_url = database_url
        self.pool_size = pool_size

    def tx(self):
        return transaction(self.database_url, self.pool_size)

    def pipelined(self):
        """A transaction whose statements travel together (`db.connection.pipelined`)."""
        return pipelined(self.database_url, self.pool_size)

    def read(self):
        """One read statement, one round trip (`db.connection.single_statement`)."""
        return single_statement(self.database_url, self.pool_size)

    # -- documents -----------------------------------------------------------------------

    def get_document(self, document_id: uuid.UUID | str) -> Document:
        with self.read() as cur:
            return load_document(cur, document_id)

    def start_pipeline_run(self, document_id: uuid.UUID | str, from_stage: str = "preprocessing",
                           expected_run: int | None = None, detail: dict[str, Any] | None = None,
                           redrive: bool = False, expected_updated_at: datetime | None = None) -> int | None:
        """Begin a new run of the pipeline from `from_stage`; older runs' messages become stale.

        With `expected_run`, nothing happens (None) unless the document is still at that run,
        so a duplicated orchestrator or sweeper message cannot start a second run. With
        `expected_updated_at` (the sweeper's), nothing happens unless the document has not
        changed since then either: a stage that claimed it meanwhile is not superseded.
        """
        stage = STAGE_BY_NAME[from_stage]
        with self.tx() as cur:
            cur.execute("SELECT status, pipeline_run, updated_at FROM documents WHERE id = %s FOR UPDATE",
                        (str(document_id),))
            row = cur.fetchone()
            if row is None:
                raise DocumentNotFound(str(document_id))
            if expected_run is not None and row["pipeline_run"] != expected_run:
                return None
            if expected_updated_at is not None and row["updated_at"] != expected_updated_at:
                return None
            run = row["pipeline_run"] + 1
            # Attempts of earlier runs that never finished (their worker was lost) are closed.
            close_open_attempts(cur, document_id)
            cur.execute(
                """UPDATE documents SET pipeline_run = %s, status = %s, error = NULL,
                          enqueued_at = coalesce(enqueued_at, now()), updated_at = now(), completed_at = NULL,
                          redrive_count = redrive_count + %s
                   WHERE id = %s""",
                (run, stage.running.value, 1 if redrive else 0, str(document_id)),
            )
            if row["status"] != stage.running.value or redrive:
                record_transition(cur, document_id, row["status"], stage.running.value, "orchestrator", run,
                                  detail or {"queued": from_stage})
        return run

    def worker_deaths(self, document_id: str, stage_name: str, lookback_s: int,
                      include_open: bool = False) -> tuple[int, int]:
        """(deaths, others): how often a worker of this stage died under the document (its
        attempts closed as `abandoned`; with `include_open`, its attempts still open too, which
        the sweeper has judged lost), and how many attempts of *other* documents at this stage
        were abandoned from `lookback_s` before the document's first death on. Many deaths of
        its own and none of others' mark a document that kills its worker (the poison rule)."""
        outcome = "(outcome = 'abandoned' OR finished_at IS NULL)" if include_open else "outcome = 'abandoned'"
        with self.tx() as cur:
            cur.execute(
                f"""SELECT count(*) AS deaths, min(started_at) AS first FROM stage_attempts
                    WHERE document_id = %s AND stage = %s AND {outcome}""",
                (str(document_id), stage_name),
            )
            own = cur.fetchone()
            if not own["deaths"]:
                return 0, 0
            cur.execute(
                """SELECT count(*) AS others FROM stage_attempts
                   WHERE stage = %s AND outcome = 'abandoned' AND document_id <> %s
                     AND started_at >= %s - make_interval(secs => %s)""",
                (stage_name, str(document_id), own["first"], lookback_s),
            )
            return int(own["deaths"]), int(cur.fetchone()["others"])

    def find_unenqueued(self, older_than_s: int) -> list[Document]:
        """Uploads committed while the broker was unreachable (the outbox)."""
        with self.tx() as cur:
            cur.execute(
                f"""SELECT {DOCUMENT_COLUMNS} FROM documents
                    WHERE enqueued_at IS NULL AND created_at < now() - make_interval(secs => %s)
                    ORDER BY created_at LIMIT 500""",
                (older_than_s,),
            )
            return [document_from_row(r) for r in cur.fetchall()]

    def mark_enqueued(self, document_id: str) -> None:
        with self.tx() as cur:
            cur.execute("UPDATE documents SET enqueued_at = now() WHERE id = %s AND enqueued_at IS NULL",
                        (document_id,))

    def find_stuck(self, deadlines_s: dict[str, int]) -> list[Document]:
        """Non-terminal documents whose last change is older than their stage's deadline
        (a document waiting in `preprocessed` is on the OCR stage's clock)."""
        from invoice.scanner.processing.status import stage_for_status

        pairs = [(s.value, deadlines_s[stage_for_status(s).name]) for s in Status if s not in TERMINAL_STATUSES]
        clauses = " OR ".join("(status = %s AND updated_at < now() - make_interval(secs => %s))" for _ in pairs)
        with self.tx() as cur:
            cur.execute(
                f"""SELECT {DOCUMENT_COLUMNS} FROM documents WHERE enqueued_at IS NOT NULL AND ({clauses})
                    ORDER BY updated_at LIMIT 500""",
                [v for pair in pairs for v in pair],
            )
            return [document_from_row(r) for r in cur.fetchall()]

    def begin_stage(self, document_id: str, stage_name: str, run: int, attempt: int, worker_host: str) -> StageClaim:
        """Claim the document for one delivery of a stage: `run` (with the document, moved to the
        stage's running status, and a new attempt row), `done` (this run finished the stage
        already: a redelivered message) or `stale` (a newer run owns it, or it is terminal)."""
        stage = STAGE_BY_NAME[stage_name]
        # Pipelined: the lock and the attempts go in one round trip (the attempts in a statement
        # of their own after the lock, so they include what a delivery that held the lock before
        # us committed), and the claim's writes with their COMMIT in a second one.
        with self.pipelined() as cur:
            conn = cur.connection
            attempts_cur, attempt_cur = conn.cursor(), conn.cursor()
            cur.execute(*document_query(document_id, lock=True))
            attempts_cur.execute(*attempts_query(document_id, pipeline_run=run, stage=stage_name))
            row = cur.fetchone()
            if row is None:
                raise DocumentNotFound(str(document_id))
            doc = document_from_row(row)
            previous = attempts_from_rows(attempts_cur.fetchall())
            if doc.pipeline_run != run:
                return StageClaim("stale", reason=f"run {run} superseded by run {doc.pipeline_run}", document=doc)
            if Status(doc.status) in TERMINAL_STATUSES:
                return StageClaim("stale", reason=f"document already {doc.status}", document=doc)
            if any(p.outcome == "ok" for p in previous):
                return StageClaim("done", reason="stage already completed in this run (redelivered message)",
                                  document=doc)
            # A delivery that began and never finished: its worker was lost.
            unfinished = [p.id for p in previous if p.finished_at is None]
            if unfinished:
                close_open_attempts(attempts_cur, document_id, unfinished)
            cur.execute(
                f"UPDATE documents SET status = %s, updated_at = now() WHERE id = %s RETURNING {DOCUMENT_COLUMNS}",
                (stage.running.value, document_id),
            )
            if doc.status != stage.running.value:
                record_transition(attempts_cur, document_id, doc.status, stage.running.value, stage_name, run,
                                  worker_host=worker_host, attempt=attempt)
            send_attempt(attempt_cur, document_id, stage_name, run, attempt, worker_host)
            conn.commit()  # the writes and their COMMIT in one round trip
            claimed = document_from_row(cur.fetchone())
            return StageClaim("run", attempt_id=attempt_cur.fetchone()["id"], document=claimed,
                              abandoned=len(unfinished))

    def finish_stage(self, document_id: str, stage_name: str, run: int, history_id: int, detail: dict[str, Any],
                     next_status: Status | None = None, worker_host: str | None = None,
                     document_updates: dict[str, Any] | None = None,
                     transition_detail: dict[str, Any] | None = None) -> bool:
        """Close the stage's attempt (`history_id`: the claim's attempt id) as `ok`; optionally
        move the document to the stage's own end status, the transition carrying
        `transition_detail`. An attempt of a superseded run only closes as `stale` (False)."""
        with self.pipelined() as cur:  # the writes after the lock travel with their COMMIT
            cur.execute("SELECT status, pipeline_run FROM documents WHERE id = %s FOR UPDATE", (document_id,))
            current = cur.fetchone()
            stale = current is None or current["pipeline_run"] != run
            finish_attempt(cur, history_id, "stale" if stale else "ok", detail)
            if stale:
                return False
            sets, args = ["updated_at = now()"], []
            for column, value in (document_updates or {}).items():
                sets.append(f"{column} = %s")
                args.append(Json(value) if isinstance(value, (dict, list)) else value)
            if next_status is not None:
                sets.append("status = %s")
                args.append(next_status.value)
                if next_status in TERMINAL_STATUSES:
                    sets.append("completed_at = now()")
                record_transition(cur, document_id, current["status"], next_status.value, stage_name, run,
                                  transition_detail or {}, worker_host)
            cur.execute(f"UPDATE documents SET {', '.join(sets)} WHERE id = %s", (*args, document_id))
        return True

    def record_attempt_failure(self, history_id: int, reason: str, will_retry: bool) -> None:
        with self.tx() as cur:
            finish_attempt(cur, history_id, "retry" if will_retry else "failed", {"error": reason})

    def fail_stage(self, document_id: str, stage_name: str, run: int, reason: str, worker_host: str | None) -> bool:
        """Move the document to `<stage>_error` (if the run is still current). True if written."""
        stage = STAGE_BY_NAME[stage_name]
        with self.tx() as cur:
            cur.execute("SELECT status, pipeline_run FROM documents WHERE id = %s FOR UPDATE", (document_id,))
            row = cur.fetchone()
            if row is None or row["pipeline_run"] != run or Status(row["status"]) in TERMINAL_STATUSES:
                return False
            # An attempt the sweeper gave up on (its worker was lost) never closed its row.
            close_open_attempts(cur, document_id)
            cur.execute(
                """UPDATE documents SET status = %s, error = %s, updated_at = now(), completed_at = now()
                   WHERE id = %s""",
                (stage.error.value, reason, document_id),
            )
            record_transition(cur, document_id, row["status"], stage.error.value, stage_name, run,
                              {"error": reason}, worker_host)
        return True

    def history(self, document_id: str) -> list[dict[str, Any]]:
        """The audit trail (`db.documents.load_history`): transitions and attempts, as dicts."""
        with self.tx() as cur:
            return [asdict(e) for e in load_history(cur, document_id)]

    # -- stage outputs -------------------------------------------------------------------

    def save_pages(self, document_id: str, pages: list[PageImage]) -> None:
        with self.pipelined() as cur:  # nothing is read back: one round trip with the COMMIT
            cur.execute("DELETE FROM document_pages WHERE document_id = %s", (document_id,))
            for p in pages:
                cur.execute(
                    """INSERT INTO document_pages (document_id, page_no, image_path, width, height, dpi, rotation,
                                                   skew_degrees, text_layer)
                       VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)""",
                    (document_id, p.page_no, p.image_path, p.width, p.height, p.dpi, p.rotation, p.skew_degrees,
                     Json([w.to_dict() for w in p.text_layer]) if p.text_layer is not None else None),
                )
            cur.execute("UPDATE documents SET pages = %s WHERE id = %s", (len(pages), document_id))

    def load_pages(self, document_id: str) -> list[PageImage]:
        with self.read() as cur:
            cur.execute(
                """SELECT page_no, image_path, width, height, dpi, rotation, skew_degrees, text_layer
                   FROM document_pages WHERE document_id = %s ORDER BY page_no""",
                (document_id,),
            )
            rows = cur.fetchall()
        return [
            PageImage(
                page_no=r["page_no"], image_path=r["image_path"], width=r["width"], height=r["height"], dpi=r["dpi"],
                rotation=r["rotation"], skew_degrees=r["skew_degrees"],
                text_layer=[OcrWord(w["text"], tuple(w["bbox"]), w["confidence"]) for w in r["text_layer"]]
                if r["text_layer"] is not None else None,
            )
            for r in rows
        ]

    def save_ocr(self, document_id: str, pages: list[OcrPage]) -> None:
        with self.pipelined() as cur:
            for p in pages:
                cur.execute(
                    """UPDATE document_pages SET ocr_engine = %s, ocr_text = %s, ocr_lines = %s, ocr_confidence = %s,
                                                ocr_seconds = %s
                       WHERE document_id = %s AND page_no = %s""",
                    (p.engine, p.text, Json([line.to_dict() for line in p.lines]), p.confidence, p.seconds,
                     document_id, p.page_no),
                )

    def load_ocr(self, document_id: str) -> list[OcrPage]:
        with self.read() as cur:
            cur.execute(
                """SELECT page_no, width, height, ocr_engine, ocr_lines, ocr_seconds FROM document_pages
                   WHERE document_id = %s ORDER BY page_no""",
                (document_id,),
            )
            rows = cur.fetchall()
        return [
            OcrPage(
                page_no=r["page_no"], width=r["width"], height=r["height"], engine=r["ocr_engine"] or "",
                seconds=r["ocr_seconds"] or 0.0,
                lines=[
                    OcrLine(
                        text=line["text"], bbox=tuple(line["bbox"]), confidence=line["confidence"],
                        words=[OcrWord(w["text"], tuple(w["bbox"]), w["confidence"]) for w in line["words"]],
                    )
                    for line in (r["ocr_lines"] or [])
                ],
            )
            for r in rows
        ]

    def save_prediction(self, document_id: str, prediction: Prediction) -> None:
        usage = asdict(prediction.usage)
        with self.pipelined() as cur:
            cur.execute(
                """INSERT INTO document_predictions (document_id, provider, model, fields, line_items, usage)
                   VALUES (%s, %s, %s, %s, %s, %s)
                   ON CONFLICT (document_id) DO UPDATE SET provider = EXCLUDED.provider, model = EXCLUDED.model,
                       fields = EXCLUDED.fields, line_items = EXCLUDED.line_items, usage = EXCLUDED.usage,
                       created_at = now()""",
                (document_id, prediction.usage.provider, prediction.usage.model,
                 Json({k: asdict(v) for k, v in prediction.fields.items()}),
                 Json([asdict(i) for i in prediction.line_items]), Json(usage)),
            )
            cur.execute("UPDATE documents SET llm_usage = %s WHERE id = %s", (Json(usage), document_id))

    def load_prediction(self, document_id: str) -> Prediction:
        with self.read() as cur:
            cur.execute("SELECT fields, line_items, usage FROM document_predictions WHERE document_id = %s",
                        (document_id,))
            row = cur.fetchone()
        if row is None:
            raise DocumentNotFound(f"no prediction stored for {document_id}")

        def bbox(v):
            return tuple(v) if v is not None else None

        return Prediction(
            fields={k: FieldPrediction(**{**v, "bbox": bbox(v.get("bbox"))}) for k, v in row["fields"].items()},
            line_items=[LineItemPrediction(**{**i, "bbox": bbox(i.get("bbox"))}) for i in row["line_items"]],
            usage=LlmUsage(**row["usage"]),
        )

    def save_extraction(self, document_id: str, extraction: Extraction) -> None:
        """Replace the extracted rows, except what a person corrected: locked fields and locked
        line items stay as they are (the review workflow's corrections survive re-processing)."""
        # Pipelined: after the lock, the deletes and every row's INSERT go with the COMMIT in
        # one round trip (they were one each).
        with self.pipelined() as cur:
            cur.execute("SELECT line_items_locked FROM documents WHERE id = %s FOR UPDATE", (document_id,))
            row = cur.fetchone()
            items_locked = bool(row and row["line_items_locked"])
            cur.execute("DELETE FROM extracted_fields WHERE document_id = %s AND NOT locked", (document_id,))
            if not items_locked:
                cur.execute("DELETE FROM line_items WHERE document_id = %s", (document_id,))
            for f in extraction.fields.values():
                cur.execute(
                    """INSERT INTO extracted_fields (document_id, name, value, raw_value, confidence, page, bbox,
                                                     valid, error)
                       VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)
                       ON CONFLICT (document_id, name) DO NOTHING""",
                    (document_id, f.name, Json(f.value), f.raw_value, f.confidence, f.page,
                     list(f.bbox) if f.bbox else None, f.valid, f.error),
                )
            for item in ([] if items_locked else extraction.line_items):
                cur.execute(
                    """INSERT INTO line_items (document_id, position, description, quantity, unit_price, amount,
                                               tax_rate, confidence, page, bbox)
                       VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)""",
                    (document_id, item.position, item.description, item.quantity, item.unit_price, item.amount,
                     item.tax_rate, item.confidence, item.page, list(item.bbox) if item.bbox else None),
                )

    def load_extraction(self, document_id: str) -> Extraction:
        with self.tx() as cur:
            fields = {f.name: f for f in load_fields(cur, document_id)}
            items = [replace(i, confidence=i.confidence or 0.0) for i in load_line_items(cur, document_id)]
        return Extraction(fields=fields, line_items=items)

    def evaluation_updates(self, evaluation: Evaluation) -> dict[str, Any]:
        return {
            "quality_score": evaluation.quality_score,
            "predicted_accuracy": evaluation.predicted_accuracy,
            "evaluation": json.loads(json.dumps(evaluation.to_dict(), default=str)),
        }
