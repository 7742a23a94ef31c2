"""Attempts apart from transitions: a new `stage_attempts` table; `document_status_history` keeps
transitions only.

Until now a stage's begin row (`preprocessing -> preprocessing`, closed later with an outcome)
shared `document_status_history` with the rows that record status changes, so a reader could
not tell an attempt from a transition. Existing rows are carried over:

- every begin row of a stage (its `to_status` is that stage's running status) is copied to
  `stage_attempts`, its `detail.outcome` becoming the `outcome` column;
- such a row that also changed the status (`preprocessed -> ocr_extracting`) stays in the
  history as that transition (instantaneous, without the attempt's outcome); one that did not
  (`preprocessing -> preprocessing`) leaves the history.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-01
"""
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

# The stages and their running statuses as they were when this migration was written.
_RUNNING = "(VALUES ('preprocessing', 'preprocessing'), ('ocr', 'ocr_extracting'), ('llm', 'predicting'), " \
           "('extraction', 'extraction'), ('evaluation', 'automated_evaluation'))"
_IS_ATTEMPT = f"(h.stage, h.to_status) IN {_RUNNING}"


def upgrade() -> None:
    op.execute(
        f"""
        CREATE TABLE stage_attempts (
            id bigserial PRIMARY KEY,
            document_id uuid NOT NULL REFERENCES documents(id) ON DELETE CASCADE,
            stage text NOT NULL,
            pipeline_run integer NOT NULL,
            attempt integer NOT NULL DEFAULT 0,
            worker_host text,
            started_at timestamptz NOT NULL DEFAULT now(),
            finished_at timestamptz,
            outcome text CHECK (outcome IN ('ok', 'retry', 'failed', 'abandoned', 'stale')),
            detail jsonb,
            CHECK (outcome IS NULL OR finished_at IS NOT NULL)
        );
        CREATE INDEX stage_attempts_doc_run_idx ON stage_attempts (document_id, pipeline_run, stage);
        CREATE INDEX stage_attempts_open_idx ON stage_attempts (document_id) WHERE finished_at IS NULL;
        CREATE INDEX stage_attempts_finished_idx ON stage_attempts (started_at) WHERE outcome = 'ok';

        INSERT INTO stage_attempts (document_id, stage, pipeline_run, attempt, worker_host, started_at,
                                    finished_at, outcome, detail)
        SELECT h.document_id, h.stage, h.pipeline_run, h.attempt, h.worker_host, h.started_at, h.finished_at,
               CASE WHEN h.finished_at IS NULL THEN NULL
                    WHEN h.detail->>'outcome' IN ('ok', 'retry', 'failed', 'abandoned', 'stale')
                    THEN h.detail->>'outcome' ELSE 'abandoned' END,
               nullif(coalesce(h.detail, '{{}}'::jsonb) - 'outcome', '{{}}'::jsonb)
        FROM document_status_history h WHERE {_IS_ATTEMPT} ORDER BY h.id;

        UPDATE document_status_history h SET finished_at = h.started_at, detail = NULL
        WHERE {_IS_ATTEMPT} AND h.from_status IS DISTINCT FROM h.to_status;
        DELETE FROM document_status_history h
        WHERE {_IS_ATTEMPT} AND h.from_status IS NOT DISTINCT FROM h.to_status;
        """
    )


def downgrade() -> None:
    # Attempts go back as begin rows (from and to the stage's running status), after the
    # transitions; the order between the two kinds is not restored.
    op.execute(
        f"""
        INSERT INTO document_status_history (document_id, from_status, to_status, stage, pipeline_run, attempt,
                                             worker_host, started_at, finished_at, detail)
        SELECT a.document_id, r.status, r.status, a.stage, a.pipeline_run, a.attempt, a.worker_host,
               a.started_at, a.finished_at,
               CASE WHEN a.outcome IS NULL THEN a.detail
                    ELSE coalesce(a.detail, '{{}}'::jsonb) || jsonb_build_object('outcome', a.outcome) END
        FROM stage_attempts a JOIN {_RUNNING} AS r(stage, status) ON r.stage = a.stage ORDER BY a.id;
        DROP TABLE stage_attempts;
        """
    )
