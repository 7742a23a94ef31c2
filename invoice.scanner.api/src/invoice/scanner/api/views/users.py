"""Who am I, and the company's users (admins only)."""
from __future__ import annotations

import logging

from flask import current_app
from flask.views import MethodView
from flask_smorest import Blueprint, abort

from invoice.scanner.processing.db.connection import UniqueViolation
from invoice.scanner.processing.db.review import record_audit

from invoice.scanner.api.auth import current_principal, hash_password, require_permission
from invoice.scanner.api.review_repository import LastAdmin, UserNotFound
from invoice.scanner.api.review_schemas import MeSchema, NewUserSchema, UserListSchema, UserSchema, UserUpdateSchema
from invoice.scanner.api.review_service import review_repo

logger = logging.getLogger(__name__)

blp = Blueprint("users", __name__, description="Users and roles (admin, reviewer, uploader)")


def _state():
    return current_app.extensions["invoice_scanner"]


@blp.route("/auth/me")
class Me(MethodView):
    @blp.response(200, MeSchema)
    def get(self):
        """The signed-in user, its role and what this token may do."""
        p = current_principal()
        return {"user_id": p.user_id, "email": p.email, "company_id": p.company_id, "role": p.role,
                "permissions": sorted(p.permissions), "token_scopes": list(p.scopes) if p.scopes is not None else None}


@blp.route("/users")
class Users(MethodView):
    @blp.response(200, UserListSchema)
    def get(self):
        """The company's users."""
        principal = require_permission("users")
        return {"users": review_repo(_state()).list_users(principal.company_id)}

    @blp.arguments(NewUserSchema)
    @blp.response(201, UserSchema)
    @blp.alt_response(409, description="The email is taken")
    def post(self, data):
        """Add a user to the company with a role."""
        principal = require_permission("users")
        state = _state()
        try:
            user = state.repo.create_user(principal.company_id, data["email"].strip(), hash_password(data["password"]),
                                          role=data["role"])
        except UniqueViolation:
            abort(409, message="A user with this email already exists")
        with review_repo(state).tx() as cur:
            record_audit(cur, principal.company_id, None, principal.user_id, "user_create", field=str(user.id),
                         after={"email": user.email, "role": user.role})
        logger.info("user %s created with role %s by %s", user.id, user.role, principal.user_id)
        return next(u for u in review_repo(state).list_users(principal.company_id) if u.id == user.id)


@blp.route("/users/<user_id>")
class UserView(MethodView):
    @blp.arguments(UserUpdateSchema)
    @blp.response(200, UserSchema)
    @blp.alt_response(404, description="No such user in your company")
    @blp.alt_response(409, description="The company would be left without an active admin")
    def patch(self, data, user_id):
        """Change a user's role or deactivate it."""
        principal = require_permission("users")
        try:
            user = review_repo(_state()).update_user(principal.company_id, user_id, principal.user_id,
                                                     data.get("role"), data.get("is_active"))
        except UserNotFound:
            abort(404, message="User not found")
        except LastAdmin:
            abort(409, message="The company must keep at least one active admin")
        _state().token_cache.invalidate()  # a new role or a deactivation applies to the next request
        return user
