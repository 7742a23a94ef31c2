"""An index for the poison rule: the attempts whose worker died under them (`abandoned`), by
stage and start. The runner and the sweeper ask it only for a document whose worker died
under it `MAX_WORKER_DEATHS` times: did the stage's workers die under other documents too?

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-01
"""
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("CREATE INDEX stage_attempts_abandoned_idx ON stage_attempts (stage, started_at) "
               "WHERE outcome = 'abandoned';")


def downgrade() -> None:
    op.execute("DROP INDEX stage_attempts_abandoned_idx;")
