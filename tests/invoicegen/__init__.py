"""Synthetic invoices with exact ground truth, for tests and the accuracy benchmark.

    from invoicegen import generate, generate_corpus
    inv = generate(seed=7, kind="scanned", language="de", layout="footer_vendor", pages=2)
    inv.data, inv.content_type, inv.filename, inv.truth

Every invoice is a pure function of its arguments: the same seed gives the same bytes
and the same truth. See `model.Invoice.truth` for the truth's fields (those of
`invoice.scanner.processing.fields.FIELDS` plus `line_items`, `document_type`,
`due_date_derived`, `family` and `meta`).

Two generators share this API. The classic one (`varied=False`, the default) draws each
document from one of twelve fixed layout families. The varied one (`varied=True`) keeps
the family as the base structure but draws the rest per document (font, sizes, margins,
mirrored header, table and totals styles, columns, label synonyms, block order, VAT
breakdown table, vendor only in a letterhead or footer, names over two lines, the customer
where a vendor is expected, two-digit years, due dates in sentences or only implied by the
payment terms), and adds credit notes and till receipts (`document_type`); no two of its
documents share a template (`truth["meta"]["signature"]`). `corpus_plan(...,
exclude_families=(...))` leaves families out, for leave-one-family-out scoring.
/work/coord/gen-api.md and tests/invoicegen/README.md describe it for other tools.
"""
from __future__ import annotations

import json
import random
from dataclasses import dataclass
from pathlib import Path

from .documents import DOCUMENT_TYPES, build_document
from .layouts import LAYOUTS
from .locales import LANGUAGES
from .model import Invoice, build_invoice
from .receipt import Receipt
from .scan import scan
from .variation import draw_variation

__all__ = ["DOCUMENT_TYPES", "FAMILIES", "GeneratedInvoice", "KINDS", "LANGUAGES", "LAYOUT_NAMES", "corpus_plan",
           "generate", "generate_corpus"]

KINDS = ("born_digital", "scanned")
LAYOUT_NAMES: tuple[str, ...] = tuple(LAYOUTS)
# The varied generator's families: the twelve layout families (invoices and credit notes)
# plus "receipt" (till receipts, their own structure).
FAMILIES: tuple[str, ...] = LAYOUT_NAMES + ("receipt",)


@dataclass
class GeneratedInvoice:
    data: bytes
    content_type: str
    filename: str
    truth: dict


def _invoice(seed: int, language: str, n_items: int | None) -> Invoice:
    return build_invoice(seed, random.Random(f"{seed}-invoice"), language, n_items)


class _Classic:
    """How the classic generator builds and lays out the document for a seed."""

    def __init__(self, seed: int, language: str, layout: str):
        self.seed, self.language, self.layout = seed, language, layout
        self.variation = None

    def invoice(self, n_items: int | None) -> Invoice:
        return _invoice(self.seed, self.language, n_items)

    def layout_for(self, inv: Invoice):
        return LAYOUTS[self.layout](inv, random.Random(f"{self.seed}-layout"))


class _Varied(_Classic):
    """The varied generator: the document from `documents.build_document`, the family's
    layout with a `Variation` drawn from the seed (or the receipt layout)."""

    def __init__(self, seed: int, language: str, layout: str, document_type: str):
        super().__init__(seed, language, layout)
        self.document_type = document_type
        if layout != "receipt":
            name = build_document(seed, language, document_type, 1).vendor.name
            self.variation = draw_variation(random.Random(f"{seed}-variation"), layout,
                                            LAYOUTS[layout].column_orders, language, len(name.split()) >= 3,
                                            document_type)

    def invoice(self, n_items: int | None) -> Invoice:
        return build_document(self.seed, self.language, self.document_type, n_items)

    def layout_for(self, inv: Invoice):
        if self.layout == "receipt":
            return Receipt(inv, random.Random(f"{self.seed}-layout"))
        return LAYOUTS[self.layout](inv, random.Random(f"{self.seed}-layout"), self.variation)


def _render(maker: _Classic, n_items: int | None) -> tuple[Invoice, bytes, int]:
    """Render twice: the first pass counts pages so the second can print 'Page 1 of N'."""
    inv = maker.invoice(n_items)
    _, n = maker.layout_for(inv).render(None)
    data, n2 = maker.layout_for(inv).render(n)
    assert n == n2, "page count changed between passes"
    return inv, data, n


def _render_pages(maker: _Classic, pages: int, rng: random.Random) -> tuple[Invoice, bytes, int]:
    """An invoice with exactly `pages` pages, by choosing the number of line items."""
    if pages == 1:
        inv, data, n = _render(maker, None)
        k = len(inv.items)
        while n > 1 and k > 1:  # a tall layout with many items: drop rows until it fits
            k -= 1
            inv, data, n = _render(maker, k)
        return inv, data, n

    counts: dict[int, int] = {}

    def count(k: int) -> int:
        # One pass is enough to count pages.
        if k not in counts:
            counts[k] = maker.layout_for(maker.invoice(k)).render(None)[1]
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
    inv, data, n = _render(maker, k)
    if n != pages:
        inv, data, n = _render(maker, k_min)
    return inv, data, n


def generate(seed: int, kind: str = "born_digital", language: str | None = None, layout: str | None = None,
             pages: int | None = None, *, varied: bool = False, document_type: str | None = None,
             family: str | None = None) -> GeneratedInvoice:
    """One document: a born-digital PDF (real text layer) or a degraded scan of it.

    `varied=True` selects the varied generator; there `family` (an alias of `layout`, one of
    FAMILIES) and `document_type` (one of DOCUMENT_TYPES) are drawn from the seed unless given.
    A receipt is always of family "receipt" and one page."""
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, not {kind!r}")
    if family is not None and layout is not None and family != layout:
        raise ValueError("family and layout name the same thing; give one")
    layout = layout or family
    if varied:
        return _generate_varied(seed, kind, language, layout, pages, document_type)
    if document_type not in (None, "invoice"):
        raise ValueError("credit notes and receipts come from the varied generator: pass varied=True")
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
    inv, pdf, n = _render_pages(_Classic(seed, language, layout), pages, rng)
    truth = inv.truth()
    truth["family"] = layout
    meta = {"seed": seed, "language": language, "country": inv.country.code, "layout": layout, "kind": kind,
            "pages": n, "date_style": inv.dates.kind, "number_style": inv.number_style,
            "currency_placement": inv.money.placement, "prepaid": inv.prepaid is not None,
            "line_item_tax_printed": inv.show_tax_column, "varied": False, "family": layout,
            "document_type": "invoice"}
    stem = f"inv-{seed:06d}-{language}-{layout}"
    return _finish(inv, pdf, n, kind, seed, truth, meta, stem)


def _finish(inv: Invoice, pdf: bytes, n: int, kind: str, seed: int, truth: dict, meta: dict,
            stem: str) -> GeneratedInvoice:
    if kind == "born_digital":
        meta["format"] = "pdf"
        truth["meta"] = meta
        return GeneratedInvoice(pdf, "application/pdf", f"{stem}.pdf", truth)
    result = scan(pdf, seed, n)
    meta.update({"format": result.meta["format"], "scan": result.meta})
    truth["meta"] = meta
    return GeneratedInvoice(result.data, result.content_type, f"{stem}-scan.{result.extension}", truth)


_DOC_TYPE_WEIGHTS = {"invoice": 82, "credit_note": 18}


def _generate_varied(seed: int, kind: str, language: str | None, family: str | None, pages: int | None,
                     document_type: str | None) -> GeneratedInvoice:
    rng = random.Random(f"{seed}-varied")
    pick_language = rng.choice(LANGUAGES)
    pick_family = rng.choice(FAMILIES)
    pick_type = rng.choices(list(_DOC_TYPE_WEIGHTS), list(_DOC_TYPE_WEIGHTS.values()))[0]
    pick_pages = rng.choices([1, 2, 3], [88, 10, 2])[0]
    language = language or pick_language
    if language not in LANGUAGES:
        raise ValueError(f"language must be one of {LANGUAGES}")
    if document_type is not None and document_type not in DOCUMENT_TYPES:
        raise ValueError(f"document_type must be one of {DOCUMENT_TYPES}")
    if family is not None and family not in FAMILIES:
        raise ValueError(f"family must be one of {FAMILIES}")
    if document_type == "receipt" or family == "receipt":
        if family not in (None, "receipt") or document_type not in (None, "receipt"):
            raise ValueError("a receipt is of family 'receipt' and that family holds only receipts")
        family, document_type = "receipt", "receipt"
    family = family or pick_family
    if family == "receipt":
        document_type = "receipt"
    document_type = document_type or pick_type
    pages = 1 if family == "receipt" else (pages or pick_pages)
    maker = _Varied(seed, language, family, document_type)
    inv, pdf, n = _render_pages(maker, pages, rng)
    truth = inv.truth()
    truth["family"] = family
    v = maker.variation
    layout_choices = v.describe() if v is not None else {"receipt": _receipt_choices(maker, inv)}
    signature = v.signature(inv.labels) if v is not None else _signature(layout_choices, inv.labels)
    layout_signature = v.signature() if v is not None else _signature(layout_choices, {})
    meta = {"seed": seed, "language": language, "country": inv.country.code, "layout": family, "family": family,
            "document_type": document_type, "kind": kind, "pages": n, "varied": True, "signature": signature,
            "layout_signature": layout_signature,
            "date_style": inv.dates.kind, "date_pattern": inv.dates.pattern if inv.dates.kind == "numeric" else None,
            "two_digit_year": inv.dates.kind == "numeric" and "%y" in inv.dates.pattern,
            "number_style": inv.number_style, "currency_placement": inv.money.placement,
            "prepaid": inv.prepaid is not None, "line_item_tax_printed": inv.show_tax_column,
            "due_print": inv.due_print, "prices_gross": inv.prices_gross, "credit_ref": inv.credit_ref,
            "features": _features(inv, v), "variation": layout_choices}
    stem = f"{_STEMS[document_type]}-{seed:06d}-{language}-{family}-v"
    return _finish(inv, pdf, n, kind, seed, truth, meta, stem)


_STEMS = {"invoice": "inv", "credit_note": "crn", "receipt": "rcp"}


def _receipt_choices(maker: _Varied, inv: Invoice) -> dict:
    return dict(maker.layout_for(inv).variation)


def _signature(choices: dict, labels: dict) -> str:
    import hashlib

    doc = {"variation": choices, "labels": dict(sorted(labels.items()))}
    return hashlib.sha1(json.dumps(doc, sort_keys=True, ensure_ascii=False).encode()).hexdigest()[:16]


def _features(inv: Invoice, v) -> list[str]:
    """The 'documents as they come' traits this document shows (for slicing results)."""
    f = []
    if inv.due_print == "sentence":
        f.append("due_in_sentence")
    if inv.due_print == "terms":
        f.append("due_from_terms")
    if inv.dates.kind == "numeric" and "%y" in inv.dates.pattern:
        f.append("two_digit_year")
    if inv.document_type == "credit_note":
        f.append("negative_amounts")
    if "," in inv.vendor.name or any(f" {w} " in inv.vendor.name for w in ("and", "und", "et", "y", "en")):
        f.append("name_with_comma_or_and")
    if v is not None:
        if v.name_lines > 1:
            f.append("two_line_name")
        if v.vendor_place != "block":
            f.append(f"vendor_in_{v.vendor_place}")
        if v.swap_parties:
            f.append("customer_where_vendor_expected")
        if v.vat_table != "none":
            f.append("vat_breakdown_table")
        if v.font == "courier":
            f.append("monospaced")
        if v.mirror:
            f.append("mirrored_header")
        if v.ship_to:
            f.append("delivery_address")
        if v.family == "footer_vendor":
            f.append("vendor_in_letterhead_and_footer")
        if v.family == "vendor_bottom":
            f.append("vendor_at_end")
        if v.family == "customer_first":
            f.append("customer_where_vendor_expected")
    if inv.document_type == "receipt":
        f.append("receipt")
    return sorted(set(f))


def corpus_plan(n: int, seed: int, kinds: tuple[str, ...] = KINDS, scanned_share: float = 0.4, *,
                varied: bool = False, exclude_families: tuple[str, ...] | list[str] = (),
                families: tuple[str, ...] | list[str] | None = None,
                document_types: tuple[str, ...] | list[str] | None = None) -> list[dict]:
    """Arguments for `generate` for a corpus of `n` invoices that covers every layout x
    language pair before repeating one, with the given share of scans.

    With `varied=True` the pairs are language x family over FAMILIES (receipts included),
    less `exclude_families`, or only `families`; `document_types` keeps only those kinds of
    document (a family whose documents are all of other types is left out)."""
    if not varied:
        if exclude_families or families is not None or document_types is not None:
            raise ValueError("families and document types are options of the varied corpus (varied=True)")
        return _classic_plan(n, seed, kinds, scanned_share)
    pool = list(families) if families is not None else list(FAMILIES)
    unknown = [f for f in list(pool) + list(exclude_families) if f not in FAMILIES]
    if unknown:
        raise ValueError(f"unknown families {unknown}; families are {FAMILIES}")
    types = tuple(document_types) if document_types is not None else DOCUMENT_TYPES
    if any(t not in DOCUMENT_TYPES for t in types):
        raise ValueError(f"document types are {DOCUMENT_TYPES}")
    pool = [f for f in pool if f not in set(exclude_families)]
    invoice_types = [t for t in ("invoice", "credit_note") if t in types]
    pool = [f for f in pool if (f == "receipt" and "receipt" in types) or (f != "receipt" and invoice_types)]
    if not pool:
        raise ValueError("no family left to draw from")
    rng = random.Random(f"varied-corpus-{seed}")
    pairs = [(lang, fam) for lang in LANGUAGES for fam in pool]
    plan = []
    for i, (language, family), kind in _draws(rng, pairs, n, kinds, scanned_share):
        if family == "receipt":
            doc_type, pages = "receipt", 1
        else:
            weights = [_DOC_TYPE_WEIGHTS[t] for t in invoice_types]
            doc_type = rng.choices(invoice_types, weights)[0]
            pages = rng.choices([1, 2, 3], [85, 11, 4])[0]
        plan.append({"seed": seed * 100_000 + i, "kind": kind, "language": language, "layout": family,
                     "pages": pages, "varied": True, "document_type": doc_type})
    return plan


def _draws(rng: random.Random, pairs: list, n: int, kinds: tuple[str, ...], scanned_share: float):
    """n draws of (index, pair, kind): every pair once per round, each round in a new shuffled
    order; a scan with probability `scanned_share` when both kinds are wanted."""
    for i in range(n):
        if i % len(pairs) == 0:
            rng.shuffle(pairs)
        kind = kinds[0] if len(kinds) == 1 else ("scanned" if rng.random() < scanned_share else "born_digital")
        yield i, pairs[i % len(pairs)], kind


def _classic_plan(n: int, seed: int, kinds: tuple[str, ...], scanned_share: float) -> list[dict]:
    rng = random.Random(f"corpus-{seed}")
    pairs = [(lang, lay) for lang in LANGUAGES for lay in LAYOUT_NAMES]
    plan = []
    for i, (language, layout), kind in _draws(rng, pairs, n, kinds, scanned_share):
        pages = rng.choices([1, 2, 3], [85, 11, 4])[0]
        plan.append({"seed": seed * 100_000 + i, "kind": kind, "language": language, "layout": layout,
                     "pages": pages})
    return plan


def generate_corpus(n: int, seed: int, out_dir: str | Path, kinds: tuple[str, ...] = KINDS,
                    scanned_share: float = 0.4, **plan_options) -> list[dict]:
    """Write `n` invoices into `out_dir` plus `truth.jsonl` (one truth per line, with the
    file's name under meta.filename). Returns the truths. `plan_options` go to
    `corpus_plan` (varied=True, exclude_families=..., families=..., document_types=...)."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    truths = []
    with open(out / "truth.jsonl", "w", encoding="utf-8") as fh:
        for args in corpus_plan(n, seed, kinds, scanned_share, **plan_options):
            inv = generate(**args)
            (out / inv.filename).write_bytes(inv.data)
            inv.truth["meta"].update({"filename": inv.filename, "content_type": inv.content_type})
            fh.write(json.dumps(inv.truth, ensure_ascii=False) + "\n")
            truths.append(inv.truth)
    return truths
