"""Opaque bearer tokens and passwords.

A token is 32 random bytes shown to the client once; only its SHA-256 is stored, so a
leaked database does not leak usable tokens. Passwords use werkzeug's scrypt hashing.
"""
from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Callable

import redis
from cachetools import TLRUCache
from flask import current_app, g, request
from flask_smorest import abort
from limits import RateLimitItemPerSecond
from limits.errors import StorageError
from limits.storage import RedisStorage
from limits.strategies import MovingWindowRateLimiter
from werkzeug.security import check_password_hash, generate_password_hash

from invoice.scanner.api.repository import ApiRepository, Principal
from invoice.scanner.api.webapp import PUBLIC as WEBAPP_PUBLIC

logger = logging.getLogger(__name__)

# Endpoints anyone may call (the contract's list). Everything else needs a bearer token.
PUBLIC_ENDPOINTS = frozenset({
    "health.Health",
    "auth.Login",
    "api-docs.openapi_json",
    "api-docs.openapi_swagger_ui",
    "static",
}) | WEBAPP_PUBLIC  # the web client's files (it signs in by itself)
METRICS_ENDPOINT = "metrics.Metrics"

# Checked when the email is unknown, so a wrong email costs as long as a wrong password.
_DUMMY_HASH = generate_password_hash("not-a-real-password")


@dataclass(frozen=True)
class IssuedToken:
    access_token: str
    expires_at: datetime


def hash_password(password: str) -> str:
    return generate_password_hash(password)


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def issue_token(repo: ApiRepository, user_id, ttl_s: int, scopes: list[str] | None = None,
                name: str | None = None) -> IssuedToken:
    """A new token; `scopes` narrows it below its user's role (a machine's token)."""
    token = secrets.token_urlsafe(32)
    expires_at = repo.create_token(user_id, token_digest(token), ttl_s, scopes=scopes, name=name)
    return IssuedToken(token, expires_at)


def check_credentials(repo: ApiRepository, email: str, password: str):
    """The active user with this email and password, or None."""
    user = repo.get_user_by_email(email)
    if user is None:
        check_password_hash(_DUMMY_HASH, password)
        return None
    if not check_password_hash(user.password_hash, password) or not user.is_active:
        return None
    return user


def bearer_token() -> str | None:
    return parse_bearer(request.headers.get("Authorization", ""))


def parse_bearer(header: str) -> str | None:
    """The token of an `Authorization: Bearer <token>` header's value, or None."""
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


def current_principal() -> Principal:
    return g.principal


def require_permission(permission: str) -> Principal:
    """The caller, if its role and token scopes allow `permission`; else 403."""
    principal = current_principal()
    if permission not in principal.permissions:
        scopes = "" if principal.scopes is None else f", token scopes {', '.join(principal.scopes) or 'none'}"
        abort(403, message=f"This needs the '{permission}' permission (role {principal.role}{scopes})")
    return principal


def require_token() -> None:
    """`before_request` hook: every endpoint but the public ones needs a valid bearer token."""
    if request.method == "OPTIONS" or request.routing_exception is not None:
        return  # CORS preflight; unknown route or method (answered 404/405 by the router)
    if request.endpoint in PUBLIC_ENDPOINTS:
        return
    token = bearer_token()
    if token is None:
        abort(401, message="Missing bearer token: send 'Authorization: Bearer <token>'")
    config = current_app.extensions["invoice_scanner"].config
    if request.endpoint == METRICS_ENDPOINT and config.metrics_token:
        if not hmac.compare_digest(token, config.metrics_token):
            abort(401, message="Invalid metrics token")
        return
    state = current_app.extensions["invoice_scanner"]
    with_row = _TOKEN_WITH_ROW.get(request.endpoint)
    if with_row is not None:
        principal, g.preloaded = with_row(state, token_digest(token), request.view_args or {})
    else:
        principal = state.token_cache.principal(token_digest(token), state.repo.authenticate_token)
    if principal is None:
        abort(401, message="Invalid, expired or revoked token")
    g.principal = principal


# Endpoints whose token check is the same SQL statement that reads what they answer (the
# status poll): endpoint -> loader(api state, token digest, view args) -> (principal or None,
# the row or None). Their checks bypass the TokenCache: one round trip to PostgreSQL and none to
# Redis, and the database's answer is current, so a revocation (by the API or by hand) applies
# to the next request everywhere.
_TOKEN_WITH_ROW: dict[str, Callable[[object, str, dict], tuple[Principal | None, object]]] = {}


def authenticate_with(endpoint: str, loader: Callable[[object, str, dict], tuple[Principal | None, object]]) -> None:
    """`endpoint`'s token is checked by `loader`, which also reads the row its view answers
    with; the view finds that row in `preloaded()`."""
    _TOKEN_WITH_ROW[endpoint] = loader


def preloaded():
    """The row read with this request's token check (`authenticate_with`), None if none matched."""
    return g.preloaded


class TokenCache:
    """Principals of recently checked tokens, kept at most `ttl_s` seconds (and never past the
    token's expiry), so a client polling the status does not read the tokens table on every
    request.

    Revocation stays immediate in every API process: each request reads a generation counter
    from Redis (one GET, far cheaper than a database transaction) and a process whose counter
    changed drops everything it cached. Whatever revokes access through the API (logout, a
    user deactivated or given another role) calls `invalidate()`, which increments it. Changes
    made behind the API's back (SQL by hand) take effect within `ttl_s`. When Redis cannot be
    reached the cache is not used at all: every request asks the database, as without a cache.
    Failed look-ups are never cached.
    """

    GENERATION_KEY = "invoice-scanner:auth-generation"

    def __init__(self, client: redis.Redis, ttl_s: float, maxsize: int = 10_000):
        self.redis, self.ttl_s = client, ttl_s
        self._cache: TLRUCache = TLRUCache(maxsize, ttu=lambda _key, value, _now: value[1], timer=time.monotonic)
        self._generation: bytes | None = None
        self._lock = threading.Lock()

    def _current_generation(self) -> bytes | None:
        try:
            return self.redis.get(self.GENERATION_KEY) or b"0"
        except redis.RedisError as exc:
            logger.warning("token cache bypassed, Redis unreachable: %s", exc)
            return None

    def principal(self, digest: str, load: Callable[[str], Principal | None]) -> Principal | None:
        if self.ttl_s <= 0:
            return load(digest)
        generation = self._current_generation()
        if generation is None:
            return load(digest)
        with self._lock:
            if generation != self._generation:
                self._cache.clear()
                self._generation = generation
            hit = self._cache.get(digest)
        if hit is not None:
            return hit[0]
        principal = load(digest)
        if principal is not None:
            left = (principal.expires_at - datetime.now(timezone.utc)).total_seconds()
            until = time.monotonic() + min(self.ttl_s, left)
            with self._lock:
                if self._generation == generation:  # not invalidated while we were reading
                    self._cache[digest] = (principal, until)
        return principal

    def invalidate(self) -> None:
        """Every API process forgets every cached token (call after revoking anything)."""
        with self._lock:
            self._cache.clear()
            self._generation = None
        try:
            self.redis.incr(self.GENERATION_KEY)
        except redis.RedisError as exc:
            # The database already says revoked; other processes may answer from their cache
            # for up to ttl_s. Loud, because that is the one case revocation is not immediate.
            logger.error("token revocation not broadcast, Redis unreachable (other API processes may accept "
                         "the token for up to %ss): %s", self.ttl_s, exc)


class LoginRateLimiter:
    """At most `limit` login attempts per email and client address in any `window_s` seconds:
    a moving window (`limits`, as pypi/warehouse does) in Redis, so a burst across a window
    boundary is not let through twice. Shared by every API replica. When Redis cannot be
    reached, logins are let through: the broker being down must not lock every user out.
    """

    def __init__(self, client: redis.Redis, limit: int, window_s: int):
        self.limit = limit
        self.window_s = window_s
        self.item = RateLimitItemPerSecond(limit, window_s, namespace="login-attempts")
        # The API's own Redis connection pool (its timeouts included); the URI only names the kind.
        storage = RedisStorage("redis://", connection_pool=client.connection_pool, wrap_exceptions=True,
                               key_prefix="invoice-scanner")
        self.limiter = MovingWindowRateLimiter(storage)

    def allow(self, email: str, address: str) -> bool:
        key = hashlib.sha256(f"{email.lower()}|{address}".encode()).hexdigest()
        try:
            return self.limiter.hit(self.item, key)
        except StorageError as exc:
            logger.warning("login rate limit not applied, Redis unreachable: %s", exc)
            return True
