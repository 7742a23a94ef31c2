"""Parties: vendor and customer names and addresses from the party blocks of page 1."""
from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field

from invoice.scanner.processing.extract import doctype
from invoice.scanner.processing.extract.labels import (LABELS, LEGAL_FORMS, TITLE_WORDS, fix_legal_form_glyphs, looks_cut_off,
                                                       match_label, norm)
from invoice.scanner.processing.extract.layout import PageLayout, Segment, blocks, sub_bbox, union
from invoice.scanner.processing.extract.normalize import IBAN_RE, VAT_RE, find_amounts, find_dates, has_decimals
from invoice.scanner.processing.models import PDF_TEXT_ENGINE
from invoice.scanner.processing.extract.tables import _match_header_words
from invoice.scanner.processing.stages.llm.local.candidates import Candidate, clip, typed

_POSTCODE_RE = re.compile(r"(?<!\d)(\d{4,5}|[A-Z]{1,2}\d[A-Z\d]?\s?\d[A-Z]{2}|\d{4}\s?[A-Z]{2})(?!\d)")
_STREET_RE = re.compile(r"(?i)(str\.|strasse|straße|weg|platz|allee|gasse|ring|street|st\.|road|rd\.|avenue|ave|"
                        r"lane|drive|blvd|rue|avenue|boulevard|chemin|place|calle|avda|avenida|paseo|plaza|"
                        r"straat|laan|plein|gracht|kade|\d+\s?[a-z]?$|^\d+\s)")




class PartiesMixin:
    def _parties(self) -> dict[str, Candidate | None]:
        """Vendor and customer from the party blocks of page 1.

        A block is a left-aligned run of lines. A block under a "Bill to"-style label is the
        customer; one under "From"/"Seller" the vendor. Otherwise the vendor is the block
        whose first line looks most like a letterhead (legal form, large font, near the top,
        contact lines or a VAT id below it, name repeated in the footer) and the customer
        the address-only block (postcode, no contact lines) that remains, as in a window
        envelope layout. A small "sender · street · city" line above the window address is
        the vendor's own return address."""
        res: dict[str, Candidate | None] = {"vendor_name": None, "customer_name": None,
                                            "vendor_address": None, "customer_address": None}
        if not self.layouts:
            return res
        first = self.layouts[0]
        lh = first.line_height
        ph = float(first.page.height or 1)
        pw = float(first.page.width or 1)
        blks = [b for lay in self.layouts for b in blocks(lay, skip=self.table_rows)]
        lay_of = {lay.page.page_no: lay for lay in self.layouts}
        all_text = norm("\n".join(p.text for p in self.pages))
        heights = sorted(s.height for s in first.segments) or [1.0]
        med_h = heights[len(heights) // 2]
        parties: list[dict] = []
        sender: Segment | None = None
        used_blocks: set[int] = set()
        for bi, b in enumerate(blks):
            if len(b) > 1 and (norm(b[0].text) in TITLE_WORDS or doctype.is_title(b[0].text)):
                b = b[1:]  # "TAX INVOICE" / "DOMINO'S PIZZA": the title set over the letterhead's name
            head = b[0]
            m = self._match(head) or _spaced_party_label(head)
            if m and m[1] < 1.0 and m[2] and ":" not in head.text[:m[3]]:
                m = None  # "Van Dijk B.V.", "To Go Ltd": a weak label word opening a name, not a label
            role, body, inline = None, list(b), None
            if m and m[0] in ("customer_name", "vendor_name", "_ship_to"):
                key, strength, rest, start = m
                role = key
                if ":" not in head.text[:start] and _word_and_legal_form(m):
                    # "Lieferant GmbH", "Kunde AG": the party's word and a legal form are its whole
                    # name, the word still says whose block it is.
                    inline = (head.text.strip(), 0)
                    body = list(b)
                elif rest and not typed("date", rest, None, None) and not match_label(rest, fuzzy=False):
                    inline = (rest, start)
                    body = list(b)
                else:
                    body = b[1:]
                    if not body:
                        # Heading set apart from its block: the nearest block right under it.
                        below = [(i, c) for i, c in enumerate(blks) if i != bi and c[0].page == head.page
                                 and c[0].y0 > head.y0
                                 and c[0].y0 - head.y1 < 2.5 * lh and abs(c[0].x0 - head.x0) < 2.5 * lh]
                        if below:
                            i, c = min(below, key=lambda ic: ic[1][0].y0)
                            body = list(c)
                            used_blocks.add(i)
            elif m and not m[2]:
                continue  # a block that starts with another label: key/value pairs, not a party
            # "GLN 4333741000005 Lief-Nr:", "Nummer: 549910", "Globale Nummer: 4000001123452 (GLN)":
            # the party's identifiers printed above its name are not the name.
            while body and _identifier_line(lay_of[body[0].page], body[0]):
                body = body[1:]
            if not body:
                continue
            had_sender = False
            if len(body) > 2 and body[0].sep_after:
                sender = body[0]
                body = body[1:]
                had_sender = True
            parties.append({"index": bi, "role": role, "body": body, "inline": inline,
                            "strength": m[1] if role else 0.0, "sender": had_sender})
        parties = [p for p in parties if p["role"] is not None or p["index"] not in used_blocks]

        names: dict[int, tuple[str, Segment, int, list[Segment] | None]] = {}

        def name_of(p: dict) -> tuple[str, Segment, int, list[Segment] | None]:
            # Asked again for the same block by the vendor and the customer readings.
            got = names.get(p["index"])
            if got is None:
                got = names[p["index"]] = _name_of(p)
            return got

        def _name_of(p: dict) -> tuple[str, Segment, int, list[Segment] | None]:
            if p["inline"] is not None:
                return (fix_legal_form_glyphs(_cut_after_legal_form(p["inline"][0])), p["body"][0],
                        p["inline"][1], None)
            seg = p["body"][0]
            lay = lay_of[seg.page]
            # "Name: | Grundbesitz GmbH & Co.": a party block of keys and values names the party
            # to the right of its key.
            value = _value_beside_key(lay, seg)
            seg = value or seg
            text = seg.text.strip()
            above = _name_line_above(lay, value) if value is not None else None
            if above is not None:
                # "MVM Musterhafter" / "Name: | Versicherungsverein Musterstadt a.G.": a name of
                # two lines whose key stands beside the second.
                text = f"{above.text.strip()} {text}"
            beside = _continuation_beside(lay, seg) if looks_cut_off(text) else None
            if beside is not None:
                # "Smith, Jones and" | "Partners LLP": the detector boxed one name as two phrases.
                text = f"{text} {beside.text.strip()}"
            wrapped = self._wrapped_name(lay, seg, open_end=looks_cut_off(text))
            text = " ".join([text, *(w.text.strip() for w in wrapped)])
            return fix_legal_form_glyphs(_cut_after_legal_form(text)), seg, 0, wrapped

        def address_of(p: dict, wrapped: list[Segment] | None) -> list[Segment]:
            lines = p["body"] if p["inline"] is not None else p["body"][1:]
            if p["inline"] is None and p["role"] == "vendor_name" \
                    and not [s for s in lines if not (wrapped and any(s is w for w in wrapped))]:
                # Under a seller label, the name alone in its block: its address is the block
                # right under it, set apart by a blank line.
                last = p["body"][-1]
                below = [c for c in blks if c[0].page == last.page and c[0].row > last.row
                         and 0 <= c[0].y0 - last.y1 < 2.5 * lh and abs(c[0].x0 - last.x0) < 0.8 * lh]
                if below:
                    lines = min(below, key=lambda c: c[0].y0)
            out = []
            for s in lines:
                if wrapped and any(s is w for w in wrapped):
                    continue
                lab = match_label(s.text, fuzzy=False)
                if _contact_line(s.text) or (lab and lab[1] >= 1.0) or VAT_RE.search(s.text.upper()):
                    break
                if re.match(r"^(attn|attention|fao|z ?hd|a l attention|a/a|att|t a v|c/o)\b", norm(s.text)):
                    continue
                if norm(s.text) in TITLE_WORDS or find_dates(s.text):
                    break
                out.append(s)
            return out[:4]

        def is_contact_block(p: dict) -> bool:
            """Phone, e-mail, web or VAT id lines under the name: a letterhead, not an address."""
            for s in p["body"][1:8]:
                lab = match_label(s.text, fuzzy=False)
                if norm(s.text) in TITLE_WORDS or (lab and lab[0] not in _CONTACT_KEYS):
                    return False
                if "@" in s.text or "www" in norm(s.text) or (lab and lab[0] in _CONTACT_KEYS) \
                        or VAT_RE.search(s.text.upper()):
                    return True
            return False

        def cand(field: str, text: str, seg: Segment, off: int, conf: float) -> Candidate:
            return Candidate(field, text, conf, seg.page, sub_bbox(seg, off, off + len(text)), row=(seg.page, seg.row))

        def addr_cand(field: str, lines: list[Segment], conf: float) -> Candidate | None:
            if not lines:
                return None
            return Candidate(field, ", ".join(s.text.strip() for s in lines), conf, lines[0].page,
                             union([s.bbox for s in lines]))

        # Customer.
        cust = None
        labelled = [p for p in parties if p["role"] == "customer_name" and p["body"][0].page == first.page.page_no]
        labelled.sort(key=lambda p: (-p["strength"], p["body"][0].y0))
        for p in labelled:
            text, seg, off, wrapped = name_of(p)
            if not text or _looks_numeric(text) or _contact_line(text):
                continue
            cust = p
            res["customer_name"] = cand("customer_name", text, seg, off,
                                        p["strength"] * 0.93 * (0.5 + 0.5 * seg.confidence))
            res["customer_address"] = addr_cand("customer_address", address_of(p, wrapped),
                                                0.85 * p["strength"] * (0.5 + 0.5 * seg.confidence))
            break
        # Vendor. Every name considered is kept as an option for the learned scorer
        # (`self.vendor_options`), with the rules' score and what the rules saw of it.
        options: list[VendorOption] = []
        self.vendor_options = options
        vend, vend_score, vend_contact = None, -9.0, False
        for p in parties:
            if p is cust or p["role"] in ("customer_name", "_ship_to"):
                continue
            text, seg, off, wrapped = name_of(p)
            t = text.strip()
            nt = norm(t)
            if len(nt) < 2 or nt in TITLE_WORDS or _looks_numeric(t) or _contact_line(t) or find_dates(t) \
                    or _till_line(t):
                continue
            lab = match_label(t, fuzzy=False)
            if lab and (lab[0].startswith("_") or lab[1] >= 1.0) and p["inline"] is None \
                    and not _word_and_legal_form(self._match_text(t, 0)):
                continue
            y_rel = seg.y0 / ph if seg.page == first.page.page_no else 1.0
            if p["role"] != "vendor_name" and seg.page != first.page.page_no:
                continue  # later pages name the vendor only under a label
            if p["role"] != "vendor_name" and not LEGAL_FORMS.search(t) and _address_like(t):
                continue  # a street or a postcode and town is never the name
            if res["customer_name"] is not None and nt == norm(res["customer_name"].value):
                continue  # the buyer again (a delivery line, a reference): the two parties differ
            if _BANK.search(t):
                continue  # the vendor's bank, named beside the IBAN
            score = 3.0 if p["role"] == "vendor_name" else 0.0
            score += 0.9 if LEGAL_FORMS.search(t) else 0.0
            if p["sender"] and p["role"] is None:
                score -= 1.5  # under a return-address line: the window address, i.e. the recipient
            score += min(0.8, 0.4 * (seg.height / med_h - 1)) if seg.height > med_h * 1.15 else 0.0
            score += 0.5 * max(0.0, 1 - y_rel / 0.3)
            score -= 0.8 if y_rel > 0.45 else 0.0
            score += 1.0 if is_contact_block(p) else 0.0
            if sender is not None and norm(sender.text) == nt:
                score += 1.2
            if len(nt) > 3 and all_text.count(nt) >= 2:
                score += 0.3
            if sum(ch.isdigit() for ch in t) > 2:
                score -= 0.6
            if len(t) > 60:
                score -= 0.5
            body_text = " ".join(s.text for s in p["body"]).upper()
            options.append(VendorOption(
                cand("vendor_name", text, seg, off, 0.0),
                lambda p=p, wrapped=wrapped: addr_cand("vendor_address", address_of(p, wrapped), 0.0),
                score, {"v_source": 1.0, "v_labelled": p["strength"] if p["role"] == "vendor_name" else 0.0,
                        "v_legal": float(bool(LEGAL_FORMS.search(t))), "v_under_sender": float(p["sender"]),
                        "v_height": seg.height / med_h, "v_contact_block": float(is_contact_block(p)),
                        "v_sender_match": float(sender is not None and norm(sender.text) == nt),
                        "v_repeats": float(all_text.count(nt)) if len(nt) > 3 else 0.0,
                        "v_block_lines": float(len(p["body"])), "v_wrapped": float(len(wrapped or [])),
                        "v_tax_in_block": float(bool(VAT_RE.search(body_text) or IBAN_RE.search(body_text)))}))
            if p["inline"] is None and not wrapped and len(p["body"]) > 1:
                second = p["body"][1]
                st = second.text.strip()
                if st and not re.search(r"\d", st) and not _contact_line(st) and not match_label(st, fuzzy=False) \
                        and abs(second.height - seg.height) < 0.25 * seg.height:
                    joined = fix_legal_form_glyphs(f"{t} {st}")
                    options.append(VendorOption(
                        Candidate("vendor_name", joined, 0.0, seg.page, union([seg.bbox, second.bbox]),
                                  row=(seg.page, seg.row)), options[-1].address, score - 0.5,
                        {**options[-1].features, "v_wrapped": 1.0, "v_legal": float(bool(LEGAL_FORMS.search(joined))),
                         "v_joined": 1.0}))
            if score > vend_score:
                vend, vend_score, vend_contact = p, score, is_contact_block(p)
        labelled_vendor = vend is not None and vend["role"] == "vendor_name"
        # A till slip titled "TAX INVOICE" is still a slip: a page narrower than any paper size
        # of an invoice (A4, Letter) with no buyer named on it names its shop in the header too.
        slip = pw / ph < _SLIP_ASPECT and res["customer_name"] is None
        receipt = (self.doc_type.value == doctype.RECEIPT or slip) and not labelled_vendor
        footer = None if receipt or labelled_vendor else self._footer_vendor(
            [first] + ([self.layouts[-1]] if len(self.layouts) > 1 else []),
            res["customer_name"].value if res["customer_name"] is not None else None)
        if footer is not None and not vend_contact and footer[2]:
            # The block chosen at the top prints none of the issuer's details, the footer does:
            # the issuer is who prints its tax id and bank account (the top block is the buyer's).
            footer = (footer[0], footer[1] + 1.0, footer[2])
        use_footer = footer is not None and footer[1] > vend_score
        if use_footer and vend is not None and norm(footer[0].value) == norm(name_of(vend)[0]):
            vend_score, use_footer = footer[1], False  # the same name: keep its block (and address)
        if footer is not None:
            options.append(VendorOption(footer[0], None, footer[1], {"v_source": 2.0, "v_footer_details": float(footer[2]),
                                                                     "v_legal": 1.0}))
        # The options beyond the rules' own are read only where the learned scorer takes them.
        learned = self.all_vendor_options
        receipt_names = self._receipt_vendors(first) if receipt or (learned and (self.doc_type.value == doctype.RECEIPT
                                                                                 or slip)) \
            else []
        for rank, rv in enumerate(receipt_names):
            options.append(VendorOption(rv, None, rv.score, {"v_source": 3.0, "v_header_rank": float(rank),
                                                             "v_legal": float(bool(LEGAL_FORMS.search(rv.value)))}))
        if learned:
            options.extend(self._after_vendor_label())
        if sender is not None:
            options.append(VendorOption(cand("vendor_name", sender.text.strip(), sender, 0, 0.6 * sender.confidence),
                                        None, 0.0, {"v_source": 5.0}))
        if receipt and receipt_names:
            # A shop's sign above its company ("Chili's" / "T.A.S Leisure Sdn Bhd (256864-P)"): the
            # business that sold is the one with the legal form, printed just under its brand.
            legal = [c for c in receipt_names[:3] if LEGAL_FORMS.search(c.value)]
            res["vendor_name"] = legal[0] if legal and not LEGAL_FORMS.search(receipt_names[0].value) \
                else receipt_names[0]
        elif use_footer:
            c, fscore, _ = footer
            c.score = clip(0.45 + 0.25 * min(fscore, 2.0)) * (0.5 + 0.5 * c.score)  # c.score: the OCR confidence
            res["vendor_name"] = c
        elif vend is not None and vend_score > 0.2:
            text, seg, off, wrapped = name_of(vend)
            conf = clip(0.45 + 0.25 * min(vend_score, 2.0)) * (0.5 + 0.5 * seg.confidence)
            res["vendor_name"] = cand("vendor_name", text, seg, off, conf)
            res["vendor_address"] = addr_cand("vendor_address", address_of(vend, wrapped), conf * 0.85)
        elif sender is not None:
            res["vendor_name"] = cand("vendor_name", sender.text.strip(), sender, 0, 0.6 * sender.confidence)
        if res["vendor_address"] is None and sender is not None and res["vendor_name"] is not None \
                and norm(sender.text) == norm(res["vendor_name"].value):
            row = first.rows[sender.row]
            rest = [s for s in row.segments if s.x0 > sender.x0]
            res["vendor_address"] = addr_cand("vendor_address", rest, 0.7)
        # Customer with no label: the address-only block left over (window envelope layouts).
        if res["customer_name"] is None:
            best_c, best_s = None, 0.0
            for p in parties:
                if p is vend or p["role"] is not None or len(p["body"]) < 2 or p["body"][0].page != first.page.page_no:
                    continue
                text, seg, off, wrapped = name_of(p)
                if (_looks_numeric(text) or _contact_line(text) or match_label(text, fuzzy=False)
                        or sum(ch.isdigit() for ch in text) > 2):
                    continue
                addr = address_of(p, wrapped)
                if seg.y0 / ph > 0.5 or not addr:
                    continue
                sc = 1.0 if p["sender"] else 0.0
                sc += 1.0 if any(_POSTCODE_RE.search(s.text) for s in addr) else (
                    0.6 if re.search(r"\d", addr[-1].text) else 0.0)
                sc += 0.5 if _STREET_RE.search(addr[0].text) else 0.0
                sc += 0.2 if 2 <= len(addr) + 1 <= 5 else 0.0
                sc += 0.3 if LEGAL_FORMS.search(text) else 0.0
                sc += 0.3 if seg.x0 / pw < 0.5 else 0.0
                sc -= 1.0 if is_contact_block(p) and not VAT_RE.search(" ".join(s.text for s in p["body"]).upper()) else 0.0
                if vend is not None and norm(text) == norm(name_of(vend)[0]):
                    continue
                if sc > best_s:
                    best_c, best_s = p, sc
            if best_c is not None and best_s >= 1.3:
                text, seg, off, wrapped = name_of(best_c)
                conf = clip(0.35 + 0.3 * best_s) * (0.5 + 0.5 * seg.confidence)
                res["customer_name"] = cand("customer_name", text, seg, off, conf)
                res["customer_address"] = addr_cand("customer_address", address_of(best_c, wrapped), conf * 0.9)
        ocr = first.page.engine != PDF_TEXT_ENGINE
        umlauts = self.language == "en" and ocr
        for c in [o.candidate for o in options] + [res["vendor_name"]]:
            if c is None:
                continue
            if ocr:
                c.value = _letter_glyphs(c.value)  # the header's look-alike glyphs, on every option
            if umlauts:
                c.value = _stray_umlauts(c.value)
            head = _without_registration(c.value)
            if head is not None and LEGAL_FORMS.search(head):
                c.value = head  # "THE TOAST F&B SDN BHD (965752-T)": the name, not its registration
        return res

    @staticmethod
    def _wrapped_name(layout: PageLayout, seg: Segment, open_end: bool = False) -> list[Segment]:
        """A company name broken over two or three lines ("De Molen Handel" / "V.O.F.",
        "Polderwerk" / "Kantoorartikelen" / "V.O.F.", "Müller, Schmidt und" / "Partner mbB"):
        the lines sit right under each other (left-aligned or centred alike) in the same font,
        and the last carries the legal form, or the first ends open (a comma, "and", "&") so
        the name must go on. [] when the name is one line."""
        if LEGAL_FORMS.search(seg.text) and not open_end:
            # "NORDLICHT HANDEL UG" / "(HAFTUNGSBESCHRÄNKT)": the form's own words in brackets
            # on the line under it are still the name.
            for r in layout.rows[seg.row + 1: seg.row + 2]:
                for s in r.segments:
                    t = s.text.strip()
                    if (t.startswith("(") and t.endswith(")") and len(t.split()) <= 2 and not re.search(r"\d", t)
                            and (abs(s.x0 - seg.x0) < 0.8 * seg.height or abs(s.xc - seg.xc) < 0.8 * seg.height)
                            and -0.5 * seg.height < s.y0 - seg.y1 < 0.9 * seg.height):
                        return [s]
            return []
        chain: list[Segment] = []
        last = seg
        for r in layout.rows[seg.row + 1: seg.row + 3]:
            nxt = None
            for s in r.segments:
                aligned = abs(s.x0 - seg.x0) < 0.8 * seg.height or abs(s.xc - seg.xc) < 0.8 * seg.height
                if (aligned and -0.5 * seg.height < s.y0 - last.y1 < 0.9 * seg.height
                        and abs(s.height - seg.height) < 0.2 * seg.height
                        and len(s.text.split()) <= (5 if open_end else 3) and not re.search(r"\d", s.text)
                        and not _contact_line(s.text) and not match_label(s.text, fuzzy=False)):
                    nxt = s
                    break
            if nxt is None:
                break
            chain.append(nxt)
            if LEGAL_FORMS.search(nxt.text):
                return chain
            if open_end and not looks_cut_off(nxt.text):
                return chain  # the open name is closed by this line
            last = nxt
        return []

    def _receipt_vendors(self, layout: PageLayout) -> list[Candidate]:
        """A till receipt names its shop in the header with no label: the first header line that
        is not a title, an address, a registration or tax number, a contact line, a date or an
        item. A name set over two lines is joined (the second carries the legal form, the first
        ends open, or both are in the header's large font)."""
        ph = float(layout.page.height or 1)
        rows = [r for r in layout.rows[:14] if r.bbox[1] < 0.45 * ph]
        out: list[Candidate] = []
        for i, row in enumerate(rows):
            text = row.text.strip()
            if not _header_name(text):
                # "AEON CO. (M) BHD (126926-H)", "KING'S CONFECTIONERY S/B 273500-U": the name
                # with its company registration number after it; the name is what precedes it.
                head = _without_registration(text)
                if head is None or not _header_name(head):
                    continue
                text = head
            if _table_heading(row):
                continue  # "DESC  QTY  PRICE  AMOUNT": the items' column headings
            segs = row.segments
            name, box, conf = text, row.bbox, min(s.confidence for s in segs)
            if i + 1 < len(rows):
                nxt = rows[i + 1]
                nt = nxt.text.strip()
                gap = nxt.bbox[1] - row.bbox[3]
                big = sorted(r.height for r in layout.rows)
                title_font = row.height > 1.15 * big[len(big) // 2] and nxt.height > 1.15 * big[len(big) // 2]
                if (gap < 0.9 * row.height and abs(nxt.height - row.height) < 0.25 * row.height
                        and len(nt.split()) <= 4 and not re.search(r"\d", nt) and _header_name(nt)
                        and ((LEGAL_FORMS.search(nt) and not LEGAL_FORMS.search(text)) or looks_cut_off(text)
                             or title_font)):  # "BÄCKEREI" / "SONNENSCHEIN", both in the header's large font
                    name, box = f"{text} {nt}", union([row.bbox, nxt.bbox])
                    conf = min(conf, min(s.confidence for s in nxt.segments))
            score = (0.75 + (0.15 if LEGAL_FORMS.search(name) else 0.0)) * (0.5 + 0.5 * conf)
            out.append(Candidate("vendor_name", _letter_glyphs(fix_legal_form_glyphs(_stray_tail(name))), score,
                                 layout.page.page_no, box,
                                 row=(layout.page.page_no, row.index)))
            if len(out) == 4:
                break
        return out

    def _after_vendor_label(self) -> list["VendorOption"]:
        """The lines right under a seller label ("Verkäufer", "Seller", "Vendeur"; also one set
        letter-spaced, "Ver käufer:"), one and two at a time: a line's value is what follows its
        own key ("Name: | MVM Musterhafter" / "Versicherungsverein Musterstadt a.G."). This is
        where the block reading may have taken the label, an identifier or half the name. The
        lines end at the buyer's label."""
        out: list[VendorOption] = []
        heads: list[tuple[PageLayout, Segment, float]] = [(h.layout, h.seg, h.strength) for h in self.hits
                                                          if h.key == "vendor_name"]
        for lay in self.layouts:
            for row in lay.rows:
                seg = row.segments[0]
                if len(seg.text) <= 24 and " " in seg.text.strip() and norm(seg.text).replace(" ", "") in _SELLER_COMPACT:
                    heads.append((lay, seg, 1.0))
        for lay, head, strength in heads:
            lh = lay.line_height
            lines: list[Segment] = []
            for r in lay.rows[head.row + 1: head.row + 6]:
                segs = [s for s in r.segments if s.x1 > head.x0 - lh]
                if not segs:
                    continue
                m = match_label(segs[0].text, fuzzy=False)
                if m and m[0] in ("customer_name", "_ship_to"):
                    break
                if (segs[0].text.rstrip().endswith(":") or (m and not segs[0].text[m[2]:].strip(" :"))) \
                        and len(segs) > 1:
                    segs = segs[1:]  # "Name: | value": the row's own key
                lines.append(segs[0])
            for d in range(len(lines)):
                for k in (1, 2):
                    part = lines[d:d + k]
                    if len(part) < k:
                        continue
                    text = _NAME_PREFIX.sub("", " ".join(s.text.strip() for s in part)).strip()
                    if len(norm(text)) < 2 or _looks_numeric(text) or _contact_line(text) or find_dates(text):
                        continue
                    text = fix_legal_form_glyphs(_cut_after_legal_form(text))
                    c = Candidate("vendor_name", text, 0.0, part[0].page, union([s.bbox for s in part]),
                                  row=(part[0].page, part[0].row))
                    out.append(VendorOption(c, None, 0.0, {
                        "v_source": 4.0, "v_labelled": strength, "v_after_label": float(d + 1),
                        "v_wrapped": float(k - 1), "v_legal": float(bool(LEGAL_FORMS.search(text))),
                        "v_height": part[0].height / max(1.0, lh)}))
        return out


    def _footer_vendor(self, layouts: list[PageLayout], customer: str | None) -> tuple[Candidate, float, bool] | None:
        """The vendor named only in the footer ("Acme GmbH · Hauptstr. 1 · Berlin · USt-IdNr
        DE…"): the first phrase of a bottom line that carries a legal form, scored higher when
        the footer also carries the issuer's own details (tax id, IBAN, phone, e-mail)."""
        best: tuple[Candidate, float, bool] | None = None
        for lay in layouts:
            ph = float(lay.page.height or 1)
            bottom = [r for r in lay.rows if r.bbox[1] > 0.8 * ph]
            details = any(IBAN_RE.search(r.text.upper()) or VAT_RE.search(r.text.upper()) or _contact_line(r.text)
                          or "@" in r.text for r in bottom)
            for r in bottom:
                seg = r.segments[0]
                text = re.split(r"\s[·|•-]\s|,\s|\s{2,}", seg.text.strip())[0]
                text = _cut_after_legal_form(text).strip(" ,")
                if not LEGAL_FORMS.search(text) or len(text) > 60 or _contact_line(text) or _address_like(text) \
                        or _BANK.search(text) or (customer and norm(text) == norm(customer)):
                    continue
                lab = match_label(text, fuzzy=False)
                if lab and (lab[0].startswith("_") or lab[1] >= 1.0):
                    continue
                score = 1.0 + (0.4 if details else 0.0)
                if best is None or score > best[1]:
                    c = Candidate("vendor_name", text, seg.confidence, seg.page, sub_bbox(seg, 0, len(text)),
                                  row=(seg.page, seg.row))
                    best = (c, score, details)
            if best is not None:
                break
        return best


@dataclass
class VendorOption:
    """One name that could be the vendor's: where it came from and what the rules saw of it
    (`features`, the `v_*` features of the learned scorer)."""
    candidate: Candidate
    address: Callable[[], Candidate | None] | None  # its block's address, read when the name is taken
    rule_score: float
    features: dict[str, float] = field(default_factory=dict)


# The seller labels with their spaces taken out: "Ver käufer:" (letter-spaced) is "verkaufer".
_SELLER_COMPACT = frozenset(label.replace(" ", "") for label in LABELS["vendor_name"] if " " not in label)
_BUYER_COMPACT = frozenset(label.replace(" ", "") for label in LABELS["customer_name"] if " " not in label)


def _spaced_party_label(seg: Segment) -> tuple[str, float, str, int] | None:
    """A party label alone on its line that the text layer set letter-spaced ("Ver käufer:",
    "K ä u f e r"), as a label match with nothing after it; None otherwise."""
    text = seg.text.strip()
    if len(text) > 24 or " " not in text:
        return None
    compact = norm(text).replace(" ", "")
    for key, labels in (("vendor_name", _SELLER_COMPACT), ("customer_name", _BUYER_COMPACT)):
        if compact in labels:
            return key, 1.0, "", len(seg.text)
    return None
_NAME_PREFIX = re.compile(r"(?i)^\s*(?:name|nom|nombre|naam|firma|raison sociale)\s*:\s*")


def _cut_after_legal_form(text: str) -> str:
    """"Brightline Supplies Ltd 190 High Street" (one OCR line): the name ends at its legal form
    when what follows carries a house number."""
    for m in LEGAL_FORMS.finditer(text):
        end = m.end()
        paren = re.match(r"\s*\([^)]*\)", text[end:])
        if paren:
            end += paren.end()  # "UG (haftungsbeschränkt)": the form goes on
        tail = text[end:]
        if (re.search(r"\d", tail) or LEGAL_FORMS.search(tail)) and len(tail.strip()) > 3 \
                and not re.match(r"\s*[&(]", tail):
            return text[:end].strip(" ,")
    return text


def _stray_tail(text: str) -> str:
    """"BEMED (SP) SDN. BHD. P": one character alone after the legal form that ends the name is a
    speck or a stamp the recognizer read as a letter."""
    m = re.fullmatch(r"(.*\S)\s+[^\s&(]", text)
    if m is not None and LEGAL_FORMS.search(m.group(1)) and LEGAL_FORMS.search(m.group(1)).end() == len(m.group(1)):
        return m.group(1)
    return text


def _looks_numeric(text: str) -> bool:
    letters = sum(c.isalpha() for c in text)
    return letters < 2


_CONTACT_KEYS = frozenset({"_phone", "_email", "vendor_tax_id", "iban", "bic"})


def _contact_line(text: str) -> bool:
    n = norm(text)
    if "@" in text or "www" in n or "http" in n:
        return True
    m = match_label(text, fuzzy=False)
    return bool(m and m[0] in ("_phone", "_email", "_bank_code", "iban", "bic", "vendor_tax_id", "_customer_number"))




# Banks are named beside the IBAN; they are the vendor's bank, never the vendor.
_BANK = re.compile(r"(?i)(\bbank\b|\bbanque\b|\bbanco\b|sparkasse|volksbank|raiffeisen|kantonalbank|\bcaixa\b|"
                   r"\bcaja\b|rabobank|\bing\b|abn amro|paribas|soci[eé]t[eé] g[eé]n[eé]rale|cr[eé]dit (?:agricole|mutuel|"
                   r"lyonnais)|commerzbank|postbank|barclays|hsbc|lloyds|natwest|santander|bbva|unicredit|\bbanca\b|"
                   r"\bbankinter\b|kbc|belfius|triodos|postfinance|\bubs\b)")


_ADDRESS_LINE = re.compile(
    r"(?i)(^\d+[a-z]?,?\s+\w"  # "12 High Street", "190, Jalan ..."
    r"|\w(?:str\.|strasse|straße|weg|platz|allee|gasse|ring|damm|ufer)\s*\d"  # "Hauptstraße 12"
    r"|\b(?:street|st\.|road|rd\.|avenue|ave\.?|lane|drive|blvd|boulevard|rue|chemin|calle|c/|avda\.?|avenida|paseo|"
    r"plaza|straat|laan|plein|gracht|kade|jalan|jln\.?|taman|lorong)\b.*\d"
    r"|\d.*\b(?:street|road|avenue|lane|drive|rue|calle|straat|laan|jalan|taman)\b"
    r"|(?<![\d-])\d{4,5}\s+[A-ZÀ-Ý][a-zà-ÿ]+"  # "10115 Berlin", "75001 Paris"
    r"|\b[A-Z]{1,2}\d[A-Z\d]?\s\d[A-Z]{2}\b)")  # "SW1A 1AA"


def _address_like(text: str) -> bool:
    """A street with its number or a postcode with its town: part of an address, not a name."""
    return bool(_ADDRESS_LINE.search(text))


# Lines of a receipt header that are not the shop's name.
_REGISTRATION = re.compile(r"(?i)(\b(?:co\.?|company|comp)\s*(?:reg|no|registration)\b|\breg(?:istration)?\.?\s*(?:no|nr|number)"
                           r"|\b(?:gst|sst|vat|tax|tin|abn|uen|roc|ssm|nif|cif|ust|btw|tva|iva|siret|kvk)\b"
                           r"|\(\s*\d[\d\s-]*[a-z]?\s*\)|\d{5,}-[a-z]\b)")
_GREETING = re.compile(r"(?i)^(welcome|thank you|thanks|willkommen|bienvenue|bienvenido|welkom|danke|merci|gracias)\b")


# A till's own lines, never the shop's name: who served and at which till ("Cashier [P.NISANTHI]
# Machine [003]", "Served by ASHOK", "Kasir: 03"), the copy's status ("POSTED", "CUSTOMER COPY",
# "REPRINT", "DUPLICATE"), a banner between rules of stars or equals signs ("**** PROMO ****").
_TILL_WORDS = re.compile(r"(?i)^\W*(?:cashier|kasir|kassierer|caissier|cajero|operator|served by|server|"
                         r"salesperson|sales person|counter|machine|terminal|till|pos\s*(?:no|id|#)|"
                         r"reg(?:ister)?\s*(?:no|#)|table|meja)\b")
_COPY_STATUS = re.compile(r"(?i)^\W*(?:posted|reprint(?:ed)?|duplicate|copy|customer copy|merchant copy|"
                          r"original|void|cancel+ed|training|kopie|duplikat|copie|duplicata|copia)\W*$")
_BANNER = re.compile(r"^\s*([*=#~+-])\1{2,}.*\1{3,}\s*$")


def _till_line(text: str) -> bool:
    return bool(_TILL_WORDS.search(text) or _COPY_STATUS.match(text) or _BANNER.match(text))


_SLIP_ASPECT = 0.6  # width / height: A4 is 0.71, Letter 0.77; a till slip is narrower

# Words of a sentence to the customer, in the five label languages: a slogan, a thank-you or the
# returns policy that a till prints at the foot ("GOODS SOLD ARE NOT RETURNABLE", "TQ FOR
# SHOPPING WITH US", "Vielen Dank für Ihren Einkauf"), often seen at the top of a photographed slip
# where the previous one was torn off. A name does not speak to its reader. One of the first set
# (the reader addressed, thanks, please, the returns policy) or two of the second (a clause's verb
# and negation).
_ADDRESSING = frozenset("""you your yours thank thanks tq please welcome visit again returnable refundable
    exchangeable umtausch
    danke dank bitte besuch vous votre vos merci bienvenue
    usted ustedes gracias bienvenido favor uw jullie bedankt alstublieft graag
    kasih sila""".split())  # Malay: "terima kasih" (thank you), "sila datang lagi" (please come again)
# Thanks glued to the next word by the till's narrow font or the recognizer: "TQFOR", "THANKYOU".
_GLUED_THANKS = re.compile(r"(?:tq|thank|thanks|thx)(?:for|you|u)")
_CLAUSE = frozenset("""are is not was were will be can may must no
    ist sind nicht kein keine wird werden est sont pas ne sera es son sera esta zijn niet geen wordt""".split())


def addressed(text: str) -> bool:
    """A line that reads as a sentence to the customer (a slogan, thanks, a policy), not a name."""
    words = re.findall(r"[^\W\d_]+", text.casefold())
    if any(w in _ADDRESSING or _GLUED_THANKS.fullmatch(w) for w in words):
        return True
    return sum(w in _CLAUSE for w in words) >= 2


# A company registration number after a name: "(126926-H)", "273500-U (GKJ)", "(Co. Reg. No. 12345)".
_REGISTRATION_TAIL = re.compile(r"(?i)[\s,]*(?:\(\s*(?:co\.?\s*)?(?:reg(?:istration)?\.?\s*)?(?:no\.?\s*)?[:.]?\s*"
                                r"\d[\d\s-]*[a-z]?\s*\)|(?<!\S)\d{4,}-?[a-z](?!\w))(?:\s*\([a-z]{2,5}\))?[\s.,]*$")


# A digit the recognizer read for a look-alike capital inside a name set in capitals: "MR. D.1.Y."
# (an initial between dots: I), "G0LDEN" (O between capitals). A number that starts a word keeps
# its digit ("1UTAMA", "3M", "7ELEVEN", "1ST"): brands are spelled so.
_ONE_FOR_I = re.compile(r"(?<=[A-Z]\.)1(?=\.[A-Z])")
_ZERO_FOR_O = re.compile(r"(?<=[A-Z])0(?=[A-Z])")
_BANG_FOR_I = re.compile(r"(?<=[A-Z])!(?=[A-Z])")  # "GARDEN!A BAKERIES": I read as "!" between capitals


def _letter_glyphs(name: str) -> str:
    if "!" in name:
        name = _BANG_FOR_I.sub("I", name)
    if not any(ch.isdigit() for ch in name):
        return name
    return _ZERO_FOR_O.sub("O", _ONE_FOR_I.sub("I", name))


_UMLAUT = str.maketrans("äöüÄÖÜ", "aouAOU")


def _stray_umlauts(name: str) -> str:
    """"Gerbang Alaf Restäurants Sdn Bhd": on a page in English read by the recognizer, an umlaut
    in a name is a speck of the paper over its a, o or u; English spells no word with one (an
    acute, "Corner Café", is left as read)."""
    return name.translate(_UMLAUT) if any(ch in "äöüÄÖÜ" for ch in name) else name


def _without_registration(text: str) -> str | None:
    """The name before a registration number that ends the line; None when the line has no
    such tail or nothing that could be a name before it."""
    m = _REGISTRATION_TAIL.search(text)
    if m is None or m.start() == 0:
        return None
    head = text[:m.start()].strip(" ,-")
    return head if sum(ch.isalpha() for ch in head) >= 3 else None


def _table_heading(row) -> bool:
    """A row of a table's column headings (two kinds at least, one of them a number column)."""
    if len(row.words) < 2:
        return False
    keys = {c.key for c in _match_header_words(row.words) if not c.key.startswith("_")}
    return len(keys) >= 2 and bool(keys & {"quantity", "unit_price", "amount"})


def _header_name(text: str) -> bool:
    t = text.strip()
    n = norm(t)
    # "T.A.S Leisure Sdn Bhd": initials that read as the "T" of a telephone line; a phone line
    # carries its number.
    lab = match_label(t, fuzzy=False)
    phone_word = lab is not None and lab[0] == "_phone" and not re.search(r"\d", t)
    if len(n) < 3 or n in TITLE_WORDS or _looks_numeric(t) or (_contact_line(t) and not phone_word) \
            or find_dates(t):
        return False
    if doctype.is_title(t) or _REGISTRATION.search(t) or _GREETING.search(t) or addressed(t) or _till_line(t):
        return False
    if _address_like(t) and not LEGAL_FORMS.search(fix_legal_form_glyphs(t)):
        return False  # "12 High Street"; but "99 SPEED MART S/B" is a name
    if find_amounts(t) and has_decimals(t):
        return False  # an item or a total
    if sum(ch.isdigit() for ch in t) > max(2, 0.3 * len(t)):
        return False
    return phone_word or not (lab and (lab[0].startswith("_") or lab[1] >= 1.0))


_DIGIT_RUN = re.compile(r"\d{5,}")


def _identifier_line(layout: PageLayout, seg: Segment) -> bool:
    """A line of the party's identifiers (a global location number, the supplier number the
    buyer gave it: "GLN 4333741000005 Lief-Nr:", "Nummer: 549910", "Globale Nummer:" |
    "4000001123452 (GLN)"): a number of five digits or more under at most three words of key,
    no legal form. A name key ("Name:") is never one."""
    text = seg.text.strip()
    if LEGAL_FORMS.search(text) or _NAME_KEY.match(text):
        return False
    value = ""
    right = sorted((s for s in layout.rows[seg.row].segments if s.x0 >= seg.x1 - 1), key=lambda s: s.x0)
    if right and (text.endswith(":") or right[0].text.strip().startswith(":")):
        # A key: its value is the next phrase on the row ("Nummer" | ":" | "549910").
        rest = [s for s in right[:2] if s.text.strip(" :")]
        value = rest[0].text.strip(" :") if rest else ""
    whole = f"{text} {value}"
    if not _DIGIT_RUN.search(whole.replace(" ", "")) or LEGAL_FORMS.search(value):
        return False
    words = re.findall(r"[^\W\d_]{2,}", whole)
    return len(words) <= 3


def _word_and_legal_form(m: tuple | None) -> bool:
    """A label match whose rest is a legal form alone ("Lieferant GmbH"): a name, not a label."""
    return m is not None and m[0] in ("customer_name", "vendor_name") and bool(m[2]) \
        and LEGAL_FORMS.fullmatch(m[2].strip()) is not None


_NAME_KEY = re.compile(r"(?i)^(?:name|firma|company(?: name)?|nom|raison sociale|nombre|razon social|naam|"
                       r"bedrijfsnaam)\s*:$")


def _value_beside_key(layout: PageLayout, seg: Segment) -> Segment | None:
    """The value printed right of a name key ("Name:", "Firma:", "Company:", "Nom :") on the
    same row, if the segment is such a key."""
    if not _NAME_KEY.match(seg.text.strip()):
        return None
    right = sorted((s for s in layout.rows[seg.row].segments if s.x0 >= seg.x1 - 1), key=lambda s: s.x0)
    return right[0] if right and not right[0].text.strip().endswith(":") else None


_SALUTATION = re.compile(r"(?i)^(herrn?|frau|firma|mr|mrs|ms|miss|dr|m|mme|mlle|monsieur|madame|sr|sra|dhr|mevr)\.?$")


def _name_line_above(layout: PageLayout, value: Segment) -> Segment | None:
    """The first line of a name whose key ("Name:") stands beside its second: alone on the row
    right above the value, in its column and font, closer than the rows of keys are apart, no
    digits, no key, no salutation ("Herrn"), no name of its own (a legal form)."""
    if value.row == 0:
        return None
    row = layout.rows[value.row - 1]
    if len(row.segments) != 1:
        return None
    s = row.segments[0]
    t = s.text.strip()
    if abs(s.x0 - value.x0) > 0.5 * value.height or not 0 <= value.y0 - s.y1 < 0.6 * value.height \
            or abs(s.height - value.height) > 0.25 * value.height:
        return None
    if re.search(r"\d", t) or t.endswith(":") or _contact_line(t) or match_label(t, fuzzy=False) \
            or _SALUTATION.match(t) or LEGAL_FORMS.search(t) or len(norm(t)) < 2:
        return None
    return s


def _continuation_beside(layout: PageLayout, seg: Segment) -> Segment | None:
    """The next phrase on the same row, close and in the same font: where a name that ends open
    goes on."""
    row = layout.rows[seg.row]
    right = sorted((s for s in row.segments if s.x0 >= seg.x1 - 1), key=lambda s: s.x0)
    if right:
        s = right[0]
        if s.x0 - seg.x1 < 2.5 * seg.height and abs(s.height - seg.height) < 0.2 * seg.height \
                and not re.search(r"\d", s.text) and not _contact_line(s.text) and not match_label(s.text, fuzzy=False):
            return s
    return None
