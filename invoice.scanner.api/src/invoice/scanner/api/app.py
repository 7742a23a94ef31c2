"""The Flask application factory."""
from __future__ import annotations

import logging
from pathlib import Path

from flask import jsonify, Flask, current_app, request
from flask_cors import CORS
from flask_smorest import Api
from werkzeug.exceptions import HTTPException, MethodNotAllowed
from werkzeug.middleware.proxy_fix import ProxyFix

from invoice.scanner.processing.db.connection import DatabaseUnavailable, fail_fast_while_refused

from invoice.scanner.api import requestlog, textinput
from invoice.scanner.api.auth import require_token
from invoice.scanner.api.batches import BATCH_PATH, BatchRequest
from invoice.scanner.api.config import ApiConfig
from invoice.scanner.api.metrics import PipelineCollector
from invoice.scanner.api.services import ApiState

logger = logging.getLogger(__name__)

# Extra keys an `abort(...)` may add to the error body (the duplicate upload's existing id).
EXTRA_ERROR_KEYS = ("document_id",
                    # the review workflow's conflicts: who holds a claim, the current version, what blocks approval
                    "claimed_by", "expires_at", "version", "blocking")


class InvoiceApi(Api):
    """flask-smorest's Api with one error shape everywhere: `message` is always present
    (404/405/413/500 raised by Flask itself carry none), plus the few extra keys we allow."""

    def handle_http_exception(self, error: HTTPException):
        payload, code, headers = super().handle_http_exception(error)
        if code == 413 and "message" not in payload:
            limit = current_app.extensions["invoice_scanner"].config.max_upload_bytes
            if request.path == BATCH_PATH:
                limit = current_app.extensions["invoice_scanner"].config.batch_max_bytes
            payload["message"] = f"The upload is over the size limit of {limit:,} bytes"
        payload.setdefault("message", error.description)
        data = getattr(error, "data", None) or {}
        for key in EXTRA_ERROR_KEYS:
            if key in data:
                payload[key] = data[key]
        if isinstance(error, MethodNotAllowed) and error.valid_methods:
            headers = {**headers, "Allow": ", ".join(sorted(error.valid_methods))}  # RFC 9110 15.5.6
        if code >= 500:
            logger.error("%s %s answered %s: %s", error.name, code, code, payload["message"],
                         exc_info=getattr(error, "original_exception", None))
        return payload, code, headers


def _database_unavailable(error: Exception):
    """PostgreSQL restarting or unreachable: a clear, retryable 503 rather than a 500."""
    logger.warning("database unavailable: %s", error)
    body = {"code": 503, "status": "Service Unavailable",
            "message": "The database is unavailable at the moment; retry in a few seconds"}
    return jsonify(body), 503, {"Retry-After": "5"}


def create_app(config: ApiConfig | None = None) -> Flask:
    config = config or ApiConfig.from_env()
    fail_fast_while_refused(config.database_url)  # PostgreSQL down: 503 at once, not after the pool's 5 s wait
    # The instance folder is unused; naming it avoids Flask's lookup, which fails for PEP 420
    # namespace packages such as `invoice`.
    app = Flask(__name__, instance_path=str(Path(__file__).resolve().parent / "instance"))
    app.request_class = BatchRequest  # POST /documents/batch has its own body and part limits
    app.config.update(
        # Werkzeug refuses a bigger body before reading it (413); the margin is the multipart framing.
        MAX_CONTENT_LENGTH=config.max_upload_bytes + 64 * 1024,
        API_TITLE="Invoice Scanner API",
        API_VERSION="1.0",
        OPENAPI_VERSION="3.0.3",
        OPENAPI_URL_PREFIX="/",
        OPENAPI_JSON_PATH="openapi.json",
        OPENAPI_SWAGGER_UI_PATH="docs",
        OPENAPI_SWAGGER_UI_URL=config.swagger_ui_url,
        API_SPEC_OPTIONS={
            "info": {"description": "Turns invoices (PDFs and scans) into checked, structured data. "
                                    "Sign in with POST /auth/login, then send `Authorization: Bearer <token>`."},
            "components": {"securitySchemes": {
                "bearerAuth": {"type": "http", "scheme": "bearer", "description": "Token from POST /auth/login"}}},
            "security": [{"bearerAuth": []}],
        },
        JSON_SORT_KEYS=False,
    )
    if config.proxy_hops:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=config.proxy_hops, x_proto=config.proxy_hops,
                                x_host=config.proxy_hops)
    state = ApiState.build(config)
    state.registry.register(PipelineCollector(state.repo))
    from invoice.scanner.api.webhook_metrics import WebhookCollector
    from invoice.scanner.processing.webhooks.repository import WebhookRepository

    state.registry.register(WebhookCollector(WebhookRepository(config.database_url, config.db_pool_size)))
    from invoice.scanner.api.source_metrics import SourceCollector

    state.registry.register(SourceCollector(state.repo))
    app.extensions["invoice_scanner"] = state

    CORS(app, origins=list(config.allowed_origins), allow_headers=["Authorization", "Content-Type", "If-Match"],
         expose_headers=["Retry-After", "ETag", requestlog.REQUEST_ID_HEADER], max_age=600)
    api = InvoiceApi(app)
    api.ma_plugin.converter.add_attribute_function(textinput.no_nul_pattern)  # the document says: no NUL
    app.before_request(require_token)
    app.before_request(textinput.reject_nul_characters)  # 422 before any view or query
    requestlog.init_app(app)  # request_id and document_id on every log line of a request
    for error in DatabaseUnavailable:
        app.register_error_handler(error, _database_unavailable)

    from invoice.scanner.api.views import auth, documents, files, health, metrics

    for module in (auth, documents, health, metrics):
        api.register_blueprint(module.blp)
    api.register_blueprint(files.blp)
    from invoice.scanner.api.views import einvoice

    api.register_blueprint(einvoice.blp)
    from invoice.scanner.api.views import review, stats, users

    for module in (review, users, stats):
        api.register_blueprint(module.blp)
    from invoice.scanner.api.views import exports, webhooks

    for module in (webhooks, exports):
        api.register_blueprint(module.blp)
    from invoice.scanner.api.views import batches, mailboxes

    api.register_blueprint(batches.blp)
    api.register_blueprint(mailboxes.blp)
    # The built web client at `/` (not part of the OpenAPI document).
    from invoice.scanner.api import webapp

    app.register_blueprint(webapp.blp)
    # Outermost, after every hook is registered: it reads the headers they add (status_poll).
    from invoice.scanner.api.status_poll import StatusPollMiddleware

    app.wsgi_app = StatusPollMiddleware(app, app.wsgi_app)
    return app
