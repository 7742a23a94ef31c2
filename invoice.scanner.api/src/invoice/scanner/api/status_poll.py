"""The status poll's plain case answered before Flask's request cycle.

`GET /documents/<id>/status` is what every client repeats while its documents are processed.
Profiled under load (benchmarks/http, ARCHITECTURE.md "Capacity"), Flask's request cycle around
it (request context, six hooks, routing, flask-smorest's wrapper, flask-cors, the response
object) cost more CPU than the poll's own work, one SQL statement and one JSON dump. This WSGI
middleware answers the plain case itself: a GET of that path with a UUID, a bearer token, no
query string, no body and no `Origin` header, whose token is valid, allows `documents:read` and
finds the document in its company. Its answer is the one Flask gives: the same statement
(`ApiRepository.authenticate_token_with_status`), the body dumped by the same `StatusSchema`
and JSON provider, the `X-Request-ID` as `requestlog` chooses it, and the headers the app's
after-request hooks (flask-cors) add to that request, read from them once at start-up
(tests/integration/test_status_poll.py compares the two answers byte for byte).

Every other request goes to Flask, a poll the middleware looked at included (401, 403, 404,
a database error): with the statement's result or error in the environ (`PREFETCHED`), so the
view's token check (`status_with_token`) neither sends it again nor waits for the database twice.
"""
from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from typing import Any, Callable, Iterable

from flask import Flask, request

from invoice.scanner.processing.db.connection import DatabaseError

from invoice.scanner.api import requestlog
from invoice.scanner.api.auth import parse_bearer, token_digest
from invoice.scanner.api.repository import Principal, StatusRecord
from invoice.scanner.api.schemas import StatusSchema

PREFETCHED = "invoice_scanner.status_poll"  # environ key: what the middleware read, for Flask
PERMISSION = "documents:read"
# The canonical (lower-case) UUID spelling only; any other id (which the route also takes) is Flask's to answer.
_PATH = re.compile(r"/documents/([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})/status")
_SAMPLE_PATH = "/documents/00000000-0000-0000-0000-000000000000/status"

StartResponse = Callable[..., Any]
WsgiApp = Callable[[dict, StartResponse], Iterable[bytes]]


@dataclass(frozen=True)
class Prefetched:
    """The poll's statement as the middleware ran it, for the request Flask answers instead."""

    digest: str
    document_id: str
    principal: Principal | None = None
    record: StatusRecord | None = None
    error: DatabaseError | None = None  # raised again in Flask, whose error handlers answer it (503)


def status_with_token(state, digest: str, view_args: dict) -> tuple[Principal | None, StatusRecord | None]:
    """The poll's token check and row (auth.authenticate_with): the middleware's result when it
    already ran the statement for this token and id, else the statement."""
    document_id = view_args["document_id"]
    prefetched = request.environ.get(PREFETCHED)
    if isinstance(prefetched, Prefetched) and prefetched.digest == digest and prefetched.document_id == document_id:
        if prefetched.error is not None:
            raise prefetched.error
        return prefetched.principal, prefetched.record
    return state.repo.authenticate_token_with_status(digest, document_id)


class StatusPollMiddleware:
    """`app.wsgi_app = StatusPollMiddleware(app, app.wsgi_app)`, after every hook is registered."""

    def __init__(self, app: Flask, wsgi_app: WsgiApp):
        self.app, self.wsgi_app = app, wsgi_app
        self.repo = app.extensions["invoice_scanner"].repo
        self.schema = StatusSchema()
        self.hook_headers = _after_request_headers(app, _SAMPLE_PATH)
        self.content_type = app.json.response({}).headers["Content-Type"]  # what flask-smorest's jsonify sets
        # The body is a function of the (frozen) record alone, and a client polls the same document
        # in the same state many times: its bytes are kept per record, per process.
        self._body = functools.lru_cache(maxsize=4096)(self._render)

    def __call__(self, environ: dict, start_response: StartResponse) -> Iterable[bytes]:
        if (environ.get("REQUEST_METHOD") != "GET" or environ.get("QUERY_STRING") or "HTTP_ORIGIN" in environ
                or environ.get("CONTENT_TYPE") or environ.get("CONTENT_LENGTH", "0") not in ("", "0")
                or "HTTP_TRANSFER_ENCODING" in environ):
            return self.wsgi_app(environ, start_response)
        match = _PATH.fullmatch(environ.get("PATH_INFO", ""))
        token = parse_bearer(environ.get("HTTP_AUTHORIZATION", "")) if match else None
        if token is None:
            return self.wsgi_app(environ, start_response)
        document_id, digest = match.group(1), token_digest(token)
        try:
            principal, record = self.repo.authenticate_token_with_status(digest, document_id)
        except DatabaseError as exc:  # the database unreachable: Flask's 503, without a second wait
            environ[PREFETCHED] = Prefetched(digest, document_id, error=exc)
            return self.wsgi_app(environ, start_response)
        if (principal is None or record is None or PERMISSION not in principal.permissions
                or not self._compact_json()):
            environ[PREFETCHED] = Prefetched(digest, document_id, principal, record)
            return self.wsgi_app(environ, start_response)
        body = self._body(record)
        start_response("200 OK", [
            ("Content-Type", self.content_type), ("Content-Length", str(len(body))),
            (requestlog.REQUEST_ID_HEADER, requestlog.request_id(environ.get("HTTP_X_REQUEST_ID", ""))),
            *self.hook_headers])
        return [body]

    def _render(self, record: StatusRecord) -> bytes:
        """The body as flask-smorest's jsonify writes it with the app's JSON provider, compact."""
        return f"{self.app.json.dumps(self.schema.dump(record), separators=(',', ':'))}\n".encode()

    def _compact_json(self) -> bool:
        """Whether Flask would write the body compact (DefaultJSONProvider.response); in debug
        mode it indents, and the poll is then Flask's to answer."""
        compact = getattr(self.app.json, "compact", None)
        return compact is True or (compact is None and not self.app.debug)


def _after_request_headers(app: Flask, path: str) -> list[tuple[str, str]]:
    """The headers the app's after-request hooks add to a plain GET of `path` (flask-cors's,
    which without an `Origin` header are the same on every response); `requestlog`'s
    `X-Request-ID` is per request and added by the middleware itself."""
    with app.test_request_context(path, method="GET"):
        plain = app.response_class()
        before = list(plain.headers)
        after = list(app.process_response(plain).headers)
    return [h for h in after if h not in before]
