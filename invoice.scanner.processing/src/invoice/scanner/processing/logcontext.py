"""What a log line is about, on every log record: the document, the task and queue, the request.

A context variable holds the current `document_id`, `task`, `queue` and `request_id`; it is set
per Celery task (task_prerun / task_postrun signals, the document id being a task's first
argument) and per API request (`invoice.scanner.api.requestlog`). `ContextFilter`, on the
handlers, copies it onto each record, so a stage module's plain `logging.getLogger(__name__)`
line carries the document id without passing it around:

    2026-12-01 08:31:02,114 INFO ForkPoolWorker-1 invoice.scanner.processing.stages.ocr [document_id=3f2a… task=ocr queue=ocr] page 1: 53 lines

`LOG_FORMAT=json` writes one JSON object per line instead (python-json-logger), with the same
keys as fields (absent ones left out), for log stores that index fields.
"""
from __future__ import annotations

import inspect
import logging
import sys
from contextlib import contextmanager
from contextvars import ContextVar, Token
from typing import Any, Iterator

FIELDS = ("document_id", "task", "queue", "request_id")
TEXT_FORMAT = "%(asctime)s %(levelname)s %(processName)s %(name)s %(context)s%(message)s"
JSON_FIELDS = "%(asctime)s %(levelname)s %(processName)s %(name)s %(message)s"

_CONTEXT: ContextVar[dict[str, str]] = ContextVar("invoice_scanner_log_context", default={})


def bind(**values: Any) -> Token:
    """Add values to the current context (None leaves a key as it is); undo with `reset`."""
    merged = {**_CONTEXT.get(), **{k: str(v) for k, v in values.items() if v is not None}}
    return _CONTEXT.set(merged)


def reset(token: Token) -> None:
    _CONTEXT.reset(token)


@contextmanager
def log_context(**values: Any) -> Iterator[None]:
    """`with log_context(document_id=...):` every record logged inside carries it."""
    token = bind(**values)
    try:
        yield
    finally:
        reset(token)


def current() -> dict[str, str]:
    return dict(_CONTEXT.get())


class ContextFilter(logging.Filter):
    """Puts the context's fields on each record (a value passed in `extra=` wins) and
    `record.context`: `[document_id=… task=…] ` or an empty string."""

    def filter(self, record: logging.LogRecord) -> bool:
        ctx = _CONTEXT.get()
        parts = []
        for name in FIELDS:
            value = getattr(record, name, None)
            if value is None:
                value = ctx.get(name)
                setattr(record, name, value)
            if value is not None:
                parts.append(f"{name}={value}")
        record.context = f"[{' '.join(parts)}] " if parts else ""
        return True


def _json_formatter() -> logging.Formatter:
    from pythonjsonlogger.json import JsonFormatter

    class ContextJsonFormatter(JsonFormatter):
        def process_log_record(self, log_record: dict) -> dict:
            log_record.pop("context", None)
            for name in FIELDS:  # only the keys this line has
                if log_record.get(name) is None:
                    log_record.pop(name, None)
            return log_record

    return ContextJsonFormatter(JSON_FIELDS, rename_fields={"asctime": "time", "levelname": "level",
                                                            "processName": "process", "name": "logger"})


def make_formatter(log_format: str | None = None) -> logging.Formatter:
    """`text` (default) or `json`; LOG_FORMAT when not given."""
    if log_format is None:
        from invoice.scanner.processing.config import get_settings

        log_format = get_settings().log_format
    log_format = log_format.strip().lower()
    if log_format == "json":
        return _json_formatter()
    if log_format not in ("", "text"):
        raise ValueError(f"LOG_FORMAT={log_format!r}: expected text or json")
    return logging.Formatter(TEXT_FORMAT)


def install(handlers: list[logging.Handler], log_format: str | None = None) -> None:
    """Our filter and formatter on these handlers (once each)."""
    formatter = make_formatter(log_format)
    for handler in handlers:
        if not any(isinstance(f, ContextFilter) for f in handler.filters):
            handler.addFilter(ContextFilter())
        handler.setFormatter(formatter)


def configure(level: int | str = logging.INFO, log_format: str | None = None) -> None:
    """For processes that own their logging (the API under gunicorn, command-line tools): a
    stderr handler on the root logger, with the context filter and LOG_FORMAT's formatter."""
    root = logging.getLogger()
    if not root.handlers:
        root.addHandler(logging.StreamHandler(sys.stderr))
    root.setLevel(level)
    install(root.handlers, log_format)


# --- Celery: one context per task, Celery's own handlers formatted like ours ----------------

_TASK_TOKENS: dict[str, Token] = {}


_DOCUMENT_ARG: dict[str, int | None] = {}


def _document_id(task, args, kwargs) -> Any:
    """The task's `document_id` argument, by name or by position (only ids travel)."""
    if "document_id" in kwargs:
        return kwargs["document_id"]
    name = getattr(task, "name", "")
    if name not in _DOCUMENT_ARG:
        try:
            params = list(inspect.signature(task.run).parameters)
        except (TypeError, ValueError, AttributeError):
            params = []
        _DOCUMENT_ARG[name] = params.index("document_id") if "document_id" in params else None
    index = _DOCUMENT_ARG[name]
    return args[index] if index is not None and index < len(args) else None


def _on_task_prerun(task_id=None, task=None, args=None, kwargs=None, **_) -> None:
    document_id = _document_id(task, args or (), kwargs or {})
    delivery = getattr(getattr(task, "request", None), "delivery_info", None) or {}
    queue = delivery.get("routing_key") or delivery.get("exchange") or None
    name = getattr(task, "name", None)
    if task_id is not None:
        _TASK_TOKENS[task_id] = bind(document_id=document_id, task=name.rsplit(".", 1)[-1] if name else None,
                                     queue=queue)


def _on_task_postrun(task_id=None, **_) -> None:
    token = _TASK_TOKENS.pop(task_id, None) if task_id is not None else None
    if token is not None:
        try:
            reset(token)
        except ValueError:  # set in another context (should not happen with prefork/threads)
            _CONTEXT.set({})


def _on_setup_logger(logger=None, **_) -> None:
    if logger is not None:
        install(logger.handlers)


def connect_celery_signals() -> None:
    from celery import signals

    signals.task_prerun.connect(_on_task_prerun, weak=False, dispatch_uid="invoice-scanner-log-context")
    signals.task_postrun.connect(_on_task_postrun, weak=False, dispatch_uid="invoice-scanner-log-context")
    signals.after_setup_logger.connect(_on_setup_logger, weak=False, dispatch_uid="invoice-scanner-log-format")
    signals.after_setup_task_logger.connect(_on_setup_logger, weak=False,
                                            dispatch_uid="invoice-scanner-task-log-format")
