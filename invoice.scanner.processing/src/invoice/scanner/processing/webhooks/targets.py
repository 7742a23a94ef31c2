"""Which URLs a webhook may be sent to.

Only http(s). Unless `WEBHOOK_ALLOW_PRIVATE_TARGETS` is on, every address the host resolves
to must be a public one: a tenant must not make our workers POST to the cloud metadata
service, the database or anything else on the private network (SSRF). The check runs when
a subscription is created and again before each attempt (the name may resolve elsewhere
later).
"""
from __future__ import annotations

import ipaddress
import socket
from urllib.parse import urlsplit, urlunsplit


class InvalidTarget(ValueError):
    pass


def check_url(url: str, allow_private: bool) -> str:
    """The URL, if a webhook may be sent there; `InvalidTarget` with the reason otherwise."""
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https"):
        raise InvalidTarget("the URL must start with http:// or https://")
    if not parts.hostname:
        raise InvalidTarget("the URL has no host")
    if parts.fragment:
        raise InvalidTarget("the URL must not have a #fragment")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        raise InvalidTarget("the URL's port is not a number between 0 and 65535") from None
    if not allow_private:
        try:
            infos = socket.getaddrinfo(parts.hostname, port, type=socket.SOCK_STREAM)
        except (socket.gaierror, UnicodeError, ValueError):  # unknown name, or not a valid one (IDNA)
            raise InvalidTarget(f"the host {parts.hostname} does not resolve") from None
        for info in infos:
            address = ipaddress.ip_address(info[4][0].split("%")[0])
            if not address.is_global:
                raise InvalidTarget(f"the host {parts.hostname} resolves to a non-public address ({address}); "
                                    "set WEBHOOK_ALLOW_PRIVATE_TARGETS=true to allow it")
    return url.strip()


def redact(url: str) -> str:
    """The URL as logs may show it: no credentials, no query string (either may hold a token)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path, "", ""))
