"""Train the local provider's learned scorer and write `stages/llm/local/local_model.json`.

    .venv/bin/python tools/train_local_model.py              # or: make local-model

Training data, dev only: the varied generator (`tests/invoicegen`, born-digital, seed 41 by
default: neither the benchmark's seed 7 nor the calibration's seed 23) and the *dev* halves of
the external corpora (`benchmarks/accuracy/corpora`: ZUGFeRD, and the SROIE receipts whose OCR
the benchmark's cache holds; their test halves are locked and never read here). Every document
is read by the real local provider with its rules (`DocumentReader`); `scorer.candidates_of`
lists every candidate of the learned fields with its features, and a candidate is labelled
right when the extraction stage would normalize it to the truth (the benchmark's comparison,
`benchmarks/accuracy/scoring.py`; amounts by their absolute value, the credit-note sign being
the extraction stage's job). One LightGBM binary model over all fields (the field is a
categorical feature); each external corpus weighs as much as the generator.

Which fields the model decides (and which stay with the rules) is chosen here, on documents
the model did not see: (a) the external dev documents, cross-validated by producer (5 folds of
families), and (b) the generator, leave one family out (trained without the family, scored on
it). For each field both the rules and the model are scored on the real extraction output
(derivations included); the model takes a field only where it is at least as right as the rules
on (a) and on (b) and better on one. The table is printed and kept in the file.

`--exclude-family F --out PATH` trains without a generator family (the benchmark's
leave-one-family-out column: `run.py --lofo-models DIR --lofo-train ...`); it skips the field
choice and keeps the bundled model's (`--no-choice` does the same without excluding).
"""
from __future__ import annotations

import argparse
import json
import pickle
import random
import sys
import time
from collections import defaultdict
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests"))

from benchmarks.accuracy import corpora  # noqa: E402
from benchmarks.accuracy.pipeline import OcrCache, read_document  # noqa: E402
from benchmarks.accuracy.scoring import field_right  # noqa: E402

from invoice.scanner.processing.config import Settings  # noqa: E402
from invoice.scanner.processing.models import FieldPrediction, LlmUsage, Prediction  # noqa: E402
from invoice.scanner.processing.stages.extraction import conventions, extract, normalize_field  # noqa: E402
from invoice.scanner.processing.stages.llm.local import scorer  # noqa: E402
from invoice.scanner.processing.stages.llm.local.reader import DocumentReader  # noqa: E402

OUT = scorer.MODEL_FILE
VERSION = "scorer-v2"
PARAMS = {"objective": "binary", "learning_rate": 0.08, "num_leaves": 15, "min_data_in_leaf": 20,
          "feature_fraction": 0.9, "bagging_fraction": 0.9, "bagging_freq": 1, "lambda_l2": 1.0,
          "verbose": -1, "num_threads": 2, "seed": 1}
ROUNDS = 150
USAGE = LlmUsage(provider="local", model="training")


def generated(n: int, seed: int, cache: Path, exclude: tuple[str, ...]) -> list[dict]:
    """Varied generator documents (born-digital), read once into `cache` (a pickle each)."""
    from invoicegen import corpus_plan, generate

    from invoice.scanner.processing.stages.ocr import ocr_pages
    from invoice.scanner.processing.stages.preprocessing import preprocess

    cache.mkdir(parents=True, exist_ok=True)
    settings = Settings()
    out = []
    for spec in corpus_plan(n, seed, kinds=("born_digital",), varied=True, exclude_families=exclude):
        f = cache / f"{spec['seed']}.pkl"
        if not f.exists():
            inv = generate(**spec)
            src = cache / "files" / inv.filename
            src.parent.mkdir(exist_ok=True)
            src.write_bytes(inv.data)
            ocr = ocr_pages(preprocess(src, inv.content_type, cache / "pages" / src.stem, settings), settings)
            f.write_bytes(pickle.dumps({"truth": inv.truth, "ocr": ocr, "kind": spec["kind"]}))
        d = pickle.loads(f.read_bytes())
        out.append({"corpus": "invoicegen", "family": spec["layout"], "truth": d["truth"], "ocr": d["ocr"],
                    "complete": True})
    return out


def external() -> list[dict]:
    """Dev halves of the external corpora; SROIE receipts only where the OCR cache holds them."""
    settings = Settings()
    cache = OcrCache.default()
    out = []
    for d in corpora.load(None, split="dev"):
        if d.kind == "scanned" or (d.kind == "receipt" and not cache.has(cache.key(d.sha256, settings))):
            continue
        _, ocr, _ = read_document(d.path, d.content_type, settings, cache, file_sha256=d.sha256)
        out.append({"corpus": d.corpus, "family": f"{d.corpus}:{d.family}", "truth": d.truth, "ocr": ocr,
                    "complete": False})
    return out


def _known(doc: dict, name: str) -> bool:
    return doc["complete"] or doc["truth"].get(name) is not None


def _right(name: str, truth, value) -> bool:
    if scorer.KIND[name] == "amount" and truth is not None and value is not None:
        try:
            return field_right(name, abs(float(truth)), abs(float(value)))
        except (TypeError, ValueError):
            return False
    return field_right(name, truth, value)


def featurize(doc: dict) -> list[tuple[list[float], int, str]]:
    """(features, label, field) for every candidate of the learned fields of one document."""
    reader = DocumentReader(doc["ocr"])
    reader.all_vendor_options = True  # the rules decide, every option is listed
    fields, items = reader.read()
    conv = conventions(Prediction(fields=fields, line_items=items, usage=USAGE), doc["ocr"])
    rows = []
    for name, cs in scorer.candidates_of(reader, reader.rule_chosen).items():
        if not _known(doc, name):
            continue
        truth = doc["truth"].get(name)
        for c in cs:
            nf = normalize_field(FieldPrediction(name=name, value=c.span.raw, confidence=1.0), conv)
            ok = truth is not None and nf.value is not None and _right(name, truth, nf.value)
            rows.append((c.features, int(ok), name))
    return rows


def train(docs: list[dict], rows_of: dict[int, list]) -> scorer.Model:
    import lightgbm
    import numpy as np

    counts = defaultdict(int)
    for d in docs:
        counts[d["corpus"]] += 1
    # Each corpus weighs as much as the generator (one of fewer than 30 documents less).
    total = counts.get("invoicegen", 0) or 1
    weight = {c: total / max(n, 30) if c != "invoicegen" else 1.0 for c, n in counts.items()}
    boosters = {}
    for names in (False, True):  # the spans' booster, the vendor names' booster
        X, y, w = [], [], []
        for i, d in enumerate(docs):
            for feats, label, field in rows_of[i]:
                if (field in scorer.PARTY_FIELDS) != names:
                    continue
                X.append(feats)
                y.append(label)
                w.append(weight[d["corpus"]])
        if not X or len(set(y)) < 2:
            boosters[names] = None
            continue
        ds = lightgbm.Dataset(np.asarray(X, dtype=float), label=np.asarray(y), weight=np.asarray(w),
                              feature_name=list(scorer.FEATURES), categorical_feature=list(scorer.CATEGORICAL),
                              free_raw_data=True)
        boosters[names] = lightgbm.train(PARAMS, ds, num_boost_round=ROUNDS)
    return scorer.Model(boosters[False], scorer.FIELDS, scorer.LABEL_KEYS, {"version": VERSION}, boosters[True])


def field_scores(doc: dict, model: scorer.Model | None) -> dict[str, bool]:
    """Per learned field the truth knows: is the extraction output right (rules alone with None)."""
    reader = DocumentReader(doc["ocr"], model)
    fields, items = reader.read()
    ex = extract(Prediction(fields=fields, line_items=items, usage=USAGE), doc["ocr"])
    return {n: _right(n, doc["truth"].get(n), ex.fields[n].value) if doc["truth"].get(n) is not None
            else ex.fields[n].value is None
            for n in scorer.FIELDS if _known(doc, n)}


def evaluate_choice(docs: list[dict], rows_of: dict[int, list], folds: int) -> dict:
    """Rules vs model per field on documents the model was not trained on."""
    table: dict[str, dict[str, list[int]]] = {"external_cv": defaultdict(lambda: [0, 0, 0]),
                                              "generator_lofo": defaultdict(lambda: [0, 0, 0])}
    ext_fams = sorted({d["family"] for d in docs if d["corpus"] != "invoicegen"})
    random.Random(5).shuffle(ext_fams)
    groups = [("external_cv", set(ext_fams[k::folds])) for k in range(folds) if ext_fams[k::folds]]
    groups += [("generator_lofo", {f}) for f in sorted({d["family"] for d in docs if d["corpus"] == "invoicegen"})]
    for where, held in groups:
        tr = [i for i, d in enumerate(docs) if d["family"] not in held]
        te = [i for i, d in enumerate(docs) if d["family"] in held]
        if not te:
            continue
        model = train([docs[i] for i in tr], {k: rows_of[i] for k, i in enumerate(tr)})
        for i in te:
            rules, learned = field_scores(docs[i], None), field_scores(docs[i], model)
            for n, ok in rules.items():
                t = table[where][n]
                t[0] += 1
                t[1] += int(ok)
                t[2] += int(learned.get(n, False))
        print(f"  {where} without {sorted(held)[:3]}{'...' if len(held) > 3 else ''}: {len(te)} documents",
              flush=True)
    return {where: {n: {"documents": t[0], "rules": round(t[1] / t[0], 4), "model": round(t[2] / t[0], 4)}
                    for n, t in sorted(tab.items())} for where, tab in table.items()}


def choose_fields(table: dict) -> list[str]:
    out = []
    for n in scorer.FIELDS:
        a, b = table["external_cv"].get(n), table["generator_lofo"].get(n)
        if not a or not b:
            continue
        if a["model"] >= a["rules"] and b["model"] >= b["rules"] and (a["model"] > a["rules"] or b["model"] > b["rules"]):
            out.append(n)
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n-generated", type=int, default=300)
    ap.add_argument("--seed", type=int, default=41)
    ap.add_argument("--generated-cache", type=Path, default=Path.home() / ".cache/invoice-scanner/local-model")
    ap.add_argument("--exclude-family", action="append", default=[])
    ap.add_argument("--no-choice", action="store_true", help="keep the bundled model's field choice")
    ap.add_argument("--folds", type=int, default=5)
    ap.add_argument("--out", type=Path, default=OUT)
    args = ap.parse_args(argv)
    t0 = time.perf_counter()
    docs = generated(args.n_generated, args.seed, args.generated_cache, tuple(args.exclude_family))
    docs += external()
    counts = defaultdict(int)
    for d in docs:
        counts[d["corpus"]] += 1
    print(f"{len(docs)} dev documents: {dict(counts)}", flush=True)
    rows_of = {i: featurize(d) for i, d in enumerate(docs)}
    print(f"{sum(len(r) for r in rows_of.values())} candidates, {time.perf_counter() - t0:.0f}s", flush=True)
    if args.no_choice or args.exclude_family:
        bundled = json.loads(OUT.read_text(encoding="utf-8")) if OUT.exists() else {}
        fields, table = bundled.get("fields", list(scorer.FIELDS)), None
    else:
        table = evaluate_choice(docs, rows_of, args.folds)
        fields = choose_fields(table)
        print(f"{'field':16s} {'external dev (cv): rules':>25s} {'model':>6s} | {'generator lofo: rules':>22s} "
              f"{'model':>6s}")
        for n in scorer.FIELDS:
            a, b = table["external_cv"].get(n, {}), table["generator_lofo"].get(n, {})
            print(f"{n:16s} {100 * a.get('rules', 0):19.1f} ({a.get('documents', 0):3d}) {100 * a.get('model', 0):6.1f}"
                  f" | {100 * b.get('rules', 0):16.1f} ({b.get('documents', 0):3d}) {100 * b.get('model', 0):6.1f}")
        print(f"the model decides: {fields}")
    model = train(docs, rows_of)
    data = {
        "about": "The local provider's learned scorer (stages/llm/local/scorer.py), trained on dev documents by "
                 "tools/train_local_model.py (make local-model); do not edit by hand.",
        "version": VERSION, "lightgbm": __import__("lightgbm").__version__,
        "trained_on": dict(counts), "generator_seed": args.seed, "excluded_families": args.exclude_family,
        "features": list(scorer.FEATURES), "label_keys": list(scorer.LABEL_KEYS), "fields": fields,
        "choice": table, "params": PARAMS, "rounds": ROUNDS,
        "booster": model.booster.model_to_string(),
        "booster_names": model.names.model_to_string() if model.names is not None else None,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(data, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"wrote {args.out} ({args.out.stat().st_size // 1024} KiB) in {time.perf_counter() - t0:.0f}s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
