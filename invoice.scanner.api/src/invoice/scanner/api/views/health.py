"""Dependency health."""
from __future__ import annotations

from flask import current_app
from flask.views import MethodView
from flask_smorest import Blueprint

from invoice.scanner.api.schemas import HealthSchema
from invoice.scanner.api.services import check_health

blp = Blueprint("health", __name__, url_prefix="/health", description="Liveness of the API's dependencies")


@blp.route("")
class Health(MethodView):
    @blp.doc(security=[])
    @blp.response(200, HealthSchema)
    @blp.alt_response(503, schema=HealthSchema, description="A dependency is down")
    def get(self):
        """Database, broker and documents folder, each with its latency; 503 when one is down."""
        ok, body = check_health(current_app.extensions["invoice_scanner"])
        return body, 200 if ok else 503
