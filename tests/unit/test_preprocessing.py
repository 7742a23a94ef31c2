"""Preprocessing: validation by content, bounded rendering, text layers, orientation from
evidence, skew, clean-up, idempotent output."""
from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from invoicepage import FONT_SIZE, INVOICE_LINES
from invoice.scanner.processing.errors import PermanentStageError
from invoice.scanner.processing.stages.preprocessing import preprocess
from invoice.scanner.processing.vision.page_image import LazyPage, lazy_page, open_page


def _write(tmp_path, name: str, data: bytes):
    path = tmp_path / name
    path.write_bytes(data)
    return path


def _save(image: Image.Image, tmp_path, name: str, **kwargs):
    path = tmp_path / name
    image.save(path, **kwargs)
    return path


def _words(page) -> dict[str, tuple]:
    return {w.text: w.bbox for w in page.text_layer}


def _ink(image: Image.Image, bbox) -> float:
    """Share of dark pixels inside a box of the saved page."""
    x0, y0, x1, y1 = (int(round(v)) for v in bbox)
    region = np.asarray(image.convert("L"))[y0:y1, x0:x1]
    return float((region < 128).mean()) if region.size else 0.0


# --- PDFs with a text layer -------------------------------------------------------------

def test_text_layer_pdf_keeps_words_in_pixel_space(tmp_path, invoice_pdf, ocr_settings):
    src = _write(tmp_path, "in.pdf", invoice_pdf())
    pages = preprocess(src, "application/pdf", tmp_path / "pages", ocr_settings)

    assert len(pages) == 1
    page = pages[0]
    # Not rendered on the hot path: the ref names the original's page, rendered when asked for,
    # at exactly the size the words were measured in.
    assert lazy_page(page.image_path) == LazyPage(str(src.resolve()), 1, page.width, page.height)
    assert not (tmp_path / "pages").exists() or not list((tmp_path / "pages").iterdir())
    saved = open_page(page, ocr_settings)
    assert (page.page_no, page.width, page.height, page.dpi) == (1, saved.width, saved.height, 200)
    assert page.rotation == 0 and page.skew_degrees == 0.0
    words = _words(page)
    assert {"INV-20417", "1,510.50", "Example", "DE89"} <= set(words)
    # "INV-20417" is drawn at x=340pt, baseline 60pt from the top: 200 dpi = 2.78 px/pt.
    x0, y0, x1, y1 = words["INV-20417"]
    scale = 200 / 72
    assert abs(x0 - (340 + 82) * scale) < 60  # after "Invoice No. " (about 82pt wide at 13pt)
    assert y0 < 60 * scale < y1
    assert y1 - y0 == pytest.approx(FONT_SIZE * scale, rel=0.35)
    for text in ("INV-20417", "Customer", "1,350.00", "days"):
        assert _ink(saved, words[text]) > 0.05, text


def test_rotated_pdf_page_text_layer_follows_the_rendering(tmp_path, invoice_pdf, ocr_settings):
    src = _write(tmp_path, "in.pdf", invoice_pdf(rotate=90))
    page = preprocess(src, "application/pdf", tmp_path / "pages", ocr_settings)[0]

    assert page.width > page.height  # /Rotate 90: the renderer turns the portrait page
    saved = open_page(page, ocr_settings)
    words = _words(page)
    for text in ("INV-20417", "Customer", "days"):
        x0, y0, x1, y1 = words[text]
        assert y1 - y0 > x1 - x0  # text runs vertically on the turned page
        assert _ink(saved, words[text]) > 0.05, text


def test_scanned_pdf_has_no_text_layer(tmp_path, invoice_pdf, ocr_settings):
    src = _write(tmp_path, "scan.pdf", invoice_pdf(scanned=True, stamp="Scanned by OfficeJet 2024-03-14 10:22"))
    page = preprocess(src, "application/pdf", tmp_path / "pages", ocr_settings)[0]
    # The footer is real text, but a page that is one big picture with a few words is a scan.
    assert page.text_layer is None
    assert page.rotation == 0


def test_multi_page_pdf_and_page_limit(tmp_path, invoice_pdf, ocr_settings):
    src = _write(tmp_path, "three.pdf", invoice_pdf(pages=3))
    pages = preprocess(src, "application/pdf", tmp_path / "pages", ocr_settings)
    assert [p.page_no for p in pages] == [1, 2, 3]
    assert [lazy_page(p.image_path).page_no for p in pages] == [1, 2, 3]  # text layers: nothing rendered
    assert not (tmp_path / "pages").exists()

    limited = ocr_settings.with_overrides(max_pages=2)
    with pytest.raises(PermanentStageError, match="3 pages"):
        preprocess(src, "application/pdf", tmp_path / "limited", limited)


def test_render_is_bounded_by_max_page_pixels(tmp_path, invoice_pdf, ocr_settings):
    src = _write(tmp_path, "in.pdf", invoice_pdf())
    small = ocr_settings.with_overrides(max_page_pixels=1_000_000)
    page = preprocess(src, "application/pdf", tmp_path / "pages", small)[0]
    assert page.width * page.height <= 1_000_000
    assert page.dpi < 200
    x0, y0, x1, y1 = _words(page)["INV-20417"]  # text layer scaled with the page
    assert x1 <= page.width and y1 <= page.height and x0 > page.width / 2


def test_output_is_idempotent_and_stale_pages_go(tmp_path, invoice_pdf, ocr_settings):
    # Rendered at 100 dpi: what is checked is the folder and the bytes, not the resolution (the
    # page's picture is 100 dpi too), and every scanned page costs a full orientation probe.
    settings = ocr_settings.with_overrides(render_dpi=100)
    out = tmp_path / "pages"
    src2 = _write(tmp_path, "two.pdf", invoice_pdf(pages=2, scanned=True))
    preprocess(src2, "application/pdf", out, settings)
    assert len(list(out.iterdir())) == 2
    src = _write(tmp_path, "one.pdf", invoice_pdf(scanned=True))
    first = preprocess(src, "application/pdf", out, settings)
    data = (out / "page-0001.png").read_bytes()
    second = preprocess(src, "application/pdf", out, settings)
    assert first == second
    assert (out / "page-0001.png").read_bytes() == data
    assert sorted(f.name for f in out.iterdir()) == ["page-0001.png"]
    # A re-run that finds a text layer renders nothing, and leaves no earlier rendering behind.
    born = preprocess(_write(tmp_path, "born.pdf", invoice_pdf()), "application/pdf", out, settings)
    assert lazy_page(born[0].image_path) is not None and list(out.iterdir()) == []


def test_a_lazy_page_renders_like_the_stored_rendering(tmp_path, invoice_pdf, ocr_settings):
    from invoice.scanner.processing.vision.pdf import open_pdf, render_pypdfium2, render_scale

    src = _write(tmp_path, "in.pdf", invoice_pdf())
    page = preprocess(src, "application/pdf", tmp_path / "pages", ocr_settings)[0]
    lazy = np.asarray(open_page(page, ocr_settings).convert("L")).astype(np.int16)
    doc = open_pdf(src)
    eager = render_pypdfium2(doc[0], render_scale(doc[0], 200, ocr_settings.max_page_pixels))
    assert eager.size == (page.width, page.height)
    assert np.abs(lazy - np.asarray(eager.convert("L")).astype(np.int16)).mean() < 2.0
    doc.close()
    assert lazy_page("/x/original.png") is None and lazy_page("s3://b/k/original.pdf#page=x") is None


# --- bad input --------------------------------------------------------------------------

@pytest.mark.parametrize("data, message", [
    (b"", "empty"),
    (b"%PDF-1.7\n1 0 obj << /Type /Catalog >>\ngarbage garbage", "cannot be read"),
    (b"hello, this is a plain text file\n", "unsupported"),
    (b"GIF89a\x01\x00\x01\x00\x00\x00\x00;", "unsupported"),
])
def test_bad_files_fail_permanently(tmp_path, ocr_settings, data, message):
    src = _write(tmp_path, "upload.bin", data)
    with pytest.raises(PermanentStageError, match=message):
        preprocess(src, "application/pdf", tmp_path / "pages", ocr_settings)


def test_truncated_pdf_fails_permanently(tmp_path, invoice_pdf, ocr_settings):
    data = invoice_pdf()
    src = _write(tmp_path, "cut.pdf", data[: len(data) // 3])
    with pytest.raises(PermanentStageError):
        preprocess(src, "application/pdf", tmp_path / "pages", ocr_settings)


def test_encrypted_pdf_fails_permanently(tmp_path, invoice_pdf, ocr_settings):
    src = _write(tmp_path, "locked.pdf", invoice_pdf(encrypt="s3cret"))
    with pytest.raises(PermanentStageError, match="password"):
        preprocess(src, "application/pdf", tmp_path / "pages", ocr_settings)


def test_pdf_without_pages_fails_permanently(tmp_path, ocr_settings):
    import pypdfium2 as pdfium

    buf = io.BytesIO()
    pdfium.PdfDocument.new().save(buf)
    src = _write(tmp_path, "empty.pdf", buf.getvalue())
    with pytest.raises(PermanentStageError, match="no pages"):  # pdfium refuses to open some: "cannot be read ... no pages"
        preprocess(src, "application/pdf", tmp_path / "pages", ocr_settings)


def test_corrupt_png_fails_permanently(tmp_path, ocr_settings):
    src = _write(tmp_path, "broken.png", b"\x89PNG\r\n\x1a\n" + b"\x00" * 64)
    with pytest.raises(PermanentStageError):
        preprocess(src, "image/png", tmp_path / "pages", ocr_settings)


def test_content_decides_not_the_declared_type(tmp_path, ocr_settings):
    image = Image.new("RGB", (400, 300), "white")
    src = _save(image, tmp_path, "really-a-png.pdf", format="PNG")
    pages = preprocess(src, "application/pdf", tmp_path / "pages", ocr_settings)
    assert len(pages) == 1 and pages[0].text_layer is None


# --- images -----------------------------------------------------------------------------

def test_multi_page_tiff(tmp_path, invoice_image, ocr_settings):
    first = invoice_image(dpi=80)
    second = Image.new("L", (600, 800), 255)
    src = tmp_path / "scan.tif"
    first.save(src, format="TIFF", save_all=True, append_images=[second], dpi=(300, 300))
    pages = preprocess(src, "image/tiff", tmp_path / "pages", ocr_settings)
    assert [p.page_no for p in pages] == [1, 2]
    assert (pages[0].width, pages[0].height) == first.size
    assert (pages[1].width, pages[1].height) == (600, 800)
    assert pages[0].dpi == 300
    assert Image.open(pages[1].image_path).mode == "RGB"

    limited = ocr_settings.with_overrides(max_pages=1)
    with pytest.raises(PermanentStageError, match="2 pages"):
        preprocess(src, "image/tiff", tmp_path / "limited", limited)


def test_image_over_pixel_bound_is_refused_before_decoding(tmp_path, ocr_settings):
    src = _save(Image.new("L", (3000, 2000), 255), tmp_path, "huge.png", format="PNG")
    bounded = ocr_settings.with_overrides(max_page_pixels=2_000_000)
    with pytest.raises(PermanentStageError, match="pixels"):
        preprocess(src, "image/png", tmp_path / "pages", bounded)


def test_large_jpeg_is_decoded_reduced_within_the_bound(tmp_path, ocr_settings):
    src = _save(Image.new("RGB", (3000, 2000), "white"), tmp_path, "big.jpg", format="JPEG")
    bounded = ocr_settings.with_overrides(max_page_pixels=2_000_000)
    page = preprocess(src, "image/jpeg", tmp_path / "pages", bounded)[0]
    assert page.width * page.height <= 2_000_000
    assert page.width / page.height == pytest.approx(1.5, rel=0.01)


def test_exif_orientation_is_applied(tmp_path, ocr_settings):
    image = Image.new("RGB", (600, 400), "white")
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90° clockwise to display"
    src = _save(image, tmp_path, "camera.jpg", format="JPEG", exif=exif.tobytes())
    page = preprocess(src, "image/jpeg", tmp_path / "pages", ocr_settings)[0]
    assert (page.width, page.height) == (400, 600)


def test_palette_and_alpha_images_become_rgb_on_white(tmp_path, ocr_settings):
    image = Image.new("RGBA", (300, 200), (0, 0, 0, 0))
    src = _save(image, tmp_path, "transparent.png", format="PNG")
    page = preprocess(src, "image/png", tmp_path / "pages", ocr_settings)[0]
    saved = Image.open(page.image_path)
    assert saved.mode == "RGB"
    assert saved.getpixel((10, 10)) == (255, 255, 255)


# --- orientation, skew, clean-up ----------------------------------------------------------

def test_upright_scan_is_left_alone(tmp_path, invoice_image, ocr_settings):
    image = invoice_image()
    src = _save(image, tmp_path, "upright.png", format="PNG")
    page = preprocess(src, "image/png", tmp_path / "pages", ocr_settings)[0]
    assert page.rotation == 0
    assert page.skew_degrees == 0.0
    # A clean render needs no clean-up either: the pixels come back as they went in.
    assert np.array_equal(np.asarray(Image.open(page.image_path)), np.asarray(image))


@pytest.mark.parametrize("turned_ccw", [90, 180, 270])
def test_rotated_scan_is_turned_upright(tmp_path, invoice_image, ocr_settings, turned_ccw):
    upright = invoice_image()
    src = _save(upright.rotate(turned_ccw, expand=True), tmp_path, f"r{turned_ccw}.png", format="PNG")
    page = preprocess(src, "image/png", tmp_path / "pages", ocr_settings)[0]
    # `rotation` is clockwise; undoing a counter-clockwise turn of the same size.
    assert page.rotation == turned_ccw
    fixed = np.asarray(Image.open(page.image_path))
    assert np.array_equal(fixed, np.asarray(upright))


def test_blank_page_is_not_rotated(tmp_path, ocr_settings):
    src = _save(Image.new("RGB", (827, 1169), "white"), tmp_path, "blank.png", format="PNG")
    page = preprocess(src, "image/png", tmp_path / "pages", ocr_settings)[0]
    assert (page.rotation, page.skew_degrees) == (0, 0.0)


@pytest.mark.parametrize("tilt", [3.0, -5.0])
def test_skewed_scan_is_straightened(tmp_path, invoice_image, ocr_settings, tilt):
    image = invoice_image().rotate(tilt, expand=True, fillcolor="white", resample=Image.Resampling.BICUBIC)
    src = _save(image, tmp_path, "skewed.png", format="PNG")
    page = preprocess(src, "image/png", tmp_path / "pages", ocr_settings)[0]
    assert page.rotation == 0
    assert page.skew_degrees == pytest.approx(-tilt, abs=0.8)

    from invoice.scanner.processing.vision.engines import get_probe
    from invoice.scanner.processing.vision.orientation import analyze

    again = analyze(np.asarray(Image.open(page.image_path)), get_probe(ocr_settings))
    assert again.skew == 0.0 or abs(again.skew) < 0.8  # straight now (within detector precision)


def test_grey_noisy_scan_is_cleaned(tmp_path, invoice_image, ocr_settings):
    rng = np.random.default_rng(0)
    arr = np.asarray(invoice_image()).astype(np.float32) * 0.55 + 90  # grey paper, faded ink
    arr += rng.normal(0, 9, arr.shape)
    src = _save(Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8)), tmp_path, "grey.png", format="PNG")
    page = preprocess(src, "image/png", tmp_path / "pages", ocr_settings)[0]
    cleaned = np.asarray(Image.open(page.image_path).convert("L")).astype(np.float32)
    before = np.asarray(Image.open(src).convert("L")).astype(np.float32)
    assert np.percentile(cleaned, 99) - np.percentile(cleaned, 1) > np.percentile(before, 99) - np.percentile(before, 1)
    # Paper is smoother: the noise estimate fell.
    from invoice.scanner.processing.vision.cleanup import noise_sigma

    assert noise_sigma(cleaned.astype(np.uint8)) < noise_sigma(before.astype(np.uint8))


def test_pdf2image_renderer_matches_pypdfium2_geometry(tmp_path, invoice_pdf, ocr_settings):
    from invoice.scanner.processing.vision.pdf import pdftoppm_available

    if not pdftoppm_available():
        pytest.skip("poppler's pdftoppm is not installed")
    src = _write(tmp_path, "in.pdf", invoice_pdf())
    a = preprocess(src, "application/pdf", tmp_path / "a", ocr_settings)[0]
    b = preprocess(src, "application/pdf", tmp_path / "b", ocr_settings.with_overrides(pdf_renderer="pdf2image"))[0]
    assert (a.width, a.height) == (b.width, b.height)
    saved = open_page(b, ocr_settings)
    assert _ink(saved, _words(b)["INV-20417"]) > 0.05
