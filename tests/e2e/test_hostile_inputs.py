"""Hostile uploads against the live stack (gunicorn API, real workers): each one gets a clear
4xx JSON error in the contract's shape, or is accepted and ends in a terminal status. Never a
5xx, never a stuck document, never a file outside DOCUMENTS_DIR, never a name from the client
used to store a file.

The corpus is `tests/hostile/corpus.py`; a summary of the outcomes is printed (`-s` shows it).
"""
from __future__ import annotations

import time
import unicodedata
from collections import Counter
from pathlib import Path

import pytest

from hostile.corpus import build_corpus
from invoice.scanner.processing.db.repository import Repository
from invoice.scanner.processing.status import TERMINAL_STATUSES

TERMINAL = {s.value for s in TERMINAL_STATUSES}

pytestmark = pytest.mark.e2e

CASES = build_corpus()
STORED_NAME = {"original.pdf", "original.png", "original.jpg", "original.tif"}


def _assert_error_shape(r, case) -> None:
    assert r.headers.get("Content-Type", "").startswith("application/json"), (case.name, r.headers, r.text[:200])
    body = r.json()
    assert body["code"] == r.status_code, (case.name, body)
    assert isinstance(body["status"], str) and body["status"], (case.name, body)
    assert isinstance(body["message"], str) and len(body["message"]) >= 10, (case.name, body)


def test_hostile_uploads_get_a_clear_verdict_and_accepted_ones_end(stack, tmp_path):
    api = stack.user("Hostile Inputs Co", "hostile@hostile.test")
    outcomes: dict[str, int] = {}
    accepted: dict[str, str] = {}
    for case in CASES:
        r = api.upload(case.data, case.filename)
        outcomes[case.name] = r.status_code
        assert r.status_code < 500, (case.name, r.status_code, r.text[:500], stack.logs())
        if r.status_code == 201:
            assert case.expect in {"accept", "either"}, (case.name, "accepted but must be refused", r.json())
            accepted[case.name] = r.json()["document"]["id"]
        else:
            assert case.expect in {"reject", "either"}, (case.name, r.status_code, r.text[:300])
            assert r.status_code in case.codes, (case.name, r.status_code, r.json())
            _assert_error_shape(r, case)

    # Every accepted hostile document ends; none stays in a running status.
    finals: dict[str, dict] = {}
    deadline = time.monotonic() + 900
    pending = dict(accepted)
    while pending and time.monotonic() < deadline:
        for name, doc_id in list(pending.items()):
            r = api.get(f"/documents/{doc_id}/status")
            assert r.status_code == 200, (name, r.text)
            if r.json()["status"] in TERMINAL:
                finals[name] = r.json()
                pending.pop(name)
        time.sleep(1)
    stuck = {name: api.get(f"/documents/{doc_id}/status").json()["status"] for name, doc_id in pending.items()}

    rejected = Counter(code for code in outcomes.values() if code != 201)
    print("\nhostile inputs:", len(CASES), "cases;", "4xx by code:", dict(sorted(rejected.items())),
          "| accepted:", len(accepted), "| 5xx: 0 | stuck:", len(stuck))
    for name in sorted(outcomes):
        final = finals.get(name, {})
        print(f"  {name:<26} {outcomes[name]}  {final.get('status', '')} {(final.get('error') or '')[:70]}")
    assert stuck == {}, (stuck, stack.logs())
    for name, final in finals.items():
        if final["status"].endswith("_error"):
            assert final["error"], (name, final)  # a failure carries a readable reason

    # Storage: files only under DOCUMENTS_DIR, in folders named by ids, with generated names.
    documents_dir = Path(stack.env["DOCUMENTS_DIR"]).resolve()
    repo = Repository(stack.database_url)
    for name, doc_id in accepted.items():
        doc = repo.get_document(doc_id)
        stored = Path(doc.stored_path).resolve()
        assert stored.is_relative_to(documents_dir), (name, stored)
        assert stored.name in STORED_NAME and stored.parent.name == doc_id, (name, stored)
        assert "/" not in doc.original_filename and "\\" not in doc.original_filename, doc.original_filename
        assert not any(unicodedata.category(ch)[0] == "C" for ch in doc.original_filename), doc.original_filename
        assert len(doc.original_filename) <= 255
    for path in documents_dir.rglob("*"):
        assert path.resolve().is_relative_to(documents_dir), path
        assert not path.is_symlink(), path
    for outside in ("/etc/passwd.pdf", "/tmp/invoice-scanner-pwned.pdf", "/Windows/win.ini.pdf",
                    str(documents_dir.parent / "passwd.pdf"), str(documents_dir.parent.parent / "etc" / "passwd.pdf")):
        assert not Path(outside).exists(), outside


def test_multipart_oddities_are_4xx(stack):
    api = stack.user("Hostile Inputs Co", "hostile@hostile.test")
    url = f"{api.base}/documents/upload"
    pdf = build_corpus()[-1].data  # a valid small PDF (the empty-name case)
    answers = {
        "no body": api.session.post(url, timeout=10),
        "not multipart": api.session.post(url, data=b"%PDF-1.7", headers={"Content-Type": "application/pdf"},
                                          timeout=10),
        "wrong field": api.session.post(url, files={"document": ("a.pdf", pdf)}, timeout=10),
        "broken boundary": api.session.post(url, data=b"--xyz\r\nContent-Disposition: form-data; name=\"file\"\r\n",
                                            headers={"Content-Type": "multipart/form-data; boundary=abc"},
                                            timeout=10),
        "json body": api.session.post(url, json={"file": "JVBERi0xLjcK"}, timeout=10),
    }
    for what, r in answers.items():
        assert 400 <= r.status_code < 500, (what, r.status_code, r.text[:300])
        assert r.json()["code"] == r.status_code and r.json()["message"], (what, r.text[:300])
