"""Mailboxes: a company's IMAP accounts and their rules (admins; the `mailboxes` permission)."""
from __future__ import annotations

import uuid

import marshmallow as ma
from flask import current_app
from flask.views import MethodView
from flask_smorest import Blueprint, abort

from invoice.scanner.api.auth import require_permission
from invoice.scanner.api.mail_ingest import MAILBOX_COLUMNS, MailSecretMissing, encrypt
from invoice.scanner.api.schemas import UtcDateTime

blp = Blueprint("mailboxes", __name__, url_prefix="/mailboxes",
                description="IMAP mailboxes polled for invoices (admins); the password is write-only")

NOT_FOUND = "Mailbox not found"


class MailboxCreateSchema(ma.Schema):
    name = ma.fields.String(required=True, validate=ma.validate.Length(1, 200))
    host = ma.fields.String(required=True, validate=ma.validate.Length(1, 255))
    port = ma.fields.Integer(load_default=993, validate=ma.validate.Range(1, 65535))
    security = ma.fields.String(load_default="ssl", validate=ma.validate.OneOf(["ssl", "starttls", "none"]))
    username = ma.fields.String(required=True, validate=ma.validate.Length(1, 320))
    password = ma.fields.String(required=True, load_only=True, validate=ma.validate.Length(1, 4096),
                                metadata={"description": "Stored encrypted (MAIL_SECRET_KEY); never returned"})
    folder = ma.fields.String(load_default="INBOX", validate=ma.validate.Length(1, 255))
    allowed_senders = ma.fields.List(ma.fields.String(validate=ma.validate.Length(1, 320)), load_default=list,
                                     metadata={"description": "Addresses or @domains; empty: anyone"})
    after_import = ma.fields.String(load_default="mark_read", validate=ma.validate.OneOf(["mark_read", "move"]))
    move_to = ma.fields.String(load_default=None, allow_none=True, validate=ma.validate.Length(1, 255),
                               metadata={"description": "The folder to move imported messages to: "
                                                        "required when `after_import` is `move` (422 otherwise)"})

    @ma.validates_schema
    def _move_needs_folder(self, data, **kwargs):
        if data.get("after_import") == "move" and not data.get("move_to"):
            raise ma.ValidationError("required when after_import is move", "move_to")


class MailboxSchema(ma.Schema):
    id = ma.fields.UUID()
    name = ma.fields.String()
    host = ma.fields.String()
    port = ma.fields.Integer()
    security = ma.fields.String()
    username = ma.fields.String()
    folder = ma.fields.String()
    allowed_senders = ma.fields.List(ma.fields.String())
    after_import = ma.fields.String()
    move_to = ma.fields.String(allow_none=True)
    enabled = ma.fields.Boolean()
    last_poll_at = UtcDateTime(allow_none=True)
    last_success_at = UtcDateTime(allow_none=True)
    last_error = ma.fields.String(allow_none=True)
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
        try:
            secret = encrypt(_state().config.mail_secret_key, body.pop("password"))
        except MailSecretMissing:
            abort(503, message="Mailboxes need MAIL_SECRET_KEY on the server (passwords are stored encrypted)")
        with _state().repo.tx() as cur:
            cur.execute(
                f"""INSERT INTO mailboxes (id, company_id, name, host, port, security, username, secret_encrypted,
                                           folder, allowed_senders, after_import, move_to)
                    VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s) RETURNING {MAILBOX_COLUMNS}""",
                (str(uuid.uuid4()), str(principal.company_id), body["name"], body["host"], body["port"],
                 body["security"], body["username"], secret, body["folder"], body["allowed_senders"],
                 body["after_import"], body["move_to"]))
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
