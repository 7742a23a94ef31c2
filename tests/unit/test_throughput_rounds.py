"""benchmarks/throughput/run.py --rounds: rounds pooled into the table, the ratio taken round by
round (each project batch against the floor batch measured next to it) and its median printed."""
from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

RUN = Path(__file__).resolve().parents[2] / "benchmarks" / "throughput" / "run.py"


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("throughput_run", RUN)
    module = importlib.util.module_from_spec(spec)
    sys.modules["throughput_run"] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def result(bench, name, docs, wall_s, lone, overheads, cpu):
    r = bench.Result(name, latencies=lone, overheads=overheads,
                     stage_s={s: [0.01] * len(lone) for s in ("preprocessing", "ocr", "llm", "extraction",
                                                               "evaluation")},
                     batch_latencies=[0.1 * (i + 1) for i in range(docs)], batch_wall_s=wall_s, batch_docs=docs,
                     batch_cpu_s=cpu)
    return r


def test_ratio_is_taken_per_round_and_its_median_reported(bench):
    # the floor's rate swings 2x between rounds; the project's less
    floors = [result(bench, "floor", 100, 1.0, [0.02] * 5, [0.01] * 5, {"floor-ocr": 0.5}),
              result(bench, "floor", 100, 2.0, [0.04] * 5, [0.02] * 5, {"floor-ocr": 0.6}),
              result(bench, "floor", 100, 1.5, [0.03] * 5, [0.01] * 5, {"floor-ocr": 0.4})]
    projects = [result(bench, "bd", 100, 10.0, [0.3] * 5, [0.05] * 5, {"worker-llm": 2.0}),
                result(bench, "bd", 100, 12.0, [0.3] * 5, [0.06] * 5, {"worker-llm": 2.2}),
                result(bench, "bd", 100, 8.0, [0.3] * 5, [0.03] * 5, {"worker-llm": 1.8})]
    summary = bench.summarize_rounds(floors, projects)
    assert summary.floor_per_min == pytest.approx([6000, 3000, 4000])
    assert summary.project_per_min == pytest.approx([600, 500, 750])
    assert summary.ratios == pytest.approx([0.1, 1 / 6, 0.1875])
    assert summary.median_ratio == pytest.approx(1 / 6)
    assert summary.lone_ratios == pytest.approx([2.5, 1.5, 1.0])
    assert summary.median_lone_ratio == pytest.approx(1.5)


def test_combine_pools_samples_and_sums_batches(bench):
    a = result(bench, "bd", 100, 10.0, [0.3, 0.4], [0.05, 0.06], {"worker-llm": 2.0, "api": 0.5})
    b = result(bench, "bd", 50, 5.0, [0.5], [0.07], {"worker-llm": 1.0})
    c = bench.combine("bd", [a, b])
    assert c.latencies == [0.3, 0.4, 0.5] and c.overheads == [0.05, 0.06, 0.07]
    assert c.stage_s["ocr"] == [0.01] * 3
    assert c.batch_docs == 150 and c.batch_wall_s == pytest.approx(15.0)
    assert c.per_min == pytest.approx(600)
    assert c.batch_cpu_s == pytest.approx({"worker-llm": 3.0, "api": 0.5})
    assert len(c.batch_latencies) == 150
    # the inputs are left as they were
    assert a.latencies == [0.3, 0.4] and a.batch_cpu_s == {"worker-llm": 2.0, "api": 0.5}


def test_mismatched_rounds_are_refused(bench):
    with pytest.raises(ValueError):
        bench.summarize_rounds([], [])


def test_printed_table_keeps_its_lines_and_adds_the_rounds(bench, capsys):
    floors = [result(bench, "floor", 100, 1.0, [0.02] * 5, [0.01] * 5, {"floor-ocr": 0.5}),
              result(bench, "floor", 100, 2.0, [0.04] * 5, [0.02] * 5, {"floor-ocr": 0.6})]
    projects = [result(bench, "bd", 100, 10.0, [0.3] * 5, [0.05] * 5, {"worker-llm": 2.0}),
                result(bench, "bd", 100, 12.0, [0.3] * 5, [0.06] * 5, {"worker-llm": 2.2})]
    bench.print_results("born_digital", bench.combine("floor", floors), bench.combine("bd", projects), 25,
                        bench.summarize_rounds(floors, projects))
    out = capsys.readouterr().out
    assert "batch of 200, 25 in flight: documents/min" in out
    assert "median orchestration overhead (latency - stages)" in out
    assert "CPU ms per document in the batch, by part" in out
    assert "round 1: floor     6000  project      600 docs/min  throughput  10.0%" in out
    assert "round 2: floor     3000  project      500 docs/min  throughput  16.7%" in out
    assert "median:  floor     4500  project      550 docs/min  throughput  13.3%" in out
    assert "ratios: throughput 13.3% of the floor (median of 2 rounds" in out


def test_one_round_prints_todays_ratio_line(bench, capsys):
    f = result(bench, "floor", 100, 1.0, [0.02] * 5, [0.01] * 5, {})
    p = result(bench, "bd", 100, 10.0, [0.3] * 5, [0.05] * 5, {})
    bench.print_results("born_digital", f, p, 25, bench.summarize_rounds([f], [p]))
    out = capsys.readouterr().out
    assert "round 1:" not in out
    assert "ratios: throughput 10.0% of the floor (target >= 25 %); lone overhead 2.50 x" in out
