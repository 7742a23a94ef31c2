"""API settings from the environment, in one place.

Values the workers share (database, broker, documents folder, page and size limits) come
from processing's `Settings`, so one `.env` drives both sides. Every setting has a default
that runs the local stack with no `.env`; tests build their own `ApiConfig`.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Mapping

from invoice.scanner.processing.config import Settings

WEB_DIST_DIR = Path(__file__).resolve().parents[5] / "frontend.react" / "dist"
DEFAULT_ORIGINS = ("http://localhost:3000", "http://127.0.0.1:3000", "http://localhost:5173", "http://127.0.0.1:5173")


def _origins(value: str) -> tuple[str, ...]:
    return tuple(o.strip() for o in value.split(",") if o.strip())


@dataclass(frozen=True)
class ApiConfig:
    database_url: str = Settings.database_url
    redis_url: str = Settings.redis_url
    documents_dir: Path = Settings.documents_dir
    max_upload_bytes: int = Settings.max_upload_bytes  # 25 MiB
    max_pages: int = Settings.max_pages
    # Decompression-bomb guard: the same bound the workers put on a rendered page.
    max_image_pixels: int = Settings.max_page_pixels
    token_ttl_s: int = 12 * 3600
    allowed_origins: tuple[str, ...] = DEFAULT_ORIGINS
    login_rate_limit: int = 10  # attempts per email+IP ...
    login_rate_window_s: int = 60  # ... in this window
    # When set, /metrics answers only this bearer token (a Prometheus scrape credential),
    # so tenants' users cannot read figures about other companies.
    metrics_token: str = ""
    stuck_after_s: int = 3600  # /health counts non-terminal documents untouched this long
    broker_timeout_s: float = 2.0  # connect/publish timeout; the upload answers even if Redis is down
    db_pool_size: int = 8
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
    processing: Settings = field(default_factory=Settings)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **overrides) -> "ApiConfig":
        e = dict(os.environ if env is None else env)
        settings = Settings.from_env(e)
        d = cls()
        c = cls(
            database_url=settings.database_url,
            redis_url=settings.redis_url,
            documents_dir=settings.documents_dir,
            max_upload_bytes=settings.max_upload_bytes,
            max_pages=settings.max_pages,
            max_image_pixels=int(e.get("MAX_IMAGE_PIXELS", settings.max_page_pixels)),
            token_ttl_s=int(e.get("TOKEN_TTL_S", d.token_ttl_s)),
            allowed_origins=_origins(e["ALLOWED_ORIGINS"]) if "ALLOWED_ORIGINS" in e else d.allowed_origins,
            login_rate_limit=int(e.get("LOGIN_RATE_LIMIT", d.login_rate_limit)),
            login_rate_window_s=int(e.get("LOGIN_RATE_WINDOW_S", d.login_rate_window_s)),
            metrics_token=e.get("METRICS_TOKEN", d.metrics_token),
            stuck_after_s=int(e.get("STUCK_AFTER_S", d.stuck_after_s)),
            broker_timeout_s=float(e.get("BROKER_TIMEOUT_S", d.broker_timeout_s)),
            db_pool_size=int(e.get("API_DB_POOL_SIZE", d.db_pool_size)),
            proxy_hops=int(e.get("PROXY_HOPS", d.proxy_hops)),
            swagger_ui_url=e.get("SWAGGER_UI_URL", d.swagger_ui_url),
            review_claim_ttl_s=int(e.get("REVIEW_CLAIM_TTL_S", d.review_claim_ttl_s)),
            review_sla_s=int(e.get("REVIEW_SLA_S", d.review_sla_s)),
            web_dist_dir=Path(e["WEB_DIST_DIR"]) if e.get("WEB_DIST_DIR") else d.web_dist_dir,
            processing=settings,
        )
        return c.with_overrides(**overrides) if overrides else c

    def with_overrides(self, **overrides) -> "ApiConfig":
        """A copy with some values changed; the shared processing `Settings` follow along."""
        c = replace(self, **overrides)
        shared = {
            "database_url": c.database_url,
            "redis_url": c.redis_url,
            "documents_dir": c.documents_dir,
            "max_upload_bytes": c.max_upload_bytes,
            "max_pages": c.max_pages,
        }
        return replace(c, processing=replace(c.processing, **shared))
