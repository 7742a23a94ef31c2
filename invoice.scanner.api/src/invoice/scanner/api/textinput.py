"""Text inputs PostgreSQL can store: a NUL character anywhere in a request is a 422.

PostgreSQL refuses NUL (U+0000) in `text` ("invalid byte sequence"), so an email, a search
term or a note holding one turned into a 500 at the first query (found by schemathesis on
`POST /auth/login`). One check for every endpoint, present and future, runs before any view
and any query: the query string, the path's parameters, a JSON body (every string and every
key, at any depth) and form fields. Its 422 has flask-smorest's shape, the location and field
named like a schema validation error: `{"errors": {"json": {"email": ["..."]}}}`.

A check here rather than a validator on each schema's fields: a schema added later without it
would bring the 500 back; this one cannot be forgotten. The OpenAPI document says the same:
`no_nul_pattern` gives every string field that a client sends a `pattern` excluding U+0000
(apispec attribute function, registered in `app.py`), so the document and the API agree.
A NUL in a path parameter names nothing: 404.
"""
from __future__ import annotations

from typing import Any, Iterator

from flask import request
from flask_smorest import abort
from marshmallow import fields

MESSAGE = "Must not contain a NUL character."
NO_NUL_PATTERN = "^[^\\u0000]*$"
_FORMATS_WITHOUT_NUL = {"uuid", "date", "date-time", "email", "byte", "binary"}


def no_nul_pattern(self, field: fields.Field, ret: dict, **kwargs) -> dict:
    """apispec attribute function: a client-sent string field may not contain U+0000."""
    if (not isinstance(field, fields.String) or field.dump_only or "pattern" in ret or "enum" in ret
            or ret.get("format") in _FORMATS_WITHOUT_NUL):
        return {}
    return {"pattern": NO_NUL_PATTERN}


def _nul_paths(value: Any, path: str = "") -> Iterator[str]:
    if isinstance(value, str):
        if "\x00" in value:
            yield path or "_body"
    elif isinstance(value, dict):
        for key, item in value.items():
            here = f"{path}.{key}" if path else str(key)
            if isinstance(key, str) and "\x00" in key:
                yield here
            yield from _nul_paths(item, here)
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from _nul_paths(item, f"{path}.{i}" if path else str(i))


def _multi(pairs) -> list[str]:
    return sorted({key for key, values in pairs for text in (key, *values) if "\x00" in text})


def reject_nul_characters() -> None:
    """before_request: 422 for a NUL character in any text the request carries."""
    errors: dict[str, dict[str, list[str]]] = {}
    if bad := _multi(request.args.lists()):
        errors["query"] = {key: [MESSAGE] for key in bad}
    if any(isinstance(v, str) and "\x00" in v for v in (request.view_args or {}).values()):
        abort(404, message="No such resource")
    if request.is_json:
        body = request.get_json(silent=True)  # malformed JSON is the schema's 400/422 to give
        if bad := sorted(set(_nul_paths(body))):
            errors["json"] = {key: [MESSAGE] for key in bad}
    elif request.mimetype in ("application/x-www-form-urlencoded", "multipart/form-data"):
        if bad := _multi(request.form.lists()):
            errors["form"] = {key: [MESSAGE] for key in bad}
    if errors:
        abort(422, message="Text must not contain NUL characters", errors=errors)
