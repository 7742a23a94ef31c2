"""Per-document layout variation for the varied generator.

A family (layouts.LAYOUTS) keeps its defining structure - where the vendor sits, how labels
pair with values, where the totals go - and a `Variation` drawn from the document's seed
changes everything else: font and size, margins, a mirrored header, header offset, table style
and columns, totals style, a separate VAT breakdown table, the order of the closing blocks,
the vendor only in a letterhead or the footer, names over two lines, the customer where a
vendor is expected, a delivery address, monospaced printing. `signature()` names the template
(every structural choice plus the label wording), so a corpus can be checked for repeats."""
from __future__ import annotations

import hashlib
import json
import random
from dataclasses import asdict, dataclass

from .vocab import SHIP_TO, VAT_TABLE

FONTS = ("helvetica", "times", "vera", "courier")
TABLE_STYLES = ("grid", "rule", "shaded", "zebra", "plain")
TOTALS_STYLES = ("right", "right_box", "left", "band")
CLOSING_BLOCKS = ("terms", "due_sentence", "pay_sentence", "bank", "credit_note", "thanks")
# Families that draw the vendor with LayoutBase.vendor_block (so its placement can vary).
VENDOR_BLOCK_FAMILIES = ("classic", "stacked_meta", "totals_left", "two_column_parties", "mono_receipt",
                         "customer_first")
# ... and of those, the ones where vendor and customer may trade places.
SWAP_FAMILIES = ("classic", "stacked_meta", "totals_left", "mono_receipt")
# The trait that makes a family what it is: these stay fixed.
FIXED_TOTALS = {"totals_left": "left", "banded": "band", "mono_receipt": "mono"}


@dataclass(frozen=True)
class Variation:
    family: str
    font: str
    size: float
    scale: float  # all text sizes times this
    margin: float
    mirror: bool  # header drawn mirrored left <-> right
    header_dx: float
    header_dy: float
    table_style: str
    row_pad: float
    header_fill: tuple[float, float, float]
    accent: tuple[float, float, float]
    columns: tuple[str, ...]
    totals_style: str
    vat_table: str  # none | before | after (a separate VAT breakdown table beside the totals)
    vat_table_labels: tuple[str, str, str, str, str]  # heading, rate, net, vat, gross
    keep_subtotal: bool  # with a breakdown table, the totals block still prints the net
    closing_order: tuple[str, ...]
    vendor_place: str  # block | letterhead | footer (only for VENDOR_BLOCK_FAMILIES)
    name_lines: int  # the vendor's name printed over 1 or 2 lines
    name_upper: bool
    customer_name_lines: int
    swap_parties: bool  # customer block where the vendor block would be
    customer_heading: str  # family | yes | no
    ship_to: str  # "" or the delivery-address heading
    credit_ref_line: bool
    colon: bool
    bold_labels: bool
    contacts: bool
    email_or_web: str  # email | web | both

    def signature(self, labels: dict[str, str] | None = None) -> str:
        """A short hash of the template: the structural choices and the label wording."""
        doc = {"variation": asdict(self), "labels": dict(sorted((labels or {}).items()))}
        return hashlib.sha1(json.dumps(doc, sort_keys=True, ensure_ascii=False).encode()).hexdigest()[:16]

    def describe(self) -> dict:
        return asdict(self)


def _columns(rng: random.Random, base: tuple[str, ...]) -> tuple[str, ...]:
    cols = [c for c in base if c not in ("pos", "code", "unit", "tax")]
    if rng.random() < 0.35 and "qty" in cols and "unit_price" in cols:
        i, j = cols.index("qty"), cols.index("unit_price")
        if abs(i - j) == 1:  # "price, quantity" next to each other, as some software prints them
            cols[i], cols[j] = cols[j], cols[i]
    if rng.random() < 0.15 and "qty" in cols:
        cols.remove("qty")
        cols.insert(0, "qty")
    if rng.random() < 0.4:
        cols.insert(0, "pos")
    if rng.random() < 0.3:
        cols.insert(1 if cols[0] == "pos" else 0, "code")
    if rng.random() < 0.35 and "qty" in cols:
        cols.insert(cols.index("qty") + 1, "unit")
    if "unit_price" not in cols and rng.random() < 0.8:
        cols.insert(cols.index("amount"), "unit_price")
    return tuple(cols)


def draw_variation(rng: random.Random, family: str, column_orders: tuple[tuple[str, ...], ...],
                   language: str, two_words_name: bool, document_type: str) -> Variation:
    mono = family == "mono_receipt" or rng.random() < 0.12
    font = "courier" if mono else rng.choice(FONTS[:3])
    table_style = "mono" if mono else rng.choice(TABLE_STYLES)
    if family in FIXED_TOTALS:
        totals_style = FIXED_TOTALS[family]
    elif mono:
        totals_style = "mono"
    else:
        totals_style = rng.choice(TOTALS_STYLES)
    vat_table = rng.choices(["none", "before", "after"], [70, 15, 15])[0]
    if totals_style == "band" and vat_table != "none":
        vat_table = "after"
    t = VAT_TABLE[language]
    vendor_place = "block"
    if family in VENDOR_BLOCK_FAMILIES:
        vendor_place = rng.choices(["block", "letterhead", "footer"], [70, 15, 15])[0]
    swap = family in SWAP_FAMILIES and vendor_place == "block" and rng.random() < 0.2
    closing = list(CLOSING_BLOCKS)
    rng.shuffle(closing)
    if "thanks" in closing and rng.random() < 0.7:  # thanks usually come last
        closing.remove("thanks")
        closing.append("thanks")
    grey = rng.uniform(0.82, 0.95)
    return Variation(
        family=family, font=font, size=rng.choice([8.0, 8.5, 9.0, 9.0, 9.5, 10.0]),
        scale=round(rng.uniform(0.93, 1.07), 2), margin=float(rng.randrange(36, 66, 2)),
        mirror=family not in ("sidebar", "mono_receipt") and not mono and rng.random() < 0.3,
        header_dx=float(rng.randrange(-10, 12, 2)), header_dy=float(rng.randrange(0, 36, 4)),
        table_style=table_style, row_pad=float(rng.choice([4, 5, 6, 7, 8, 10])),
        header_fill=(round(grey, 2), round(grey, 2), round(min(1.0, grey + rng.uniform(0, 0.05)), 2)),
        accent=tuple(round(rng.uniform(0.05, 0.5), 2) for _ in range(3)),
        columns=_columns(rng, rng.choice(column_orders)), totals_style=totals_style, vat_table=vat_table,
        vat_table_labels=tuple(rng.choice(t[k]) for k in ("heading", "rate", "net", "vat", "gross")),
        keep_subtotal=rng.random() < 0.5, closing_order=tuple(closing), vendor_place=vendor_place,
        name_lines=2 if two_words_name and rng.random() < 0.2 else 1, name_upper=rng.random() < 0.2,
        customer_name_lines=2 if rng.random() < 0.1 else 1, swap_parties=swap,
        customer_heading=rng.choice(["family", "family", "yes", "no"]),
        ship_to=rng.choice(SHIP_TO[language]) if document_type == "invoice" and rng.random() < 0.15 else "",
        credit_ref_line=rng.random() < 0.7, colon=rng.random() < 0.4, bold_labels=rng.random() < 0.5,
        contacts=rng.random() < 0.8, email_or_web=rng.choice(["email", "web", "both"]),
    )
