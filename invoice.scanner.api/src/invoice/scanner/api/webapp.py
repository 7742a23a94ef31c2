"""The web client (frontend.react/, built by `make setup` into frontend.react/dist), served by the API.

`/` and every client route under `/app/` answer the client's index.html (the client routes
itself); its hashed files are under `/assets/`. API paths are untouched: they are matched
first by their own rules. Every response here carries a Content-Security-Policy that allows
only this origin's scripts and styles (the build has no inline script), so injected markup
cannot run.
"""
from __future__ import annotations

from pathlib import Path

from flask import Blueprint, abort, current_app, send_from_directory

blp = Blueprint("webapp", __name__)

# Endpoints of this blueprint: public, like the OpenAPI docs (the client signs in by itself).
PUBLIC = frozenset({"webapp.index", "webapp.client_route", "webapp.asset", "webapp.favicon"})

CONTENT_SECURITY_POLICY = "; ".join([
    "default-src 'self'",
    "script-src 'self'",
    "style-src 'self'",
    # Page images are fetched with the bearer token and shown as blob: URLs (no token in a URL).
    "img-src 'self' blob: data:",
    "connect-src 'self'",
    "font-src 'self'",
    "object-src 'none'",
    "base-uri 'self'",
    "form-action 'self'",
    "frame-ancestors 'none'",
])
ASSET_MAX_AGE_S = 365 * 24 * 3600  # names carry a content hash


def _dist() -> Path:
    return Path(current_app.extensions["invoice_scanner"].config.web_dist_dir)


def _index():
    dist = _dist()
    if not (dist / "index.html").is_file():
        abort(404, description=f"The web client is not built: run `make setup` (expected {dist}/index.html)")
    response = send_from_directory(dist, "index.html", max_age=0)
    response.cache_control.no_cache = True  # always revalidate: it names the current assets
    return response


@blp.route("/")
def index():
    return _index()


@blp.route("/app", defaults={"path": ""})
@blp.route("/app/<path:path>")
def client_route(path: str):
    return _index()


@blp.route("/assets/<path:filename>")
def asset(filename: str):
    response = send_from_directory(_dist() / "assets", filename, max_age=ASSET_MAX_AGE_S)
    response.cache_control.immutable = True
    return response


@blp.route("/favicon.svg")
def favicon():
    return send_from_directory(_dist(), "favicon.svg", max_age=86400)


@blp.after_request
def security_headers(response):
    response.headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["X-Frame-Options"] = "DENY"
    return response
