"""Mailboxes: a company's IMAP accounts, polled by the `mail` queue; each accepted attachment
becomes a document through the single upload's path (`source="mail"`).

A poll of one mailbox (one at a time per mailbox, across workers: a Redis lock): log in with
the password or, for `auth = xoauth2`, the OAuth2 access token by SASL XOAUTH2 (either decrypted
with MAIL_SECRET_KEY, a Fernet key, only in memory, never logged), select its folder, take the unseen messages (`BODY.PEEK[]`, so reading
does not mark them), and for each message not yet recorded (`mail_messages`, by Message-ID):
- a sender outside `allowed_senders` (addresses or `@domain`) is recorded, not imported;
- every attachment (also those inside a forwarded message) goes through `upload_document`;
  inline parts with a Content-ID (logos, signatures) and images under MAIL_MIN_IMAGE_BYTES are
  ignored by rule; a refused file is listed in the message's outcome with its code and reason;
- only after all its documents are committed is the message recorded, then marked read or moved
  (`after_import`). A worker dying mid-message leaves it unseen and unrecorded: the next poll
  takes it again, and what was already committed answers as a duplicate (content hash), so
  nothing is imported twice and nothing is lost.
Every poll is counted on the mailbox (`polls`, `poll_failures`, `last_error`, `last_success_at`),
so /metrics and /health see what every mail worker did. A connection the server drops mid-poll
is such a failure: what was committed before it stays, the rest is taken by the next poll
(`TRANSIENT_ERRORS` are retried soon by the task, ingest_tasks.py). Where the server offers
IDLE, mail_idle.py starts a poll as soon as a message arrives; the beat's polls stay the fallback.
"""
from __future__ import annotations

import email
import email.policy
import email.utils
import imaplib
import logging
import socket
import ssl
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
MAILBOX_COLUMNS = ("id, company_id, name, host, port, security, username, auth, folder, allowed_senders, "
                   "after_import, move_to, enabled, last_poll_at, last_success_at, last_error, polls, poll_failures, "
                   "idle, created_at")
POLL_LOCK = "invoice-scanner:mail:poll:"  # + mailbox id: one poll of a mailbox at a time
# The connection broke or timed out (the server dropped it, a network blip): worth a retry soon.
TRANSIENT_ERRORS: tuple[type[BaseException], ...] = (OSError, socket.timeout, imaplib.IMAP4.abort, ssl.SSLError)


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
        raise MailSecretMissing("the mailbox secret cannot be decrypted with MAIL_SECRET_KEY") from exc


class PollBusy(RuntimeError):
    """Another worker is polling this mailbox right now."""


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


def _renew(lock: Any, mailbox_id: Any) -> None:
    try:
        lock.reacquire()
    except Exception as exc:  # noqa: BLE001 - expired during a long message: the records still guard
        logger.warning("mail: the poll lock of mailbox %s expired during the poll: %s", mailbox_id, exc)


class MailIngest:
    def __init__(self, state: ApiState):
        self.state = state

    def mailboxes(self) -> list[dict[str, Any]]:
        with self.state.repo.tx() as cur:
            cur.execute(f"SELECT {MAILBOX_COLUMNS}, secret_encrypted FROM mailboxes WHERE enabled ORDER BY created_at")
            return cur.fetchall()

    def mailbox(self, mailbox_id: str) -> dict[str, Any] | None:
        """One enabled mailbox, or None (deleted or disabled since the poll was asked for)."""
        with self.state.repo.tx() as cur:
            cur.execute(f"SELECT {MAILBOX_COLUMNS}, secret_encrypted FROM mailboxes WHERE enabled AND id = %s",
                        (str(mailbox_id),))
            return cur.fetchone()

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

    def connect(self, box: dict[str, Any], timeout: float | None = None) -> IMAPClient:
        """A logged-in client: password LOGIN, or SASL XOAUTH2 with the stored access token."""
        client = IMAPClient(box["host"], port=box["port"], ssl=box["security"] == "ssl",
                            timeout=timeout or self.state.config.mail_timeout_s)
        try:
            if box["security"] == "starttls":
                client.starttls()
            secret = decrypt(self.state.config.mail_secret_key, box["secret_encrypted"])
            if box.get("auth") == "xoauth2":
                client.oauth2_login(box["username"], secret)
            else:
                client.login(box["username"], secret)
        except BaseException:
            client.shutdown()
            raise
        return client

    def poll(self, box: dict[str, Any]) -> list[MessageResult]:
        """One poll; raises PollBusy when another worker holds this mailbox's lock past a short wait.
        The lock expires MAIL_POLL_LOCK_S after the last message done (a dead worker's with it);
        should two polls ever overlap, the Message-ID record and the content hash still keep
        every document once."""
        lock = self.state.redis.lock(POLL_LOCK + str(box["id"]), timeout=self.state.config.mail_poll_lock_s,
                                     blocking_timeout=min(10.0, self.state.config.mail_poll_lock_s))
        if not lock.acquire():
            raise PollBusy(f"mailbox {box['id']} is being polled by another worker")
        try:
            return self._poll(box, lambda: _renew(lock, box["id"]))
        finally:
            try:
                lock.release()
            except Exception as exc:  # noqa: BLE001 - expired (a poll longer than the lock): nothing to free
                logger.warning("mail: the poll lock of mailbox %s had expired: %s", box["id"], exc)

    def _poll(self, box: dict[str, Any], still_mine: Any = lambda: None) -> list[MessageResult]:
        results: list[MessageResult] = []
        idle: bool | None = None
        try:
            with self.connect(box) as client:
                idle = client.has_capability("IDLE")
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
                    still_mine()  # the lock's time starts again after each message
        except Exception as exc:  # noqa: BLE001 - any failure is the mailbox's state, logged without secrets
            error = f"{type(exc).__name__}: {exc}"[:500]
            logger.warning("mail: polling mailbox %s (%s@%s) failed: %s", box["id"], box["username"], box["host"],
                           error)
            self._record_poll(box["id"], error, idle)
            raise
        self._record_poll(box["id"], None, idle)
        return results

    def _record_poll(self, mailbox_id: Any, error: str | None, idle: bool | None) -> None:
        with self.state.repo.tx() as cur:
            cur.execute("UPDATE mailboxes SET last_poll_at = now(), last_error = %s, polls = polls + 1, "
                        "poll_failures = poll_failures + (CASE WHEN %s::text IS NULL THEN 0 ELSE 1 END), "
                        "idle = coalesce(%s, idle), "
                        "last_success_at = CASE WHEN %s::text IS NULL THEN now() ELSE last_success_at END WHERE id = %s",
                        (error, error, idle, error, str(mailbox_id)))

    def poll_all(self) -> dict[str, Any]:
        """Every enabled mailbox; a failure is `{"error": ..., "transient": bool}` for its id."""
        out: dict[str, Any] = {}
        for box in self.mailboxes():
            try:
                out[str(box["id"])] = [r.__dict__ for r in self.poll(box)]
            except PollBusy:
                out[str(box["id"])] = {"busy": True}  # the other worker's poll takes the new messages
            except Exception as exc:  # noqa: BLE001 - one broken mailbox does not stop the others
                out[str(box["id"])] = {"error": f"{type(exc).__name__}: {exc}"[:500],
                                       "transient": isinstance(exc, TRANSIENT_ERRORS)}
        return out
