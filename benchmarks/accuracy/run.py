"""Accuracy benchmark: generated invoices with exact ground truth through the real pipeline.

    python benchmarks/accuracy/run.py --n 300 --seed 7 --workers 2

What it does
------------
1. Generates a corpus (`tests/invoicegen`) of `--n` invoices into `--out` (default
   `benchmarks/accuracy/out/`, gitignored; a cache: only missing invoices are generated):
   every layout x language pair before any repeats,
   about 40 % scans (PNG, JPEG, TIFF, image-only PDF; skew, rotation, blur, noise), about
   15 % multi-page.
2. Runs each document through the stage functions in-process (no Celery, no database):
   `preprocessing.preprocess` -> `ocr.ocr_pages` -> `llm.providers.get_provider(settings).predict`
   -> `extraction.extract` -> `evaluation.evaluate`, in `--workers` processes (one OCR model
   per process). Settings come from the environment like the workers' (`LLM_PROVIDER`,
   `OCR_MODELS`, `APPROVAL_THRESHOLD`, ...).
3. Scores the normalized fields against the truth with the pipeline's own normalization
   (dates ISO, amounts to the cent, ISO currency codes, IBAN/BIC/tax ids compact and upper
   case, names and addresses compared case- and whitespace-insensitively, commas ignored)
   and prints:
   - per-field accuracy, overall, born-digital vs scanned, and by language;
   - line items: share of true items found exactly (description, quantity, unit price,
     amount, and tax rate where the invoice prints one), share of documents with every
     item exactly right;
   - document exactness (every field right; every core field right);
   - straight-through rate (share approved) and approval precision (share of approved
     documents whose core fields are all right; core = invoice_number, invoice_date,
     vendor_name, amount, vat, total, currency, and due_date where the invoice has one);
   - calibration of `predicted_accuracy` against the measured core-field accuracy, by bins,
     with the expected calibration error (ECE);
   - a threshold sweep (threshold -> straight-through rate, approval precision), with the
     lowest threshold that reaches `--target-precision`: the candidate default for
     `APPROVAL_THRESHOLD`;
   - accuracy of core fields by layout, and seconds per stage.
   A JSON file (`--json`, default `<out>/results.json`) keeps the summary and per-document
   outcomes.

Quick runs: `--limit 20` (first 20 of the corpus), `--kinds born_digital` or `--kinds scanned`.
A document whose stage raises is counted with every field wrong and listed under `errors`.
"""
from __future__ import annotations

import argparse
import json
import logging
import multiprocessing as mp
import os
import re
import sys
import time
import traceback
import unicodedata
from collections import defaultdict
from dataclasses import replace
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tests"))  # the generator lives with the tests

from invoicegen import KINDS, LANGUAGES, corpus_plan, generate  # noqa: E402

from invoice.scanner.processing.config import Settings  # noqa: E402
from invoice.scanner.processing.fields import FIELD_BY_NAME, FIELD_NAMES  # noqa: E402

logger = logging.getLogger("benchmarks.accuracy")

# The core fields of the approval-precision definition; due_date only where the truth has one.
CORE = ("invoice_number", "invoice_date", "vendor_name", "amount", "vat", "total", "currency", "due_date")
SWEEP = (0.0, 0.5, 0.6, 0.7, 0.75, 0.8, 0.85, 0.88, 0.9, 0.92, 0.94, 0.96, 0.98)
CAL_BINS = (0.0, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 1.0001)
_THRESHOLD = 0.0  # the settings' approval threshold, for the report


# --- normalization for comparison ------------------------------------------------------------

def _fold(s: str) -> str:
    s = unicodedata.normalize("NFKC", s).casefold()
    s = re.sub(r"[,;:|·]", " ", s)
    return re.sub(r"\s+", " ", s).strip(" .")


def norm(name: str, value: Any) -> Any:
    """A value as it is compared: the pipeline's canonical forms, made insensitive to
    layout-only differences (case, spacing, line breaks in addresses)."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    kind = FIELD_BY_NAME[name].kind if name in FIELD_BY_NAME else "text"
    if kind == "amount":
        try:
            return round(float(value), 2)
        except (TypeError, ValueError):
            return ("unparsed", str(value))
    if kind == "date":
        return str(value)[:10]
    if kind == "currency":
        return str(value).strip().upper()
    if kind in ("iban", "tax_id"):
        return re.sub(r"[^0-9A-Za-z]", "", str(value)).upper()
    if kind == "bic":
        b = re.sub(r"\s", "", str(value)).upper()
        return b[:8] if len(b) == 11 and b.endswith("XXX") else b
    if name == "invoice_number":
        return re.sub(r"\s", "", str(value)).casefold()
    return _fold(str(value))


def field_right(name: str, truth: Any, predicted: Any) -> bool:
    return norm(name, truth) == norm(name, predicted)


def _num(x: Any) -> float | None:
    try:
        return None if x is None else round(float(x), 4)
    except (TypeError, ValueError):
        return None


def item_right(t: dict, p: dict, check_tax: bool) -> bool:
    if norm("description", t["description"]) != norm("description", p.get("description")):
        return False
    for k in ("quantity", "unit_price", "amount"):
        if _num(t[k]) is None or _num(p.get(k)) is None or abs(_num(t[k]) - _num(p.get(k))) > 0.005:
            return False
    if check_tax:
        return _num(p.get("tax_rate")) is not None and abs(_num(t["tax_rate"]) - _num(p["tax_rate"])) < 0.001
    return True


def match_items(truth_items: list[dict], pred_items: list[dict], check_tax: bool) -> int:
    """Number of true items with an exactly right predicted item (each used once, in order
    of appearance, so a dropped row does not shift every later one)."""
    used = [False] * len(pred_items)
    found = 0
    for t in truth_items:
        for j, p in enumerate(pred_items):
            if not used[j] and item_right(t, p, check_tax):
                used[j] = True
                found += 1
                break
    return found


# --- corpus -----------------------------------------------------------------------------------

def _generate_one(args: tuple[dict, str]) -> dict:
    spec, out = args
    inv = generate(**spec)
    Path(out, inv.filename).write_bytes(inv.data)
    inv.truth["meta"].update({"filename": inv.filename, "content_type": inv.content_type})
    return inv.truth


def ensure_corpus(out: Path, n: int, seed: int, kinds: tuple[str, ...], limit: int | None,
                  workers: int) -> list[dict]:
    """The selected part of the corpus `corpus_plan(n, seed)`: its documents of `kinds`, the
    first `limit` of them. The corpus is a cache: `truth.jsonl` keeps every invoice generated
    so far, and only missing ones are generated, so a quick `--kinds born_digital` run and a
    later full run share files and truth."""
    out.mkdir(parents=True, exist_ok=True)
    truth_file = out / "truth.jsonl"
    cached: dict[int, dict] = {}
    if truth_file.exists():
        for line in truth_file.read_text(encoding="utf-8").splitlines():
            t = json.loads(line)
            if (out / t["meta"]["filename"]).exists():
                cached[t["meta"]["seed"]] = t
    plan = [spec for spec in corpus_plan(n, seed) if spec["kind"] in kinds]
    if limit:
        plan = plan[:limit]

    def fresh(spec: dict, t: dict) -> bool:
        m = t["meta"]
        return (m["kind"], m["language"], m["layout"], m["pages"]) == (spec["kind"], spec["language"],
                                                                       spec["layout"], spec["pages"])

    missing = [spec for spec in plan if not (spec["seed"] in cached and fresh(spec, cached[spec["seed"]]))]
    if missing:
        started = time.perf_counter()
        with mp.get_context("fork").Pool(workers) as pool:
            for t in pool.imap(_generate_one, [(spec, str(out)) for spec in missing], chunksize=2):
                cached[t["meta"]["seed"]] = t
        with open(truth_file, "w", encoding="utf-8") as fh:
            for t in sorted(cached.values(), key=lambda t: t["meta"]["seed"]):
                fh.write(json.dumps(t, ensure_ascii=False) + "\n")
        print(f"generated {len(missing)} invoices in {time.perf_counter() - started:.0f}s into {out}")
    else:
        print(f"reusing {len(plan)} invoices in {out}")
    return [cached[spec["seed"]] for spec in plan]


# --- pipeline in a worker process -----------------------------------------------------------------

_SETTINGS: Settings | None = None


def _init_worker(settings: Settings, threads: int) -> None:
    global _SETTINGS
    _SETTINGS = settings
    os.environ.setdefault("OMP_NUM_THREADS", str(threads))
    logging.basicConfig(level=logging.WARNING)
    from invoice.scanner.processing.vision.engines import warm_up

    warm_up(settings)  # one OCR model per process, loaded before the first document


def _run_one(args: tuple[dict, str, tuple[float, ...]]) -> dict:
    truth, out, sweep = args
    from invoice.scanner.processing.stages.evaluation import evaluate
    from invoice.scanner.processing.stages.extraction import extract
    from invoice.scanner.processing.stages.llm.providers import get_provider
    from invoice.scanner.processing.stages.ocr import ocr_pages
    from invoice.scanner.processing.stages.preprocessing import preprocess

    settings = _SETTINGS
    assert settings is not None
    meta = truth["meta"]
    source = Path(out) / meta["filename"]
    pages_dir = Path(out) / "pages" / Path(meta["filename"]).stem
    rec: dict[str, Any] = {"filename": meta["filename"], "seconds": {}}
    stage = "preprocessing"
    try:
        t0 = time.perf_counter()
        pages = preprocess(source, meta["content_type"], pages_dir, settings)
        t1 = time.perf_counter()
        stage = "ocr"
        ocr = ocr_pages(pages, settings)
        t2 = time.perf_counter()
        stage = "llm"
        prediction = get_provider(settings).predict(ocr, pages if settings.llm_send_images else [])
        t3 = time.perf_counter()
        stage = "extraction"
        extraction = extract(prediction, ocr)
        t4 = time.perf_counter()
        stage = "evaluation"
        evaluation = evaluate(extraction, settings.approval_threshold)
        t5 = time.perf_counter()
        # The sweep reruns only the pure evaluation: approval at each threshold, exactly.
        approved_at = {str(t): evaluate(extraction, t).approved for t in sweep}
    except Exception as exc:  # noqa: BLE001 - a failing document is a result, recorded with its stage
        rec.update(error=f"{stage}: {type(exc).__name__}: {exc}", traceback=traceback.format_exc(limit=4))
        return rec
    rec["seconds"] = {"preprocessing": t1 - t0, "ocr": t2 - t1, "llm": t3 - t2, "extraction": t4 - t3,
                      "evaluation": t5 - t4}
    rec["engines"] = sorted({p.engine for p in ocr})
    rec["rotations"] = [p.rotation for p in pages]
    rec["fields"] = {n: f.value for n, f in extraction.fields.items()}
    rec["confidence"] = {n: f.confidence for n, f in extraction.fields.items()}
    rec["line_items"] = [{"description": li.description, "quantity": li.quantity, "unit_price": li.unit_price,
                          "amount": li.amount, "tax_rate": li.tax_rate} for li in extraction.line_items]
    rec["approved"] = evaluation.approved
    rec["quality_score"] = evaluation.quality_score
    rec["predicted_accuracy"] = evaluation.predicted_accuracy
    rec["reasons"] = evaluation.reasons
    rec["approved_at"] = approved_at
    return rec


# --- scoring ------------------------------------------------------------------------------------

def score(truth: dict, rec: dict) -> dict:
    pred = rec.get("fields") or {}
    right = {n: field_right(n, truth.get(n), pred.get(n)) if "error" not in rec else False for n in FIELD_NAMES}
    core = [n for n in CORE if not (n == "due_date" and truth.get("due_date") is None)]
    items = truth["line_items"]
    matched = match_items(items, rec.get("line_items") or [], truth["meta"].get("line_item_tax_printed", True))
    return {
        "right": right,
        "core_right": all(right[n] for n in core),
        # Measured counterpart of predicted_accuracy: share of the pipeline's CORE_FIELDS right.
        "core_share": sum(right[n] for n in CORE) / len(CORE),
        "all_right": all(right.values()),
        "items_true": len(items),
        "items_matched": matched,
        "items_predicted": len(rec.get("line_items") or []),
        "items_exact_doc": matched == len(items) and len(rec.get("line_items") or []) == len(items),
    }


def pct(num: float, den: float) -> str:
    return f"{100 * num / den:5.1f}" if den else "    -"


def report(truths: list[dict], recs: list[dict], sweep: tuple[float, ...], target: float) -> dict:
    scores = [score(t, r) for t, r in zip(truths, recs)]
    n = len(truths)
    groups: dict[str, list[int]] = {"all": list(range(n))}
    for kind in KINDS:
        groups[kind] = [i for i, t in enumerate(truths) if t["meta"]["kind"] == kind]
    for lang in LANGUAGES:
        groups[lang] = [i for i, t in enumerate(truths) if t["meta"]["language"] == lang]
    groups = {k: v for k, v in groups.items() if v}

    print(f"\n== Per-field accuracy (%), {n} documents ==")
    cols = list(groups)
    print(f"{'field':18s}" + "".join(f"{c[:12]:>13s}" for c in cols))
    per_field: dict[str, dict[str, float]] = {}
    for name in FIELD_NAMES:
        row = {}
        for c in cols:
            idx = groups[c]
            row[c] = sum(scores[i]["right"][name] for i in idx) / len(idx)
        per_field[name] = row
        print(f"{name:18s}" + "".join(f"{100 * row[c]:13.1f}" for c in cols))
    print(f"{'(documents)':18s}" + "".join(f"{len(groups[c]):13d}" for c in cols))

    def share(idx: list[int], key: str) -> float:
        return sum(1 for i in idx if scores[i][key]) / len(idx) if idx else 0.0

    print("\n== Documents and line items (%) ==")
    print(f"{'':28s}" + "".join(f"{c[:12]:>13s}" for c in cols))
    doc_rows = {}
    for label, key in (("all fields right", "all_right"), ("core fields right", "core_right"),
                       ("line items all exact", "items_exact_doc")):
        doc_rows[key] = {c: share(groups[c], key) for c in cols}
        print(f"{label:28s}" + "".join(f"{100 * doc_rows[key][c]:13.1f}" for c in cols))
    item_share = {c: (sum(scores[i]["items_matched"] for i in groups[c]) /
                      max(1, sum(scores[i]["items_true"] for i in groups[c]))) for c in cols}
    item_prec = {c: (sum(scores[i]["items_matched"] for i in groups[c]) /
                     max(1, sum(scores[i]["items_predicted"] for i in groups[c]))) for c in cols}
    print(f"{'line items found exactly':28s}" + "".join(f"{100 * item_share[c]:13.1f}" for c in cols))
    print(f"{'predicted items exact':28s}" + "".join(f"{100 * item_prec[c]:13.1f}" for c in cols))

    ok = [i for i, r in enumerate(recs) if "error" not in r]
    approved = [i for i in ok if recs[i]["approved"]]
    stp = len(approved) / n if n else 0.0
    precision = (sum(scores[i]["core_right"] for i in approved) / len(approved)) if approved else None
    print("\n== Approval ==")
    print(f"threshold (settings)      {_THRESHOLD:.2f}")
    print(f"straight-through rate     {100 * stp:5.1f} %  ({len(approved)}/{n} approved)")
    print(f"approval precision        {'-' if precision is None else f'{100 * precision:5.1f} %'}"
          f"  (approved with every core field right)")
    by_kind_stp = {k: (sum(1 for i in groups[k] if i in set(approved)) / len(groups[k])) for k in KINDS if k in groups}
    print("straight-through by kind  " + ", ".join(f"{k} {100 * v:.1f} %" for k, v in by_kind_stp.items()))

    # Calibration: predicted_accuracy vs measured share of CORE_FIELDS right.
    print("\n== Calibration of predicted_accuracy (core fields) ==")
    print(f"{'bin':>13s} {'docs':>6s} {'predicted':>10s} {'measured':>10s}")
    ece = 0.0
    bins = []
    for lo, hi in zip(CAL_BINS, CAL_BINS[1:]):
        idx = [i for i in ok if lo <= recs[i]["predicted_accuracy"] < hi]
        if not idx:
            continue
        p = sum(recs[i]["predicted_accuracy"] for i in idx) / len(idx)
        m = sum(scores[i]["core_share"] for i in idx) / len(idx)
        ece += len(idx) / len(ok) * abs(p - m)
        bins.append({"lo": lo, "hi": min(hi, 1.0), "docs": len(idx), "predicted": p, "measured": m})
        print(f"{lo:5.2f}-{min(hi, 1.0):4.2f}    {len(idx):6d} {100 * p:9.1f}% {100 * m:9.1f}%")
    mean_p = sum(recs[i]["predicted_accuracy"] for i in ok) / len(ok) if ok else 0.0
    mean_m = sum(scores[i]["core_share"] for i in ok) / len(ok) if ok else 0.0
    print(f"mean predicted {100 * mean_p:.1f} %, measured {100 * mean_m:.1f} %, ECE {100 * ece:.1f} points")

    print("\n== Threshold sweep ==")
    print(f"{'threshold':>9s} {'straight-through':>17s} {'precision':>10s} {'approved':>9s}")
    sweep_rows = []
    suggestion = None
    for t in sweep:
        app = [i for i in ok if recs[i]["approved_at"][str(t)]]
        prec = sum(scores[i]["core_right"] for i in app) / len(app) if app else None
        sweep_rows.append({"threshold": t, "straight_through": len(app) / n, "precision": prec, "approved": len(app)})
        if suggestion is None and prec is not None and prec >= target:
            suggestion = t
        print(f"{t:9.2f} {100 * len(app) / n:16.1f}% {'-' if prec is None else f'{100 * prec:9.1f}%':>10s} "
              f"{len(app):9d}")
    print(f"lowest threshold with approval precision >= {100 * target:.0f} %: "
          f"{'none in the sweep' if suggestion is None else f'{suggestion:.2f}'}")

    print("\n== Core fields right by layout (%) ==")
    layouts = sorted({t["meta"]["layout"] for t in truths})
    by_layout = {}
    for lay in layouts:
        idx = [i for i, t in enumerate(truths) if t["meta"]["layout"] == lay]
        by_layout[lay] = {"docs": len(idx), "core_right": share(idx, "core_right"),
                          "approved": sum(1 for i in idx if i in set(approved)) / len(idx)}
        print(f"{lay:20s} {len(idx):4d} docs  core right {100 * by_layout[lay]['core_right']:5.1f}  "
              f"approved {100 * by_layout[lay]['approved']:5.1f}")

    errors = [{"filename": r["filename"], "error": r["error"]} for r in recs if "error" in r]
    seconds = {s: sum(r["seconds"].get(s, 0.0) for r in recs if "error" not in r) / max(1, len(ok))
               for s in ("preprocessing", "ocr", "llm", "extraction", "evaluation")}
    print("\n== Seconds per document (mean) ==")
    print("  ".join(f"{s} {v:.2f}" for s, v in seconds.items()))
    if errors:
        print(f"\n{len(errors)} document(s) failed in a stage, e.g. {errors[0]['filename']}: {errors[0]['error']}")
    return {
        "documents": n, "per_field": per_field, "documents_exact": doc_rows,
        "line_items_found_exactly": item_share, "line_items_precision": item_prec,
        "straight_through": stp, "approval_precision": precision, "straight_through_by_kind": by_kind_stp,
        "calibration": {"bins": bins, "ece": ece, "mean_predicted": mean_p, "mean_measured": mean_m},
        "sweep": sweep_rows, "suggested_threshold": suggestion, "target_precision": target,
        "by_layout": by_layout, "seconds_per_document": seconds, "errors": errors,
    }


def main(argv: list[str] | None = None) -> int:
    global _THRESHOLD
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=300, help="corpus size (default 300)")
    ap.add_argument("--seed", type=int, default=7, help="corpus seed (default 7)")
    ap.add_argument("--workers", type=int, default=2, help="processes, one OCR model each (default 2)")
    ap.add_argument("--limit", type=int, default=None, help="only the first N selected documents of the corpus")
    ap.add_argument("--kinds", default=",".join(KINDS),
                    help="born_digital,scanned (default both): which of the corpus's documents to run")
    ap.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "out", help="corpus and page dir")
    ap.add_argument("--json", type=Path, default=None, help="results file (default <out>/results.json)")
    ap.add_argument("--target-precision", type=float, default=0.98,
                    help="approval precision the suggested threshold must reach (default 0.98)")
    args = ap.parse_args(argv)
    kinds = tuple(k.strip() for k in args.kinds.split(",") if k.strip())
    if not kinds or any(k not in KINDS for k in kinds):
        ap.error(f"--kinds takes {', '.join(KINDS)}")
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")

    settings = Settings.from_env()
    _THRESHOLD = settings.approval_threshold
    sweep = tuple(sorted(set(SWEEP) | {settings.approval_threshold}))
    truths = ensure_corpus(args.out, args.n, args.seed, kinds, args.limit, args.workers)
    print(f"running {len(truths)} documents: provider={settings.llm_provider} ocr={settings.ocr_engine}/"
          f"{settings.ocr_models} threshold={settings.approval_threshold} workers={args.workers}")
    threads = max(1, (os.cpu_count() or 1) // max(1, args.workers))
    started = time.perf_counter()
    recs: list[dict] = []
    # Records stream to disk as documents finish, so a long run that is stopped keeps its work.
    with open(args.out / "records.jsonl", "w", encoding="utf-8") as records, \
            mp.get_context("spawn").Pool(args.workers, initializer=_init_worker, initargs=(settings, threads)) as pool:
        for k, rec in enumerate(pool.imap(_run_one, [(t, str(args.out), sweep) for t in truths], chunksize=1), 1):
            recs.append(rec)
            records.write(json.dumps(rec, ensure_ascii=False, default=str) + "\n")
            records.flush()
            if k % 25 == 0 or k == len(truths):
                print(f"  {k}/{len(truths)} done, {time.perf_counter() - started:.0f}s", flush=True)
    wall = time.perf_counter() - started
    summary = report(truths, recs, sweep, args.target_precision)
    summary.update(wall_seconds=wall, docs_per_minute=60 * len(truths) / wall if wall else None,
                   config={"n": args.n, "seed": args.seed, "kinds": list(kinds), "limit": args.limit,
                           "workers": args.workers, "llm_provider": settings.llm_provider,
                           "ocr_engine": settings.ocr_engine, "ocr_models": settings.ocr_models,
                           "approval_threshold": settings.approval_threshold})
    print(f"\nwall {wall:.0f}s for {len(truths)} documents ({summary['docs_per_minute']:.1f}/min with "
          f"{args.workers} workers)")
    per_doc = []
    for t, r in zip(truths, recs):
        s = score(t, r)
        per_doc.append({"filename": t["meta"]["filename"], "kind": t["meta"]["kind"],
                        "language": t["meta"]["language"], "layout": t["meta"]["layout"],
                        "approved": r.get("approved"), "predicted_accuracy": r.get("predicted_accuracy"),
                        "wrong_fields": {n: {"truth": t.get(n), "predicted": (r.get("fields") or {}).get(n)}
                                         for n, ok in sorted(s["right"].items()) if not ok},
                        "seconds": r.get("seconds"),
                        "items": [s["items_matched"], s["items_true"], s["items_predicted"]],
                        "error": r.get("error")})
    out_json = args.json or args.out / "results.json"
    out_json.parent.mkdir(parents=True, exist_ok=True)
    out_json.write_text(json.dumps({"summary": summary, "documents": per_doc}, indent=1, ensure_ascii=False))
    print(f"results written to {out_json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
