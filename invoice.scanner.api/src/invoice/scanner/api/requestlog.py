"""Per-request log context: every log line written while a request is served carries its
`request_id` (the client's `X-Request-ID`, or a new one) and, on `/documents/<id>/...` routes,
the `document_id` (invoice.scanner.processing.logcontext). The response echoes `X-Request-ID`
so a client can quote it."""
from __future__ import annotations

import re
import uuid

from flask import Flask, Response, g, request

from invoice.scanner.processing import logcontext

REQUEST_ID_HEADER = "X-Request-ID"
# A client's id is kept if it is short and plain (it lands in log lines); otherwise a new one.
_CLIENT_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")


def request_id(client_id: str) -> str:
    """The id a request is known by: the client's `X-Request-ID` if plain, else a new one."""
    return client_id if _CLIENT_ID.fullmatch(client_id) else uuid.uuid4().hex


def _bind() -> None:
    g.request_id = request_id(request.headers.get(REQUEST_ID_HEADER, ""))
    document_id = (request.view_args or {}).get("document_id")
    g.log_context_token = logcontext.bind(request_id=g.request_id, document_id=document_id)


def _echo(response: Response) -> Response:
    request_id = g.get("request_id")
    if request_id:
        response.headers[REQUEST_ID_HEADER] = request_id
    return response


def _unbind(_exc: BaseException | None = None) -> None:
    token = g.pop("log_context_token", None)
    if token is not None:
        try:
            logcontext.reset(token)
        except ValueError:  # the request ended in another context than it began in
            pass


def init_app(app: Flask) -> None:
    # First of the before_request hooks, so authentication's log lines carry the ids too.
    app.before_request_funcs.setdefault(None, []).insert(0, _bind)
    app.after_request(_echo)
    app.teardown_request(_unbind)
