"""The CPU OCR settings reach RapidOCR's parameters (benchmarks/ocr/run.py --tune measures them)."""
from __future__ import annotations

from invoice.scanner.processing.config import Settings
from invoice.scanner.processing.vision import engines


def test_zero_leaves_rapidocr_as_it_is():
    params = engines.rapidocr_params("ppocrv6", tuning=engines.CpuTuning(0, 6, 0))
    assert "Det.limit_type" not in params and "EngineConfig.onnxruntime.intra_op_num_threads" not in params
    assert params["Rec.rec_batch_num"] == 6


def test_the_defaults_are_the_measured_ones():
    assert engines.CpuTuning.from_settings(Settings()) == engines.CpuTuning(1280, 16, 0)


def test_tuning_becomes_rapidocr_parameters():
    tuning = engines.CpuTuning(det_max_side=960, rec_batch=16, threads=1)
    params = engines.rapidocr_params("ppocrv6", tuning=tuning)
    assert params["Det.limit_type"] == "max" and params["Det.limit_side_len"] == 960
    assert params["Rec.rec_batch_num"] == 16
    assert params["EngineConfig.onnxruntime.intra_op_num_threads"] == 1
    assert params["EngineConfig.onnxruntime.inter_op_num_threads"] == 1


def test_settings_from_the_environment():
    s = Settings.from_env({"OCR_DET_MAX_SIDE": "1280", "OCR_REC_BATCH": "8", "OCR_THREADS": "2"})
    assert engines.CpuTuning.from_settings(s) == engines.CpuTuning(1280, 8, 2)


def test_an_engine_per_tuning(monkeypatch):
    made = []

    class Fake(engines.OcrEngine):
        name = "rapidocr"

        def __init__(self, models, use_gpu, tuning):
            made.append(tuning)

        def read(self, image):
            return []

    monkeypatch.setattr(engines, "RapidOcrEngine", Fake)
    monkeypatch.setattr(engines, "_ENGINES", {})
    a = engines.get_engine(Settings(ocr_threads=1))
    assert engines.get_engine(Settings(ocr_threads=1)) is a  # once per process and setting
    engines.get_engine(Settings(ocr_threads=2))
    assert [t.threads for t in made] == [1, 2]
