"""The signature every webhook request carries, Stripe-style:

    Invoice-Scanner-Signature: t=1733049296,v1=5257a869e7ecebeda32affa62cdca3fa51cad7e77a0e56ff536d0ce8e108d8bd

`v1` is the hex HMAC-SHA256, keyed with the subscription's secret, of `"<t>.<raw body>"`.
The timestamp is inside what is signed, so a captured request cannot be replayed after the
receiver's tolerance window (`DEFAULT_TOLERANCE_S`, 5 minutes) with a new timestamp.
"""
from __future__ import annotations

import hashlib
import hmac
import secrets
import time

SIGNATURE_HEADER = "Invoice-Scanner-Signature"
EVENT_HEADER = "Invoice-Scanner-Event"
EVENT_ID_HEADER = "Invoice-Scanner-Event-Id"
DELIVERY_HEADER = "Invoice-Scanner-Delivery"
DEFAULT_TOLERANCE_S = 300
SECRET_PREFIX = "whsec_"


class SignatureError(ValueError):
    """The signature header is missing, malformed, wrong or outside the tolerance window."""


def new_secret() -> str:
    return SECRET_PREFIX + secrets.token_urlsafe(32)


def compute(secret: str, timestamp: int, body: bytes) -> str:
    return hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()


def sign(secret: str, body: bytes, timestamp: int | None = None) -> str:
    """The header value for `body`, signed now (or at `timestamp`)."""
    t = int(time.time()) if timestamp is None else int(timestamp)
    return f"t={t},v1={compute(secret, t, body)}"


def verify(secret: str, body: bytes, header: str | None, tolerance_s: int = DEFAULT_TOLERANCE_S,
           now: float | None = None) -> int:
    """Check a received request; returns its timestamp or raises `SignatureError`.

    Several `v1=` values may be present (while a secret is being rotated); one must match.
    """
    if not header:
        raise SignatureError("no signature header")
    timestamp: int | None = None
    candidates: list[str] = []
    for part in header.split(","):
        key, _, value = part.strip().partition("=")
        if key == "t":
            try:
                timestamp = int(value)
            except ValueError:
                raise SignatureError("timestamp is not an integer") from None
        elif key == "v1":
            candidates.append(value)
    if timestamp is None or not candidates:
        raise SignatureError("signature header lacks t= or v1=")
    current = time.time() if now is None else now
    if abs(current - timestamp) > tolerance_s:
        raise SignatureError(f"timestamp outside the tolerance window of {tolerance_s}s")
    expected = compute(secret, timestamp, body)
    if not any(hmac.compare_digest(expected, c) for c in candidates):
        raise SignatureError("no signature matches")
    return timestamp
