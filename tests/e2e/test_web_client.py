"""The web client in a real browser (Playwright driving Chromium) against the real stack.

Builds the client if needed, starts the default stack (API serving frontend.react/dist,
one worker per queue, PostgreSQL, Redis), creates a user and runs frontend.react/e2e/ with
`npx playwright test`. Screenshots of every screen land in the test's folder (and
frontend.react/e2e/screenshots/ when E2E_SCREENSHOTS is unset outside pytest).
"""
from __future__ import annotations

import importlib.util
import io
import os
import subprocess
from pathlib import Path

import pytest
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

    env = {
        "E2E_BASE_URL": stack.base, "E2E_EMAIL": email, "E2E_PASSWORD": password,
        "E2E_INVOICE": str(first), "E2E_REVIEW_INVOICE": str(second), "E2E_REVIEW_NUMBER": number,
        "E2E_REVIEW_DATE": invoice_date, "E2E_SCREENSHOTS": str(shots),
        "E2E_EINVOICE": str(REPO / "tests" / "data" / "einvoice" / "xrechnung-ubl.xml"),
    }
    node.ensure_modules()
    result = subprocess.run([*node.npm_argv(), "exec", "--", "playwright", "test"], cwd=WEB, env=node.node_env(env),
                            capture_output=True, text=True, timeout=900)
    output = result.stdout[-8000:] + result.stderr[-4000:]
    assert result.returncode == 0, f"playwright failed:\n{output}\n\nstack logs:\n{stack.logs()}"
    for name in ("signin", "upload", "document", "review-queue", "review", "documents", "einvoice", "document-tablet"):
        assert (shots / f"{name}.png").stat().st_size > 10_000, name
