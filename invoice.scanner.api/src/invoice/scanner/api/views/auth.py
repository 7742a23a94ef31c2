"""Login and logout."""
from __future__ import annotations

import logging

from flask import current_app, request
from flask.views import MethodView
from flask_smorest import Blueprint, abort

from invoice.scanner.api.auth import check_credentials, current_principal, issue_token
from invoice.scanner.api.schemas import LoginSchema, LogoutSchema, TokenSchema

logger = logging.getLogger(__name__)

blp = Blueprint("auth", __name__, url_prefix="/auth", description="Sign in and out (opaque bearer tokens)")


def _state():
    return current_app.extensions["invoice_scanner"]


@blp.route("/login")
class Login(MethodView):
    @blp.doc(security=[])
    @blp.arguments(LoginSchema)
    @blp.response(200, TokenSchema)
    @blp.alt_response(401, description="Wrong email or password")
    @blp.alt_response(429, description="Too many login attempts")
    def post(self, credentials):
        """Exchange an email and password for a bearer token."""
        state = _state()
        email = credentials["email"].strip()
        if not state.rate_limiter.allow(email, request.remote_addr or ""):
            logger.warning("login rate limit hit for %s from %s", email, request.remote_addr)
            abort(429, message="Too many login attempts; try again in a minute",
                  headers={"Retry-After": str(state.config.login_rate_window_s)})
        user = check_credentials(state.repo, email, credentials["password"])
        if user is None:
            abort(401, message="Wrong email or password")
        issued = issue_token(state.repo, user.id, state.config.token_ttl_s)
        logger.info("user %s signed in", user.id)
        return {"access_token": issued.access_token, "token_type": "Bearer", "expires_in": state.config.token_ttl_s}


@blp.route("/logout")
class Logout(MethodView):
    @blp.response(200, LogoutSchema)
    def post(self):
        """Revoke the bearer token this request carries."""
        principal = current_principal()
        _state().repo.revoke_token(principal.token_id)
        _state().token_cache.invalidate()  # every API process, at once
        logger.info("user %s signed out", principal.user_id)
        return {"message": "Token revoked"}
