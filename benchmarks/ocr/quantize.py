"""int8 dynamic quantization of a model set's networks (onnxruntime.quantization), for
benchmarks/ocr/run.py --rec-model / --det-model:

    pip install onnx   # the quantizer writes the model with it
    python benchmarks/ocr/quantize.py --models ppocrv6 --out /tmp/ppocrv6-int8
    python benchmarks/ocr/run.py --models ppocrv6 --pages 3 --rec-model /tmp/ppocrv6-int8/rec.int8.onnx

Weights become int8 (QInt8, per tensor unless --per-channel), activations are quantized at run
time. Measured here it made the recognizer slower and less exact (ARCHITECTURE.md, OCR), so
no quantized model is used by the pipeline.
"""
from __future__ import annotations

import argparse
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", default="ppocrv6")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--per-channel", action="store_true")
    args = parser.parse_args()
    from onnxruntime.quantization import QuantType, quantize_dynamic
    from onnxruntime.quantization.shape_inference import quant_pre_process

    from invoice.scanner.processing.vision.engines import rapidocr_model_kwargs

    args.out.mkdir(parents=True, exist_ok=True)
    files = rapidocr_model_kwargs(args.models)
    for part in ("det", "rec"):
        src = Path(files[f"{part}_model_path"])
        pre, dst = args.out / f"{part}.pre.onnx", args.out / f"{part}.int8.onnx"
        quant_pre_process(str(src), str(pre), skip_symbolic_shape=True)
        quantize_dynamic(str(pre), str(dst), weight_type=QuantType.QInt8, per_channel=args.per_channel)
        print(f"{part}: {src} ({src.stat().st_size // 1024} KiB) -> {dst} ({dst.stat().st_size // 1024} KiB)")


if __name__ == "__main__":
    main()
