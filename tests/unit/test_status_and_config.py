from invoice.scanner.processing.celery_app import QUEUES, STAGE_QUEUES, STAGE_TASKS, TASK_ROUTES, app
from invoice.scanner.processing.celery_app import DEFAULT_RETRY
from invoice.scanner.processing.config import Settings
from invoice.scanner.processing.status import (
    STAGES,
    STATUS_INFO,
    TERMINAL_STATUSES,
    Status,
    progress,
    stage_for_status,
)


def test_progress_matches_the_contract_example():
    assert progress(Status.OCR_EXTRACTING) == {"current_step": 2, "total_steps": 6, "percentage": 33}
    assert progress(Status.APPROVED)["percentage"] == 100
    assert set(STATUS_INFO) == set(Status)


def test_every_non_terminal_status_has_an_owning_stage():
    for status in Status:
        if status in TERMINAL_STATUSES and status.value.endswith("_error"):
            assert stage_for_status(status).error == status
        elif status not in TERMINAL_STATUSES:
            assert stage_for_status(status) is not None, status


def test_one_queue_per_stage_and_routes_declared_once():
    assert STAGE_QUEUES == ("preprocessing", "ocr", "llm", "extraction", "evaluation")
    assert [s.name for s in STAGES] == list(STAGE_QUEUES)
    for queue, task in STAGE_TASKS.items():
        assert TASK_ROUTES[task] == {"queue": queue}
    assert set(q["queue"] for q in TASK_ROUTES.values()) == set(QUEUES)
    assert app.conf.task_acks_late and app.conf.task_reject_on_worker_lost
    assert app.conf.worker_prefetch_multiplier == 1


def test_retry_defaults_and_overrides_from_env():
    s = Settings.from_env({})
    assert (s.retry["preprocessing"].max_retries, s.retry["preprocessing"].backoff_s) == (2, 60)
    assert (s.retry["ocr"].max_retries, s.retry["ocr"].backoff_s) == (3, 120)
    assert (s.retry["llm"].max_retries, s.retry["llm"].backoff_s) == (3, 300)
    assert (s.retry["extraction"].max_retries, s.retry["evaluation"].backoff_s) == (2, 30)
    assert s.retry["ocr"].countdown(0) == 120 and s.retry["ocr"].countdown(2) == 480  # exponential
    o = Settings.from_env({"LLM_MAX_RETRIES": "5", "LLM_RETRY_BACKOFF_S": "7", "APPROVAL_THRESHOLD": "0.9"})
    assert (o.retry["llm"].max_retries, o.retry["llm"].backoff_s, o.approval_threshold) == (5, 7, 0.9)
    # the visibility timeout outlasts the longest attempt plus its longest retry countdown
    for name, policy in DEFAULT_RETRY.items():
        assert s.visibility_timeout_s > policy.time_limit_s + policy.countdown(policy.max_retries - 1), name
