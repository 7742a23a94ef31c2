"""Calibration: rule score -> probability that the value is right."""
from __future__ import annotations

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


