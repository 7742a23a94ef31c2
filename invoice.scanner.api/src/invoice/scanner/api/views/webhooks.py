"""Webhooks: a company's subscriptions, their delivery log, redelivery."""
from __future__ import annotations

import uuid

import marshmallow as ma
from flask import current_app
from flask.views import MethodView
from flask_smorest import Blueprint, abort

from invoice.scanner.processing.webhooks import signing
from invoice.scanner.processing.webhooks.outbox import ALL_EVENTS, EVENT_TYPES
from invoice.scanner.processing.webhooks.repository import (
    DeliveryNotFound,
    SubscriptionNotFound,
    WebhookRepository,
)
from invoice.scanner.processing.webhooks.targets import InvalidTarget, check_url

from invoice.scanner.api.auth import require_permission
from invoice.scanner.api.schemas import UtcDateTime

blp = Blueprint("webhooks", __name__, url_prefix="/webhooks",
                description="Signed HTTP callbacks on terminal statuses and review decisions")

NOT_FOUND = "Webhook not found"
DELIVERY_NOT_FOUND = "Delivery not found"
DELIVERY_STATES = ("pending", "delivered", "failed")


class WebhookCreateSchema(ma.Schema):
    # `format: uri` (a JSON-schema format; marshmallow's Url field would say `url`, which is none).
    url = ma.fields.Url(required=True, schemes={"http", "https"}, require_tld=False,
                        validate=ma.validate.Length(min=1, max=2000), metadata={
                            "format": "uri",
                            "description": "An http(s) URL whose host resolves to a public address "
                                           "(WEBHOOK_ALLOW_PRIVATE_TARGETS allows private ones); 422 otherwise"})
    events = ma.fields.List(ma.fields.String(validate=ma.validate.OneOf([*EVENT_TYPES, ALL_EVENTS])),
                            load_default=lambda: [ALL_EVENTS], validate=ma.validate.Length(min=1, max=10),
                            metadata={"description": "event types to receive; '*' = all (the default)"})
    description = ma.fields.String(load_default=None, allow_none=True, validate=ma.validate.Length(max=500))


class WebhookSchema(ma.Schema):
    id = ma.fields.UUID()
    url = ma.fields.String()
    events = ma.fields.List(ma.fields.String())
    description = ma.fields.String(allow_none=True)
    created_at = UtcDateTime()


class WebhookCreatedSchema(WebhookSchema):
    secret = ma.fields.String(metadata={"description": "The signing secret. Shown this once: store it now."})


class WebhookListSchema(ma.Schema):
    webhooks = ma.fields.List(ma.fields.Nested(WebhookSchema))


class AttemptSchema(ma.Schema):
    attempt = ma.fields.Integer()
    started_at = UtcDateTime()
    duration_ms = ma.fields.Integer()
    status_code = ma.fields.Integer(allow_none=True)
    error = ma.fields.String(allow_none=True)
    response_excerpt = ma.fields.String(allow_none=True)


class DeliverySchema(ma.Schema):
    id = ma.fields.UUID()
    subscription_id = ma.fields.UUID()
    event_id = ma.fields.UUID()
    event_type = ma.fields.String()
    document_id = ma.fields.UUID(allow_none=True)
    state = ma.fields.String(metadata={"enum": list(DELIVERY_STATES)})
    attempts = ma.fields.Integer()
    next_attempt_at = UtcDateTime(allow_none=True)
    last_status_code = ma.fields.Integer(allow_none=True)
    last_error = ma.fields.String(allow_none=True)
    delivered_at = UtcDateTime(allow_none=True)
    redelivery_of = ma.fields.UUID(allow_none=True)
    created_at = UtcDateTime()
    attempt_log = ma.fields.List(ma.fields.Nested(AttemptSchema))


class DeliveryListQuerySchema(ma.Schema):
    limit = ma.fields.Integer(load_default=50, validate=ma.validate.Range(min=1, max=200))
    state = ma.fields.String(load_default=None, validate=ma.validate.OneOf(DELIVERY_STATES))


class DeliveryListSchema(ma.Schema):
    deliveries = ma.fields.List(ma.fields.Nested(DeliverySchema))


def _repository() -> WebhookRepository:
    state = current_app.extensions["invoice_scanner"]
    repo = current_app.extensions.get("invoice_scanner_webhooks")
    if repo is None:
        repo = current_app.extensions["invoice_scanner_webhooks"] = WebhookRepository(
            state.config.database_url, state.config.db_pool_size)
    return repo


def _uuid(value: str, message: str) -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except ValueError:
        abort(404, message=message)


@blp.route("")
class Webhooks(MethodView):
    @blp.arguments(WebhookCreateSchema)
    @blp.response(201, WebhookCreatedSchema)
    @blp.alt_response(403, description="The caller lacks the 'webhooks' permission")
    def post(self, body):
        """Subscribe a URL to events; the answer holds the signing secret, once"""
        principal = require_permission("webhooks")
        allow_private = current_app.extensions["invoice_scanner"].config.processing.webhook_allow_private_targets
        try:
            url = check_url(body["url"], allow_private)
        except InvalidTarget as exc:
            abort(422, message="Invalid webhook URL", errors={"json": {"url": [str(exc)]}})
        secret = signing.new_secret()
        sub = _repository().create_subscription(principal.company_id, url, sorted(set(body["events"])), secret,
                                                body["description"], principal.user_id)
        return {**_public(sub), "secret": secret}

    @blp.response(200, WebhookListSchema)
    def get(self):
        """The company's webhooks (secrets are never shown again)"""
        principal = require_permission("webhooks")
        return {"webhooks": [_public(s) for s in _repository().list_subscriptions(principal.company_id)]}


@blp.route("/<webhook_id>")
class Webhook(MethodView):
    @blp.response(200, WebhookSchema)
    @blp.alt_response(404, description="No such webhook in your company")
    def get(self, webhook_id):
        """One webhook"""
        principal = require_permission("webhooks")
        try:
            return _public(_repository().get_subscription(principal.company_id, _uuid(webhook_id, NOT_FOUND)))
        except SubscriptionNotFound:
            abort(404, message=NOT_FOUND)

    @blp.response(204)
    @blp.alt_response(404, description="No such webhook in your company")
    def delete(self, webhook_id):
        """Stop sending to this webhook; pending deliveries are dropped, the log is kept"""
        principal = require_permission("webhooks")
        try:
            _repository().delete_subscription(principal.company_id, _uuid(webhook_id, NOT_FOUND))
        except SubscriptionNotFound:
            abort(404, message=NOT_FOUND)


@blp.route("/<webhook_id>/deliveries")
class Deliveries(MethodView):
    @blp.arguments(DeliveryListQuerySchema, location="query")
    @blp.response(200, DeliveryListSchema)
    @blp.alt_response(404, description="No such webhook in your company")
    def get(self, query, webhook_id):
        """The webhook's deliveries, newest first, each with its attempts"""
        principal = require_permission("webhooks")
        try:
            deliveries = _repository().list_deliveries(principal.company_id, _uuid(webhook_id, NOT_FOUND),
                                                       limit=query["limit"], state=query["state"])
        except SubscriptionNotFound:
            abort(404, message=NOT_FOUND)
        return {"deliveries": deliveries}


@blp.route("/<webhook_id>/ping")
class Ping(MethodView):
    @blp.response(202, DeliverySchema)
    @blp.alt_response(404, description="No such webhook in your company")
    def post(self, webhook_id):
        """Send a signed `webhook.ping` event to this webhook now (to test the receiver)"""
        principal = require_permission("webhooks")
        try:
            return _repository().ping(principal.company_id, _uuid(webhook_id, NOT_FOUND))
        except SubscriptionNotFound:
            abort(404, message=NOT_FOUND)


@blp.route("/<webhook_id>/deliveries/<delivery_id>/redeliver")
class Redeliver(MethodView):
    @blp.response(202, DeliverySchema)
    @blp.alt_response(404, description="No such webhook or delivery in your company")
    def post(self, webhook_id, delivery_id):
        """Send a delivery's event again, as a new delivery due now"""
        principal = require_permission("webhooks")
        try:
            return _repository().redeliver(principal.company_id, _uuid(webhook_id, NOT_FOUND),
                                           _uuid(delivery_id, DELIVERY_NOT_FOUND))
        except SubscriptionNotFound:
            abort(404, message=NOT_FOUND)
        except DeliveryNotFound:
            abort(404, message=DELIVERY_NOT_FOUND)


def _public(sub) -> dict:
    return {"id": sub.id, "url": sub.url, "events": sub.events, "description": sub.description,
            "created_at": sub.created_at}
