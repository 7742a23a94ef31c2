"""Prometheus metrics."""
from __future__ import annotations

from flask import Response, current_app
from flask.views import MethodView
from flask_smorest import Blueprint
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

blp = Blueprint("metrics", __name__, url_prefix="/metrics", description="Prometheus metrics")


@blp.route("")
class Metrics(MethodView):
    @blp.response(200, content_type=CONTENT_TYPE_LATEST,
                  description="Prometheus text format; with METRICS_TOKEN set, only that bearer token is accepted")
    def get(self):
        """Documents by status, stage durations, LLM usage and upload outcomes."""
        registry = current_app.extensions["invoice_scanner"].registry
        return Response(generate_latest(registry), mimetype=CONTENT_TYPE_LATEST)
