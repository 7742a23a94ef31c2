"""Schemathesis hooks for `test_schemathesis.py`: every request carries a valid bearer token.

The token is issued straight from the database (as `invoice-scanner-admin create-token`
does), not through `POST /auth/login`, so the login rate limiter never stands in the way;
when an answer is 401 — the fuzzer called `POST /auth/logout` and revoked it, or
`PATCH /users/{id}` deactivated or demoted the fuzzing user itself — Schemathesis asks for a new
one (its default `retry_on=[401]`), and the user is made an active admin again first.
"""
from __future__ import annotations

import os

import schemathesis

from invoice.scanner.api.auth import issue_token
from invoice.scanner.api.repository import ApiRepository
from invoice.scanner.processing.db.connection import transaction


@schemathesis.auth()
class DatabaseToken:
    def __init__(self) -> None:
        self.repo = ApiRepository(os.environ["SCHEMATHESIS_DATABASE_URL"])
        self.user = self.repo.get_user_by_email(os.environ["SCHEMATHESIS_EMAIL"])

    def get(self, case, ctx):
        with transaction(os.environ["SCHEMATHESIS_DATABASE_URL"]) as cur:
            cur.execute("UPDATE users SET is_active = true, role = 'admin' WHERE id = %s", (self.user.id,))
        return issue_token(self.repo, self.user.id, 3600).access_token

    def set(self, case, data, ctx):
        case.headers = {**(case.headers or {}), "Authorization": f"Bearer {data}"}
