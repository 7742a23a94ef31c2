"""OCR: text-layer pages skip the engine, scanned pages are read, words and reading order,
engine results mapped, the engine loaded once per process."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from invoicepage import INVOICE_LINES
from invoice.scanner.processing.config import Settings
from invoice.scanner.processing.errors import PermanentStageError
from invoice.scanner.processing.models import OcrLine, OcrWord, PageImage
from invoice.scanner.processing.stages.ocr import ocr_pages
from invoice.scanner.processing.stages.preprocessing import preprocess
from invoice.scanner.processing.vision import engines
from invoice.scanner.processing.vision.layout import lines_from_words, reading_order, split_words


def _inside(inner, outer, slack: float = 2.0) -> bool:
    return (inner[0] >= outer[0] - slack and inner[1] >= outer[1] - slack
            and inner[2] <= outer[2] + slack and inner[3] <= outer[3] + slack)


def _assert_reading_order(lines) -> None:
    # Top to bottom: a line never lies wholly above the line before it.
    for prev, cur in zip(lines, lines[1:]):
        assert cur.bbox[3] > prev.bbox[1], (prev.text, cur.text)


def test_text_layer_page_skips_ocr(tmp_path, invoice_pdf, ocr_settings):
    (tmp_path / "in.pdf").write_bytes(invoice_pdf())
    pages = preprocess(tmp_path / "in.pdf", "application/pdf", tmp_path / "pages", ocr_settings)
    [page] = ocr_pages(pages, ocr_settings)

    assert page.engine == "pdf-text"
    texts = [ln.text for ln in page.lines]
    # Every drawn string comes back as one line (columns stay apart), in reading order.
    assert sorted(texts) == sorted(text for _, _, text in INVOICE_LINES)
    assert texts[:4] == ["ACME Supplies GmbH", "Invoice No. INV-20417", "Hauptstrasse 12, 10115 Berlin",
                         "Date: 14.03.2024"]
    assert texts.index("Steel bolts M8 galvanized") < texts.index("12") < texts.index("96.00 EUR")
    assert all(ln.confidence == 1.0 for ln in page.lines)
    _assert_reading_order(page.lines)
    for line in page.lines:
        assert " ".join(w.text for w in line.words) == line.text
        assert all(_inside(w.bbox, line.bbox) for w in line.words)


@pytest.fixture(scope="module")
def scanned_page(tmp_path_factory, invoice_image, ocr_settings):
    """The invoice as a clean 110-dpi scan, preprocessed and read once for this module."""
    tmp_path = tmp_path_factory.mktemp("scan")
    image = invoice_image()
    image.save(tmp_path / "scan.png")
    pages = preprocess(tmp_path / "scan.png", "image/png", tmp_path / "pages", ocr_settings)
    [page] = ocr_pages(pages, ocr_settings)
    return image, page


def test_scanned_page_is_read_by_the_engine(scanned_page):
    image, page = scanned_page

    assert page.engine == "rapidocr"
    assert (page.width, page.height) == image.size
    assert page.seconds > 0
    text = page.text
    for expected in ("ACME Supplies GmbH", "INV-20417", "14.03.2024", "Example Customer Ltd",
                     "1,350.00 EUR", "Total: 1,510.50 EUR", "DE89 3704 0044 0532 0130 00"):
        assert expected in text, expected
    assert page.confidence > 0.9
    _assert_reading_order(page.lines)
    words = [w.text for ln in page.lines for w in ln.words]
    assert {"Steel", "bolts", "galvanized", "Consulting", "1,510.50"} <= set(words)
    for line in page.lines:
        x0, y0, x1, y1 = line.bbox
        assert 0 <= x0 < x1 <= page.width and 0 <= y0 < y1 <= page.height
        assert [w.text for w in line.words] == line.text.split()
        assert all(_inside(w.bbox, line.bbox) for w in line.words)
        assert [w.bbox[0] for w in line.words] == sorted(w.bbox[0] for w in line.words)


def test_word_boxes_land_on_their_words(scanned_page):
    """Approximate word boxes from character proportions still land on the right word."""
    _, page = scanned_page
    line = next(ln for ln in page.lines if ln.text.startswith("Bill to"))
    words = {w.text: w.bbox for w in line.words}
    # "Customer" is drawn at x = 50pt + width of "Bill to: Example " in Helvetica 13pt (~103pt).
    center = (words["Customer"][0] + words["Customer"][2]) / 2
    expected = (50 + 103 + 28) * 110 / 72  # word start + half its width, in 110-dpi pixels
    assert abs(center - expected) < 25


def test_missing_page_image_fails_permanently(tmp_path, ocr_settings):
    page = PageImage(page_no=1, image_path=str(tmp_path / "gone.png"), width=10, height=10, dpi=200)
    with pytest.raises(PermanentStageError, match="missing"):
        ocr_pages([page], ocr_settings)


def test_blank_page_gives_no_lines(tmp_path, ocr_settings):
    Image.new("RGB", (600, 800), "white").save(tmp_path / "blank.png")
    page = PageImage(page_no=1, image_path=str(tmp_path / "blank.png"), width=600, height=800, dpi=200)
    [result] = ocr_pages([page], ocr_settings)
    assert result.lines == [] and result.confidence == 0.0


# --- layout helpers ---------------------------------------------------------------------

def test_split_words_places_boxes_in_order_within_the_line():
    words = split_words("Total:  1,510.50 EUR", (100.0, 10.0, 400.0, 30.0), 0.9)
    assert [w.text for w in words] == ["Total:", "1,510.50", "EUR"]
    assert words[0].bbox[0] == pytest.approx(100.0)
    assert words[-1].bbox[2] == pytest.approx(400.0)
    for a, b in zip(words, words[1:]):
        assert a.bbox[2] < b.bbox[0]
    assert all(w.bbox[1] == 10.0 and w.bbox[3] == 30.0 and w.confidence == 0.9 for w in words)


def test_lines_from_words_groups_baselines_and_splits_columns():
    h = 20.0
    words = [
        OcrWord("Amount", (500, 101, 580, 101 + h)),
        OcrWord("Invoice", (50, 100, 130, 100 + h)),
        OcrWord("No.", (138, 102, 170, 102 + h)),
        OcrWord("Total", (50, 200, 110, 200 + h)),
        OcrWord("42.00", (118, 199, 180, 199 + h)),
    ]
    lines = lines_from_words(words)
    assert [ln.text for ln in lines] == ["Invoice No.", "Amount", "Total 42.00"]
    assert lines[0].bbox == (50, 100, 170, 122)


def test_reading_order_sorts_rows_then_columns():
    def line(text, x, y):
        return OcrLine(text, (x, y, x + 50, y + 20), 0.9)

    shuffled = [line("c", 300, 52), line("d", 10, 200), line("a", 10, 50), line("b", 120, 48)]
    assert [ln.text for ln in reading_order(shuffled)] == ["a", "b", "c", "d"]


# --- engine results and the per-process cache ------------------------------------------------

def test_rapidocr_result_mapping():
    from rapidocr.utils.output import RapidOCROutput

    result = RapidOCROutput(
        boxes=np.array([[[10.0, 20.0], [110.0, 20.0], [110.0, 40.0], [10.0, 40.0]],
                        [[0, 0], [5, 0], [5, 5], [0, 5]]]),
        txts=("Invoice 42 ", "  "), scores=(0.97, 0.6))
    [line] = engines.map_rapidocr_result(result)
    assert (line.text, line.bbox, line.confidence) == ("Invoice 42", (10.0, 20.0, 110.0, 40.0), 0.97)
    assert engines.map_rapidocr_result(RapidOCROutput()) == []  # nothing found on the page


def test_paddle2_result_mapping():
    # PaddleOCR 2.x `ocr(img, cls=False)`: one list per image of [quad, (text, score)].
    result = [[
        [[[28.0, 37.0], [302.0, 39.0], [302.0, 72.0], [28.0, 70.0]], ("Invoice No. 1042", 0.9853)],
        [[[30.0, 90.0], [160.0, 90.0], [160.0, 118.0], [30.0, 118.0]], ("Total 99.00", 0.9611)],
    ]]
    lines = engines.map_paddle2_result(result)
    assert [(ln.text, ln.confidence) for ln in lines] == [("Invoice No. 1042", 0.9853), ("Total 99.00", 0.9611)]
    assert lines[0].bbox == (28.0, 37.0, 302.0, 72.0)
    assert engines.map_paddle2_result([None]) == []  # a page with no text


def test_paddle3_result_mapping():
    # PaddleOCR 3.x `predict(img)`: OCRResult objects (dict subclasses) with parallel arrays.
    class OCRResult(dict):
        pass

    result = [OCRResult({
        "input_path": None, "page_index": None,
        "dt_polys": [np.array([[28, 37], [302, 39], [302, 72], [28, 70]], dtype=np.int16)],
        "rec_texts": ["Invoice No. 1042", "Total 99.00", ""],
        "rec_scores": np.array([0.9853, 0.9611, 0.2]),
        "rec_polys": [np.array([[28, 37], [302, 39], [302, 72], [28, 70]], dtype=np.int16),
                      np.array([[30, 90], [160, 90], [160, 118], [30, 118]], dtype=np.int16),
                      np.array([[0, 0], [1, 0], [1, 1], [0, 1]], dtype=np.int16)],
        "rec_boxes": np.array([[28, 37, 302, 72], [30, 90, 160, 118], [0, 0, 1, 1]], dtype=np.int16),
    })]
    lines = engines.map_paddle3_result(result)
    assert [ln.text for ln in lines] == ["Invoice No. 1042", "Total 99.00"]
    assert lines[1].bbox == (30.0, 90.0, 160.0, 118.0)
    assert lines[0].confidence == pytest.approx(0.9853)


def test_engine_is_loaded_once_per_process(ocr_settings):
    assert engines.get_engine(ocr_settings) is engines.get_engine(ocr_settings)
    with pytest.raises(ValueError, match="unknown OCR engine"):
        engines.get_engine(type(ocr_settings)(ocr_engine="tesseract"))
    with pytest.raises(ValueError, match="unknown OCR model set"):
        engines.rapidocr_model_kwargs("ppocrv9")


def test_both_model_sets_resolve_to_files():
    with pytest.raises(ValueError, match="paddle only"):
        engines.rapidocr_model_kwargs("ppocrv4")  # rapidocr 3 ships no PP-OCRv4 files: never a download
    for models in ("ppocrv6", "ppocrv6-tiny", "ppocrv5"):
        paths = engines.rapidocr_model_kwargs(models)
        assert set(paths) == {"det_model_path", "rec_model_path", "rec_keys_path"}
        assert all(Path(p).is_file() for p in paths.values()), paths
    assert engines.rapidocr_model_kwargs("ppocrv6")["rec_model_path"].endswith("ppocrv6/small/rec/rec.onnx")
    params = engines.rapidocr_params("ppocrv6-tiny")
    assert params["Det.model_path"].endswith("ppocrv6/tiny/det/det.onnx")
    assert params["Rec.rec_keys_path"].endswith("ppocrv6_tiny_dict.txt") and params["Global.use_cls"] is False
    assert Settings().ocr_models == "ppocrv6"


def test_warm_up_hook_runs_in_ocr_workers_only(monkeypatch):
    from invoice.scanner.processing.celery_app import app
    from invoice.scanner.processing.stages import ocr as ocr_stage

    calls = []
    monkeypatch.setattr(engines, "warm_up", lambda settings: calls.append(settings.ocr_models))
    queues = app.amqp.queues
    # What `celery worker -Q llm` / `-Q ocr` leaves in the (forked) worker process.
    monkeypatch.setattr(queues, "_consume_from", {"llm": object()})
    ocr_stage._warm_up_ocr_engine()
    assert calls == []
    monkeypatch.setattr(queues, "_consume_from", {"ocr": object()})
    ocr_stage._warm_up_ocr_engine()
    assert len(calls) == 1


@pytest.mark.parametrize("models, det, rec", [
    ("ppocrv6", "PP-OCRv6_small_det", "PP-OCRv6_small_rec"),
    ("ppocrv6-tiny", "PP-OCRv6_tiny_det", "PP-OCRv6_tiny_rec"),
    ("ppocrv5", "PP-OCRv5_mobile_det", "latin_PP-OCRv5_mobile_rec"),
])
def test_paddle_engine_asks_paddleocr_3_for_the_same_model_set(monkeypatch, models, det, rec):
    # PaddleOCR is not installed in CI: a stand-in module records what the engine asks for.
    import sys
    import types

    seen = {}

    class FakePaddleOCR:
        def __init__(self, **kwargs):
            seen.update(kwargs)

    fake = types.ModuleType("paddleocr")
    fake.__version__ = "3.7.0"
    fake.PaddleOCR = FakePaddleOCR
    monkeypatch.setitem(sys.modules, "paddleocr", fake)
    engines.PaddleOcrEngine(models=models, use_gpu=True)
    assert (seen["text_detection_model_name"], seen["text_recognition_model_name"]) == (det, rec)
    assert seen["device"] == "gpu:0" and seen["use_textline_orientation"] is False
