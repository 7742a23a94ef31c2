"""Image and text work behind the preprocessing and OCR stages: file sniffing, PDF rendering and
text layers, safe image loading, orientation/skew evidence, scan clean-up, OCR engines and
layout helpers (words, lines, reading order).

Modules here import OpenCV, NumPy, pypdfium2 and ONNX Runtime; the stage modules import them
lazily so that workers of other stages (and the API) never load them.
"""
