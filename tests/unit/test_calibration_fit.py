"""The calibration fit (tools/fit_local_calibration.py): isotonic curves whose every level rests
on enough values, so the top of a curve never promises more than the documents under it showed."""
from __future__ import annotations

import random
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tools"))
pytest.importorskip("sklearn")
from fit_local_calibration import MIN_BLOCK, isotonic  # noqa: E402

from invoice.scanner.processing.stages.llm.local.calibration import _interp  # noqa: E402


def test_a_level_on_a_few_values_is_pooled_with_the_one_below():
    # 54 vendor names at a confidence of 0.999 (2 wrong) and 2 right ones at 1.0: the plain
    # isotonic fit says 1.0 -> 100 %, and interpolates 0.9995 to 98.2 %.
    xs = [0.5] * 30 + [0.999] * 54 + [1.0] * 2
    ys = [1] * 20 + [0] * 10 + [1] * 52 + [0] * 2 + [1, 1]
    curve = isotonic(xs, ys, [1.0] * len(xs))
    top = (52 + 2) / 56
    assert _interp(curve, 1.0) == pytest.approx(top, abs=1e-4)
    assert _interp(curve, 0.9995) == pytest.approx(top, abs=1e-4)
    assert _interp(curve, 0.5) == pytest.approx(20 / 30, abs=1e-4)


def test_the_lowest_level_is_not_raised():
    # Five values at a low confidence, four of them wrong, under 100 right ones: weak evidence
    # stays weak (pooled upwards it would read 95 %).
    xs = [0.3] * 5 + [0.95] * 100
    ys = [1, 0, 0, 0, 0] + [1] * 100
    curve = isotonic(xs, ys, [1.0] * len(xs))
    assert _interp(curve, 0.3) == pytest.approx(0.2, abs=1e-4)
    assert _interp(curve, 0.95) == pytest.approx(1.0, abs=1e-4)


def test_pooled_curves_stay_monotone_and_measured():
    rng = random.Random(7)
    xs = [rng.random() for _ in range(600)]
    ys = [int(rng.random() < x) for x in xs]
    ws = [rng.choice((0.5, 1.0, 2.0)) for _ in xs]
    bx, by = isotonic(xs, ys, ws)
    assert bx == sorted(bx) and by == sorted(by)
    # At most one level per MIN_BLOCK values (the lowest aside), and the curve still matches what
    # it was fitted on:
    # in each tenth of the predictions, mean prediction and share of right values agree.
    assert len(set(by)) <= len(xs) // MIN_BLOCK + 1
    pred = [_interp([bx, by], x) for x in xs]
    err = 0.0
    for b in range(10):
        grp = [(p, y, w) for p, y, w in zip(pred, ys, ws) if b / 10 <= p < (b + 1) / 10 or (b == 9 and p == 1.0)]
        if grp:
            wsum = sum(w for *_, w in grp)
            err += wsum / sum(ws) * abs(sum(p * w for p, _, w in grp) - sum(y * w for _, y, w in grp)) / wsum
    assert err < 0.02
