"""The prompt every vendor provider sends: OCR text with layout, plus optional page images.

Layout: each OCR line is one prompt line, prefixed with its page and the position of its
top-left corner as fractions of the page's width and height:
`[p1 x=0.12 y=0.08] Invoice no. 2024-0017`. The model sees where text sits (header,
address blocks, totals at the bottom right) without a picture, and the grounding step
(`grounding.py`) finds the values again on the OCR words.

Budget rule for large documents (`LLM_MAX_PAGES`, `LLM_MAX_INPUT_CHARS`):
1. Pages: at most `LLM_MAX_PAGES`: the first `LLM_MAX_PAGES - 1` pages and the last page.
   The header fields (number, dates, parties) sit on the first page; the totals on the last.
2. Characters: the OCR text sent stays under `LLM_MAX_INPUT_CHARS`. The last page is
   reserved first with up to half the budget; when it is longer, its *bottom* lines are
   kept (totals, tax and payment details sit at the bottom). The first pages then fill
   what is left in page order; the page that does not fit whole is cut at a line boundary
   (its top lines kept) and later pages are dropped. A one-page document that is too long
   keeps its top and bottom lines, half the budget each.
3. The prompt names the pages and lines left out, so the model knows the document is longer.
4. Page images (`LLM_SEND_IMAGES=true`) are sent only for the pages whose text is sent,
   as PNG downscaled to at most `IMAGE_MAX_SIDE` pixels on the long side.
"""
from __future__ import annotations

import base64
import io
import logging
from dataclasses import dataclass, field

from invoice.scanner.processing.config import Settings
from invoice.scanner.processing.models import OcrPage, PageImage

log = logging.getLogger(__name__)

IMAGE_MAX_SIDE = 1568  # Anthropic's recommended long side; OpenAI and Gemini tile around it too

SYSTEM_PROMPT = """You extract data from one invoice.
The user message holds the invoice's text as read by OCR. Each line starts with its page
and position as fractions of the page's width and height, e.g. [p1 x=0.12 y=0.08]; the
prefix is not part of the text. Page images may follow.

Rules:
- Fill every field of the schema. Use null when the invoice does not show the value.
- Copy each value exactly as printed: same digits, decimal and thousands separators,
  date format, spelling and spacing. Do not convert, compute, translate or reformat.
  Amounts without the currency symbol. Only `currency` is an ISO 4217 code (e.g. EUR),
  read from the symbol or code printed on the invoice.
- `amount` is the net subtotal before tax, `vat` the tax amount, `total` the gross total.
- `line_items`: one entry per row of the items table, in order, values as printed
  (null for a column the table does not have). Empty list when there is no table.
- Never copy the [p.. x=.. y=..] prefixes into values.
"""


@dataclass
class PromptImage:
    page_no: int
    png: bytes
    media_type: str = "image/png"

    @property
    def b64(self) -> str:
        return base64.b64encode(self.png).decode("ascii")

    @property
    def data_url(self) -> str:
        return f"data:{self.media_type};base64,{self.b64}"


@dataclass
class Prompt:
    system: str
    user_text: str
    images: list[PromptImage] = field(default_factory=list)
    pages_sent: list[int] = field(default_factory=list)
    pages_total: int = 0
    truncated: bool = False  # some pages or lines were left out


def layout_line(page: OcrPage, line) -> str:
    w = page.width or 1
    h = page.height or 1
    x = min(max(line.bbox[0] / w, 0.0), 1.0)
    y = min(max(line.bbox[1] / h, 0.0), 1.0)
    return f"[p{page.page_no} x={x:.2f} y={y:.2f}] {line.text}"


def _fit_head(lines: list[str], budget: int) -> list[str]:
    out, used = [], 0
    for line in lines:
        if used + len(line) + 1 > budget:
            break
        out.append(line)
        used += len(line) + 1
    return out


def _fit_tail(lines: list[str], budget: int) -> list[str]:
    return list(reversed(_fit_head(list(reversed(lines)), budget)))


def _size(lines: list[str]) -> int:
    return sum(len(line) + 1 for line in lines)


def select_text(pages: list[OcrPage], max_pages: int, max_chars: int) -> tuple[str, list[int], bool]:
    """Apply the budget rule of the module docstring. Returns (text, pages sent, truncated)."""
    ordered = sorted(pages, key=lambda p: p.page_no)
    if not ordered:
        return "", [], False
    max_pages = max(max_pages, 1)
    chosen = ordered if len(ordered) <= max_pages else [*ordered[: max_pages - 1], ordered[-1]]
    truncated = len(chosen) < len(ordered)
    rendered = {p.page_no: [layout_line(p, line) for line in p.lines] for p in chosen}

    kept: dict[int, list[str]] = {}
    if sum(_size(v) for v in rendered.values()) <= max_chars:
        kept = rendered
    elif len(chosen) == 1:
        lines = rendered[chosen[0].page_no]
        head = _fit_head(lines, max_chars // 2)
        tail = _fit_tail(lines[len(head):], max_chars - _size(head))
        omitted = len(lines) - len(head) - len(tail)
        kept[chosen[0].page_no] = [*head, f"[... {omitted} lines omitted ...]", *tail]
        truncated = True
    else:
        truncated = True
        last = chosen[-1]
        last_lines = _fit_tail(rendered[last.page_no], max_chars // 2)
        left = max_chars - _size(last_lines)
        for page in chosen[:-1]:
            if left <= 0:
                break
            lines = rendered[page.page_no]
            part = lines if _size(lines) <= left else _fit_head(lines, left)
            if not part:
                break
            kept[page.page_no] = part if len(part) == len(lines) else [
                *part, f"[... {len(lines) - len(part)} lines of page {page.page_no} omitted ...]"]
            left -= _size(part)
        if len(last_lines) < len(rendered[last.page_no]):
            omitted = len(rendered[last.page_no]) - len(last_lines)
            last_lines = [f"[... top {omitted} lines of page {last.page_no} omitted ...]", *last_lines]
        kept[last.page_no] = last_lines

    blocks = []
    for page in chosen:
        if page.page_no in kept:
            blocks.append(f"--- page {page.page_no} ---\n" + "\n".join(kept[page.page_no]))
    return "\n".join(blocks), sorted(kept), truncated


def encode_image(image: PageImage, settings: Settings, max_side: int = IMAGE_MAX_SIDE) -> PromptImage:
    # Stage-only dependency (Pillow); imported where used. Read through the storage backend.
    from invoice.scanner.processing.vision.page_image import open_page

    with open_page(image, settings) as im:
        im = im.convert("L" if im.mode in {"1", "L"} else "RGB")
        im.thumbnail((max_side, max_side))
        buf = io.BytesIO()
        im.save(buf, format="PNG")
    return PromptImage(page_no=image.page_no, png=buf.getvalue())


def build_prompt(pages: list[OcrPage], images: list[PageImage], settings: Settings) -> Prompt:
    text, sent, truncated = select_text(pages, settings.llm_max_pages, settings.llm_max_input_chars)
    total = len(pages)
    header = f"Invoice OCR text, {total} page(s)"
    if truncated:
        header += f"; sent in part to stay within the size limit (pages {', '.join(map(str, sent))})"
    user_text = f"{header}:\n\n{text}\n"
    prompt_images = []
    if settings.llm_send_images:
        for image in sorted(images, key=lambda i: i.page_no):
            if image.page_no in sent:
                prompt_images.append(encode_image(image, settings))
    return Prompt(system=SYSTEM_PROMPT, user_text=user_text, images=prompt_images, pages_sent=sent,
                  pages_total=total, truncated=truncated)


def reask_text(error: str) -> str:
    return (f"Your previous answer was not usable: {error}\n"
            "Answer again with one JSON object that matches the schema exactly: every field "
            "present, strings or null, values copied as printed.")
