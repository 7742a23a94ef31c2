"""Clean-up for scans: contrast normalization and mild denoising, each only when the page
needs it, so a clean born-digital render passes through unchanged."""
from __future__ import annotations

import logging
import math

import cv2
import numpy as np

logger = logging.getLogger(__name__)

STRETCH_BELOW_RANGE = 200  # grey levels between the 0.5th and 99.5th percentile
MIN_RANGE = 40  # a nearly blank page: stretching would only amplify noise
DENOISE_ABOVE_SIGMA = 4.0


def noise_sigma(gray: np.ndarray) -> float:
    """Immerkær's fast estimate of Gaussian noise (1996)."""
    h, w = gray.shape
    if h < 3 or w < 3:
        return 0.0
    kernel = np.array([[1, -2, 1], [-2, 4, -2], [1, -2, 1]], dtype=np.float32)
    conv = cv2.filter2D(gray.astype(np.float32), -1, kernel)
    return float(math.sqrt(math.pi / 2.0) * np.abs(conv[1:-1, 1:-1]).sum() / (6.0 * (w - 2) * (h - 2)))


def clean_scan(image: np.ndarray) -> tuple[np.ndarray, dict]:
    """Return the cleaned RGB page and what was done to it."""
    done: dict = {}
    gray = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
    lo, hi = (float(v) for v in np.percentile(gray, (0.5, 99.5)))
    if MIN_RANGE <= hi - lo < STRETCH_BELOW_RANGE:
        # Grey paper and faded ink: map the page's own range to 0..255, same for all channels
        # so colours keep their hue.
        lut = np.clip((np.arange(256, dtype=np.float32) - lo) * (255.0 / (hi - lo)), 0, 255).astype(np.uint8)
        image = cv2.LUT(image, lut)
        gray = cv2.LUT(gray, lut)
        done["contrast"] = [round(lo), round(hi)]
    sigma = noise_sigma(gray)
    if sigma > DENOISE_ABOVE_SIGMA:
        strength = float(min(12.0, 1.2 * sigma))
        image = cv2.fastNlMeansDenoisingColored(image, None, strength, strength, 5, 15)
        done["denoise"] = round(sigma, 2)
    return image, done
