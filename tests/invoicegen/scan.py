"""Turn a born-digital PDF into a 'scanned' document: render with pdfium, then degrade the
way office scanners and phone snapshots do (paper tone, uneven light, skew, the odd page fed
sideways or upside down, blur, sensor noise, JPEG artifacts, low resolution)."""
from __future__ import annotations

import io
import random
from dataclasses import dataclass, field
import time

import cv2
import numpy as np
import pypdfium2 as pdfium
from PIL import Image


# PIL stamps PDFs with the current time unless told otherwise; a fixed date keeps scans
# byte-identical per seed.
_FIXED_DATE = time.gmtime(1_704_067_200)  # 2024-01-01, as PIL wants a struct_time


@dataclass
class ScanResult:
    data: bytes
    content_type: str
    extension: str
    meta: dict = field(default_factory=dict)


def render_pdf(pdf: bytes, dpi: int) -> list[Image.Image]:
    doc = pdfium.PdfDocument(pdf)
    try:
        return [page.render(scale=dpi / 72).to_pil().convert("RGB") for page in doc]
    finally:
        doc.close()


def _degrade(img: Image.Image, rng: random.Random, nrng: np.random.Generator, params: dict) -> Image.Image:
    gray = params["grayscale"]
    arr = np.asarray(img.convert("L") if gray else img, dtype=np.float32)
    h, w = arr.shape[:2]
    # Paper tone and uneven lighting: a linear falloff across the page in a random direction.
    theta = rng.uniform(0, 2 * np.pi)
    xs = np.linspace(0.0, 1.0, w, dtype=np.float32)[None, :]
    ys = np.linspace(0.0, 1.0, h, dtype=np.float32)[:, None]
    ramp = xs * np.float32(np.cos(theta)) + ys * np.float32(np.sin(theta))
    ramp = (ramp - ramp.min()) / max(float(ramp.max() - ramp.min()), 1e-6)
    light = 1.0 - params["lighting"] * ramp
    tone = params["paper_tone"] / 255.0
    if gray:
        arr = arr * tone * light
    else:
        tint = np.array([1.0, 0.99, 0.95], dtype=np.float32)
        arr = arr * tone * light[..., None] * tint
    img = Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8))
    # Resolution loss: a scan at a lower resolution, upsampled back to the nominal DPI.
    if params["resample"] < 1.0:
        small = img.resize((max(1, int(w * params["resample"])), max(1, int(h * params["resample"]))),
                           Image.Resampling.BILINEAR)
        img = small.resize((w, h), Image.Resampling.BILINEAR)
    fill = int(params["paper_tone"] * 0.97) if gray else (int(params["paper_tone"] * 0.97),) * 3
    if params["skew"]:
        img = Image.fromarray(_rotate_expand(np.asarray(img), params["skew"], fill))
    if params["rotation"]:
        # rotation = degrees clockwise the page ends up turned; PIL's transpose turns counter-clockwise.
        img = img.transpose({90: Image.Transpose.ROTATE_270, 180: Image.Transpose.ROTATE_180,
                             270: Image.Transpose.ROTATE_90}[params["rotation"]])
    arr = np.asarray(img, dtype=np.float32)
    if params["blur"] > 0:
        arr = cv2.GaussianBlur(arr, (0, 0), params["blur"])
    arr += nrng.standard_normal(arr.shape, dtype=np.float32) * np.float32(params["noise"])
    return Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8))


def _rotate_expand(arr: np.ndarray, degrees: float, fill) -> np.ndarray:
    """Rotate counter-clockwise by `degrees`, growing the canvas so no corner is cut
    (OpenCV is several times faster than PIL here on full-page images)."""
    h, w = arr.shape[:2]
    m = cv2.getRotationMatrix2D((w / 2, h / 2), degrees, 1.0)
    cos, sin = abs(m[0, 0]), abs(m[0, 1])
    nw, nh = int(round(h * sin + w * cos)), int(round(h * cos + w * sin))
    m[0, 2] += nw / 2 - w / 2
    m[1, 2] += nh / 2 - h / 2
    border = fill if isinstance(fill, tuple) else (fill,)
    return cv2.warpAffine(arr, m, (nw, nh), flags=cv2.INTER_CUBIC, borderMode=cv2.BORDER_CONSTANT,
                          borderValue=border)


def _jpeg_roundtrip(img: Image.Image, quality: int) -> Image.Image:
    buf = io.BytesIO()
    img.save(buf, format="JPEG", quality=quality)
    return Image.open(io.BytesIO(buf.getvalue())).convert(img.mode)


def scan(pdf: bytes, seed: int, n_pages: int) -> ScanResult:
    rng = random.Random(f"{seed}-scan")
    nrng = np.random.default_rng(seed)
    dpi = rng.choice([150, 200, 200, 250, 300])
    fmt = rng.choices(["png", "jpeg", "tiff", "pdf"], [3, 4, 1, 2])[0] if n_pages == 1 else \
        rng.choices(["pdf", "tiff"], [4, 1])[0]
    big = rng.random()
    params = {
        "grayscale": rng.random() < 0.6,
        "paper_tone": rng.uniform(228, 252),
        "lighting": rng.uniform(0.0, 0.22),
        "resample": rng.uniform(0.55, 0.8) if rng.random() < 0.2 else 1.0,
        "skew": round(rng.uniform(-3.0, 3.0), 2) if rng.random() < 0.8 else 0.0,
        "rotation": 0 if big >= 0.09 else (180 if big < 0.03 else (90 if big < 0.06 else 270)),
        "blur": rng.uniform(0.3, 1.1) if rng.random() < 0.6 else 0.0,
        "noise": rng.uniform(1.5, 9.0),
        "jpeg_quality": rng.randint(35, 85),
    }
    pages = [_degrade(img, rng, nrng, params) for img in render_pdf(pdf, dpi)]
    if fmt != "jpeg" and rng.random() < 0.3:
        # Many scans went through JPEG somewhere (scanner firmware, mail) before being saved losslessly.
        pages = [_jpeg_roundtrip(p, params["jpeg_quality"]) for p in pages]
    buf = io.BytesIO()
    first, rest = pages[0], pages[1:]
    if fmt == "png":
        first.save(buf, format="PNG", dpi=(dpi, dpi), optimize=False)
        ctype = "image/png"
    elif fmt == "jpeg":
        first.save(buf, format="JPEG", quality=params["jpeg_quality"], dpi=(dpi, dpi))
        ctype = "image/jpeg"
    elif fmt == "tiff":
        first.save(buf, format="TIFF", compression="tiff_lzw", dpi=(dpi, dpi), save_all=True, append_images=rest)
        ctype = "image/tiff"
    else:
        # Image-only PDF: pages embedded as JPEG, no text layer.
        first.save(buf, format="PDF", resolution=float(dpi), save_all=True, append_images=rest,
                   quality=params["jpeg_quality"], title="Scan", creationDate=_FIXED_DATE, modDate=_FIXED_DATE)
        ctype = "application/pdf"
    meta = {"dpi": dpi, "format": fmt, **{k: (round(v, 3) if isinstance(v, float) else v) for k, v in params.items()},
            "image_sizes": [list(p.size) for p in pages], "image_mode": pages[0].mode}
    return ScanResult(buf.getvalue(), ctype, "jpg" if fmt == "jpeg" else fmt, meta)
