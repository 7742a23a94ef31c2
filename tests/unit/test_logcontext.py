"""The log context filter: document, task, queue and request ids on every record."""
from __future__ import annotations

import io
import json
import logging

import pytest
from celery import Celery

from invoice.scanner.processing import logcontext


@pytest.fixture
def capture():
    """A logger whose one handler has the context filter and our text formatter."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    logger = logging.getLogger("invoice.scanner.processing.stages.test_logcontext")
    logger.handlers[:] = [handler]
    logger.propagate = False
    logger.setLevel(logging.INFO)

    def install(log_format: str = "text"):
        logcontext.install([handler], log_format)
        return logger, stream

    yield install
    logger.handlers.clear()
    logger.propagate = True


def test_a_plain_module_logger_line_carries_the_bound_document(capture):
    logger, stream = capture("text")
    logger.info("before")
    with logcontext.log_context(document_id="3f2a9c1e", task="ocr", queue="ocr"):
        logger.info("page %d: %d lines", 1, 53)
        with logcontext.log_context(request_id="r-1"):
            logger.info("nested")
    logger.info("after")
    before, inside, nested, after = stream.getvalue().splitlines()
    assert "[" not in before and "document_id" not in after
    assert inside.endswith("invoice.scanner.processing.stages.test_logcontext "
                           "[document_id=3f2a9c1e task=ocr queue=ocr] page 1: 53 lines")
    assert "[document_id=3f2a9c1e task=ocr queue=ocr request_id=r-1] nested" in nested


def test_an_explicit_extra_wins_over_the_context(capture):
    logger, stream = capture("text")
    with logcontext.log_context(document_id="from-context"):
        logger.info("x", extra={"document_id": "from-extra"})
    assert "[document_id=from-extra] x" in stream.getvalue()


def test_json_lines_hold_the_context_as_fields(capture):
    logger, stream = capture("json")
    with logcontext.log_context(document_id="d-1", task="llm"):
        logger.warning("vendor said %s", "429")
    logger.info("plain")
    first, second = (json.loads(line) for line in stream.getvalue().splitlines())
    assert first["message"] == "vendor said 429" and first["level"] == "WARNING"
    assert (first["document_id"], first["task"]) == ("d-1", "llm")
    assert "queue" not in first and "context" not in first  # absent keys are left out
    assert first["logger"] == "invoice.scanner.processing.stages.test_logcontext" and "time" in first
    assert "document_id" not in second


def test_an_unknown_log_format_is_refused():
    with pytest.raises(ValueError, match="LOG_FORMAT"):
        logcontext.make_formatter("xml")


def test_celery_task_signals_bind_the_document_argument_for_the_task_only():
    app = Celery("logcontext-test")

    @app.task(name="invoice.scanner.stages.ocr", bind=True)
    def ocr_document(self, document_id: str, run: int) -> str:
        return document_id

    @app.task(name="invoice.scanner.webhooks.deliver")
    def deliver(delivery_id: str, lease_token: str) -> str:
        return delivery_id

    logcontext._on_task_prerun(task_id="t-1", task=ocr_document, args=("doc-1", 2), kwargs={})
    assert logcontext.current() == {"document_id": "doc-1", "task": "ocr"}
    logcontext._on_task_postrun(task_id="t-1")
    assert logcontext.current() == {}

    logcontext._on_task_prerun(task_id="t-2", task=ocr_document, args=(), kwargs={"document_id": "doc-2", "run": 1})
    assert logcontext.current()["document_id"] == "doc-2"
    logcontext._on_task_postrun(task_id="t-2")

    logcontext._on_task_prerun(task_id="t-3", task=deliver, args=("delivery-9", "lease"), kwargs={})
    assert "document_id" not in logcontext.current()  # not a document task
    logcontext._on_task_postrun(task_id="t-3")
    assert logcontext.current() == {}
