"""Download PaddleOCR's models into the image at build time, so a container start never does.

Run by docker/ocr-gpu.Dockerfile as the service user, with PADDLE_PDX_CACHE_HOME (PaddleOCR 3.x,
through PaddleX) and PADDLE_OCR_BASE_DIR (PaddleOCR 2.x) pointing into the image. It builds the
engine exactly as the OCR stage does (`PaddleOcrEngine` with the model set in OCR_MODELS), so
the models baked are the ones the worker will ask for, and reads one blank image with it so
every lazily-loaded part is fetched too. The build machine has no GPU: the engine is created
on the CPU; the model files are the same for both devices.
"""
from __future__ import annotations

import logging
import os
import sys
from pathlib import Path

import numpy as np

from invoice.scanner.processing.vision.engines import PaddleOcrEngine

logger = logging.getLogger("bake_paddle_models")


def model_files(*roots: Path) -> list[Path]:
    return [p for root in roots if root.is_dir() for p in root.rglob("*") if p.is_file()]


def main() -> int:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    models = os.environ.get("OCR_MODELS", "ppocrv6")
    roots = [Path(os.environ["PADDLE_PDX_CACHE_HOME"]), Path(os.environ["PADDLE_OCR_BASE_DIR"])]
    engine = PaddleOcrEngine(models=models, use_gpu=False)
    engine.read(np.full((64, 256, 3), 255, dtype=np.uint8))
    files = model_files(*roots)
    if not files:
        logger.error("no model files under %s: the worker would download at start", ", ".join(map(str, roots)))
        return 1
    size_mb = sum(p.stat().st_size for p in files) / 1e6
    logger.info("baked %d files (%.1f MB) of PaddleOCR %s models under %s", len(files), size_mb, models,
                ", ".join(map(str, roots)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
