"""Roles, permissions and token scopes: who may do what.

A user has one role; a role is a set of permissions. A token may carry scopes (a machine's
token: "upload only"); what a request may do is what both its user's role and its token's
scopes allow. A token without scopes (signed in with a password) has its role's permissions.
"""
from __future__ import annotations

from typing import Iterable

PERMISSIONS: tuple[str, ...] = (
    "documents:read",   # read documents, their history and audit log, vendors
    "documents:write",  # upload, retry
    "review",           # the review queue, claims, corrections
    "decide",           # approve / reject
    "stats",            # GET /stats
    "export",           # exports of approved documents
    "webhooks",         # manage webhooks
    "users",            # manage the company's users
    "mailboxes",        # manage the company's IMAP mailboxes (admins)
)
ROLES: tuple[str, ...] = ("admin", "reviewer", "uploader")
ROLE_PERMISSIONS: dict[str, frozenset[str]] = {
    "admin": frozenset(PERMISSIONS),
    "reviewer": frozenset({"documents:read", "documents:write", "review", "decide", "stats", "export"}),
    "uploader": frozenset({"documents:read", "documents:write"}),
}


def effective_permissions(role: str, scopes: Iterable[str] | None) -> frozenset[str]:
    allowed = ROLE_PERMISSIONS.get(role, frozenset())
    return allowed if scopes is None else allowed & frozenset(scopes)


def unknown_scopes(scopes: Iterable[str]) -> list[str]:
    return sorted(set(scopes) - set(PERMISSIONS))
