"""Accuracy benchmark: the real stages in-process on documents with exact truth, reported per
corpus, per dev/test half, per kind and per language.

    python benchmarks/accuracy/run.py --workers 2                      # everything (make benchmark-accuracy)
    python benchmarks/accuracy/run.py --corpus zugferd --limit 10      # a quick look
    python benchmarks/accuracy/run.py --corpus invoicegen --lofo-models DIR

Corpora (`--corpus`, default all three)
---------------------------------------
- ``invoicegen``: tests/invoicegen, `--n` documents of `corpus_plan(n, seed, varied=True)`
  (`--classic`: the 12 fixed layouts of before), generated into `--out` (a cache). Its truth is
  complete. The rules were written on this generator: it is reported in full and leave one
  family out (below), never split.
- ``zugferd``, ``sroie``: the external corpora of `corpora.py` (materialize them first:
  `python benchmarks/accuracy/corpora.py materialize --zugferd DIR --sroie DIR`), each in its
  dev and test half. Only the dev half's documents appear in the results file; the test half
  is reported as aggregate figures only.

Each document goes through `preprocessing.preprocess` -> `ocr.ocr_pages` ->
`llm.providers.get_provider(settings).predict` -> `extraction.extract` -> `evaluation.evaluate`
(`pipeline.run_document`), in `--workers` processes; preprocessing + OCR come from the OCR cache
when the file, the OCR settings and the OCR code are unchanged (`pipeline.py`), so a run after
an extractor change re-runs only llm, extraction and evaluation. Settings come from the
environment like the workers' (`LLM_PROVIDER`, `OCR_MODELS`, `APPROVAL_THRESHOLD`, ...). The
stages' pure functions never look at a PDF's attachments (the e-invoice path lives in the
stage tasks), and the ZUGFeRD PDFs have theirs stripped besides.

Figures (per corpus; per half; per kind and per language; comparison rules in `scoring.py`)
------------------------------------------------------------------------------------------
- documents with every core field right (core: invoice_number, invoice_date, vendor_name,
  amount, vat, total, currency, due_date where the truth has one; of these, those the truth
  knows; receipts: vendor, date, total);
- field-level accuracy per field (over the documents whose truth knows the field); receipts'
  vendor / date / total;
- straight-through (share approved), approval precision (share of approved documents with
  every core field right) and the number approved with a wrong core field;
- expected calibration error (10 equal bins) of `predicted_accuracy` against the share of core
  fields right, and of the field confidences against each field being right;
- a threshold sweep (straight-through and precision per approval threshold) on the dev halves,
  per corpus and pooled over the external corpora: the curve an approval rule is chosen from;
- leave-one-family-out (invoicegen): per family, the figures of the full model and, with
  `--lofo-models DIR`, of a model trained without that family (`DIR/<family>.*`, loaded by the
  local provider through the `--lofo-env` variable; `--lofo-train CMD` builds missing ones);
- seconds per document per stage (those served by the OCR cache as measured when cached).
Results: `--json` (default `<out>/results.json`).
"""
from __future__ import annotations

import argparse
import json
import logging
import multiprocessing as mp
import os
import shlex
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tests"))  # the generator lives with the tests
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from benchmarks.accuracy import corpora  # noqa: E402
from benchmarks.accuracy.pipeline import OcrCache, run_document, sha256_file  # noqa: E402
from benchmarks.accuracy.scoring import CORE, SWEEP, aggregate, field_right, score  # noqa: E402,F401 (field_right: benchmarks/vendor_memory)
from invoice.scanner.processing.config import Settings  # noqa: E402
from invoice.scanner.processing.fields import FIELD_NAMES  # noqa: E402

logger = logging.getLogger("benchmarks.accuracy")

ALL_CORPORA = ("invoicegen", "zugferd", "sroie")
ALL_KINDS = ("born_digital", "scanned", "receipt")


# --- invoicegen corpus ---------------------------------------------------------------------------

def _generate_one(args: tuple[dict, str]) -> dict:
    from invoicegen import generate

    spec, out = args
    inv = generate(**spec)
    Path(out, inv.filename).write_bytes(inv.data)
    inv.truth["meta"].update({"filename": inv.filename, "content_type": inv.content_type})
    return inv.truth


def ensure_invoicegen(out: Path, n: int, seed: int, varied: bool, workers: int, kinds: tuple[str, ...],
                      limit: int | None) -> list[dict]:
    """The documents of `kinds` of the generated corpus `corpus_plan(n, seed, varied=...)`, the
    first `limit` of them; a cache in `out`: `truth.jsonl` keeps every document generated so far,
    and only missing ones are generated."""
    from invoicegen import corpus_plan

    out.mkdir(parents=True, exist_ok=True)
    truth_file = out / "truth.jsonl"
    cached: dict[int, dict] = {}
    if truth_file.exists():
        for line in truth_file.read_text(encoding="utf-8").splitlines():
            t = json.loads(line)
            if (out / t["meta"]["filename"]).exists():
                cached[t["meta"]["seed"]] = t
    plan = corpus_plan(n, seed, varied=True) if varied else corpus_plan(n, seed)
    plan = [spec for spec in plan if spec["kind"] in kinds][:limit or None]

    def fresh(spec: dict, t: dict) -> bool:
        m = t["meta"]
        return ((m["kind"], m["language"], m["layout"], m["pages"], bool(m.get("varied")),
                 m.get("document_type", "invoice")) ==
                (spec["kind"], spec["language"], spec["layout"], spec["pages"], bool(spec.get("varied")),
                 spec.get("document_type") or m.get("document_type", "invoice")))

    missing = [s for s in plan if not (s["seed"] in cached and fresh(s, cached[s["seed"]]))]
    if missing:
        started = time.perf_counter()
        with mp.get_context("spawn").Pool(workers, initializer=_gen_init) as pool:
            for t in pool.imap(_generate_one, [(s, str(out)) for s in missing], chunksize=2):
                cached[t["meta"]["seed"]] = t
        with open(truth_file, "w", encoding="utf-8") as fh:
            for t in sorted(cached.values(), key=lambda t: t["meta"]["seed"]):
                fh.write(json.dumps(t, ensure_ascii=False) + "\n")
        print(f"generated {len(missing)} invoicegen documents in {time.perf_counter() - started:.0f}s into {out}")
    return [cached[s["seed"]] for s in plan]


def _gen_init() -> None:
    sys.path.insert(0, str(REPO / "tests"))


def invoicegen_jobs(truths: list[dict], out: Path) -> list[dict]:
    jobs = []
    for t in truths:
        m = t["meta"]
        jobs.append({"id": f"invoicegen/{m['filename']}", "corpus": "invoicegen", "kind": m["kind"],
                     "language": m["language"], "split": "all", "family": t.get("family") or m["layout"],
                     "document_type": t.get("document_type") or m.get("document_type") or "invoice",
                     "path": str(out / m["filename"]), "content_type": m["content_type"], "sha256": None,
                     "truth": t, "complete": True})
    return jobs


def external_jobs(names: list[str], kinds: tuple[str, ...], splits: tuple[str, ...], cache: Path | None) -> list[dict]:
    docs = corpora.load_for_report(names, kinds, splits, cache)
    jobs = []
    for d in docs:
        truth = dict(d.truth)
        truth["document_type"] = d.document_type
        jobs.append({"id": d.id, "corpus": d.corpus, "kind": d.kind, "language": d.language, "split": d.split,
                     "family": d.family, "document_type": d.document_type, "path": str(d.path),
                     "content_type": d.content_type, "sha256": d.sha256, "truth": truth, "complete": False})
    return jobs


def limit_jobs(jobs: list[dict], limit: int | None) -> list[dict]:
    """At most `limit` documents per corpus x kind x half, the first in id order."""
    if not limit:
        return jobs
    seen: dict[tuple, int] = {}
    out = []
    for j in jobs:  # the manifest's order: by id
        k = (j["corpus"], j["kind"], j["split"])
        if seen.get(k, 0) < limit:
            seen[k] = seen.get(k, 0) + 1
            out.append(j)
    return out


# --- running ------------------------------------------------------------------------------------------

_SETTINGS: Settings | None = None
_CACHE: OcrCache | None = None
_FLOOR: float | None = None


def cpu_floor() -> float:
    """Seconds of a fixed pure-Python loop (median of three) in this process: the yardstick
    the stage seconds are divided by, so runs on a busy or a different machine compare."""
    times = []
    for _ in range(3):
        t0 = time.perf_counter()
        sum(i * i for i in range(100_000))
        times.append(time.perf_counter() - t0)
    return sorted(times)[1]


def _init_worker(threads: int, cache_root: str | None, warm: bool) -> None:
    global _SETTINGS, _CACHE
    os.environ.setdefault("OMP_NUM_THREADS", str(threads))
    logging.basicConfig(level=logging.WARNING)
    _SETTINGS = Settings.from_env()  # per process: a LOFO run sets its model variable first
    _CACHE = OcrCache(Path(cache_root)) if cache_root else None
    if warm:  # one OCR model per process, before the first document (born-digital pages need none)
        from invoice.scanner.processing.vision.engines import warm_up

        warm_up(_SETTINGS)


def _run_job(args: tuple[dict, tuple[float, ...], str]) -> dict:
    job, sweep, pages_root = args
    assert _SETTINGS is not None
    pages_dir = None if _CACHE else Path(pages_root) / job["id"].replace("/", "__")
    started = time.perf_counter()
    rec = run_document(Path(job["path"]), job["content_type"], _SETTINGS, _CACHE, sweep, pages_dir, job["sha256"])
    rec["id"] = job["id"]
    rec["wall"] = time.perf_counter() - started
    rec["floor"] = cpu_floor()  # measured beside each document: the load it ran under
    return rec


def run_jobs(jobs: list[dict], workers: int, sweep: tuple[float, ...], cache: OcrCache | None, out: Path,
             label: str, records_file: Path | None = None) -> list[dict]:
    if not jobs:
        return []
    threads = max(1, (os.cpu_count() or 1) // max(1, workers))
    # The OCR model is loaded before the first document only where some page will be OCR'd:
    # not for born-digital documents, nor for those the OCR cache serves.
    settings = Settings.from_env()
    warm = any(j["kind"] != "born_digital" and not (cache and cache.has(cache.key(
        j["sha256"] or sha256_file(Path(j["path"])), settings))) for j in jobs)
    recs: dict[str, dict] = {}
    started = time.perf_counter()
    fh = open(records_file, "a", encoding="utf-8") if records_file else None
    try:
        with mp.get_context("spawn").Pool(workers, initializer=_init_worker,
                                          initargs=(threads, str(cache.root) if cache else None, warm)) as pool:
            args = [(j, sweep, str(out / "pages")) for j in jobs]
            by_id = {j["id"]: j for j in jobs}
            for k, rec in enumerate(pool.imap_unordered(_run_job, args, chunksize=1), 1):
                recs[rec["id"]] = rec
                if fh and by_id[rec["id"]]["split"] != "test":  # the test half: aggregates only
                    fh.write(json.dumps(rec, ensure_ascii=False, default=str) + "\n")
                    fh.flush()
                if k % 25 == 0 or k == len(jobs):
                    print(f"  {label}: {k}/{len(jobs)} done, {time.perf_counter() - started:.0f}s", flush=True)
    finally:
        if fh:
            fh.close()
    return [recs[j["id"]] for j in jobs]


# --- report ----------------------------------------------------------------------------------------

def _p(x: float | None, width: int = 6) -> str:
    return f"{'-':>{width}s}" if x is None else f"{100 * x:{width}.1f}"


def _e(x: dict | None) -> str:
    return f"{'-':>6s}" if not x else f"{100 * x['ece']:6.1f}"


def groups_of(corpus: str, items: list[tuple[dict, dict, dict]]) -> dict[str, list]:
    """Group label -> items: each half, then each half x kind and half x language."""
    halves = ["all"] if corpus == "invoicegen" else [h for h in corpora.SPLITS if any(j["split"] == h for j, _, _ in items)]
    groups: dict[str, list] = {}
    for h in halves:
        sel = [it for it in items if corpus == "invoicegen" or it[0]["split"] == h]
        groups[h] = sel
        for kind in ALL_KINDS:
            g = [it for it in sel if it[0]["kind"] == kind]
            if g and len(g) != len(sel):
                groups[f"{h} {kind}"] = g
        langs = sorted({it[0]["language"] for it in sel})
        if len(langs) > 1:
            for lang in langs:
                groups[f"{h} {lang}"] = [it for it in sel if it[0]["language"] == lang]
        doc_types = sorted({it[0]["document_type"] for it in sel})
        if len(doc_types) > 1:
            for dt in doc_types:
                groups[f"{h} {dt}"] = [it for it in sel if it[0]["document_type"] == dt]
    return groups


def print_corpus(corpus: str, groups: dict[str, dict]) -> None:
    print(f"\n=== {corpus} ===")
    print(f"{'group':22s} {'docs':>5s} {'core ok':>7s} {'fields':>6s} {'STP':>6s} {'prec':>6s} {'wrong':>5s} "
          f"{'ECE pa':>6s} {'ECE fc':>6s}")
    for label, g in groups.items():
        if not g.get("documents"):
            continue
        fields = [v["accuracy"] for v in g["per_field"].values()]
        core_fields = [g["per_field"][f]["accuracy"] for f in CORE if f in g["per_field"]]
        del fields
        print(f"{label:22s} {g['documents']:5d} {_p(g['core_right'], 7)} "
              f"{_p(sum(core_fields) / len(core_fields) if core_fields else None)} {_p(g['straight_through'])} "
              f"{_p(g['approval_precision'])} {g['approved_wrong']:5d} {_e(g['ece_predicted_accuracy'])} "
              f"{_e(g['ece_field_confidence'])}")
    print("(core ok: documents with every core field right; fields: core fields right, field level; STP: "
          "straight-through; prec: approval precision; wrong: approved with a wrong core field; ECE in points)")
    labels = [lbl for lbl, g in groups.items() if g.get("documents") and len(lbl.split()) <= 2
              and (lbl in ("all", "dev", "test") or lbl.split()[-1] in ALL_KINDS)]
    print(f"\n{'field accuracy (%)':20s}" + "".join(f"{lbl[:14]:>15s}" for lbl in labels))
    for name in FIELD_NAMES:
        row = [groups[lbl]["per_field"].get(name) for lbl in labels]
        if not any(row):
            continue
        print(f"{name:20s}" + "".join(f"{'-':>15s}" if r is None else f"{100 * r['accuracy']:9.1f} ({r['n']:3d})"
                                      for r in row))
    for lbl in labels:
        rf = groups[lbl].get("receipt_fields")
        if rf:
            print(f"receipts {lbl}: " + ", ".join(f"{k} {100 * v:.1f} %" for k, v in rf.items()))
        if "line_items_found_exactly" in groups[lbl]:
            print(f"line items {lbl}: found exactly {100 * groups[lbl]['line_items_found_exactly']:.1f} %, documents "
                  f"with all items exact {100 * groups[lbl]['documents_all_items_exact']:.1f} %")


def print_sweep(label: str, g: dict) -> None:
    if not g.get("sweep"):
        return
    print(f"\n-- threshold sweep, {label} ({g['documents']} documents) --")
    print(f"{'threshold':>9s} {'straight-through':>17s} {'precision':>10s} {'approved':>9s}")
    for row in g["sweep"]:
        print(f"{row['threshold']:9.2f} {100 * row['straight_through']:16.1f}% {_p(row['precision'], 9)}% "
              f"{row['approved']:9d}")


def lofo(jobs: list[dict], recs: list[dict], args, sweep, cache: OcrCache | None, out: Path) -> dict:
    """Per family: the full model's figures, and a model trained without the family."""
    families = sorted({j["family"] for j in jobs})
    table: dict[str, dict] = {}
    models = Path(args.lofo_models) if args.lofo_models else None
    for fam in families:
        idx = [i for i, j in enumerate(jobs) if j["family"] == fam]
        items = [(jobs[i], recs[i], score(jobs[i]["truth"], recs[i], True)) for i in idx]
        row: dict[str, Any] = {"documents": len(idx), "full": aggregate(items)}
        model = None
        if models:
            found = sorted(models.glob(f"{fam}.*"))
            model = found[0] if found else None
            if model is None and args.lofo_train:
                models.mkdir(parents=True, exist_ok=True)
                target = models / f"{fam}.json"
                cmd = args.lofo_train.format(family=fam, out=str(target))
                print(f"  training without {fam}: {cmd}", flush=True)
                subprocess.run(shlex.split(cmd), check=True, cwd=REPO)
                found = sorted(models.glob(f"{fam}.*"))
                model = found[0] if found else None
        if model is not None:
            old = os.environ.get(args.lofo_env)
            os.environ[args.lofo_env] = str(model)
            try:
                lrecs = run_jobs([jobs[i] for i in idx], args.workers, sweep, cache, out, f"lofo {fam}")
            finally:
                if old is None:
                    os.environ.pop(args.lofo_env, None)
                else:
                    os.environ[args.lofo_env] = old
            litems = [(jobs[i], r, score(jobs[i]["truth"], r, True)) for i, r in zip(idx, lrecs)]
            row["left_out"] = aggregate(litems)
            row["model"] = str(model)
        table[fam] = row
    print("\n=== invoicegen leave-one-family-out ===")
    print(f"{'family':20s} {'docs':>5s} | {'full model: core ok':>19s} {'STP':>6s} {'prec':>6s} | "
          f"{'without family: core ok':>23s} {'STP':>6s} {'prec':>6s}")
    for fam, row in table.items():
        f, lo = row["full"], row.get("left_out")
        right = (f"{_p(lo['core_right'], 23)} {_p(lo['straight_through'])} {_p(lo['approval_precision'])}" if lo
                 else f"{'(no model: --lofo-models)':>37s}")
        print(f"{fam:20s} {row['documents']:5d} | {_p(f['core_right'], 19)} {_p(f['straight_through'])} "
              f"{_p(f['approval_precision'])} | {right}")
    return table


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    ap.add_argument("--corpus", default=",".join(ALL_CORPORA), help="invoicegen,zugferd,sroie (default all)")
    ap.add_argument("--kinds", default=",".join(ALL_KINDS), help="born_digital,scanned,receipt (default all)")
    ap.add_argument("--splits", default="dev,test", help="halves of the external corpora (default dev,test)")
    ap.add_argument("--limit", type=int, default=None,
                    help="at most N documents per corpus x kind x half (invoicegen: the first N of the plan)")
    ap.add_argument("--workers", type=int, default=2, help="processes, one OCR model each (default 2)")
    ap.add_argument("--n", type=int, default=300, help="invoicegen corpus size (default 300)")
    ap.add_argument("--seed", type=int, default=7, help="invoicegen corpus seed (default 7)")
    ap.add_argument("--classic", action="store_true", help="invoicegen's 12 fixed layouts instead of the varied one")
    ap.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "out",
                    help="generated corpus, page images and results (default benchmarks/accuracy/out)")
    ap.add_argument("--corpora-cache", type=Path, default=None,
                    help=f"materialized corpora (default ${corpora.CACHE_ENV} or ~/.cache/invoice-scanner/corpora)")
    ap.add_argument("--ocr-cache", type=Path, default=None,
                    help="OCR cache folder (default $INVOICE_SCANNER_OCR_CACHE or ~/.cache/invoice-scanner/ocr)")
    ap.add_argument("--no-ocr-cache", action="store_true", help="preprocess and OCR every document afresh")
    ap.add_argument("--lofo-models", default=None, help="folder of models trained without a family: <family>.*")
    ap.add_argument("--lofo-train", default=None,
                    help="command that trains without a family, with {family} and {out} placeholders")
    ap.add_argument("--lofo-env", default="LOCAL_MODEL_PATH",
                    help="environment variable that points the local provider at a model (default LOCAL_MODEL_PATH)")
    ap.add_argument("--json", type=Path, default=None, help="results file (default <out>/results.json)")
    args = ap.parse_args(argv)
    names = [c.strip() for c in args.corpus.split(",") if c.strip()]
    kinds = tuple(k.strip() for k in args.kinds.split(",") if k.strip())
    splits = tuple(s.strip() for s in args.splits.split(",") if s.strip())
    if set(names) - set(ALL_CORPORA) or set(kinds) - set(ALL_KINDS) or set(splits) - set(corpora.SPLITS):
        ap.error(f"--corpus takes {ALL_CORPORA}, --kinds {ALL_KINDS}, --splits {corpora.SPLITS}")
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    settings = Settings.from_env()
    sweep = tuple(sorted(set(SWEEP) | {settings.approval_threshold}))
    cache = None if args.no_ocr_cache else (OcrCache(args.ocr_cache) if args.ocr_cache else OcrCache.default())
    args.out.mkdir(parents=True, exist_ok=True)
    records_file = args.out / "records.jsonl"
    records_file.write_text("")

    by_corpus: dict[str, list[dict]] = {}
    if "invoicegen" in names:
        gen_out = args.out / f"invoicegen-{'classic' if args.classic else 'varied'}-{args.n}-{args.seed}"
        truths = ensure_invoicegen(gen_out, args.n, args.seed, not args.classic, args.workers, kinds, args.limit)
        by_corpus["invoicegen"] = invoicegen_jobs(truths, gen_out)
    ext = [c for c in names if c != "invoicegen"]
    if ext:
        try:
            jobs = external_jobs(ext, kinds, splits, args.corpora_cache)
        except FileNotFoundError as exc:
            print(f"skipping {', '.join(ext)}: {exc}")
            jobs = []
        for c in ext:
            sel = limit_jobs([j for j in jobs if j["corpus"] == c], args.limit)
            if sel:
                by_corpus[c] = sel
    total = sum(len(v) for v in by_corpus.values())
    print(f"running {total} documents ({', '.join(f'{c} {len(v)}' for c, v in by_corpus.items())}): "
          f"provider={settings.llm_provider} ocr={settings.ocr_engine}/{settings.ocr_models} "
          f"threshold={settings.approval_threshold} workers={args.workers} "
          f"ocr cache={'off' if cache is None else cache.root}")
    started = time.perf_counter()
    everything = [j for jobs in by_corpus.values() for j in jobs]  # one pool: one model load per process
    recs = run_jobs(everything, args.workers, sweep, cache, args.out, "documents", records_file)
    rec_of = {r["id"]: r for r in recs}
    recs_by_corpus = {c: [rec_of[j["id"]] for j in jobs] for c, jobs in by_corpus.items()}
    wall = time.perf_counter() - started

    summary: dict[str, Any] = {"corpora": {}, "sweeps": {}}
    dev_external: list = []
    for c, jobs in by_corpus.items():
        items = [(j, r, score(j["truth"], r, j["complete"])) for j, r in zip(jobs, recs_by_corpus[c])]
        groups = {label: aggregate(g, sweep if label in ("all", "dev") else ())
                  for label, g in groups_of(c, items).items()}
        summary["corpora"][c] = groups
        print_corpus(c, groups)
        for label in ("all", "dev"):
            if label in groups:
                print_sweep(f"{c} {label}", groups[label])
        if c != "invoicegen":
            dev_external += [it for it in items if it[0]["split"] == "dev"]
    if dev_external and len({it[0]["corpus"] for it in dev_external}) > 1:
        g = aggregate(dev_external, sweep)
        summary["sweeps"]["external dev"] = g["sweep"]
        print_sweep("external corpora, dev halves pooled", g)
    if "invoicegen" in by_corpus:
        summary["lofo"] = lofo(by_corpus["invoicegen"], recs_by_corpus["invoicegen"], args, sweep, cache, args.out)
    cached = sum(1 for rs in recs_by_corpus.values() for r in rs if r.get("ocr_cached"))
    floors = sorted(r["floor"] for rs in recs_by_corpus.values() for r in rs if "floor" in r)
    floor = floors[len(floors) // 2] if floors else None
    if floor:
        llm = [r["seconds"]["llm"] + r["seconds"].get("extraction", 0.0) for rs in recs_by_corpus.values()
               for r in rs if "llm" in r.get("seconds", {})]
        print(f"\nextractor (llm + extraction) {sum(llm) / max(1, len(llm)):.3f} s per document = "
              f"{sum(llm) / max(1, len(llm)) / floor:.1f} x the CPU floor ({floor * 1000:.1f} ms, median over "
              f"the documents; compare runs by this ratio)")
        summary["cpu_floor_seconds"] = floor
        summary["extractor_seconds_per_document"] = sum(llm) / max(1, len(llm))
    print(f"\nwall {wall:.0f}s for {total} documents ({60 * total / wall if wall else 0:.1f}/min, {args.workers} "
          f"workers; OCR from the cache for {cached})")
    errors = [(r["id"], r["error"]) for rs in recs_by_corpus.values() for r in rs if "error" in r]
    if errors:
        print(f"{len(errors)} document(s) failed in a stage, e.g. {errors[0][0]}: {errors[0][1]}")
    summary.update(wall_seconds=wall, documents=total, ocr_cached=cached,
                   config={"corpus": names, "kinds": list(kinds), "splits": list(splits), "limit": args.limit,
                           "workers": args.workers, "n": args.n, "seed": args.seed, "varied": not args.classic,
                           "llm_provider": settings.llm_provider, "ocr_engine": settings.ocr_engine,
                           "ocr_models": settings.ocr_models, "approval_threshold": settings.approval_threshold},
                   sources=(corpora.summary(args.corpora_cache).get("sources") if ext else None))
    per_doc = []
    for c, jobs in by_corpus.items():
        for j, r in zip(jobs, recs_by_corpus[c]):
            if j["split"] == "test":
                continue  # the test half is looked at through its aggregates only
            s = score(j["truth"], r, j["complete"])
            per_doc.append({"id": j["id"], "corpus": c, "split": j["split"], "kind": j["kind"],
                            "language": j["language"], "family": j["family"], "approved": r.get("approved"),
                            "predicted_accuracy": r.get("predicted_accuracy"), "core_right": s["core_right"],
                            "wrong_fields": {n: {"truth": j["truth"].get(n), "predicted": (r.get("fields") or {}).get(n)}
                                             for n, ok in sorted(s["right"].items()) if not ok},
                            "reasons": r.get("reasons"), "seconds": r.get("seconds"), "error": r.get("error")})
    out_json = args.json or args.out / "results.json"
    out_json.parent.mkdir(parents=True, exist_ok=True)
    out_json.write_text(json.dumps({"summary": summary, "documents": per_doc}, indent=1, ensure_ascii=False,
                                   default=str))
    print(f"results written to {out_json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
