"""On the live stack, a stage module's own log lines name the document they are about."""
from __future__ import annotations

import pytest
from invoicegen import generate

pytestmark = pytest.mark.e2e


def test_stage_module_and_api_lines_carry_the_document_id(stack):
    api = stack.user("Log Reader", "logs@acme.test")
    inv = generate(seed=303, kind="born_digital", language="en", pages=1)
    r = api.upload(inv.data, inv.filename)
    assert r.status_code == 201, r.text
    doc_id = r.json()["document"]["id"]
    assert api.wait_terminal(doc_id)["status"] in {"approved", "manual_review"}, stack.logs()

    procs = stack.stack.procs
    worker = procs["worker-preprocessing"].log_path.read_text(errors="replace").splitlines()
    # preprocessing.py's own `logging.getLogger(__name__)`, which is handed no document id
    module_lines = [ln for ln in worker if " invoice.scanner.processing.stages.preprocessing " in ln]
    ours = [ln for ln in module_lines if f"[document_id={doc_id} task=preprocessing queue=preprocessing]" in ln]
    assert any("page 1:" in ln for ln in ours), "\n".join(module_lines[-20:])
    assert all("[document_id=" in ln for ln in module_lines)

    api_log = procs["api"].log_path.read_text(errors="replace").splitlines()
    stored = [ln for ln in api_log if f"document {doc_id} stored" in ln]
    assert stored and f"[document_id={doc_id} request_id=" in stored[0], "\n".join(api_log[-20:])
