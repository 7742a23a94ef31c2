"""Seconds per document of the local provider + extraction, two code versions in one run.

    python benchmarks/accuracy/extractor_speed.py --before f4573c1^ --rounds 3

The documents are the dev halves' born-digital ZUGFeRD PDFs and the first varied generator
invoices of the calibration's cache, their OCR read once from the caches (no OCR is timed). Each
version (this tree, and `--before REV` exported with `git archive` into a temporary folder) runs
in its own process, the versions alternating `--rounds` times; every process measures a CPU
floor (a fixed pure-Python loop) beside its documents, and the figure compared is the best
round's milliseconds per document divided by that process's floor, so a busier machine in one
round does not favour a version. Printed with the load average.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def _floor() -> float:
    t0 = time.perf_counter()
    x = 0
    for i in range(200_000):
        x += i * i % 7
    return time.perf_counter() - t0


def child(n_generated: int) -> None:
    import pickle

    sys.path.insert(0, str(REPO))
    from benchmarks.accuracy import corpora
    from benchmarks.accuracy.pipeline import OcrCache, read_document

    from invoice.scanner.processing.config import Settings
    from invoice.scanner.processing.stages.extraction import extract
    from invoice.scanner.processing.stages.llm.providers import get_provider

    settings = Settings.from_env()
    ocrs = [read_document(d.path, d.content_type, settings, OcrCache.default(), file_sha256=d.sha256)[1]
            for d in corpora.load("zugferd", kinds=("born_digital",))]
    cache = Path.home() / ".cache/invoice-scanner/calibration"
    ocrs += [pickle.loads(f.read_bytes())["ocr"] for f in sorted(cache.glob("*.pkl"))[:n_generated]]
    provider = get_provider(settings)
    for o in ocrs:  # warm: caches, the model file, dateparser's locales
        extract(provider.predict(o, []), o)
    floors = []
    t0 = time.perf_counter()
    for o in ocrs:
        extract(provider.predict(o, []), o)
        floors.append(_floor())
    wall = time.perf_counter() - t0 - sum(floors)
    floors.sort()
    print(json.dumps({"ms_per_document": 1000 * wall / len(ocrs), "floor_ms": 1000 * floors[len(floors) // 2],
                      "documents": len(ocrs), "module": sys.modules[type(provider).__module__].__file__}))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--before", required=False, help="git revision to compare with (exported, not checked out)")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--generated", type=int, default=60)
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(args.generated)
        return 0
    versions = {"this tree": None}
    tmp = None
    if args.before:
        tmp = tempfile.mkdtemp(prefix="extractor-speed-")
        archive = subprocess.run(["git", "-C", str(REPO), "archive", args.before, "invoice.scanner.processing/src"],
                                 check=True, capture_output=True).stdout
        subprocess.run(["tar", "-x", "-C", tmp], input=archive, check=True)
        versions[args.before] = str(Path(tmp) / "invoice.scanner.processing/src")
    results: dict[str, list[dict]] = {v: [] for v in versions}
    for _ in range(args.rounds):
        for label, src in versions.items():
            env = dict(os.environ)
            if src:
                env["PYTHONPATH"] = src + os.pathsep + env.get("PYTHONPATH", "")
            out = subprocess.run([sys.executable, __file__, "--child", "--generated", str(args.generated)], env=env,
                                 check=True, capture_output=True, text=True).stdout
            results[label].append(json.loads(out.strip().splitlines()[-1]))
    print(f"load average {open('/proc/loadavg').read().split()[:3]}")
    for label, rs in results.items():
        best = min(rs, key=lambda r: r["ms_per_document"] / r["floor_ms"])
        print(f"{label:>12s}: {best['ms_per_document']:.2f} ms per document = "
              f"{best['ms_per_document'] / best['floor_ms']:.2f} x the CPU floor ({best['floor_ms']:.2f} ms), best of "
              f"{len(rs)} rounds; all rounds (ratio): "
              + ", ".join(f"{r['ms_per_document'] / r['floor_ms']:.2f}" for r in rs)
              + f"; {best['documents']} documents; {best['module']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
