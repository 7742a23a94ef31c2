"""`OCR_ENGINE=onnx2torch`: the same PP-OCR ONNX models and RapidOCR's pre- and post-processing,
the two networks run by PyTorch (converted at load by the `onnx2torch` package). For GPU hosts
that carry PyTorch with CUDA but neither Paddle nor onnxruntime-gpu; on the CPU ONNX Runtime is
the faster choice (`rapidocr`). Optional: `pip install 'invoice-scanner-processing[torch]'`.

RapidOCR builds its detector and recognizer around an inference session object with a small
interface (`__call__(array) -> array`, and the dictionary in the model's metadata); this module
gives them one backed by a `torch.nn.Module`, so everything around the networks (resizing,
box post-processing, CTC decoding, the model set's dictionary) is the code the default engine
runs and the two engines read the same text from the same weights.
"""
from __future__ import annotations

import logging
import threading
from pathlib import Path

import numpy as np

from invoice.scanner.processing.vision.engines import CpuTuning, RapidOcrEngine, rapidocr_model_kwargs

logger = logging.getLogger(__name__)


def torch_device(use_gpu: bool) -> str:
    import torch

    if use_gpu and torch.cuda.is_available():
        return "cuda"
    if use_gpu:
        logger.warning("OCR_USE_GPU=true but PyTorch sees no CUDA device; the onnx2torch engine runs on the CPU")
    return "cpu"


def explicit_same_padding(model) -> int:
    """Rewrite `auto_pad=SAME_UPPER/SAME_LOWER` (which onnx2torch does not convert) as explicit
    `pads`, in place; returns how many nodes changed. With stride 1 the padding does not depend
    on the input size: (kernel - 1) x dilation per axis, the odd one at the end (UPPER) or the
    start (LOWER); PP-OCR's detectors and recognizers use it only so (2x2 convolutions and
    pooling). Any other stride raises, as the padding would then depend on the input's size."""
    import onnx

    changed = 0
    for node in model.graph.node:
        attrs = {a.name: a for a in node.attribute}
        mode = onnx.helper.get_attribute_value(attrs["auto_pad"]).decode() if "auto_pad" in attrs else "NOTSET"
        if mode not in ("SAME_UPPER", "SAME_LOWER"):
            continue
        kernel = list(onnx.helper.get_attribute_value(attrs["kernel_shape"])) if "kernel_shape" in attrs else None
        if kernel is None:
            raise ValueError(f"{node.op_type} {node.name}: auto_pad {mode} without kernel_shape")
        strides = list(onnx.helper.get_attribute_value(attrs["strides"])) if "strides" in attrs else [1] * len(kernel)
        dilations = (list(onnx.helper.get_attribute_value(attrs["dilations"])) if "dilations" in attrs
                     else [1] * len(kernel))
        if any(s != 1 for s in strides):
            raise ValueError(f"{node.op_type} {node.name}: auto_pad {mode} with strides {strides} is not supported")
        totals = [(k - 1) * d for k, d in zip(kernel, dilations)]
        small = [t // 2 for t in totals]
        begins = small if mode == "SAME_UPPER" else [t - s for t, s in zip(totals, small)]
        ends = [t - b for t, b in zip(totals, begins)]
        node.attribute.remove(attrs["auto_pad"])
        if "pads" in attrs:
            node.attribute.remove(attrs["pads"])
        node.attribute.extend([onnx.helper.make_attribute("pads", begins + ends)])
        changed += 1
    return changed


class TorchSession:
    """One ONNX model converted to PyTorch, with the interface RapidOCR calls its sessions by."""

    def __init__(self, model_path: Path | str, device: str = "cpu", threads: int = 0):
        import onnx
        import torch
        from onnx2torch import convert

        model = onnx.load(str(model_path))
        explicit_same_padding(model)
        self.metadata = {p.key: p.value for p in model.metadata_props}
        self.device = torch.device(device)
        self.module = convert(model).eval().to(self.device)
        if threads and device == "cpu":
            torch.set_num_threads(threads)
        self._lock = threading.Lock()

    def __call__(self, input_content: np.ndarray) -> np.ndarray:
        import torch

        with self._lock, torch.inference_mode():
            out = self.module(torch.from_numpy(np.ascontiguousarray(input_content, dtype=np.float32)).to(self.device))
            if isinstance(out, (tuple, list)):
                out = out[0]
            return out.detach().to("cpu").numpy()

    def have_key(self, key: str = "character") -> bool:
        return key in self.metadata

    def get_character_list(self, key: str = "character") -> list[str]:
        return self.metadata[key].splitlines()


class Onnx2TorchEngine(RapidOcrEngine):
    """RapidOCR with its detector's and recognizer's sessions replaced by `TorchSession`s."""

    name = "onnx2torch"

    def __init__(self, models: str = "ppocrv6", use_gpu: bool = False, tuning: CpuTuning = CpuTuning()):
        super().__init__(models, use_gpu=False, tuning=tuning)  # RapidOCR's pipeline, ONNX Runtime on the CPU
        files = rapidocr_model_kwargs(models)
        self.device = torch_device(use_gpu)
        det, rec = self._ocr._load_det_model(), self._ocr._load_rec_model()
        det.session = TorchSession(files["det_model_path"], self.device, tuning.threads)
        rec.session = TorchSession(files["rec_model_path"], self.device, tuning.threads)
