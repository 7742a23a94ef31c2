"""Mailboxes: a company's IMAP accounts, polled by the `mail` queue; each accepted attachment
becomes a document through the single upload's path (`source="mail"`).

A poll of one mailbox: log in (the password decrypted with MAIL_SECRET_KEY, a Fernet key, only
in memory, never logged), select its folder, take the unseen messages (`BODY.PEEK[]`, so reading
does not mark them), and for each message not yet recorded (`mail_messages`, by Message-ID):
- a sender outside `allowed_senders` (addresses or `@domain`) is recorded, not imported;
- every attachment (also those inside a forwarded message) goes through `upload_document`;
  inline parts with a Content-ID (logos, signatures) and images under MAIL_MIN_IMAGE_BYTES are
  ignored by rule; a refused file is listed in the message's outcome with its code and reason;
- only after all its documents are committed is the message recorded, then marked read or moved
  (`after_import`). A worker dying mid-message leaves it unseen and unrecorded: the next poll
  takes it again, and what was already committed answers as a duplicate (content hash), so
  nothing is imported twice and nothing is lost.
"""
from __future__ import annotations

import email
import email.policy
import email.utils
import logging
import uuid
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Any, Iterator

from cryptography.fernet import Fernet, InvalidToken
from imapclient import IMAPClient

from invoice.scanner.processing.db.connection import Json

from invoice.scanner.api.errors import DuplicateDocument, UploadRejected
from invoice.scanner.api.services import ApiState, upload_document
from invoice.scanner.api.uploads import sanitize_filename

logger = logging.getLogger(__name__)

MIN_IMAGE_BYTES = 8 * 1024  # a smaller image attachment is a logo or a signature, not an invoice
MAILBOX_COLUMNS = ("id, company_id, name, host, port, security, username, folder, allowed_senders, after_import, "
                   "move_to, enabled, last_poll_at, last_success_at, last_error, created_at")


class MailSecretMissing(RuntimeError):
    pass


def fernet(key: str) -> Fernet:
    if not key:
        raise MailSecretMissing("MAIL_SECRET_KEY is not set; generate one with "
                                "python -c 'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())'")
    return Fernet(key.encode())


def encrypt(key: str, secret: str) -> str:
    return fernet(key).encrypt(secret.encode()).decode()


def decrypt(key: str, token: str) -> str:
    try:
        return fernet(key).decrypt(token.encode()).decode()
    except InvalidToken as exc:
        raise MailSecretMissing("the mailbox password cannot be decrypted with MAIL_SECRET_KEY") from exc


def sender_allowed(sender: str, allowed: list[str]) -> bool:
    if not allowed:
        return True
    address = sender.lower()
    return any(address == rule.lower() or (rule.startswith("@") and address.endswith(rule.lower())) for rule in allowed)


def attachments(msg: EmailMessage) -> Iterator[tuple[str, bytes, str]]:
    """(file name, bytes, content type) of each attachment, forwarded messages included."""
    for part in msg.walk():
        if part.is_multipart():
            continue
        filename = part.get_filename()
        disposition = part.get_content_disposition()
        if filename is None and disposition != "attachment":
            continue  # body text
        if disposition == "inline" and part.get("Content-ID"):
            continue  # an image shown in the body (logo, signature)
        data = part.get_payload(decode=True) or b""
        if part.get_content_maintype() == "image" and len(data) < MIN_IMAGE_BYTES:
            continue
        yield sanitize_filename(filename or "attachment"), data, part.get_content_type()


@dataclass
class MessageResult:
    message_id: str
    documents: int
    outcome: list[dict[str, Any]]
    reason: str | None


class MailIngest:
    def __init__(self, state: ApiState):
        self.state = state

    def mailboxes(self) -> list[dict[str, Any]]:
        with self.state.repo.tx() as cur:
            cur.execute(f"SELECT {MAILBOX_COLUMNS}, secret_encrypted FROM mailboxes WHERE enabled ORDER BY created_at")
            return cur.fetchall()

    def recorded(self, mailbox_id: Any, message_id: str) -> bool:
        with self.state.repo.tx() as cur:
            cur.execute("SELECT 1 FROM mail_messages WHERE mailbox_id = %s AND message_id = %s",
                        (str(mailbox_id), message_id))
            return cur.fetchone() is not None

    def import_message(self, box: dict[str, Any], raw: bytes) -> MessageResult | None:
        msg = email.message_from_bytes(raw, policy=email.policy.default)
        message_id = (msg.get("Message-ID") or "").strip() or f"<no-id:{uuid.uuid5(uuid.NAMESPACE_OID, raw.hex()[:4096])}>"
        if self.recorded(box["id"], message_id):
            return None
        sender = email.utils.parseaddr(msg.get("From", ""))[1]
        subject = str(msg.get("Subject", ""))[:500]
        try:
            received = email.utils.parsedate_to_datetime(msg.get("Date")) if msg.get("Date") else None
        except (TypeError, ValueError):
            received = None
        outcome: list[dict[str, Any]] = []
        reason = None
        if not sender_allowed(sender, list(box["allowed_senders"] or [])):
            reason = f"sender {sender or '(none)'} is not allowed for this mailbox"
        else:
            for name, data, content_type in attachments(msg):
                detail = {"mailbox_id": str(box["id"]), "message_id": message_id, "sender": sender,
                          "subject": subject, "received_at": received.isoformat() if received else None,
                          "attachment": name}
                entry: dict[str, Any] = {"attachment": name, "content_type": content_type}
                try:
                    doc = upload_document(self.state, data, name, box["company_id"], None, source="mail",
                                          source_detail=detail).document
                    entry.update(code=201, document_id=str(doc.id))
                except DuplicateDocument as exc:
                    entry.update(code=409, reason="duplicate", document_id=exc.document_id)
                except UploadRejected as exc:
                    entry.update(code=exc.http_status, reason=exc.reason, message=exc.message)
                outcome.append(entry)
            if not any(e["code"] in (201, 409) for e in outcome):
                reason = "no usable attachment" + (
                    f" ({', '.join(e['attachment'] + ': ' + str(e.get('reason')) for e in outcome)})" if outcome else "")
        accepted = sum(1 for e in outcome if e["code"] in (201, 409))
        # Recorded only now: every document of the message is committed.
        with self.state.repo.tx() as cur:
            cur.execute("INSERT INTO mail_messages (mailbox_id, message_id, sender, subject, received_at, documents, "
                        "outcome, reason) VALUES (%s, %s, %s, %s, %s, %s, %s, %s) ON CONFLICT DO NOTHING",
                        (str(box["id"]), message_id, sender, subject, received, accepted, Json(outcome), reason))
        logger.info("mail: mailbox %s message %s from %s: %d document(s)%s", box["id"], message_id, sender, accepted,
                    f" ({reason})" if reason else "")
        return MessageResult(message_id, accepted, outcome, reason)

    def _connect(self, box: dict[str, Any]) -> IMAPClient:
        timeout = self.state.config.mail_timeout_s
        client = IMAPClient(box["host"], port=box["port"], ssl=box["security"] == "ssl", timeout=timeout)
        if box["security"] == "starttls":
            client.starttls()
        client.login(box["username"], decrypt(self.state.config.mail_secret_key, box["secret_encrypted"]))
        return client

    def poll(self, box: dict[str, Any]) -> list[MessageResult]:
        results: list[MessageResult] = []
        try:
            with self._connect(box) as client:
                client.select_folder(box["folder"])
                for uid in client.search(["UNSEEN"]):
                    raw = client.fetch([uid], ["BODY.PEEK[]"])[uid][b"BODY[]"]
                    result = self.import_message(box, raw)
                    if result is not None:
                        results.append(result)
                    # Done (now or on an earlier poll that died before this step): mark or move.
                    if box["after_import"] == "move" and box["move_to"]:
                        if not client.folder_exists(box["move_to"]):
                            client.create_folder(box["move_to"])
                        client.move([uid], box["move_to"])
                    else:
                        client.add_flags([uid], [b"\\Seen"])
        except Exception as exc:  # noqa: BLE001 - any failure is the mailbox's state, logged without secrets
            error = f"{type(exc).__name__}: {exc}"[:500]
            logger.warning("mail: polling mailbox %s (%s@%s) failed: %s", box["id"], box["username"], box["host"],
                           error)
            self._record_poll(box["id"], error)
            raise
        self._record_poll(box["id"], None)
        return results

    def _record_poll(self, mailbox_id: Any, error: str | None) -> None:
        with self.state.repo.tx() as cur:
            cur.execute("UPDATE mailboxes SET last_poll_at = now(), last_error = %s, "
                        "last_success_at = CASE WHEN %s::text IS NULL THEN now() ELSE last_success_at END WHERE id = %s",
                        (error, error, str(mailbox_id)))

    def poll_all(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for box in self.mailboxes():
            try:
                out[str(box["id"])] = [r.__dict__ for r in self.poll(box)]
            except Exception as exc:  # noqa: BLE001 - one broken mailbox does not stop the others
                out[str(box["id"])] = {"error": f"{type(exc).__name__}: {exc}"[:500]}
        return out
