"""Mailboxes: a company's IMAP accounts and their rules (admins; the `mailboxes` permission).
The secret (a password, or an OAuth2 access token for SASL XOAUTH2) is write-only: stored
Fernet-encrypted with MAIL_SECRET_KEY, never returned."""
from __future__ import annotations

import uuid

import marshmallow as ma
from flask import current_app
from flask.views import MethodView
from flask_smorest import Blueprint, abort

from invoice.scanner.api.auth import require_permission
from invoice.scanner.api.mail_ingest import MAILBOX_COLUMNS, MailSecretMissing, encrypt
from invoice.scanner.api.schemas import StrictBoolean, UtcDateTime

blp = Blueprint("mailboxes", __name__, url_prefix="/mailboxes",
                description="IMAP mailboxes polled for invoices (admins); the password or token is write-only")

NOT_FOUND = "Mailbox not found"


AUTHS = ["password", "xoauth2"]
SECRET_FIELDS = {"password": "password", "xoauth2": "access_token"}


class MailboxCreateSchema(ma.Schema):
    name = ma.fields.String(required=True, validate=ma.validate.Length(1, 200))
    host = ma.fields.String(required=True, validate=ma.validate.Length(1, 255))
    port = ma.fields.Integer(load_default=993, validate=ma.validate.Range(1, 65535))
    security = ma.fields.String(load_default="ssl", validate=ma.validate.OneOf(["ssl", "starttls", "none"]))
    username = ma.fields.String(required=True, validate=ma.validate.Length(1, 320))
    auth = ma.fields.String(load_default="password", validate=ma.validate.OneOf(AUTHS), metadata={
        "description": "`password`: IMAP LOGIN with `password`; `xoauth2`: SASL XOAUTH2 with `access_token` "
                       "(an OAuth2 access token obtained elsewhere; replace it with PATCH before it expires)"})
    password = ma.fields.String(load_only=True, validate=ma.validate.Length(1, 4096), metadata={
        "description": "Required when `auth` is `password`. Stored encrypted (MAIL_SECRET_KEY); never returned"})
    access_token = ma.fields.String(load_only=True, validate=ma.validate.Length(1, 8192), metadata={
        "description": "Required when `auth` is `xoauth2`. Stored encrypted (MAIL_SECRET_KEY); never returned"})
    folder = ma.fields.String(load_default="INBOX", validate=ma.validate.Length(1, 255))
    allowed_senders = ma.fields.List(ma.fields.String(validate=ma.validate.Length(1, 320)), load_default=list,
                                     metadata={"description": "Addresses or @domains; empty: anyone"})
    after_import = ma.fields.String(load_default="mark_read", validate=ma.validate.OneOf(["mark_read", "move"]))
    move_to = ma.fields.String(load_default=None, allow_none=True, validate=ma.validate.Length(1, 255),
                               metadata={"description": "The folder to move imported messages to: "
                                                        "required when `after_import` is `move` (422 otherwise)"})
    enabled = StrictBoolean(load_default=True)

    @ma.validates_schema
    def _move_needs_folder(self, data, **kwargs):
        if data.get("after_import") == "move" and not data.get("move_to"):
            raise ma.ValidationError("required when after_import is move", "move_to")

    @ma.validates_schema
    def _secret_of_its_auth(self, data, **kwargs):
        needed = SECRET_FIELDS[data.get("auth", "password")]
        if not data.get(needed):
            raise ma.ValidationError(f"required when auth is {data.get('auth', 'password')}", needed)


class MailboxUpdateSchema(ma.Schema):
    """Any subset of the fields; a new secret replaces the stored one (a token rotated, say)."""
    name = ma.fields.String(validate=ma.validate.Length(1, 200))
    host = ma.fields.String(validate=ma.validate.Length(1, 255))
    port = ma.fields.Integer(validate=ma.validate.Range(1, 65535))
    security = ma.fields.String(validate=ma.validate.OneOf(["ssl", "starttls", "none"]))
    username = ma.fields.String(validate=ma.validate.Length(1, 320))
    auth = ma.fields.String(validate=ma.validate.OneOf(AUTHS), metadata={
        "description": "Changing it needs the new kind's secret (`password` or `access_token`) too (422 otherwise)"})
    password = ma.fields.String(load_only=True, validate=ma.validate.Length(1, 4096))
    access_token = ma.fields.String(load_only=True, validate=ma.validate.Length(1, 8192))
    folder = ma.fields.String(validate=ma.validate.Length(1, 255))
    allowed_senders = ma.fields.List(ma.fields.String(validate=ma.validate.Length(1, 320)))
    after_import = ma.fields.String(validate=ma.validate.OneOf(["mark_read", "move"]))
    move_to = ma.fields.String(allow_none=True, validate=ma.validate.Length(1, 255))
    enabled = StrictBoolean()

    @ma.validates_schema
    def _one_secret(self, data, **kwargs):
        if not data:  # also a missing body: the request body is required
            raise ma.ValidationError("give at least one field to change", "name")
        if data.get("password") and data.get("access_token"):
            raise ma.ValidationError("give password or access_token, not both", "access_token")
        if "auth" in data and not data.get(SECRET_FIELDS[data["auth"]]):
            raise ma.ValidationError(f"required when auth changes to {data['auth']}", SECRET_FIELDS[data["auth"]])


class MailboxSchema(ma.Schema):
    id = ma.fields.UUID()
    name = ma.fields.String()
    host = ma.fields.String()
    port = ma.fields.Integer()
    security = ma.fields.String()
    username = ma.fields.String()
    auth = ma.fields.String(metadata={"description": "password | xoauth2"})
    folder = ma.fields.String()
    allowed_senders = ma.fields.List(ma.fields.String())
    after_import = ma.fields.String()
    move_to = ma.fields.String(allow_none=True)
    enabled = ma.fields.Boolean()
    last_poll_at = UtcDateTime(allow_none=True)
    last_success_at = UtcDateTime(allow_none=True)
    last_error = ma.fields.String(allow_none=True)
    polls = ma.fields.Integer(metadata={"description": "Polls of this mailbox so far, by every mail worker"})
    poll_failures = ma.fields.Integer(metadata={"description": "Of those, the ones that failed"})
    idle = ma.fields.Boolean(allow_none=True, metadata={
        "description": "Whether the server offered IMAP IDLE at the last poll (new mail then polled at once); "
                       "null before the first poll"})
    created_at = UtcDateTime()


class MailboxListSchema(ma.Schema):
    mailboxes = ma.fields.List(ma.fields.Nested(MailboxSchema))


class MailMessageSchema(ma.Schema):
    message_id = ma.fields.String()
    sender = ma.fields.String(allow_none=True)
    subject = ma.fields.String(allow_none=True)
    received_at = UtcDateTime(allow_none=True)
    documents = ma.fields.Integer()
    outcome = ma.fields.List(ma.fields.Dict())
    reason = ma.fields.String(allow_none=True)
    processed_at = UtcDateTime()


class MailMessageListSchema(ma.Schema):
    messages = ma.fields.List(ma.fields.Nested(MailMessageSchema))


def _state():
    return current_app.extensions["invoice_scanner"]


def _encrypt(secret: str) -> str:
    try:
        return encrypt(_state().config.mail_secret_key, secret)
    except MailSecretMissing:
        abort(503, message="Mailboxes need MAIL_SECRET_KEY on the server (passwords and tokens are stored encrypted)")


UPDATABLE = ("name", "host", "port", "security", "username", "auth", "folder", "allowed_senders", "after_import",
             "move_to", "enabled")


def _get(company_id, mailbox_id: str):
    try:
        uuid.UUID(str(mailbox_id))
    except ValueError:
        abort(404, message=NOT_FOUND)
    with _state().repo.tx() as cur:
        cur.execute(f"SELECT {MAILBOX_COLUMNS} FROM mailboxes WHERE id = %s AND company_id = %s",
                    (str(mailbox_id), str(company_id)))
        row = cur.fetchone()
    if row is None:
        abort(404, message=NOT_FOUND)
    return row


@blp.route("")
class Mailboxes(MethodView):
    @blp.arguments(MailboxCreateSchema)
    @blp.response(201, MailboxSchema)
    @blp.alt_response(403, description="The caller lacks the 'mailboxes' permission")
    @blp.alt_response(503, description="MAIL_SECRET_KEY is not configured: passwords cannot be stored")
    def post(self, body):
        """Add a mailbox; the mail worker polls it from its next round."""
        principal = require_permission("mailboxes")
        secret = _encrypt(body[SECRET_FIELDS[body["auth"]]])
        with _state().repo.tx() as cur:
            cur.execute(
                f"""INSERT INTO mailboxes (id, company_id, name, host, port, security, username, auth,
                                           secret_encrypted, folder, allowed_senders, after_import, move_to, enabled)
                    VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s) RETURNING {MAILBOX_COLUMNS}""",
                (str(uuid.uuid4()), str(principal.company_id), body["name"], body["host"], body["port"],
                 body["security"], body["username"], body["auth"], secret, body["folder"], body["allowed_senders"],
                 body["after_import"], body["move_to"], body["enabled"]))
            return cur.fetchone()

    @blp.response(200, MailboxListSchema)
    def get(self):
        """The company's mailboxes, with when each was last polled and its last error."""
        principal = require_permission("mailboxes")
        with _state().repo.tx() as cur:
            cur.execute(f"SELECT {MAILBOX_COLUMNS} FROM mailboxes WHERE company_id = %s ORDER BY created_at",
                        (str(principal.company_id),))
            return {"mailboxes": cur.fetchall()}


@blp.route("/<mailbox_id>")
class Mailbox(MethodView):
    @blp.response(200, MailboxSchema)
    @blp.alt_response(404, description="No such mailbox in your company")
    def get(self, mailbox_id):
        """One mailbox (never its password)."""
        return _get(require_permission("mailboxes").company_id, mailbox_id)

    @blp.arguments(MailboxUpdateSchema)
    @blp.response(200, MailboxSchema)
    @blp.alt_response(404, description="No such mailbox in your company")
    @blp.alt_response(503, description="MAIL_SECRET_KEY is not configured: a new secret cannot be stored")
    def patch(self, body, mailbox_id):
        """Change a mailbox's account, rules or secret, or pause it (`enabled`); its next poll uses them."""
        company_id = require_permission("mailboxes").company_id
        current = _get(company_id, mailbox_id)
        merged = {**current, **{k: v for k, v in body.items() if k in UPDATABLE}}
        if merged["after_import"] == "move" and not merged.get("move_to"):
            abort(422, message="move_to is required when after_import is move",
                  errors={"json": {"move_to": ["required when after_import is move"]}})
        sets = {k: body[k] for k in UPDATABLE if k in body}
        secret = body.get("password") or body.get("access_token")
        if secret is not None:
            if SECRET_FIELDS[merged["auth"]] not in body:
                abort(422, message=f"this mailbox's auth is {merged['auth']}: give {SECRET_FIELDS[merged['auth']]}",
                      errors={"json": {SECRET_FIELDS[merged["auth"]]: [f"required for auth {merged['auth']}"]}})
            sets["secret_encrypted"] = _encrypt(secret)
        if sets:
            # A changed account starts over: its failure history was the old account's.
            account = {"host", "port", "security", "username", "auth", "secret_encrypted", "folder"} & set(sets)
            extra = ", last_error = NULL" if account else ""
            with _state().repo.tx() as cur:
                cur.execute(f"UPDATE mailboxes SET {', '.join(f'{k} = %s' for k in sets)}{extra} "
                            f"WHERE id = %s AND company_id = %s RETURNING {MAILBOX_COLUMNS}",
                            (*sets.values(), str(mailbox_id), str(company_id)))
                return cur.fetchone()
        return current

    @blp.response(204)
    @blp.alt_response(404, description="No such mailbox in your company")
    def delete(self, mailbox_id):
        """Stop polling it and forget its password; documents already imported stay."""
        company_id = require_permission("mailboxes").company_id
        _get(company_id, mailbox_id)
        with _state().repo.tx() as cur:
            cur.execute("DELETE FROM mailboxes WHERE id = %s AND company_id = %s", (str(mailbox_id), str(company_id)))


@blp.route("/<mailbox_id>/messages")
class MailboxMessages(MethodView):
    @blp.response(200, MailMessageListSchema)
    @blp.alt_response(404, description="No such mailbox in your company")
    def get(self, mailbox_id):
        """The messages imported or skipped, newest first, each with its attachments' outcomes."""
        company_id = require_permission("mailboxes").company_id
        _get(company_id, mailbox_id)
        with _state().repo.tx() as cur:
            cur.execute("SELECT message_id, sender, subject, received_at, documents, outcome, reason, processed_at "
                        "FROM mail_messages WHERE mailbox_id = %s ORDER BY processed_at DESC LIMIT 200",
                        (str(mailbox_id),))
            return {"messages": cur.fetchall()}
