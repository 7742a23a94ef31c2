"""Vendor memory benchmark: does a person's confirmation of one invoice help with the
vendor's next ones?

    python benchmarks/vendor_memory/run.py --vendors 8 --invoices 5 --kind born_digital

What it does
------------
1. Generates `--vendors` vendors (`tests/invoicegen`: each its own language, layout, name,
   VAT id, IBAN, labels and money/date style) and `--invoices` invoices from each: the same
   vendor and template, varied numbers, dates, line items (1-6) and amounts. `--kind scanned`
   degrades them into scans (then OCR runs: slower).
2. Runs every invoice through the stage functions in-process, as the accuracy benchmark does
   (`preprocess` -> `ocr_pages` -> the configured provider -> `extract` -> `evaluate`), twice
   from the prediction on:
   - **without memory**: what the pipeline does today for an unknown vendor;
   - **with memory**: invoice 1 of each vendor is confirmed by a person (its true values, as a
     reviewer would correct them), which teaches vendor memory exactly as an approval does
     (`vendor_memory.lesson` on the confirmed fields and the OCR lines). Invoices 2..M are then
     read with the memory as a prior (`stages.extraction.use_vendor_memory`) and evaluated with
     its evidence (`vendor_memory.evidence`), the code the workers run.
   The memory store is an in-process dict standing in for the `vendors` table (the SQL path is
   covered by tests/integration/test_api_review.py); one company.
3. Prints, for invoices 2..M: straight-through rate (share approved automatically), approval
   precision (approved with every core field right, as in benchmarks/accuracy), core-field
   accuracy, and the ratio with / without memory. With `--fraud-share`, that share of invoices
   2..M carries another valid IBAN than the vendor's (payment diversion); they are counted apart:
   how many each run approves automatically.
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import logging
import random
import sys
import tempfile
import time
from dataclasses import asdict, replace
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tests"))

from invoicegen import LANGUAGES, LAYOUT_NAMES, ids  # noqa: E402
from invoicegen.layouts import LAYOUTS  # noqa: E402
from invoicegen.model import build_invoice, make_items  # noqa: E402
from invoicegen.scan import scan  # noqa: E402

from invoice.scanner.processing.config import Settings  # noqa: E402
from invoice.scanner.processing.extract import vendor_memory  # noqa: E402


def _accuracy_module():
    """The accuracy benchmark's scoring (the same notion of a right field)."""
    spec = importlib.util.spec_from_file_location("accuracy_run", REPO / "benchmarks" / "accuracy" / "run.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def vendor_series(vendor_seed: int, count: int, kind: str, fraud_share: float = 0.0) -> list[tuple[bytes, str, dict]]:
    """`count` invoices of one vendor: (data, content type, truth). After the first, a share
    `fraud_share` carry another IBAN than the vendor's (a payment-diversion fraud)."""
    rng = random.Random(f"vendor-{vendor_seed}")
    language = rng.choice(LANGUAGES)
    layout = rng.choice(LAYOUT_NAMES)
    base = build_invoice(vendor_seed, random.Random(f"{vendor_seed}-invoice"), language, 2)
    out = []
    for j in range(count):
        seed = vendor_seed * 1000 + j
        inv = build_invoice(seed, random.Random(f"{seed}-invoice"), language, 2)
        items = make_items(random.Random(f"{seed}-items"), language, base.country.vat_rates, False, rng.randint(1, 6))
        inv = replace(inv, country=base.country, vendor=base.vendor, customer=base.customer, currency=base.currency,
                      money=base.money, dates=base.dates, number_style=base.number_style, bank=base.bank,
                      show_bic=base.show_bic, labels=base.labels, show_tax_column=base.show_tax_column,
                      register=base.register, items=items, attention=base.attention)
        # Its own random stream: the invoices themselves are the same whatever the share.
        fraud = j > 0 and base.bank.iban is not None and random.Random(f"{seed}-fraud").random() < fraud_share
        if fraud:
            inv = replace(inv, bank=ids.bank_account(random.Random(f"{seed}-fraud"), base.country.code))
        _, n = LAYOUTS[layout](inv, random.Random(f"{vendor_seed}-layout")).render(None)
        pdf, n = LAYOUTS[layout](inv, random.Random(f"{vendor_seed}-layout")).render(n)
        truth = inv.truth()
        truth["meta"] = {"vendor": vendor_seed, "language": language, "layout": layout, "invoice": j + 1, "pages": n,
                         "fraud": fraud}
        if kind == "scanned":
            s = scan(pdf, seed, n)
            out.append((s.data, s.content_type, truth))
        else:
            out.append((pdf, "application/pdf", truth))
    return out


def _pages_as_stored(ocr) -> list[dict]:
    return [{"page_no": p.page_no, "width": p.width, "height": p.height, "lines": [asdict(line) for line in p.lines]}
            for p in ocr]


def confirmed_fields(truth: dict, extraction) -> dict:
    """The fields as a person confirms them: the true values; where the reader found the right
    value its page and box are kept (the API keeps them for an unchanged field)."""
    acc = _ACC
    out = {}
    for name, f in extraction.fields.items():
        t = truth.get(name)
        right = acc.field_right(name, t, f.value)
        out[name] = {"value": f.value if right else t, "page": f.page if right else None,
                     "bbox": list(f.bbox) if right and f.bbox else None,
                     "derived": right and f.raw_value is None}
    return out


def run(vendors: int, invoices: int, kind: str, seed: int, fraud_share: float = 0.0) -> dict:
    from invoice.scanner.processing.stages.evaluation import ReviewContext, evaluate
    from invoice.scanner.processing.stages.extraction import extract, use_vendor_memory
    from invoice.scanner.processing.stages.llm.providers import get_provider
    from invoice.scanner.processing.stages.ocr import ocr_pages
    from invoice.scanner.processing.stages.preprocessing import preprocess

    settings = Settings.from_env()
    provider = get_provider(settings)
    rows = []
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        for v in range(vendors):
            vseed = seed * 1000 + v
            memory: vendor_memory.Match | None = None
            for j, (data, content_type, truth) in enumerate(vendor_series(vseed, invoices, kind, fraud_share)):
                src = Path(tmp) / f"{vseed}-{j}.{'pdf' if content_type == 'application/pdf' else 'img'}"
                src.write_bytes(data)
                pages = preprocess(src, content_type, Path(tmp) / f"{vseed}-{j}", settings)
                ocr = ocr_pages(pages, settings)
                images = pages if settings.llm_send_images else []
                results = {}
                for mode in ("without", "with"):
                    prediction = provider.predict(ocr, images)
                    used = use_vendor_memory(prediction, ocr, memory) if mode == "with" else []
                    extraction = extract(prediction, ocr)
                    iban = extraction.fields["iban"].value if extraction.fields["iban"].valid else None
                    review = ReviewContext(vendor=vendor_memory.evidence(memory, iban)) if mode == "with" else None
                    evaluation = evaluate(extraction, settings.approval_threshold, review)
                    rec = {"fields": {n: f.value for n, f in extraction.fields.items()},
                           "line_items": [asdict(li) for li in extraction.line_items],
                           "approved": evaluation.approved}
                    results[mode] = {"approved": evaluation.approved, "score": _ACC.score(truth, rec), "used": used,
                                     "reasons": evaluation.reasons}
                    if mode == "with" and j == 0:
                        # A person confirms invoice 1: vendor memory learns from it, as at approval.
                        lesson = vendor_memory.lesson(confirmed_fields(truth, extraction), _pages_as_stored(ocr))
                        if lesson is not None:
                            memory = vendor_memory.Match(
                                vendor_id=f"v{vseed}", matched_by="vat_id" if lesson.vat_id else "name",
                                name=lesson.name, vat_id=lesson.vat_id, iban=lesson.iban, currency=lesson.currency,
                                layout=lesson.layout, confirmations=1, iban_confirmations=1 if lesson.iban else 0)
                rows.append({"vendor": vseed, "invoice": j + 1, "language": truth["meta"]["language"],
                             "fraud": truth["meta"]["fraud"],
                             "layout": truth["meta"]["layout"], **{m: results[m] for m in results},
                             "remembered_fields": sorted(memory.layout) if memory else []})
    seconds = time.perf_counter() - started

    def summary(mode: str) -> dict:
        later = [r for r in rows if r["invoice"] > 1 and not r["fraud"]]
        frauds = [r for r in rows if r["fraud"]]
        approved = [r for r in later if r[mode]["approved"]]
        right = [r for r in approved if r[mode]["score"]["core_right"]]
        return {"documents": len(later), "approved": len(approved),
                "straight_through": len(approved) / len(later) if later else None,
                "approval_precision": len(right) / len(approved) if approved else None,
                "core_right": sum(r[mode]["score"]["core_right"] for r in later) / len(later) if later else None,
                "fraud_invoices": len(frauds), "fraud_approved": sum(r[mode]["approved"] for r in frauds)}

    res = {"vendors": vendors, "invoices_per_vendor": invoices, "kind": kind, "seed": seed, "fraud_share": fraud_share,
           "threshold": settings.approval_threshold, "provider": settings.llm_provider, "seconds": seconds,
           "without": summary("without"), "with": summary("with"), "rows": rows}
    return res


def _pct(x: float | None) -> str:
    return "   -  " if x is None else f"{100 * x:5.1f} %"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--vendors", type=int, default=8)
    ap.add_argument("--invoices", type=int, default=5, help="invoices per vendor (the first is confirmed)")
    ap.add_argument("--kind", choices=("born_digital", "scanned"), default="born_digital")
    ap.add_argument("--seed", type=int, default=11)
    ap.add_argument("--fraud-share", type=float, default=0.0,
                    help="share of invoices 2..M that carry another IBAN than the vendor's (default 0)")
    ap.add_argument("--json", type=Path, help="write the results (with every document) here")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    res = run(args.vendors, args.invoices, args.kind, args.seed, args.fraud_share)
    w, m = res["without"], res["with"]
    print(f"vendor memory: {res['vendors']} vendors x {res['invoices_per_vendor']} {res['kind']} invoices, "
          f"provider {res['provider']}, threshold {res['threshold']:.2f}, {res['seconds']:.0f}s")
    print(f"invoices 2..M, vendor's own IBAN ({w['documents']} documents)   without memory   with memory   ratio")
    for label, key in (("straight-through rate", "straight_through"), ("approval precision", "approval_precision"),
                       ("core fields all right", "core_right")):
        a, b = w[key], m[key]
        ratio = f"{b / a:5.2f}x" if a and b is not None else "   - "
        print(f"{label:26s} {_pct(a):>14s} {_pct(b):>13s}   {ratio}")
    print(f"approved: {w['approved']} without, {m['approved']} with")
    if w["fraud_invoices"]:
        print(f"invoices with another IBAN ({w['fraud_invoices']}): approved automatically {w['fraud_approved']} "
              f"without memory, {m['fraud_approved']} with memory")
    helped = [r for r in res["rows"] if r["invoice"] > 1 and r["with"]["used"]]
    print(f"documents where memory changed a field: {len(helped)}; fields most often taken from memory: "
          + ", ".join(f"{k} {v}" for k, v in sorted(
              {f: sum(f in r["with"]["used"] for r in helped) for r in helped for f in r["with"]["used"]}.items(),
              key=lambda kv: -kv[1])[:6]))
    if args.json:
        args.json.write_text(json.dumps(res, indent=1, default=str))
    return 0


_ACC = _accuracy_module()

if __name__ == "__main__":
    sys.exit(main())
