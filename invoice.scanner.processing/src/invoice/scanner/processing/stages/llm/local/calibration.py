"""Calibration: rule score -> probability that the value is right.

Two steps. `calibrate` turns the rule score into a first probability (the doubt the rules
keep, measured on the generated benchmark). `calibrated` then maps it through an isotonic
regression fitted on held-out *dev* documents (the varied generator and the dev halves of the
external corpora, `tools/fit_local_calibration.py`), saved beside this module as
`calibration.json` and read once per process. Without that file (or for a field it has no
curve for) the first step is the answer.
"""
from __future__ import annotations

import bisect
import json
import os
from functools import lru_cache
from pathlib import Path

CALIBRATION_FILE = Path(__file__).with_name("calibration.json")
CALIBRATION_ENV = "LOCAL_CALIBRATION_PATH"  # another file (a deployment's own fit); empty: the bundled one
WEAK = 0.6  # `calibrate`'s knee

# Share of the remaining doubt (1 - score) that is real, measured on the generated benchmark
# (benchmarks/accuracy): from a PDF text layer a value found under a matching label was never
# wrong in 1,245 core fields, so most of the rule score's doubt is not real; from OCR, names and
# other free text lose accents and letters (about 7 % of vendor names), numbers and dates almost
# never survive the type and arithmetic checks wrong.
_DOUBT_KEPT = {
    (True, "text"): 0.15, (True, "other"): 0.12,
    (False, "text"): 0.9, (False, "other"): 0.3,
}
_FREE_TEXT = frozenset({"vendor_name", "customer_name", "vendor_address", "customer_address", "payment_terms"})


def calibrate(name: str, score: float, born_digital: bool) -> float:
    """Rule score -> probability that the value is right. Above 0.6 the doubt shrinks by the
    measured factor; below it (fallbacks, disagreeing candidates) the score is only rescaled, so
    weak evidence stays weak."""
    k = _DOUBT_KEPT[(born_digital, "text" if name in _FREE_TEXT else "other")]
    knee = 1 - 0.4 * k
    if score >= 0.6:
        return 1 - (1 - score) * k
    return score * knee / 0.6


def calibration_file() -> str:
    return os.environ.get(CALIBRATION_ENV, "").strip() or str(CALIBRATION_FILE)


@lru_cache(maxsize=4)
def curves(path: str = str(CALIBRATION_FILE)) -> dict:
    """The fitted curves: {"fields": {name: [xs, ys]}, "predicted_accuracy": [xs, ys], ...}."""
    p = Path(path)
    if not p.exists():
        return {}
    return json.loads(p.read_text(encoding="utf-8"))


def _interp(curve: list[list[float]], x: float) -> float:
    xs, ys = curve
    if not xs:
        return x
    if x <= xs[0]:
        return ys[0]
    if x >= xs[-1]:
        return ys[-1]
    i = bisect.bisect_right(xs, x)
    x0, x1, y0, y1 = xs[i - 1], xs[i], ys[i - 1], ys[i]
    return y0 if x1 == x0 else y0 + (y1 - y0) * (x - x0) / (x1 - x0)


def calibrated(name: str, probability: float, kind: str) -> float:
    """`calibrate`'s probability through the isotonic curve fitted on dev documents for this
    field and kind of page (born_digital | scanned), if there is one."""
    fields = curves(calibration_file()).get("fields", {})
    curve = fields.get(f"{name}:{kind}") or fields.get(name)
    if curve is None:
        return probability
    value = _interp(curve, probability)
    # Weak evidence stays weak: below the knee (a failed checksum, a fallback, disagreeing
    # candidates) the curve may lower a probability, never raise it; few dev values sit there.
    return min(value, probability) if probability < WEAK else value


def calibrated_accuracy(predicted: float) -> float:
    """The evaluation's predicted accuracy through its dev-fitted isotonic curve, if any."""
    curve = curves(calibration_file()).get("predicted_accuracy")
    return predicted if curve is None else _interp(curve, predicted)
