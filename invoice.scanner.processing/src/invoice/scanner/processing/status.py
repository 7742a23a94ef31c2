"""The document status model shared by the API and every worker (docs/API_CONTRACT.md)."""
from __future__ import annotations

from dataclasses import dataclass
from enum import Enum


class Status(str, Enum):
    PREPROCESSING = "preprocessing"
    PREPROCESSED = "preprocessed"
    OCR_EXTRACTING = "ocr_extracting"
    PREDICTING = "predicting"
    EXTRACTION = "extraction"
    AUTOMATED_EVALUATION = "automated_evaluation"
    APPROVED = "approved"
    MANUAL_REVIEW = "manual_review"
    REJECTED = "rejected"
    PREPROCESS_ERROR = "preprocess_error"
    OCR_ERROR = "ocr_error"
    PREDICT_ERROR = "predict_error"
    EXTRACTION_ERROR = "extraction_error"
    EVALUATION_ERROR = "evaluation_error"

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True)
class StatusInfo:
    name: str
    description: str
    step: int


TOTAL_STEPS = 6

STATUS_INFO: dict[Status, StatusInfo] = {
    Status.PREPROCESSING: StatusInfo("Preprocessing", "The document is queued for or running preprocessing", 1),
    Status.PREPROCESSED: StatusInfo("Preprocessed", "Pages rendered and cleaned, waiting for OCR", 1),
    Status.OCR_EXTRACTING: StatusInfo("OCR Extracting", "OCR extraction is in progress", 2),
    Status.PREDICTING: StatusInfo("Predicting", "Field prediction is in progress", 3),
    Status.EXTRACTION: StatusInfo("Extraction", "Validation and normalization are in progress", 4),
    Status.AUTOMATED_EVALUATION: StatusInfo("Automated Evaluation", "Quality evaluation is in progress", 5),
    Status.APPROVED: StatusInfo("Approved", "Approved: automatically (quality above the approval threshold) or by a reviewer", 6),
    Status.MANUAL_REVIEW: StatusInfo("Manual Review", "Processing finished; the document needs a person to review it", 6),
    Status.REJECTED: StatusInfo("Rejected", "A person reviewed the document and rejected it (the reason is in its audit log)", 6),
    Status.PREPROCESS_ERROR: StatusInfo("Preprocessing Error", "Preprocessing failed after its retries", 1),
    Status.OCR_ERROR: StatusInfo("OCR Error", "OCR failed after its retries", 2),
    Status.PREDICT_ERROR: StatusInfo("Prediction Error", "Field prediction failed after its retries", 3),
    Status.EXTRACTION_ERROR: StatusInfo("Extraction Error", "Validation and normalization failed after its retries", 4),
    Status.EVALUATION_ERROR: StatusInfo("Evaluation Error", "Quality evaluation failed after its retries", 5),
}

SUCCESS_STATUSES = frozenset({Status.APPROVED, Status.MANUAL_REVIEW})
# Set only by a person's decision (POST /documents/<id>/reject); no stage moves a document there.
DECIDED_STATUSES = frozenset({Status.REJECTED})
ERROR_STATUSES = frozenset(
    {Status.PREPROCESS_ERROR, Status.OCR_ERROR, Status.PREDICT_ERROR, Status.EXTRACTION_ERROR, Status.EVALUATION_ERROR}
)
TERMINAL_STATUSES = SUCCESS_STATUSES | ERROR_STATUSES | DECIDED_STATUSES
# What a person works on: the review queue (GET /review).
REVIEW_STATUSES = frozenset({Status.MANUAL_REVIEW}) | ERROR_STATUSES


@dataclass(frozen=True)
class StageSpec:
    """A pipeline stage: its queue (= module = stage name) and the statuses it owns."""

    name: str
    running: Status
    error: Status
    done: Status | None = None  # status written when the stage ends, if it has one of its own


# The pipeline, in order. Queue name = stage name = module name under stages/.
STAGES: tuple[StageSpec, ...] = (
    StageSpec("preprocessing", Status.PREPROCESSING, Status.PREPROCESS_ERROR, Status.PREPROCESSED),
    StageSpec("ocr", Status.OCR_EXTRACTING, Status.OCR_ERROR),
    StageSpec("llm", Status.PREDICTING, Status.PREDICT_ERROR),
    StageSpec("extraction", Status.EXTRACTION, Status.EXTRACTION_ERROR),
    StageSpec("evaluation", Status.AUTOMATED_EVALUATION, Status.EVALUATION_ERROR),
)
STAGE_BY_NAME = {s.name: s for s in STAGES}
STAGE_BY_RUNNING = {s.running: s for s in STAGES}
STAGE_BY_ERROR = {s.error: s for s in STAGES}


def stage_for_status(status: Status) -> StageSpec | None:
    """The stage that owns a non-terminal or error status."""
    if status == Status.PREPROCESSED:
        return STAGE_BY_NAME["ocr"]  # waiting for OCR
    return STAGE_BY_RUNNING.get(status) or STAGE_BY_ERROR.get(status)


def progress(status: Status) -> dict[str, int]:
    """Progress as the contract shows it: ocr_extracting is step 2 of 6, 33%."""
    step = STATUS_INFO[status].step
    return {"current_step": step, "total_steps": TOTAL_STEPS, "percentage": round(100 * step / TOTAL_STEPS)}
