"""Figures about the company's documents and its reviewers, for a period."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

from flask import current_app
from flask.views import MethodView
from flask_smorest import Blueprint, abort

from invoice.scanner.api.auth import require_permission
from invoice.scanner.api.review_schemas import StatsQuerySchema, StatsSchema
from invoice.scanner.api.review_service import review_repo

blp = Blueprint("stats", __name__, description="Counts, straight-through rate, stage times, review backlog")

DEFAULT_PERIOD = timedelta(days=30)


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)


@blp.route("/stats")
class StatsView(MethodView):
    @blp.arguments(StatsQuerySchema, location="query")
    @blp.response(200, StatsSchema)
    def get(self, query):
        """Counts per status, straight-through rate, median/p95 per stage, backlog, reviewer throughput."""
        principal = require_permission("stats")
        end = _utc(query["to"]) if query.get("to") else datetime.now(timezone.utc)
        start = _utc(query["from_"]) if query.get("from_") else end - DEFAULT_PERIOD
        if start >= end:
            abort(422, message="Invalid query", errors={"query": {"from": ["must be before `to`"]}})
        st = review_repo(current_app.extensions["invoice_scanner"]).stats(principal.company_id, start, end)
        return {"period": {"from": start.strftime("%Y-%m-%dT%H:%M:%SZ"), "to": end.strftime("%Y-%m-%dT%H:%M:%SZ")},
                "documents": st.documents, "by_status": st.by_status,
                "straight_through_rate": st.straight_through_rate, "stages": st.stages, "review": st.review,
                "reviewers": st.reviewers}
