"""Synthetic invoices with exact ground truth, for tests and the accuracy benchmark.

    from invoicegen import generate, generate_corpus
    inv = generate(seed=7, kind="scanned", language="de", layout="footer_vendor", pages=2)
    inv.data, inv.content_type, inv.filename, inv.truth

Every invoice is a pure function of its arguments: the same seed gives the same bytes
and the same truth. See `model.Invoice.truth` for the truth's fields (those of
`invoice.scanner.processing.fields.FIELDS` plus `line_items` and `meta`).
"""
from __future__ import annotations

import json
import random
from dataclasses import dataclass
from pathlib import Path

from .layouts import LAYOUTS
from .locales import LANGUAGES
from .model import Invoice, build_invoice
from .scan import scan

__all__ = ["GeneratedInvoice", "KINDS", "LANGUAGES", "LAYOUT_NAMES", "corpus_plan", "generate", "generate_corpus"]

KINDS = ("born_digital", "scanned")
LAYOUT_NAMES: tuple[str, ...] = tuple(LAYOUTS)


@dataclass
class GeneratedInvoice:
    data: bytes
    content_type: str
    filename: str
    truth: dict


def _invoice(seed: int, language: str, n_items: int | None) -> Invoice:
    return build_invoice(seed, random.Random(f"{seed}-invoice"), language, n_items)


def _render(seed: int, language: str, layout: str, n_items: int | None) -> tuple[Invoice, bytes, int]:
    """Render twice: the first pass counts pages so the second can print 'Page 1 of N'."""
    inv = _invoice(seed, language, n_items)
    _, n = LAYOUTS[layout](inv, random.Random(f"{seed}-layout")).render(None)
    data, n2 = LAYOUTS[layout](inv, random.Random(f"{seed}-layout")).render(n)
    assert n == n2, "page count changed between passes"
    return inv, data, n


def _render_pages(seed: int, language: str, layout: str, pages: int, rng: random.Random) -> tuple[Invoice, bytes, int]:
    """An invoice with exactly `pages` pages, by choosing the number of line items."""
    if pages == 1:
        inv, data, n = _render(seed, language, layout, None)
        k = len(inv.items)
        while n > 1 and k > 1:  # a tall layout with many items: drop rows until it fits
            k -= 1
            inv, data, n = _render(seed, language, layout, k)
        return inv, data, n

    counts: dict[int, int] = {}

    def count(k: int) -> int:
        # One pass is enough to count pages.
        if k not in counts:
            inv = _invoice(seed, language, k)
            counts[k] = LAYOUTS[layout](inv, random.Random(f"{seed}-layout")).render(None)[1]
        return counts[k]

    def first_k_with(min_pages: int, lo: int) -> int:
        hi = max(lo, 8)
        while count(hi) < min_pages:
            lo, hi = hi, hi * 2
        while lo < hi:  # smallest k with count(k) >= min_pages
            mid = (lo + hi) // 2
            if count(mid) >= min_pages:
                hi = mid
            else:
                lo = mid + 1
        return lo

    k_min = first_k_with(pages, 1)
    k_max = first_k_with(pages + 1, k_min) - 1
    k = rng.randint(k_min, max(k_min, k_max))
    inv, data, n = _render(seed, language, layout, k)
    if n != pages:
        inv, data, n = _render(seed, language, layout, k_min)
    return inv, data, n


def generate(seed: int, kind: str = "born_digital", language: str | None = None, layout: str | None = None,
             pages: int | None = None) -> GeneratedInvoice:
    """One invoice: a born-digital PDF (real text layer) or a degraded scan of it."""
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, not {kind!r}")
    rng = random.Random(seed)
    pick_language = rng.choice(LANGUAGES)
    pick_layout = rng.choice(LAYOUT_NAMES)
    pick_pages = rng.choices([1, 2, 3], [88, 10, 2])[0]
    language = language or pick_language
    layout = layout or pick_layout
    pages = pages or pick_pages
    if language not in LANGUAGES:
        raise ValueError(f"language must be one of {LANGUAGES}")
    if layout not in LAYOUTS:
        raise ValueError(f"layout must be one of {LAYOUT_NAMES}")
    inv, pdf, n = _render_pages(seed, language, layout, pages, rng)
    truth = inv.truth()
    meta = {"seed": seed, "language": language, "country": inv.country.code, "layout": layout, "kind": kind,
            "pages": n, "date_style": inv.dates.kind, "number_style": inv.number_style,
            "currency_placement": inv.money.placement, "prepaid": inv.prepaid is not None,
            "line_item_tax_printed": inv.show_tax_column}
    stem = f"inv-{seed:06d}-{language}-{layout}"
    if kind == "born_digital":
        meta["format"] = "pdf"
        truth["meta"] = meta
        return GeneratedInvoice(pdf, "application/pdf", f"{stem}.pdf", truth)
    result = scan(pdf, seed, n)
    meta.update({"format": result.meta["format"], "scan": result.meta})
    truth["meta"] = meta
    return GeneratedInvoice(result.data, result.content_type, f"{stem}-scan.{result.extension}", truth)


def corpus_plan(n: int, seed: int, kinds: tuple[str, ...] = KINDS, scanned_share: float = 0.4) -> list[dict]:
    """Arguments for `generate` for a corpus of `n` invoices that covers every layout x
    language pair before repeating one, with the given share of scans."""
    rng = random.Random(f"corpus-{seed}")
    pairs = [(lang, lay) for lang in LANGUAGES for lay in LAYOUT_NAMES]
    plan = []
    for i in range(n):
        if i % len(pairs) == 0:
            rng.shuffle(pairs)
        language, layout = pairs[i % len(pairs)]
        if len(kinds) == 1:
            kind = kinds[0]
        else:
            kind = "scanned" if rng.random() < scanned_share else "born_digital"
        pages = rng.choices([1, 2, 3], [85, 11, 4])[0]
        plan.append({"seed": seed * 100_000 + i, "kind": kind, "language": language, "layout": layout,
                     "pages": pages})
    return plan


def generate_corpus(n: int, seed: int, out_dir: str | Path, kinds: tuple[str, ...] = KINDS,
                    scanned_share: float = 0.4) -> list[dict]:
    """Write `n` invoices into `out_dir` plus `truth.jsonl` (one truth per line, with the
    file's name under meta.filename). Returns the truths."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    truths = []
    with open(out / "truth.jsonl", "w", encoding="utf-8") as fh:
        for args in corpus_plan(n, seed, kinds, scanned_share):
            inv = generate(**args)
            (out / inv.filename).write_bytes(inv.data)
            inv.truth["meta"].update({"filename": inv.filename, "content_type": inv.content_type})
            fh.write(json.dumps(inv.truth, ensure_ascii=False) + "\n")
            truths.append(inv.truth)
    return truths
