"""The review workflow end to end on real workers: an invoice whose totals do not add up lands
in manual_review; two reviewers race for it (one wins), the winner corrects it with the ETag
and approves it; vendor memory then vouches for the vendor's next invoice, and an invoice
with another IBAN for the same VAT id is held back as a fraud signal. Roles are enforced on
the live API. (Webhooks and exports of the same flow: test_review_webhooks_export.py.)
"""
from __future__ import annotations

import io
import threading
import uuid

import pytest
import requests

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(600)]

VAT_ID = "DE136695976"
IBAN = "DE89 3704 0044 0532 0130 00"
OTHER_IBAN = "DE02 1203 0000 0000 2020 51"


def _invoice(number: str, total: str, iban: str = IBAN) -> bytes:
    """A born-digital invoice of one vendor (Nordlicht Bürobedarf GmbH) with a text layer."""
    from reportlab.pdfgen import canvas

    buf = io.BytesIO()
    c = canvas.Canvas(buf)
    lines = [(72, 780, "Nordlicht Bürobedarf GmbH"), (72, 765, "Hafenstraße 12, 20457 Hamburg"),
             (72, 750, f"USt-IdNr.: {VAT_ID}"), (72, 700, "RECHNUNG"),
             (72, 680, f"Rechnungsnummer: {number}"), (72, 665, "Rechnungsdatum: 14.11.2026"),
             (72, 650, "Fälligkeitsdatum: 14.12.2026"), (72, 610, "Kunde: Hafenblick Logistik AG"),
             (72, 560, "Beschreibung                Menge     Einzelpreis      Betrag"),
             (72, 545, "Druckerpapier A4                 10           10,00      100,00"),
             (330, 500, "Nettobetrag:          100,00 EUR"), (330, 485, "MwSt. 19 %:            19,00 EUR"),
             (330, 470, f"Gesamtbetrag:         {total} EUR"), (72, 420, f"IBAN: {iban}"),
             (72, 405, "BIC: COBADEFFXXX")]
    for x, y, text in lines:
        c.drawString(x, y, text)
    c.showPage()
    c.save()
    return buf.getvalue()


def _session(base: str, email: str, password: str) -> requests.Session:
    s = requests.Session()
    r = s.post(f"{base}/auth/login", json={"email": email, "password": password}, timeout=10)
    r.raise_for_status()
    s.headers["Authorization"] = f"Bearer {r.json()['access_token']}"
    return s


def test_manual_review_claim_correct_approve_and_vendor_memory(stack):
    tag = uuid.uuid4().hex[:8]
    admin = stack.user(f"Review Co {tag}", f"admin-{tag}@review.test")
    people = {}
    for role in ("reviewer", "reviewer2", "uploader"):
        email, password = f"{role}-{tag}@review.test", "long enough password"
        r = admin.session.post(f"{stack.base}/users", timeout=10,
                               json={"email": email, "password": password, "role": role.rstrip("2")})
        assert r.status_code == 201, r.text
        people[role] = _session(stack.base, email, password)

    # 1. An uploader submits an invoice whose total is misprinted (119,00 + 72 = 191,00): review.
    up = people["uploader"].post(f"{stack.base}/documents/upload", timeout=30,
                                 files={"file": ("nl-1.pdf", _invoice(f"NL-{tag}-1", "191,00"))})
    assert up.status_code == 201, up.text
    doc = up.json()["document"]["id"]
    status = admin.wait_terminal(doc, 300)
    assert status["status"] == "manual_review", (status, stack.logs())
    body = admin.get(f"/documents/{doc}").json()
    assert any("does not equal the total" in r for r in body["evaluation"]["reasons"]), body["evaluation"]
    assert people["uploader"].post(f"{stack.base}/documents/{doc}/claim", timeout=10).status_code == 403

    # 2. Two reviewers race for it over HTTP: exactly one holds it.
    results, barrier = {}, threading.Barrier(2)

    def claim(who: str) -> None:
        barrier.wait()
        results[who] = people[who].post(f"{stack.base}/documents/{doc}/claim", timeout=10).status_code

    threads = [threading.Thread(target=claim, args=(w,)) for w in ("reviewer", "reviewer2")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results.values()) == [200, 409], results
    winner = next(w for w, code in results.items() if code == 200)
    loser = "reviewer2" if winner == "reviewer" else "reviewer"
    rev = people[winner]

    # 3. The winner corrects the total with the ETag; a stale second edit is refused.
    got = rev.get(f"{stack.base}/documents/{doc}", timeout=10)
    etag = got.headers["ETag"]
    patched = rev.patch(f"{stack.base}/documents/{doc}/fields", headers={"If-Match": etag}, timeout=10,
                        json={"fields": {"total": "119,00"}})
    assert patched.status_code == 200, patched.text
    assert patched.json()["total"] == 119.0 and patched.json()["fields"]["total"]["locked"] is True
    stale = rev.patch(f"{stack.base}/documents/{doc}/fields", headers={"If-Match": etag}, timeout=10,
                      json={"fields": {"total": "119,00"}})
    assert stale.status_code == 412
    assert people[loser].post(f"{stack.base}/documents/{doc}/approve", json={}, timeout=10).status_code == 409

    # 4. Approve: a person's decision, audited; vendor memory learns the vendor.
    approved = rev.post(f"{stack.base}/documents/{doc}/approve", json={"comment": "total misprinted"}, timeout=10)
    assert approved.status_code == 200, approved.text
    assert approved.json()["status"] == "approved" and approved.json()["decision"]["by"]["email"].startswith(winner)
    audit = [e["action"] for e in rev.get(f"{stack.base}/documents/{doc}/audit", timeout=10).json()["entries"]]
    assert audit[-3:] == ["claim", "correction", "approve"] and audit.count("claim") == 1, audit
    vendors = rev.get(f"{stack.base}/vendors", timeout=10).json()["vendors"]
    assert [v["vat_id"] for v in vendors] == [VAT_ID], vendors

    # 5. The vendor's next invoice is read with the memory: evidence for approval.
    nxt = admin.upload(_invoice(f"NL-{tag}-2", "119,00"), "nl-2.pdf").json()["document"]["id"]
    admin.wait_terminal(nxt, 300)
    check = admin.get(f"/documents/{nxt}").json()["evaluation"]["checks"]["vendor_memory"]
    assert check["known"] and check["matched_by"] == "vat_id" and not check["iban_changed"], check
    assert any("confirmed 1 time" in e for e in check["evidence"]), check

    # 6. Another IBAN for the same VAT id: held back, approval blocked until acknowledged.
    fraud = admin.upload(_invoice(f"NL-{tag}-3", "119,00", OTHER_IBAN), "nl-3.pdf").json()["document"]["id"]
    assert admin.wait_terminal(fraud, 300)["status"] == "manual_review"
    body = admin.get(f"/documents/{fraud}").json()
    assert body["vendor"]["iban_changed"] is True, body["evaluation"]
    blocked = rev.post(f"{stack.base}/documents/{fraud}/approve", json={}, timeout=10)
    assert blocked.status_code == 409 and blocked.json()["blocking"] == ["iban_changed"]
    rejected = rev.post(f"{stack.base}/documents/{fraud}/reject", json={"reason": "IBAN not confirmed by phone"},
                        timeout=10)
    assert rejected.status_code == 200 and rejected.json()["status"] == "rejected"

    stats = rev.get(f"{stack.base}/stats", timeout=10).json()
    assert stats["review"]["approved_by_person"] == 1 and stats["review"]["rejected"] == 1
    assert stats["reviewers"][0]["decisions"] == 2
