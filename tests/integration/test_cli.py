"""`invoice-scanner` against a live API: the real Flask app served by werkzeug on a free port
over real PostgreSQL and Redis, driven over HTTP exactly as against a deployment.

Workers are not part of this test (tests/e2e/test_review_webhooks_export.py runs the CLI on
the whole stack): a document is moved through its statuses with the pipeline's own
repository calls while the CLI follows it.
"""
from __future__ import annotations

import json
import os
import stat
import threading
import time
import uuid
from datetime import datetime, timezone

import pytest
from typer.testing import CliRunner
from werkzeug.serving import make_server

pytest.register_assert_rewrite("conftest_api")
from conftest_api import make_pdf  # noqa: E402
from invoice.scanner.api.client_cli import app as cli
from invoice.scanner.processing.db.repository import Repository
from invoice.scanner.processing.devstack import free_port
from invoice.scanner.processing.status import Status

pytest_plugins = ["conftest_api"]


@pytest.fixture
def live_api(app):
    port = free_port()
    server = make_server("127.0.0.1", port, app, threaded=True)
    # shutdown() waits for the loop to look again: every 0.05 s, not the default 0.5 s
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{port}"
    server.shutdown()
    thread.join(5)


@pytest.fixture
def run(tmp_path, monkeypatch):
    config = tmp_path / "cfg" / "config.json"
    monkeypatch.setenv("INVOICE_SCANNER_CONFIG", str(config))
    monkeypatch.delenv("INVOICE_SCANNER_URL", raising=False)
    monkeypatch.delenv("INVOICE_SCANNER_TOKEN", raising=False)
    monkeypatch.chdir(tmp_path)
    from invoice.scanner.api import client_cli

    monkeypatch.setattr(client_cli.console, "width", 200)  # tables unwrapped, whatever the terminal
    runner = CliRunner()

    def invoke(*args: str, env: dict | None = None):
        return runner.invoke(cli, list(args), env=env, catch_exceptions=False)

    invoke.config = config
    return invoke


def test_login_saves_url_and_token_owner_only(run, live_api, tenant):
    result = run("--url", live_api, "login", "--email", tenant.email, "--password", tenant.password)
    assert result.exit_code == 0, result.output
    assert f"as {tenant.email} (admin)" in result.output
    saved = json.loads(run.config.read_text())
    assert saved["url"] == live_api and len(saved["token"]) > 20
    assert stat.S_IMODE(os.stat(run.config).st_mode) == 0o600
    # a wrong password: a clear error, nothing saved over the good token
    bad = run("--url", live_api, "login", "--email", tenant.email, "--password", "wrong")
    assert bad.exit_code == 1 and "HTTP 401" in bad.output
    assert json.loads(run.config.read_text()) == saved


def test_login_with_a_machine_token(run, live_api, tenant):
    result = run("--url", live_api, "--token", tenant.token, "login")
    assert result.exit_code == 0, result.output
    assert json.loads(run.config.read_text())["token"] == tenant.token
    # commands then need neither flag nor variable
    assert run("review", "list", "--json").exit_code == 0
    bad = run("--url", live_api, "--token", "not-a-token", "login")
    assert bad.exit_code == 1 and "HTTP 401" in bad.output


def test_not_signed_in_says_how(run):
    result = run("review", "list")
    assert result.exit_code == 1 and "login" in result.output


def test_submit_follows_each_document_to_its_end(run, live_api, tenant, api_config, tmp_path):
    files = []
    for n in range(2):
        path = tmp_path / f"invoice-{n}.pdf"
        path.write_bytes(make_pdf(text=f"cli {uuid.uuid4()}"))
        files.append(path)
    env = {"INVOICE_SCANNER_URL": live_api, "INVOICE_SCANNER_TOKEN": tenant.token}
    pipeline = Repository(api_config.database_url)

    def workers():
        """What the stage workers would do, once the uploads exist."""
        deadline = time.monotonic() + 20
        done: set[str] = set()
        while time.monotonic() < deadline and len(done) < 2:
            with pipeline.tx() as cur:
                cur.execute("SELECT id, original_filename FROM documents WHERE company_id = %s AND status = %s",
                            (tenant.company_id, "preprocessing"))
                rows = cur.fetchall()
            for row in rows:
                doc_id = str(row["id"])
                run_no = pipeline.start_pipeline_run(doc_id)
                claim = pipeline.begin_stage(doc_id, "ocr", run_no, 0, "test")
                time.sleep(0.6)  # long enough for the CLI to see ocr_extracting
                final = Status.APPROVED if row["original_filename"].endswith("0.pdf") else Status.OCR_ERROR
                if final is Status.APPROVED:
                    pipeline.finish_stage(doc_id, "ocr", run_no, claim.history_id, {}, next_status=final)
                else:
                    pipeline.fail_stage(doc_id, "ocr", run_no, "the OCR engine crashed", "test")
                done.add(doc_id)
            time.sleep(0.1)

    thread = threading.Thread(target=workers)
    thread.start()
    result = run("submit", *map(str, files), "--timeout", "60", env=env)
    thread.join()
    assert "uploaded as" in result.output
    assert "approved" in result.output and "ocr_error" in result.output
    assert "the OCR engine crashed" in result.output
    assert result.exit_code == 1  # one document ended in an error
    # the same file again: a duplicate, followed as the existing document
    again = run("submit", str(files[0]), "--timeout", "10", env=env)
    assert "already uploaded as" in again.output and again.exit_code == 0


def test_watch_unknown_document_is_a_clear_error(run, live_api, tenant):
    env = {"INVOICE_SCANNER_URL": live_api, "INVOICE_SCANNER_TOKEN": tenant.token}
    result = run("watch", str(uuid.uuid4()), env=env)
    assert result.exit_code == 1 and "HTTP 404" in result.output


def test_export_downloads_the_file(run, live_api, tenant, api_database_url, tmp_path):
    from test_exports import FIELDS, LINES, insert_approved

    doc = insert_approved(api_database_url, tenant.company_id, datetime(2026, 11, 5, tzinfo=timezone.utc), FIELDS,
                          LINES)
    env = {"INVOICE_SCANNER_URL": live_api, "INVOICE_SCANNER_TOKEN": tenant.token}
    result = run("export", "--format", "jsonl", "--from", "2026-11-01", "--to", "2026-11-30", env=env)
    assert result.exit_code == 0, result.output
    out = tmp_path / "invoices-2026-11-01-2026-11-30.jsonl"
    [row] = [json.loads(line) for line in out.read_text().splitlines()]
    assert row["id"] == str(doc) and row["invoice_number"] == "INV-2026-0042"
    bad = run("export", "--format", "jsonl", "--from", "2026-11-30", "--to", "2026-11-01", env=env)
    assert bad.exit_code == 1 and "HTTP 422" in bad.output


def test_review_list(run, live_api, tenant, api_database_url):
    from test_exports import insert_approved

    doc = insert_approved(api_database_url, tenant.company_id, datetime(2026, 11, 5, tzinfo=timezone.utc),
                          {"vendor_name": "Initech", "invoice_number": "R-1", "total": 10.0, "currency": "EUR"}, [],
                          status="manual_review")
    env = {"INVOICE_SCANNER_URL": live_api, "INVOICE_SCANNER_TOKEN": tenant.token}
    result = run("review", "list", "--json", env=env)
    assert result.exit_code == 0, result.output
    assert [i["id"] for i in json.loads(result.output)["items"]] == [str(doc)]
    table = run("review", "list", env=env)
    assert "Initech" in table.output and "1 document(s) need review" in table.output


def test_submit_takes_folders_and_zips_as_batches(run, live_api, tenant, api_database_url, tmp_path):
    import zipfile

    env = {"INVOICE_SCANNER_URL": live_api, "INVOICE_SCANNER_TOKEN": tenant.token}
    folder = tmp_path / "scans"
    (folder / "2024").mkdir(parents=True)
    (folder / ".cache").mkdir()
    (folder / "a.pdf").write_bytes(make_pdf(text=f"folder {uuid.uuid4()}"))
    (folder / "2024" / "b.pdf").write_bytes(make_pdf(text=f"folder {uuid.uuid4()}"))
    (folder / "notes.txt").write_bytes(b"not an invoice")
    (folder / ".DS_Store").write_bytes(b"\0\0\0\1Bud1")
    (folder / ".cache" / "c.pdf").write_bytes(make_pdf(text=f"hidden {uuid.uuid4()}"))
    result = run("submit", str(folder), "--no-wait", env=env)
    assert result.output.count("uploaded as") == 2 and "notes.txt: refused (415)" in result.output
    assert "2 accepted, 1 not" in result.output
    assert result.exit_code == 1  # a file was refused

    archive = tmp_path / "month.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("november/x.pdf", make_pdf(text=f"zip {uuid.uuid4()}"))
        zf.writestr("november/y.pdf", make_pdf(text=f"zip {uuid.uuid4()}"))
    result = run("submit", str(archive), "--no-wait", env=env)
    assert "november/x.pdf: uploaded as" in result.output and "november/y.pdf: uploaded as" in result.output
    assert result.exit_code == 0
    repo = Repository(api_database_url)
    with repo.tx() as cur:
        cur.execute("SELECT original_filename, source FROM documents WHERE company_id = %s ORDER BY 1",
                    (tenant.company_id,))
        rows = [(r["original_filename"], r["source"]) for r in cur.fetchall()]
    assert rows == [("a.pdf", "batch"), ("b.pdf", "batch"), ("x.pdf", "batch"), ("y.pdf", "batch")]


def test_mailboxes_are_managed_from_the_cli_without_a_secret_on_the_command_line(make_app, api_config, tenant, run,
                                                                              repo):
    from cryptography.fernet import Fernet

    app = make_app(api_config.with_overrides(mail_secret_key=Fernet.generate_key().decode()))
    port = free_port()
    server = make_server("127.0.0.1", port, app, threaded=True)
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    env = {"INVOICE_SCANNER_URL": f"http://127.0.0.1:{port}", "INVOICE_SCANNER_TOKEN": tenant.token,
           "AP_IMAP_PASSWORD": "cli-imap-secret"}
    try:
        assert run("mailboxes", "add", "--name", "AP", "--host", "imap.acme.test", "--username", "ap@acme.test",
                   "--password", "x", env=env).exit_code != 0  # no secret as a command-line value
        added = run("mailboxes", "add", "--name", "AP", "--host", "imap.acme.test", "--username", "ap@acme.test",
                    "--password-env", "AP_IMAP_PASSWORD", "--allow", "@supplier.test", "--move-to", "Done", env=env)
        assert added.exit_code == 0, added.output
        mailbox_id = added.output.split()[1]
        assert "from @supplier.test; then move to Done" in added.output
        listed = run("mailboxes", "list", env=env)
        assert "ap@acme.test@imap.acme.test:993 (password)" in listed.output and "never" in listed.output
        assert "cli-imap-secret" not in listed.output
        body = json.loads(run("mailboxes", "list", "--json", env=env).output)
        assert [b["id"] for b in body["mailboxes"]] == [mailbox_id]
        edited = run("mailboxes", "edit", mailbox_id, "--allow", "@supplier.test", "--allow", "ap@other.test",
                     "--mark-read", "--pause", env=env)
        assert edited.exit_code == 0, edited.output
        assert "from @supplier.test, ap@other.test; then mark read; paused" in edited.output
        assert run("mailboxes", "edit", mailbox_id, "--token-env", "AP_IMAP_PASSWORD", env=env).exit_code == 0
        assert "(xoauth2)" in run("mailboxes", "list", env=env).output  # now signs in with the OAuth2 token
        assert run("mailboxes", "edit", mailbox_id, "--token-env", "UNSET_VARIABLE", env=env).exit_code != 0
        assert "0 message(s)" in run("mailboxes", "messages", mailbox_id, env=env).output
        assert run("mailboxes", "remove", mailbox_id, env=env).exit_code == 0
        assert json.loads(run("mailboxes", "list", "--json", env=env).output) == {"mailboxes": []}
    finally:
        server.shutdown()
        with repo.tx() as cur:
            cur.execute("UPDATE mailboxes SET enabled = false WHERE company_id = %s", (str(tenant.company_id),))
