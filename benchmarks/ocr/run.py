"""OCR benchmark: pages/second, peak RSS and accuracy per engine/model set on generated pages.

    python benchmarks/ocr/run.py [--pages 10] [--models ppocrv5,ppocrv6,ppocrv6-tiny] [--engine rapidocr] [--scanned]

Each model set runs in its own process, so the peak RSS printed is that model set's alone
(interpreter + libraries + model + pages). Accuracy is measured against the text the pages
were generated from:
- CER: character error rate (Levenshtein distance / ground-truth length) on the page text
  in reading order;
- words: share of ground-truth words found as exact tokens (a dropped space merges two
  words and costs both);
- spaces: spaces read / spaces in the ground truth (1.0 = word spacing preserved);
- accents: share of ground-truth words with a diacritic (Ingénierie, Müller, Martínez) read
  exactly, diacritics included.
"""
from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))


def _measure(engine: str, models: str, pages: int, scanned: bool, overrides: dict | None = None) -> dict:
    from rapidfuzz.distance import Levenshtein

    from invoice.scanner.processing.config import Settings
    from invoice.scanner.processing.vision.engines import get_engine
    from invoice.scanner.processing.vision.layout import reading_order, split_words
    from invoice.scanner.processing.models import OcrLine
    from pages import invoice_pdf, render_page

    settings = Settings(ocr_engine=engine, ocr_models=models, **(overrides or {}))
    started = time.perf_counter()
    ocr = get_engine(settings)
    load_s = time.perf_counter() - started
    docs = [invoice_pdf(seed) for seed in range(pages)]
    images = [render_page(pdf, scanned=scanned, seed=i) for i, (pdf, _) in enumerate(docs)]
    ocr.read(images[0][:200])  # first inference allocates; keep it out of the timing
    cer_num = cer_den = 0
    found = total_words = 0
    spaces_read = spaces_gt = 0
    acc_found = acc_total = 0
    started = time.perf_counter()
    texts = []
    for image in images:
        raw = ocr.read(image)
        lines = reading_order([OcrLine(r.text, r.bbox, r.confidence, split_words(r.text, r.bbox, r.confidence)) for r in raw])
        texts.append("\n".join(line.text for line in lines))
    elapsed = time.perf_counter() - started
    for text, (_, gt) in zip(texts, docs):
        truth = gt.text
        cer_num += Levenshtein.distance(text, truth)
        cer_den += len(truth)
        gt_words = Counter(truth.split())
        got = Counter(text.split())
        found += sum(min(n, got[w]) for w, n in gt_words.items())
        total_words += sum(gt_words.values())
        accented = {w: n for w, n in gt_words.items() if any(ord(ch) > 127 for ch in w)}
        acc_found += sum(min(n, got[w]) for w, n in accented.items())
        acc_total += sum(accented.values())
        spaces_read += text.count(" ")
        spaces_gt += truth.count(" ")
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {
        "engine": engine, "models": models, "pages": pages, "scanned": scanned,
        "load_s": round(load_s, 2), "pages_per_s": round(pages / elapsed, 3),
        "s_per_page": round(elapsed / pages, 2), "peak_rss_mib": round(peak_kb / 1024),
        "cer": round(cer_num / cer_den, 4), "word_recall": round(found / total_words, 4),
        "space_ratio": round(spaces_read / spaces_gt, 3),
        "accent_recall": round(acc_found / acc_total, 4) if acc_total else None,
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pages", type=int, default=10)
    parser.add_argument("--models", default="ppocrv5,ppocrv6,ppocrv6-tiny")
    parser.add_argument("--engine", default="rapidocr")
    parser.add_argument("--scanned", action="store_true", help="also run on scan-like pages (noise, blur, grey)")
    parser.add_argument("--tune", action="store_true",
                        help="compare the CPU settings in TUNING (first model set only), each --repeat times")
    parser.add_argument("--repeat", type=int, default=2, help="runs per --tune setting (medians printed)")
    parser.add_argument("--settings", default="", help="--tune: only these settings of TUNING (comma-separated)")
    parser.add_argument("--det-model", help="an ONNX detector to use instead of the model set's (e.g. from quantize.py)")
    parser.add_argument("--rec-model", help="an ONNX recognizer to use instead of the model set's")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--overrides", default="{}", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        engine, models, scanned = args.child.split(":")
        _use_model_files(args.det_model, args.rec_model)
        print(json.dumps(_measure(engine, models, args.pages, scanned == "1", json.loads(args.overrides))))
        return
    if args.tune:
        _tune(args)
        return
    variants = [False, True] if args.scanned else [False]
    header = f"{'engine':9} {'models':12} {'pages':>5} {'kind':8} {'load s':>6} {'pages/s':>8} {'s/page':>7} " \
             f"{'peak RSS MiB':>12} {'CER':>7} {'words':>6} {'spaces':>6} {'accents':>7}"
    print(header)
    for scanned in variants:
        for models in args.models.split(","):
            out = subprocess.run(
                [sys.executable, __file__, "--pages", str(args.pages), "--child", f"{args.engine}:{models}:{int(scanned)}",
                 *_model_args(args)], capture_output=True, text=True, check=True)
            r = json.loads(out.stdout.strip().splitlines()[-1])
            print(f"{r['engine']:9} {r['models']:12} {r['pages']:>5} {'scanned' if scanned else 'clean':8} "
                  f"{r['load_s']:>6} {r['pages_per_s']:>8} {r['s_per_page']:>7} {r['peak_rss_mib']:>12} "
                  f"{r['cer']:>7} {r['word_recall']:>6} {r['space_ratio']:>6} {str(r['accent_recall']):>7}", flush=True)


def _model_args(args) -> list[str]:
    return [*(["--det-model", args.det_model] if args.det_model else []),
            *(["--rec-model", args.rec_model] if args.rec_model else [])]


def _use_model_files(det: str | None, rec: str | None) -> None:
    """Point the model set at other ONNX files (a quantized recognizer, say), in this process."""
    if not (det or rec):
        return
    from invoice.scanner.processing.vision import engines

    original = engines.rapidocr_model_kwargs

    def files(models: str) -> dict:
        kw = dict(original(models))
        kw.update({k: v for k, v in (("det_model_path", det), ("rec_model_path", rec)) if v})
        return kw

    engines.rapidocr_model_kwargs = files


# --tune: the CPU settings compared (Settings fields). The first is the baseline of the ratios.
TUNING: dict[str, dict] = {
    "default": {},
    "threads 1": {"ocr_threads": 1},
    "threads 2": {"ocr_threads": 2},
    "det 1280": {"ocr_det_max_side": 1280},
    "det 960": {"ocr_det_max_side": 960},
    "rec batch 16": {"ocr_rec_batch": 16},
    "det 1280 + batch 16": {"ocr_det_max_side": 1280, "ocr_rec_batch": 16},
    "det 1280 + batch 16 + threads 1": {"ocr_det_max_side": 1280, "ocr_rec_batch": 16, "ocr_threads": 1},
    "det 960 + batch 16 + threads 1": {"ocr_det_max_side": 960, "ocr_rec_batch": 16, "ocr_threads": 1},
}


def _tune(args) -> None:
    """Each setting in its own process, `--repeat` times, interleaved so that a busy moment on
    a shared machine hits every setting alike; s/page as medians and as a ratio to the first."""
    import statistics

    models = args.models.split(",")[0]
    chosen = [n for n in args.settings.split(",") if n] or list(TUNING)
    chosen = ["default", *(n for n in chosen if n != "default")]
    runs: dict[str, list[dict]] = {name: [] for name in chosen}
    kinds = [True] if args.scanned else [False]
    for _ in range(args.repeat):
        for name in chosen:
            overrides = TUNING[name]
            for scanned in kinds:
                out = subprocess.run(
                    [sys.executable, __file__, "--pages", str(args.pages), "--child",
                     f"{args.engine}:{models}:{int(scanned)}", "--overrides", json.dumps(overrides),
                     *_model_args(args)], capture_output=True, text=True, check=True)
                runs[name].append(json.loads(out.stdout.strip().splitlines()[-1]))
    base = statistics.median(r["s_per_page"] for r in runs["default"])
    print(f"{args.engine} {models}, {args.pages} {'scanned' if args.scanned else 'clean'} pages x {args.repeat} runs "
          f"per setting (medians); time relative to 'default' in the same run")
    print(f"| setting | s/page | pages/s | vs default | CER | accent recall | word recall | peak RSS MiB |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for name, rs in runs.items():
        med = {k: statistics.median(r[k] for r in rs) for k in ("s_per_page", "pages_per_s", "cer", "word_recall",
                                                                "peak_rss_mib")}
        acc = statistics.median(r["accent_recall"] or 0 for r in rs)
        print(f"| {name} | {med['s_per_page']:.2f} | {med['pages_per_s']:.2f} | {med['s_per_page'] / base:.2f} | "
              f"{med['cer']:.4f} | {acc:.3f} | {med['word_recall']:.3f} | {med['peak_rss_mib']:.0f} |", flush=True)


if __name__ == "__main__":
    main()
