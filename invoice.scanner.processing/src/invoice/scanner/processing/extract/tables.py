"""Line items from table structure: a header row names the columns, words below it are
assigned to columns by x-position, wrapped description lines join the item above, and a
table that runs past the page end continues on the next page with the same columns."""
from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field

from invoice.scanner.processing.extract.labels import match_label, norm
from invoice.scanner.processing.extract.layout import PageLayout, Row, union
from invoice.scanner.processing.extract.normalize import find_amounts, parse_amount
from invoice.scanner.processing.models import BBox, OcrWord

logger = logging.getLogger(__name__)

HEADERS: dict[str, tuple[str, ...]] = {
    "description": (
        "description", "item description", "item", "items", "article", "product", "service", "services", "details",
        "particulars", "item & description", "product / service", "beschreibung", "bezeichnung", "artikel",
        "leistung", "artikelbezeichnung", "leistungsbeschreibung", "produkt", "designation", "libelle",
        "produit", "prestation", "descripcion", "concepto", "articulo", "producto", "servicio", "omschrijving",
        "dienst", "beschrijving", "artikelomschrijving", "activity", "task",
     "detalle", "omschrijving", "item description",),
    "quantity": (
        "qty", "quantity", "quant", "units", "hours", "hrs", "qty/hrs", "menge", "anzahl", "stk", "stuck", "anz",
        "quantite", "qte", "qty", "cantidad", "cant", "uds", "unidades", "aantal", "hoeveelheid", "aant",
    ),
    "unit_price": (
        "unit price", "price", "rate", "unit cost", "price/unit", "price per unit", "unit rate", "hourly rate",
        "einzelpreis", "preis", "e-preis", "ep", "stuckpreis", "einzelpr", "preis/einheit", "prix unitaire",
        "prix u", "p u", "pu", "prix", "prix unit", "prix unitaire ht", "pu ht", "precio unitario", "precio",
        "precio unit", "precio/u", "prijs", "stukprijs", "eenheidsprijs", "prijs per stuk", "tarief", "tarif",
        "unit price (net)", "einzelpreis netto", "net price",
     "p u ht", "p unit", "prijs/stuk", "prix unit ht", "precio ud", "precio/ud", "precio/unidad", "precio por unidad", "each", "price each",
     "unit price each", "prijs per eenheid", "preis pro einheit", "prix par unite",),
    "amount": (
        "amount", "total", "line total", "net amount", "sum", "amount (net)", "total price", "ext price",
        "extended", "net", "betrag", "gesamt", "gesamtpreis", "summe", "gesamtbetrag", "gp", "netto", "betrag netto",
        "gesamtpreis netto", "montant", "total ht", "montant ht", "prix total", "importe", "total linea",
        "subtotal", "bedrag", "totaal", "regeltotaal", "bedrag excl btw", "totaal excl btw", "line amount",
    ),
    "tax_rate": (
        "vat", "vat %", "tax", "tax %", "gst", "gst %", "mwst", "mwst %", "ust", "ust %", "steuer", "steuersatz",
        "tva", "tva %", "taux tva", "iva", "iva %", "tipo iva", "btw", "btw %", "btw-tarief", "tax rate",
        "vat rate", "% vat", "% tva", "% iva", "% btw", "% mwst", "%",
    ),
    "_pos": ("pos", "#", "no", "nr", "item no", "line", "pos nr", "n", "art nr", "art-nr", "sku", "code",
             "artikelnr", "ref", "reference", "referencia", "ref.", "item #" "item code", "part no", "ref article", "lin", "codigo", "regel", "article no", "art no",),
    "_unit": ("unit", "uom", "einheit", "me", "unite", "unidad", "eenheid", "u", "ud", "eenh", "u", "unit",),
}
_HEADER_PHRASES = sorted(((tuple(norm(p).split()), k) for k, ps in HEADERS.items() for p in ps if norm(p)),
                         key=lambda x: -len(x[0]))
# The same phrases by their first word, in the same order: a row's word is compared only with
# the phrases that can start at it (a scan of all of them per word was the table reader's cost).
_HEADER_BY_FIRST: dict[str, list[tuple[tuple[str, ...], str]]] = {}
for _phrase, _key in _HEADER_PHRASES:
    _HEADER_BY_FIRST.setdefault(_phrase[0], []).append((_phrase, _key))
_STOP_KEYS = {"amount", "vat", "total", "amount_due", "_paid"}
_CARRY = re.compile(r"(?i)^(balance carried forward|balance brought forward|carried forward|brought forward|"
                    r"zwischensumme ubertrag|ubertrag|uebertrag|report|a reporter|suma anterior|suma y sigue|"
                    r"a trasladar|transport|over te brengen|overgebracht|continued|fortsetzung|suite|continua|"
                    r"sigue|vervolg|zie volgende)")


@dataclass
class Column:
    key: str
    x0: float
    x1: float
    weak: bool = False


_WEAK_DESCRIPTION = {"item", "items", "article", "artikel", "product", "produkt", "service", "code"}


_CURRENCY_TOKEN = re.compile(r"^(?:[A-Z]{3}|[€$£¥]|Fr\.|SFr\.?)$")
_RULE = re.compile(r"^[\s\-_=.*~·]+$")


@dataclass
class ItemDraft:
    cells: dict[str, list[OcrWord]] = field(default_factory=dict)
    boxes: list[BBox] = field(default_factory=list)
    page: int = 0
    confidence: float = 1.0

    def text(self, key: str) -> str | None:
        ws = self.cells.get(key)
        return " ".join(w.text for w in ws).strip() or None if ws else None


def _match_header_words(words: list[OcrWord]) -> list[Column]:
    """Greedy longest-phrase matching of header vocabulary over a row's words. Matching runs
    on normalized sub-words ("P.U." is "p u") mapped back to the printed words."""
    stream: list[tuple[str, int]] = [(t, k) for k, w in enumerate(words) for t in norm(w.text).split()]
    tokens = tuple(t for t, _ in stream)
    cols: list[Column] = []
    i = 0
    while i < len(stream):
        hit = None
        for phrase, key in _HEADER_BY_FIRST.get(tokens[i], ()):
            n = len(phrase)
            if i + n > len(stream) or tokens[i:i + n] != phrase:
                continue
            if i + n < len(stream) and stream[i + n][1] == stream[i + n - 1][1]:
                continue  # the phrase would end inside a printed word
            ws = [words[k] for k in sorted({k for _, k in stream[i:i + n]})]
            h = max(w.bbox[3] - w.bbox[1] for w in ws)
            # Words of one phrase must be close together (one header cell).
            if all(ws[j + 1].bbox[0] - ws[j].bbox[2] < 0.8 * h for j in range(len(ws) - 1)):
                hit = (key, n, ws)
                break
        if hit:
            key, n, ws = hit
            cols.append(Column(key, min(w.bbox[0] for w in ws), max(w.bbox[2] for w in ws),
                               weak=" ".join(norm(w.text) for w in ws) in _WEAK_DESCRIPTION))
            i += n
        else:
            k = stream[i][1]
            cols.append(Column("_other", words[k].bbox[0], words[k].bbox[2]))
            while i < len(stream) and stream[i][1] == k:
                i += 1
    # Merge unknown words into the cell just before them when they touch it (e.g. "Unit price (EUR)").
    # A known word touching a cell of the same key is part of it ("Descripción del servicio").
    merged: list[Column] = []
    for c in cols:
        if merged and c.key in ("_other", merged[-1].key) and c.x0 - merged[-1].x1 < 25:
            merged[-1].x1 = c.x1
        else:
            merged.append(c)
    return merged


def find_header(layout: PageLayout) -> tuple[int, list[Column]] | None:
    best = None
    for row in layout.rows:
        if len(row.words) < 2:
            continue
        cols = _match_header_words(row.words)
        keys = [c.key for c in cols if not c.key.startswith("_")]
        unknown = sum(1 for c in cols if c.key == "_other")
        numeric = {"quantity", "unit_price", "amount"} & set(keys)
        # An item table names what is sold or how many: a VAT breakdown (rate, base, tax, total)
        # has prices and amounts too, and no description or quantity column.
        items_table = "description" in keys or ("quantity" in keys and len(set(keys)) >= 3)
        if len(set(keys)) >= 2 and numeric and items_table and unknown <= 2:
            score = len(set(keys)) - 0.5 * unknown
            if best is None or score > best[0]:
                best = (score, row.index, [c for c in cols if c.key != "_other"])
    if best is None:
        return None
    _, idx, cols = best
    # "Item" / "Article" name a position or code column when a real description header exists.
    descs = [c for c in cols if c.key == "description"]
    if len(descs) > 1:
        keep = next((c for c in descs if not c.weak), descs[-1])  # codes come before descriptions
        for c in descs:
            if c is not keep:
                c.key = "_pos"
    # One column per key: keep the first of duplicates ("Total" twice is rare; first is the line total).
    seen: set[str] = set()
    uniq = []
    for c in sorted(cols, key=lambda c: c.x0):
        if c.key in seen and not c.key.startswith("_"):
            continue
        seen.add(c.key)
        uniq.append(c)
    return idx, uniq


_GROUP_HEAD = re.compile(r"^[-\u2212(]?\d{1,3}$")
_GROUP_TAIL = re.compile(r"^\d{3}(?:[.,\s]\d{3})*[.,]\d{2}\)?-?$")


def join_digit_groups(words: list[OcrWord]) -> list[OcrWord]:
    """"1 541,00" printed with a space as thousands separator is one number, not a "1" and a
    "541,00" that land in two columns: a 1-3 digit word followed closely (less than half its
    height) by three digits and cents joins it."""
    out: list[OcrWord] = []
    for w in words:
        prev = out[-1] if out else None
        if (prev is not None and _GROUP_HEAD.match(prev.text) and _GROUP_TAIL.match(w.text)
                and 0 <= w.bbox[0] - prev.bbox[2] < 0.5 * (w.bbox[3] - w.bbox[1])):
            out[-1] = OcrWord(f"{prev.text} {w.text}", union([prev.bbox, w.bbox]), min(prev.confidence, w.confidence))
            continue
        out.append(w)
    return out


def _assign(words: list[OcrWord], cols: list[Column], lh: float) -> dict[str, list[OcrWord]]:
    cells: dict[str, list[OcrWord]] = {}
    words = join_digit_groups(words)
    ordered = sorted(cols, key=lambda c: c.x0)
    left, right = ordered[0].x0 - 2 * lh, ordered[-1].x1 + 2 * lh
    for w in words:
        if w.bbox[2] < left or w.bbox[0] > right:
            continue  # beside the table (a sidebar, a margin note), not in it
        if _CURRENCY_TOKEN.match(w.text):
            # "CHF 1'346.00": a currency printed before a price belongs to the price's column.
            later = [c for c in ordered if c.key in ("unit_price", "amount") and c.x1 >= w.bbox[2]]
            if later:
                cells.setdefault(min(later, key=lambda c: c.x1).key, []).append(w)
                continue
        best, best_d = None, None
        for i, c in enumerate(ordered):
            # Column span reaches half way to its neighbours: values may be wider than headers.
            lo = c.x0 if i == 0 else min(c.x0, (ordered[i - 1].x1 + c.x0) / 2)
            hi = c.x1 if i == len(ordered) - 1 else max(c.x1, (c.x1 + ordered[i + 1].x0) / 2)
            if c.key == "description" and i + 1 < len(ordered):
                hi = max(c.x1, ordered[i + 1].x0 - 5)
            if w.bbox[2] < lo:
                d = lo - w.bbox[2]
            elif w.bbox[0] > hi:
                d = w.bbox[0] - hi
            else:
                ov = min(w.bbox[2], hi) - max(w.bbox[0], lo)
                d = -ov
            if best_d is None or d < best_d:
                best, best_d = c, d
        if best is not None:
            cells.setdefault(best.key, []).append(w)
    return cells


def _is_stop(row: Row) -> bool:
    first = row.segments[0].text if row.segments else row.text
    hit = match_label(first, fuzzy=False)
    if hit and hit[0] in _STOP_KEYS:
        return True
    # "Total" right-aligned under the amount columns (no description on that row).
    for seg in row.segments:
        hit = match_label(seg.text, fuzzy=False)
        if hit and hit[0] in ("total", "amount", "amount_due", "vat") and hit[1] >= 1.0:
            return True
    return False


def _has_money(cells: dict[str, list[OcrWord]], decimal_sep: str | None) -> bool:
    for key in ("amount", "unit_price"):
        ws = cells.get(key)
        if ws and find_amounts(" ".join(w.text for w in ws), decimal_sep):
            return True
    return False


def _amount_of(words: list[OcrWord] | None, decimal_sep: str | None) -> float | None:
    found = find_amounts(" ".join(w.text for w in words), decimal_sep) if words else None
    return parse_amount(found[-1][0], decimal_sep) if found else None


def _is_subtotal(cells: dict[str, list[OcrWord]], items: list[ItemDraft], decimal_sep: str | None) -> bool:
    """A row with an amount and neither quantity nor unit price, whose amount is the sum of the
    items above it: the subtotal that opens the totals block, whatever its label says ("Amount
    excl. tax", "Base", "Importe bruto"). Arithmetic, not vocabulary: an item that costs exactly
    what all the others cost together and has no quantity is not an item."""
    qty = " ".join(w.text for w in cells.get("quantity") or ())
    if not items or re.search(r"\d", qty) or _amount_of(cells.get("unit_price"), decimal_sep) is not None:
        return False
    if len(items) == 1 and not (items[0].cells.get("quantity") or items[0].cells.get("unit_price")):
        return False  # one item with an amount only: a second such row may be an item too
    amount = _amount_of(cells.get("amount"), decimal_sep)
    if amount is None:
        return False
    parts = [_amount_of(d.cells.get("amount"), decimal_sep) for d in items]
    if any(p is None for p in parts):
        return False
    return abs(abs(sum(parts)) - abs(amount)) <= 0.011


def extract_items(layouts: list[PageLayout], decimal_sep: str | None) -> tuple[list[ItemDraft], set[tuple[int, int]]]:
    """(items, rows used by the table as (page, row index))."""
    items: list[ItemDraft] = []
    used: set[tuple[int, int]] = set()
    cols: list[Column] | None = None
    open_table = False
    for layout in layouts:
        header = find_header(layout)
        start = 0
        if header is not None:
            start, cols = header[0] + 1, header[1]
            used.add((layout.page.page_no, header[0]))
            open_table = True
        elif not open_table or cols is None:
            continue
        last_row_y1: float | None = None
        seen_item_on_page = False
        for row in layout.rows[start:]:
            if _is_stop(row):
                open_table = False
                break
            text = row.text.strip()
            if _CARRY.match(norm(text)):
                used.add((layout.page.page_no, row.index))
                if seen_item_on_page:
                    break  # "carried forward" closes this page's part of the table
                continue
            if _RULE.match(text):
                continue
            cells = _assign(row.words, cols, layout.line_height)
            lh = layout.line_height
            if seen_item_on_page and last_row_y1 is not None and row.bbox[1] - last_row_y1 > 2.5 * lh:
                # A wide gap after the items and no totals label: the table ended (footer below).
                open_table = False
                break
            money = _has_money(cells, decimal_sep)
            if money and _is_subtotal(cells, items, decimal_sep):
                open_table = False  # the sum of the items above: the totals block starts here
                break
            if money:
                d = ItemDraft(cells={k: list(v) for k, v in cells.items()}, boxes=[row.bbox],
                              page=layout.page.page_no,
                              confidence=min(w.confidence for w in row.words))
                items.append(d)
                used.add((layout.page.page_no, row.index))
                last_row_y1 = row.bbox[3]
                seen_item_on_page = True
                continue
            only_desc = set(cells) <= {"description", "_pos", "_unit"} and cells.get("description")
            near = last_row_y1 is not None and row.bbox[1] - last_row_y1 < 1.6 * lh
            if only_desc and items and near and seen_item_on_page:
                items[-1].cells.setdefault("description", []).extend(cells["description"])
                items[-1].boxes.append(row.bbox)
                used.add((layout.page.page_no, row.index))
                last_row_y1 = row.bbox[3]
                continue
    return items, used


def item_fields(d: ItemDraft, decimal_sep: str | None) -> dict[str, str | None]:
    out = {k: d.text(k) for k in ("description", "quantity", "unit_price", "amount", "tax_rate")}
    # A quantity cell may carry its unit ("2 pcs", "3 Std."): keep the number as printed.
    if out["quantity"]:
        m = re.search(r"-?\d+(?:[.,]\d+)?", out["quantity"])
        out["quantity"] = m.group(0) if m else None
    if out["tax_rate"]:
        m = re.search(r"\d+(?:[.,]\d+)?\s?%?", out["tax_rate"])
        out["tax_rate"] = m.group(0).strip() if m else None
    for k in ("unit_price", "amount"):
        if out[k]:
            found = find_amounts(out[k], decimal_sep)
            out[k] = found[-1][0] if found else None
    return out


def item_confidence(fields: dict[str, str | None], d: ItemDraft, decimal_sep: str | None) -> float:
    conf = 0.75 * d.confidence
    q = parse_amount(fields.get("quantity"), decimal_sep) if fields.get("quantity") else None
    u = parse_amount(fields.get("unit_price"), decimal_sep) if fields.get("unit_price") else None
    a = parse_amount(fields.get("amount"), decimal_sep) if fields.get("amount") else None
    if q is not None and u is not None and a is not None:
        conf = d.confidence * (0.97 if abs(q * u - a) <= 0.011 + 0.005 * abs(a) / 100 else 0.5)
    if not fields.get("description"):
        conf *= 0.7
    return round(max(0.0, min(1.0, conf)), 3)


def item_bbox(d: ItemDraft) -> BBox:
    return union(d.boxes)
