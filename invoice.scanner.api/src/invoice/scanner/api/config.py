"""API settings from the environment, in one place.

`ApiConfig` extends processing's `Settings` (pydantic-settings): the values the workers share
(database, broker, documents folder, page and size limits, storage) are the same fields, read
from the same variables, so one `.env` drives both sides. Every setting has a default that
runs the local stack with no `.env`; tests build their own with `ApiConfig.from_env({}, ...)`
and `config.with_overrides(...)`.
"""
from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

from pydantic import Field, field_validator, model_validator
from pydantic_settings import NoDecode

from invoice.scanner.processing.config import Settings

WEB_DIST_DIR = Path(__file__).resolve().parents[5] / "frontend.react" / "dist"
DEFAULT_ORIGINS = ("http://localhost:3000", "http://127.0.0.1:3000", "http://localhost:5173", "http://127.0.0.1:5173")


class ApiConfig(Settings):
    # Decompression-bomb guard: MAX_IMAGE_PIXELS, by default the bound the workers put on a
    # rendered page (MAX_PAGE_PIXELS).
    max_image_pixels: int = 40_000_000
    token_ttl_s: int = 12 * 3600
    # How long an API process may answer a token check from memory (0: ask the database every
    # time); revocations through the API apply at once anyway (auth.TokenCache).
    auth_cache_ttl_s: float = 30.0
    # ALLOWED_ORIGINS: comma-separated
    allowed_origins: Annotated[tuple[str, ...], NoDecode] = DEFAULT_ORIGINS
    login_rate_limit: int = 10  # attempts per email+IP ...
    login_rate_window_s: int = 60  # ... in this window
    # When set, /metrics answers only this bearer token (a Prometheus scrape credential),
    # so tenants' users cannot read figures about other companies.
    metrics_token: str = ""
    stuck_after_s: int = 3600  # /health counts non-terminal documents untouched this long
    broker_timeout_s: float = 2.0  # connect/publish timeout; the upload answers even if Redis is down
    db_pool_size: int = Field(8, validation_alias="API_DB_POOL_SIZE")
    # Reverse proxies in front of the API (nginx, a load balancer): how many X-Forwarded-For
    # hops to trust, so the login rate limit sees the client's address, not the proxy's.
    proxy_hops: int = 0
    swagger_ui_url: str = "https://cdn.jsdelivr.net/npm/swagger-ui-dist@5/"
    # The built web client served at `/` (frontend.react/dist in a checkout; `make setup` builds it).
    web_dist_dir: Path = WEB_DIST_DIR
    # Review: a reviewer's claim on a document lapses after this long (claiming again extends it);
    # a document's review deadline is its due date or upload + REVIEW_SLA_S, whichever is earlier.
    review_claim_ttl_s: int = 900
    review_sla_s: int = 3 * 86400
    # POST /documents/batch (batches.py): files per batch (in the request or its ZIP), bytes of
    # all files together (uncompressed), and a ZIP entry's largest expansion ratio (a bomb).
    batch_max_files: int = 1000
    batch_max_bytes: int = 512 * 1024 * 1024
    batch_max_ratio: int = 200
    # Mailboxes (mail_ingest.py): the Fernet key (urlsafe base64, 32 bytes) that encrypts their
    # passwords at rest; without it mailboxes cannot be added or polled. IMAP socket timeout.
    mail_secret_key: str = ""
    mail_timeout_s: float = 30.0
    # /health says "degraded" while a mailbox's polls have failed for longer than this.
    mail_failing_after_s: int = 3600
    # One poll of a mailbox at a time (a Redis lock held at most this long); a poll that failed
    # on a broken connection is tried again after MAIL_RETRY_BACKOFF_S (doubling, 3 times).
    mail_poll_lock_s: float = 600.0
    mail_retry_backoff_s: float = 10.0
    # IMAP IDLE (mail_idle.py): the mail worker keeps a connection per mailbox whose server offers
    # IDLE and polls it as soon as a message arrives; the IDLE is renewed every MAIL_IDLE_RENEW_S
    # (RFC 2177: under 29 min) and the list of mailboxes re-read every MAIL_IDLE_REFRESH_S.
    mail_idle: bool = True
    mail_idle_renew_s: float = 300.0
    mail_idle_refresh_s: float = 30.0

    @model_validator(mode="before")
    @classmethod
    def _image_pixels_follow_page_pixels(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("max_image_pixels") in (None, ""):
            data = {**data, "max_image_pixels": data.get("max_page_pixels", Settings.model_fields["max_page_pixels"].default)}
        return data

    @field_validator("allowed_origins", mode="before")
    @classmethod
    def _split_origins(cls, value: Any) -> Any:
        if isinstance(value, str):
            return tuple(o.strip() for o in value.split(",") if o.strip())
        return value

    @field_validator("web_dist_dir", mode="before")
    @classmethod
    def _default_dist_dir(cls, value: Any) -> Any:
        return WEB_DIST_DIR if value in (None, "") else value

    @property
    def processing(self) -> Settings:
        """The settings the workers share: this object itself (an ApiConfig is a Settings)."""
        return self

    def with_overrides(self, **overrides) -> "ApiConfig":
        """A validated copy with some values changed; `processing=<Settings>` takes all of that
        object's shared settings."""
        processing = overrides.pop("processing", None)
        if processing is not None:
            overrides = {**{name: getattr(processing, name) for name in type(processing).model_fields
                            if name in Settings.model_fields}, **overrides}
        return super().with_overrides(**overrides)
