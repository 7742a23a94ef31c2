"""OCR_ENGINE=onnx2torch reads what the default engine reads: the same PP-OCR ONNX weights, run by
PyTorch through onnx2torch, behind the same RapidOCR pre- and post-processing. Runs only where
the optional `torch` extra (torch, onnx2torch) is installed; benchmarks/ocr/run.py --engine
onnx2torch measures it on the benchmark pages."""
from __future__ import annotations

import numpy as np
import pytest

from invoice.scanner.processing.config import Settings
from invoice.scanner.processing.vision import engines


@pytest.fixture
def torch_extra():
    pytest.importorskip("torch")
    pytest.importorskip("onnx2torch")


def test_onnx2torch_engine_reads_the_same_lines_as_onnx_runtime(torch_extra, invoice_image):
    page = np.asarray(invoice_image().convert("RGB"))
    settings = Settings()
    onnx = engines.get_engine(settings)
    torch_engine = engines.get_engine(settings.with_overrides(ocr_engine="onnx2torch"))
    assert torch_engine.name == "onnx2torch" and torch_engine is not onnx
    assert type(torch_engine.device) is str and torch_engine.device in {"cpu", "cuda"}
    a, b = onnx.read(page), torch_engine.read(page)
    assert [line.text for line in b] == [line.text for line in a]
    for x, y in zip(a, b):
        assert np.allclose(np.asarray(x.quad), np.asarray(y.quad), atol=2.0)
        assert abs(x.confidence - y.confidence) < 0.01
    assert "INV-20417" in "\n".join(line.text for line in b)


def test_onnx2torch_engine_falls_back_to_the_cpu_without_cuda(torch_extra, monkeypatch):
    import torch

    from invoice.scanner.processing.vision.torch_engine import torch_device

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert torch_device(use_gpu=True) == "cpu"
    assert torch_device(use_gpu=False) == "cpu"


def test_same_padding_becomes_explicit_pads_for_onnx2torch():
    """onnx2torch converts no `auto_pad=SAME_*`; PP-OCR's 2x2 stride-1 convolutions and pooling use
    it, so they get the explicit pads ONNX Runtime would apply (the odd one at the end for UPPER)."""
    pytest.importorskip("onnx")
    from onnx import helper

    from invoice.scanner.processing.vision.torch_engine import explicit_same_padding

    nodes = [helper.make_node("Conv", ["x", "w"], ["y"], auto_pad="SAME_UPPER", kernel_shape=[2, 2], strides=[1, 1]),
             helper.make_node("MaxPool", ["y"], ["z"], auto_pad="SAME_LOWER", kernel_shape=[3, 2]),
             helper.make_node("Conv", ["z", "w"], ["o"], pads=[1, 1, 1, 1], kernel_shape=[3, 3])]
    graph = helper.make_graph(nodes, "g", [], [])
    model = helper.make_model(graph)
    assert explicit_same_padding(model) == 2
    pads = [[a for a in n.attribute if a.name == "pads"] for n in model.graph.node]
    assert [helper.get_attribute_value(p[0]) for p in pads] == [[0, 0, 1, 1], [1, 1, 1, 0], [1, 1, 1, 1]]
    assert not any(a.name == "auto_pad" for n in model.graph.node for a in n.attribute)
    strided = helper.make_model(helper.make_graph(
        [helper.make_node("Conv", ["x", "w"], ["y"], auto_pad="SAME_UPPER", kernel_shape=[3, 3], strides=[2, 2])],
        "g", [], []))
    with pytest.raises(ValueError, match="strides"):
        explicit_same_padding(strided)
