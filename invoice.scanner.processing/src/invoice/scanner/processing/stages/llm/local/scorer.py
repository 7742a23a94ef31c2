"""The learned scorer: every span that could be a field's value, scored by gradient-boosted trees.

Candidate generation (`candidates_of`): every amount printed with cents and every date on every
row of every page is a candidate for each field of its type (net, VAT, total; invoice date, due
date), and so is every value the rules proposed (`reader.cands`, label based; the sums of a VAT
breakdown; invoice numbers). `features` describes one candidate for one field by layout and text
alone: where it sits (page, position, size), which label is on its left and above it (the label
keys of `extract.labels`, five languages, so a label is the same feature in every language), how
many words lie between that label and the value ("Gesamtbetrag der Zuschläge" is not
"Gesamtbetrag"), its type and magnitude, and how it agrees with the other candidates (it is the
sum of two other amounts, a rate of the page times another amount, the largest amount, the
latest date, the one the rules chose). The same function serves training
(`tools/train_local_model.py`) and inference.

The model (LightGBM, binary: "this candidate is the field's value") is a JSON file in this
package (`local_model.json`: the booster as LightGBM's text format, the feature names, the label
vocabulary, the fields it decides and the figures that chose them), read once per process. The
laws stay rules on top of it (`choose`): net + VAT = total decides among the top candidates of
the three, and a due date is never before the invoice date. Only the fields listed in the file
are decided by the model: those where, at training, it beat the rules on the external dev
documents (cross-validated by producer) and on the generator's left-out families.
"""
from __future__ import annotations

import itertools
import json
import logging
import math
import os
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from invoice.scanner.processing.extract.labels import LABELS
from invoice.scanner.processing.extract.layout import PageLayout, Segment, sub_bbox
from invoice.scanner.processing.extract.normalize import (date_order_from_dates, find_amounts, find_dates,
                                                          has_decimals, parse_date)
from invoice.scanner.processing.models import BBox
from invoice.scanner.processing.stages.llm.local.candidates import Candidate

logger = logging.getLogger(__name__)

MODEL_FILE = Path(__file__).with_name("local_model.json")
MODEL_ENV = "LOCAL_MODEL_PATH"
AMOUNT_FIELDS = ("amount", "vat", "total")
DATE_FIELDS = ("invoice_date", "due_date")
FIELDS = ("invoice_number", *DATE_FIELDS, *AMOUNT_FIELDS, "vendor_name")
KIND = {"invoice_number": "id", "invoice_date": "date", "due_date": "date",
        "amount": "amount", "vat": "amount", "total": "amount", "vendor_name": "name"}
# The vendor's name is decided after the party blocks are read (parties.py), from their options.
PARTY_FIELDS = ("vendor_name",)
_NAME_FIELD_IDS = frozenset(FIELDS.index(f) for f in PARTY_FIELDS)
# Label keys the features know, in a fixed order (0: no label). Stored in the model file too,
# so a model keeps its meaning when the lexicon gains keys.
LABEL_KEYS = ("", *sorted(LABELS))
FEATURES = (
    "field", "page", "last_page", "x0", "x1", "y", "height", "ocr_conf", "in_table", "rule_score", "rule_chosen",
    "rule_only", "left_key", "left_strength", "left_gap", "left_extra_words", "left_same_segment", "above_key",
    "above_strength", "above_rows", "row_labels",
    "log_value", "zero", "negative", "cents", "rank_desc", "frac_max", "occurrences", "sum_of_two", "part_of_sum",
    "net_of_rate", "vat_of_rate", "row_pct", "row_amounts", "last_in_row", "gross_of_rate",
    "date_rank", "dates", "earliest", "latest", "days_from_first", "due_sentence", "date_occurrences",
    "id_length", "id_digits", "id_alpha",
    "date_read_order", "days_to_latest", "rows_from_number", "row_date_key",
    "v_source", "v_labelled", "v_legal", "v_under_sender", "v_height", "v_contact_block", "v_sender_match",
    "v_repeats", "v_block_lines", "v_wrapped", "v_tax_in_block", "v_footer_details", "v_header_rank",
    "v_after_label", "v_length", "v_words", "v_digits", "v_upper", "v_address_like", "v_registration",
    "v_customer_near", "v_vendor_near", "v_same_as_footer", "v_y_order", "v_agreeing", "v_is_customer", "v_joined",
)
CATEGORICAL = ("field", "left_key", "above_key", "row_date_key", "v_source")


@dataclass
class Span:
    """A value on the page, before it is given to a field."""
    kind: str  # amount | date | id
    raw: str
    page: int
    row: int
    bbox: BBox
    seg: Segment | None
    start: int  # character offsets in seg.text (0, 0 without a segment)
    end: int
    number: float | None = None
    iso: str | None = None
    conf: float = 1.0


@dataclass
class Scored:
    field: str
    span: Span
    features: list[float]
    rule_score: float
    probability: float = 0.0

    def candidate(self, score: float | None = None) -> Candidate:
        s = self.span
        return Candidate(self.field, s.raw, self.probability if score is None else score, s.page, s.bbox, s.number,
                         (s.page, s.row))


# --- the model file ----------------------------------------------------------------------

@dataclass
class Model:
    """Two boosters: one for the values printed as spans (amounts, dates, invoice numbers), one
    for the vendor's name among the party reading's options (`names`): the two kinds of
    candidate share few features, and one's trees should not be spent on the other."""
    booster: Any
    fields: tuple[str, ...]
    label_keys: tuple[str, ...]
    meta: dict
    names: Any = None

    def predict(self, rows: list[list[float]]) -> list[float]:
        if not rows:
            return []
        import numpy as np

        out = [0.0] * len(rows)
        groups: dict[bool, list[int]] = {}
        for i, r in enumerate(rows):
            groups.setdefault(int(r[0]) in _NAME_FIELD_IDS, []).append(i)
        for is_name, idx in groups.items():
            booster = self.names if is_name else self.booster
            if booster is None:
                continue
            # One thread: a document's few dozen rows cost less than waking OpenMP's pool.
            ps = booster.predict(np.asarray([rows[i] for i in idx], dtype=float), num_threads=1)
            for i, p in zip(idx, ps):
                out[i] = float(p)
        return out


def model_path(settings: Any = None) -> Path | None:
    """LOCAL_MODEL_PATH (the setting, else the environment variable), else the bundled file;
    "off" runs the rules alone."""
    value = (getattr(settings, "local_model_path", "") or os.environ.get(MODEL_ENV, "")).strip()
    if value.lower() in ("off", "none", "rules"):
        return None
    return Path(value) if value else MODEL_FILE


@lru_cache(maxsize=8)
def load_model(path: str) -> Model | None:
    """The model at `path`, once per process; None (the rules alone) when there is no file or
    no LightGBM, each said once in the log."""
    p = Path(path)
    if not p.exists():
        logger.warning("local model %s not found: the local provider uses its rules alone", p)
        return None
    try:
        import lightgbm
    except ImportError:
        logger.warning("lightgbm is not installed (the processing package's `stages` extra): rules alone")
        return None
    data = json.loads(p.read_text(encoding="utf-8"))
    if tuple(data["features"]) != FEATURES or tuple(data["label_keys"]) != LABEL_KEYS:
        logger.warning("local model %s was trained on other features or labels (%s): rules alone; rebuild it with "
                       "`make local-model`", p, data.get("version"))
        return None
    booster = lightgbm.Booster(model_str=data["booster"])
    names = lightgbm.Booster(model_str=data["booster_names"]) if data.get("booster_names") else None
    logger.info("local model %s (%s) read: it decides %s", p, data.get("version"), ", ".join(data["fields"]))
    return Model(booster, tuple(data["fields"]), tuple(data["label_keys"]), data, names)


# --- candidates ----------------------------------------------------------------------------

def _spans(reader: Any) -> list[Span]:
    out: list[Span] = []
    for layout in reader.layouts:
        for row in layout.rows:
            for seg in row.segments:
                text = seg.text
                dates = find_dates(text) if any(ch.isdigit() for ch in text) else []
                for raw, s, e in dates:
                    out.append(Span("date", raw, seg.page, seg.row, sub_bbox(seg, s, e), seg, s, e,
                                    conf=seg.confidence))
                if not any(ch.isdigit() for ch in text):
                    continue
                for raw, v, s, e in find_amounts(text, reader.decimal_sep):
                    if not has_decimals(raw) or any(s < de and e > ds for _, ds, de in dates):
                        continue
                    out.append(Span("amount", raw, seg.page, seg.row, sub_bbox(seg, s, e), seg, s, e, number=v,
                                    conf=seg.confidence))
    return out


def _same(span: Span, c: Candidate) -> bool:
    if c.row is None or (span.page, span.row) != c.row or c.page != span.page:
        return False
    if span.kind == "amount" and (c.number is None or abs(c.number - span.number) > 0.005):
        return False
    if span.kind == "date" and c.value.strip() != span.raw.strip():
        return False
    return span.bbox[0] < c.bbox[2] and c.bbox[0] < span.bbox[2]


def candidates_of(reader: Any, chosen: dict[str, Candidate | None],
                  fields: tuple[str, ...] = FIELDS) -> dict[str, list[Scored]]:
    """Every candidate for each of `fields` (the learned ones), with its features. A candidate's
    features do not depend on which fields are asked for."""
    out: dict[str, list[Scored]] = {}
    if "vendor_name" in fields and hasattr(reader, "vendor_options"):
        out["vendor_name"] = _vendor_scored(reader, chosen.get("vendor_name"))
    span_fields = [f for f in FIELDS if f in fields and f not in PARTY_FIELDS]
    if not span_fields:
        return out
    spans = _spans(reader)
    ctx = _Context(reader, spans)
    for name in span_fields:
        kind = KIND[name]
        rule_cands = list(reader.cands.get(name, []))
        ch = chosen.get(name)
        if ch is not None and ch not in rule_cands:
            rule_cands.append(ch)
        items: list[tuple[Span, float, bool]] = []  # span, rule score, rule only
        used: set[int] = set()
        for sp in (s for s in spans if s.kind == kind):
            score = 0.0
            for i, c in enumerate(rule_cands):
                if _same(sp, c):
                    score = max(score, c.score)
                    used.add(i)
            items.append((sp, score, False))
        for i, c in enumerate(rule_cands):
            if i in used:
                continue
            sp = _span_of(reader, c, kind)
            if sp is not None:
                items.append((sp, c.score, True))
        # One candidate per printed value and place (rules may propose it twice).
        seen: dict[tuple, int] = {}
        scored: list[Scored] = []
        for sp, score, only in items:
            key = (sp.raw, sp.page, sp.row, round(sp.bbox[0]))
            if key in seen:
                prev = scored[seen[key]]
                prev.rule_score = max(prev.rule_score, score)
                continue
            seen[key] = len(scored)
            is_chosen = ch is not None and ch.value.strip() == sp.raw.strip() and ch.page == sp.page \
                and (ch.row is None or ch.row == (sp.page, sp.row))
            scored.append(Scored(name, sp, [], score, 0.0))
            scored[-1].features = ctx.features(name, sp, score, is_chosen, only)
        for sc in scored:
            sc.features[FEATURES.index("rule_score")] = sc.rule_score
        out[name] = scored
    return out


def _vendor_scored(reader: Any, ruled: Candidate | None) -> list[Scored]:
    """The vendor options of the party reading (`reader.vendor_options`) as candidates: where the
    name sits and in which font, where it came from (a party block, the footer, a receipt's
    header, the lines under a seller label, the return-address line), how near a seller or a
    buyer label is, whether it reads like an address, a registration or a contact line, and
    whether the IBAN / VAT-id block or the footer agree with it."""
    from invoice.scanner.processing.extract.labels import norm
    from invoice.scanner.processing.stages.llm.local.parties import _REGISTRATION, _address_like

    options = list(reader.vendor_options)
    texts = [norm(o.candidate.value) for o in options]
    footer = {t for o, t in zip(options, texts) if o.features.get("v_source") == 2.0}
    customer = getattr(reader, "customer_seen", None)
    ruled_text = norm(ruled.value) if ruled is not None else None
    by_y = sorted(range(len(options)), key=lambda i: (options[i].candidate.page, options[i].candidate.bbox[1]))
    y_order = {i: k for k, i in enumerate(by_y)}
    layouts = {lay.page.page_no: lay for lay in reader.layouts}
    last_page = max(layouts) if layouts else 1
    label_hits = [h for h in reader.hits if h.key in ("customer_name", "vendor_name")]
    out: list[Scored] = []
    seen: set[tuple] = set()
    for i, (o, t) in enumerate(zip(options, texts)):
        c = o.candidate
        key = (t, c.page, round(c.bbox[1]))
        if not t or key in seen:
            continue
        seen.add(key)
        lay = layouts.get(c.page)
        w = float(lay.page.width) if lay else 1.0
        h = float(lay.page.height) if lay else 1.0
        lh = lay.line_height if lay else 10.0
        x0, y0, x1, y1 = c.bbox
        raw = c.value
        f: dict[str, float] = {
            "field": float(FIELDS.index("vendor_name")), "page": c.page - 1, "last_page": float(c.page == last_page),
            "x0": x0 / w, "x1": x1 / w, "y": (y0 + y1) / 2 / h, "height": (y1 - y0) / max(1.0, lh),
            "rule_score": o.rule_score, "rule_chosen": float(ruled_text is not None and t == ruled_text),
            "v_length": float(len(raw)), "v_words": float(len(raw.split())),
            "v_digits": float(sum(ch.isdigit() for ch in raw)),
            "v_upper": sum(ch.isupper() for ch in raw) / max(1, sum(ch.isalpha() for ch in raw)),
            "v_address_like": float(_address_like(raw)), "v_registration": float(bool(_REGISTRATION.search(raw))),
            "v_same_as_footer": float(t in footer and o.features.get("v_source") != 2.0),
            "v_y_order": float(y_order[i]), "v_agreeing": float(texts.count(t)),
            "v_is_customer": float(customer is not None and t == customer),
        }
        near = {"customer_name": -1.0, "vendor_name": -1.0}
        for hit in label_hits:
            if hit.seg.page == c.page and hit.seg.x0 - 4 * lh <= x1 and hit.seg.x1 + 4 * lh >= x0:
                rows = (y0 - hit.seg.y1) / max(1.0, lh)
                if -0.5 <= rows <= 6 and (near[hit.key] < 0 or rows < near[hit.key]):
                    near[hit.key] = max(0.0, rows)
        f["v_customer_near"], f["v_vendor_near"] = near["customer_name"], near["vendor_name"]
        f.update(o.features)
        vec = [float(f.get(k, -1.0 if k in _MISSING_NEGATIVE else 0.0)) for k in FEATURES]
        sc = Scored("vendor_name", Span("name", raw, c.page, c.row[1] if c.row else -1, c.bbox, None, 0, len(raw)),
                    vec, o.rule_score)
        sc.option = o  # type: ignore[attr-defined]
        out.append(sc)
    return out


def _span_of(reader: Any, c: Candidate, kind: str) -> Span | None:
    seg = None
    row = c.row[1] if c.row else -1
    if c.row and row >= 0:
        lay = next((lay for lay in reader.layouts if lay.page.page_no == c.page), None)
        if lay is not None and row < len(lay.rows):
            seg = next((s for s in lay.rows[row].segments if s.x0 <= c.bbox[0] + 1 and s.x1 >= c.bbox[2] - 1), None)
    start = seg.text.find(c.value) if seg is not None else -1
    if start < 0:
        start = 0
    return Span(kind, c.value, c.page, row, c.bbox, seg, start, start + len(c.value), number=c.number)


class _Context:
    """What the features of one document share: its amounts, dates and label hits."""

    def __init__(self, reader: Any, spans: list[Span]):
        self.reader = reader
        self.layouts: dict[int, PageLayout] = {lay.page.page_no: lay for lay in reader.layouts}
        self.last_page = max(self.layouts) if self.layouts else 1
        amounts = [round(s.number, 2) for s in spans if s.kind == "amount" and s.number is not None]
        self.amount_set = set(amounts)
        self.distinct = sorted(self.amount_set, reverse=True)
        self.max_amount = max((abs(a) for a in amounts), default=0.0)
        self.amount_counts: dict[float, int] = {}
        for a in amounts:
            self.amount_counts[a] = self.amount_counts.get(a, 0) + 1
        raws = [s.raw for s in spans if s.kind == "date"]
        self.order = date_order_from_dates(raws)
        isos = [self._iso(r) for r in raws]
        self.date_counts: dict[str, int] = {}
        for d in isos:
            if d:
                self.date_counts[d] = self.date_counts.get(d, 0) + 1
        self.distinct_dates = sorted(self.date_counts)
        self.date_rank = {d: i for i, d in enumerate(self.distinct_dates)}
        self.read_order: dict[str, int] = {}
        for d in isos:  # spans come in reading order: page, row, left to right
            if d and d not in self.read_order:
                self.read_order[d] = len(self.read_order)
        self.rank = {a: i for i, a in enumerate(self.distinct)}
        positive = [a for a in self.distinct if a > 0][:60]  # the largest: totals are among them
        self.sums = {round(a + b, 2) for a, b in itertools.combinations(positive, 2)}
        self.parts = {a for a in positive if any(round(a + b, 2) in self.amount_set for b in positive if b != a)}
        self._cache: dict[int, list[float]] = {}
        self._rows: dict[tuple[int, int], list[float]] = {}
        self.rates: dict[int, set[float]] = {}


        rate_re = re.compile(r"(?<![\d.,])(\d{1,2}(?:[.,]\d{1,3})?)\s?%")
        for lay in reader.layouts:
            rs = {float(m.group(1).replace(",", ".")) for row in lay.rows for m in rate_re.finditer(row.text)}
            self.rates[lay.page.page_no] = {r for r in rs if 0 < r < 30}
        self.all_rates = set().union(*self.rates.values()) if self.rates else set()
        self.rate_shares = {round(b * r / 100, 2) for r in self.all_rates for b in positive}
        self.grosses = {round(b * (1 + r / 100), 2) for r in self.all_rates for b in positive}
        self.hits_by_row: dict[tuple[int, int], list] = {}
        for h in reader.hits:
            self.hits_by_row.setdefault((h.seg.page, h.seg.row), []).append(h)
        self.key_index = {k: i for i, k in enumerate(LABEL_KEYS)}

    def _iso(self, raw: str) -> str | None:
        p = parse_date(raw, self.order, (self.reader.language,))
        return p.iso if p is not None else None

    def features(self, name: str, sp: Span, rule_score: float, chosen: bool, rule_only: bool) -> list[float]:
        base = self._cache.get(id(sp))
        if base is None:
            base = self._cache[id(sp)] = self._span_features(sp)
        f = list(base)
        f[_I_FIELD], f[_I_RULE_SCORE], f[_I_RULE_CHOSEN], f[_I_RULE_ONLY] = (
            FIELDS.index(name), rule_score, float(chosen), float(rule_only))
        return f

    def _span_features(self, sp: Span) -> list[float]:
        """The features of a span that do not depend on the field it is scored for."""
        lay = self.layouts.get(sp.page)
        w = float(lay.page.width) if lay else 1.0
        h = float(lay.page.height) if lay else 1.0
        lh = lay.line_height if lay else 10.0
        x0, y0, x1, y1 = sp.bbox
        f: dict[str, float] = {
            "page": sp.page - 1, "last_page": float(sp.page == self.last_page),
            "x0": x0 / w, "x1": x1 / w, "y": (y0 + y1) / 2 / h, "height": (y1 - y0) / max(1.0, lh),
            "ocr_conf": sp.conf, "in_table": float((sp.page, sp.row) in self.reader.table_rows),
        }
        f.update(self._labels(sp, lh))
        if sp.kind == "amount" and sp.number is not None:
            v = round(sp.number, 2)
            av = abs(v)
            f["log_value"] = math.log10(av + 1)
            f["zero"] = float(av < 0.005)
            f["negative"] = float(v < 0)
            f["cents"] = float(has_decimals(sp.raw))
            f["rank_desc"] = float(self.rank.get(v, -1))
            f["frac_max"] = av / self.max_amount if self.max_amount else 0.0
            f["occurrences"] = float(self.amount_counts.get(v, 0))
            f["sum_of_two"] = float(v in self.sums)
            f["part_of_sum"] = float(v in self.parts)
            f["net_of_rate"] = float(v > 0 and any(round(v * r / 100, 2) in self.amount_set for r in self.all_rates))
            f["vat_of_rate"] = float(v in self.rate_shares)
            f["gross_of_rate"] = float(v in self.grosses)
            row_vals = self._row_amounts(sp.page, sp.row)
            f["row_pct"] = float(self._row_pct(sp.page, sp.row))
            f["row_amounts"] = float(len(row_vals))
            f["last_in_row"] = float(bool(row_vals) and abs(row_vals[-1] - sp.number) < 0.005)
        if sp.kind == "date":
            iso = self._iso(sp.raw)
            if iso:
                f["date_rank"] = float(self.date_rank.get(iso, -1))
                f["dates"] = float(len(self.distinct_dates))
                f["earliest"] = float(iso == self.distinct_dates[0])
                f["latest"] = float(iso == self.distinct_dates[-1])
                f["days_from_first"] = _days(self.distinct_dates[0], iso)
                f["date_occurrences"] = float(self.date_counts.get(iso, 0))
                f["date_read_order"] = float(self.read_order.get(iso, -1))
                f["days_to_latest"] = _days(iso, self.distinct_dates[-1])
            f["due_sentence"] = float((sp.page, sp.row) in self.reader.due_sentence_rows)
            num = self.reader.rule_chosen.get("invoice_number") if self.reader.rule_chosen else None
            if num is not None and num.row is not None and num.row[0] == sp.page:
                f["rows_from_number"] = float(abs(num.row[1] - sp.row))
            date_keys = [hh.key for hh in self.hits_by_row.get((sp.page, sp.row), []) if "date" in hh.key]
            f["row_date_key"] = float(self.key_index.get(date_keys[0], 0)) if date_keys else 0.0
        if sp.kind == "id":
            raw = sp.raw
            f["id_length"] = float(len(raw))
            f["id_digits"] = float(sum(ch.isdigit() for ch in raw))
            f["id_alpha"] = float(sum(ch.isalpha() for ch in raw))
        return [float(f.get(k, -1.0 if k in _MISSING_NEGATIVE else 0.0)) for k in FEATURES]

    def _row(self, page: int, row: int):
        lay = self.layouts.get(page)
        return lay.rows[row] if lay is not None and 0 <= row < len(lay.rows) else None

    def _row_amounts(self, page: int, row: int) -> list[float]:
        key = (page, row)
        if key not in self._rows:
            r = self._row(page, row)
            self._rows[key] = [v for raw, v, _, _ in find_amounts(r.text, self.reader.decimal_sep)
                               if has_decimals(raw)] if r is not None else []
        return self._rows[key]

    def _row_pct(self, page: int, row: int) -> bool:
        r = self._row(page, row)
        return r is not None and "%" in r.text

    def _labels(self, sp: Span, lh: float) -> dict[str, float]:
        out: dict[str, float] = {}
        row_hits = self.hits_by_row.get((sp.page, sp.row), [])
        out["row_labels"] = float(len(row_hits))
        left = [hh for hh in row_hits if hh.seg.x0 <= sp.bbox[0] + 1]
        if left:
            hit = max(left, key=lambda hh: hh.seg.x0)
            same = sp.seg is not None and hit.seg.x0 == sp.seg.x0 and hit.seg.row == sp.seg.row
            out["left_key"] = self.key_index.get(hit.key, 0)
            out["left_strength"] = hit.strength
            out["left_gap"] = max(0.0, sp.bbox[0] - hit.seg.x1) / max(1.0, lh) if not same else 0.0
            between = (sp.seg.text[hit.rest_start:sp.start] if same and sp.seg is not None else hit.rest)
            out["left_extra_words"] = float(len([t for t in between.split() if any(c.isalpha() for c in t)]))
            out["left_same_segment"] = float(same)
        lay = self.layouts.get(sp.page)
        for d in (1, 2, 3):
            above = [hh for hh in self.hits_by_row.get((sp.page, sp.row - d), [])
                     if hh.seg.x0 - lh <= sp.bbox[2] and hh.seg.x1 + lh >= sp.bbox[0]]
            if above:
                hit = min(above, key=lambda hh: abs(hh.seg.x0 - sp.bbox[0]))
                out["above_key"] = self.key_index.get(hit.key, 0)
                out["above_strength"] = hit.strength
                out["above_rows"] = float(d)
                break
            if lay is None:
                break
        return out


_MISSING_NEGATIVE = frozenset({"rank_desc", "date_rank", "above_rows", "date_read_order", "rows_from_number",
                               "v_customer_near", "v_vendor_near", "v_header_rank", "v_after_label"})
_I_FIELD, _I_RULE_SCORE, _I_RULE_CHOSEN, _I_RULE_ONLY = (FEATURES.index(k) for k in
                                                         ("field", "rule_score", "rule_chosen", "rule_only"))


def _days(a: str, b: str) -> float:
    from datetime import date

    try:
        return float((date.fromisoformat(b) - date.fromisoformat(a)).days)
    except ValueError:
        return 0.0


# --- the decision ----------------------------------------------------------------------------

def score_all(model: Model, cands: dict[str, list[Scored]]) -> None:
    """Each candidate's probability, in one call to the model."""
    flat = [c for name in FIELDS for c in cands.get(name, [])]
    for c, p in zip(flat, model.predict([c.features for c in flat])):
        c.probability = p


def choose(cands: dict[str, list[Scored]], fields: tuple[str, ...]) -> dict[str, Candidate | None]:
    """The model's choice for each of `fields`, with the laws applied: net + VAT = total among
    the top candidates of the three (a combination that adds up beats a likelier one that does
    not), a due date not before the invoice date. A field whose best candidate is unlikely
    (below 0.5) keeps the rules' choice with the model's probability for it, or stays empty."""
    out: dict[str, Candidate | None] = {}
    best: dict[str, Scored | None] = {}
    for name in FIELDS:
        cs = sorted(cands.get(name, []), key=lambda c: -c.probability)
        best[name] = cs[0] if cs and cs[0].probability >= 0.5 else None
    # Net + VAT = total.
    if any(f in fields for f in AMOUNT_FIELDS):
        tops = {n: sorted(cands.get(n, []), key=lambda c: -c.probability)[:4] for n in AMOUNT_FIELDS}
        combo, combo_score = None, -1e9
        for n, v, t in itertools.product(*([None, *tops[k]] for k in AMOUNT_FIELDS)):
            parts = (n, v, t)
            score = sum(math.log(max(1e-4, c.probability)) if c else math.log(0.5) for c in parts)
            if n and v and t:
                score += 2.0 if abs(n.span.number + v.span.number - t.span.number) <= 0.011 else -2.0
            if combo is None or score > combo_score:
                combo, combo_score = parts, score
        if combo is not None:
            n, v, t = combo
            consistent = bool(n and v and t and abs(n.span.number + v.span.number - t.span.number) <= 0.011)
            for name, c in zip(AMOUNT_FIELDS, combo):
                best[name] = c if c is not None and (consistent or c.probability >= 0.5) else None
    # A due date is never before the invoice date.
    inv, due = best.get("invoice_date"), best.get("due_date")
    if inv and due:
        inv_iso, due_iso = inv.features[FEATURES.index("days_from_first")], due.features[FEATURES.index("days_from_first")]
        if due_iso < inv_iso:
            later = [c for c in sorted(cands.get("due_date", []), key=lambda c: -c.probability)
                     if c.features[FEATURES.index("days_from_first")] >= inv_iso and c.probability >= 0.5]
            best["due_date"] = later[0] if later else None
    # No likely candidate: the rules' choice stays, as unsure as the model finds it (so it is
    # shown to a person rather than dropped), unless another field took that very value.
    taken = {id(c.span) for c in best.values() if c is not None}
    for name in fields:
        if best.get(name) is None:
            ruled = [c for c in cands.get(name, []) if c.features[_I_RULE_CHOSEN] == 1.0 and id(c.span) not in taken]
            if ruled:
                best[name] = ruled[0]
    # Three printed values that add up are rarely a coincidence: none of them is less sure than
    # the three on average. Three that do not add up hold a wrong one, which one unknown: each
    # is half as sure. (The isotonic calibration, fitted on dev documents after the model, then
    # says how sure such scores are.)
    n, v, t = (best.get(k) for k in AMOUNT_FIELDS)
    if n and v and t:
        consistent = abs(n.span.number + v.span.number - t.span.number) <= 0.011
        mean = (n.probability + v.probability + t.probability) / 3
        for name, c in zip(AMOUNT_FIELDS, (n, v, t)):
            p = max(c.probability, mean) if consistent else c.probability * 0.5
            best[name] = Scored(c.field, c.span, c.features, c.rule_score, p)
    for name in fields:
        c = best.get(name)
        out[name] = c.candidate() if c is not None else None
    return out
