"""Stage 5: required fields, arithmetic cross-checks and field confidences -> quality score,
predicted accuracy, and `approved` or `manual_review` with the reasons stored."""
from __future__ import annotations

from invoice.scanner.processing.models import Evaluation, Extraction
from invoice.scanner.processing.pipeline import StageContext, StageOutcome, run_stage, stage_task
from invoice.scanner.processing.status import Status


def evaluate(extraction: Extraction, threshold: float) -> Evaluation:
    raise NotImplementedError  # being written


# --- task -------------------------------------------------------------------------------

def _work(ctx: StageContext) -> StageOutcome:
    doc_id = str(ctx.document.id)
    evaluation = evaluate(ctx.repo.load_extraction(doc_id), ctx.settings.approval_threshold)
    status = Status.APPROVED if evaluation.approved else Status.MANUAL_REVIEW
    return StageOutcome(
        detail={"quality_score": evaluation.quality_score, "reasons": evaluation.reasons,
                "transition_detail": {"quality_score": evaluation.quality_score, "reasons": evaluation.reasons}},
        next_status=status,
        document_updates=ctx.repo.evaluation_updates(evaluation),
    )


@stage_task("evaluation")
def evaluate_document(self, document_id: str, run: int) -> str:
    return run_stage(self, "evaluation", document_id, run, _work)
