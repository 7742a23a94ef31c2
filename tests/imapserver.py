"""Real mail servers for the mailbox tests, each in its own process or thread, on free ports:

- `ImapServer`: pymap's in-memory (dict) backend, as `pymap` runs it, with two switches pymap
  has no command-line flag for: SASL XOAUTH2 accepted beside LOGIN/PLAIN (pymap offers PLAIN
  and LOGIN only; pysasl, which it authenticates with, ships the XOAUTH2 mechanism: the server
  here checks the bearer token against the one it was started with, as a provider's IMAP
  server checks it against its OAuth2 issuer), and IDLE switched off (`idle=False`: a server
  without IDLE, for the polling fallback).
- `SmtpToImap`: an SMTP server (aiosmtpd) that delivers what it receives into the IMAP user's
  INBOX, as an MTA delivers to a mailbox: a supplier's mail sent with smtplib arrives by IMAP.
- `DroppingProxy`: a TCP proxy in front of the IMAP server that cuts the session (both sockets
  closed, no goodbye) when the client sends its n-th command of a kind: a server that drops
  the connection mid-session.

    python tests/imapserver.py --port N --user U --password P [--token T] [--no-idle]
"""
from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

from invoice.scanner.processing.devstack import free_port


def _serve(argv: list[str]) -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", required=True)
    parser.add_argument("--user", required=True)
    parser.add_argument("--password", required=True)
    parser.add_argument("--token", default="")
    parser.add_argument("--no-idle", action="store_true")
    args = parser.parse_args(argv)

    from pysasl import SASLAuth
    from pysasl.creds.external import ExternalCredentials

    import pymap.main
    from pymap.backend.dict import Identity, Login
    from pymap.config import IMAPConfig
    from pymap.exceptions import InvalidAuth

    IMAPConfig.tls_auth = property(lambda self: SASLAuth.named([b"PLAIN", b"LOGIN", b"XOAUTH2"]))
    if args.no_idle:  # the dict backend declares IDLE whatever `disable_idle` says
        from pymap.backend.dict import Config
        from pymap.config import BackendCapability

        Config.backend_capability = property(
            lambda self: BackendCapability(idle=False, object_id=True, multi_append=True))
    password_login = Login.authenticate

    async def authenticate(self, credentials):
        if isinstance(credentials, ExternalCredentials):  # SASL XOAUTH2: user= and auth=Bearer <token>
            if args.token and credentials.authzid == args.user and credentials._token == args.token:
                return Identity(credentials.authzid, self, None, frozenset())
            raise InvalidAuth()
        return await password_login(self, credentials)

    Login.authenticate = authenticate

    # Python 3.13's asyncio keeps only a weak reference to the task serving a connection that
    # asyncio.start_server accepted: a garbage collection while a client is idle destroyed its
    # pending task ("Task was destroyed but it is pending!") and cut the session. Held here.
    import asyncio

    from pymap.imap import IMAPServer

    serving: set[asyncio.Task] = set()
    serve_connection = IMAPServer.__call__

    async def held(self, reader, writer, sock_info):
        task = asyncio.current_task()
        serving.add(task)
        try:
            await serve_connection(self, reader, writer, sock_info)
        finally:
            serving.discard(task)

    IMAPServer.__call__ = held
    sys.argv = ["pymap", "--host", "127.0.0.1", "--port", args.port, "--no-tls", "dict",
                "--demo-user", args.user, "--demo-password", args.password]
    pymap.main.main()


def wait_port(port: int, timeout_s: float = 20.0, proc: subprocess.Popen | None = None) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"the IMAP server exited with {proc.returncode}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"nothing listens on port {port} after {timeout_s} s")


class ImapServer:
    def __init__(self, user: str, password: str, token: str = "", idle: bool = True):
        self.user, self.password, self.token, self.idle = user, password, token, idle
        self.port = free_port()
        self.proc: subprocess.Popen | None = None

    def __enter__(self) -> "ImapServer":
        argv = [sys.executable, str(Path(__file__).resolve()), "--port", str(self.port), "--user", self.user,
                "--password", self.password, "--token", self.token, *([] if self.idle else ["--no-idle"])]
        self.proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_port(self.port, proc=self.proc)
        return self

    def __exit__(self, *exc) -> None:
        assert self.proc is not None
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)

    def client(self):
        from imapclient import IMAPClient

        client = IMAPClient("127.0.0.1", port=self.port, ssl=False, timeout=30)
        client.login(self.user, self.password)
        return client

    def deliver(self, raw: bytes, folder: str = "INBOX") -> None:
        with self.client() as client:
            client.append(folder, raw)


class SmtpToImap:
    """aiosmtpd on a free port; each message received is APPENDed to the IMAP user's INBOX."""

    def __init__(self, imap: ImapServer):
        self.imap = imap
        self.port = free_port()
        self.received: list[bytes] = []

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's handler name
        self.imap.deliver(envelope.original_content or envelope.content)
        self.received.append(envelope.original_content or envelope.content)
        return "250 Message accepted for delivery"

    def __enter__(self) -> "SmtpToImap":
        from aiosmtpd.controller import Controller

        self.controller = Controller(self, hostname="127.0.0.1", port=self.port)
        self.controller.start()
        return self

    def __exit__(self, *exc) -> None:
        self.controller.stop()

    def send(self, raw: bytes, sender: str, to: str) -> None:
        import smtplib

        # SMTP lines end in CRLF (smtplib converts only str messages, not bytes).
        raw = raw.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
        with smtplib.SMTP("127.0.0.1", self.port, timeout=30) as smtp:
            smtp.sendmail(sender, [to], raw)


class DroppingProxy:
    """127.0.0.1:<port> relays to the IMAP server; the session in which the client sends its
    `drop_at`-th command containing `command` (b" UID STORE ", say) is cut before that command
    reaches the server. Only the first such session is cut; later ones pass untouched."""

    def __init__(self, upstream_port: int, command: bytes, drop_at: int = 1):
        self.upstream_port, self.command, self.drop_at = upstream_port, command, drop_at
        self.port = free_port()
        self.dropped = threading.Event()
        self._listener = socket.create_server(("127.0.0.1", self.port))
        self._stop = threading.Event()

    def __enter__(self) -> "DroppingProxy":
        threading.Thread(target=self._accept, daemon=True).start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._listener.close()

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(("127.0.0.1", self.upstream_port))
            threading.Thread(target=self._pipe, args=(client, upstream, True), daemon=True).start()
            threading.Thread(target=self._pipe, args=(upstream, client, False), daemon=True).start()

    def _pipe(self, src: socket.socket, dst: socket.socket, from_client: bool) -> None:
        seen = 0
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                if from_client and not self.dropped.is_set():
                    seen += data.count(self.command)
                    if seen >= self.drop_at:
                        self.dropped.set()
                        break  # cut: the command never reaches the server
                dst.sendall(data)
        except OSError:
            pass
        for s in (src, dst):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            s.close()


if __name__ == "__main__":
    sys.path.insert(0, os.fspath(Path(__file__).resolve().parent))
    _serve(sys.argv[1:])
