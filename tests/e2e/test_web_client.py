"""The web client in a real browser (Playwright driving Chromium) against the real stack.

Builds the client if needed, starts the default stack (API serving frontend.react/dist,
one worker per queue, beat, PostgreSQL, Redis) and an IMAP server holding a supplier's mail
(tests/imapserver.py; the mailbox part needs pymap, Python 3.11+), writes a month-end ZIP,
creates a user and runs frontend.react/e2e/ with
`npx playwright test`. Screenshots of every screen land in the test's folder (and
frontend.react/e2e/screenshots/ when E2E_SCREENSHOTS is unset outside pytest).
"""
from __future__ import annotations

import contextlib
import importlib.util
import io
import os
import subprocess
import sys
import zipfile
from email.message import EmailMessage
from pathlib import Path

import pytest
from imapserver import ImapServer
from invoicegen import generate

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]
WEB = REPO / "frontend.react"


def _node():
    spec = importlib.util.spec_from_file_location("web_node", WEB / "scripts" / "node.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def review_invoice() -> tuple[bytes, str, str]:
    """A clean invoice with no date printed: a required field (the invoice date) is missing, so it
    needs a person. Returns the PDF, its invoice number and the date a reviewer enters."""
    from reportlab.lib.pagesizes import A4
    from reportlab.pdfgen import canvas

    number = "RV-2024-0042"
    buf = io.BytesIO()
    c = canvas.Canvas(buf, pagesize=A4)
    lines = [
        (72, 790, "Helvetica-Bold", 16, "Nordlicht Bürobedarf GmbH"),
        (72, 772, "Helvetica", 10, "Hauptstraße 12, 10115 Berlin, Germany"),
        (72, 758, "Helvetica", 10, "VAT ID: DE811907980"),
        (72, 715, "Helvetica-Bold", 14, "INVOICE"),
        (72, 695, "Helvetica", 11, f"Invoice number: {number}"),
        (72, 680, "Helvetica", 11, "Payment: by bank transfer"),
        (72, 640, "Helvetica", 11, "Bill to: Globex Corporation, 1 Main Street, Springfield"),
        (72, 600, "Helvetica-Bold", 10, "Description"), (330, 600, "Helvetica-Bold", 10, "Qty"),
        (390, 600, "Helvetica-Bold", 10, "Unit price"), (480, 600, "Helvetica-Bold", 10, "Amount"),
        (72, 584, "Helvetica", 10, "Copy paper A4, 500 sheets"), (330, 584, "Helvetica", 10, "10"),
        (390, 584, "Helvetica", 10, "5.00"), (480, 584, "Helvetica", 10, "50.00"),
        (72, 568, "Helvetica", 10, "Toner cartridge black"), (330, 568, "Helvetica", 10, "2"),
        (390, 568, "Helvetica", 10, "40.00"), (480, 568, "Helvetica", 10, "80.00"),
        (330, 530, "Helvetica", 11, "Subtotal"), (480, 530, "Helvetica", 11, "130.00 EUR"),
        (330, 514, "Helvetica", 11, "VAT 19%"), (480, 514, "Helvetica", 11, "24.70 EUR"),
        (330, 494, "Helvetica-Bold", 11, "Total"), (480, 494, "Helvetica-Bold", 11, "154.70 EUR"),
    ]
    for x, y, font, size, text in lines:
        c.setFont(font, size)
        c.drawString(x, y, text)
    c.showPage()
    c.save()
    return buf.getvalue(), number, "2024-03-01"


def month_end_zip(path: Path) -> Path:
    """Two invoices in a folder of the ZIP, and an entry whose path leaves the archive."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for seed in (111, 112):
            zf.writestr(f"november/invoice-{seed}.pdf", generate(seed=seed, kind="born_digital", language="en").data)
        zf.writestr("../outside.pdf", generate(seed=113, kind="born_digital", language="en").data)
    return path


MAIL_SUBJECT = "Invoice by mail from Supplier GmbH"


def supplier_mail() -> bytes:
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = "billing@supplier.test", "invoices@web-buyer.test", MAIL_SUBJECT
    msg["Message-ID"], msg["Date"] = "<web-121@supplier.test>", "Tue, 01 Dec 2026 07:45:00 +0000"
    msg.set_content("Please find our invoice attached.")
    msg.add_attachment(generate(seed=121, kind="born_digital", language="en").data, maintype="application",
                       subtype="pdf", filename="supplier-121.pdf")
    return msg.as_bytes()


def test_browser_upload_inspect_review_approve(start_stack, tmp_path):
    node = _node()
    node.build()  # the API serves frontend.react/dist; up to date after `make setup`
    stack = start_stack("default")
    email, password = "web@acme.test", "correct-horse-battery"
    stack.admin("create-user", "--company", "Web Buyer", "--email", email, "--password", password, "--if-missing")

    invoice = generate(seed=101, kind="born_digital", language="en", pages=1)
    first = tmp_path / invoice.filename
    first.write_bytes(invoice.data)
    data, number, invoice_date = review_invoice()
    second = tmp_path / "needs-review.pdf"
    second.write_bytes(data)
    shots = Path(os.environ.get("E2E_SCREENSHOTS") or tmp_path / "screenshots")

    imap = contextlib.nullcontext()
    if Path(sys.executable).with_name("pymap").exists():  # the mailbox part needs its IMAP server (Python 3.11+)
        imap = ImapServer("invoices@web-buyer.test", "imap-web-secret")
    env = {
        "E2E_BASE_URL": stack.base, "E2E_EMAIL": email, "E2E_PASSWORD": password,
        "E2E_BATCH_ZIP": str(month_end_zip(tmp_path / "month-end.zip")), "E2E_MAIL_SUBJECT": MAIL_SUBJECT,
        "E2E_INVOICE": str(first), "E2E_REVIEW_INVOICE": str(second), "E2E_REVIEW_NUMBER": number,
        "E2E_REVIEW_DATE": invoice_date, "E2E_SCREENSHOTS": str(shots),
        "E2E_EINVOICE": str(REPO / "tests" / "data" / "einvoice" / "xrechnung-ubl.xml"),
    }
    node.ensure_modules()
    with imap as server:
        if server is not None:
            server.deliver(supplier_mail())  # waiting in the inbox before the mailbox is added
            env.update({"E2E_IMAP_PORT": str(server.port), "E2E_IMAP_USER": server.user,
                        "E2E_IMAP_PASSWORD": server.password})
        result = subprocess.run([*node.npm_argv(), "exec", "--", "playwright", "test"], cwd=WEB,
                                env=node.node_env(env), capture_output=True, text=True, timeout=900)
    output = result.stdout[-8000:] + result.stderr[-4000:]
    assert result.returncode == 0, f"playwright failed:\n{output}\n\nstack logs:\n{stack.logs()}"
    shots_expected = ["signin", "upload", "document", "review-queue", "review", "documents", "einvoice", "batch",
                      "document-tablet", *(["mailboxes", "document-mail"] if "E2E_IMAP_PORT" in env else [])]
    for name in shots_expected:
        assert (shots / f"{name}.png").stat().st_size > 10_000, name
