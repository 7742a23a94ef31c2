"""`invoice-scanner`: the command line for people at a terminal, against any deployment.

    invoice-scanner login --url https://invoices.example.com --email me@acme.test
    invoice-scanner submit scans/*.pdf          # a live progress bar per document
    invoice-scanner watch <document id>
    invoice-scanner review list
    invoice-scanner export --format csv --from 2026-11-01 --to 2026-11-30
    IMAP_PW=... invoice-scanner mailboxes add --name AP --host imap.example.com --username ap@acme.test \
        --password-env IMAP_PW --allow @supplier.test      # then: mailboxes list | edit | messages | remove

Where it connects: `--url` / `--token`, else the environment (`INVOICE_SCANNER_URL`,
`INVOICE_SCANNER_TOKEN`), else the file `login` wrote (`INVOICE_SCANNER_CONFIG`, by default
`config.json` in the user's config folder, readable by its owner only). It speaks only HTTP:
nothing here needs the database or the broker.
"""
from __future__ import annotations

import json
import os
import re
import sys
import time
from dataclasses import dataclass
from datetime import date
from enum import Enum
from pathlib import Path
from typing import Any, Iterable, NoReturn, Optional

import requests
import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TransferSpeedColumn,
)
from rich.table import Table

from invoice.scanner.processing.status import ERROR_STATUSES, TERMINAL_STATUSES

APP_NAME = "invoice-scanner"
CONFIG_ENV = "INVOICE_SCANNER_CONFIG"
URL_ENV = "INVOICE_SCANNER_URL"
TOKEN_ENV = "INVOICE_SCANNER_TOKEN"
TERMINAL = {s.value for s in TERMINAL_STATUSES} | {"rejected"}
FAILED = {s.value for s in ERROR_STATUSES} | {"rejected"}
POLL_S = 0.5

app = typer.Typer(name=APP_NAME, help="Invoice Scanner from a terminal: submit, follow, review, export, mailboxes.",
                  no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False)
review_app = typer.Typer(help="The review queue.", no_args_is_help=True)
app.add_typer(review_app, name="review")
mailboxes_app = typer.Typer(help="The company's IMAP mailboxes (admins).", no_args_is_help=True)
app.add_typer(mailboxes_app, name="mailboxes")
console = Console()
errors = Console(stderr=True)


# -- where and who -------------------------------------------------------------------------

def config_path() -> Path:
    return Path(os.environ.get(CONFIG_ENV) or Path(typer.get_app_dir(APP_NAME)) / "config.json")


def read_config() -> dict[str, str]:
    try:
        return json.loads(config_path().read_text())
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        fail(f"cannot read {config_path()}: {exc}")


def write_config(values: dict[str, str]) -> Path:
    """The token is a credential: the file is created readable and writable by its owner only."""
    path = config_path()
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump(values, f, indent=2)
    os.chmod(path, 0o600)  # an older file keeps its mode through O_CREAT
    return path


def fail(message: str) -> NoReturn:
    """Print `error: <message>` on stderr and end with exit code 1."""
    errors.print(f"[red]error:[/red] {message}", markup=True, highlight=False, soft_wrap=True)
    raise typer.Exit(1)


@dataclass
class Client:
    url: str
    token: str | None
    timeout_s: float = 30.0

    def __post_init__(self) -> None:
        self.url = self.url.rstrip("/")
        self.session = requests.Session()
        self.session.headers["User-Agent"] = f"{APP_NAME}-cli"
        if self.token:
            self.session.headers["Authorization"] = f"Bearer {self.token}"

    def request(self, method: str, path: str, ok: Iterable[int] = (200,), **kwargs) -> requests.Response:
        try:
            resp = self.session.request(method, self.url + path, timeout=kwargs.pop("timeout", self.timeout_s),
                                        **kwargs)
        except requests.RequestException as exc:
            fail(f"cannot reach {self.url}: {type(exc).__name__}")
        if resp.status_code not in ok:
            fail(describe_error(resp))
        return resp

    def json(self, method: str, path: str, **kwargs) -> Any:
        return self.request(method, path, **kwargs).json()


def describe_error(resp: requests.Response) -> str:
    try:
        body = resp.json()
    except ValueError:
        body = {}
    message = body.get("message") or resp.reason or "request failed"
    if resp.status_code == 401:
        message += f" (sign in again: {APP_NAME} login)"
    if body.get("errors"):
        message += " " + json.dumps(body["errors"])
    return f"HTTP {resp.status_code}: {message}"


@dataclass
class Target:
    url: str | None
    token: str | None


def client(ctx: typer.Context) -> Client:
    target: Target = ctx.obj
    saved = read_config()
    url = target.url or saved.get("url")
    token = target.token or saved.get("token")
    if not url or not token:
        fail(f"not signed in: run `{APP_NAME} login --url <API URL>` or set {URL_ENV} and {TOKEN_ENV}")
    return Client(url, token)


@app.callback()
def main(ctx: typer.Context,
         url: Optional[str] = typer.Option(None, "--url", envvar=URL_ENV, help="API base URL"),
         token: Optional[str] = typer.Option(None, "--token", envvar=TOKEN_ENV, help="bearer token")) -> None:
    ctx.obj = Target(url, token)


# -- login ---------------------------------------------------------------------------------

@app.command()
def login(ctx: typer.Context,
          email: Optional[str] = typer.Option(None, help="sign in with email and password"),
          password: Optional[str] = typer.Option(None, help="prompted for when not given"),
          ) -> None:
    """Sign in and remember the API URL and token (file readable by you only)."""
    target: Target = ctx.obj
    url = target.url or read_config().get("url")
    if not url:
        url = typer.prompt("API URL")
    api = Client(url, None)
    if target.token and not email:
        token = target.token
    else:
        email = email or typer.prompt("Email")
        password = password or typer.prompt("Password", hide_input=True)
        token = api.json("POST", "/auth/login", json={"email": email, "password": password})["access_token"]
    me = Client(url, token).json("GET", "/auth/me")  # the token works, and says whose it is
    path = write_config({"url": api.url, "token": token})
    console.print(f"signed in to {api.url} as {me.get('email')} ({me.get('role')}); token saved in {path}")


# -- following documents -------------------------------------------------------------------

def _progress() -> Progress:
    return Progress(TextColumn("{task.description}", style="bold"), BarColumn(), TextColumn("{task.percentage:>3.0f}%"),
                    TextColumn("{task.fields[status]}"), TimeElapsedColumn(), console=console, transient=False)


def follow(api: Client, documents: dict[str, str], timeout_s: float) -> dict[str, dict]:
    """Poll each document's status until it is terminal, one progress bar each."""
    final: dict[str, dict] = {}
    deadline = time.monotonic() + timeout_s
    with _progress() as progress:
        tasks: dict[str, TaskID] = {doc_id: progress.add_task(label, total=100, status="queued")
                                    for doc_id, label in documents.items()}
        while len(final) < len(documents):
            for doc_id, task in tasks.items():
                if doc_id in final:
                    continue
                body = api.json("GET", f"/documents/{doc_id}/status")
                status = body["status"]
                style = "red" if status in FAILED else "green" if status == "approved" else "yellow" \
                    if status in TERMINAL else ""
                progress.update(task, completed=body["progress"]["percentage"],
                                status=f"[{style}]{status}[/{style}]" if style else status)
                if status in TERMINAL:
                    final[doc_id] = body
            if len(final) < len(documents):
                if time.monotonic() > deadline:
                    fail(f"{len(documents) - len(final)} document(s) not finished after {timeout_s:.0f}s")
                time.sleep(POLL_S)
    return final


def _summary(final: dict[str, dict], labels: dict[str, str]) -> int:
    table = Table("document", "file", "status", "quality", "error")
    for doc_id, body in final.items():
        quality = body.get("quality_score")
        table.add_row(doc_id, labels[doc_id], body["status"], f"{quality:.2f}" if quality is not None else "",
                      body.get("error") or "")
    console.print(table)
    return 1 if any(b["status"] in FAILED for b in final.values()) else 0


BATCH_CHUNK = 100  # files per POST /documents/batch when submitting a folder


def _is_zip(path: Path) -> bool:
    with path.open("rb") as f:
        return f.read(4) in (b"PK\x03\x04", b"PK\x05\x06")


def _folder_files(folder: Path) -> list[Path]:
    """Every file under the folder, in name order, but hidden ones (and those in hidden folders)."""
    return sorted(p for p in folder.rglob("*")
                  if p.is_file() and not any(part.startswith(".") for part in p.relative_to(folder).parts))


def _submit_batch(api: Client, parts: list[tuple[str, Path]], labels: dict[str, str]) -> int:
    """One POST /documents/batch; each file's result printed; how many were refused."""
    handles = [(name, path.open("rb")) for name, path in parts]
    try:
        body = api.json("POST", "/documents/batch", ok=(201,), files=[("files", h) for h in handles],
                        timeout=max(api.timeout_s, 600))
    finally:
        for _, handle in handles:
            handle.close()
    refused = 0
    for result in body["results"]:
        label = result.get("entry") or result["filename"]
        if result["code"] == 201:
            labels[result["document"]["id"]] = label
            console.print(f"{label}: uploaded as {result['document']['id']}")
        elif result["code"] == 409 and result.get("document_id"):
            labels[result["document_id"]] = label
            console.print(f"{label}: already uploaded as {result['document_id']}; following that one")
        else:
            refused += 1
            errors.print(f"[red]{label}: refused ({result['code']}): {result['message']}[/red]", markup=True,
                         highlight=False, soft_wrap=True)
    console.print(f"batch {body['id']}: {body['accepted']} accepted, {body['rejected']} not")
    return refused


@app.command()
def submit(ctx: typer.Context,
           files: list[Path] = typer.Argument(..., exists=True, readable=True,
                                              help="invoice files, folders (every file inside) or ZIP archives"),
           wait: bool = typer.Option(True, help="follow each document until it is done"),
           timeout: float = typer.Option(1800.0, help="seconds to wait for all documents")) -> None:
    """Upload invoices and follow each with a live progress bar (exit 1 if any ends in an error or
    is refused). A folder is sent as batches of its files, a ZIP as one batch (POST /documents/batch)."""
    api = client(ctx)
    labels: dict[str, str] = {}
    refused = 0
    singles: list[Path] = []
    for path in files:
        if path.is_dir():
            inside = _folder_files(path)
            if not inside:
                fail(f"{path}: no file in this folder")
            for start in range(0, len(inside), BATCH_CHUNK):
                chunk = inside[start:start + BATCH_CHUNK]
                refused += _submit_batch(api, [(str(p.relative_to(path)), p) for p in chunk], labels)
        elif _is_zip(path):
            refused += _submit_batch(api, [(path.name, path)], labels)
        else:
            singles.append(path)
    for path in singles:
        with path.open("rb") as f:
            resp = api.request("POST", "/documents/upload", ok=(201, 409), files={"file": (path.name, f)},
                               timeout=max(api.timeout_s, 120))
        body = resp.json()
        if resp.status_code == 409:
            doc_id = body.get("document_id")
            if not doc_id:
                fail(f"{path.name}: {body.get('message')}")
            console.print(f"{path.name}: already uploaded as {doc_id}; following that one")
        else:
            doc_id = body["document"]["id"]
            console.print(f"{path.name}: uploaded as {doc_id}")
        labels[doc_id] = path.name
    if not wait or not labels:
        raise typer.Exit(1 if refused else 0)
    raise typer.Exit(max(_summary(follow(api, labels, timeout), labels), 1 if refused else 0))


@app.command()
def watch(ctx: typer.Context, document_id: str,
          timeout: float = typer.Option(1800.0, help="seconds to wait")) -> None:
    """Follow one document until it is done."""
    api = client(ctx)
    raise typer.Exit(_summary(follow(api, {document_id: document_id[:8]}, timeout), {document_id: ""}))


# -- review --------------------------------------------------------------------------------

@review_app.command("list")
def review_list(ctx: typer.Context,
                status: Optional[str] = typer.Option(None, help="manual_review or one *_error status"),
                limit: int = typer.Option(50, min=1, max=200),
                as_json: bool = typer.Option(False, "--json", help="print the API's JSON")) -> None:
    """Documents that need a person, most urgent first."""
    api = client(ctx)
    params: dict[str, Any] = {"limit": limit}
    if status:
        params["status"] = status
    body = api.json("GET", "/review", params=params)
    if as_json:
        console.print_json(data=body)
        return
    table = Table("document", "status", "vendor", "number", "total", "deadline", "claimed by", title=(
        f"{body.get('total', len(body['items']))} document(s) need review"))
    for item in body["items"]:
        total = item.get("total")
        table.add_row(item["id"], item["status"], item.get("vendor_name") or "", item.get("invoice_number") or "",
                      f"{total:,.2f} {item.get('currency') or ''}".strip() if total is not None else "",
                      (item.get("deadline") or "")[:10], (item.get("claim") or {}).get("email", ""))
    console.print(table)


# -- mailboxes -----------------------------------------------------------------------------

def _mailbox_rules(box: dict[str, Any]) -> str:
    senders = ", ".join(box.get("allowed_senders") or []) or "anyone"
    after = f"move to {box.get('move_to')}" if box.get("after_import") == "move" else "mark read"
    return f"{box.get('folder')}; from {senders}; then {after}"


@mailboxes_app.command("list")
def mailboxes_list(ctx: typer.Context,
                   as_json: bool = typer.Option(False, "--json", help="print the API's JSON")) -> None:
    """The mailboxes, their rules and how their polls went."""
    body = client(ctx).json("GET", "/mailboxes")
    if as_json:
        console.print_json(data=body)
        return
    table = Table("id", "name", "account", "rules", "enabled", "last success", "polls (failed)", "last error",
                  title=f"{len(body['mailboxes'])} mailbox(es)")
    for box in body["mailboxes"]:
        table.add_row(box["id"], box["name"], f"{box['username']}@{box['host']}:{box['port']} ({box['auth']})",
                      _mailbox_rules(box), "yes" if box["enabled"] else "paused",
                      (box.get("last_success_at") or "never")[:19], f"{box.get('polls', 0)} ({box.get('poll_failures', 0)})",
                      box.get("last_error") or "")
    console.print(table)


def _mailbox_body(name: Optional[str], host: Optional[str], port: Optional[int], security: Optional[str],
                  username: Optional[str], folder: Optional[str], allow: Optional[list[str]], move_to: Optional[str],
                  mark_read: bool) -> dict[str, Any]:
    body: dict[str, Any] = {k: v for k, v in {"name": name, "host": host, "port": port, "security": security,
                                              "username": username, "folder": folder}.items() if v is not None}
    if allow is not None:
        body["allowed_senders"] = [a for a in allow if a]
    if move_to:
        body.update(after_import="move", move_to=move_to)
    elif mark_read:
        body.update(after_import="mark_read", move_to=None)
    return body


SECRET_HELP = "read from this environment variable (never a command-line value: it would stay in the shell history)"


def _secret(env_name: Optional[str], oauth2: bool) -> dict[str, str]:
    if env_name is None:
        return {}
    value = os.environ.get(env_name)
    if not value:
        fail(f"the environment variable {env_name} is empty or not set")
    return {"auth": "xoauth2", "access_token": value} if oauth2 else {"password": value}


@mailboxes_app.command("add")
def mailboxes_add(ctx: typer.Context,
                  name: str = typer.Option(...), host: str = typer.Option(...), username: str = typer.Option(...),
                  port: int = typer.Option(993), security: str = typer.Option("ssl", help="ssl, starttls or none"),
                  password_env: Optional[str] = typer.Option(None, help=f"the password, {SECRET_HELP}"),
                  token_env: Optional[str] = typer.Option(None, help=f"an OAuth2 access token (XOAUTH2), {SECRET_HELP}"),
                  folder: str = typer.Option("INBOX"),
                  allow: Optional[list[str]] = typer.Option(None, help="an allowed sender or @domain (repeat it)"),
                  move_to: Optional[str] = typer.Option(None, help="move imported messages to this folder "
                                                                   "(default: mark them read)")) -> None:
    """Add a mailbox; the mail worker polls it from its next round."""
    if (password_env is None) == (token_env is None):
        fail("give one of --password-env or --token-env")
    body = {**_mailbox_body(name, host, port, security, username, folder, allow or [], move_to, False),
            **(_secret(token_env, True) if token_env else _secret(password_env, False))}
    box = client(ctx).json("POST", "/mailboxes", json=body, ok=(201,))
    console.print(f"mailbox {box['id']} added: {box['username']}@{box['host']} ({_mailbox_rules(box)})")


@mailboxes_app.command("edit")
def mailboxes_edit(ctx: typer.Context, mailbox_id: str,
                   name: Optional[str] = typer.Option(None), host: Optional[str] = typer.Option(None),
                   port: Optional[int] = typer.Option(None), security: Optional[str] = typer.Option(None),
                   username: Optional[str] = typer.Option(None), folder: Optional[str] = typer.Option(None),
                   allow: Optional[list[str]] = typer.Option(None, help="replaces the allowed senders (repeat it); "
                                                                        "--allow '' for anyone"),
                   move_to: Optional[str] = typer.Option(None), mark_read: bool = typer.Option(False, "--mark-read"),
                   password_env: Optional[str] = typer.Option(None, help=f"a new password, {SECRET_HELP}"),
                   token_env: Optional[str] = typer.Option(None, help=f"a new OAuth2 access token, {SECRET_HELP}"),
                   enable: Optional[bool] = typer.Option(None, "--enable/--pause", help="poll it, or pause it")) -> None:
    """Change a mailbox's account, rules or secret, or pause it."""
    body = _mailbox_body(name, host, port, security, username, folder, allow, move_to, mark_read)
    if token_env:
        body.update(_secret(token_env, True))
    elif password_env:
        body.update(_secret(password_env, False))
    if enable is not None:
        body["enabled"] = enable
    if not body:
        fail("nothing to change")
    box = client(ctx).json("PATCH", f"/mailboxes/{mailbox_id}", json=body)
    console.print(f"mailbox {box['id']}: {_mailbox_rules(box)}; {'polled' if box['enabled'] else 'paused'}")


@mailboxes_app.command("remove")
def mailboxes_remove(ctx: typer.Context, mailbox_id: str) -> None:
    """Stop polling a mailbox and forget its secret; its documents stay."""
    client(ctx).request("DELETE", f"/mailboxes/{mailbox_id}", ok=(204,))
    console.print(f"mailbox {mailbox_id} removed")


@mailboxes_app.command("messages")
def mailboxes_messages(ctx: typer.Context, mailbox_id: str,
                       as_json: bool = typer.Option(False, "--json", help="print the API's JSON")) -> None:
    """What the mailbox's recent messages gave: documents, or why nothing was imported."""
    body = client(ctx).json("GET", f"/mailboxes/{mailbox_id}/messages")
    if as_json:
        console.print_json(data=body)
        return
    table = Table("received", "from", "subject", "documents", "outcome", title=f"{len(body['messages'])} message(s)")
    for m in body["messages"]:
        outcome = "; ".join(f"{o.get('attachment')}: {o.get('code')}" for o in m.get("outcome") or []) or m.get("reason")
        table.add_row((m.get("received_at") or m.get("processed_at") or "")[:19], m.get("sender") or "",
                      m.get("subject") or "", str(m.get("documents", 0)), outcome or "")
    console.print(table)


# -- export --------------------------------------------------------------------------------

class ExportFormat(str, Enum):
    csv = "csv"
    jsonl = "jsonl"
    parquet = "parquet"
    ubl = "ubl"


class PeriodOf(str, Enum):
    approved = "approved"
    invoice_date = "invoice_date"


@app.command()
def export(ctx: typer.Context,
           fmt: ExportFormat = typer.Option(..., "--format", help="csv, jsonl, parquet or ubl (a ZIP of UBL 2.1)"),
           start: str = typer.Option(..., "--from", help="first day, YYYY-MM-DD"),
           end: str = typer.Option(..., "--to", help="last day, YYYY-MM-DD (included)"),
           by: PeriodOf = typer.Option(PeriodOf.approved, help="the approval date or the invoice's own date"),
           output: Optional[Path] = typer.Option(None, "--output", "-o",
                                                 help="file to write (default: the server's name; - for stdout)")
           ) -> None:
    """Download approved documents and their line items for a period."""
    for value in (start, end):
        try:
            date.fromisoformat(value)
        except ValueError:
            fail(f"not a date (YYYY-MM-DD): {value}")
    api = client(ctx)
    resp = api.request("GET", "/exports", params={"format": fmt.value, "from": start, "to": end, "by": by.value}, stream=True,
                       timeout=(10, 300))
    with resp:
        if output is not None and str(output) == "-":
            for chunk in resp.iter_content(64 * 1024):
                sys.stdout.buffer.write(chunk)
            sys.stdout.buffer.flush()
            return
        if output is None:
            match = re.search(r'filename="([^"/\\]+)"', resp.headers.get("Content-Disposition", ""))
            output = Path(match.group(1) if match else f"invoices-{start}-{end}.{fmt.value}")
        written = 0
        with Progress(TextColumn(f"{output}"), DownloadColumn(), TransferSpeedColumn(), console=errors) as progress, \
                output.open("wb") as f:
            task = progress.add_task("export", total=None)
            for chunk in resp.iter_content(64 * 1024):
                f.write(chunk)
                written += len(chunk)
                progress.update(task, completed=written)
    console.print(f"wrote {output} ({written:,} bytes)")


def run() -> None:
    app()


if __name__ == "__main__":
    run()
