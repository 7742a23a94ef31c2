"""The benchmark's corpora: a file whose embedded XML is not its page's truth is scored without
the fields it gets wrong (benchmarks/accuracy/corpora.py NOT_TRUTH), the rest of its truth kept."""
from __future__ import annotations

import json
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from benchmarks.accuracy import corpora  # noqa: E402


def _manifest(tmp_path: Path, source: str) -> Path:
    doc = {"id": "zugferd/born_digital/x", "corpus": "zugferd", "kind": "born_digital", "language": "de",
           "split": "dev", "file": "zugferd/born_digital/x.pdf", "content_type": "application/pdf",
           "sha256": "0" * 64, "family": "Mustangproject", "source": source, "document_type": "invoice",
           "truth": {"invoice_number": "RE-1", "amount": "496.00", "vat": "75.04", "total": "571.04",
                     "amount_due": "571.04", "invoice_date": "2015-06-13"}}
    (tmp_path / corpora.MANIFEST).write_text(json.dumps({"version": corpora.MANIFEST_VERSION, "documents": [doc],
                                                         "skipped": []}), encoding="utf-8")
    return tmp_path


def test_a_file_whose_xml_is_another_invoice_is_scored_without_those_fields(tmp_path):
    source = next(iter(corpora.NOT_TRUTH))
    d = corpora.load("zugferd", cache=_manifest(tmp_path, source))[0]
    assert d.truth == {"invoice_number": "RE-1", "invoice_date": "2015-06-13"}
    assert d.meta["not_truth"]["fields"] == ["amount", "vat", "total", "amount_due"]


def test_other_files_keep_their_whole_truth(tmp_path):
    d = corpora.load("zugferd", cache=_manifest(tmp_path, "ZUGFeRDv1/correct/Other/invoice.pdf"))[0]
    assert d.truth["total"] == "571.04" and "not_truth" not in d.meta
