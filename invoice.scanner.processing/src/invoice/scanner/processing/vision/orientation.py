"""Page orientation (0/90/180/270) and small skew, decided from text evidence.

Evidence, never a blind guess (upright pages classified as 180°, PaddleOCR #16626; deskew
tilting pages, paperless-ngx #6759):
1. A text detector finds line boxes on a reduced copy of the page. Long boxes that run
   vertically say the page lies on its side (candidates 90/270); horizontal ones say 0/180.
2. The recognizer reads the longest lines at both candidate angles. The page is turned only
   when the other angle reads clearly better (mean confidence higher by a margin) and well in
   absolute terms; otherwise it stays as it is.
3. Skew is the median angle of the long line boxes, corrected only when enough lines agree
   and the angle is small (at most `MAX_SKEW_DEG`).
"""
from __future__ import annotations

import logging
import math
import statistics
from dataclasses import dataclass, field

import cv2
import numpy as np

from invoice.scanner.processing.vision.engines import Quad, TextProbe

logger = logging.getLogger(__name__)

ANALYSIS_MAX_SIDE = 1280
MIN_ASPECT = 2.5  # a "line" box is at least this much longer than it is thick
MIN_LINES = 3  # fewer long lines than this is no evidence
SAMPLE_LINES = 8
MIN_THICKNESS_PX = 6
ROTATE_MARGIN = 0.10  # other angle must read this much better (mean confidence)
ROTATE_MIN_SCORE = 0.70  # ... and this well in absolute terms
MAX_SKEW_DEG = 10.0
MIN_SKEW_DEG = 0.3  # below this a rotation blurs more than it straightens
SKEW_MIN_LINES = 5
SKEW_AGREE_DEG = 1.0  # lines within this of the median count as agreeing
SKEW_AGREE_RATIO = 0.6


@dataclass
class PageGeometry:
    rotation: int = 0  # clockwise degrees to apply (0, 90, 180, 270)
    skew: float = 0.0  # counter-clockwise degrees to apply after the rotation
    evidence: dict = field(default_factory=dict)


def _reduce(image: np.ndarray, max_side: int) -> tuple[np.ndarray, float]:
    h, w = image.shape[:2]
    ratio = min(1.0, max_side / max(h, w))
    if ratio < 1.0:
        image = cv2.resize(image, (max(1, int(w * ratio)), max(1, int(h * ratio))), interpolation=cv2.INTER_AREA)
    return image, ratio


def _axis(quad: Quad) -> tuple[float, float, float]:
    """(long side, short side, angle of the long side in degrees, in (-90, 90]) of a box."""
    pts = np.asarray(quad, dtype=np.float64)
    centered = pts - pts.mean(axis=0)
    # The corners' principal axis is the box's long side, whatever order the corners come in.
    eigvals, eigvecs = np.linalg.eigh(centered.T @ centered)
    dx, dy = eigvecs[:, int(np.argmax(eigvals))]
    angle = _norm_angle(math.degrees(math.atan2(dy, dx)))
    rad = math.radians(angle)
    along = centered @ np.array([math.cos(rad), math.sin(rad)])
    across = centered @ np.array([-math.sin(rad), math.cos(rad)])
    return float(np.ptp(along)), float(np.ptp(across)), angle


def _norm_angle(deg: float) -> float:
    """An undirected line's angle in (-90, 90]."""
    deg = math.fmod(deg, 180.0)
    if deg <= -90.0:
        deg += 180.0
    elif deg > 90.0:
        deg -= 180.0
    return deg


def _crop(image: np.ndarray, quad: Quad, pad: int = 3) -> np.ndarray:
    xs = [p[0] for p in quad]
    ys = [p[1] for p in quad]
    h, w = image.shape[:2]
    x0, x1 = max(0, int(min(xs)) - pad), min(w, int(math.ceil(max(xs))) + pad)
    y0, y1 = max(0, int(min(ys)) - pad), min(h, int(math.ceil(max(ys))) + pad)
    return image[y0:y1, x0:x1]


def turn(image: np.ndarray, clockwise: int) -> np.ndarray:
    """Rotate by a multiple of 90° clockwise (np.rot90 turns counter-clockwise for k > 0)."""
    return np.ascontiguousarray(np.rot90(image, k=(-clockwise // 90) % 4))


def _read_score(probe: TextProbe, crops: list[np.ndarray], clockwise: int) -> float:
    results = probe.recognize([turn(c, clockwise) for c in crops])
    # Weight by the text read so a confident one-character guess counts little.
    weights = [max(1, len(text.strip())) for text, _ in results]
    total = sum(weights)
    return sum(conf * wt for (_, conf), wt in zip(results, weights)) / total if total else 0.0


def analyze(image: np.ndarray, probe: TextProbe) -> PageGeometry:
    """Decide the rotation and skew that make an RGB page upright and straight."""
    small, _ = _reduce(image, ANALYSIS_MAX_SIDE)
    quads = probe.detect(small)
    lines = []
    for quad in quads:
        long_side, short_side, angle = _axis(quad)
        if short_side >= MIN_THICKNESS_PX * 0.5 and long_side >= MIN_ASPECT * short_side:
            lines.append((quad, long_side, angle))
    evidence: dict = {"boxes": len(quads), "lines": len(lines)}
    if len(lines) < MIN_LINES:
        evidence["decision"] = "too few text lines for evidence"
        return PageGeometry(0, 0.0, evidence)

    vertical = [ln for ln in lines if abs(ln[2]) > 45.0]
    horizontal = [ln for ln in lines if abs(ln[2]) <= 45.0]
    sideways = len(vertical) > len(horizontal)
    family = vertical if sideways else horizontal
    candidates = (90, 270) if sideways else (0, 180)
    sample = [ln[0] for ln in sorted(family, key=lambda ln: -ln[1])[:SAMPLE_LINES]]
    crops = [c for c in (_crop(small, q) for q in sample) if c.size and min(c.shape[:2]) >= 4]
    scores = {candidates[0]: _read_score(probe, crops, candidates[0])}
    if sideways or scores[0] + ROTATE_MARGIN <= 1.0:
        scores[candidates[1]] = _read_score(probe, crops, candidates[1])
    # else: upright reads so well that no other angle could beat it by the margin; not read.
    evidence.update({"vertical": len(vertical), "horizontal": len(horizontal),
                     "scores": {str(k): round(v, 3) for k, v in scores.items()}})
    keep, other = candidates
    if sideways:
        # No "as is" candidate reads sideways text; pick the better side, still on evidence.
        keep, other = sorted(candidates, key=lambda a: -scores[a])
        rotation = keep if scores[keep] >= ROTATE_MIN_SCORE and scores[keep] - scores[other] >= ROTATE_MARGIN else 0
    else:
        score = scores.get(other, 0.0)
        rotation = other if score >= ROTATE_MIN_SCORE and score - scores[keep] >= ROTATE_MARGIN else 0
    evidence["decision"] = f"rotate {rotation}" if rotation else ("undecided, left as is" if sideways else "upright")
    if sideways and rotation == 0:
        # Undecided sideways page: no skew either, the angles below would be meaningless.
        return PageGeometry(0, 0.0, evidence)

    skew = _skew([_norm_angle(ln[2] + rotation) for ln in family], evidence)
    return PageGeometry(rotation, skew, evidence)


def _skew(angles: list[float], evidence: dict) -> float:
    if len(angles) < SKEW_MIN_LINES:
        return 0.0
    median = statistics.median(angles)
    agree = sum(1 for a in angles if abs(a - median) <= SKEW_AGREE_DEG) / len(angles)
    evidence.update({"skew_median": round(median, 2), "skew_agree": round(agree, 2)})
    if agree < SKEW_AGREE_RATIO or abs(median) < MIN_SKEW_DEG or abs(median) > MAX_SKEW_DEG:
        return 0.0
    # Lines descending to the right (positive angle, y down) need a counter-clockwise turn.
    return round(median, 2)


def deskew(image: np.ndarray, degrees: float) -> np.ndarray:
    """Rotate counter-clockwise by `degrees` on a canvas grown to keep every corner, white fill."""
    h, w = image.shape[:2]
    matrix = cv2.getRotationMatrix2D((w / 2.0, h / 2.0), degrees, 1.0)
    cos, sin = abs(matrix[0, 0]), abs(matrix[0, 1])
    new_w, new_h = int(math.ceil(h * sin + w * cos)), int(math.ceil(h * cos + w * sin))
    matrix[0, 2] += new_w / 2.0 - w / 2.0
    matrix[1, 2] += new_h / 2.0 - h / 2.0
    return cv2.warpAffine(image, matrix, (new_w, new_h), flags=cv2.INTER_CUBIC,
                          borderMode=cv2.BORDER_CONSTANT, borderValue=(255, 255, 255))
